//! A live in-process server, driven over TCP at every routed API and every
//! advertised version with realistic requests. Each response is decoded at the
//! request's version and checked for the echoed correlation id and for the error
//! codes a Kafka client expects, where things should work and where they should
//! fail. A field the broker sets at a version that lacks it makes kafka-protocol
//! refuse to encode the response and the broker close the connection: this is
//! where that shows, version by version.

use crate::call;
use crate::wire::{
    idempotent_batch, record_batch, simple_batch, str_bytes, Client, InProcessServer, Outcome, TestRecord,
};
use bytes::Bytes;
use gregor::router::{supported_versions, ROUTES};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The APIs with a live test below; a route without one fails `every_route_is_tested_live`.
const LIVE_TESTED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeCluster,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
    ApiKey::InitProducerId,
    // at every version in `acl.rs`
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    // in scram_apis.rs
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    // in quotas.rs
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
    // in sasl.rs
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

pub(crate) const NONE: i16 = 0;
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const CONFIG_SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub(crate) const OPS_OMITTED: i32 = i32::MIN;
pub(crate) const TS0: i64 = 1_600_000_000_000;

pub(crate) fn versions(api: ApiKey) -> RangeInclusive<i16> {
    let r = supported_versions(api).unwrap_or_else(|| panic!("{api:?} is not routed"));
    r.min..=r.max
}

pub(crate) fn name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

pub(crate) fn setup() -> (InProcessServer, Client) {
    let server = InProcessServer::start();
    let client = Client::connect(server.addr);
    (server, client)
}

// ---- setup helpers, at fixed modern versions ----

pub(crate) fn create_topic(c: &mut Client, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Uuid {
    use create_topics_request::{CreatableTopic, CreatableTopicConfig};
    let configs = configs
        .iter()
        .map(|(k, v)| CreatableTopicConfig::default().with_name(str_bytes(k)).with_value(Some(str_bytes(v))))
        .collect();
    let t = CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(configs);
    let r = call!(c, CreateTopics, 7, CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(5_000));
    assert_eq!(r.topics[0].error_code, NONE, "creating {topic}: {:?}", r.topics[0].error_message);
    assert!(!r.topics[0].topic_id.is_nil());
    r.topics[0].topic_id
}

pub(crate) fn produce_req(v: i16, topic: &str, id: Uuid, acks: i16, parts: Vec<(i32, Bytes)>) -> ProduceRequest {
    use produce_request::{PartitionProduceData, TopicProduceData};
    let parts = parts.into_iter().map(|(i, b)| PartitionProduceData::default().with_index(i).with_records(Some(b)));
    let td = TopicProduceData::default().with_partition_data(parts.collect());
    let td = if v >= 13 { td.with_topic_id(id) } else { td.with_name(name(topic)) };
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5_000).with_topic_data(vec![td])
}

/// Produces at v12 (by name), acks=all; returns the base offset.
pub(crate) fn produce(c: &mut Client, topic: &str, partition: i32, batch: Bytes) -> i64 {
    let r = call!(c, Produce, 12, produce_req(12, topic, Uuid::nil(), -1, vec![(partition, batch)]));
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NONE, "produce to {topic}-{partition}: {:?}", p.error_message);
    p.base_offset
}

pub(crate) fn metadata_topic(c: &mut Client, topic: &str) -> metadata_response::MetadataResponseTopic {
    use metadata_request::MetadataRequestTopic;
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]))
        .with_allow_auto_topic_creation(false);
    call!(c, Metadata, 12, req).topics.remove(0)
}

pub(crate) fn leader_epoch(c: &mut Client, topic: &str) -> i32 {
    metadata_topic(c, topic).partitions[0].leader_epoch
}

pub(crate) fn topic_configs(
    c: &mut Client,
    topic: &str,
) -> Vec<describe_configs_response::DescribeConfigsResourceResult> {
    use describe_configs_request::DescribeConfigsResource;
    let res = DescribeConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(str_bytes(topic))
        .with_configuration_keys(None);
    let mut r = call!(c, DescribeConfigs, 4, DescribeConfigsRequest::default().with_resources(vec![res]));
    assert_eq!(r.results[0].error_code, NONE);
    r.results.remove(0).configs
}

pub(crate) fn config_value(c: &mut Client, topic: &str, key: &str) -> (String, i8) {
    let configs = topic_configs(c, topic);
    let e = configs.iter().find(|e| e.name.as_str() == key).unwrap_or_else(|| panic!("{topic} has no {key}"));
    (e.value.as_deref().unwrap_or("").to_string(), e.config_source)
}

/// A batch whose CRC no longer matches its contents.
pub(crate) fn corrupt(batch: Bytes) -> Bytes {
    let mut b = batch.to_vec();
    let last = b.len() - 1;
    b[last] ^= 0x55;
    Bytes::from(b)
}

pub(crate) fn records_of(bytes: &Bytes) -> Vec<(i64, Vec<u8>)> {
    let mut buf = bytes.clone();
    let sets = RecordBatchDecoder::decode_all(&mut buf).expect("fetched batches decode");
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.value.map(|v| v.to_vec()).unwrap_or_default()))
        .collect()
}

// ---- the tests ----

#[test]
fn every_route_is_tested_live() {
    let routed: BTreeSet<i16> = ROUTES.iter().map(|r| r.0 as i16).collect();
    let tested: BTreeSet<i16> = LIVE_TESTED.iter().map(|&k| k as i16).collect();
    assert_eq!(routed, tested, "ROUTES and the live tests cover different APIs (keys)");
}

#[test]
fn api_versions_lists_exactly_the_routes() {
    let (_s, mut c) = setup();
    let expected: BTreeSet<(i16, i16, i16)> = ROUTES.iter().map(|&(k, min, max)| (k as i16, min, max)).collect();
    for v in versions(ApiKey::ApiVersions) {
        let mut req = ApiVersionsRequest::default();
        if v >= 3 {
            req = req.with_client_software_name(str_bytes("gregor-tests")).with_client_software_version(str_bytes("1"));
        }
        let r = call!(c, ApiVersions, v, req);
        assert_eq!(r.error_code, NONE, "v{v}");
        let got: BTreeSet<(i16, i16, i16)> =
            r.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
        assert_eq!(got, expected, "v{v}");
        assert_eq!(r.api_keys.len(), ROUTES.len(), "v{v}: duplicates");
    }
}

