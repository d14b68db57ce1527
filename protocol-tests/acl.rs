//! ACL enforcement over the wire. In-process servers run with `authorizer: acl` and
//! ACLs for `User:ANONYMOUS` (the principal of a PLAINTEXT connection); each API
//! family is checked for Kafka's exact error codes, what is allowed in the same
//! request still happens, listings leave out what may not be described, and the
//! ACL admin APIs work at every advertised version, with online ACLs surviving a
//! restart.

use crate::call;
use crate::live::{name, versions, NONE};
use crate::wire::{simple_batch, str_bytes, Client, InProcessServer};
use bytes::Bytes;
use gregor::security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use uuid::Uuid;

const TOPIC_DENIED: i16 = E::TopicAuthorizationFailed.code();
const GROUP_DENIED: i16 = E::GroupAuthorizationFailed.code();
const CLUSTER_DENIED: i16 = E::ClusterAuthorizationFailed.code();
const TXN_DENIED: i16 = E::TransactionalIdAuthorizationFailed.code();
const INVALID_REQUEST: i16 = E::InvalidRequest.code();

/// `ok-*`: everything. `ro`: READ, with DESCRIBE explicitly denied (a DENY is not
/// implied away by an ALLOW). `no-*`: nothing. Groups: `g-ok` usable, `g-hidden`
/// readable but not describable. The cluster: CREATE only (so every topic can be
/// made, but not all can be seen).
const FAMILY_ACLS: &str = "
authorizer: acl
acls:
  - principal: User:ANONYMOUS
    resource: {type: topic, name: ok-, pattern: prefixed}
    operations: [all]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: topic, name: ro}
    operations: [read]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: topic, name: ro}
    operations: [describe]
    permission: deny
  - principal: User:ANONYMOUS
    resource: {type: group, name: g-ok}
    operations: [read, describe, delete]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: group, name: g-hidden}
    operations: [read]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: group, name: g-hidden}
    operations: [describe]
    permission: deny
  - principal: User:ANONYMOUS
    resource: {type: cluster, name: kafka-cluster}
    operations: [create]
    permission: allow
";

fn bits(ops: &[Operation]) -> i32 {
    ops.iter().fold(0, |b, o| b | o.bit())
}

fn group(g: &str) -> GroupId {
    GroupId(str_bytes(g))
}

/// A server with [`FAMILY_ACLS`] and the topics `ok-a`, `no-a`, `ro`; returns the
/// id of `no-a` too.
fn family_server() -> (InProcessServer, Client, Uuid) {
    let server = InProcessServer::start_with(FAMILY_ACLS);
    let mut c = Client::connect(server.addr);
    let t = |n: &str| {
        create_topics_request::CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(1)
            .with_replication_factor(1)
    };
    let req = CreateTopicsRequest::default().with_topics(vec![t("ok-a"), t("no-a"), t("ro")]).with_timeout_ms(5_000);
    let r = call!(c, CreateTopics, 7, req);
    let get = |n: &str| r.topics.iter().find(|t| t.name.as_str() == n).unwrap().clone();
    for n in ["ok-a", "no-a", "ro"] {
        assert_eq!(get(n).error_code, NONE, "CREATE on the cluster creates {n}");
    }
    // the configs of a new topic need DESCRIBE_CONFIGS on it
    let ok = get("ok-a");
    assert_eq!(ok.topic_config_error_code, NONE);
    assert!(ok.configs.as_ref().is_some_and(|c| !c.is_empty()));
    let no = get("no-a");
    assert_eq!((no.topic_config_error_code, no.configs.clone(), no.num_partitions), (TOPIC_DENIED, None, -1));
    (server, c, no.topic_id)
}

fn topic_data(topic: &str, batch: Bytes) -> produce_request::TopicProduceData {
    let p = produce_request::PartitionProduceData::default().with_index(0).with_records(Some(batch));
    produce_request::TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![p])
}

fn fetch(c: &mut Client, topic: &str) -> fetch_response::PartitionData {
    use fetch_request::{FetchPartition, FetchTopic};
    let p = FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(1 << 20);
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(name(topic)).with_partitions(vec![p])]);
    call!(c, Fetch, 12, req).responses.remove(0).partitions.remove(0)
}

