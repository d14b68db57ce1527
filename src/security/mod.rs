//! Security: who a connection is (principals from TLS or SASL), what it may do
//! (ACLs), and the credentials behind SASL. The tower layers that apply these live in
//! `middleware::{authenticate, authorize}`; this module holds the pure parts.

pub mod acl;
pub mod acl_store;
pub mod authorizer;
pub mod sasl;

use crate::config::Config;
use std::fmt;

/// The security state every connection shares. Credentials and ACLs are reloadable
/// (SIGHUP, file changes), so each lives behind its own lock inside its store.
pub struct Security {
    /// `log.audit`: one `gregor::audit` line per authentication result and denial.
    pub audit: bool,
    /// ACLs (config and online) and the authorizer built from them.
    pub acls: acl_store::AclStore,
}

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    Store(String),
    #[error("ACLs: {0}")]
    Acls(#[from] acl_store::AclStoreError),
}

impl Security {
    /// Loads the credential and ACL stores (config plus data directory).
    pub fn open(config: &Config) -> Result<Security, SecurityError> {
        Ok(Security { audit: config.log.audit, acls: acl_store::AclStore::open(config)? })
    }

    /// Picks up edits of the stores' files (called every second and on SIGHUP).
    /// Failures are logged; the previous state stays in force.
    pub fn reload_if_changed(&self) {
        if let Err(e) = self.acls.reload_if_changed() {
            tracing::error!(error = %e, "ACL file not reloaded; the previous ACLs stay in force");
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
