//! The Raft log and the metadata state machine, on disk under `<data_dir>/__cluster_metadata/`.
//!
//! - `log`: entries appended as `[len u32][crc32c u32][json]` and fsynced before the
//!   append is acknowledged; a torn or corrupt tail is cut at open. Truncation and
//!   purging (rare: leader change, snapshot) rewrite the file atomically.
//! - `vote.json`, `committed.json`, `purged.json`: small atomically replaced files.
//! - `snapshot.json`: the image, its last applied log id and membership.
//!
//! The image itself lives in memory and is rebuilt at start from the snapshot plus
//! the committed entries that openraft re-applies.

#![allow(clippy::result_large_err, reason = "openraft's traits return its StorageError; the helpers share it")]

use super::image::{Command, Image, Outcome};
use super::TypeConfig;
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, LogState, RaftLogReader, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Cursor, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub const DIR: &str = "__cluster_metadata";
const LOG: &str = "log";
/// Bound on one stored entry: a corrupt length must not make us allocate wildly.
const ENTRY_BYTES_MAX: usize = 64 << 20;

type NodeId = u64;
type Err = StorageError<NodeId>;

fn write_err(e: impl std::error::Error + 'static) -> Err {
    StorageIOError::write(AnyError::new(&e)).into()
}

fn read_err(e: impl std::error::Error + 'static) -> Err {
    StorageIOError::read(AnyError::new(&e)).into()
}

/// Writes `bytes` to `path` through a fsynced temporary file and a rename.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, Err> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(read_err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_err(e)),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Err> {
    let bytes = serde_json::to_vec(value).map_err(write_err)?;
    replace_file(path, &bytes).map_err(write_err)
}

fn encode_entry(e: &Entry<TypeConfig>, out: &mut Vec<u8>) -> Result<(), Err> {
    let json = serde_json::to_vec(e).map_err(write_err)?;
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&json).to_be_bytes());
    out.extend_from_slice(&json);
    Ok(())
}

