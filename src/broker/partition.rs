//! One partition on this node: its log and its replica state behind one lock.
//!
//! The lock is a plain mutex held only for the duration of a page-cache append
//! or read, never across an await.

use super::error::BrokerError;
use super::producer_snapshot;
use super::producer_state::{BatchMeta, ProducerStates, Verdict};
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
        let log = Log::open(dir, settings, clean_shutdown, now_ms)?;
        let producers = load_producer_state(dir, &log, now_ms)?;
        let leader_epoch = 0;
        write_epoch_checkpoint(dir, leader_epoch, log.log_start_offset())
            .map_err(|e| BrokerError::Storage(format!("{}: {e}", dir.display())))?;
        let leo = log.log_end_offset();
        let state = ReplicaState::new_leader(node_id, leader_epoch, vec![node_id], vec![node_id], leo, leo, now_ms);
        Ok(Partition { index, inner: Mutex::new(Inner { log, state, producers }) })
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
fn write_epoch_checkpoint(dir: &Path, epoch: i32, start_offset: i64) -> std::io::Result<()> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT);
    if path.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!("{LEADER_EPOCH_CHECKPOINT}.tmp"));
    std::fs::write(&tmp, format!("0\n1\n{epoch} {start_offset}\n"))?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{self, tests::make_idempotent_batch};

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

    fn produce(p: &Partition, pid: i64, epoch: i16, seq: i32, count: i32) -> Result<Appended, BrokerError> {
        let b = Bytes::from(make_idempotent_batch(count, 1, pid, epoch, seq));
        let h = batch::split_and_validate(&b, 1 << 20).unwrap();
        p.append(&b, &h, None, 1)
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