#[test]
fn produce_writes_allowed_topics_and_denies_the_rest() {
    let (server, mut c, _) = family_server();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![topic_data("ok-a", simple_batch(3, 0)), topic_data("no-a", simple_batch(2, 0))]);
    let r = call!(c, Produce, 9, req);
    let code = |t: &str| r.responses.iter().find(|x| x.name.as_str() == t).unwrap().partition_responses[0].error_code;
    assert_eq!((code("ok-a"), code("no-a")), (NONE, TOPIC_DENIED));
    // written where allowed, untouched where denied
    let read = fetch(&mut c, "ok-a");
    assert_eq!((read.error_code, read.high_watermark), (NONE, 3));
    let denied = server.broker().topic("no-a").unwrap().partition(0).unwrap().offsets();
    assert_eq!(denied.log_end, 0, "nothing reached the denied topic");
    assert_eq!(fetch(&mut c, "no-a").error_code, TOPIC_DENIED);
    // a topic that does not exist is still an authorization failure, not "unknown"
    let r =
        call!(c, Produce, 12, crate::live::produce_req(12, "no-such", Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
    assert_eq!(r.responses[0].partition_responses[0].error_code, TOPIC_DENIED);
    // ListOffsets needs DESCRIBE
    for (topic, want) in [("ok-a", NONE), ("no-a", TOPIC_DENIED)] {
        use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        let t = ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]);
        let r =
            call!(c, ListOffsets, 7, ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![t]));
        assert_eq!(r.topics[0].partitions[0].error_code, want, "{topic}");
    }
}

#[test]
fn idempotent_and_transactional_producers_need_their_acls() {
    let (_server, mut c, _) = family_server();
    // no IDEMPOTENT_WRITE, but WRITE on `ok-*` (KIP-679)
    let r = call!(
        c,
        InitProducerId,
        4,
        InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000)
    );
    assert_eq!(r.error_code, NONE);
    let txn = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(str_bytes("tx"))))
        .with_transaction_timeout_ms(60_000);
    let r = call!(c, InitProducerId, 4, txn);
    assert_eq!((r.error_code, r.producer_id), (TXN_DENIED, ProducerId(-1)));
    let req = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(str_bytes("tx"))))
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![topic_data("ok-a", simple_batch(1, 0))]);
    assert_eq!(call!(c, Produce, 9, req).responses[0].partition_responses[0].error_code, TXN_DENIED);
}

#[test]
fn metadata_shows_only_describable_topics() {
    let (_server, mut c, no_id) = family_server();
    use metadata_request::MetadataRequestTopic;
    for v in [1, 4, 9, 12] {
        let all = call!(c, Metadata, v, MetadataRequest::default().with_topics(None));
        let names: Vec<String> = all.topics.iter().map(|t| t.name.as_ref().unwrap().to_string()).collect();
        assert_eq!(names, ["ok-a"], "v{v}: `no-a` has no ACL, `ro` has DESCRIBE denied");
        let named = |n: &str| MetadataRequestTopic::default().with_name(Some(name(n)));
        let req = MetadataRequest::default().with_topics(Some(vec![named("ok-a"), named("no-a"), named("ro")]));
        let req = if v >= 4 { req.with_allow_auto_topic_creation(false) } else { req };
        let r = call!(c, Metadata, v, req);
        let code = |n: &str| r.topics.iter().find(|t| t.name.as_ref().unwrap().as_str() == n).unwrap().error_code;
        assert_eq!((code("ok-a"), code("no-a"), code("ro")), (NONE, TOPIC_DENIED, TOPIC_DENIED), "v{v}");
    }
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("ok-a")))]))
        .with_include_topic_authorized_operations(true)
        .with_include_cluster_authorized_operations(true);
    let r = call!(c, Metadata, 10, req);
    assert_eq!(r.topics[0].topic_authorized_operations, bits(ResourceType::Topic.supported_operations()));
    assert_eq!(r.cluster_authorized_operations, bits(&[Operation::Create]));
    // by id: ids are not secret, so a known one is denied rather than unknown
    let by_id = MetadataRequestTopic::default().with_topic_id(no_id).with_name(None);
    let r = call!(c, Metadata, 12, MetadataRequest::default().with_topics(Some(vec![by_id])));
    assert_eq!((r.topics[0].error_code, r.topics[0].topic_id), (TOPIC_DENIED, no_id));
    let r = call!(
        c,
        DescribeCluster,
        1,
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true)
    );
    assert_eq!(r.cluster_authorized_operations, bits(&[Operation::Create]));
}