/// A client opening with a version newer than ours gets UNSUPPORTED_VERSION in the
/// v0 format, with our ranges, and can retry on the same connection.
#[test]
fn api_versions_from_the_future_gets_the_v0_fallback() {
    let (_s, mut c) = setup();
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(99)
        .with_correlation_id(4242)
        .with_client_id(Some(str_bytes("future-client")));
    let mut frame = bytes::BytesMut::new();
    header.encode(&mut frame, 2).unwrap();
    ApiVersionsRequest::default()
        .with_client_software_name(str_bytes("future"))
        .with_client_software_version(str_bytes("99"))
        .encode(&mut frame, 4)
        .unwrap();
    c.send_raw(&crate::wire::with_size_prefix(&frame));
    let body = c.read_frame().unwrap().expect("an answer, not a close");
    let mut buf = Bytes::from(body);
    let h = ResponseHeader::decode(&mut buf, 0).unwrap();
    assert_eq!(h.correlation_id, 4242);
    let r = ApiVersionsResponse::decode(&mut buf, 0).unwrap();
    assert!(buf.is_empty(), "the fallback must be exactly the v0 body");
    assert_eq!(r.error_code, E::UnsupportedVersion.code());
    let got: BTreeSet<(i16, i16, i16)> = r.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
    let expected: BTreeSet<(i16, i16, i16)> = ROUTES.iter().map(|&(k, min, max)| (k as i16, min, max)).collect();
    assert_eq!(got, expected);
    // the retry at a version we know works on the same connection
    let r = call!(c, ApiVersions, 3, ApiVersionsRequest::default());
    assert_eq!(r.error_code, NONE);
}

/// A header naming a version outside the range, or an API we do not route, closes
/// the connection (Kafka has no way to answer it).
#[test]
fn unsupported_versions_and_apis_close_the_connection() {
    let s = InProcessServer::start();
    let mut cases: Vec<(i16, i16)> = vec![(ApiKey::JoinGroup as i16, 5), (ApiKey::InitProducerId as i16, 4), (999, 0)];
    for &(api, min, max) in ROUTES {
        if api != ApiKey::ApiVersions {
            cases.push((api as i16, max + 1));
            if min > 0 {
                cases.push((api as i16, min - 1));
            }
        }
    }
    for (key, v) in cases {
        let mut c = Client::connect(s.addr);
        let mut frame = Vec::new();
        frame.extend_from_slice(&key.to_be_bytes());
        frame.extend_from_slice(&v.to_be_bytes());
        frame.extend_from_slice(&9i32.to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes());
        c.send_raw(&crate::wire::with_size_prefix(&frame));
        assert!(matches!(c.outcome(), Outcome::Closed), "api {key} v{v} should close the connection");
    }
    let mut c = Client::connect(s.addr);
    assert_eq!(call!(c, ApiVersions, 3, ApiVersionsRequest::default()).error_code, NONE);
}

#[test]
fn produce_every_version() {
    let (_s, mut c) = setup();
    for v in versions(ApiKey::Produce) {
        let topic = format!("produce-v{v}");
        let id = create_topic(&mut c, &topic, 2, &[]);
        let small = format!("produce-small-v{v}");
        let small_id = create_topic(&mut c, &small, 1, &[("max.message.bytes", "256")]);
        let req = |acks, parts| produce_req(v, &topic, id, acks, parts);
        let part = |r: &ProduceResponse| r.responses[0].partition_responses[0].clone();

        // acks=1, then acks=all: offsets follow on
        let r = call!(c, Produce, v, req(1, vec![(0, simple_batch(3, TS0))]));
        let p = part(&r);
        assert_eq!((p.error_code, p.base_offset, p.log_append_time_ms), (NONE, 0, -1), "v{v}: {p:?}");
        if v >= 5 {
            assert_eq!(p.log_start_offset, 0, "v{v}");
        }
        if v >= 13 {
            assert_eq!(r.responses[0].topic_id, id, "v{v}: topic id echoed");
        } else {
            assert_eq!(r.responses[0].name.as_str(), topic, "v{v}: topic name echoed");
        }
        let p = part(&call!(c, Produce, v, req(-1, vec![(0, simple_batch(2, TS0))])));
        assert_eq!((p.error_code, p.base_offset), (NONE, 3), "v{v}");

        // two partitions in one request, one of them unknown
        let r = call!(c, Produce, v, req(1, vec![(1, simple_batch(1, TS0)), (7, simple_batch(1, TS0))]));
        let codes: Vec<(i32, i16)> =
            r.responses[0].partition_responses.iter().map(|p| (p.index, p.error_code)).collect();
        assert_eq!(codes, vec![(1, NONE), (7, E::UnknownTopicOrPartition.code())], "v{v}");

        // a compressed batch is stored as sent
        let gz = record_batch(
            &[
                TestRecord { key: None, value: b"zipped-0", timestamp_ms: TS0 },
                TestRecord { key: None, value: b"zipped-1", timestamp_ms: TS0 },
            ],
            Compression::Gzip,
        );
        let p = part(&call!(c, Produce, v, req(1, vec![(0, gz)])));
        assert_eq!((p.error_code, p.base_offset), (NONE, 5), "v{v}");

        // unknown topic, by name or by id
        let unknown = if v >= 13 {
            produce_req(v, "", Uuid::new_v4(), 1, vec![(0, simple_batch(1, TS0))])
        } else {
            produce_req(v, "no-such-topic", Uuid::nil(), 1, vec![(0, simple_batch(1, TS0))])
        };
        let want = if v >= 13 { E::UnknownTopicId } else { E::UnknownTopicOrPartition };
        assert_eq!(part(&call!(c, Produce, v, unknown)).error_code, want.code(), "v{v}");

        // a batch with a bad CRC, an oversized batch, an invalid acks value
        let p = part(&call!(c, Produce, v, req(1, vec![(0, corrupt(simple_batch(2, TS0)))])));
        assert_eq!(p.error_code, E::CorruptMessage.code(), "v{v}");
        if v >= 8 {
            assert!(p.error_message.is_some(), "v{v}: error message");
        }
        let big = record_batch(&[TestRecord { key: None, value: &[7u8; 1000], timestamp_ms: TS0 }], Compression::None);
        let p = part(&call!(c, Produce, v, produce_req(v, &small, small_id, 1, vec![(0, big)])));
        assert_eq!(p.error_code, E::MessageTooLarge.code(), "v{v}");
        let p = part(&call!(c, Produce, v, req(2, vec![(0, simple_batch(1, TS0))])));
        assert_eq!(p.error_code, E::InvalidRequiredAcks.code(), "v{v}");

        // acks=0: no response; the next request's response is the next to arrive
        let silent = c.send(ApiKey::Produce, v, &RequestKind::Produce(req(0, vec![(0, simple_batch(4, TS0))])));
        let next = c.send(ApiKey::ApiVersions, 3, &RequestKind::ApiVersions(ApiVersionsRequest::default()));
        let (cid, _) = c.recv(ApiKey::ApiVersions, 3);
        assert_eq!(cid, next, "v{v}: acks=0 produce (cid {silent}) must not be answered");
        let p = part(&call!(c, Produce, v, req(1, vec![(0, simple_batch(1, TS0))])));
        assert_eq!((p.error_code, p.base_offset), (NONE, 11), "v{v}: the acks=0 batch was appended");
    }
}

