//! Hostile input against the real binary (which carries gregor's allocator guard):
//! the 16-byte killer, a lying length in every routed request at every version,
//! bad size prefixes, and every saved fuzz regression. Each frame must end in a
//! closed connection (or an error response), and afterwards the process must be
//! alive and a fresh connection must still get ApiVersions and Metadata answered.

use crate::probe_alloc::take_largest_huge_bytes;
use crate::samples;
use crate::wire::{request_frame, test_conn, with_size_prefix, BinaryServer, Client, Outcome, FRAME_BYTES_MAX};
use bytes::Bytes;
use gregor::middleware::codec::decode_frame;
use gregor::router::ROUTES;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, MetadataRequest, RequestKind, ResponseKind};
use std::path::Path;
use std::time::Duration;

/// DescribeUserScramCredentials v0 whose user array claims ~2^31 entries: with the
/// system allocator this aborts any process that decodes it (see CLIENTS.md).
const KILLER: [u8; 16] =
    [0x00, 0x32, 0x00, 0x00, 0x00, 0x26, 0x00, 0x32, 0x00, 0x00, 0x00, 0xbd, 0xff, 0xbd, 0xff, 0xff];
/// Frames per version sent to the binary, of those that reach a huge allocation.
const HUGE_FRAMES_PER_VERSION: usize = 4;
/// The header fields before the client id: api key, version, correlation id.
const HEADER_PREFIX_BYTES: usize = 8;
/// The largest i32 and a varint with the same value.
const HUGE_I32: [u8; 4] = [0x7f, 0xff, 0xff, 0xff];
const HUGE_I16: [u8; 2] = [0x7f, 0xff];
const HUGE_VARINT: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x07];

/// After the abuse: the process lives and serves a new connection.
fn assert_still_serving(server: &mut BinaryServer) {
    assert!(server.is_alive(), "gregor died: {}", server.log());
    let mut c = Client::connect(server.addr);
    match c.call(ApiKey::ApiVersions, 3, RequestKind::ApiVersions(ApiVersionsRequest::default())) {
        ResponseKind::ApiVersions(r) => assert_eq!(r.error_code, 0),
        other => panic!("{other:?}"),
    }
    match c.call(ApiKey::Metadata, 12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))) {
        ResponseKind::Metadata(r) => assert_eq!(r.brokers.len(), 1),
        other => panic!("{other:?}"),
    }
}

/// Sends `bytes` on a fresh connection and requires a close or an answer.
fn send_expect_rejected(server: &BinaryServer, bytes: &[u8], what: &str) {
    let mut c = Client::connect(server.addr);
    c.set_read_timeout(Duration::from_secs(5));
    c.send_raw(bytes);
    match c.outcome() {
        Outcome::Closed | Outcome::Answered => {}
        Outcome::Silent => panic!("{what}: neither answered nor closed within 5 s"),
    }
}

#[test]
fn the_sixteen_byte_killer_only_closes_its_connection() {
    let mut server = BinaryServer::start();
    let bystander = Client::connect(server.addr);
    send_expect_rejected(&server, &with_size_prefix(&KILLER), "killer");
    assert_still_serving(&mut server);
    drop(bystander);
}

#[test]
fn bad_size_prefixes_close_the_connection() {
    let mut server = BinaryServer::start();
    let sizes: [(i32, &str); 5] = [
        (FRAME_BYTES_MAX as i32 + 1, "one byte over the limit"),
        (i32::MAX, "i32::MAX"),
        (-1, "negative"),
        (i32::MIN, "i32::MIN"),
        (0, "empty frame"),
    ];
    for (size, what) in sizes {
        // the size alone must do it: nothing of the claimed body follows
        send_expect_rejected(&server, &size.to_be_bytes(), what);
    }
    // shorter than a request header, and a body that ends early
    send_expect_rejected(&server, &with_size_prefix(&[0, 3, 0]), "3-byte frame");
    let mut truncated = 100i32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0, 18, 0, 3, 0, 0, 0, 1]);
    let mut c = Client::connect(server.addr);
    c.send_raw(&truncated);
    drop(c);
    assert_still_serving(&mut server);
}

/// Every way this file knows to make a length field lie.
fn mutations(frame: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for at in HEADER_PREFIX_BYTES..frame.len() {
        let overwrite = |huge: &[u8]| {
            let mut m = frame.to_vec();
            m[at..at + huge.len()].copy_from_slice(huge);
            m
        };
        if at + 4 <= frame.len() {
            out.push((format!("i32 0x7fffffff at byte {at}"), overwrite(&HUGE_I32)));
        }
        if at + 2 <= frame.len() {
            out.push((format!("i16 0x7fff at byte {at}"), overwrite(&HUGE_I16)));
        }
        if frame[at] < 0x80 {
            let mut m = frame[..at].to_vec();
            m.extend_from_slice(&HUGE_VARINT);
            m.extend_from_slice(&frame[at + 1..]);
            out.push((format!("varint 0x7fffffff at byte {at}"), m));
        }
    }
    out
}

