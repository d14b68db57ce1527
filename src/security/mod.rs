//! Security: who a connection is (principals from TLS or SASL), what it may do
//! (ACLs), and the credentials behind SASL. The tower layers that apply these live in
//! `middleware::{authenticate, authorize}`; this module holds the pure parts.

pub mod acl;
pub mod acl_store;
pub mod authorizer;
pub mod credential_file;
pub mod credentials;
pub mod failure_delay;
pub mod plain;
pub mod sasl;
pub mod scram;
pub mod scram_admin;
pub mod scram_client;
pub mod ssl_principal;

use crate::config::Config;
use crate::middleware::ConnInfo;
use credentials::{CredentialError, CredentialStore};
use std::fmt;
use std::sync::Arc;

/// The security state every connection shares. Credentials and ACLs are reloadable
/// (SIGHUP, file changes), so each lives behind its own lock inside its store.
pub struct Security {
    /// `log.audit`: one `gregor::audit` line per authentication result and denial.
    pub audit: bool,
    /// ACLs (config and online) and the authorizer built from them.
    pub acls: acl_store::AclStore,
    /// SCRAM users (config and store file); SASL sessions hold a clone of the `Arc`.
    pub credentials: Arc<CredentialStore>,
    /// Spaces out authentication attempts from addresses that keep failing.
    pub failure_delay: failure_delay::FailureDelay,
    /// KIP-368 `connections.max.reauth.ms` (0 = sessions never expire).
    pub reauth_ms: i64,
    /// Authentication results are counted where they are audited.
    pub metrics: Arc<crate::metrics::Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    Store(String),
    #[error("ACLs: {0}")]
    Acls(#[from] acl_store::AclStoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

impl Security {
    /// Loads the credential and ACL stores (config plus data directory).
    pub fn open(config: &Config, metrics: Arc<crate::metrics::Metrics>) -> Result<Security, SecurityError> {
        let credentials = Arc::new(CredentialStore::open(config)?);
        Ok(Security {
            audit: config.log.audit,
            acls: acl_store::AclStore::open(config)?,
            credentials,
            failure_delay: failure_delay::FailureDelay::new(config.broker.connection_failed_authentication_delay_ms),
            reauth_ms: config.broker.connections_max_reauth_ms,
            metrics,
        })
    }

    /// Counts an authentication result and writes its audit line (TLS client certificate or SASL).
    /// `error` is safe to log: it never holds a secret.
    pub fn audit_authentication(
        &self,
        conn: &ConnInfo,
        mechanism: &str,
        principal: Option<&Principal>,
        result: Result<(), &str>,
    ) {
        self.metrics.authentication(mechanism, result.is_ok());
        if !self.audit {
            return;
        }
        let principal = principal.map(|p| p.to_string()).unwrap_or_default();
        match result {
            Ok(()) => tracing::info!(target: "gregor::audit", event = "authentication", outcome = "success",
                %principal, mechanism, client = %conn.peer, listener = %conn.listener, conn = conn.id),
            Err(error) => tracing::info!(target: "gregor::audit", event = "authentication", outcome = "failure",
                %principal, mechanism, client = %conn.peer, listener = %conn.listener, conn = conn.id, error),
        }
    }
}

/// Kafka's principal: a type and a name, written `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// `User` for every principal gregor builds (as in Kafka).
    pub kind: String,
    pub name: String,
}

impl Principal {
    /// The principal of an unauthenticated connection on a PLAINTEXT (or SSL without
    /// client certificate) listener: Kafka's `User:ANONYMOUS`.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    pub fn user(name: impl Into<String>) -> Principal {
        Principal { kind: "User".into(), name: name.into() }
    }

    /// Parses `Type:name` (the name may itself contain `:`).
    pub fn parse(s: &str) -> Result<Principal, String> {
        match s.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
                Ok(Principal { kind: kind.to_string(), name: name.to_string() })
            }
            _ => Err(format!("`{s}` is not a principal of the form Type:name (e.g. User:alice)")),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_and_print() {
        let p = Principal::parse("User:CN=a,O=b:c").unwrap();
        assert_eq!(p.kind, "User");
        assert_eq!(p.name, "CN=a,O=b:c");
        assert_eq!(p.to_string(), "User:CN=a,O=b:c");
        assert!(Principal::parse("alice").is_err());
        assert!(Principal::parse("User:").is_err());
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
    }
}
