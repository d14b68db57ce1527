//! One partition on this node: its log and its replica state behind one lock.
//!
//! The lock is a plain mutex held only for the duration of a page-cache append
//! or read, never across an await.

use super::error::BrokerError;
use super::replica_state::ReplicaState;
use crate::log::batch::BatchHeader;
use crate::log::{AppendInfo, Log, LogSettings};
use bytes::Bytes;
use std::path::Path;
use std::sync::Mutex;

/// The file Kafka uses to record at which offset each leader epoch began.
const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

pub struct Partition {
    pub index: i32,
    inner: Mutex<Inner>,
}

struct Inner {
    log: Log,
    state: ReplicaState,
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
        let log = Log::open(dir, settings, clean_shutdown, now_ms)?;
        let leader_epoch = 0;
        write_epoch_checkpoint(dir, leader_epoch, log.log_start_offset())
            .map_err(|e| BrokerError::Storage(format!("{}: {e}", dir.display())))?;
        let leo = log.log_end_offset();
        let state = ReplicaState::new_leader(node_id, leader_epoch, vec![node_id], vec![node_id], leo, leo, now_ms);
        Ok(Partition { index, inner: Mutex::new(Inner { log, state }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a panic while holding the lock leaves the log consistent on disk (appends are
        // single writes); recover the guard rather than poisoning the partition forever
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn offsets(&self) -> Offsets {
        let g = self.lock();
        offsets_of(&g)
    }

    pub fn size_bytes(&self) -> u64 {
        self.lock().log.size_bytes()
    }

    /// Appends validated batches as leader; returns the offsets assigned.
    pub fn append(
        &self,
        records: &Bytes,
        headers: &[BatchHeader],
        log_append_time_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(AppendInfo, i64), BrokerError> {
        let mut g = self.lock();
        let epoch = g.state.leader_epoch();
        let info = g.log.append(records, headers, epoch, log_append_time_ms, now_ms)?;
        let leo = g.log.log_end_offset();
        g.state.on_local_append(leo);
        Ok((info, g.log.log_start_offset()))
    }

    /// Reads committed data (up to the high watermark) from `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<PartitionRead, BrokerError> {
        let g = self.lock();
        let offsets = offsets_of(&g);
        let read = g.log.read(offset, max_bytes, offsets.high_watermark, min_one_batch)?;
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
    pub fn tick(&self, now_ms: i64, retention: bool) -> Result<usize, BrokerError> {
        let mut g = self.lock();
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
        Ok(g.log.apply_retention(now_ms)?)
    }

    pub fn flush(&self, now_ms: i64) -> Result<(), BrokerError> {
        Ok(self.lock().log.flush(now_ms)?)
    }

    pub fn segment_count(&self) -> usize {
        self.lock().log.segment_count()
    }
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
fn write_epoch_checkpoint(dir: &Path, epoch: i32, start_offset: i64) -> std::io::Result<()> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT);
    if path.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!("{LEADER_EPOCH_CHECKPOINT}.tmp"));
    std::fs::write(&tmp, format!("0\n1\n{epoch} {start_offset}\n"))?;
    std::fs::rename(tmp, path)
}
