//! The consumer-group APIs (classic protocol) against a live in-process server, at
//! every advertised version: the join/sync/heartbeat/leave life cycle, committed
//! offsets, and the group admin APIs, with Kafka's error codes. The test config
//! sets `group.initial.rebalance.delay.ms: 0`, so a lone member's join completes at
//! once.

use crate::call;
use crate::live::{create_topic, name, setup, versions, NONE, OPS_OMITTED};
use crate::wire::{str_bytes, Client, CLIENT_ID};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

const SESSION_TIMEOUT_MS: i32 = 10_000;
/// Newest versions, for the steps a test needs but does not examine.
const JOIN_V: i16 = 9;
const SYNC_V: i16 = 5;
const COMMIT_V: i16 = 9;
const FETCH_V: i16 = 9;
const DESCRIBE_V: i16 = 5;

fn group(g: &str) -> GroupId {
    GroupId(str_bytes(g))
}

/// A consumer's JoinGroup metadata: ConsumerProtocolSubscription v1, version-prefixed.
fn subscription(topics: &[&str]) -> Bytes {
    let sub = ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| str_bytes(t)).collect());
    let mut b = BytesMut::new();
    b.put_i16(1);
    sub.encode(&mut b, 1).unwrap();
    b.freeze()
}

fn join_req(v: i16, g: &str, member: &str, instance: Option<&str>, topics: &[&str]) -> JoinGroupRequest {
    use join_group_request::JoinGroupRequestProtocol;
    let mut r = JoinGroupRequest::default()
        .with_group_id(group(g))
        .with_session_timeout_ms(SESSION_TIMEOUT_MS)
        .with_member_id(str_bytes(member))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(str_bytes("range"))
            .with_metadata(subscription(topics))]);
    if v >= 1 {
        r = r.with_rebalance_timeout_ms(SESSION_TIMEOUT_MS);
    }
    if v >= 5 {
        r = r.with_group_instance_id(instance.map(str_bytes));
    }
    if v >= 8 {
        r = r.with_reason(Some(str_bytes("protocol tests")));
    }
    r
}

/// Joins as a new dynamic member at `v`, retrying with the assigned id when the
/// broker asks for it (v4+). Returns the final response.
fn join_new(c: &mut Client, v: i16, g: &str, topics: &[&str]) -> JoinGroupResponse {
    let first = call!(c, JoinGroup, v, join_req(v, g, "", None, topics));
    if v < 4 {
        return first;
    }
    assert_eq!(first.error_code, E::MemberIdRequired.code(), "JoinGroup v{v}: {first:?}");
    assert!(!first.member_id.is_empty(), "JoinGroup v{v}: MEMBER_ID_REQUIRED without a member id");
    call!(c, JoinGroup, v, join_req(v, g, &first.member_id, None, topics))
}

fn sync_req(v: i16, g: &str, generation: i32, member: &str, assignment: Option<&[u8]>) -> SyncGroupRequest {
    use sync_group_request::SyncGroupRequestAssignment;
    let assignments = assignment
        .map(|a| {
            vec![SyncGroupRequestAssignment::default()
                .with_member_id(str_bytes(member))
                .with_assignment(Bytes::copy_from_slice(a))]
        })
        .unwrap_or_default();
    let r = SyncGroupRequest::default()
        .with_group_id(group(g))
        .with_generation_id(generation)
        .with_member_id(str_bytes(member))
        .with_assignments(assignments);
    if v >= 5 {
        r.with_protocol_type(Some(str_bytes("consumer"))).with_protocol_name(Some(str_bytes("range")))
    } else {
        r
    }
}

/// A one-member group, joined and synced: (member id, generation).
fn stable_group(c: &mut Client, g: &str, topics: &[&str]) -> (String, i32) {
    let j = join_new(c, JOIN_V, g, topics);
    assert_eq!(j.error_code, NONE, "join {g}: {j:?}");
    let s = call!(c, SyncGroup, SYNC_V, sync_req(SYNC_V, g, j.generation_id, &j.member_id, Some(b"assignment")));
    assert_eq!(s.error_code, NONE, "sync {g}");
    (j.member_id.to_string(), j.generation_id)
}

fn commit_req(
    v: i16,
    g: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let partitions = offsets
        .iter()
        .map(|&(p, o)| {
            let part = OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(o)
                .with_committed_metadata(Some(str_bytes(&format!("m{p}"))));
            if v >= 6 {
                part.with_committed_leader_epoch(0)
            } else {
                part
            }
        })
        .collect();
    let r = OffsetCommitRequest::default()
        .with_group_id(group(g))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(str_bytes(member))
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(name(topic)).with_partitions(partitions)]);
    if v <= 4 {
        r.with_retention_time_ms(-1)
    } else {
        r
    }
}