/// acks=0 with an error has no response to carry it: Kafka closes the connection.
#[test]
fn failed_acks_zero_produce_closes_the_connection() {
    let (s, mut c) = setup();
    create_topic(&mut c, "acks0", 1, &[]);
    c.send(
        ApiKey::Produce,
        9,
        &RequestKind::Produce(produce_req(9, "acks0", Uuid::nil(), 0, vec![(0, corrupt(simple_batch(1, TS0)))])),
    );
    c.send(ApiKey::ApiVersions, 3, &RequestKind::ApiVersions(ApiVersionsRequest::default()));
    assert!(matches!(c.outcome(), Outcome::Closed));
    let mut c = Client::connect(s.addr);
    assert_eq!(produce(&mut c, "acks0", 0, simple_batch(1, TS0)), 0, "nothing was appended");
}

pub(crate) fn fetch_req(
    v: i16,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
    epoch: i32,
    wait_ms: i32,
) -> FetchRequest {
    use fetch_request::{FetchPartition, FetchTopic};
    let mut p =
        FetchPartition::default().with_partition(partition).with_fetch_offset(offset).with_partition_max_bytes(1 << 20);
    if v >= 9 {
        p = p.with_current_leader_epoch(epoch);
    }
    let t = FetchTopic::default().with_partitions(vec![p]);
    let t = if v >= 13 { t.with_topic_id(id) } else { t.with_topic(name(topic)) };
    let mut r = FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(4 << 20)
        .with_isolation_level(1)
        .with_topics(vec![t]);
    if v >= 11 {
        r = r.with_rack_id(str_bytes("rack-a"));
    }
    r
}

#[test]
fn fetch_every_version() {
    let (_s, mut c) = setup();
    let id = create_topic(&mut c, "fetch", 1, &[]);
    assert_eq!(produce(&mut c, "fetch", 0, simple_batch(3, TS0)), 0);
    let gz = record_batch(
        &[
            TestRecord { key: None, value: b"gz-0", timestamp_ms: TS0 + 5 },
            TestRecord { key: None, value: b"gz-1", timestamp_ms: TS0 + 6 },
        ],
        Compression::Gzip,
    );
    assert_eq!(produce(&mut c, "fetch", 0, gz), 3);
    let epoch = leader_epoch(&mut c, "fetch");
    assert!(epoch >= 0);
    let all: Vec<(i64, Vec<u8>)> = vec![
        (0, b"v0".to_vec()),
        (1, b"v1".to_vec()),
        (2, b"v2".to_vec()),
        (3, b"gz-0".to_vec()),
        (4, b"gz-1".to_vec()),
    ];

    for v in versions(ApiKey::Fetch) {
        let fetch = |c: &mut Client, offset: i64, epoch: i32, wait: i32| {
            let mut r = call!(c, Fetch, v, fetch_req(v, "fetch", id, 0, offset, epoch, wait));
            if v >= 7 {
                assert_eq!((r.error_code, r.session_id), (NONE, 0), "v{v}: sessions are declined");
            }
            assert_eq!(r.responses.len(), 1, "v{v}");
            let t = r.responses.remove(0);
            if v >= 13 {
                assert_eq!(t.topic_id, id, "v{v}");
            } else {
                assert_eq!(t.topic.as_str(), "fetch", "v{v}");
            }
            t.partitions.into_iter().next().unwrap()
        };

        let p = fetch(&mut c, 0, -1, 100);
        assert_eq!((p.error_code, p.high_watermark), (NONE, 5), "v{v}");
        if v >= 5 {
            assert_eq!(p.log_start_offset, 0, "v{v}");
        }
        assert_eq!(records_of(p.records.as_ref().unwrap()), all, "v{v}");

        // an offset inside the second batch returns that whole batch
        let p = fetch(&mut c, 4, -1, 100);
        assert_eq!(records_of(p.records.as_ref().unwrap()), all[3..].to_vec(), "v{v}");

        // at the high watermark: nothing, after at most max_wait_ms
        let started = Instant::now();
        let p = fetch(&mut c, 5, -1, 20);
        assert_eq!(p.error_code, NONE, "v{v}");
        assert!(p.records.as_ref().is_none_or(|r| r.is_empty()), "v{v}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let p = fetch(&mut c, 100, -1, 0);
        assert_eq!(p.error_code, E::OffsetOutOfRange.code(), "v{v}");

        if v >= 9 {
            assert_eq!(fetch(&mut c, 0, epoch, 0).error_code, NONE, "v{v}: current epoch");
            assert_eq!(fetch(&mut c, 0, epoch + 1, 0).error_code, E::UnknownLeaderEpoch.code(), "v{v}: newer epoch");
        }

        // unknown partition; unknown topic by name or id
        let r = call!(c, Fetch, v, fetch_req(v, "fetch", id, 9, 0, -1, 0));
        assert_eq!(r.responses[0].partitions[0].error_code, E::UnknownTopicOrPartition.code(), "v{v}");
        let (unknown, want) = if v >= 13 {
            (fetch_req(v, "", Uuid::new_v4(), 0, 0, -1, 0), E::UnknownTopicId)
        } else {
            (fetch_req(v, "no-such-topic", Uuid::nil(), 0, 0, -1, 0), E::UnknownTopicOrPartition)
        };
        let r = call!(c, Fetch, v, unknown);
        assert_eq!(r.responses[0].partitions[0].error_code, want.code(), "v{v}");

        if v >= 7 {
            let r = call!(c, Fetch, v, fetch_req(v, "fetch", id, 0, 0, -1, 0).with_session_id(5).with_session_epoch(1));
            assert_eq!(r.error_code, E::FetchSessionIdNotFound.code(), "v{v}");
        }
    }
}

/// A fetch parked at the high watermark wakes when another connection produces.
#[test]
fn fetch_long_poll_wakes_on_produce() {
    let (s, mut c) = setup();
    let id = create_topic(&mut c, "poll", 1, &[]);
    let v = *versions(ApiKey::Fetch).end();
    let started = Instant::now();
    let cid = c.send(ApiKey::Fetch, v, &RequestKind::Fetch(fetch_req(v, "poll", id, 0, 0, -1, 10_000)));
    // min_bytes=1 and no data: the fetch must stay parked, not answer early
    c.assert_silent_for(Duration::from_millis(100), "a fetch with nothing to return");
    let mut other = Client::connect(s.addr);
    produce(&mut other, "poll", 0, simple_batch(2, TS0));
    let (echoed, r) = c.recv(ApiKey::Fetch, v);
    assert_eq!(echoed, cid);
    let ResponseKind::Fetch(r) = r else { panic!("not a fetch response") };
    assert_eq!(records_of(r.responses[0].partitions[0].records.as_ref().unwrap()).len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "woke only at the deadline");
}

#[test]
fn list_offsets_every_version() {
    use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let (_s, mut c) = setup();
    create_topic(&mut c, "lo", 1, &[]);
    let three = record_batch(
        &[
            TestRecord { key: None, value: b"a", timestamp_ms: TS0 },
            TestRecord { key: None, value: b"b", timestamp_ms: TS0 + 10 },
            TestRecord { key: None, value: b"c", timestamp_ms: TS0 + 20 },
        ],
        Compression::None,
    );
    produce(&mut c, "lo", 0, three);
    produce(
        &mut c,
        "lo",
        0,
        record_batch(&[TestRecord { key: None, value: b"d", timestamp_ms: TS0 + 30 }], Compression::Gzip),
    );
    let epoch = leader_epoch(&mut c, "lo");

    for v in versions(ApiKey::ListOffsets) {
        let ask = |c: &mut Client, topic: &str, partition: i32, ts: i64, current_epoch: i32| {
            let mut p = ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(ts);
            if v >= 4 {
                p = p.with_current_leader_epoch(current_epoch);
            }
            let t = ListOffsetsTopic::default().with_name(name(topic)).with_partitions(vec![p]);
            let mut req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![t]);
            if v >= 2 {
                req = req.with_isolation_level(1);
            }
            if v >= 10 {
                req = req.with_timeout_ms(1_000);
            }
            let r = call!(c, ListOffsets, v, req);
            assert_eq!(r.topics[0].name.as_str(), topic, "v{v}");
            let p = r.topics[0].partitions[0].clone();
            if v >= 4 && p.error_code == NONE && p.offset >= 0 {
                assert_eq!(p.leader_epoch, epoch, "v{v}");
            }
            (p.error_code, p.offset, p.timestamp)
        };
        assert_eq!(ask(&mut c, "lo", 0, -1, -1), (NONE, 4, -1), "v{v}: latest");
        assert_eq!(ask(&mut c, "lo", 0, -2, -1), (NONE, 0, -1), "v{v}: earliest");
        assert_eq!(ask(&mut c, "lo", 0, TS0 + 10, -1), (NONE, 1, TS0 + 10), "v{v}: exact timestamp");
        assert_eq!(ask(&mut c, "lo", 0, TS0 + 15, -1), (NONE, 2, TS0 + 20), "v{v}: next timestamp");
        assert_eq!(ask(&mut c, "lo", 0, TS0 + 25, -1), (NONE, 3, TS0 + 30), "v{v}: inside a compressed batch");
        assert_eq!(ask(&mut c, "lo", 0, TS0 + 1_000, -1), (NONE, -1, -1), "v{v}: after the last record");
        if v >= 7 {
            assert_eq!(ask(&mut c, "lo", 0, -3, -1), (NONE, 3, TS0 + 30), "v{v}: max timestamp");
        }
        if v >= 4 {
            assert_eq!(ask(&mut c, "lo", 0, -1, epoch).0, NONE, "v{v}");
            assert_eq!(ask(&mut c, "lo", 0, -1, epoch + 1).0, E::UnknownLeaderEpoch.code(), "v{v}");
        }
        assert_eq!(ask(&mut c, "lo", 3, -1, -1).0, E::UnknownTopicOrPartition.code(), "v{v}");
        assert_eq!(ask(&mut c, "no-such-topic", 0, -1, -1).0, E::UnknownTopicOrPartition.code(), "v{v}");
    }
}

