//! Subcommands of the `gregor` binary beyond `serve`, kept in the library so that their
//! logic is tested like the rest; `main.rs` only parses and dispatches.

pub mod admin;
pub mod user;