fn commit_codes(r: &OffsetCommitResponse) -> Vec<(i32, i16)> {
    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.error_code))).collect()
}

/// A standalone consumer's commit (generation -1, no member): the group stays Empty.
fn commit_standalone(c: &mut Client, g: &str, topic: &str, offsets: &[(i32, i64)]) {
    let r = call!(c, OffsetCommit, COMMIT_V, commit_req(COMMIT_V, g, -1, "", topic, offsets));
    assert!(commit_codes(&r).iter().all(|&(_, code)| code == NONE), "commit to {g}: {r:?}");
}

/// Committed (partition, offset, metadata) for `topic`'s `partitions`, at OffsetFetch v9.
fn fetch_committed(c: &mut Client, g: &str, topic: &str, partitions: &[i32]) -> Vec<(i32, i64, Option<String>)> {
    use offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
    let t = OffsetFetchRequestTopics::default().with_name(name(topic)).with_partition_indexes(partitions.to_vec());
    let req = OffsetFetchRequest::default()
        .with_groups(vec![OffsetFetchRequestGroup::default().with_group_id(group(g)).with_topics(Some(vec![t]))]);
    let r = call!(c, OffsetFetch, FETCH_V, req);
    assert_eq!(r.groups[0].error_code, NONE);
    r.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset, p.metadata.as_deref().map(String::from)))
        })
        .collect()
}

fn describe(c: &mut Client, g: &str) -> describe_groups_response::DescribedGroup {
    call!(c, DescribeGroups, DESCRIBE_V, DescribeGroupsRequest::default().with_groups(vec![group(g)])).groups.remove(0)
}

#[test]
fn find_coordinator_every_version() {
    let (s, mut c) = setup();
    let port = s.addr.port() as i32;
    for v in versions(ApiKey::FindCoordinator) {
        if v >= 4 {
            let req = FindCoordinatorRequest::default().with_coordinator_keys(vec![str_bytes("g1"), str_bytes("g2")]);
            let r = call!(c, FindCoordinator, v, req);
            let got: Vec<(&str, i16, BrokerId, &str, i32)> = r
                .coordinators
                .iter()
                .map(|k| (k.key.as_str(), k.error_code, k.node_id, k.host.as_str(), k.port))
                .collect();
            assert_eq!(
                got,
                vec![("g1", NONE, BrokerId(1), "127.0.0.1", port), ("g2", NONE, BrokerId(1), "127.0.0.1", port)],
                "v{v}"
            );
            let tx = FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![str_bytes("tx")]);
            assert_ne!(
                call!(c, FindCoordinator, v, tx).coordinators[0].error_code,
                NONE,
                "v{v}: no transaction coordinator"
            );
        } else {
            let r = call!(c, FindCoordinator, v, FindCoordinatorRequest::default().with_key(str_bytes("g1")));
            assert_eq!(
                (r.error_code, r.node_id, r.host.as_str(), r.port),
                (NONE, BrokerId(1), "127.0.0.1", port),
                "v{v}"
            );
            if v >= 1 {
                let tx = FindCoordinatorRequest::default().with_key(str_bytes("tx")).with_key_type(1);
                assert_ne!(call!(c, FindCoordinator, v, tx).error_code, NONE, "v{v}: no transaction coordinator");
            }
        }
    }
}