#[test]
fn offset_for_leader_epoch_every_version() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let (_s, mut c) = setup();
    create_topic(&mut c, "ofle", 1, &[]);
    let two = record_batch(
        &[
            TestRecord { key: None, value: b"a", timestamp_ms: TS0 },
            TestRecord { key: None, value: b"b", timestamp_ms: TS0 + 1 },
        ],
        Compression::None,
    );
    produce(&mut c, "ofle", 0, two);
    let epoch = leader_epoch(&mut c, "ofle");
    for v in versions(ApiKey::OffsetForLeaderEpoch) {
        let ask = |c: &mut Client, topic: &str, partition: i32, current: i32, wanted: i32| {
            let p = OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(wanted);
            let t = OffsetForLeaderTopic::default().with_topic(name(topic)).with_partitions(vec![p]);
            let mut req = OffsetForLeaderEpochRequest::default().with_topics(vec![t]);
            if v >= 3 {
                req = req.with_replica_id(BrokerId(-1));
            }
            let r = call!(c, OffsetForLeaderEpoch, v, req);
            let p = r.topics[0].partitions[0].clone();
            (p.error_code, p.leader_epoch, p.end_offset)
        };
        // the only epoch ends at the log end
        assert_eq!(ask(&mut c, "ofle", 0, -1, epoch), (NONE, epoch, 2), "v{v}");
        assert_eq!(ask(&mut c, "ofle", 0, epoch, epoch + 3), (NONE, epoch, 2), "v{v}: a later epoch");
        assert_eq!(ask(&mut c, "ofle", 0, epoch + 1, epoch).0, E::UnknownLeaderEpoch.code(), "v{v}");
        assert_eq!(ask(&mut c, "ofle", 4, -1, epoch).0, E::UnknownTopicOrPartition.code(), "v{v}");
        assert_eq!(ask(&mut c, "nope", 0, -1, epoch).0, E::UnknownTopicOrPartition.code(), "v{v}");
    }
}

