//! One partition on this node: its log and its replica state behind one lock.
//!
//! The lock is a plain mutex held only for the duration of a page-cache append
//! or read, never across an await.

use super::error::BrokerError;
use super::producer_snapshot;
use super::producer_state::{BatchMeta, ProducerStates, Verdict};
use super::replica_state::ReplicaState;
pub use super::replica_state::{IsrProposal, Role};
use crate::log::batch::BatchHeader;
use crate::log::{AppendInfo, Log, LogSettings};
use bytes::Bytes;
use std::path::Path;
use std::sync::Mutex;

/// The file Kafka uses to record at which offset each leader epoch began.
const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// This replica's high watermark, so that a restarted replica does not expose
/// records it never knew to be committed.
const HIGH_WATERMARK_CHECKPOINT: &str = "high-watermark-checkpoint";

/// What a leader's ISR could become.
pub struct IsrCandidates {
    pub isr: Vec<i32>,
    /// ISR members that fell behind.
    pub lagging: Vec<i32>,
    /// Replicas outside the ISR that caught up.
    pub ready: Vec<i32>,
    /// The change already proposed, until the controller's answer is applied.
    pub pending: Option<IsrProposal>,
}

pub struct Partition {
    pub index: i32,
    inner: Mutex<Inner>,
}

struct Inner {
    log: Log,
    state: ReplicaState,
    /// (leader epoch, first offset written in it), ascending: Kafka's epoch cache.
    epochs: Vec<(i32, i64)>,
    /// The HW last written to the high-watermark checkpoint.
    checkpointed_hw: i64,
    /// Set when this follower's leader changed: it must find where its log diverges
    /// from the new leader's (OffsetForLeaderEpoch) before fetching.
    needs_truncation: bool,
    /// Idempotent-producer state, rebuilt from snapshot + log at open.
    producers: ProducerStates,
}

/// What an append did: appended, or recognised as a retry of an earlier batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub info: AppendInfo,
    pub log_start_offset: i64,
    pub duplicate: bool,
}

/// Offsets of a partition at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub log_start: i64,
    pub high_watermark: i64,
    pub log_end: i64,
    pub leader_epoch: i32,
    pub leader_id: i32,
}

/// A read and the offsets it was made against.
pub struct PartitionRead {
    pub records: Bytes,
    pub offsets: Offsets,
}

impl Partition {
    /// Opens (recovering if needed) the partition's log and takes leadership:
    /// a single node leads every partition it holds.
    pub fn open(
        dir: &Path,
        index: i32,
        settings: LogSettings,
        clean_shutdown: bool,
        node_id: i32,
        now_ms: i64,
    ) -> Result<Partition, BrokerError> {
        let (log, producers, mut epochs) = open_parts(dir, settings, clean_shutdown, now_ms)?;
        let storage = |e: std::io::Error| BrokerError::Storage(format!("{}: {e}", dir.display()));
        let leader_epoch = epochs.last().map_or(0, |e| e.0);
        if epochs.is_empty() {
            epochs.push((leader_epoch, log.log_start_offset()));
            write_epoch_checkpoint(dir, &epochs).map_err(storage)?;
        }
        let leo = log.log_end_offset();
        let role =
            Role { leader_id: node_id, leader_epoch, partition_epoch: 0, replicas: vec![node_id], isr: vec![node_id] };
        let state = ReplicaState::new_leader(node_id, role, leo, leo, now_ms);
        let inner = Inner { log, state, producers, epochs, checkpointed_hw: leo, needs_truncation: false };
        Ok(Partition { index, inner: Mutex::new(inner) })
    }

    /// Opens a replica of a cluster partition. It leads or follows once the
    /// controller says which (`become_leader`, `become_follower`); until then it
    /// follows nobody. Its HW is the checkpointed one, never past its log end.
    pub fn open_replica(
        dir: &Path,
        index: i32,
        settings: LogSettings,
        clean_shutdown: bool,
        node_id: i32,
        now_ms: i64,
    ) -> Result<Partition, BrokerError> {
        let (log, producers, mut epochs) = open_parts(dir, settings, clean_shutdown, now_ms)?;
        let leo = log.log_end_offset();
        epochs.retain(|(_, start)| *start <= leo);
        let hw = std::fs::read_to_string(dir.join(HIGH_WATERMARK_CHECKPOINT))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(log.log_start_offset())
            .clamp(log.log_start_offset(), leo);
        let state = ReplicaState::new_follower(node_id, Role::unassigned(), leo, hw);
        let inner = Inner { log, state, producers, epochs, checkpointed_hw: hw, needs_truncation: true };
        Ok(Partition { index, inner: Mutex::new(inner) })
    }

