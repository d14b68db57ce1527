//! SASL mechanisms the broker accepts, and one server-side exchange ([`SaslSession`]).
//! The mechanisms themselves (PLAIN, SCRAM) live beside this file.

use super::credentials::CredentialStore;
use super::scram::{ScramMechanism, ScramServer};
use serde::Deserialize;
use std::sync::Arc;

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

/// The server side of one authentication: the mechanism the client chose in
/// SaslHandshake, fed each SaslAuthenticate token in turn.
///
/// [`step`](SaslSession::step) can be CPU-heavy: PLAIN runs PBKDF2 over the stored
/// iteration count (milliseconds per attempt). Run it on a blocking thread
/// (`tokio::task::spawn_blocking`); the session is `Send + 'static` for that.
pub struct SaslSession {
    mechanism: Mechanism,
    /// Looked up per attempt, so a reloaded store applies to the next login.
    credentials: Arc<CredentialStore>,
    state: SessionState,
}

enum SessionState {
    Plain,
    Scram(ScramServer),
    /// Done or failed: an exchange is never resumed.
    Ended,
}

impl SaslSession {
    pub fn new(mechanism: Mechanism, credentials: Arc<CredentialStore>) -> SaslSession {
        let state = match ScramMechanism::from_mechanism(mechanism) {
            Some(m) => SessionState::Scram(ScramServer::new(m)),
            None => SessionState::Plain,
        };
        SaslSession { mechanism, credentials, state }
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Consumes the client's next token. After `Done` or an error the session is over
    /// and every further call fails.
    pub fn step(&mut self, token: &[u8]) -> Result<SaslStep, SaslError> {
        let store = &self.credentials;
        let (result, next) = match std::mem::replace(&mut self.state, SessionState::Ended) {
            SessionState::Plain => {
                let user = super::plain::authenticate(token, |user, m| store.scram_or_fake(user, m));
                (user.map(|user| SaslStep::Done { user, token: Vec::new() }), SessionState::Ended)
            }
            SessionState::Scram(mut server) => {
                let m = server.mechanism();
                let step = server.step(token, |user| store.scram_or_fake(user, m));
                let next = match step {
                    Ok(SaslStep::Challenge(_)) => SessionState::Scram(server),
                    _ => SessionState::Ended,
                };
                (step, next)
            }
            SessionState::Ended => (Err(SaslError::new("the SASL exchange has already ended")), SessionState::Ended),
        };
        self.state = next;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::ScramCredential;
    use crate::security::scram_client::ScramClient;

    fn store_with(dir: &std::path::Path, user: &str, password: &[u8]) -> Arc<CredentialStore> {
        let store = CredentialStore::with_config_users(Default::default(), dir, false).unwrap();
        for m in ScramMechanism::ALL {
            store.upsert(user, m.mechanism(), ScramCredential::generate(m, password, 4096)).unwrap();
        }
        Arc::new(store)
    }

    #[test]
    fn sessions_are_send_and_static() {
        fn assert_send_static<T: Send + 'static>() {}
        assert_send_static::<SaslSession>();
    }

    #[test]
    fn scram_sessions_log_in_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), "alice", b"pw");
        for m in ScramMechanism::ALL {
            let mut session = SaslSession::new(m.mechanism(), store.clone());
            let mut client = ScramClient::new(m, "alice", b"pw");
            let SaslStep::Challenge(first) = session.step(&client.client_first()).unwrap() else { panic!() };
            let SaslStep::Done { user, token } = session.step(&client.client_final(&first).unwrap()).unwrap() else {
                panic!()
            };
            assert_eq!(user, "alice");
            client.verify_server_final(&token).unwrap();
            assert!(session.step(b"more").is_err());
        }
    }

    #[test]
    fn scram_failures_end_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), "alice", b"pw");
        let attempt = |user: &str, password: &[u8]| {
            let mut session = SaslSession::new(Mechanism::ScramSha256, store.clone());
            let mut client = ScramClient::new(ScramMechanism::Sha256, user, password);
            let SaslStep::Challenge(first) = session.step(&client.client_first()).unwrap() else { panic!() };
            let err = session.step(&client.client_final(&first).unwrap()).unwrap_err();
            assert!(session.step(b"again").is_err());
            err
        };
        assert_eq!(attempt("alice", b"wrong"), attempt("nobody", b"pw"));
    }

    #[test]
    fn plain_sessions_check_the_stored_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), "bob", b"pw");
        let mut ok = SaslSession::new(Mechanism::Plain, store.clone());
        assert_eq!(ok.step(b"\0bob\0pw").unwrap(), SaslStep::Done { user: "bob".into(), token: Vec::new() });
        assert!(ok.step(b"\0bob\0pw").is_err(), "one exchange per session");
        let wrong = SaslSession::new(Mechanism::Plain, store.clone()).step(b"\0bob\0nope").unwrap_err();
        let unknown = SaslSession::new(Mechanism::Plain, store).step(b"\0eve\0pw").unwrap_err();
        assert_eq!(wrong, unknown);
    }
}