#[test]
fn metadata_every_version() {
    use metadata_request::MetadataRequestTopic;
    let (s, mut c) = setup();
    let id = create_topic(&mut c, "md", 3, &[]);
    let port = s.addr.port() as i32;
    for v in versions(ApiKey::Metadata) {
        let named = |names: &[&str], auto: bool| {
            let topics = names.iter().map(|n| MetadataRequestTopic::default().with_name(Some(name(n)))).collect();
            let r = MetadataRequest::default().with_topics(Some(topics));
            if v >= 4 {
                r.with_allow_auto_topic_creation(auto)
            } else {
                r
            }
        };
        // all topics: an empty list at v0, null from v1
        let all = if v == 0 { MetadataRequest::default() } else { MetadataRequest::default().with_topics(None) };
        let r = call!(c, Metadata, v, all);
        assert_eq!(r.brokers.len(), 1, "v{v}");
        let b = &r.brokers[0];
        assert_eq!((b.node_id, b.host.as_str(), b.port), (BrokerId(1), "127.0.0.1", port), "v{v}");
        if v >= 1 {
            assert_eq!(r.controller_id, BrokerId(1), "v{v}");
        }
        if v >= 2 {
            assert_eq!(r.cluster_id.as_deref(), Some(s.cluster_id().as_str()), "v{v}");
        }
        let t = r.topics.iter().find(|t| t.name.as_ref().map(|n| n.as_str()) == Some("md")).expect("md listed");
        assert_eq!(t.error_code, NONE, "v{v}");
        assert_eq!(t.partitions.len(), 3, "v{v}");
        for p in &t.partitions {
            assert_eq!(
                (p.leader_id, &p.replica_nodes, &p.isr_nodes),
                (BrokerId(1), &vec![BrokerId(1)], &vec![BrokerId(1)])
            );
            if v >= 7 {
                assert!(p.leader_epoch >= 0, "v{v}");
            }
        }
        if v >= 10 {
            assert_eq!(t.topic_id, id, "v{v}");
        }
        assert_eq!(r.topics.iter().filter(|t| t.error_code != NONE).count(), 0, "v{v}");

        // named, and a missing one without auto-creation (v4+; v0-3 always auto-create)
        if v >= 4 {
            let missing = format!("missing-v{v}");
            let r = call!(c, Metadata, v, named(&["md", &missing], false));
            let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
            assert_eq!(codes, vec![NONE, E::UnknownTopicOrPartition.code()], "v{v}");
            assert_eq!(
                metadata_topic(&mut c, &missing).error_code,
                E::UnknownTopicOrPartition.code(),
                "v{v}: not created"
            );
        }
        let auto = format!("auto-v{v}");
        let r = call!(c, Metadata, v, named(&[&auto], true));
        assert!([NONE, E::LeaderNotAvailable.code()].contains(&r.topics[0].error_code), "v{v}: {:?}", r.topics[0]);
        assert_eq!(metadata_topic(&mut c, &auto).error_code, NONE, "v{v}: auto-created");
        let r = call!(c, Metadata, v, named(&["bad name!"], true));
        assert_eq!(r.topics[0].error_code, E::InvalidTopicException.code(), "v{v}");

        // by topic id
        if v >= 10 {
            let by_id = |tid| {
                MetadataRequest::default()
                    .with_topics(Some(vec![MetadataRequestTopic::default().with_name(None).with_topic_id(tid)]))
                    .with_allow_auto_topic_creation(false)
            };
            let r = call!(c, Metadata, v, by_id(id));
            assert_eq!(r.topics[0].error_code, NONE, "v{v}");
            assert_eq!(r.topics[0].name.as_ref().map(|n| n.as_str()), Some("md"), "v{v}");
            let r = call!(c, Metadata, v, by_id(Uuid::new_v4()));
            assert_eq!(r.topics[0].error_code, E::UnknownTopicId.code(), "v{v}");
        }

        // authorized operations only when asked for
        if v >= 8 {
            let mut req = named(&["md"], false).with_include_topic_authorized_operations(true);
            if v <= 10 {
                req = req.with_include_cluster_authorized_operations(true);
            }
            let r = call!(c, Metadata, v, req);
            assert_ne!(r.topics[0].topic_authorized_operations, OPS_OMITTED, "v{v}");
            if v <= 10 {
                assert_ne!(r.cluster_authorized_operations, OPS_OMITTED, "v{v}");
            }
            let r = call!(c, Metadata, v, named(&["md"], false));
            assert_eq!(r.topics[0].topic_authorized_operations, OPS_OMITTED, "v{v}");
        }
    }
}

#[test]
fn create_topics_every_version() {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    let (_s, mut c) = setup();
    for v in versions(ApiKey::CreateTopics) {
        let t = |n: &str, partitions: i32, rf: i16| {
            CreatableTopic::default()
                .with_name(name(&format!("{n}-v{v}")))
                .with_num_partitions(partitions)
                .with_replication_factor(rf)
        };
        let cfg = |k: &str, val: &str| {
            CreatableTopicConfig::default().with_name(str_bytes(k)).with_value(Some(str_bytes(val)))
        };
        let one = |i| CreatableReplicaAssignment::default().with_partition_index(i).with_broker_ids(vec![BrokerId(1)]);
        let topics = vec![
            t("ct", 2, 1).with_configs(vec![cfg("retention.ms", "3600000")]),
            t("ct-defaults", -1, -1),
            t("ct-manual", -1, -1).with_assignments(vec![one(0), one(1)]),
            t("ct-zero", 0, 1),
            t("ct-rf3", 1, 3),
            t("ct/bad", 1, 1),
            t("ct-badcfg", 1, 1).with_configs(vec![cfg("no.such.config", "1")]),
        ];
        let r = call!(c, CreateTopics, v, CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(5_000));
        let codes: Vec<(String, i16)> = r.topics.iter().map(|t| (t.name.as_str().to_string(), t.error_code)).collect();
        let want: Vec<(String, i16)> = [
            ("ct", NONE),
            ("ct-defaults", NONE),
            ("ct-manual", NONE),
            ("ct-zero", E::InvalidPartitions.code()),
            ("ct-rf3", E::InvalidReplicationFactor.code()),
            ("ct/bad", E::InvalidTopicException.code()),
            ("ct-badcfg", E::InvalidConfig.code()),
        ]
        .iter()
        .map(|(n, code)| (format!("{n}-v{v}"), *code))
        .collect();
        assert_eq!(codes, want, "v{v}");
        for t in r.topics.iter().filter(|t| t.error_code != NONE) {
            assert!(t.error_message.is_some(), "v{v}: {} has no error message", t.name.as_str());
        }
        if v >= 5 {
            let partitions: Vec<i32> = r.topics.iter().take(3).map(|t| t.num_partitions).collect();
            assert_eq!(partitions, vec![2, 1, 2], "v{v}");
            let configs = r.topics[0].configs.as_ref().expect("configs");
            let retention = configs.iter().find(|e| e.name.as_str() == "retention.ms").expect("retention.ms");
            assert_eq!(retention.value.as_deref(), Some("3600000"), "v{v}");
            assert_eq!(retention.config_source, CONFIG_SOURCE_DYNAMIC_TOPIC, "v{v}");
            assert_eq!(r.topics[0].replication_factor, 1, "v{v}");
        }
        let created = metadata_topic(&mut c, &format!("ct-v{v}"));
        assert_eq!((created.error_code, created.partitions.len()), (NONE, 2), "v{v}");
        if v >= 7 {
            assert_eq!(r.topics[0].topic_id, created.topic_id, "v{v}");
        }

        // again: already exists; validate_only creates nothing; duplicates are refused
        let r = call!(c, CreateTopics, v, CreateTopicsRequest::default().with_topics(vec![t("ct", 2, 1)]));
        assert_eq!(r.topics[0].error_code, E::TopicAlreadyExists.code(), "v{v}");
        let r = call!(
            c,
            CreateTopics,
            v,
            CreateTopicsRequest::default().with_topics(vec![t("ct-dry", 2, 1)]).with_validate_only(true)
        );
        assert_eq!(r.topics[0].error_code, NONE, "v{v}");
        assert_eq!(
            metadata_topic(&mut c, &format!("ct-dry-v{v}")).error_code,
            E::UnknownTopicOrPartition.code(),
            "v{v}"
        );
        let r = call!(
            c,
            CreateTopics,
            v,
            CreateTopicsRequest::default().with_topics(vec![t("ct-dup", 1, 1), t("ct-dup", 1, 1)])
        );
        assert!(r.topics.iter().all(|t| t.error_code == E::InvalidRequest.code()), "v{v}: {r:?}");
    }
}

