//! SASL mechanisms the broker accepts, and the shape of one server-side exchange.
//! The exchanges themselves (PLAIN, SCRAM) live beside this file.

use serde::Deserialize;

/// A SASL mechanism, by its IANA name (as clients send it in SaslHandshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Mechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl Mechanism {
    pub const ALL: [Mechanism; 3] = [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// What one client token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this token back and wait for the client's next one.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; send `token` (possibly empty) as the final response.
    Done { user: String, token: Vec<u8> },
}

/// A failed exchange. The message goes to the client and the audit log, so it
/// never contains a password, a key or anything derived from one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SaslError {
    pub message: String,
}

impl SaslError {
    pub fn new(message: impl Into<String>) -> SaslError {
        SaslError { message: message.into() }
    }
}
