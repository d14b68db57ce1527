//! Arbitrary bytes as one request frame (size prefix removed) through the broker's
//! codec, `gregor::middleware::codec::decode_frame`. Properties:
//! - decoding never panics and never aborts (hostile lengths included: this target
//!   uses gregor's allocator guard, as the binary does);
//! - a decoded request re-encodes at its version and decodes back to the same value
//!   (so what the broker saw is what a client could have meant), except when it
//!   carries a tagged field numbered ≥ 2^31: kafka-protocol 0.18 stores those tags
//!   as negative i32 keys and its encoders count them but never write them, so the
//!   re-encoding is malformed (protocol-tests/fuzz-regressions/README.md). The
//!   broker never re-encodes requests; a proxy that did would forward garbage;
//! - a response to it encodes at that version with its correlation id;
//! - an immediate answer (the ApiVersions fallback) is a well-formed frame.
#![no_main]

use bytes::{Bytes, BytesMut};
use gregor::middleware::codec::{decode_frame, encode_response, Decoded};
use gregor::middleware::ConnInfo;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock};

/// As in `src/main.rs`: huge `Vec::with_capacity(n)` from the wire become lazily
/// committed mappings instead of an abort (or a libFuzzer malloc-limit report).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAllocator = gregor::alloc::GuardedAllocator;

static CONN: LazyLock<Arc<ConnInfo>> = LazyLock::new(|| {
    Arc::new(ConnInfo { listener: Arc::from("PLAINTEXT"), peer: "127.0.0.1:9".parse().unwrap(), id: 1 })
});

fuzz_target!(|data: &[u8]| {
    match decode_frame(&CONN, Bytes::copy_from_slice(data)) {
        Ok(Decoded::Request(req)) => {
            let (api, v) = (req.api_key, req.api_version);
            if has_negative_tag(&req.body) {
                return;
            }
            let mut buf = BytesMut::new();
            req.body
                .encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("{api:?} v{v}: decoded but does not re-encode: {e}"));
            let again = RequestKind::decode(api, &mut buf.freeze(), v)
                .unwrap_or_else(|e| panic!("{api:?} v{v}: re-encoded bytes do not decode: {e:#}"));
            assert_eq!(again, req.body, "{api:?} v{v}: the round trip changed the request");
            if let Some(body) = empty_response(api) {
                let frame = encode_response(api, v, req.header.correlation_id, &body)
                    .unwrap_or_else(|e| panic!("{api:?} v{v}: a default response does not encode: {e}"));
                assert_eq!(frame.len() - 4, i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize);
            }
        }
        Ok(Decoded::Immediate(frame)) => {
            assert!(frame.len() > 8);
            assert_eq!(frame.len() - 4, i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize);
        }
        Err(_) => {}
    }
});

/// A tag ≥ 2^31 decoded into a negative key: BTreeMap keys sort first, so such a
/// map's Debug form opens with a minus sign.
fn has_negative_tag(body: &RequestKind) -> bool {
    format!("{body:?}").contains("unknown_tagged_fields: {-")
}

/// The default response body of a routed API (valid at every version).
fn empty_response(api: ApiKey) -> Option<ResponseKind> {
    Some(match api {
        ApiKey::Produce => ResponseKind::Produce(Default::default()),
        ApiKey::Fetch => ResponseKind::Fetch(Default::default()),
        ApiKey::ListOffsets => ResponseKind::ListOffsets(Default::default()),
        ApiKey::Metadata => ResponseKind::Metadata(Default::default()),
        ApiKey::ApiVersions => ResponseKind::ApiVersions(gregor::router::api_versions_response(0)),
        ApiKey::CreateTopics => ResponseKind::CreateTopics(Default::default()),
        ApiKey::DeleteTopics => ResponseKind::DeleteTopics(Default::default()),
        ApiKey::DescribeConfigs => ResponseKind::DescribeConfigs(Default::default()),
        ApiKey::AlterConfigs => ResponseKind::AlterConfigs(Default::default()),
        ApiKey::CreatePartitions => ResponseKind::CreatePartitions(Default::default()),
        ApiKey::IncrementalAlterConfigs => ResponseKind::IncrementalAlterConfigs(Default::default()),
        ApiKey::DescribeCluster => ResponseKind::DescribeCluster(Default::default()),
        ApiKey::FindCoordinator => ResponseKind::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => ResponseKind::JoinGroup(Default::default()),
        ApiKey::SyncGroup => ResponseKind::SyncGroup(Default::default()),
        ApiKey::Heartbeat => ResponseKind::Heartbeat(Default::default()),
        ApiKey::LeaveGroup => ResponseKind::LeaveGroup(Default::default()),
        ApiKey::OffsetCommit => ResponseKind::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => ResponseKind::OffsetFetch(Default::default()),
        ApiKey::ListGroups => ResponseKind::ListGroups(Default::default()),
        ApiKey::DescribeGroups => ResponseKind::DescribeGroups(Default::default()),
        ApiKey::DeleteGroups => ResponseKind::DeleteGroups(Default::default()),
        ApiKey::OffsetDelete => ResponseKind::OffsetDelete(Default::default()),
        ApiKey::InitProducerId => ResponseKind::InitProducerId(Default::default()),
        _ => return None,
    })
}