#[test]
fn topic_admin_and_configs_are_denied_per_resource() {
    let (_server, mut c, no_id) = family_server();
    let r = call!(
        c,
        DeleteTopics,
        3,
        DeleteTopicsRequest::default().with_topic_names(vec![name("no-a")]).with_timeout_ms(5_000)
    );
    assert_eq!(r.responses[0].error_code, TOPIC_DENIED);
    let by_id = delete_topics_request::DeleteTopicState::default().with_name(None).with_topic_id(no_id);
    let r = call!(c, DeleteTopics, 6, DeleteTopicsRequest::default().with_topics(vec![by_id]).with_timeout_ms(5_000));
    assert_eq!(r.responses[0].error_code, E::UnknownTopicId.code(), "not describable: not revealed");
    let grow = |n: &str| {
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(name(n))
            .with_count(2)
            .with_assignments(None)
    };
    let req = CreatePartitionsRequest::default().with_topics(vec![grow("no-a"), grow("ok-a")]).with_timeout_ms(5_000);
    let r = call!(c, CreatePartitions, 3, req);
    let code = |n: &str| r.results.iter().find(|t| t.name.as_str() == n).unwrap().error_code;
    assert_eq!((code("ok-a"), code("no-a")), (NONE, TOPIC_DENIED));

    use describe_configs_request::DescribeConfigsResource;
    let res = |t: i8, n: &str| {
        DescribeConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(str_bytes(n))
            .with_configuration_keys(None)
    };
    let req = DescribeConfigsRequest::default().with_resources(vec![res(2, "ok-a"), res(2, "no-a"), res(4, "1")]);
    let r = call!(c, DescribeConfigs, 4, req);
    let code = |n: &str| r.results.iter().find(|t| t.resource_name.as_str() == n).unwrap().error_code;
    assert_eq!((code("ok-a"), code("no-a"), code("1")), (NONE, TOPIC_DENIED, CLUSTER_DENIED));

    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let set = AlterableConfig::default()
        .with_name(str_bytes("retention.ms"))
        .with_config_operation(0)
        .with_value(Some(str_bytes("60000")));
    let res = |t: i8, n: &str| {
        AlterConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(str_bytes(n))
            .with_configs(vec![set.clone()])
    };
    let req =
        IncrementalAlterConfigsRequest::default().with_resources(vec![res(2, "ok-a"), res(2, "no-a"), res(4, "1")]);
    let r = call!(c, IncrementalAlterConfigs, 1, req);
    let code = |n: &str| r.responses.iter().find(|t| t.resource_name.as_str() == n).unwrap().error_code;
    assert_eq!((code("ok-a"), code("no-a"), code("1")), (NONE, TOPIC_DENIED, CLUSTER_DENIED));
    let legacy = alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(str_bytes("no-a"))
        .with_configs(vec![alter_configs_request::AlterableConfig::default()
            .with_name(str_bytes("retention.ms"))
            .with_value(Some(str_bytes("1")))]);
    let r = call!(c, AlterConfigs, 1, AlterConfigsRequest::default().with_resources(vec![legacy]));
    assert_eq!(r.responses[0].error_code, TOPIC_DENIED);
    // the ACL APIs need the cluster
    assert_eq!(call!(c, DescribeAcls, 3, acl_filter_all()).error_code, CLUSTER_DENIED);
    let r = call!(c, CreateAcls, 3, CreateAclsRequest::default().with_creations(vec![creation("User:x", "t", 3)]));
    assert_eq!(r.results[0].error_code, CLUSTER_DENIED);
    let r = call!(c, DeleteAcls, 3, DeleteAclsRequest::default().with_filters(vec![delete_filter(None, None)]));
    assert_eq!(r.filter_results[0].error_code, CLUSTER_DENIED);
    // and so do the SCRAM credential APIs (KIP-554)
    let r = call!(c, DescribeUserScramCredentials, 0, DescribeUserScramCredentialsRequest::default().with_users(None));
    assert_eq!(r.error_code, CLUSTER_DENIED);
    let deletion = alter_user_scram_credentials_request::ScramCredentialDeletion::default()
        .with_name(str_bytes("alice"))
        .with_mechanism(1);
    let r = call!(
        c,
        AlterUserScramCredentials,
        0,
        AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion])
    );
    assert_eq!((r.results.len(), r.results[0].error_code), (1, CLUSTER_DENIED));
}

