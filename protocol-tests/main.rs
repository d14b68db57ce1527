//! Wire-level conformance tests (see protocol-tests/README.md).
//!
//! Layers, one module each:
//! - `roundtrip`: every routed (API, version) request and a representative response
//!   encode → decode → encode to identical bytes, through the broker's own codec;
//! - `live`, `live_groups`, `scram_apis`: an in-process server answers every routed
//!   API at every advertised version, with the Kafka error codes a client expects;
//! - `golden`: request frames captured from real clients decode and re-encode
//!   byte for byte;
//! - `acl`: ACL enforcement per API family and the ACL admin APIs, against an
//!   in-process server with `authorizer: acl`;
//! - `quotas`: the client quota APIs and throttling (throttle_time_ms, muting);
//! - `hostile`: frames with lying lengths, bad sizes and fuzz regressions, sent to
//!   the real binary, which must close the connection and keep serving.
//!
//! `wire`, `samples` and `probe_alloc` are shared support.

mod acl;
mod golden;
mod hostile;
mod live;
mod live_groups;
mod probe_alloc;
mod quotas;
mod roundtrip;
mod samples;
mod sasl;
mod scram_apis;
mod wire;

/// gregor's guard, so that a hostile length decoded in this process is an error and
/// not an abort, plus a per-thread record of huge requests (see `probe_alloc`).
#[global_allocator]
static ALLOCATOR: probe_alloc::ProbingAllocator = probe_alloc::ProbingAllocator;
