//! The SASL users gregor knows: read-only ones from the config (`users:`) and the store
//! file's (AlterUserScramCredentials, `gregor user`), shared by every connection and
//! reloaded when the file changes. Only salted SCRAM credentials are kept; PLAIN checks
//! passwords against them.

use super::credential_file::{CredentialFile, CredentialFileError, FileStamp, UserCredentials, Users};
use super::sasl::Mechanism;
use super::scram::{
    fake_credential, random_bytes, wipe, CredentialLookup, EncodedCredential, ScramCredential, ScramMechanism,
    ITERATIONS_DEFAULT,
};
use crate::cluster::access::{AccessChange, AccessImage, AccessLink, AccessLog, UserChange};
use crate::config::{Config, UserConfig};
use kafka_protocol::error::ResponseError;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

/// Bound on a password file: a password, not a document.
const PASSWORD_FILE_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("config key `{key}`: {message}")]
    Config { key: String, message: String },
    #[error("credential store {0}")]
    File(#[from] CredentialFileError),
    #[error("user `{0}` is defined in the config file: change it there")]
    ConfigUser(String),
    #[error("user `{user}` has no {mechanism} credential")]
    NotFound { user: String, mechanism: &'static str },
    #[error("{0} is not a SCRAM mechanism")]
    NotScram(&'static str),
    #[error("metadata log: {0}")]
    MetadataLog(String),
}

impl CredentialError {
    /// The Kafka error for this failure (the SCRAM admin APIs answer with it).
    pub fn response_error(&self) -> ResponseError {
        match self {
            CredentialError::ConfigUser(_) => ResponseError::UnacceptableCredential,
            CredentialError::NotFound { .. } => ResponseError::ResourceNotFound,
            CredentialError::NotScram(_) => ResponseError::UnsupportedSaslMechanism,
            CredentialError::Config { .. } | CredentialError::File(_) | CredentialError::MetadataLog(_) => {
                ResponseError::UnknownServerError
            }
        }
    }
}

/// One change to the store; [`CredentialStore::apply`] makes a batch of them at once.
#[derive(Debug, Clone)]
pub enum Change {
    Upsert { user: String, mechanism: ScramMechanism, credential: ScramCredential },
    Delete { user: String, mechanism: ScramMechanism },
}

impl Change {
    pub fn user(&self) -> &str {
        match self {
            Change::Upsert { user, .. } | Change::Delete { user, .. } => user,
        }
    }

    /// As the metadata log carries it.
    fn replicated(&self) -> UserChange {
        match self {
            Change::Upsert { user, mechanism, credential } => UserChange::Upsert {
                user: user.clone(),
                mechanism: mechanism.name().to_string(),
                credential: credential.encode(),
            },
            Change::Delete { user, mechanism } => {
                UserChange::Delete { user: user.clone(), mechanism: mechanism.name().to_string() }
            }
        }
    }
}

/// Every SCRAM credential the broker accepts.
pub struct CredentialStore {
    /// From the config file: a user here hides a store user of the same name, and the
    /// online APIs may not change it. Replaced whole when the config is reloaded.
    config_users: RwLock<Arc<Users>>,
    file: CredentialFile,
    /// The store file's users, as of `Stored::stamp`.
    stored: RwLock<Stored>,
    /// Per-process key behind unknown users' fake credentials (see `scram::fake_credential`).
    fake_secret: [u8; 32],
    /// In a cluster, users set online live in the metadata log, not in the file.
    replicated: Option<AccessLink>,
}

struct Stored {
    users: Users,
    stamp: Option<FileStamp>,
    /// In a cluster: the version of the metadata log's users `users` holds.
    synced: u64,
}

impl CredentialStore {
    /// Salts the config's password files and reads `<data_dir>/gregor-credentials.json`.
    pub fn open(config: &Config) -> Result<CredentialStore, CredentialError> {
        let replicated = config.cluster.is_some();
        CredentialStore::with_config_users(config_users(&config.users)?, &config.data_dir, replicated)
    }

    pub(crate) fn with_config_users(
        config_users: Users,
        data_dir: &Path,
        replicated: bool,
    ) -> Result<CredentialStore, CredentialError> {
        let file = CredentialFile::in_dir(data_dir);
        let (users, stamp) = if replicated {
            if file.path().exists() {
                tracing::warn!(file = %file.path().display(), "ignored: in a cluster, SCRAM users set online live in the metadata log");
            }
            (Users::new(), None)
        } else {
            file.read()?
        };
        Ok(CredentialStore {
            config_users: RwLock::new(Arc::new(config_users)),
            file,
            stored: RwLock::new(Stored { users, stamp, synced: 0 }),
            fake_secret: random_bytes(),
            replicated: replicated.then(AccessLink::default),
        })
    }

    /// In a cluster: the metadata log online changes are committed to.
    pub fn attach(&self, log: Arc<dyn AccessLog>) {
        if let Some(link) = &self.replicated {
            link.attach(log);
        }
    }

    /// In a cluster: takes the metadata log's users when they are newer than the ones
    /// held. A credential that does not decode (none should: each was decoded before it
    /// was proposed) is logged and left out.
    pub fn sync(&self, access: &AccessImage) {
        if self.replicated.is_none() || self.read().synced >= access.version {
            return;
        }
        let mut users = Users::new();
        for (name, by_mechanism) in &access.users {
            let mut credentials = UserCredentials::new();
            for (mech_name, encoded) in by_mechanism {
                let decoded = ScramMechanism::from_name(mech_name)
                    .ok_or_else(|| format!("unknown mechanism {mech_name}"))
                    .and_then(|m| ScramCredential::decode(m, encoded).map(|c| (m, c)).map_err(|e| e.message));
                match decoded {
                    Ok((m, c)) => {
                        credentials.insert(m, c);
                    }
                    Err(error) => {
                        tracing::error!(user = %name, mechanism = %mech_name, %error, "metadata log credential left out")
                    }
                }
            }
            if !credentials.is_empty() {
                users.insert(name.clone(), credentials);
            }
        }
        let mut stored = self.stored.write().unwrap_or_else(PoisonError::into_inner);
        if stored.synced < access.version {
            *stored = Stored { users, stamp: None, synced: access.version };
        }
    }

    /// The store file's path, for messages.
    pub fn store_path(&self) -> &Path {
        self.file.path()
    }

    /// The user's credential for a SCRAM mechanism (`None` for PLAIN, which has none of
    /// its own). A config user hides a store user of the same name entirely.
    pub fn lookup(&self, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        let mech = ScramMechanism::from_mechanism(mechanism)?;
        if let Some(credentials) = self.config_users().get(user) {
            return credentials.get(&mech).cloned();
        }
        self.read().users.get(user)?.get(&mech).cloned()
    }

    /// The credential to run an exchange against: the real one, or a fake that fails.
    pub fn scram_or_fake(&self, user: &str, mechanism: ScramMechanism) -> CredentialLookup {
        match self.lookup(user, mechanism.mechanism()) {
            Some(credential) => CredentialLookup { credential, known: true },
            None => CredentialLookup { credential: fake_credential(mechanism, &self.fake_secret, user), known: false },
        }
    }

    pub fn is_config_user(&self, user: &str) -> bool {
        self.config_users().contains_key(user)
    }

    fn config_users(&self) -> Arc<Users> {
        self.config_users.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Takes the users of a reloaded config (password files are read again). On error
    /// the users held so far stay in force.
    pub fn apply_config(&self, config: &Config) -> Result<usize, CredentialError> {
        let users = config_users(&config.users)?;
        let n = users.len();
        *self.config_users.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(users);
        Ok(n)
    }

    /// Every user with the mechanisms and iteration counts it has, by name.
    pub fn list(&self) -> Vec<(String, Vec<(Mechanism, u32)>)> {
        let summary = |c: &UserCredentials| c.iter().map(|(m, c)| (m.mechanism(), c.iterations)).collect();
        let stored = self.read();
        let config_users = self.config_users();
        let mut all: Vec<(String, Vec<(Mechanism, u32)>)> =
            config_users.iter().map(|(n, c)| (n.clone(), summary(c))).collect();
        for (name, credentials) in &stored.users {
            if !config_users.contains_key(name) {
                all.push((name.clone(), summary(credentials)));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn upsert(&self, user: &str, mechanism: Mechanism, credential: ScramCredential) -> Result<(), CredentialError> {
        let mechanism = ScramMechanism::from_mechanism(mechanism).ok_or(CredentialError::NotScram(mechanism.name()))?;
        self.apply(&[Change::Upsert { user: user.to_string(), mechanism, credential }])
    }

    /// Fails with [`CredentialError::NotFound`] when there is nothing to delete.
    pub fn delete(&self, user: &str, mechanism: Mechanism) -> Result<(), CredentialError> {
        let mechanism = ScramMechanism::from_mechanism(mechanism).ok_or(CredentialError::NotScram(mechanism.name()))?;
        self.apply(&[Change::Delete { user: user.to_string(), mechanism }])
    }

    /// Applies all `changes` in order and writes the store once, or none of them. The
    /// file is re-read under its lock first, so changes made meanwhile by `gregor user`
    /// are kept. Writes and fsyncs: call it where blocking for that long is fine.
    pub fn apply(&self, changes: &[Change]) -> Result<(), CredentialError> {
        if let Some(c) = changes.iter().find(|c| self.is_config_user(c.user())) {
            return Err(CredentialError::ConfigUser(c.user().to_string()));
        }
        if let Some(link) = &self.replicated {
            // checked against this node's view; the log applies the changes as they are
            apply_changes(&mut self.read().users.clone(), changes)?;
            let change = AccessChange::Users(changes.iter().map(Change::replicated).collect());
            let access = link.commit(change).map_err(CredentialError::MetadataLog)?;
            self.sync(&access);
            return Ok(());
        }
        // held across the file update so that a concurrent reload cannot install an older version
        let mut stored = self.stored.write().unwrap_or_else(PoisonError::into_inner);
        let ((), users, stamp) = self.file.update(|users| apply_changes(users, changes))?;
        *stored = Stored { users, stamp: Some(stamp), synced: 0 };
        Ok(())
    }

    /// Re-reads the store file if it changed since the last read or write; `Ok(true)`
    /// when it did. On error the users held so far stay in force.
    pub fn reload_if_changed(&self) -> Result<bool, CredentialError> {
        if self.replicated.is_some() {
            return Ok(false);
        }
        let current = self.file.stamp()?;
        if current == self.read().stamp {
            return Ok(false);
        }
        let mut stored = self.stored.write().unwrap_or_else(PoisonError::into_inner);
        let (users, stamp) = self.file.read()?;
        let changed = stamp != stored.stamp;
        *stored = Stored { users, stamp, synced: 0 };
        Ok(changed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Stored> {
        // every writer replaces whole fields, so a panic elsewhere cannot leave them torn
        self.stored.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn apply_changes(users: &mut Users, changes: &[Change]) -> Result<(), CredentialError> {
    for change in changes {
        match change {
            Change::Upsert { user, mechanism, credential } => {
                users.entry(user.clone()).or_default().insert(*mechanism, credential.clone());
            }
            Change::Delete { user, mechanism } => {
                let removed = users.get_mut(user).and_then(|c| c.remove(mechanism));
                if removed.is_none() {
                    return Err(CredentialError::NotFound { user: user.clone(), mechanism: mechanism.name() });
                }
            }
        }
    }
    Ok(())
}

/// The config's users, salted: `scram_sha_*` entries decoded, password files read and
/// salted for both mechanisms at [`ITERATIONS_DEFAULT`] (the password is then dropped).
fn config_users(users: &[UserConfig]) -> Result<Users, CredentialError> {
    let mut out = Users::new();
    for (i, u) in users.iter().enumerate() {
        let key = |k: &str| format!("users[{i}]{k}");
        let explicit = [(ScramMechanism::Sha256, &u.scram_sha_256), (ScramMechanism::Sha512, &u.scram_sha_512)];
        let mut credentials = UserCredentials::new();
        if let Some(path) = &u.password_file {
            if explicit.iter().any(|(_, c)| c.is_some()) {
                let message = "give password_file or scram_sha_256/scram_sha_512, not both".to_string();
                return Err(CredentialError::Config { key: key(""), message });
            }
            let mut password = read_password_file(path)
                .map_err(|message| CredentialError::Config { key: key(".password_file"), message })?;
            for mech in ScramMechanism::ALL {
                credentials.insert(mech, ScramCredential::generate(mech, &password, ITERATIONS_DEFAULT));
            }
            wipe(&mut password);
        }
        for (mech, config) in explicit {
            let Some(c) = config else { continue };
            let encoded = EncodedCredential {
                salt: c.salt.clone(),
                iterations: c.iterations,
                stored_key: c.stored_key.clone(),
                server_key: c.server_key.clone(),
            };
            let field = if mech == ScramMechanism::Sha256 { ".scram_sha_256" } else { ".scram_sha_512" };
            let credential = ScramCredential::decode(mech, &encoded).map_err(|e| CredentialError::Config {
                key: key(&format!("{field}.{}", e.field)),
                message: e.message,
            })?;
            credentials.insert(mech, credential);
        }
        out.insert(u.name.clone(), credentials);
    }
    Ok(out)
}

/// A password from a file (e.g. a mounted Secret): one trailing newline (`\n` or
/// `\r\n`) is not part of it. The error never quotes the content.
pub fn read_password_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut password = Vec::new();
    file.take(PASSWORD_FILE_BYTES_MAX + 1)
        .read_to_end(&mut password)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if password.len() as u64 > PASSWORD_FILE_BYTES_MAX {
        wipe(&mut password);
        return Err(format!("{} is larger than {PASSWORD_FILE_BYTES_MAX} bytes", path.display()));
    }
    trim_newline(&mut password);
    if password.is_empty() {
        return Err(format!("{} holds an empty password", path.display()));
    }
    Ok(password)
}

/// Drops one trailing `\n` or `\r\n` (what editors and `echo` add).
pub fn trim_newline(password: &mut Vec<u8>) {
    if password.last() == Some(&b'\n') {
        password.pop();
        if password.last() == Some(&b'\r') {
            password.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScramCredentialConfig;
    use std::path::PathBuf;

    fn user_config(name: &str) -> UserConfig {
        UserConfig { name: name.into(), password_file: None, scram_sha_256: None, scram_sha_512: None }
    }

    fn scram_config(c: &ScramCredential) -> ScramCredentialConfig {
        let e = c.encode();
        ScramCredentialConfig {
            salt: e.salt,
            iterations: e.iterations,
            stored_key: e.stored_key,
            server_key: e.server_key,
        }
    }

    fn store(dir: &Path, users: &[UserConfig]) -> CredentialStore {
        CredentialStore::with_config_users(config_users(users).unwrap(), dir, false).unwrap()
    }

    fn password_file(dir: &Path, content: &[u8]) -> PathBuf {
        let p = dir.join("pw");
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn in_a_cluster_users_go_through_the_metadata_log() {
        let log = Arc::new(crate::cluster::access::LocalLog::default());
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let config_bob = UserConfig {
            scram_sha_256: Some(scram_config(&ScramCredential::generate(ScramMechanism::Sha256, b"b", 4096))),
            ..user_config("bob")
        };
        let replicated = |dir: &Path| {
            CredentialStore::with_config_users(config_users(std::slice::from_ref(&config_bob)).unwrap(), dir, true)
                .unwrap()
        };
        let (a, b) = (replicated(dir_a.path()), replicated(dir_b.path()));
        a.attach(log.clone());
        b.attach(log.clone());
        let credential = ScramCredential::generate(ScramMechanism::Sha512, b"alice-pw", 4096);
        a.upsert("alice", Mechanism::ScramSha512, credential.clone()).unwrap();
        assert_eq!(a.lookup("alice", Mechanism::ScramSha512), Some(credential.clone()));
        assert_eq!(b.lookup("alice", Mechanism::ScramSha512), None, "until b applies the log");
        b.sync(&log.image());
        assert_eq!(b.lookup("alice", Mechanism::ScramSha512), Some(credential), "keys survive the log's encoding");
        assert!(matches!(b.delete("alice", Mechanism::ScramSha256), Err(CredentialError::NotFound { .. })));
        assert!(matches!(
            b.upsert("bob", Mechanism::ScramSha512, ScramCredential::generate(ScramMechanism::Sha512, b"x", 4096)),
            Err(CredentialError::ConfigUser(_))
        ));
        b.delete("alice", Mechanism::ScramSha512).unwrap();
        a.sync(&log.image());
        assert_eq!(a.lookup("alice", Mechanism::ScramSha512), None);
        assert_eq!(a.list().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["bob".to_string()]);
        assert!(!dir_a.path().join(super::super::credential_file::FILE_NAME).exists());
    }

    #[test]
    fn config_users_from_password_files_and_salted_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let alice =
            UserConfig { password_file: Some(password_file(dir.path(), b"alice-pw\r\n")), ..user_config("alice") };
        let bob_cred = ScramCredential::generate(ScramMechanism::Sha512, b"bob-pw", 4096);
        let bob = UserConfig { scram_sha_512: Some(scram_config(&bob_cred)), ..user_config("bob") };
        let s = store(dir.path(), &[alice, bob]);
        for mech in ScramMechanism::ALL {
            let c = s.lookup("alice", mech.mechanism()).unwrap();
            assert_eq!(c.iterations, ITERATIONS_DEFAULT);
            assert!(c.verify_password(mech, b"alice-pw"), "trailing CRLF is not part of the password");
        }
        assert_eq!(s.lookup("bob", Mechanism::ScramSha512), Some(bob_cred));
        assert_eq!(s.lookup("bob", Mechanism::ScramSha256), None);
        assert_eq!(s.lookup("bob", Mechanism::Plain), None);
        assert_eq!(
            s.list(),
            vec![
                ("alice".to_string(), vec![(Mechanism::ScramSha256, 8192), (Mechanism::ScramSha512, 8192)]),
                ("bob".to_string(), vec![(Mechanism::ScramSha512, 4096)]),
            ]
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = UserConfig { password_file: Some(dir.path().join("nope")), ..user_config("a") };
        let err = config_users(&[user_config("ok"), missing]).unwrap_err().to_string();
        assert!(err.starts_with("config key `users[1].password_file`: cannot read"), "{err}");
        let empty = UserConfig { password_file: Some(password_file(dir.path(), b"\n")), ..user_config("a") };
        assert!(config_users(&[empty]).unwrap_err().to_string().contains("empty password"));
        let mut bad = scram_config(&ScramCredential::generate(ScramMechanism::Sha256, b"x", 4096));
        bad.stored_key = "c2VjcmV0".into();
        let u = UserConfig { scram_sha_256: Some(bad), ..user_config("a") };
        let err = config_users(&[u]).unwrap_err().to_string();
        assert!(err.contains("`users[0].scram_sha_256.stored_key`"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        let both = UserConfig {
            password_file: Some(password_file(dir.path(), b"pw")),
            scram_sha_512: Some(scram_config(&ScramCredential::generate(ScramMechanism::Sha512, b"x", 4096))),
            ..user_config("a")
        };
        assert!(config_users(&[both]).unwrap_err().to_string().contains("not both"));
    }

    #[test]
    fn online_changes_persist_and_config_users_are_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let admin_cred = ScramCredential::generate(ScramMechanism::Sha256, b"a", 4096);
        let admin = UserConfig { scram_sha_256: Some(scram_config(&admin_cred)), ..user_config("admin") };
        let s = store(dir.path(), std::slice::from_ref(&admin));
        let c = ScramCredential::generate(ScramMechanism::Sha512, b"pw", 4096);
        s.upsert("carol", Mechanism::ScramSha512, c.clone()).unwrap();
        assert_eq!(s.lookup("carol", Mechanism::ScramSha512), Some(c.clone()));
        let err = s.upsert("admin", Mechanism::ScramSha512, c.clone()).unwrap_err();
        assert!(matches!(err, CredentialError::ConfigUser(_)));
        assert_eq!(err.response_error(), ResponseError::UnacceptableCredential);
        assert!(matches!(s.upsert("carol", Mechanism::Plain, c.clone()), Err(CredentialError::NotScram("PLAIN"))));
        let err = s.delete("carol", Mechanism::ScramSha256).unwrap_err();
        assert_eq!(err.response_error(), ResponseError::ResourceNotFound);
        // a restarted broker sees the store
        let again = store(dir.path(), &[admin]);
        assert_eq!(again.lookup("carol", Mechanism::ScramSha512), Some(c));
        again.delete("carol", Mechanism::ScramSha512).unwrap();
        assert_eq!(again.list().len(), 1, "only the config user is left");
    }

    #[test]
    fn apply_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[]);
        let c = ScramCredential::generate(ScramMechanism::Sha256, b"pw", 4096);
        let changes = [
            Change::Upsert { user: "dan".into(), mechanism: ScramMechanism::Sha256, credential: c },
            Change::Delete { user: "eve".into(), mechanism: ScramMechanism::Sha256 },
        ];
        assert!(s.apply(&changes).is_err());
        assert!(s.list().is_empty());
        assert!(!s.store_path().exists());
    }

    #[test]
    fn config_users_hide_store_users_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let c = ScramCredential::generate(ScramMechanism::Sha512, b"store", 4096);
        store(dir.path(), &[]).upsert("frank", Mechanism::ScramSha512, c).unwrap();
        let cfg = ScramCredential::generate(ScramMechanism::Sha256, b"config", 4096);
        let frank = UserConfig { scram_sha_256: Some(scram_config(&cfg)), ..user_config("frank") };
        let s = store(dir.path(), &[frank]);
        assert_eq!(s.lookup("frank", Mechanism::ScramSha512), None, "the whole user comes from the config");
        assert_eq!(s.list(), vec![("frank".to_string(), vec![(Mechanism::ScramSha256, 4096)])]);
    }

    #[test]
    fn reload_sees_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let broker = store(dir.path(), &[]);
        let cli = store(dir.path(), &[]);
        assert!(!broker.reload_if_changed().unwrap());
        let c = ScramCredential::generate(ScramMechanism::Sha256, b"pw", 4096);
        cli.upsert("gina", Mechanism::ScramSha256, c.clone()).unwrap();
        assert_eq!(broker.lookup("gina", Mechanism::ScramSha256), None);
        assert!(broker.reload_if_changed().unwrap());
        assert_eq!(broker.lookup("gina", Mechanism::ScramSha256), Some(c));
        assert!(!broker.reload_if_changed().unwrap(), "nothing new");
        // the broker's own write does not count as a change to reload
        broker.delete("gina", Mechanism::ScramSha256).unwrap();
        assert!(!broker.reload_if_changed().unwrap());
        // a broken file keeps the users in force and reports the problem
        std::fs::write(broker.store_path(), "{").unwrap();
        assert!(broker.reload_if_changed().is_err());
        std::fs::remove_file(broker.store_path()).unwrap();
        cli.reload_if_changed().unwrap();
        assert!(cli.list().is_empty(), "a removed file means no store users");
    }

    #[test]
    fn unknown_users_get_a_stable_fake() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[]);
        let a = s.scram_or_fake("nobody", ScramMechanism::Sha256);
        assert!(!a.known);
        assert_eq!(a.credential, s.scram_or_fake("nobody", ScramMechanism::Sha256).credential);
        let other_process = store(dir.path(), &[]);
        assert_ne!(a.credential, other_process.scram_or_fake("nobody", ScramMechanism::Sha256).credential);
    }

    #[test]
    fn newline_trimming() {
        for (input, want) in [(&b"pw\n"[..], &b"pw"[..]), (b"pw\r\n", b"pw"), (b"pw\n\n", b"pw\n"), (b"p w ", b"p w ")]
        {
            let mut v = input.to_vec();
            trim_newline(&mut v);
            assert_eq!(v, want);
        }
    }
}
