//! Bytes on sockets: length-prefixed frames and the per-connection loop.

pub mod connection;
pub mod frame;
pub mod tls;