#[test]
fn delete_topics_every_version() {
    use delete_topics_request::DeleteTopicState;
    let (_s, mut c) = setup();
    for v in versions(ApiKey::DeleteTopics) {
        let topic = format!("dt-v{v}");
        let id = create_topic(&mut c, &topic, 2, &[]);
        produce(&mut c, &topic, 1, simple_batch(2, TS0));
        let by_name = |names: &[&str]| {
            let r = DeleteTopicsRequest::default().with_timeout_ms(5_000);
            if v >= 6 {
                r.with_topics(names.iter().map(|n| DeleteTopicState::default().with_name(Some(name(n)))).collect())
            } else {
                r.with_topic_names(names.iter().map(|n| name(n)).collect())
            }
        };
        let r = call!(c, DeleteTopics, v, by_name(&[&topic, "no-such-topic"]));
        let codes: Vec<(Option<String>, i16)> =
            r.responses.iter().map(|t| (t.name.as_ref().map(|n| n.as_str().to_string()), t.error_code)).collect();
        assert_eq!(
            codes,
            vec![(Some(topic.clone()), NONE), (Some("no-such-topic".into()), E::UnknownTopicOrPartition.code())],
            "v{v}"
        );
        if v >= 6 {
            assert_eq!(r.responses[0].topic_id, id, "v{v}");
        }
        if v >= 5 {
            assert!(r.responses[1].error_message.is_some(), "v{v}");
        }
        assert_eq!(metadata_topic(&mut c, &topic).error_code, E::UnknownTopicOrPartition.code(), "v{v}: gone");
        let r = call!(c, Produce, 12, produce_req(12, &topic, Uuid::nil(), 1, vec![(0, simple_batch(1, TS0))]));
        assert_eq!(r.responses[0].partition_responses[0].error_code, E::UnknownTopicOrPartition.code(), "v{v}");
        // the name can be used again, for a new topic with a new id
        let again = create_topic(&mut c, &topic, 1, &[]);
        assert_ne!(again, id, "v{v}: topic ids are never reused");

        if v >= 6 {
            let by_id = |tid| {
                DeleteTopicsRequest::default()
                    .with_topics(vec![DeleteTopicState::default().with_name(None).with_topic_id(tid)])
            };
            let r = call!(c, DeleteTopics, v, by_id(again));
            assert_eq!(r.responses[0].error_code, NONE, "v{v}");
            assert_eq!(r.responses[0].name.as_ref().map(|n| n.as_str()), Some(topic.as_str()), "v{v}");
            let r = call!(c, DeleteTopics, v, by_id(Uuid::new_v4()));
            assert_eq!(r.responses[0].error_code, E::UnknownTopicId.code(), "v{v}");
        }
    }
}

#[test]
fn describe_configs_every_version() {
    use describe_configs_request::DescribeConfigsResource;
    let (_s, mut c) = setup();
    create_topic(&mut c, "dc", 1, &[("retention.ms", "3600000")]);
    for v in versions(ApiKey::DescribeConfigs) {
        let res = |kind: i8, n: &str, keys: Option<&[&str]>| {
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(str_bytes(n))
                .with_configuration_keys(keys.map(|k| k.iter().map(|s| str_bytes(s)).collect()))
        };
        let mut req = DescribeConfigsRequest::default().with_resources(vec![
            res(RESOURCE_TOPIC, "dc", None),
            res(RESOURCE_TOPIC, "dc", Some(&["retention.ms"])),
            res(RESOURCE_TOPIC, "no-such-topic", None),
            res(RESOURCE_BROKER, "1", None),
        ]);
        req = req.with_include_synonyms(true);
        if v >= 3 {
            req = req.with_include_documentation(true);
        }
        let r = call!(c, DescribeConfigs, v, req);
        let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![NONE, NONE, E::UnknownTopicOrPartition.code(), NONE], "v{v}");
        let all = &r.results[0].configs;
        assert!(all.len() > 5, "v{v}: only {} topic configs", all.len());
        let retention = all.iter().find(|e| e.name.as_str() == "retention.ms").expect("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"), "v{v}");
        assert_eq!(retention.config_source, CONFIG_SOURCE_DYNAMIC_TOPIC, "v{v}");
        assert!(!retention.synonyms.is_empty(), "v{v}: synonyms asked for");
        if v >= 3 {
            assert_eq!(retention.config_type, 5, "v{v}: LONG");
        }
        let only: Vec<&str> = r.results[1].configs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(only, vec!["retention.ms"], "v{v}");
        assert!(r.results[2].error_message.is_some(), "v{v}");
        assert!(!r.results[3].configs.is_empty(), "v{v}: broker configs");
        assert!(r.results[3].configs.iter().all(|e| e.read_only), "v{v}");
    }
}

