//! Errors of the admin CLI: a Kafka error code by its Kafka name, connection
//! failures, and usage mistakes. Each renders as one line for the terminal.

use serde::Serialize;

/// A Kafka error code as a broker returned it, with the broker's message if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaError {
    pub code: i16,
    /// Kafka's name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
    pub name: String,
    pub message: Option<String>,
}

impl KafkaError {
    pub fn new(code: i16, message: Option<String>) -> KafkaError {
        KafkaError { code, name: error_name(code), message: message.filter(|m| !m.is_empty()) }
    }

    /// `Err` when `code` is not 0.
    pub fn check(code: i16, message: Option<String>) -> Result<(), KafkaError> {
        if code == 0 {
            Ok(())
        } else {
            Err(KafkaError::new(code, message))
        }
    }
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.code)?;
        match &self.message {
            // brokers often repeat the code's own description; say it once
            Some(m) if !m.eq_ignore_ascii_case(&self.name) => write!(f, ": {m}"),
            _ => Ok(()),
        }
    }
}

/// Kafka's name for an error code; shared with the metrics labels.
pub use crate::metrics::errors::error_name;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("{addr}: {message}")]
    Io { addr: String, message: String },
    #[error("SASL authentication with {addr} failed: {message}")]
    Sasl { addr: String, message: String },
    #[error("{addr} supports no version of {api} that this client speaks")]
    Unsupported { addr: String, api: String },
    #[error("{addr}: protocol error: {message}")]
    Protocol { addr: String, message: String },
    #[error("{what}: {error}")]
    Kafka { what: String, error: KafkaError },
    #[error("broker {0} is not in the cluster metadata")]
    UnknownNode(i32),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Refused(String),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

impl AdminError {
    pub fn kafka(what: impl Into<String>, error: KafkaError) -> AdminError {
        AdminError::Client(ClientError::Kafka { what: what.into(), error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(30), "GROUP_AUTHORIZATION_FAILED");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_9999");
        let e = KafkaError::new(3, Some("no such topic".into()));
        assert_eq!(e.to_string(), "UNKNOWN_TOPIC_OR_PARTITION (3): no such topic");
        assert_eq!(KafkaError::new(36, Some(String::new())).to_string(), "TOPIC_ALREADY_EXISTS (36)");
    }
}