fn commit(c: &mut Client, g: &str, topics: &[&str]) -> Vec<(String, i16)> {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let ts = topics.iter().map(|t| {
        let p = OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(1);
        OffsetCommitRequestTopic::default().with_name(name(t)).with_partitions(vec![p])
    });
    let req = OffsetCommitRequest::default()
        .with_group_id(group(g))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(str_bytes(""))
        .with_topics(ts.collect());
    let r = call!(c, OffsetCommit, 8, req);
    r.topics.iter().map(|t| (t.name.to_string(), t.partitions[0].error_code)).collect()
}

#[test]
fn group_membership_and_coordinators_need_group_acls() {
    let (_server, mut c, _) = family_server();
    let r =
        call!(c, FindCoordinator, 3, FindCoordinatorRequest::default().with_key(str_bytes("g-no")).with_key_type(0));
    assert_eq!((r.error_code, r.node_id), (GROUP_DENIED, BrokerId(-1)));
    let keys = vec![str_bytes("g-ok"), str_bytes("g-no")];
    let r =
        call!(c, FindCoordinator, 4, FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(keys));
    let code = |k: &str| r.coordinators.iter().find(|c| c.key.as_str() == k).unwrap().error_code;
    assert_eq!((code("g-ok"), code("g-no")), (NONE, GROUP_DENIED));
    let r = call!(
        c,
        FindCoordinator,
        4,
        FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![str_bytes("tx")])
    );
    assert_eq!(r.coordinators[0].error_code, TXN_DENIED);

    let protocol = join_group_request::JoinGroupRequestProtocol::default().with_name(str_bytes("range"));
    let join = JoinGroupRequest::default()
        .with_group_id(group("g-no"))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![protocol]);
    let r = call!(c, JoinGroup, 5, join);
    assert_eq!((r.error_code, r.generation_id), (GROUP_DENIED, -1));
    let r = call!(c, SyncGroup, 3, SyncGroupRequest::default().with_group_id(group("g-no")).with_generation_id(1));
    assert_eq!(r.error_code, GROUP_DENIED);
    let r = call!(c, Heartbeat, 3, HeartbeatRequest::default().with_group_id(group("g-no")).with_generation_id(1));
    assert_eq!(r.error_code, GROUP_DENIED);
    let m = leave_group_request::MemberIdentity::default().with_member_id(str_bytes("m"));
    let r = call!(c, LeaveGroup, 3, LeaveGroupRequest::default().with_group_id(group("g-no")).with_members(vec![m]));
    assert_eq!(r.error_code, GROUP_DENIED);
}