#[test]
fn alter_configs_every_version() {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let (_s, mut c) = setup();
    for v in versions(ApiKey::AlterConfigs) {
        let topic = format!("ac-v{v}");
        create_topic(&mut c, &topic, 1, &[("retention.ms", "3600000")]);
        let req = |target: &str, kind: i8, pairs: &[(&str, Option<&str>)], validate_only: bool| {
            let configs = pairs
                .iter()
                .map(|(k, val)| AlterableConfig::default().with_name(str_bytes(k)).with_value(val.map(str_bytes)))
                .collect();
            AlterConfigsRequest::default()
                .with_resources(vec![AlterConfigsResource::default()
                    .with_resource_type(kind)
                    .with_resource_name(str_bytes(target))
                    .with_configs(configs)])
                .with_validate_only(validate_only)
        };
        let code = |r: AlterConfigsResponse| r.responses[0].error_code;

        // validate_only changes nothing
        assert_eq!(
            code(call!(c, AlterConfigs, v, req(&topic, RESOURCE_TOPIC, &[("segment.ms", Some("100000"))], true))),
            NONE
        );
        assert_eq!(config_value(&mut c, &topic, "retention.ms").0, "3600000", "v{v}");
        // the whole set is replaced: retention.ms falls back to its default
        let r = call!(c, AlterConfigs, v, req(&topic, RESOURCE_TOPIC, &[("segment.ms", Some("100000"))], false));
        assert_eq!(r.responses[0].resource_name.as_str(), topic, "v{v}");
        assert_eq!(code(r), NONE, "v{v}");
        assert_eq!(config_value(&mut c, &topic, "segment.ms"), ("100000".into(), CONFIG_SOURCE_DYNAMIC_TOPIC), "v{v}");
        assert_ne!(config_value(&mut c, &topic, "retention.ms").1, CONFIG_SOURCE_DYNAMIC_TOPIC, "v{v}");

        let bad = call!(c, AlterConfigs, v, req(&topic, RESOURCE_TOPIC, &[("retention.ms", Some("soon"))], false));
        assert_eq!(code(bad), E::InvalidConfig.code(), "v{v}");
        let null = call!(c, AlterConfigs, v, req(&topic, RESOURCE_TOPIC, &[("retention.ms", None)], false));
        assert_eq!(code(null), E::InvalidConfig.code(), "v{v}");
        let unknown =
            call!(c, AlterConfigs, v, req("no-such-topic", RESOURCE_TOPIC, &[("retention.ms", Some("1"))], false));
        assert_eq!(code(unknown), E::UnknownTopicOrPartition.code(), "v{v}");
        let broker = call!(c, AlterConfigs, v, req("1", RESOURCE_BROKER, &[("message.max.bytes", Some("1"))], false));
        assert_ne!(code(broker), NONE, "v{v}: broker configs are static");
    }
}

#[test]
fn incremental_alter_configs_every_version() {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    let (_s, mut c) = setup();
    for v in versions(ApiKey::IncrementalAlterConfigs) {
        let topic = format!("iac-v{v}");
        create_topic(&mut c, &topic, 1, &[]);
        let req = |target: &str, ops: &[(i8, &str, Option<&str>)], validate_only: bool| {
            let configs = ops
                .iter()
                .map(|(op, k, val)| {
                    AlterableConfig::default()
                        .with_name(str_bytes(k))
                        .with_config_operation(*op)
                        .with_value(val.map(str_bytes))
                })
                .collect();
            IncrementalAlterConfigsRequest::default()
                .with_resources(vec![AlterConfigsResource::default()
                    .with_resource_type(RESOURCE_TOPIC)
                    .with_resource_name(str_bytes(target))
                    .with_configs(configs)])
                .with_validate_only(validate_only)
        };
        let code = |r: IncrementalAlterConfigsResponse| r.responses[0].error_code;

        assert_eq!(
            code(call!(c, IncrementalAlterConfigs, v, req(&topic, &[(SET, "retention.ms", Some("7200000"))], true))),
            NONE
        );
        assert_ne!(config_value(&mut c, &topic, "retention.ms").0, "7200000", "v{v}: validate_only applied");
        let r = call!(c, IncrementalAlterConfigs, v, req(&topic, &[(SET, "retention.ms", Some("7200000"))], false));
        assert_eq!(r.responses[0].resource_name.as_str(), topic, "v{v}");
        assert_eq!(code(r), NONE, "v{v}");
        assert_eq!(
            config_value(&mut c, &topic, "retention.ms"),
            ("7200000".into(), CONFIG_SOURCE_DYNAMIC_TOPIC),
            "v{v}"
        );
        assert_eq!(
            code(call!(c, IncrementalAlterConfigs, v, req(&topic, &[(DELETE, "retention.ms", None)], false))),
            NONE
        );
        assert_ne!(config_value(&mut c, &topic, "retention.ms").1, CONFIG_SOURCE_DYNAMIC_TOPIC, "v{v}");

        let bad = call!(c, IncrementalAlterConfigs, v, req(&topic, &[(SET, "retention.ms", Some("soon"))], false));
        assert_eq!(code(bad), E::InvalidConfig.code(), "v{v}");
        let append = call!(c, IncrementalAlterConfigs, v, req(&topic, &[(APPEND, "retention.ms", Some("1"))], false));
        assert_eq!(code(append), E::InvalidConfig.code(), "v{v}");
        let unknown =
            call!(c, IncrementalAlterConfigs, v, req("no-such-topic", &[(SET, "retention.ms", Some("1"))], false));
        assert_eq!(code(unknown), E::UnknownTopicOrPartition.code(), "v{v}");
    }
}

#[test]
fn create_partitions_every_version() {
    use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    let (_s, mut c) = setup();
    for v in versions(ApiKey::CreatePartitions) {
        let topic = format!("cp-v{v}");
        create_topic(&mut c, &topic, 1, &[]);
        let on = |b: i32| CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(b)]);
        let grow =
            |target: &str, count: i32, assignments: Option<Vec<CreatePartitionsAssignment>>, validate_only: bool| {
                let t = CreatePartitionsTopic::default()
                    .with_name(name(target))
                    .with_count(count)
                    .with_assignments(assignments);
                CreatePartitionsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(5_000)
                    .with_validate_only(validate_only)
            };
        let code = |r: CreatePartitionsResponse| r.results[0].error_code;

        let r = call!(c, CreatePartitions, v, grow(&topic, 3, None, false));
        assert_eq!(r.results[0].name.as_str(), topic, "v{v}");
        assert_eq!(code(r), NONE, "v{v}");
        assert_eq!(metadata_topic(&mut c, &topic).partitions.len(), 3, "v{v}");
        assert_eq!(produce(&mut c, &topic, 2, simple_batch(1, TS0)), 0, "v{v}: the new partition takes writes");

        assert_eq!(
            code(call!(c, CreatePartitions, v, grow(&topic, 3, None, false))),
            E::InvalidPartitions.code(),
            "v{v}"
        );
        assert_eq!(
            code(call!(c, CreatePartitions, v, grow(&topic, 2, None, false))),
            E::InvalidPartitions.code(),
            "v{v}"
        );
        assert_eq!(code(call!(c, CreatePartitions, v, grow(&topic, 5, None, true))), NONE, "v{v}");
        assert_eq!(metadata_topic(&mut c, &topic).partitions.len(), 3, "v{v}: validate_only grew the topic");
        let misplaced = grow(&topic, 5, Some(vec![on(1), on(2)]), false);
        assert_eq!(code(call!(c, CreatePartitions, v, misplaced)), E::InvalidReplicaAssignment.code(), "v{v}");
        assert_eq!(code(call!(c, CreatePartitions, v, grow(&topic, 5, Some(vec![on(1), on(1)]), false))), NONE, "v{v}");
        assert_eq!(metadata_topic(&mut c, &topic).partitions.len(), 5, "v{v}");
        let unknown = call!(c, CreatePartitions, v, grow("no-such-topic", 2, None, false));
        assert_eq!(code(unknown), E::UnknownTopicOrPartition.code(), "v{v}");
    }
}