#[test]
fn join_group_every_version() {
    let (_s, mut c) = setup();
    for v in versions(ApiKey::JoinGroup) {
        let g = format!("join-v{v}");
        let j = join_new(&mut c, v, &g, &["t"]);
        assert_eq!(j.error_code, NONE, "v{v}: {j:?}");
        assert!(j.generation_id >= 1, "v{v}");
        assert_eq!(j.leader, j.member_id, "v{v}: the only member leads");
        assert_eq!(j.protocol_name.as_deref(), Some("range"), "v{v}");
        if v >= 7 {
            assert_eq!(j.protocol_type.as_deref(), Some("consumer"), "v{v}");
        }
        let members: Vec<(&str, &Bytes)> = j.members.iter().map(|m| (m.member_id.as_str(), &m.metadata)).collect();
        assert_eq!(members, vec![(j.member_id.as_str(), &subscription(&["t"]))], "v{v}: the leader sees the members");

        // the same member rejoining keeps the group; an unknown member id is refused
        let again = call!(c, JoinGroup, v, join_req(v, &g, &j.member_id, None, &["t"]));
        assert_eq!(again.error_code, NONE, "v{v}: {again:?}");
        assert_eq!(again.member_id, j.member_id, "v{v}");
        let bogus = call!(c, JoinGroup, v, join_req(v, &g, "bogus-member", None, &["t"]));
        assert_eq!(bogus.error_code, E::UnknownMemberId.code(), "v{v}");

        let mut no_protocols = join_req(v, &format!("join-none-v{v}"), "", None, &["t"]);
        no_protocols.protocols.clear();
        assert_eq!(call!(c, JoinGroup, v, no_protocols).error_code, E::InconsistentGroupProtocol.code(), "v{v}");
        let short = join_req(v, &format!("join-short-v{v}"), "", None, &["t"]).with_session_timeout_ms(10);
        assert_eq!(call!(c, JoinGroup, v, short).error_code, E::InvalidSessionTimeout.code(), "v{v}");
        assert_eq!(
            call!(c, JoinGroup, v, join_req(v, "", "", None, &["t"])).error_code,
            E::InvalidGroupId.code(),
            "v{v}"
        );

        // static membership: no member-id round trip, and the instance id is kept
        if v >= 5 {
            let sg = format!("join-static-v{v}");
            let j = call!(c, JoinGroup, v, join_req(v, &sg, "", Some("instance-a"), &["t"]));
            assert_eq!(j.error_code, NONE, "v{v}: {j:?}");
            assert_eq!(j.members[0].group_instance_id.as_deref(), Some("instance-a"), "v{v}");
        }
    }
}

#[test]
fn sync_group_every_version() {
    let (_s, mut c) = setup();
    for v in versions(ApiKey::SyncGroup) {
        let g = format!("sync-v{v}");
        let j = join_new(&mut c, JOIN_V, &g, &["t"]);
        let (member, generation) = (j.member_id.as_str(), j.generation_id);
        let bad_gen = call!(c, SyncGroup, v, sync_req(v, &g, generation + 1, member, Some(b"a")));
        assert_eq!(bad_gen.error_code, E::IllegalGeneration.code(), "v{v}");
        let unknown = call!(c, SyncGroup, v, sync_req(v, &g, generation, "bogus-member", Some(b"a")));
        assert_eq!(unknown.error_code, E::UnknownMemberId.code(), "v{v}");
        if v >= 5 {
            let wrong =
                sync_req(v, &g, generation, member, Some(b"a")).with_protocol_name(Some(str_bytes("roundrobin")));
            assert_eq!(call!(c, SyncGroup, v, wrong).error_code, E::InconsistentGroupProtocol.code(), "v{v}");
        }
        let r = call!(c, SyncGroup, v, sync_req(v, &g, generation, member, Some(b"partitions-for-me")));
        assert_eq!(r.error_code, NONE, "v{v}: {r:?}");
        assert_eq!(&r.assignment[..], b"partitions-for-me", "v{v}");
        if v >= 5 {
            assert_eq!(
                (r.protocol_type.as_deref(), r.protocol_name.as_deref()),
                (Some("consumer"), Some("range")),
                "v{v}"
            );
        }
        assert_eq!(describe(&mut c, &g).group_state.as_str(), "Stable", "v{v}");
    }
}

#[test]
fn heartbeat_every_version() {
    let (_s, mut c) = setup();
    for v in versions(ApiKey::Heartbeat) {
        let g = format!("hb-v{v}");
        let (member, generation) = stable_group(&mut c, &g, &["t"]);
        let hb = |c: &mut Client, gid: &str, m: &str, gen: i32| {
            let r = HeartbeatRequest::default()
                .with_group_id(group(gid))
                .with_generation_id(gen)
                .with_member_id(str_bytes(m));
            call!(c, Heartbeat, v, r).error_code
        };
        assert_eq!(hb(&mut c, &g, &member, generation), NONE, "v{v}");
        assert_eq!(hb(&mut c, &g, &member, generation + 1), E::IllegalGeneration.code(), "v{v}");
        assert_eq!(hb(&mut c, &g, "bogus-member", generation), E::UnknownMemberId.code(), "v{v}");
        assert_ne!(hb(&mut c, "no-such-group", "m", 1), NONE, "v{v}");
    }
}