#[test]
fn offsets_need_group_and_topic_acls() {
    let (_server, mut c, _) = family_server();
    let codes = commit(&mut c, "g-ok", &["ok-a", "no-a", "ro"]);
    assert_eq!(codes.iter().find(|t| t.0 == "no-a").unwrap().1, TOPIC_DENIED);
    assert!(codes.iter().filter(|t| t.0 != "no-a").all(|t| t.1 == NONE), "{codes:?}");
    assert!(commit(&mut c, "g-no", &["ok-a"]).iter().all(|t| t.1 == GROUP_DENIED));
    assert!(commit(&mut c, "g-hidden", &["ok-a"]).iter().all(|t| t.1 == NONE), "READ is enough to commit");

    // fetching all: `ro` (committed, but not describable) is left out
    let r = call!(c, OffsetFetch, 7, OffsetFetchRequest::default().with_group_id(group("g-ok")).with_topics(None));
    assert_eq!(
        (r.error_code, r.topics.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()),
        (NONE, vec!["ok-a".to_string()])
    );
    let ro =
        offset_fetch_request::OffsetFetchRequestTopic::default().with_name(name("ro")).with_partition_indexes(vec![0]);
    let r = call!(
        c,
        OffsetFetch,
        7,
        OffsetFetchRequest::default().with_group_id(group("g-ok")).with_topics(Some(vec![ro.clone()]))
    );
    assert_eq!(r.topics[0].partitions[0].error_code, TOPIC_DENIED);
    let r = call!(c, OffsetFetch, 7, OffsetFetchRequest::default().with_group_id(group("g-hidden")).with_topics(None));
    assert_eq!(r.error_code, GROUP_DENIED);
    let r = call!(
        c,
        OffsetFetch,
        1,
        OffsetFetchRequest::default().with_group_id(group("g-no")).with_topics(Some(vec![ro]))
    );
    assert_eq!(r.topics[0].partitions[0].error_code, GROUP_DENIED, "v1 carries the group error per partition");
    let g =
        |id: &str| offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group(id)).with_topics(None);
    let r = call!(c, OffsetFetch, 8, OffsetFetchRequest::default().with_groups(vec![g("g-ok"), g("g-no")]));
    let by = |id: &str| r.groups.iter().find(|x| x.group_id.as_str() == id).unwrap();
    assert_eq!(by("g-ok").topics.iter().map(|t| t.name.to_string()).collect::<Vec<_>>(), ["ok-a"]);
    assert_eq!(by("g-no").error_code, GROUP_DENIED);

    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    let t = |n: &str| {
        OffsetDeleteRequestTopic::default()
            .with_name(name(n))
            .with_partitions(vec![OffsetDeleteRequestPartition::default()])
    };
    let r = call!(
        c,
        OffsetDelete,
        0,
        OffsetDeleteRequest::default().with_group_id(group("g-no")).with_topics(vec![t("ok-a")])
    );
    assert_eq!(r.error_code, GROUP_DENIED);
    let r = call!(
        c,
        OffsetDelete,
        0,
        OffsetDeleteRequest::default().with_group_id(group("g-ok")).with_topics(vec![t("no-a"), t("ok-a")])
    );
    let code = |n: &str| r.topics.iter().find(|x| x.name.as_str() == n).unwrap().partitions[0].error_code;
    assert_eq!((r.error_code, code("ok-a"), code("no-a")), (NONE, NONE, TOPIC_DENIED));
}

#[test]
fn group_listing_and_administration_follow_group_acls() {
    let (_server, mut c, _) = family_server();
    commit(&mut c, "g-ok", &["ok-a"]);
    commit(&mut c, "g-hidden", &["ok-a"]);
    let r = call!(c, ListGroups, 4, ListGroupsRequest::default());
    assert_eq!(
        r.groups.iter().map(|g| g.group_id.to_string()).collect::<Vec<_>>(),
        ["g-ok"],
        "g-hidden is not describable"
    );
    let req = DescribeGroupsRequest::default()
        .with_groups(vec![group("g-ok"), group("g-hidden")])
        .with_include_authorized_operations(true);
    let r = call!(c, DescribeGroups, 5, req);
    let by = |id: &str| r.groups.iter().find(|x| x.group_id.as_str() == id).unwrap();
    assert_eq!(
        (by("g-ok").error_code, by("g-ok").authorized_operations),
        (NONE, bits(ResourceType::Group.supported_operations()))
    );
    assert_eq!(by("g-hidden").error_code, GROUP_DENIED);
    let r = call!(
        c,
        DeleteGroups,
        2,
        DeleteGroupsRequest::default().with_groups_names(vec![group("g-hidden"), group("g-ok")])
    );
    let code = |id: &str| r.results.iter().find(|x| x.group_id.as_str() == id).unwrap().error_code;
    assert_eq!((code("g-ok"), code("g-hidden")), (NONE, GROUP_DENIED));
}

