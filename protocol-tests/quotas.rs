//! Client quotas over the wire: DescribeClientQuotas and AlterClientQuotas at every
//! advertised version (filters, validate_only, removal, Kafka's error codes, ACLs,
//! persistence across a restart), and throttling: a produce or fetch over its quota
//! carries `throttle_time_ms`, and the connection then holds the next request back
//! for about that long (KIP-219) — or, for versions older than KIP-219, holds the
//! response back instead.

use crate::call;
use crate::live::{create_topic, fetch_req, produce_req, versions, NONE, TS0};
use crate::wire::{record_batch, str_bytes, Client, InProcessServer, TestRecord, CLIENT_ID};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use std::time::{Duration, Instant};

const INVALID_REQUEST: i16 = E::InvalidRequest.code();
const UNSUPPORTED_VERSION: i16 = E::UnsupportedVersion.code();
const CLUSTER_DENIED: i16 = E::ClusterAuthorizationFailed.code();
const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const ANY: i8 = 2;

type Entity<'a> = Vec<(&'a str, Option<&'a str>)>;
/// A described entity as sorted "type=name" parts, with its (key, value) pairs.
type Found = Vec<(String, Vec<(String, f64)>)>;

fn alter_entry(entity: &Entity<'_>, ops: &[(&str, f64, bool)]) -> alter_client_quotas_request::EntryData {
    use alter_client_quotas_request::{EntityData, EntryData, OpData};
    EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| EntityData::default().with_entity_type(str_bytes(t)).with_entity_name(n.map(str_bytes)))
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v, remove)| OpData::default().with_key(str_bytes(k)).with_value(*v).with_remove(*remove))
                .collect(),
        )
}

/// Alters one entity per entry; returns each entry's error code.
fn alter(
    c: &mut Client,
    v: i16,
    entries: Vec<alter_client_quotas_request::EntryData>,
    validate_only: bool,
) -> Vec<i16> {
    let req = AlterClientQuotasRequest::default().with_entries(entries).with_validate_only(validate_only);
    let r = call!(c, AlterClientQuotas, v, req);
    r.entries.iter().map(|e| e.error_code).collect()
}

/// Describes with a filter; returns the error code and the entities found, each as
/// sorted "type=name" strings (name `<default>` for the default) with its values.
fn describe(c: &mut Client, v: i16, filter: &[(&str, i8, Option<&str>)], strict: bool) -> (i16, Found) {
    use describe_client_quotas_request::ComponentData;
    let components = filter
        .iter()
        .map(|(t, m, n)| {
            ComponentData::default().with_entity_type(str_bytes(t)).with_match_type(*m).with_match(n.map(str_bytes))
        })
        .collect();
    let r = call!(
        c,
        DescribeClientQuotas,
        v,
        DescribeClientQuotasRequest::default().with_components(components).with_strict(strict)
    );
    let mut found: Found = r
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let mut parts: Vec<String> = e
                .entity
                .iter()
                .map(|d| format!("{}={}", d.entity_type.as_str(), d.entity_name.as_deref().unwrap_or("<default>")))
                .collect();
            parts.sort();
            let values = e.values.iter().map(|v| (v.key.to_string(), v.value)).collect();
            (parts.join(","), values)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    (r.error_code, found)
}