#[test]
fn leave_group_every_version() {
    use leave_group_request::MemberIdentity;
    let (_s, mut c) = setup();
    for v in versions(ApiKey::LeaveGroup) {
        let g = format!("leave-v{v}");
        let (member, _) = stable_group(&mut c, &g, &["t"]);
        let leave = |c: &mut Client, m: &str| {
            let r = LeaveGroupRequest::default().with_group_id(group(&g));
            let r = if v >= 3 {
                r.with_members(vec![MemberIdentity::default().with_member_id(str_bytes(m))])
            } else {
                r.with_member_id(str_bytes(m))
            };
            call!(c, LeaveGroup, v, r)
        };
        let unknown = leave(&mut c, "bogus-member");
        if v >= 3 {
            assert_eq!(unknown.error_code, NONE, "v{v}");
            assert_eq!(unknown.members[0].error_code, E::UnknownMemberId.code(), "v{v}");
        } else {
            assert_eq!(unknown.error_code, E::UnknownMemberId.code(), "v{v}");
        }
        let r = leave(&mut c, &member);
        assert_eq!(r.error_code, NONE, "v{v}: {r:?}");
        if v >= 3 {
            let got: Vec<(&str, i16)> = r.members.iter().map(|m| (m.member_id.as_str(), m.error_code)).collect();
            assert_eq!(got, vec![(member.as_str(), NONE)], "v{v}");
        }
        let d = describe(&mut c, &g);
        assert_eq!((d.group_state.as_str(), d.members.len()), ("Empty", 0), "v{v}");
    }
}

#[test]
fn offset_commit_every_version() {
    let (_s, mut c) = setup();
    create_topic(&mut c, "oc", 2, &[]);
    for v in versions(ApiKey::OffsetCommit) {
        // a standalone consumer: generation -1, no member id
        let g = format!("oc-v{v}");
        let r = call!(c, OffsetCommit, v, commit_req(v, &g, -1, "", "oc", &[(0, 5), (1, 7)]));
        assert_eq!(commit_codes(&r), vec![(0, NONE), (1, NONE)], "v{v}");
        assert_eq!(r.topics[0].name.as_str(), "oc", "v{v}");
        let got = fetch_committed(&mut c, &g, "oc", &[0, 1]);
        assert_eq!(got, vec![(0, 5, Some("m0".into())), (1, 7, Some("m1".into()))], "v{v}");
        let r = call!(c, OffsetCommit, v, commit_req(v, &g, -1, "", "oc", &[(9, 1)]));
        assert_eq!(commit_codes(&r), vec![(9, E::UnknownTopicOrPartition.code())], "v{v}");
        let r = call!(c, OffsetCommit, v, commit_req(v, &g, -1, "", "no-such-topic", &[(0, 1)]));
        assert_eq!(commit_codes(&r), vec![(0, E::UnknownTopicOrPartition.code())], "v{v}");

        // a group member: its generation and member id are checked
        let mg = format!("oc-member-v{v}");
        let (member, generation) = stable_group(&mut c, &mg, &["oc"]);
        let r = call!(c, OffsetCommit, v, commit_req(v, &mg, generation, &member, "oc", &[(0, 11)]));
        assert_eq!(commit_codes(&r), vec![(0, NONE)], "v{v}");
        assert_eq!(fetch_committed(&mut c, &mg, "oc", &[0]), vec![(0, 11, Some("m0".into()))], "v{v}");
        let r = call!(c, OffsetCommit, v, commit_req(v, &mg, generation + 1, &member, "oc", &[(0, 12)]));
        assert_eq!(commit_codes(&r), vec![(0, E::IllegalGeneration.code())], "v{v}");
        let r = call!(c, OffsetCommit, v, commit_req(v, &mg, generation, "bogus-member", "oc", &[(0, 12)]));
        assert_eq!(commit_codes(&r), vec![(0, E::UnknownMemberId.code())], "v{v}");
        assert_eq!(fetch_committed(&mut c, &mg, "oc", &[0])[0].1, 11, "v{v}: refused commits change nothing");
    }
}