#[test]
fn describe_cluster_every_version() {
    let (s, mut c) = setup();
    for v in versions(ApiKey::DescribeCluster) {
        for ops in [false, true] {
            let mut req = DescribeClusterRequest::default().with_include_cluster_authorized_operations(ops);
            if v >= 1 {
                req = req.with_endpoint_type(1);
            }
            if v >= 2 {
                req = req.with_include_fenced_brokers(true);
            }
            let r = call!(c, DescribeCluster, v, req);
            assert_eq!(r.error_code, NONE, "v{v}");
            assert_eq!(r.cluster_id.as_str(), s.cluster_id(), "v{v}");
            assert_eq!(r.controller_id, BrokerId(1), "v{v}");
            let brokers: Vec<(BrokerId, &str, i32)> =
                r.brokers.iter().map(|b| (b.broker_id, b.host.as_str(), b.port)).collect();
            assert_eq!(brokers, vec![(BrokerId(1), "127.0.0.1", s.addr.port() as i32)], "v{v}");
            assert_eq!(r.cluster_authorized_operations != OPS_OMITTED, ops, "v{v}");
            if v >= 1 {
                assert_eq!(r.endpoint_type, 1, "v{v}");
            }
        }
    }
}

fn init_producer_id(c: &mut Client, v: i16, current: Option<(ProducerId, i16)>) -> InitProducerIdResponse {
    let mut req = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    if let Some((pid, epoch)) = current {
        req = req.with_producer_id(pid).with_producer_epoch(epoch);
    }
    call!(c, InitProducerId, v, req)
}

#[test]
fn init_producer_id_every_version() {
    let (_s, mut c) = setup();
    let mut ids = BTreeSet::new();
    for v in versions(ApiKey::InitProducerId) {
        let r = init_producer_id(&mut c, v, None);
        assert_eq!(r.error_code, NONE, "v{v}");
        assert!(r.producer_id.0 >= 0 && r.producer_epoch >= 0, "v{v}: {r:?}");
        assert!(ids.insert(r.producer_id.0), "v{v}: producer id {} handed out twice", r.producer_id.0);
        if v >= 3 {
            // a producer re-initialising with its current id and epoch gets the epoch bumped (KIP-360)
            let again = init_producer_id(&mut c, v, Some((r.producer_id, r.producer_epoch)));
            assert_eq!((again.error_code, again.producer_id), (NONE, r.producer_id), "v{v}");
            assert_eq!(again.producer_epoch, r.producer_epoch + 1, "v{v}");
        }
        let tx = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(str_bytes("tx-1"))))
            .with_transaction_timeout_ms(60_000);
        let r = call!(c, InitProducerId, v, tx);
        assert_ne!(r.error_code, NONE, "v{v}: transactions are not offered");
        assert_eq!(r.producer_id, ProducerId(-1), "v{v}");
    }
}

/// Sequence checks of the idempotent producer, at every Produce version: the next
/// sequence appends, a duplicate gets its original offset without a second append,
/// a gap is OUT_OF_ORDER_SEQUENCE_NUMBER, a fenced epoch INVALID_PRODUCER_EPOCH.
#[test]
fn idempotent_produce_every_version() {
    let (_s, mut c) = setup();
    for v in versions(ApiKey::Produce) {
        let topic = format!("idem-v{v}");
        let id = create_topic(&mut c, &topic, 1, &[]);
        let r = init_producer_id(&mut c, 4, None);
        let (pid, epoch) = (r.producer_id, r.producer_epoch);
        let send = |c: &mut Client, n: usize, epoch: i16, seq: i32| {
            let batch = idempotent_batch(n, (pid.0, epoch, seq));
            let r = call!(c, Produce, v, produce_req(v, &topic, id, -1, vec![(0, batch)]));
            let p = &r.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        };
        assert_eq!(send(&mut c, 3, epoch, 0), (NONE, 0), "v{v}");
        assert_eq!(send(&mut c, 2, epoch, 3), (NONE, 3), "v{v}");
        assert_eq!(send(&mut c, 2, epoch, 3), (NONE, 3), "v{v}: duplicate keeps its offset");
        assert_eq!(send(&mut c, 1, epoch, 5), (NONE, 5), "v{v}: the duplicate was not appended");
        assert_eq!(send(&mut c, 1, epoch, 9).0, E::OutOfOrderSequenceNumber.code(), "v{v}: gap");
        let bumped = init_producer_id(&mut c, 4, Some((pid, epoch)));
        assert_eq!(bumped.producer_epoch, epoch + 1, "v{v}");
        assert_eq!(send(&mut c, 1, bumped.producer_epoch, 0), (NONE, 6), "v{v}: new epoch starts at 0");
        assert_eq!(send(&mut c, 1, epoch, 6).0, E::InvalidProducerEpoch.code(), "v{v}: fenced epoch");
    }
}

/// Twenty requests written before any response is read come back in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let (_s, mut c) = setup();
    create_topic(&mut c, "pipe", 1, &[]);
    let mut sent = Vec::new();
    for i in 0..20 {
        let (api, v, body) = match i % 5 {
            0 => (ApiKey::ApiVersions, 3, RequestKind::ApiVersions(ApiVersionsRequest::default())),
            1 => (ApiKey::Metadata, 12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))),
            2 => (
                ApiKey::Produce,
                9,
                RequestKind::Produce(produce_req(9, "pipe", Uuid::nil(), 1, vec![(0, simple_batch(1, TS0))])),
            ),
            3 => {
                let t = ListOffsetsTopic::default()
                    .with_name(name("pipe"))
                    .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]);
                (
                    ApiKey::ListOffsets,
                    7,
                    RequestKind::ListOffsets(
                        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![t]),
                    ),
                )
            }
            _ => (ApiKey::DescribeCluster, 1, RequestKind::DescribeCluster(DescribeClusterRequest::default())),
        };
        sent.push((api, v, c.send(api, v, &body)));
    }
    let mut produced = 0;
    for (api, v, cid) in sent {
        let (echoed, body) = c.recv(api, v);
        assert_eq!(echoed, cid, "{api:?}: out of order");
        match body {
            ResponseKind::Produce(r) => {
                assert_eq!(r.responses[0].partition_responses[0].base_offset, produced);
                produced += 1;
            }
            ResponseKind::ListOffsets(r) => assert_eq!(r.topics[0].partitions[0].offset, produced),
            _ => {}
        }
    }
}
