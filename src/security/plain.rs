//! SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, checked against the user's
//! salted SCRAM credentials (gregor keeps no passwords). Costs one PBKDF2 per attempt.

use super::sasl::SaslError;
use super::scram::{CredentialLookup, ScramMechanism};

/// Bound on the message: RFC 4616 allows 255 bytes per field; leave room for long tokens.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// The one message for a wrong password and an unknown user alike.
fn authentication_failed() -> SaslError {
    SaslError::new("authentication failed: invalid user name or password")
}

/// Checks one PLAIN message; returns the authenticated user. `lookup` returns the
/// user's credential for a mechanism, or a fake one (`known: false`) for an unknown
/// user, which is checked all the same so that both cases take as long.
pub fn authenticate(
    message: &[u8],
    lookup: impl Fn(&str, ScramMechanism) -> CredentialLookup,
) -> Result<String, SaslError> {
    if message.len() > MESSAGE_BYTES_MAX {
        return Err(SaslError::new(format!("PLAIN message is longer than {MESSAGE_BYTES_MAX} bytes")));
    }
    let mut fields = message.split(|b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::new("malformed PLAIN message: expected authzid NUL authcid NUL password"));
    };
    let (authzid, user) = (utf8(authzid)?, utf8(authcid)?);
    if user.is_empty() {
        return Err(SaslError::new("PLAIN user name is empty"));
    }
    if password.is_empty() {
        return Err(SaslError::new("PLAIN password is empty"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError::new("PLAIN authorization id must be empty or equal the user name"));
    }
    // either mechanism's credential proves the password; SHA-512 first, then SHA-256
    let sha512 = lookup(user, ScramMechanism::Sha512);
    let (mech, found) = if sha512.known {
        (ScramMechanism::Sha512, sha512)
    } else {
        match lookup(user, ScramMechanism::Sha256) {
            sha256 if sha256.known => (ScramMechanism::Sha256, sha256),
            _ => (ScramMechanism::Sha512, sha512),
        }
    };
    if found.credential.verify_password(mech, password) && found.known {
        Ok(user.to_string())
    } else {
        Err(authentication_failed())
    }
}

fn utf8(field: &[u8]) -> Result<&str, SaslError> {
    std::str::from_utf8(field).map_err(|_| SaslError::new("PLAIN user names must be UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::{fake_credential, ScramCredential};
    use std::collections::HashMap;

    struct Users(HashMap<(String, ScramMechanism), ScramCredential>);

    impl Users {
        fn lookup(&self, user: &str, mech: ScramMechanism) -> CredentialLookup {
            match self.0.get(&(user.to_string(), mech)) {
                Some(c) => CredentialLookup { credential: c.clone(), known: true },
                None => CredentialLookup { credential: fake_credential(mech, b"secret", user), known: false },
            }
        }
    }

    fn users() -> Users {
        let mut m = HashMap::new();
        let both = |p: &[u8], mech| ScramCredential::generate(mech, p, 4096);
        m.insert(("alice".to_string(), ScramMechanism::Sha512), both(b"alice-pw", ScramMechanism::Sha512));
        m.insert(("bob".to_string(), ScramMechanism::Sha256), both(b"bob-pw", ScramMechanism::Sha256));
        Users(m)
    }

    fn auth(message: &[u8]) -> Result<String, SaslError> {
        let u = users();
        authenticate(message, |user, mech| u.lookup(user, mech))
    }

    #[test]
    fn good_passwords_authenticate_with_either_mechanism() {
        assert_eq!(auth(b"\0alice\0alice-pw").unwrap(), "alice");
        assert_eq!(auth(b"bob\0bob\0bob-pw").unwrap(), "bob");
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_alike() {
        let wrong = auth(b"\0alice\0nope").unwrap_err();
        assert_eq!(wrong, auth(b"\0mallory\0nope").unwrap_err());
        assert_eq!(wrong, auth(b"\0bob\0alice-pw").unwrap_err());
        assert!(!wrong.message.contains("nope"));
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [&b""[..], b"alice", b"\0alice", b"\0alice\0pw\0extra", b"\0\0pw", b"\0alice\0", b"\0\xff\0pw"] {
            auth(bad).unwrap_err();
        }
        let err = auth(b"admin\0alice\0alice-pw").unwrap_err();
        assert!(err.message.contains("authorization id"), "{err}");
        let long = [b"\0alice\0".as_slice(), &vec![b'x'; MESSAGE_BYTES_MAX]].concat();
        assert!(auth(&long).unwrap_err().message.contains("longer"));
    }
}