#[test]
fn offset_fetch_every_version() {
    use offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics};
    let (_s, mut c) = setup();
    create_topic(&mut c, "of", 3, &[]);
    commit_standalone(&mut c, "of-group", "of", &[(0, 5), (1, 7)]);
    // no committed offset: -1 with empty metadata, as Kafka answers
    let want = vec![(0, 5, Some("m0".to_string())), (1, 7, Some("m1".to_string())), (2, -1, Some(String::new()))];
    for v in versions(ApiKey::OffsetFetch) {
        if v >= 8 {
            let named = OffsetFetchRequestTopics::default().with_name(name("of")).with_partition_indexes(vec![0, 1, 2]);
            let mut req = OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default().with_group_id(group("of-group")).with_topics(Some(vec![named])),
                OffsetFetchRequestGroup::default().with_group_id(group("of-group")).with_topics(None),
                OffsetFetchRequestGroup::default().with_group_id(group("no-such-group")).with_topics(None),
            ]);
            req = req.with_require_stable(true);
            let r = call!(c, OffsetFetch, v, req);
            let flat = |i: usize| -> Vec<(i32, i64, Option<String>)> {
                r.groups[i]
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (p.partition_index, p.committed_offset, p.metadata.as_deref().map(String::from)))
                    })
                    .collect()
            };
            assert!(r.groups.iter().all(|g| g.error_code == NONE), "v{v}: {r:?}");
            assert_eq!(flat(0), want, "v{v}: named partitions");
            assert_eq!(flat(1), want[..2].to_vec(), "v{v}: all committed");
            assert_eq!(flat(2), vec![], "v{v}: unknown group");
            assert!(r.groups[0].topics[0].partitions.iter().all(|p| p.error_code == NONE), "v{v}");
            continue;
        }
        let ask = |c: &mut Client, g: &str, topics: Option<Vec<OffsetFetchRequestTopic>>| {
            let req = OffsetFetchRequest::default().with_group_id(group(g)).with_topics(topics);
            let req = if v >= 7 { req.with_require_stable(true) } else { req };
            let r = call!(c, OffsetFetch, v, req);
            if v >= 2 {
                assert_eq!(r.error_code, NONE, "v{v}");
            }
            let flat: Vec<(i32, i64, Option<String>)> = r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| (p.partition_index, p.committed_offset, p.metadata.as_deref().map(String::from)))
                })
                .collect();
            assert!(r.topics.iter().all(|t| t.partitions.iter().all(|p| p.error_code == NONE)), "v{v}: {r:?}");
            flat
        };
        let named = || {
            Some(vec![OffsetFetchRequestTopic::default().with_name(name("of")).with_partition_indexes(vec![0, 1, 2])])
        };
        assert_eq!(ask(&mut c, "of-group", named()), want, "v{v}: named partitions");
        assert_eq!(
            ask(&mut c, "no-such-group", named()).iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![-1, -1, -1],
            "v{v}"
        );
        if v >= 2 {
            assert_eq!(ask(&mut c, "of-group", None), want[..2].to_vec(), "v{v}: all committed");
        }
    }
}

#[test]
fn list_groups_every_version() {
    let (_s, mut c) = setup();
    create_topic(&mut c, "lg", 1, &[]);
    stable_group(&mut c, "lg-stable", &["lg"]);
    commit_standalone(&mut c, "lg-empty", "lg", &[(0, 1)]);
    for v in versions(ApiKey::ListGroups) {
        let list = |c: &mut Client, states: &[&str]| {
            let mut req = ListGroupsRequest::default();
            if v >= 4 {
                req = req.with_states_filter(states.iter().map(|s| str_bytes(s)).collect());
            }
            if v >= 5 {
                req = req.with_types_filter(vec![str_bytes("classic")]);
            }
            let r = call!(c, ListGroups, v, req);
            assert_eq!(r.error_code, NONE, "v{v}");
            let mut got: Vec<(String, String, String)> = r
                .groups
                .iter()
                .map(|g| (g.group_id.to_string(), g.protocol_type.to_string(), g.group_state.to_string()))
                .collect();
            got.sort();
            if v >= 5 {
                assert!(r.groups.iter().all(|g| g.group_type.as_str() == "classic"), "v{v}: {r:?}");
            }
            got
        };
        let state = |s: &str| if v >= 4 { s.to_string() } else { String::new() };
        let all = list(&mut c, &[]);
        let stable = ("lg-stable".to_string(), "consumer".to_string(), state("Stable"));
        let empty = ("lg-empty".to_string(), String::new(), state("Empty"));
        assert_eq!(all, vec![empty, stable.clone()], "v{v}");
        if v >= 4 {
            assert_eq!(list(&mut c, &["Stable"]), vec![stable], "v{v}: states filter");
        }
    }
}

