//! Round trips through the broker's own codec, for every (API, version) in the
//! router's table: a client-encoded request decodes broker-side to the same value
//! and re-encodes to the same bytes; a broker-encoded response decodes client-side
//! to the same value and re-encodes to the same bytes.

use crate::samples;
use crate::wire::{decode_response, encode_request_frame, request_frame, test_conn};
use bytes::Bytes;
use gregor::middleware::codec::{decode_frame, encode_response, Decoded};
use gregor::middleware::StackError;
use gregor::router::ROUTES;
use kafka_protocol::messages::ApiKey;

fn routed_versions() -> impl Iterator<Item = (ApiKey, i16)> {
    ROUTES.iter().flat_map(|&(api, min, max)| (min..=max).map(move |v| (api, v)))
}

fn request_round_trip(api: ApiKey, v: i16) -> Result<(), String> {
    let body = samples::request(api, v);
    let frame = request_frame(api, v, 1_000 + v as i32, &body);
    let req = match decode_frame(&test_conn(), frame.clone()) {
        Ok(Decoded::Request(r)) => r,
        Ok(Decoded::Immediate(_)) => return Err("answered immediately instead of decoding".into()),
        Err(e) => return Err(format!("broker could not decode: {e}")),
    };
    if req.api_key != api || req.api_version != v || req.header.correlation_id != 1_000 + v as i32 {
        return Err(format!(
            "header decoded as {:?} v{} cid {}",
            req.api_key, req.api_version, req.header.correlation_id
        ));
    }
    if req.body != body {
        return Err(format!("decoded body differs:\n sent {body:?}\n got  {:?}", req.body));
    }
    let again = encode_request_frame(&req.header, &req.body).map_err(|e| format!("re-encode: {e}"))?;
    if again != frame {
        return Err(format!("re-encoded bytes differ:\n sent {frame:02x?}\n got  {again:02x?}"));
    }
    Ok(())
}

fn response_round_trip(api: ApiKey, v: i16) -> Result<(), String> {
    let body = samples::response(api, v);
    let cid = 2_000 + v as i32;
    let framed = encode_response(api, v, cid, &body).map_err(|e| format!("broker could not encode: {e}"))?;
    let size = i32::from_be_bytes(framed[..4].try_into().unwrap());
    if size as usize != framed.len() - 4 {
        return Err(format!("size prefix {size} but {} bytes follow", framed.len() - 4));
    }
    let (echoed, decoded) =
        decode_response(api, v, framed.slice(4..)).map_err(|e| format!("client could not decode: {e}"))?;
    if echoed != cid {
        return Err(format!("correlation id {echoed}, sent {cid}"));
    }
    if decoded != body {
        return Err(format!("decoded body differs:\n sent {body:?}\n got  {decoded:?}"));
    }
    let again = encode_response(api, v, cid, &decoded).map_err(|e| format!("re-encode: {e}"))?;
    if again != framed {
        return Err("re-encoded bytes differ".into());
    }
    Ok(())
}

fn check_all(what: &str, f: fn(ApiKey, i16) -> Result<(), String>) {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (api, v) in routed_versions() {
        cases += 1;
        if let Err(e) = f(api, v) {
            failures.push(format!("{api:?} v{v}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{what}: {} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
    let expected: usize = ROUTES.iter().map(|&(_, min, max)| (max - min + 1) as usize).sum();
    assert_eq!(cases, expected);
}

#[test]
fn every_routed_request_round_trips() {
    check_all("requests", request_round_trip);
}

#[test]
fn every_routed_response_round_trips() {
    check_all("responses", response_round_trip);
}

/// The samples must really set fields: a sample equal to the default body would
/// make the round trips above prove little.
#[test]
fn samples_are_not_defaults() {
    for (api, v) in routed_versions() {
        let req = request_frame(api, v, 0, &samples::request(api, v));
        let default_req = request_frame(api, v, 0, &default_request(api));
        // versions with no request fields at all
        let empty = (api == ApiKey::ApiVersions && v < 3) || (api == ApiKey::ListGroups && v < 4);
        if !empty {
            assert_ne!(req, default_req, "{api:?} v{v} request sample is the default");
        }
    }
}

fn default_request(api: ApiKey) -> kafka_protocol::messages::RequestKind {
    use kafka_protocol::messages::*;
    match api {
        ApiKey::Produce => RequestKind::Produce(Default::default()),
        ApiKey::Fetch => RequestKind::Fetch(Default::default()),
        ApiKey::ListOffsets => RequestKind::ListOffsets(Default::default()),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(Default::default()),
        ApiKey::Metadata => RequestKind::Metadata(Default::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(Default::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(Default::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(Default::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(Default::default()),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(Default::default()),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(Default::default()),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(Default::default()),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(Default::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(Default::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(Default::default()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(Default::default()),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(Default::default()),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(Default::default()),
        ApiKey::ListGroups => RequestKind::ListGroups(Default::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(Default::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(Default::default()),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(Default::default()),
        ApiKey::InitProducerId => RequestKind::InitProducerId(Default::default()),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(Default::default()),
        ApiKey::CreateAcls => RequestKind::CreateAcls(Default::default()),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(Default::default()),
        ApiKey::DescribeUserScramCredentials => RequestKind::DescribeUserScramCredentials(Default::default()),
        ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(Default::default()),
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(Default::default()),
        ApiKey::AlterClientQuotas => RequestKind::AlterClientQuotas(Default::default()),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(Default::default()),
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(Default::default()),
        other => panic!("no default for {other:?}"),
    }
}

/// One version below and above each advertised range is refused by the codec,
/// except ApiVersions, which answers with the v0 fallback.
#[test]
fn versions_outside_the_routes_are_refused() {
    for &(api, min, max) in ROUTES {
        for v in [min - 1, max + 1] {
            if v < 0 {
                continue;
            }
            // header only: a body at a version the crate may not know cannot be encoded
            let mut frame = Vec::new();
            frame.extend_from_slice(&(api as i16).to_be_bytes());
            frame.extend_from_slice(&v.to_be_bytes());
            frame.extend_from_slice(&77i32.to_be_bytes());
            frame.extend_from_slice(&(-1i16).to_be_bytes());
            let got = decode_frame(&test_conn(), Bytes::from(frame));
            match (api, got) {
                (ApiKey::ApiVersions, Ok(Decoded::Immediate(_))) => {}
                (_, Err(StackError::UnsupportedVersion { api: a, version })) if a == api && version == v => {}
                (_, Err(e)) => panic!("{api:?} v{v}: wrong refusal {e}"),
                (_, Ok(_)) => panic!("{api:?} v{v}: accepted outside the advertised range"),
            }
        }
    }
}