fn names(found: &Found) -> Vec<&str> {
    found.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn alter_and_describe_at_every_version() {
    for v in versions(ApiKey::AlterClientQuotas) {
        let server = InProcessServer::start();
        let mut c = Client::connect(server.addr);
        let alice: Entity = vec![("user", Some("alice"))];
        let alice_any_client: Entity = vec![("user", Some("alice")), ("client-id", None)];
        let app: Entity = vec![("client-id", Some("app"))];
        let default_user: Entity = vec![("user", None)];
        let codes = alter(
            &mut c,
            v,
            vec![
                alter_entry(&alice, &[("producer_byte_rate", 1048576.0, false), ("request_percentage", 12.5, false)]),
                alter_entry(&alice_any_client, &[("consumer_byte_rate", 2048.0, false)]),
                alter_entry(&app, &[("producer_byte_rate", 4096.0, false)]),
                alter_entry(&default_user, &[("consumer_byte_rate", 1e6, false)]),
            ],
            false,
        );
        assert_eq!(codes, vec![NONE; 4], "v{v}");
        let (code, all) = describe(&mut c, v, &[], false);
        assert_eq!(code, NONE);
        assert_eq!(names(&all), ["client-id=<default>,user=alice", "client-id=app", "user=<default>", "user=alice"]);
        assert_eq!(
            all[3].1,
            vec![("producer_byte_rate".to_string(), 1048576.0), ("request_percentage".to_string(), 12.5)]
        );
        // the three match types, and strict
        let (_, f) = describe(&mut c, v, &[("user", EXACT, Some("alice"))], false);
        assert_eq!(names(&f), ["client-id=<default>,user=alice", "user=alice"]);
        let (_, f) = describe(&mut c, v, &[("user", EXACT, Some("alice"))], true);
        assert_eq!(names(&f), ["user=alice"]);
        let (_, f) = describe(&mut c, v, &[("user", DEFAULT, None)], false);
        assert_eq!(names(&f), ["user=<default>"]);
        let (_, f) = describe(&mut c, v, &[("client-id", ANY, None)], false);
        assert_eq!(names(&f), ["client-id=<default>,user=alice", "client-id=app"]);
        let (_, f) = describe(&mut c, v, &[("client-id", ANY, None)], true);
        assert_eq!(names(&f), ["client-id=app"]);
        let (_, f) = describe(&mut c, v, &[("client-id", DEFAULT, None), ("user", ANY, None)], true);
        assert_eq!(names(&f), ["client-id=<default>,user=alice"]);
        // validate_only changes nothing, even a removal
        let codes = alter(&mut c, v, vec![alter_entry(&app, &[("producer_byte_rate", 0.0, true)])], true);
        assert_eq!(codes, [NONE]);
        assert_eq!(describe(&mut c, v, &[("client-id", EXACT, Some("app"))], false).1.len(), 1);
        // remove: true takes a key away; the last key takes the entity with it
        let codes = alter(&mut c, v, vec![alter_entry(&alice, &[("request_percentage", 0.0, true)])], false);
        assert_eq!(codes, [NONE]);
        let codes = alter(&mut c, v, vec![alter_entry(&app, &[("producer_byte_rate", 0.0, true)])], false);
        assert_eq!(codes, [NONE]);
        let (_, f) = describe(&mut c, v, &[], false);
        assert_eq!(names(&f), ["client-id=<default>,user=alice", "user=<default>", "user=alice"]);
        assert_eq!(f[2].1, vec![("producer_byte_rate".to_string(), 1048576.0)]);
        // online quotas survive a restart
        let server = server.restart();
        let mut c = Client::connect(server.addr);
        assert_eq!(describe(&mut c, v, &[], false).1, f, "v{v}: after restart");
    }
}

#[test]
fn bad_alterations_and_filters_get_kafkas_error_codes() {
    let server = InProcessServer::start_with("quotas:\n  - { user: cfg, producer_byte_rate: 1000 }\n");
    let mut c = Client::connect(server.addr);
    for v in versions(ApiKey::AlterClientQuotas) {
        let entries = vec![
            alter_entry(&vec![("user", Some("a"))], &[("nonsense_rate", 1.0, false)]),
            alter_entry(&vec![("group", Some("g"))], &[("producer_byte_rate", 1.0, false)]),
            alter_entry(&vec![], &[("producer_byte_rate", 1.0, false)]),
            alter_entry(&vec![("user", Some("a"))], &[("producer_byte_rate", 1.5, false)]),
            alter_entry(&vec![("user", Some("a"))], &[("request_percentage", -1.0, false)]),
            alter_entry(&vec![("user", Some("a")), ("user", Some("b"))], &[("producer_byte_rate", 1.0, false)]),
            alter_entry(&vec![("user", Some("cfg"))], &[("producer_byte_rate", 5.0, false)]),
            alter_entry(&vec![("user", Some("ok"))], &[("producer_byte_rate", 5.0, false)]),
        ];
        let mut want = vec![INVALID_REQUEST; 7];
        want.push(NONE);
        assert_eq!(alter(&mut c, v, entries, true), want, "v{v}");
        for (filter, code) in [
            (vec![("user", EXACT, None)], INVALID_REQUEST),
            (vec![("user", DEFAULT, Some("x"))], INVALID_REQUEST),
            (vec![("user", ANY, Some("x"))], INVALID_REQUEST),
            (vec![("user", 9, None)], INVALID_REQUEST),
            (vec![("user", ANY, None), ("user", DEFAULT, None)], INVALID_REQUEST),
            (vec![("ip", ANY, None), ("user", ANY, None)], INVALID_REQUEST),
            (vec![("topic", ANY, None)], UNSUPPORTED_VERSION),
        ] {
            assert_eq!(describe(&mut c, v, &filter, false).0, code, "v{v} {filter:?}");
        }
        // the config's entity is described with its value
        let (code, f) = describe(&mut c, v, &[("user", EXACT, Some("cfg"))], false);
        assert_eq!((code, f[0].1.clone()), (NONE, vec![("producer_byte_rate".to_string(), 1000.0)]));
    }
}

#[test]
fn the_quota_apis_need_cluster_config_acls() {
    let server = InProcessServer::start_with(
        "authorizer: acl\nacls:\n  - principal: User:ANONYMOUS\n    resource: {type: cluster, name: kafka-cluster}\n    \
         operations: [describe_configs]\n    permission: allow\n",
    );
    let mut c = Client::connect(server.addr);
    for v in versions(ApiKey::AlterClientQuotas) {
        assert_eq!(describe(&mut c, v, &[], false).0, NONE, "DESCRIBE_CONFIGS on the cluster suffices");
        let entries = vec![alter_entry(&vec![("user", Some("a"))], &[("producer_byte_rate", 5.0, false)])];
        assert_eq!(alter(&mut c, v, entries, false), [CLUSTER_DENIED], "v{v}: ALTER_CONFIGS is missing");
    }
    let server = InProcessServer::start_with("authorizer: acl\n");
    let mut c = Client::connect(server.addr);
    for v in versions(ApiKey::DescribeClientQuotas) {
        assert_eq!(describe(&mut c, v, &[], false).0, CLUSTER_DENIED, "v{v}");
    }
}

/// A batch of one record with a value of `bytes` bytes.
fn big_batch(bytes: usize) -> bytes::Bytes {
    let value = vec![b'q'; bytes];
    record_batch(&[TestRecord { key: None, value: &value, timestamp_ms: TS0 }], Compression::None)
}

/// With the default window (11 samples of 1 s), a new client's rate is measured
/// over 10 s, so a request of 11 × the per-second quota is throttled about 1 s.
const QUOTA_BYTES_PER_SECOND: usize = 10_000;
const ONE_SECOND_OF_THROTTLE_BYTES: usize = 11 * QUOTA_BYTES_PER_SECOND;

fn quota_yaml(key: &str) -> String {
    format!("quotas:\n  - {{ client_id: {CLIENT_ID}, {key}: {QUOTA_BYTES_PER_SECOND} }}\n")
}

#[test]
fn a_produce_over_quota_is_throttled_then_the_connection_is_muted() {
    let server = InProcessServer::start_with(&quota_yaml("producer_byte_rate"));
    let mut c = Client::connect(server.addr);
    let id = create_topic(&mut c, "q", 1, &[]);
    let v = *versions(ApiKey::Produce).end();
    let req = produce_req(v, "q", id, -1, vec![(0, big_batch(ONE_SECOND_OF_THROTTLE_BYTES))]);
    let r = call!(c, Produce, v, req);
    assert_eq!(r.responses[0].partition_responses[0].error_code, NONE);
    let throttle = r.throttle_time_ms;
    assert!((900..=1_300).contains(&throttle), "throttle_time_ms {throttle}");
    // the response came at once; the next request waits out the throttle
    let asked = Instant::now();
    call!(
        c,
        ApiVersions,
        3,
        ApiVersionsRequest::default()
            .with_client_software_name(str_bytes("t"))
            .with_client_software_version(str_bytes("1"))
    );
    let held = asked.elapsed();
    let want = Duration::from_millis(throttle as u64);
    assert!(held + Duration::from_millis(50) >= want, "held {held:?}, throttle {want:?}");
    assert!(held < want + Duration::from_secs(3), "held {held:?}, throttle {want:?}");
    // the throttle counters moved
    let snap = server.quotas().throttle_snapshot();
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!((snap[0].quota_type, snap[0].client_id.as_str()), ("produce", CLIENT_ID));
    assert_eq!(snap[0].throttle_time_ms_total, throttle as u64);
}

#[test]
fn before_kip_219_the_response_itself_is_held_back() {
    let server = InProcessServer::start_with(&quota_yaml("producer_byte_rate"));
    let mut c = Client::connect(server.addr);
    create_topic(&mut c, "q", 1, &[]);
    let v = 5; // clients throttle themselves from v6 on
    let sent = Instant::now();
    let r = call!(
        c,
        Produce,
        v,
        produce_req(v, "q", uuid::Uuid::nil(), -1, vec![(0, big_batch(ONE_SECOND_OF_THROTTLE_BYTES))])
    );
    let took = sent.elapsed();
    let throttle = r.throttle_time_ms;
    assert!((900..=1_300).contains(&throttle), "throttle_time_ms {throttle}");
    assert!(took + Duration::from_millis(50) >= Duration::from_millis(throttle as u64), "answered after {took:?}");
    // and the connection is not muted on top of that
    let asked = Instant::now();
    call!(c, Metadata, 12, MetadataRequest::default().with_topics(Some(vec![])));
    assert!(asked.elapsed() < Duration::from_millis(throttle as u64 / 2), "{:?}", asked.elapsed());
}

/// A fetch of partition 0 from `offset`, at most `FETCH_BYTES` of records.
fn small_fetch(v: i16, id: uuid::Uuid, offset: i64) -> FetchRequest {
    let mut r = fetch_req(v, "f", id, 0, offset, -1, 0).with_max_bytes(FETCH_BYTES);
    r.topics[0].partitions[0].partition_max_bytes = FETCH_BYTES;
    r
}

const FETCH_BYTES: i32 = 60_000;

/// The offset after the last whole batch in fetched records (a response may end in
/// a partial batch): base offset (8 bytes), length (4), …, last offset delta at 23.
fn next_offset(records: &[u8]) -> i64 {
    let (mut pos, mut next) = (0usize, 0i64);
    while pos + 27 <= records.len() {
        let base = i64::from_be_bytes(records[pos..pos + 8].try_into().unwrap());
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if pos + 12 + len > records.len() {
            break;
        }
        let last_delta = i32::from_be_bytes(records[pos + 23..pos + 27].try_into().unwrap());
        next = base + last_delta as i64 + 1;
        pos += 12 + len;
    }
    next
}

#[test]
fn a_throttled_fetch_is_answered_empty_and_its_bytes_are_taken_back() {
    let server = InProcessServer::start_with(&quota_yaml("consumer_byte_rate"));
    let mut c = Client::connect(server.addr);
    let id = create_topic(&mut c, "f", 1, &[]);
    for _ in 0..20 {
        let produce = produce_req(12, "f", id, -1, vec![(0, big_batch(10_000))]);
        assert_eq!(call!(c, Produce, 12, produce).throttle_time_ms, 0, "no produce quota");
    }
    let v = *versions(ApiKey::Fetch).end();
    // 60 kB of the 100 kB a new consumer may take at once: not throttled
    let r = call!(c, Fetch, v, small_fetch(v, id, 0));
    assert_eq!(r.throttle_time_ms, 0);
    let next = next_offset(r.responses[0].partitions[0].records.as_ref().unwrap());
    assert!(next > 0);
    // another 60 kB is over: an empty answer with the throttle time
    let r = call!(c, Fetch, v, small_fetch(v, id, next));
    let first = r.throttle_time_ms;
    assert!(first >= 1_000, "throttle_time_ms {first}");
    assert_eq!(r.error_code, NONE);
    assert!(r.responses.is_empty(), "a throttled fetch carries no data");
    // its bytes were taken back: the same fetch again is throttled about as long,
    // not for the 180 kB that counting them twice would make
    let r = call!(c, Fetch, v, small_fetch(v, id, next));
    assert!(r.throttle_time_ms <= first + 500, "{} after {first}", r.throttle_time_ms);
    let snap = server.quotas().throttle_snapshot();
    assert_eq!((snap[0].quota_type, snap[0].throttled_responses_total), ("fetch", 2));
}
