//! The credential store file, `<data_dir>/gregor-credentials.json`: the SCRAM users that
//! AlterUserScramCredentials and `gregor user` manage. Written whole and atomically
//! (temp file, fsync, rename, directory fsync) with mode 0600; writers in different
//! processes (a broker and the CLI) take turns through an advisory lock file.

use super::scram::{EncodedCredential, ScramCredential, ScramMechanism};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "gregor-credentials.json";
/// Held (flock) while a process reads, changes and rewrites the store.
const LOCK_FILE_NAME: &str = "gregor-credentials.lock";
const FORMAT_VERSION: u32 = 1;
/// A store this large is not one gregor wrote (a user takes a few hundred bytes).
pub const FILE_BYTES_MAX: u64 = 64 << 20;
/// Owner read/write only: the keys allow offline password guessing.
const FILE_MODE: u32 = 0o600;

/// One user's credentials, by mechanism.
pub type UserCredentials = BTreeMap<ScramMechanism, ScramCredential>;
/// Every user's, by name.
pub type Users = BTreeMap<String, UserCredentials>;

#[derive(Debug, thiserror::Error)]
pub enum CredentialFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Identifies one version of the file. Every rewrite is a rename, which brings a new
/// inode, so a change is seen even when size and mtime happen to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    inode: u64,
    size_bytes: u64,
    mtime_ns: i128,
}

impl FileStamp {
    fn of(m: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            inode: m.ino(),
            size_bytes: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        }
    }
}

/// The file's JSON shape: `{"version": 1, "users": {"alice": {"SCRAM-SHA-256": {…}}}}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    version: u32,
    users: BTreeMap<String, BTreeMap<String, EncodedCredential>>,
}

/// Where the store lives; it holds no data itself.
pub struct CredentialFile {
    path: PathBuf,
    lock_path: PathBuf,
}

impl CredentialFile {
    pub fn in_dir(data_dir: &Path) -> CredentialFile {
        CredentialFile { path: data_dir.join(FILE_NAME), lock_path: data_dir.join(LOCK_FILE_NAME) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, path: &Path) -> impl FnOnce(io::Error) -> CredentialFileError + '_ {
        let path = path.to_path_buf();
        move |source| CredentialFileError::Io { path, source }
    }

    fn invalid(&self, message: impl Into<String>) -> CredentialFileError {
        CredentialFileError::Invalid { path: self.path.clone(), message: message.into() }
    }

    /// The current version's stamp; `None` when there is no file (no users yet).
    pub fn stamp(&self) -> Result<Option<FileStamp>, CredentialFileError> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(Some(FileStamp::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error(&self.path)(e)),
        }
    }

    /// The users and the stamp of the version read (both from one open file).
    pub fn read(&self) -> Result<(Users, Option<FileStamp>), CredentialFileError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Users::new(), None)),
            Err(e) => return Err(self.io_error(&self.path)(e)),
        };
        let meta = file.metadata().map_err(self.io_error(&self.path))?;
        if meta.size() > FILE_BYTES_MAX {
            return Err(self.invalid(format!("larger than {FILE_BYTES_MAX} bytes")));
        }
        let mut text = String::new();
        file.take(FILE_BYTES_MAX).read_to_string(&mut text).map_err(self.io_error(&self.path))?;
        Ok((self.parse(&text)?, Some(FileStamp::of(&meta))))
    }

    fn parse(&self, text: &str) -> Result<Users, CredentialFileError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let stored: Stored = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| self.invalid(format!("`{}`: {}", e.path(), describe_json_error(e.inner()))))?;
        if stored.version != FORMAT_VERSION {
            return Err(self.invalid(format!("format version {} (this gregor reads {FORMAT_VERSION})", stored.version)));
        }
        let mut users = Users::new();
        for (name, by_mechanism) in stored.users {
            if name.is_empty() {
                return Err(self.invalid("`users`: a user name is empty"));
            }
            let mut credentials = UserCredentials::new();
            for (mech_name, encoded) in by_mechanism {
                let mech = ScramMechanism::from_name(&mech_name)
                    .ok_or_else(|| self.invalid(format!("`users.{name}`: unknown mechanism `{mech_name}`")))?;
                let credential = ScramCredential::decode(mech, &encoded)
                    .map_err(|e| self.invalid(format!("`users.{name}.{mech_name}.{}`: {}", e.field, e.message)))?;
                credentials.insert(mech, credential);
            }
            if !credentials.is_empty() {
                users.insert(name, credentials);
            }
        }
        Ok(users)
    }

    /// Under the lock: reads the newest version, lets `change` edit it, and writes the
    /// result. An error from `change` leaves the file as it was.
    pub fn update<T, E: From<CredentialFileError>>(
        &self,
        change: impl FnOnce(&mut Users) -> Result<T, E>,
    ) -> Result<(T, Users, FileStamp), E> {
        let _lock = self.lock()?;
        let (mut users, _) = self.read()?;
        let out = change(&mut users)?;
        users.retain(|_, credentials| !credentials.is_empty());
        let stamp = self.write(&users)?;
        Ok((out, users, stamp))
    }

    fn lock(&self) -> Result<File, CredentialFileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(self.io_error(dir))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&self.lock_path)
            .map_err(self.io_error(&self.lock_path))?;
        // released when the file is dropped (or the process dies)
        file.lock().map_err(self.io_error(&self.lock_path))?;
        Ok(file)
    }

    fn write(&self, users: &Users) -> Result<FileStamp, CredentialFileError> {
        let stored = Stored {
            version: FORMAT_VERSION,
            users: users
                .iter()
                .map(|(name, creds)| {
                    (name.clone(), creds.iter().map(|(m, c)| (m.name().to_string(), c.encode())).collect())
                })
                .collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&stored).map_err(|e| self.invalid(e.to_string()))?;
        bytes.push(b'\n');
        let tmp = self.path.with_extension("json.tmp");
        // a leftover temp file may carry looser permissions than the ones set below
        let _ = std::fs::remove_file(&tmp);
        let write = || -> io::Result<FileStamp> {
            let mut f = OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(&tmp)?;
            f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(FileStamp::of(&std::fs::metadata(&self.path)?))
        };
        write().map_err(self.io_error(&self.path))
    }
}

