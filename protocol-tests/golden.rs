//! Request frames captured from real clients (`protocol-tests/golden/<client>/`,
//! recorded by `capture/capture.py`; see the README). Each must decode through the
//! broker's codec and re-encode to exactly the captured bytes; frames of APIs we do
//! not route must be refused as such. Produce frames must carry record batches that
//! decode (decompressing every codec the clients used).

use crate::wire::{encode_request_frame, test_conn};
use bytes::Bytes;
use gregor::middleware::codec::{decode_frame, Decoded};
use gregor::middleware::StackError;
use gregor::router::supported_versions;
use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// APIs that at least one client's capture must include.
const MUST_COVER: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DescribeConfigs,
];

fn golden_files() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/golden");
    let mut out = Vec::new();
    for client in std::fs::read_dir(&root).expect("protocol-tests/golden") {
        let client = client.unwrap().path();
        if !client.is_dir() {
            continue;
        }
        let name = client.file_name().unwrap().to_string_lossy().to_string();
        for f in std::fs::read_dir(&client).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "hex") {
                out.push((name.clone(), f));
            }
        }
    }
    out.sort();
    out
}

fn read_hex(path: &Path) -> Vec<u8> {
    let text: String = std::fs::read_to_string(path).unwrap().split_whitespace().collect();
    assert!(text.len().is_multiple_of(2), "{}: odd number of hex digits", path.display());
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// Checks one captured frame; `Ok(true)` when it was a routed request.
fn check(path: &Path, frame: Vec<u8>) -> Result<bool, String> {
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let file = path.file_name().unwrap().to_string_lossy();
    let api = ApiKey::try_from(key).map_err(|_| format!("unknown api key {key}"))?;
    if !file.starts_with(&format!("{api:?}-v{version}-")) {
        return Err(format!("file name does not match its header ({api:?} v{version})"));
    }
    let decoded = decode_frame(&test_conn(), Bytes::from(frame.clone()));
    let routed = supported_versions(api).is_some_and(|r| (r.min..=r.max).contains(&version));
    if !routed {
        return match decoded {
            Err(StackError::UnsupportedApi(_) | StackError::UnsupportedVersion { .. }) => Ok(false),
            Ok(Decoded::Immediate(_)) if api == ApiKey::ApiVersions => Ok(false),
            Err(e) => Err(format!("not routed, but refused as {e}")),
            Ok(_) => Err("not routed, but decoded".into()),
        };
    }
    let req = match decoded {
        Ok(Decoded::Request(r)) => r,
        Ok(Decoded::Immediate(_)) => return Err("answered without decoding".into()),
        Err(e) => return Err(format!("broker could not decode: {e}")),
    };
    let again = encode_request_frame(&req.header, &req.body).map_err(|e| format!("re-encode: {e}"))?;
    if again[..] != frame[..] {
        let at = again.iter().zip(&frame).position(|(a, b)| a != b).unwrap_or(again.len().min(frame.len()));
        return Err(format!("re-encoded bytes differ from byte {at} (lengths {} and {})", again.len(), frame.len()));
    }
    if let RequestKind::Produce(p) = &req.body {
        for td in &p.topic_data {
            for pd in &td.partition_data {
                let mut records = pd.records.clone().unwrap_or_default();
                RecordBatchDecoder::decode_all(&mut records).map_err(|e| format!("record batches: {e}"))?;
            }
        }
    }
    Ok(true)
}

#[test]
fn golden_requests_decode_and_reencode_byte_for_byte() {
    let files = golden_files();
    assert!(!files.is_empty(), "no golden files: run protocol-tests/capture/capture-all.sh");
    let mut failures = Vec::new();
    let mut covered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut routed, mut unrouted) = (0, 0);
    for (client, path) in &files {
        let frame = read_hex(path);
        if frame.len() < 8 {
            failures.push(format!("{}: shorter than a request header", path.display()));
            continue;
        }
        match check(path, frame) {
            Ok(true) => {
                routed += 1;
                let stem = path.file_stem().unwrap().to_string_lossy();
                let api_version = stem.rsplit_once('-').unwrap().0.to_string();
                covered.entry(api_version).or_default().insert(client.clone());
            }
            Ok(false) => unrouted += 1,
            Err(e) => failures.push(format!("{client}/{}: {e}", path.file_name().unwrap().to_string_lossy())),
        }
    }
    assert!(failures.is_empty(), "{} golden frames failed:\n{}", failures.len(), failures.join("\n"));
    for api in MUST_COVER {
        assert!(covered.keys().any(|k| k.starts_with(&format!("{api:?}-v"))), "no client capture of {api:?}");
    }
    eprintln!("golden: {routed} routed frames ({} API versions), {unrouted} unrouted", covered.len());
}

/// The produce captures include compressed batches, so the broker's stored bytes
/// (whatever the codec) are exercised by real client output.
#[test]
fn golden_produce_frames_cover_compression() {
    let mut codecs = BTreeSet::new();
    for (_, path) in golden_files() {
        let Ok(Decoded::Request(req)) = decode_frame(&test_conn(), Bytes::from(read_hex(&path))) else { continue };
        let RequestKind::Produce(p) = req.body else { continue };
        for pd in p.topic_data.iter().flat_map(|t| &t.partition_data) {
            let mut records = pd.records.clone().unwrap_or_default();
            for set in RecordBatchDecoder::decode_all(&mut records).unwrap() {
                codecs.insert(set.compression as i16);
            }
        }
    }
    for c in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        assert!(codecs.contains(&(c as i16)), "no golden produce frame uses {c:?}");
    }
}

/// Rank for replay order: fetches first (their topics do not exist yet, so they
/// answer at once instead of long-polling), topic creators last.
fn replay_rank(api: ApiKey) -> u8 {
    match api {
        ApiKey::Fetch => 0,
        ApiKey::CreateTopics | ApiKey::CreatePartitions | ApiKey::Metadata => 2,
        _ => 1,
    }
}

/// Every captured request, sent as captured to a live server, gets an answer that
/// decodes at the client's version with its correlation id (acks=0 produce aside):
/// the shapes real clients send never make the broker close the connection.
#[test]
fn golden_requests_are_answered_by_a_live_server() {
    let server = crate::wire::InProcessServer::start();
    let mut frames: Vec<(u8, String, Vec<u8>)> = golden_files()
        .into_iter()
        .map(|(client, path)| {
            let frame = read_hex(&path);
            let api = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
            (replay_rank(api), format!("{client}/{}", path.file_name().unwrap().to_string_lossy()), frame)
        })
        .collect();
    frames.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut c = crate::wire::Client::connect(server.addr);
    for (_, what, frame) in frames {
        let api = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let cid = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if supported_versions(api).is_none() {
            continue;
        }
        if let Ok(Decoded::Request(r)) = decode_frame(&test_conn(), Bytes::from(frame.clone())) {
            if matches!(&r.body, RequestKind::Produce(p) if p.acks == 0) {
                continue;
            }
        }
        c.send_raw(&crate::wire::with_size_prefix(&frame));
        let answer = c.read_frame().unwrap_or_else(|e| panic!("{what}: {e}"));
        let answer = answer.unwrap_or_else(|| panic!("{what}: the broker closed the connection"));
        let (echoed, _) = crate::wire::decode_response(api, version, Bytes::from(answer))
            .unwrap_or_else(|e| panic!("{what}: the answer does not decode at v{version}: {e}"));
        assert_eq!(echoed, cid, "{what}");
    }
}