#[test]
fn auto_creation_needs_create_and_idempotence_needs_some_write() {
    let acls = "
authorizer: acl
acls:
  - principal: User:ANONYMOUS
    resource: {type: topic, name: look-, pattern: prefixed}
    operations: [describe]
    permission: allow
  - principal: User:ANONYMOUS
    resource: {type: topic, name: make-, pattern: prefixed}
    operations: [create, describe]
    permission: allow
";
    let server = InProcessServer::start_with(acls);
    let mut c = Client::connect(server.addr);
    let ask = |n: &str, auto: bool| {
        let t = metadata_request::MetadataRequestTopic::default().with_name(Some(name(n)));
        MetadataRequest::default().with_topics(Some(vec![t])).with_allow_auto_topic_creation(auto)
    };
    assert_eq!(call!(c, Metadata, 9, ask("look-1", true)).topics[0].error_code, TOPIC_DENIED);
    assert!(server.broker().topic("look-1").is_none());
    assert_eq!(call!(c, Metadata, 9, ask("look-2", false)).topics[0].error_code, E::UnknownTopicOrPartition.code());
    let made = call!(c, Metadata, 9, ask("make-1", true)).topics.remove(0);
    assert_eq!((made.error_code, made.partitions.len()), (NONE, 1));
    let r = call!(
        c,
        InitProducerId,
        4,
        InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000)
    );
    assert_eq!(r.error_code, CLUSTER_DENIED);
}

