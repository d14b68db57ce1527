//! gregor: a Kafka wire-protocol broker and gateway in one binary.
//!
//! A request's path through the crate, in reading order:
//! `server` (listeners, shutdown) → `net` (frames, connections) → `middleware`
//! (the tower stack: codec, trace) → `router` (ApiKey → handler, the ApiVersions
//! table) → `broker::handlers` (one file per API) → the core: `broker` (topics,
//! partitions, replica state) and `log` (segments on disk). In proxy mode the
//! router's place is taken by `proxy::forward`, which sends requests to an
//! upstream cluster (`proxy`).
#![deny(unsafe_code)]

pub mod admin;
pub mod alloc;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod log;
pub mod metrics;
pub mod middleware;
pub mod net;
pub mod proxy;
pub mod quota;
pub mod router;
pub mod security;
pub mod server;
pub mod state_file;
pub mod time;