/// Reads every whole, valid entry; returns them and the byte length they span.
fn decode_entries(bytes: &[u8]) -> (Vec<Entry<TypeConfig>>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while bytes.len() - pos >= 8 {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
        if len > ENTRY_BYTES_MAX || bytes.len() - pos - 8 < len {
            break;
        }
        let body = &bytes[pos + 8..pos + 8 + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Ok(entry) = serde_json::from_slice(body) else { break };
        out.push(entry);
        pos += 8 + len;
    }
    (out, pos)
}

struct LogInner {
    dir: PathBuf,
    file: std::fs::File,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
}

impl LogInner {
    /// Rewrites the log file with exactly the entries in memory.
    fn rewrite(&mut self) -> Result<(), Err> {
        let mut bytes = Vec::new();
        for e in self.entries.values() {
            encode_entry(e, &mut bytes)?;
        }
        let path = self.dir.join(LOG);
        replace_file(&path, &bytes).map_err(write_err)?;
        self.file = std::fs::OpenOptions::new().append(true).open(&path).map_err(write_err)?;
        Ok(())
    }
}

/// The Raft log; clones share it (openraft reads through a clone while appending).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    pub fn open(dir: &Path) -> Result<LogStore, Err> {
        std::fs::create_dir_all(dir).map_err(write_err)?;
        // the log carries SCRAM keys (users set online): owner only, as the credential file
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).map_err(write_err)?;
        let path = dir.join(LOG);
        let mut bytes = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&path) {
            f.read_to_end(&mut bytes).map_err(read_err)?;
        }
        let (entries, valid) = decode_entries(&bytes);
        if valid < bytes.len() {
            tracing::warn!(path = %path.display(), cut = bytes.len() - valid, "cutting a torn or corrupt tail off the metadata log");
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(write_err)?;
        file.set_len(valid as u64).map_err(write_err)?;
        let inner = LogInner {
            dir: dir.to_path_buf(),
            file,
            entries: entries.into_iter().map(|e| (e.log_id.index, e)).collect(),
            last_purged: read_json(&dir.join("purged.json"))?,
            vote: read_json(&dir.join("vote.json"))?,
            committed: read_json(&dir.join("committed.json"))?,
        };
        Ok(LogStore { inner: Arc::new(Mutex::new(inner)) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, Err> {
        Ok(self.lock().entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, Err> {
        let g = self.lock();
        let last = g.entries.values().next_back().map(|e| e.log_id).or(g.last_purged);
        Ok(LogState { last_purged_log_id: g.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), Err> {
        let mut g = self.lock();
        write_json(&g.dir.join("vote.json"), vote)?;
        g.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, Err> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), Err> {
        let mut g = self.lock();
        write_json(&g.dir.join("committed.json"), &committed)?;
        g.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, Err> {
        Ok(self.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), Err>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut g = self.lock();
        let mut bytes = Vec::new();
        let entries: Vec<_> = entries.into_iter().collect();
        for e in &entries {
            encode_entry(e, &mut bytes)?;
        }
        let written = g.file.write_all(&bytes).and_then(|_| g.file.sync_data());
        if let Err(e) = written {
            let msg = e.to_string();
            callback.log_io_completed(Err(e));
            return Err(write_err(std::io::Error::other(msg)));
        }
        for e in entries {
            g.entries.insert(e.log_id.index, e);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), Err> {
        let mut g = self.lock();
        g.entries.split_off(&log_id.index);
        g.rewrite()
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), Err> {
        let mut g = self.lock();
        write_json(&g.dir.join("purged.json"), &log_id)?;
        g.last_purged = Some(log_id);
        let keep = g.entries.split_off(&(log_id.index + 1));
        g.entries = keep;
        g.rewrite()
    }
}

/// What a snapshot holds.
#[derive(Serialize, Deserialize, Clone, Default)]
struct Stored {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, openraft::BasicNode>,
    image: Image,
}

/// The shared, applied metadata image and the index it has applied up to.
pub struct Applied {
    pub image: RwLock<Arc<Image>>,
    pub index: tokio::sync::watch::Sender<u64>,
}

pub struct StateMachine {
    dir: PathBuf,
    state: Stored,
    applied: Arc<Applied>,
}

impl StateMachine {
    pub fn open(dir: &Path, applied: Arc<Applied>) -> Result<StateMachine, Err> {
        let state: Stored = read_json(&dir.join("snapshot.json"))?.unwrap_or_default();
        let sm = StateMachine { dir: dir.to_path_buf(), state, applied };
        sm.publish();
        Ok(sm)
    }

    fn publish(&self) {
        *self.applied.image.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(self.state.image.clone());
        let index = self.state.last_applied.map_or(0, |l| l.index);
        self.applied.index.send_replace(index);
    }
}

pub struct SnapshotBuilder {
    dir: PathBuf,
    state: Stored,
}

fn snapshot_of(state: &Stored, bytes: Vec<u8>) -> Snapshot<TypeConfig> {
    let id = state.last_applied.map_or_else(|| "empty".to_string(), |l| format!("{}-{}", l.leader_id, l.index));
    Snapshot {
        meta: SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id: id,
        },
        snapshot: Box::new(Cursor::new(bytes)),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, Err> {
        let bytes = serde_json::to_vec(&self.state).map_err(write_err)?;
        replace_file(&self.dir.join("snapshot.json"), &bytes).map_err(write_err)?;
        Ok(snapshot_of(&self.state, bytes))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, openraft::BasicNode>), Err> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, Err>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        for e in entries {
            self.state.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(Outcome::Applied),
                EntryPayload::Normal(cmd) => {
                    let outcome = self.state.image.apply(&cmd);
                    log_applied(&cmd, &outcome);
                    out.push(outcome);
                }
                EntryPayload::Membership(m) => {
                    self.state.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(Outcome::Applied);
                }
            }
        }
        self.publish();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { dir: self.dir.clone(), state: self.state.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, Err> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), Err> {
        let bytes = snapshot.into_inner();
        let state: Stored = serde_json::from_slice(&bytes).map_err(read_err)?;
        replace_file(&self.dir.join("snapshot.json"), &bytes).map_err(write_err)?;
        self.state = state;
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, Err> {
        let path = self.dir.join("snapshot.json");
        let Some(state) = read_json::<Stored>(&path)? else { return Ok(None) };
        let bytes = std::fs::read(&path).map_err(read_err)?;
        Ok(Some(snapshot_of(&state, bytes)))
    }
}

fn log_applied(cmd: &Command, outcome: &Outcome) {
    match outcome {
        Outcome::Applied => match cmd {
            Command::AlterIsr { topic, partition, isr, .. } => {
                tracing::info!(%topic, partition, ?isr, "ISR changed")
            }
            Command::FenceBroker { id, .. } => tracing::info!(broker = id, "broker fenced"),
            Command::RegisterBroker { id, .. } => tracing::info!(broker = id, "broker registered"),
            other => tracing::debug!(command = ?other, "metadata applied"),
        },
        Outcome::Rejected(why) => tracing::debug!(command = ?cmd, %why, "metadata command rejected"),
        Outcome::ProducerIds { first } => tracing::debug!(command = ?cmd, first, "producer ids allocated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_and_whole_entries_survive() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 1..=3 {
            let e = Entry::<TypeConfig> {
                log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), i),
                payload: EntryPayload::Normal(Command::DeleteTopic { name: format!("t{i}") }),
            };
            encode_entry(&e, &mut bytes).unwrap();
        }
        let whole = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 40, 1, 2]);
        std::fs::write(dir.path().join(LOG), &bytes).unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.lock().entries.len(), 3);
        assert_eq!(std::fs::metadata(dir.path().join(LOG)).unwrap().len() as usize, whole);
        // a flipped byte in the last entry cuts it too
        bytes.truncate(whole);
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        std::fs::write(dir.path().join(LOG), &bytes).unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.lock().entries.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    }
}