    pub fn role(&self) -> Role {
        self.lock().state.role().clone()
    }

    /// (leader, leader epoch), without copying the replica lists.
    pub fn leadership(&self) -> (i32, i32) {
        let g = self.lock();
        (g.state.leader_id(), g.state.leader_epoch())
    }

    pub fn is_leader(&self) -> bool {
        self.lock().state.is_leader()
    }

    /// Leads from `role.leader_epoch` on: the epoch starts at the current log end.
    pub fn become_leader(&self, node_id: i32, role: Role, now_ms: i64) {
        let mut g = self.lock();
        let leo = g.log.log_end_offset();
        let hw = g.state.high_watermark();
        let epoch = role.leader_epoch;
        g.state = ReplicaState::new_leader(node_id, role, leo, hw, now_ms);
        g.needs_truncation = false;
        if g.epochs.last().is_none_or(|(e, _)| *e < epoch) {
            g.epochs.push((epoch, leo));
            let dir = g.log.dir().to_path_buf();
            if let Err(e) = write_epoch_checkpoint(&dir, &g.epochs) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot write the leader-epoch checkpoint");
            }
        }
        tracing::info!(dir = %g.log.dir().display(), epoch, log_end = leo, high_watermark = hw, "leading");
    }

    /// Follows `role.leader_id` (-1: nobody yet); fetching waits for truncation.
    pub fn become_follower(&self, node_id: i32, role: Role) {
        let mut g = self.lock();
        let leo = g.log.log_end_offset();
        let hw = g.state.high_watermark();
        g.state = ReplicaState::new_follower(node_id, role, leo, hw);
        g.needs_truncation = true;
    }

    /// Same leader and epoch, a new partition epoch. Returns whether the HW moved.
    pub fn set_membership(&self, role: Role, now_ms: i64) -> bool {
        self.lock().state.set_membership(role, now_ms)
    }

    /// Leader: records an ISR change as proposed (the HW counts its additions
    /// from now on); `None` when one is already out.
    pub fn propose_isr(&self, isr: Vec<i32>) -> Option<IsrProposal> {
        self.lock().state.propose_isr(isr)
    }

    /// The controller refused the proposal made at `partition_epoch`, changing nothing.
    pub fn isr_refused(&self, partition_epoch: i32) {
        self.lock().state.isr_refused(partition_epoch)
    }

    pub fn needs_truncation(&self) -> bool {
        self.lock().needs_truncation
    }

    /// The latest epoch this replica holds records of (or started leading), -1 if none.
    pub fn last_epoch(&self) -> i32 {
        self.lock().epochs.last().map_or(-1, |e| e.0)
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `epoch` this replica knows, and the
    /// offset where it ended (the next epoch's start, or the log end for the latest).
    pub fn epoch_end_offset(&self, epoch: i32) -> (i32, i64) {
        let g = self.lock();
        epoch_end(&g.epochs, epoch, g.log.log_end_offset())
    }

    /// Where this follower's log diverges from its leader's, given the leader's
    /// answer to its last epoch (`truncation_point`).
    pub fn truncation_point(&self, leader_epoch: i32, leader_end: i64) -> (i64, bool) {
        let g = self.lock();
        let (leo, hw) = (g.log.log_end_offset(), g.state.high_watermark());
        let (offset, done) = truncation_point(&g.epochs, leo, hw, leader_epoch, leader_end);
        (offset.max(g.log.log_start_offset()), done)
    }

    /// Cuts the log at `offset` (a divergent tail, or an unclean leader's past) and
    /// rebuilds what depends on the tail: the epoch cache and producer state.
    /// Epochs starting at or past the new log end go even when no record is cut
    /// (an epoch this replica led without writing): kept, one would claim the
    /// records the next leader writes at those offsets in an older epoch.
    /// Unless `done`, the follower asks its leader again before fetching.
    pub fn truncate_to(&self, offset: i64, done: bool, now_ms: i64) -> Result<(), BrokerError> {
        let mut g = self.lock();
        let leo = g.log.log_end_offset();
        let dir = g.log.dir().to_path_buf();
        if offset < leo {
            tracing::info!(dir = %dir.display(), from = leo, to = offset, "truncating a divergent tail");
            g.log.truncate_to(offset)?;
            g.producers = load_producer_state(&dir, &g.log, now_ms)?;
        }
        let leo = g.log.log_end_offset();
        let epochs = g.epochs.len();
        g.epochs.retain(|(_, start)| *start < leo);
        if g.epochs.len() != epochs {
            write_epoch_checkpoint(&dir, &g.epochs).map_err(|e| BrokerError::Storage(e.to_string()))?;
        }
        g.state.on_truncate(leo);
        g.needs_truncation = !done;
        Ok(())
    }

    /// Appends what the leader sent (offsets as the leader assigned them), up to
    /// the last whole batch.
    pub fn append_as_follower(&self, records: &Bytes, now_ms: i64) -> Result<usize, BrokerError> {
        let (headers, whole) = crate::log::batch::split_fetched(records)?;
        let records = records.slice(..whole);
        let mut g = self.lock();
        let leo = g.log.log_end_offset();
        // a fetch may start inside a batch the follower already has: skip whole batches below its end
        let mut skip = 0;
        let mut first = 0;
        for h in &headers {
            if h.last_offset() < leo {
                skip += h.size_bytes();
                first += 1;
            } else {
                break;
            }
        }
        let headers = &headers[first..];
        if headers.is_empty() {
            return Ok(0);
        }
        // compaction may leave a gap before the next batch, never an overlap
        if headers[0].base_offset < leo {
            return Err(BrokerError::CorruptMessage(format!(
                "leader sent offset {} but this replica's log ends at {leo}",
                headers[0].base_offset
            )));
        }
        let records = records.slice(skip..);
        g.log.append_as_follower(&records, headers, now_ms)?;
        let mut epochs_changed = false;
        for h in headers {
            if g.epochs.last().is_none_or(|(e, _)| *e < h.partition_leader_epoch) {
                g.epochs.push((h.partition_leader_epoch, h.base_offset));
                epochs_changed = true;
            }
            if h.producer_id >= 0 {
                let meta = BatchMeta {
                    first_seq: h.base_sequence,
                    last_seq: h.last_sequence(),
                    first_offset: h.base_offset,
                    last_offset: h.last_offset(),
                    max_timestamp: h.max_timestamp,
                };
                if g.producers.get(h.producer_id).is_none_or(|e| h.producer_epoch >= e.epoch) {
                    g.producers.record(h.producer_id, h.producer_epoch, meta, now_ms);
                }
            }
        }
        if epochs_changed {
            let dir = g.log.dir().to_path_buf();
            write_epoch_checkpoint(&dir, &g.epochs).map_err(|e| BrokerError::Storage(e.to_string()))?;
        }
        let leo = g.log.log_end_offset();
        g.state.on_follower_append(leo);
        Ok(records.len())
    }

    /// A follower learnt its leader's HW. Returns whether its own moved.
    pub fn follower_high_watermark(&self, hw: i64) -> bool {
        self.lock().state.on_leader_high_watermark(hw)
    }

    /// A follower's fetch, served by the leader: records up to the log end (not
    /// the HW), and the follower's progress recorded. Returns the read and whether
    /// the HW moved.
    pub fn read_for_follower(
        &self,
        replica: i32,
        offset: i64,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<(PartitionRead, bool), BrokerError> {
        let mut g = self.lock();
        if !g.state.is_leader() {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let leo = g.log.log_end_offset();
        if offset > leo || offset < g.log.log_start_offset() {
            return Err(BrokerError::OffsetOutOfRange { offset, log_start: g.log.log_start_offset(), log_end: leo });
        }
        let moved = g.state.on_follower_fetch(replica, offset, now_ms);
        let offsets = offsets_of(&g);
        let read = g.log.read(offset, max_bytes, leo, true)?;
        Ok((PartitionRead { records: read.records, offsets }, moved))
    }

    /// Leader: ISR members that fell behind, and caught-up replicas outside it.
    pub fn isr_candidates(&self, now_ms: i64, lag_max_ms: i64) -> Option<IsrCandidates> {
        let g = self.lock();
        if !g.state.is_leader() {
            return None;
        }
        Some(IsrCandidates {
            isr: g.state.isr().to_vec(),
            lagging: g.state.lagging_isr_members(now_ms, lag_max_ms),
            ready: g.state.caught_up_outside_isr(),
            pending: g.state.pending_isr(),
        })
    }

    /// Writes the HW checkpoint when it moved since the last one.
    pub fn checkpoint_high_watermark(&self) {
        let mut g = self.lock();
        let hw = g.state.high_watermark();
        if hw == g.checkpointed_hw {
            return;
        }
        let dir = g.log.dir().to_path_buf();
        let tmp = dir.join(format!("{HIGH_WATERMARK_CHECKPOINT}.tmp"));
        let write = std::fs::write(&tmp, hw.to_string())
            .and_then(|_| std::fs::rename(&tmp, dir.join(HIGH_WATERMARK_CHECKPOINT)));
        match write {
            Ok(()) => g.checkpointed_hw = hw,
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot write the high-watermark checkpoint"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a panic while holding the lock leaves the log consistent on disk (appends are
        // single writes); recover the guard rather than poisoning the partition forever
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ISR size, for `min.insync.replicas`.
    pub fn isr_len(&self) -> usize {
        self.lock().state.isr().len()
    }

    pub fn offsets(&self) -> Offsets {
        let g = self.lock();
        offsets_of(&g)
    }

    pub fn size_bytes(&self) -> u64 {
        self.lock().log.size_bytes()
    }

    /// Appends validated batches as leader, after the idempotent-producer checks;
    /// a retried batch is acknowledged with its original offsets and not appended.
    pub fn append(
        &self,
        records: &Bytes,
        headers: &[BatchHeader],
        log_append_time_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<Appended, BrokerError> {
        let mut g = self.lock();
        if !g.state.is_leader() {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        if let [h] = headers {
            if h.producer_id >= 0 {
                if let Verdict::Duplicate(b) =
                    g.producers.check(h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence())?
                {
                    let info = AppendInfo {
                        first_offset: b.first_offset,
                        last_offset: b.last_offset,
                        log_append_time_ms: None,
                    };
                    return Ok(Appended { info, log_start_offset: g.log.log_start_offset(), duplicate: true });
                }
            }
        } else {
            assert!(headers.iter().all(|h| h.producer_id < 0), "idempotent produce carries exactly one batch");
        }
        let epoch = g.state.leader_epoch();
        let segments_before = g.log.segment_count();
        let info = g.log.append(records, headers, epoch, log_append_time_ms, now_ms)?;
        if let [h] = headers {
            if h.producer_id >= 0 {
                let meta = BatchMeta {
                    first_seq: h.base_sequence,
                    last_seq: h.last_sequence(),
                    first_offset: info.first_offset,
                    last_offset: info.last_offset,
                    max_timestamp: h.max_timestamp,
                };
                g.producers.record(h.producer_id, h.producer_epoch, meta, now_ms);
            }
        }
        let leo = g.log.log_end_offset();
        g.state.on_local_append(leo);
        if g.log.segment_count() != segments_before {
            // the log rolled: snapshot so that recovery replays only the new segment
            if let Err(e) = producer_snapshot::write(g.log.dir(), leo, &g.producers) {
                tracing::warn!(partition = self.index, error = %e, "cannot write producer-state snapshot");
            }
        }
        Ok(Appended { info, log_start_offset: g.log.log_start_offset(), duplicate: false })
    }

    /// Reads committed data (up to the high watermark) from `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<PartitionRead, BrokerError> {
        let g = self.lock();
        if !g.state.is_leader() {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let offsets = offsets_of(&g);
        let read = g.log.read(offset, max_bytes, offsets.high_watermark, min_one_batch)?;
        Ok(PartitionRead { records: read.records, offsets })
    }

    /// Reads everything this replica holds from `offset`, past the HW up to its log
    /// end: for the group coordinator's loader (a new leader's log is the truth).
    pub fn read_to_log_end(&self, offset: i64, max_bytes: usize) -> Result<PartitionRead, BrokerError> {
        let g = self.lock();
        let offsets = offsets_of(&g);
        let read = g.log.read(offset, max_bytes, g.log.log_end_offset(), true)?;
        Ok(PartitionRead { records: read.records, offsets })
    }

    /// First offset with timestamp ≥ `ts` (and that timestamp), below the HW.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, BrokerError> {
        let g = self.lock();
        Ok(g.log.offset_for_timestamp(ts, g.state.high_watermark())?)
    }

    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let g = self.lock();
        g.log.max_timestamp().filter(|(off, _)| *off < g.state.high_watermark())
    }

    pub fn set_settings(&self, settings: LogSettings) {
        self.lock().log.set_settings(settings);
    }

    /// Periodic work: flush.ms and retention. Returns segments deleted.
    pub fn tick(&self, now_ms: i64, retention: bool, producer_expiration_ms: i64) -> Result<usize, BrokerError> {
        let mut g = self.lock();
        g.producers.expire(now_ms, producer_expiration_ms);
        g.log.tick(now_ms)?;
        if !retention {
            return Ok(0);
        }
        let cleaned = g.log.compact(now_ms)?;
        if cleaned.records_removed > 0 {
            tracing::info!(
                partition = self.index,
                records = cleaned.records_removed,
                segments = cleaned.segments_rewritten,
                "log compacted"
            );
        }
        let deleted = g.log.apply_retention(now_ms)?;
        let log_start = g.log.log_start_offset();
        g.producers.remove_below(log_start);
        Ok(deleted)
    }

    pub fn flush(&self, now_ms: i64) -> Result<(), BrokerError> {
        Ok(self.lock().log.flush(now_ms)?)
    }

    /// Flushes and snapshots producer state (clean shutdown).
    pub fn close(&self, now_ms: i64) -> Result<(), BrokerError> {
        let mut g = self.lock();
        g.log.flush(now_ms)?;
        let leo = g.log.log_end_offset();
        producer_snapshot::write(g.log.dir(), leo, &g.producers).map_err(|e| BrokerError::Storage(e.to_string()))
    }

    pub fn segment_count(&self) -> usize {
        self.lock().log.segment_count()
    }

    /// Offsets, size and replica counts in one look, for the metrics scrape.
    pub fn stats(&self) -> crate::metrics::scrape::PartitionStats {
        let g = self.lock();
        let offsets = offsets_of(&g);
        crate::metrics::scrape::PartitionStats {
            log_start_offset: offsets.log_start,
            log_end_offset: offsets.log_end,
            high_watermark: offsets.high_watermark,
            size_bytes: g.log.size_bytes(),
            segments: g.log.segment_count(),
            replicas: g.state.replicas().len(),
            in_sync_replicas: g.state.isr().len(),
            has_leader: offsets.leader_id >= 0,
        }
    }
}

/// (leader epoch, first offset written in it), ascending.
type EpochCache = Vec<(i32, i64)>;

/// The log (recovered), its producer state and its epoch cache: what every way of
/// opening a partition starts from.
fn open_parts(
    dir: &Path,
    settings: LogSettings,
    clean_shutdown: bool,
    now_ms: i64,
) -> Result<(Log, ProducerStates, EpochCache), BrokerError> {
    let log = Log::open(dir, settings, clean_shutdown, now_ms)?;
    let producers = load_producer_state(dir, &log, now_ms)?;
    let epochs = read_epoch_checkpoint(dir).map_err(|e| BrokerError::Storage(format!("{}: {e}", dir.display())))?;
    Ok((log, producers, epochs))
}

/// Newest valid snapshot at or below the log end, then the batch headers after it.
fn load_producer_state(dir: &Path, log: &Log, now_ms: i64) -> Result<ProducerStates, BrokerError> {
    let storage = |e: std::io::Error| BrokerError::Storage(format!("{}: {e}", dir.display()));
    let leo = log.log_end_offset();
    producer_snapshot::remove_after(dir, leo).map_err(storage)?;
    let mut states = ProducerStates::default();
    let mut from = log.log_start_offset();
    for offset in producer_snapshot::list(dir).map_err(storage)? {
        if let Some(s) = producer_snapshot::read(dir, offset).map_err(storage)? {
            states = s;
            from = offset.max(from);
            break;
        }
        tracing::warn!(dir = %dir.display(), offset, "ignoring corrupt producer-state snapshot");
    }
    for h in log.batch_headers_from(from)? {
        if h.producer_id >= 0 && h.last_offset() >= from {
            let meta = BatchMeta {
                first_seq: h.base_sequence,
                last_seq: h.last_sequence(),
                first_offset: h.base_offset,
                last_offset: h.last_offset(),
                max_timestamp: h.max_timestamp,
            };
            if states.get(h.producer_id).is_none_or(|e| h.producer_epoch >= e.epoch) {
                // replayed batches count as activity now: expiry restarts after a restart
                states.record(h.producer_id, h.producer_epoch, meta, now_ms);
            }
        }
    }
    states.remove_below(log.log_start_offset());
    Ok(states)
}

fn offsets_of(g: &Inner) -> Offsets {
    Offsets {
        log_start: g.log.log_start_offset(),
        high_watermark: g.state.high_watermark(),
        log_end: g.log.log_end_offset(),
        leader_epoch: g.state.leader_epoch(),
        leader_id: g.state.leader_id(),
    }
}

/// Kafka's text format: version, entry count, then `epoch start_offset` lines.
fn write_epoch_checkpoint(dir: &Path, epochs: &[(i32, i64)]) -> std::io::Result<()> {
    let mut text = format!("0\n{}\n", epochs.len());
    for (epoch, start) in epochs {
        text.push_str(&format!("{epoch} {start}\n"));
    }
    let tmp = dir.join(format!("{LEADER_EPOCH_CHECKPOINT}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, dir.join(LEADER_EPOCH_CHECKPOINT))
}

/// The epoch cache; missing or unreadable lines give an empty cache (it is rebuilt
/// as the replica leads or fetches).
fn read_epoch_checkpoint(dir: &Path) -> std::io::Result<Vec<(i32, i64)>> {
    let text = match std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out: Vec<(i32, i64)> = Vec::new();
    for line in text.lines().skip(2) {
        let mut parts = line.split_whitespace();
        let (Some(Ok(epoch)), Some(Ok(start))) = (parts.next().map(str::parse), parts.next().map(str::parse)) else {
            continue;
        };
        if out.last().is_none_or(|(e, s)| *e < epoch && *s <= start) {
            out.push((epoch, start));
        }
    }
    Ok(out)
}

/// The largest epoch ≤ `epoch` in `epochs` and where it ended; (-1, -1) when the
/// cache starts after `epoch`.
pub(crate) fn epoch_end(epochs: &[(i32, i64)], epoch: i32, log_end: i64) -> (i32, i64) {
    match epochs.iter().rposition(|(e, _)| *e <= epoch) {
        None => (-1, -1),
        Some(i) => (epochs[i].0, epochs.get(i + 1).map_or(log_end, |next| next.1)),
    }
}

/// Where a follower's log stops agreeing with its leader's, from the leader's
/// OffsetForLeaderEpoch answer (`leader_epoch`, `leader_end`) to the follower's
/// last epoch: (offset to truncate to, whether that is final).
///
/// Kafka's rule: the leader answers the largest epoch it has ≤ the one asked and
/// where it ended. When the follower holds that epoch, both logs agree up to the
/// smaller of the two ends. When it does not, its records past its own largest
/// epoch below that one are not the leader's: it cuts there and asks again with
/// that older epoch; when it holds none below, nothing from its first epoch on is
/// the leader's. A leader that knows no epoch so old leaves the follower only
/// what it knows committed.
pub(crate) fn truncation_point(
    epochs: &[(i32, i64)],
    log_end: i64,
    high_watermark: i64,
    leader_epoch: i32,
    leader_end: i64,
) -> (i64, bool) {
    if leader_epoch < 0 {
        return (high_watermark.min(log_end), true);
    }
    match epoch_end(epochs, leader_epoch, log_end) {
        // every epoch the follower holds is newer than any the leader shares: none
        // of its records are the leader's (an empty cache knows nothing to cut)
        (-1, _) => (epochs.first().map_or(leader_end, |(_, start)| leader_end.min(*start)).min(log_end), true),
        (ours, end) if ours == leader_epoch => (end.min(leader_end).min(log_end), true),
        (_, end) => (end.min(log_end), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{self, tests::make_idempotent_batch};

    #[test]
    fn truncation_asks_again_when_the_follower_lacks_the_leaders_epoch() {
        // the follower wrote e1 up to 27 and led e3 from there; the leader's e2 began
        // at 21 (where its e1 ended) and ends at 30
        let follower = [(0, 0), (1, 12), (3, 27)];
        assert_eq!(truncation_point(&follower, 29, 13, 2, 30), (27, false), "cut past e1 and ask about e1");
        assert_eq!(truncation_point(&follower[..2], 27, 13, 1, 21), (21, true));
        // holding the leader's epoch: agree up to the smaller end
        assert_eq!(truncation_point(&follower, 29, 13, 3, 28), (28, true));
        assert_eq!(truncation_point(&follower, 29, 13, 1, 40), (27, true));
        // nothing that old on either side
        assert_eq!(truncation_point(&follower, 29, 13, -1, -1), (13, true));
        assert_eq!(truncation_point(&[(4, 10)], 29, 13, 2, 12), (10, true));
        assert_eq!(truncation_point(&[], 29, 13, 2, 12), (12, true));
    }

    fn settings() -> LogSettings {
        LogSettings {
            segment_bytes: 300,
            segment_ms: i64::MAX,
            index_interval_bytes: 0,
            index_entries_max: 100,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            retention_ms: -1,
            retention_bytes: -1,
            compact: false,
            delete_retention_ms: 0,
        }
    }

    fn role(leader: i32, epoch: i32, replicas: &[i32]) -> Role {
        Role {
            leader_id: leader,
            leader_epoch: epoch,
            partition_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
        }
    }

    fn produce(p: &Partition, pid: i64, epoch: i16, seq: i32, count: i32) -> Result<Appended, BrokerError> {
        let b = Bytes::from(make_idempotent_batch(count, 1, pid, epoch, seq));
        let h = batch::split_and_validate(&b, 1 << 20).unwrap();
        p.append(&b, &h, None, 1)
    }

    #[test]
    fn epoch_end_offsets_follow_kafkas_rules() {
        let epochs = [(0, 0), (2, 10), (5, 30)];
        assert_eq!(epoch_end(&epochs, 0, 50), (0, 10));
        assert_eq!(epoch_end(&epochs, 1, 50), (0, 10));
        assert_eq!(epoch_end(&epochs, 4, 50), (2, 30));
        assert_eq!(epoch_end(&epochs, 5, 50), (5, 50));
        assert_eq!(epoch_end(&epochs, 9, 50), (5, 50));
        assert_eq!(epoch_end(&[(3, 7)], 1, 50), (-1, -1));
    }

    #[test]
    fn a_follower_copies_its_leader_and_truncates_a_divergent_tail() {
        let ld = tempfile::tempdir().unwrap();
        let fd = tempfile::tempdir().unwrap();
        let leader = Partition::open_replica(ld.path(), 0, settings(), true, 1, 0).unwrap();
        leader.become_leader(1, role(1, 3, &[1, 2]), 0);
        let follower = Partition::open_replica(fd.path(), 0, settings(), true, 2, 0).unwrap();
        follower.become_follower(2, role(1, 3, &[1, 2]));
        assert!(matches!(produce(&follower, 42, 0, 0, 1), Err(BrokerError::NotLeaderOrFollower)));
        for seq in 0..4 {
            produce(&leader, 42, 0, seq * 2, 2).unwrap();
        }
        assert_eq!(leader.offsets().high_watermark, 0, "the follower has not fetched");
        // a read stops at a segment end: fetch until caught up, as the fetcher does
        while follower.offsets().log_end < 8 {
            let (read, _) = leader.read_for_follower(2, follower.offsets().log_end, 1 << 20, 1).unwrap();
            assert!(follower.append_as_follower(&read.records, 1).unwrap() > 0);
        }
        assert_eq!(follower.epoch_end_offset(3), (3, 8));
        let (_, moved) = leader.read_for_follower(2, 8, 1 << 20, 2).unwrap();
        assert!(moved);
        assert_eq!(leader.offsets().high_watermark, 8);
        assert!(follower.follower_high_watermark(8));
        // the follower's copy rebuilt producer state: a retry is a duplicate once it leads
        follower.become_leader(2, Role { isr: vec![2], ..role(2, 4, &[1, 2]) }, 3);
        assert!(produce(&follower, 42, 0, 6, 2).unwrap().duplicate);
        // the old leader appended alone in epoch 3 after the new leader took over at 8
        produce(&leader, 42, 0, 8, 2).unwrap();
        leader.become_follower(1, Role { isr: vec![2], ..role(2, 4, &[1, 2]) });
        let (epoch, end) = follower.epoch_end_offset(leader.last_epoch());
        assert_eq!((epoch, end), (3, 8));
        leader.truncate_to(end, true, 4).unwrap();
        assert_eq!(leader.offsets().log_end, 8);
        assert_eq!(leader.offsets().high_watermark, 8, "the committed prefix stays committed");
    }

    #[test]
    fn truncating_nothing_still_drops_an_epoch_led_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open_replica(dir.path(), 0, settings(), true, 1, 0).unwrap();
        p.become_leader(1, role(1, 3, &[1, 2]), 0);
        produce(&p, 42, 0, 0, 2).unwrap();
        // leads epoch 5 from offset 2, writes nothing, and loses the leadership
        p.become_leader(1, role(1, 5, &[1, 2]), 0);
        assert_eq!(p.last_epoch(), 5);
        p.become_follower(1, role(2, 6, &[1, 2]));
        p.truncate_to(2, true, 1).unwrap();
        assert_eq!(p.offsets().log_end, 2);
        assert_eq!(p.last_epoch(), 3, "epoch 5 holds no record here");
        drop(p);
        let p = Partition::open_replica(dir.path(), 0, settings(), true, 1, 0).unwrap();
        assert_eq!(p.last_epoch(), 3, "the checkpoint says so too");
    }

    #[test]
    fn duplicates_are_detected_across_clean_and_unclean_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path(), 0, settings(), false, 1, 0).unwrap();
        let mut seq = 0;
        for _ in 0..6 {
            let a = produce(&p, 42, 0, seq, 3).unwrap();
            assert!(!a.duplicate);
            seq += 3;
        }
        assert!(p.segment_count() > 1, "the log rolled (and snapshotted)");
        let retry = produce(&p, 42, 0, 12, 3).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.info.first_offset, 12);
        let end = p.offsets().log_end;
        p.close(2).unwrap();
        drop(p);
        // clean restart: snapshot at the log end
        let p = Partition::open(dir.path(), 0, settings(), true, 1, 0).unwrap();
        assert!(produce(&p, 42, 0, 15, 3).unwrap().duplicate);
        assert!(matches!(produce(&p, 42, 0, 21, 3), Err(BrokerError::Producer(_))));
        assert_eq!(p.offsets().log_end, end);
        assert!(!produce(&p, 42, 0, 18, 3).unwrap().duplicate);
        drop(p);
        // unclean restart: no snapshot of the last append; replayed from the log
        let p = Partition::open(dir.path(), 0, settings(), false, 1, 0).unwrap();
        assert!(produce(&p, 42, 0, 18, 3).unwrap().duplicate);
        // a bumped epoch starts over at 0 and fences the old one
        assert!(!produce(&p, 42, 1, 0, 1).unwrap().duplicate);
        assert!(matches!(
            produce(&p, 42, 0, 21, 3),
            Err(BrokerError::Producer(super::super::producer_state::ProducerError::InvalidProducerEpoch {
                current: 1,
                got: 0
            }))
        ));
        // a producer without state (expired, or never seen) is accepted at any sequence
        assert!(!produce(&p, 7, 0, 5, 1).unwrap().duplicate);
    }
}
