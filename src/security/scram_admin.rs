//! KIP-554's rules for DescribeUserScramCredentials and AlterUserScramCredentials, as
//! Apache Kafka's KRaft controller applies them, over the credential store. One result
//! per user; the handlers only translate to and from the wire.
//!
//! As in KRaft (not ZooKeeper-era Kafka), an alter request may change each user once:
//! two changes to one user, even for different mechanisms, are `DUPLICATE_RESOURCE`.

use super::credentials::{Change, CredentialError, CredentialStore};
use super::scram::{ScramCredential, ScramMechanism, ITERATIONS_MAX, ITERATIONS_MIN};
use kafka_protocol::error::ResponseError;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ScramAdminError {
    #[error("user `{0}` has no SCRAM credentials")]
    UnknownUser(String),
    #[error("user `{0}` appears more than once in the request")]
    Duplicate(String),
    #[error("the user name must not be empty")]
    EmptyUser,
    #[error("unknown SCRAM mechanism {0} (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512)")]
    UnknownMechanism(i8),
    #[error("iterations must be in {ITERATIONS_MIN}..={ITERATIONS_MAX}, got {0}")]
    Iterations(i32),
    #[error("salt and salted password must not be empty")]
    EmptySalt,
    #[error(transparent)]
    Store(#[from] CredentialError),
    /// Applying the valid changes failed; every changed user gets this. The message is
    /// for clients: store I/O details are logged instead.
    #[error("{1}")]
    NotApplied(ResponseError, String),
}

impl ScramAdminError {
    /// The Kafka error for this failure: the only place these codes are chosen.
    pub fn response_error(&self) -> ResponseError {
        match self {
            ScramAdminError::UnknownUser(_) => ResponseError::ResourceNotFound,
            ScramAdminError::Duplicate(_) => ResponseError::DuplicateResource,
            ScramAdminError::EmptyUser | ScramAdminError::Iterations(_) | ScramAdminError::EmptySalt => {
                ResponseError::UnacceptableCredential
            }
            ScramAdminError::UnknownMechanism(_) => ResponseError::UnsupportedSaslMechanism,
            ScramAdminError::Store(e) => e.response_error(),
            ScramAdminError::NotApplied(error, _) => *error,
        }
    }
}

/// (mechanism, iterations) of one user's credentials.
pub type CredentialInfos = Vec<(ScramMechanism, u32)>;

/// Kafka's rules: no names (null or an empty list) describes every user; a name given
/// twice is `DUPLICATE_RESOURCE` (once), an unknown one `RESOURCE_NOT_FOUND`.
pub fn describe(
    store: &CredentialStore,
    users: Option<&[String]>,
) -> Vec<(String, Result<CredentialInfos, ScramAdminError>)> {
    let all: Vec<(String, CredentialInfos)> = store
        .list()
        .into_iter()
        .map(|(name, creds)| {
            let infos = creds.into_iter().filter_map(|(m, i)| Some((ScramMechanism::from_mechanism(m)?, i))).collect();
            (name, infos)
        })
        .collect();
    let requested = match users {
        None | Some([]) => return all.into_iter().map(|(name, infos)| (name, Ok(infos))).collect(),
        Some(names) => names,
    };
    let mut order: Vec<&String> = Vec::new();
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for name in requested {
        *counts.entry(name).or_insert_with(|| {
            order.push(name);
            0
        }) += 1;
    }
    let by_name: HashMap<&String, &CredentialInfos> = all.iter().map(|(n, i)| (n, i)).collect();
    order
        .into_iter()
        .map(|name| {
            let result = match (counts[name], by_name.get(name)) {
                (n, _) if n > 1 => Err(ScramAdminError::Duplicate(name.clone())),
                (_, Some(infos)) => Ok((*infos).clone()),
                (_, None) => Err(ScramAdminError::UnknownUser(name.clone())),
            };
            (name.clone(), result)
        })
        .collect()
}

/// A credential to remove, as the request names it.
pub struct Deletion {
    pub user: String,
    /// Kafka's mechanism code.
    pub mechanism: i8,
}

/// A credential to set: the client salted the password itself (KIP-554).
pub struct Upsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// Validates every alteration, then applies the valid ones in one store write
/// (deletions before upsertions). Returns one result per user, in request order.
/// Blocks on file I/O.
pub fn alter(
    store: &CredentialStore,
    deletions: &[Deletion],
    upsertions: &[Upsertion],
) -> Vec<(String, Result<(), ScramAdminError>)> {
    let mut plan = Plan::default();
    for d in deletions {
        plan.add(&d.user, || validate_deletion(store, d));
    }
    for u in upsertions {
        plan.add(&u.user, || validate_upsertion(store, u));
    }
    let changes: Vec<Change> = plan.order.iter().filter_map(|user| plan.changes.get(user).cloned()).collect();
    let applied = if changes.is_empty() { Ok(()) } else { store.apply(&changes) };
    let failure = applied.err().map(|e| match e {
        CredentialError::File(e) => {
            tracing::error!(error = %e, "AlterUserScramCredentials: writing the credential store failed");
            (ResponseError::UnknownServerError, "the credential store could not be written".to_string())
        }
        // `gregor user` changed the store between validation and the write
        other => (other.response_error(), other.to_string()),
    });
    let mut errors = plan.errors;
    plan.order
        .into_iter()
        .map(|user| {
            let result = match (errors.remove(&user), &failure) {
                (Some(e), _) => Err(e),
                (None, Some((code, message))) => Err(ScramAdminError::NotApplied(*code, message.clone())),
                (None, None) => Ok(()),
            };
            (user, result)
        })
        .collect()
}

/// Users seen so far: a valid change or an error each, in first-seen order.
#[derive(Default)]
struct Plan {
    order: Vec<String>,
    changes: HashMap<String, Change>,
    errors: HashMap<String, ScramAdminError>,
}

impl Plan {
    /// Kafka's bookkeeping: a user already in error stays so; a second change to a user
    /// turns it into `DUPLICATE_RESOURCE`.
    fn add(&mut self, user: &str, validate: impl FnOnce() -> Result<Change, ScramAdminError>) {
        if self.errors.contains_key(user) {
            return;
        }
        if self.changes.remove(user).is_some() {
            self.errors.insert(user.to_string(), ScramAdminError::Duplicate(user.to_string()));
            return;
        }
        if !self.order.iter().any(|u| u == user) {
            self.order.push(user.to_string());
        }
        match validate() {
            Ok(change) => {
                self.changes.insert(user.to_string(), change);
            }
            Err(e) => {
                self.errors.insert(user.to_string(), e);
            }
        }
    }
}

fn validate_name_and_mechanism(user: &str, code: i8) -> Result<ScramMechanism, ScramAdminError> {
    if user.is_empty() {
        return Err(ScramAdminError::EmptyUser);
    }
    ScramMechanism::from_code(code).ok_or(ScramAdminError::UnknownMechanism(code))
}

fn validate_deletion(store: &CredentialStore, d: &Deletion) -> Result<Change, ScramAdminError> {
    let mechanism = validate_name_and_mechanism(&d.user, d.mechanism)?;
    if store.is_config_user(&d.user) {
        return Err(CredentialError::ConfigUser(d.user.clone()).into());
    }
    if store.lookup(&d.user, mechanism.mechanism()).is_none() {
        return Err(CredentialError::NotFound { user: d.user.clone(), mechanism: mechanism.name() }.into());
    }
    Ok(Change::Delete { user: d.user.clone(), mechanism })
}

fn validate_upsertion(store: &CredentialStore, u: &Upsertion) -> Result<Change, ScramAdminError> {
    let mechanism = validate_name_and_mechanism(&u.user, u.mechanism)?;
    let iterations = u32::try_from(u.iterations)
        .ok()
        .filter(|i| (ITERATIONS_MIN..=ITERATIONS_MAX).contains(i))
        .ok_or(ScramAdminError::Iterations(u.iterations))?;
    if u.salt.is_empty() || u.salted_password.is_empty() {
        return Err(ScramAdminError::EmptySalt);
    }
    if store.is_config_user(&u.user) {
        return Err(CredentialError::ConfigUser(u.user.clone()).into());
    }
    let credential = ScramCredential::from_salted_password(mechanism, &u.salted_password, &u.salt, iterations);
    Ok(Change::Upsert { user: u.user.clone(), mechanism, credential })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::Mechanism;
    use std::sync::Arc;

    fn store(dir: &std::path::Path) -> Arc<CredentialStore> {
        let admin = ScramCredential::generate(ScramMechanism::Sha256, b"admin", 4096);
        let config = [("admin".to_string(), [(ScramMechanism::Sha256, admin)].into())].into();
        Arc::new(CredentialStore::with_config_users(config, dir, false).unwrap())
    }

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> Upsertion {
        Upsertion { user: user.into(), mechanism, iterations, salt: b"salt".to_vec(), salted_password: vec![7; 32] }
    }

    fn delete(user: &str, mechanism: i8) -> Deletion {
        Deletion { user: user.into(), mechanism }
    }

    fn codes<T>(results: &[(String, Result<T, ScramAdminError>)]) -> Vec<(&str, ResponseError)> {
        results.iter().filter_map(|(u, r)| r.as_ref().err().map(|e| (u.as_str(), e.response_error()))).collect()
    }

    #[test]
    fn alter_then_describe() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let r = alter(&s, &[], &[upsert("alice", 1, 4096), upsert("bob", 2, 8192)]);
        assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
        assert_eq!(r.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
        let all = describe(&s, None);
        let summary: Vec<(&str, CredentialInfos)> =
            all.iter().map(|(u, r)| (u.as_str(), r.as_ref().unwrap().clone())).collect();
        assert_eq!(
            summary,
            [
                ("admin", vec![(ScramMechanism::Sha256, 4096)]),
                ("alice", vec![(ScramMechanism::Sha256, 4096)]),
                ("bob", vec![(ScramMechanism::Sha512, 8192)]),
            ]
        );
        assert_eq!(describe(&s, Some(&[])).len(), 3, "an empty list means everyone");
        let salted_credential = s.lookup("alice", Mechanism::ScramSha256).unwrap();
        assert_eq!(
            salted_credential,
            ScramCredential::from_salted_password(ScramMechanism::Sha256, &[7; 32], b"salt", 4096)
        );
        let r = alter(&s, &[delete("alice", 1)], &[]);
        assert!(r[0].1.is_ok());
        assert_eq!(codes(&describe(&s, Some(&["alice".into()]))), [("alice", ResponseError::ResourceNotFound)]);
    }

    #[test]
    fn describe_errors() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let names = ["ghost".to_string(), "admin".to_string(), "admin".to_string(), "ghost2".to_string()];
        let r = describe(&s, Some(&names));
        assert_eq!(r.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), ["ghost", "admin", "ghost2"]);
        assert_eq!(
            codes(&r),
            [
                ("ghost", ResponseError::ResourceNotFound),
                ("admin", ResponseError::DuplicateResource),
                ("ghost2", ResponseError::ResourceNotFound)
            ]
        );
    }

    #[test]
    fn alter_validation() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let r = alter(
            &s,
            &[delete("missing", 1), delete("", 1), delete("admin", 1)],
            &[
                upsert("few", 1, 4095),
                upsert("many", 2, 16385),
                upsert("negative", 2, -1),
                upsert("mech0", 0, 4096),
                upsert("mech3", 3, 4096),
                Upsertion { salt: Vec::new(), ..upsert("nosalt", 1, 4096) },
                upsert("admin", 2, 4096),
                upsert("fine", 2, 16384),
            ],
        );
        use ResponseError::*;
        assert_eq!(
            codes(&r),
            [
                ("missing", ResourceNotFound),
                ("", UnacceptableCredential),
                ("admin", UnacceptableCredential),
                ("few", UnacceptableCredential),
                ("many", UnacceptableCredential),
                ("negative", UnacceptableCredential),
                ("mech0", UnsupportedSaslMechanism),
                ("mech3", UnsupportedSaslMechanism),
                ("nosalt", UnacceptableCredential),
            ]
        );
        let admin = r.iter().find(|(u, _)| u == "admin").unwrap().1.as_ref().unwrap_err().to_string();
        assert!(admin.contains("config file"), "{admin}");
        assert!(r.iter().any(|(u, r)| u == "fine" && r.is_ok()), "valid changes go through beside invalid ones");
        assert!(s.lookup("fine", Mechanism::ScramSha512).is_some());
    }

    #[test]
    fn a_user_may_change_once_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        alter(&s, &[], &[upsert("carol", 1, 4096)]);
        let r = alter(
            &s,
            &[delete("carol", 1), delete("dave", 1), delete("dave", 2)],
            &[upsert("carol", 2, 4096), upsert("erin", 1, 4096), upsert("erin", 2, 4096), upsert("dave", 1, 4096)],
        );
        use ResponseError::*;
        assert_eq!(codes(&r), [("carol", DuplicateResource), ("dave", ResourceNotFound), ("erin", DuplicateResource)]);
        assert!(s.lookup("carol", Mechanism::ScramSha256).is_some(), "nothing of a duplicate is applied");
        assert!(s.lookup("erin", Mechanism::ScramSha256).is_none());
    }

    #[test]
    fn a_failed_write_fails_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        // a directory where the store file should be makes the rename fail
        std::fs::create_dir(s.store_path()).unwrap();
        let r = alter(&s, &[], &[upsert("frank", 1, 4096), upsert("", 1, 4096)]);
        assert_eq!(
            codes(&r),
            [("frank", ResponseError::UnknownServerError), ("", ResponseError::UnacceptableCredential)]
        );
        let message = r[0].1.as_ref().unwrap_err().to_string();
        assert!(!message.contains(&dir.path().display().to_string()), "no server paths to clients: {message}");
    }
}