#[test]
fn without_acls_on_a_resource_the_setting_decides() {
    let acls = "
authorizer: acl
broker:
  allow.everyone.if.no.acl.found: true
acls:
  - principal: User:someone-else
    resource: {type: topic, name: locked}
    operations: [write]
    permission: allow
";
    let server = InProcessServer::start_with(acls);
    let mut c = Client::connect(server.addr);
    crate::live::create_topic(&mut c, "free", 1, &[]);
    let r = call!(c, Produce, 12, crate::live::produce_req(12, "free", Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
    assert_eq!(r.responses[0].partition_responses[0].error_code, NONE);
    let r =
        call!(c, Produce, 12, crate::live::produce_req(12, "locked", Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
    assert_eq!(r.responses[0].partition_responses[0].error_code, TOPIC_DENIED, "an ACL names it: no longer open");
}

// ---- the ACL admin APIs ----

const ADMIN_ACLS: &str = "
authorizer: acl
acls:
  - principal: User:ANONYMOUS
    resource: {type: cluster, name: kafka-cluster}
    operations: [alter, describe]
    permission: allow
  - principal: User:bob
    resource: {type: topic, name: cfg}
    operations: [read]
    permission: allow
";

fn creation(principal: &str, topic: &str, pattern: i8) -> create_acls_request::AclCreation {
    create_acls_request::AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(str_bytes(topic))
        .with_resource_pattern_type(pattern)
        .with_principal(str_bytes(principal))
        .with_host(str_bytes("*"))
        .with_operation(Operation::Read.code())
        .with_permission_type(3)
}

fn acl_filter_all() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1)
}

fn delete_filter(principal: Option<&str>, topic: Option<&str>) -> delete_acls_request::DeleteAclsFilter {
    delete_acls_request::DeleteAclsFilter::default()
        .with_resource_type_filter(if topic.is_some() { 2 } else { 1 })
        .with_resource_name_filter(topic.map(str_bytes))
        .with_pattern_type_filter(1)
        .with_principal_filter(principal.map(str_bytes))
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1)
}

/// (type, name, pattern, principal, operation) of every ACL, sorted.
fn described(c: &mut Client, v: i16) -> Vec<(i8, String, i8, String, i8)> {
    let r = call!(c, DescribeAcls, v, acl_filter_all());
    assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
    let mut out: Vec<_> = r
        .resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().map(|a| {
                (
                    res.resource_type,
                    res.resource_name.to_string(),
                    res.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn acls_are_created_described_and_deleted_at_every_version() {
    let server = InProcessServer::start_with(ADMIN_ACLS);
    let mut c = Client::connect(server.addr);
    for v in versions(ApiKey::CreateAcls) {
        let topic = format!("t-{v}");
        let mut cluster_wrong = creation("User:carol", "other", 3);
        cluster_wrong.resource_type = 4;
        let creations = vec![
            creation("User:carol", &topic, 3),
            creation("User:carol", &topic, 1),
            cluster_wrong,
            creation("carol", &topic, 3),
            creation("User:carol", &topic, 3),
        ];
        let r = call!(c, CreateAcls, v, CreateAclsRequest::default().with_creations(creations));
        let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, [NONE, INVALID_REQUEST, INVALID_REQUEST, INVALID_REQUEST, NONE], "v{v}: {r:?}");
        assert!(r.results[3].error_message.as_deref().is_some_and(|m| m.contains("principal")), "v{v}");
    }
    for v in versions(ApiKey::DescribeAcls) {
        let all = described(&mut c, v);
        // two cluster ACLs and bob's from the config, one per CreateAcls version
        assert_eq!(all.len(), 3 + versions(ApiKey::CreateAcls).count(), "v{v}: {all:?}");
        assert!(all.iter().any(|a| a.1 == "cfg" && a.3 == "User:bob"));
        let r = call!(c, DescribeAcls, v, acl_filter_all().with_pattern_type_filter(0));
        assert_eq!(r.error_code, INVALID_REQUEST, "v{v}: UNKNOWN pattern type");
        let by_name = acl_filter_all().with_resource_type_filter(2).with_resource_name_filter(Some(str_bytes("t-2")));
        assert_eq!(call!(c, DescribeAcls, v, by_name).resources.len(), 1, "v{v}");
    }
    for v in versions(ApiKey::DeleteAcls) {
        let filters =
            vec![delete_filter(Some("User:bob"), None), delete_filter(Some("User:carol"), Some(&format!("t-{v}")))];
        let r = call!(c, DeleteAcls, v, DeleteAclsRequest::default().with_filters(filters));
        let config_defined = &r.filter_results[0].matching_acls;
        assert_eq!(config_defined.len(), 1, "v{v}");
        assert_eq!(config_defined[0].error_code, INVALID_REQUEST, "v{v}: config ACLs cannot be deleted online");
        assert!(config_defined[0].error_message.as_deref().is_some_and(|m| m.contains("config")));
        let deleted = &r.filter_results[1].matching_acls;
        assert_eq!((deleted.len(), deleted[0].error_code), (1, NONE), "v{v}");
        let bad = delete_filter(None, None).with_pattern_type_filter(0);
        let r = call!(c, DeleteAcls, v, DeleteAclsRequest::default().with_filters(vec![bad]));
        assert_eq!(r.filter_results[0].error_code, INVALID_REQUEST, "v{v}");
    }
    assert_eq!(described(&mut c, 3).len(), 3, "only the config's ACLs are left");
}

#[test]
fn without_an_authorizer_the_acl_apis_are_disabled() {
    let server = InProcessServer::start();
    let mut c = Client::connect(server.addr);
    let disabled = E::SecurityDisabled.code();
    assert_eq!(call!(c, DescribeAcls, 3, acl_filter_all()).error_code, disabled);
    let r = call!(c, CreateAcls, 3, CreateAclsRequest::default().with_creations(vec![creation("User:x", "t", 3)]));
    assert_eq!(r.results[0].error_code, disabled);
    let r = call!(c, DeleteAcls, 3, DeleteAclsRequest::default().with_filters(vec![delete_filter(None, None)]));
    assert_eq!(r.filter_results[0].error_code, disabled);
}

#[test]
fn online_acls_take_effect_at_once_and_survive_a_restart() {
    let server = InProcessServer::start_with(ADMIN_ACLS);
    let mut c = Client::connect(server.addr);
    let create = |n: &str| {
        let t = create_topics_request::CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(1)
            .with_replication_factor(1);
        CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(5_000)
    };
    assert_eq!(call!(c, CreateTopics, 7, create("late")).topics[0].error_code, TOPIC_DENIED);
    let mut all = creation("User:ANONYMOUS", "late", 3);
    all.operation = Operation::All.code();
    let r = call!(
        c,
        CreateAcls,
        3,
        CreateAclsRequest::default().with_creations(vec![all, creation("User:dave", "kept", 4)])
    );
    assert!(r.results.iter().all(|r| r.error_code == NONE));
    assert_eq!(call!(c, CreateTopics, 7, create("late")).topics[0].error_code, NONE);
    let r = call!(c, Produce, 12, crate::live::produce_req(12, "late", Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
    assert_eq!(r.responses[0].partition_responses[0].error_code, NONE);

    let server = server.restart();
    let mut c = Client::connect(server.addr);
    let after = described(&mut c, 3);
    assert!(after.iter().any(|a| a.1 == "kept" && a.2 == 4 && a.3 == "User:dave"), "{after:?}");
    assert!(after.iter().any(|a| a.1 == "late" && a.3 == "User:ANONYMOUS"));
    let r = call!(c, Produce, 12, crate::live::produce_req(12, "late", Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
    assert_eq!(r.responses[0].partition_responses[0].error_code, NONE, "still allowed after the restart");
    // deleting takes effect at once too
    let r = call!(c, DeleteAcls, 3, DeleteAclsRequest::default().with_filters(vec![delete_filter(None, Some("late"))]));
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
    let r = call!(c, Produce, 12, crate::live::produce_req(12, "late", Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
    assert_eq!(r.responses[0].partition_responses[0].error_code, TOPIC_DENIED);
}

// ---- authenticated principals ----

/// Logs in with SASL PLAIN.
fn plain_login(c: &mut Client, user: &str, password: &str) {
    let r = call!(c, SaslHandshake, 1, SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN")));
    assert_eq!(r.error_code, NONE);
    let token = Bytes::from(format!("\0{user}\0{password}"));
    let r = call!(c, SaslAuthenticate, 2, SaslAuthenticateRequest::default().with_auth_bytes(token));
    assert_eq!(r.error_code, NONE, "{user}: {:?}", r.error_message);
}

#[test]
fn acls_apply_to_the_authenticated_principal() {
    let dir = tempfile::tempdir().unwrap();
    let pw = |user: &str| {
        let p = dir.path().join(format!("{user}.pw"));
        std::fs::write(&p, format!("{user}-pw")).unwrap();
        format!("{:?}", p.display().to_string())
    };
    let users = format!(
        "users:\n  - name: alice\n    password_file: {}\n  - name: admin\n    password_file: {}\n",
        pw("alice"),
        pw("admin")
    );
    let server = InProcessServer::start_custom(|yaml| {
        let sasl = "  - name: SASL\n    bind: 127.0.0.1:0\n    security: sasl_plaintext\n    \
                    sasl: { mechanisms: [PLAIN] }\nadmin:";
        yaml.replacen("admin:", sasl, 1).replacen(
            "broker:\n",
            "broker:\n  connection.failed.authentication.delay.ms: 0\n",
            1,
        ) + &users
            + "authorizer: acl\nsuper_users: [\"User:admin\"]\nacls:\n  - principal: User:alice\n    \
               resource: {type: topic, name: a-, pattern: prefixed}\n    operations: [write]\n    permission: allow\n"
    });
    let sasl = server.listeners.iter().find(|(n, _)| n == "SASL").unwrap().1;
    let produce = |c: &mut Client, topic: &str| {
        let r =
            call!(c, Produce, 12, crate::live::produce_req(12, topic, Uuid::nil(), -1, vec![(0, simple_batch(1, 0))]));
        r.responses[0].partition_responses[0].error_code
    };
    // the super user may do anything, ACLs or not
    let mut admin = Client::connect(sasl);
    plain_login(&mut admin, "admin", "admin-pw");
    for t in ["a-1", "b-1"] {
        crate::live::create_topic(&mut admin, t, 1, &[]);
    }
    assert_eq!(produce(&mut admin, "b-1"), NONE);
    assert_eq!(call!(admin, DescribeAcls, 3, acl_filter_all()).error_code, NONE);
    // alice: WRITE on a-* only
    let mut alice = Client::connect(sasl);
    plain_login(&mut alice, "alice", "alice-pw");
    assert_eq!((produce(&mut alice, "a-1"), produce(&mut alice, "b-1")), (NONE, TOPIC_DENIED));
    assert_eq!(fetch(&mut alice, "a-1").error_code, TOPIC_DENIED, "WRITE does not grant READ");
    // the PLAINTEXT listener's ANONYMOUS has nothing
    let mut anonymous = Client::connect(server.addr);
    assert_eq!(produce(&mut anonymous, "a-1"), TOPIC_DENIED);
    // an ACL created by the super user applies to alice at once
    let r = call!(
        admin,
        CreateAcls,
        3,
        CreateAclsRequest::default().with_creations(vec![creation("User:alice", "a-1", 3)])
    );
    assert_eq!(r.results[0].error_code, NONE);
    assert_eq!(fetch(&mut alice, "a-1").error_code, NONE);
}