/// serde's message, unless it could quote a value (serde says "invalid type: string
/// \"…\"", and the value may be a key pasted into the wrong field): then only where.
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Data => {
            let message = e.to_string();
            if message.starts_with("unknown field") || message.starts_with("missing field") {
                return message;
            }
            "a value of the wrong type"
        }
        Category::Syntax | Category::Eof => "not valid JSON",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, mech: ScramMechanism, password: &[u8]) -> (String, UserCredentials) {
        (name.to_string(), [(mech, ScramCredential::generate(mech, password, 4096))].into())
    }

    #[test]
    fn absent_file_is_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let f = CredentialFile::in_dir(dir.path());
        let (users, stamp) = f.read().unwrap();
        assert!(users.is_empty() && stamp.is_none());
        assert_eq!(f.stamp().unwrap(), None);
    }

    #[test]
    fn update_writes_atomically_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let f = CredentialFile::in_dir(&dir.path().join("not-yet"));
        let (a_name, a) = user("alice", ScramMechanism::Sha256, b"a");
        let ((), users, stamp) = f
            .update(|users| {
                users.insert(a_name.clone(), a.clone());
                users.insert("empty".into(), UserCredentials::new());
                Ok::<_, CredentialFileError>(())
            })
            .unwrap();
        assert_eq!(users.keys().collect::<Vec<_>>(), ["alice"], "users without credentials are dropped");
        let (read, read_stamp) = f.read().unwrap();
        assert_eq!(read, users);
        assert_eq!(read_stamp, Some(stamp));
        let mode = std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!f.path().with_extension("json.tmp").exists());
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(text.contains("\"SCRAM-SHA-256\"") && text.contains("\"iterations\": 4096"), "{text}");
    }

    #[test]
    fn a_failed_change_leaves_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let f = CredentialFile::in_dir(dir.path());
        let (n, c) = user("bob", ScramMechanism::Sha512, b"b");
        f.update(|u| Ok::<_, CredentialFileError>(u.insert(n, c))).unwrap();
        let before = f.stamp().unwrap();
        let err = f.update(|u| {
            u.clear();
            Err::<(), _>(f.invalid("no"))
        });
        assert!(err.is_err());
        assert_eq!(f.stamp().unwrap(), before);
        assert_eq!(f.read().unwrap().0.len(), 1);
    }

    #[test]
    fn every_rewrite_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let f = CredentialFile::in_dir(dir.path());
        let (n, c) = user("carol", ScramMechanism::Sha256, b"c");
        let (_, _, s1) = f.update(|u| Ok::<_, CredentialFileError>(u.insert(n.clone(), c.clone()))).unwrap();
        // same content, same size, likely the same mtime tick: the inode still differs
        let (_, _, s2) = f.update(|_| Ok::<_, CredentialFileError>(())).unwrap();
        assert_ne!(s1, s2);
    }

    #[test]
    fn bad_files_are_reported_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = CredentialFile::in_dir(dir.path());
        let good = ScramCredential::generate(ScramMechanism::Sha256, b"x", 4096).encode();
        let cases = [
            ("{", "not valid JSON at line 1"),
            (
                r#"{"version": 1, "users": {"x": {"SCRAM-SHA-256": {"salt": "a", "iterations": "S3CRET",
                "stored_key": "a", "server_key": "a"}}}}"#,
                "`users.x.SCRAM-SHA-256.iterations`: a value of the wrong type",
            ),
            (r#"{"version": 2, "users": {}}"#, "format version 2"),
            (r#"{"version": 1, "users": {}, "extra": 1}"#, "extra"),
            (r#"{"version": 1, "users": {"": {}}}"#, "empty"),
        ];
        for (text, expect) in cases {
            std::fs::write(f.path(), text).unwrap();
            let err = f.read().unwrap_err().to_string();
            assert!(err.contains(expect), "{text}: {err}");
            assert!(!err.contains("S3CRET"), "values are not quoted: {err}");
        }
        let mut stored = Stored { version: 1, users: BTreeMap::new() };
        stored.users.insert("dave".into(), [("SCRAM-SHA-1".to_string(), good.clone())].into());
        std::fs::write(f.path(), serde_json::to_string(&stored).unwrap()).unwrap();
        assert!(f.read().unwrap_err().to_string().contains("users.dave`: unknown mechanism `SCRAM-SHA-1`"));
        let wrong_key = EncodedCredential { stored_key: "AAAA".into(), ..good };
        stored.users.insert("dave".into(), [("SCRAM-SHA-256".to_string(), wrong_key)].into());
        std::fs::write(f.path(), serde_json::to_string(&stored).unwrap()).unwrap();
        let err = f.read().unwrap_err().to_string();
        assert!(err.contains("users.dave.SCRAM-SHA-256.stored_key"), "{err}");
        assert!(!err.contains("AAAA"), "no key material in errors: {err}");
    }
}