#[test]
fn describe_groups_every_version() {
    let (_s, mut c) = setup();
    create_topic(&mut c, "dg", 1, &[]);
    let (member, _) = stable_group(&mut c, "dg", &["dg"]);
    for v in versions(ApiKey::DescribeGroups) {
        let mut req = DescribeGroupsRequest::default().with_groups(vec![group("dg"), group("no-such-group")]);
        if v >= 3 {
            req = req.with_include_authorized_operations(true);
        }
        let r = call!(c, DescribeGroups, v, req);
        let d = &r.groups[0];
        assert_eq!(d.error_code, NONE, "v{v}");
        assert_eq!(
            (d.group_id.as_str(), d.group_state.as_str(), d.protocol_type.as_str(), d.protocol_data.as_str()),
            ("dg", "Stable", "consumer", "range"),
            "v{v}"
        );
        assert_eq!(d.members.len(), 1, "v{v}");
        let m = &d.members[0];
        assert_eq!(
            (m.member_id.as_str(), m.client_id.as_str(), m.client_host.as_str()),
            (member.as_str(), CLIENT_ID, "/127.0.0.1"),
            "v{v}"
        );
        assert_eq!(
            (&m.member_metadata, &m.member_assignment[..]),
            (&subscription(&["dg"]), &b"assignment"[..]),
            "v{v}"
        );
        if v >= 3 {
            assert_ne!(d.authorized_operations, OPS_OMITTED, "v{v}");
        }
        if v >= 4 {
            assert_eq!(m.group_instance_id, None, "v{v}");
        }
        let unknown = &r.groups[1];
        assert_eq!(unknown.group_state.as_str(), "Dead", "v{v}");
        let want = if v >= 6 { E::GroupIdNotFound.code() } else { NONE };
        assert_eq!(unknown.error_code, want, "v{v}");
    }
}

#[test]
fn delete_groups_every_version() {
    let (_s, mut c) = setup();
    create_topic(&mut c, "del", 1, &[]);
    for v in versions(ApiKey::DeleteGroups) {
        let (empty, busy) = (format!("del-empty-v{v}"), format!("del-busy-v{v}"));
        commit_standalone(&mut c, &empty, "del", &[(0, 3)]);
        stable_group(&mut c, &busy, &["del"]);
        let req =
            DeleteGroupsRequest::default().with_groups_names(vec![group(&empty), group(&busy), group("no-such-group")]);
        let r = call!(c, DeleteGroups, v, req);
        let got: Vec<(String, i16)> = r.results.iter().map(|g| (g.group_id.to_string(), g.error_code)).collect();
        assert_eq!(
            got,
            vec![
                (empty.clone(), NONE),
                (busy, E::NonEmptyGroup.code()),
                ("no-such-group".into(), E::GroupIdNotFound.code())
            ],
            "v{v}"
        );
        assert_eq!(
            fetch_committed(&mut c, &empty, "del", &[0]),
            vec![(0, -1, Some(String::new()))],
            "v{v}: offsets deleted"
        );
    }
}

#[test]
fn offset_delete_every_version() {
    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    let (_s, mut c) = setup();
    create_topic(&mut c, "od", 2, &[]);
    for v in versions(ApiKey::OffsetDelete) {
        let (idle, busy) = (format!("od-idle-v{v}"), format!("od-busy-v{v}"));
        commit_standalone(&mut c, &idle, "od", &[(0, 3), (1, 4)]);
        let (member, generation) = stable_group(&mut c, &busy, &["od"]);
        let r = call!(c, OffsetCommit, COMMIT_V, commit_req(COMMIT_V, &busy, generation, &member, "od", &[(0, 9)]));
        assert_eq!(commit_codes(&r), vec![(0, NONE)]);
        let req = |g: &str| {
            OffsetDeleteRequest::default()
                .with_group_id(group(g))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(name("od"))
                    .with_partitions(vec![OffsetDeleteRequestPartition::default().with_partition_index(0)])])
        };
        let r = call!(c, OffsetDelete, v, req(&idle));
        assert_eq!(r.error_code, NONE, "v{v}");
        assert_eq!(r.topics[0].partitions[0].error_code, NONE, "v{v}");
        assert_eq!(
            fetch_committed(&mut c, &idle, "od", &[0, 1]),
            vec![(0, -1, Some(String::new())), (1, 4, Some("m1".into()))],
            "v{v}"
        );
        let r = call!(c, OffsetDelete, v, req(&busy));
        assert_eq!(r.topics[0].partitions[0].error_code, E::GroupSubscribedToTopic.code(), "v{v}");
        assert_eq!(call!(c, OffsetDelete, v, req("no-such-group")).error_code, E::GroupIdNotFound.code(), "v{v}");
    }
}