/// What decoding a mutated frame in this process did.
enum Effect {
    /// Decoding asked the allocator for ≥ 1 GiB: the kafka-protocol hazard.
    HugeAllocation,
    /// Refused without a huge allocation (a short string, a bad tag, …).
    Rejected,
    /// Decoded: the mutation hit a field that takes any value.
    Accepted,
}

fn effect_of(frame: &[u8]) -> Effect {
    take_largest_huge_bytes();
    let decoded = decode_frame(&test_conn(), Bytes::copy_from_slice(frame));
    let huge = take_largest_huge_bytes() > 0;
    match (decoded, huge) {
        (Ok(_), true) => panic!("decoded despite a huge allocation"),
        (Ok(_), false) => Effect::Accepted,
        (Err(_), true) => Effect::HugeAllocation,
        (Err(_), false) => Effect::Rejected,
    }
}

/// Frames to send for one (API, version): some that reach the huge-allocation
/// hazard, spread over the request, and the first plainly rejected lie.
fn hostile_frames(api: ApiKey, v: i16) -> (Vec<(String, Vec<u8>)>, usize) {
    let frame = request_frame(api, v, 31_337, &samples::request(api, v));
    let mut huge = Vec::new();
    let mut rejected = None;
    for (what, m) in mutations(&frame) {
        match effect_of(&m) {
            Effect::HugeAllocation => huge.push((what, m)),
            Effect::Rejected if rejected.is_none() => rejected = Some((what, m)),
            _ => {}
        }
    }
    let found = huge.len();
    let step = (huge.len() / HUGE_FRAMES_PER_VERSION).max(1);
    let mut picked: Vec<_> = huge.into_iter().step_by(step).take(HUGE_FRAMES_PER_VERSION).collect();
    picked.extend(rejected);
    (picked, found)
}

/// APIs whose requests hold no array at some versions, so no lie there can reach
/// a `Vec::with_capacity`: (API, highest such version).
const NO_ARRAY_UP_TO: &[(ApiKey, i16)] = &[
    (ApiKey::ApiVersions, i16::MAX),
    (ApiKey::DescribeCluster, i16::MAX),
    (ApiKey::Heartbeat, i16::MAX),
    (ApiKey::FindCoordinator, 3),
    (ApiKey::LeaveGroup, 2),
    (ApiKey::ListGroups, 3),
    (ApiKey::InitProducerId, i16::MAX),
    (ApiKey::DescribeAcls, i16::MAX),
    // a string and a byte blob: a lying length fails at the first missing byte
    (ApiKey::SaslHandshake, i16::MAX),
    (ApiKey::SaslAuthenticate, i16::MAX),
];

#[test]
fn lying_lengths_in_every_routed_request_only_close_their_connection() {
    let mut server = BinaryServer::start();
    let (mut sent, mut versions, mut without_huge) = (0, 0, Vec::new());
    for &(api, min, max) in ROUTES {
        for v in min..=max {
            versions += 1;
            let (frames, huge_found) = hostile_frames(api, v);
            assert!(!frames.is_empty(), "{api:?} v{v}: no mutation was refused");
            let array_free = NO_ARRAY_UP_TO.iter().any(|&(k, up_to)| k == api && v <= up_to);
            if huge_found == 0 && !array_free {
                without_huge.push(format!("{api:?} v{v}"));
            }
            for (what, frame) in frames {
                send_expect_rejected(&server, &with_size_prefix(&frame), &format!("{api:?} v{v}, {what}"));
                sent += 1;
            }
        }
    }
    assert!(without_huge.is_empty(), "no lying length reached a huge allocation in: {}", without_huge.join(", "));
    eprintln!("hostile: {sent} lying frames over {versions} routed API versions");
    assert_still_serving(&mut server);
}

/// Every input the fuzzer ever flagged, replayed as a frame against the binary.
#[test]
fn fuzz_regressions_are_harmless() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/fuzz-regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("protocol-tests/fuzz-regressions")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    inputs.sort();
    let mut server = BinaryServer::start();
    for path in &inputs {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() <= FRAME_BYTES_MAX as usize);
        send_expect_rejected(&server, &with_size_prefix(&bytes), &path.display().to_string());
        assert!(server.is_alive(), "{} killed gregor: {}", path.display(), server.log());
    }
    assert_still_serving(&mut server);
}
