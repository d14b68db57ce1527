//! A partition's log on disk: segments in Kafka's layout, appends, reads by
//! offset and by timestamp, retention, flush policy, and recovery at start.
//!
//! The log does its own file I/O (appends and positioned reads are page-cache
//! operations of microseconds) but takes the clock as an argument.

pub mod batch;
pub mod compact;
pub mod index;
pub mod segment;

use batch::{BatchError, BatchHeader};
use bytes::{Bytes, BytesMut};
use segment::{Segment, SegmentSettings};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
}

/// Per-log settings, resolved from the topic's config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSettings {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub index_interval_bytes: u64,
    pub index_entries_max: usize,
    /// fsync after this many messages (`flush.messages`)
    pub flush_messages: i64,
    /// fsync when this long has passed since the last flush (`flush.ms`)
    pub flush_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    /// `cleanup.policy=compact`: segments are never deleted by time or size.
    pub compact: bool,
    /// How long a compacted topic keeps tombstones (`delete.retention.ms`).
    pub delete_retention_ms: i64,
}

impl LogSettings {
    fn segment(&self) -> SegmentSettings {
        SegmentSettings { index_interval_bytes: self.index_interval_bytes, index_entries_max: self.index_entries_max }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// `Some` on LogAppendTime topics: the time written into the batches.
    pub log_append_time_ms: Option<i64>,
}

/// Result of a read.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches (the last may be cut short at `max_bytes`; clients drop it).
    pub records: Bytes,
}

pub struct Log {
    dir: PathBuf,
    settings: LogSettings,
    /// Sorted by base offset; the last one is active. Never empty.
    segments: Vec<Segment>,
    log_start_offset: i64,
    unflushed_messages: i64,
    last_flush_ms: i64,
}

impl Log {
    /// Opens (or creates) the log in `dir`. After an unclean shutdown the active
    /// segment is verified batch by batch and a torn tail is truncated.
    pub fn open(dir: &Path, settings: LogSettings, clean_shutdown: bool, now_ms: i64) -> Result<Log, LogError> {
        std::fs::create_dir_all(dir)?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            } else if name.ends_with(".tmp") || name.ends_with(".cleaned") {
                std::fs::remove_file(dir.join(&*name))?;
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            segments.push(Segment::open(dir, base, settings.segment(), active && !clean_shutdown, now_ms)?);
        }
        // segments after a truncated one are unreachable garbage from a crash mid-roll
        let mut keep = segments.len();
        for i in 1..segments.len() {
            if segments[i].base_offset != segments[i - 1].next_offset()
                && segments[i - 1].next_offset() > segments[i - 1].base_offset
            {
                tracing::warn!(dir = %dir.display(), base = segments[i].base_offset, "segment does not continue its predecessor");
            }
            if segments[i].base_offset < segments[i - 1].next_offset() {
                keep = i;
                break;
            }
        }
        for seg in segments.drain(keep..) {
            seg.delete()?;
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, 0, settings.segment(), now_ms)?);
        }
        let log_start_offset = segments[0].base_offset;
        Ok(Log {
            dir: dir.to_path_buf(),
            settings,
            segments,
            log_start_offset,
            unflushed_messages: 0,
            last_flush_ms: now_ms,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size_bytes()).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub fn set_settings(&mut self, settings: LogSettings) {
        self.settings = settings;
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has a segment")
    }

    /// Appends the validated batches in `records`, assigning offsets from the log end.
    pub fn append(
        &mut self,
        records: &Bytes,
        headers: &[BatchHeader],
        leader_epoch: i32,
        log_append_time_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let total: usize = headers.iter().map(|h| h.size_bytes()).sum();
        assert_eq!(total, records.len(), "headers must describe the records exactly");
        self.maybe_roll(total as u64, now_ms)?;
        let first_offset = self.log_end_offset();
        let mut buf = BytesMut::from(&records[..]);
        let mut patched = Vec::with_capacity(headers.len());
        let mut pos = 0;
        let mut next = first_offset;
        for h in headers {
            let size = h.size_bytes();
            let mut ph = *h;
            if h.max_timestamp < 0 && log_append_time_ms.is_none() {
                ph = batch::repair_max_timestamp(&mut buf[pos..pos + size], h)?;
            }
            batch::patch(&mut buf[pos..pos + size], next, leader_epoch, log_append_time_ms);
            ph.base_offset = next;
            ph.partition_leader_epoch = leader_epoch;
            if let Some(ts) = log_append_time_ms {
                ph.max_timestamp = ts;
            }
            patched.push(ph);
            next = ph.last_offset() + 1;
            pos += size;
        }
        self.segments.last_mut().expect("active").append(&buf, &patched)?;
        self.unflushed_messages += patched.iter().map(|h| h.record_count as i64).sum::<i64>();
        self.maybe_flush(now_ms)?;
        let last_offset = next - 1;
        assert!(last_offset >= first_offset && self.log_end_offset() == next, "log end moves past the append");
        Ok(AppendInfo { first_offset, last_offset, log_append_time_ms })
    }

    /// Appends batches that already carry their offsets (a follower copying its leader).
    pub fn append_as_follower(
        &mut self,
        records: &Bytes,
        headers: &[BatchHeader],
        now_ms: i64,
    ) -> Result<(), LogError> {
        let Some(first) = headers.first() else { return Ok(()) };
        if first.base_offset < self.log_end_offset() {
            return Err(LogError::Batch(BatchError::Invalid("follower append below the log end")));
        }
        self.maybe_roll(records.len() as u64, now_ms)?;
        self.segments.last_mut().expect("active").append(records, headers)?;
        self.maybe_flush(now_ms)
    }

    fn maybe_roll(&mut self, incoming_bytes: u64, now_ms: i64) -> Result<(), LogError> {
        let active = self.active();
        let non_empty = active.size_bytes() > 0;
        let too_big = active.size_bytes() + incoming_bytes > self.settings.segment_bytes;
        let too_old = now_ms - active.created_ms >= self.settings.segment_ms;
        if non_empty && (too_big || too_old || active.is_index_full()) {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Starts a new active segment at the log end; the old one is flushed.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        let base = self.log_end_offset();
        self.active().flush()?;
        let seg = Segment::create(&self.dir, base, self.settings.segment(), now_ms)?;
        self.segments.push(seg);
        Ok(())
    }

    fn maybe_flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.unflushed_messages >= self.settings.flush_messages
            || (self.unflushed_messages > 0 && now_ms.saturating_sub(self.last_flush_ms) >= self.settings.flush_ms)
        {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// fsyncs the active segment and its indexes.
    pub fn flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.active().flush()?;
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Called periodically: applies `flush.ms` and `segment.ms` without traffic.
    pub fn tick(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.maybe_flush(now_ms)
    }

    /// Reads from `offset`, at most `max_bytes` (but always the whole first batch
    /// when `min_one_batch`, KIP-74), never past `max_offset` (the high watermark).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(LogError::OffsetOutOfRange { offset, log_start: self.log_start_offset, log_end });
        }
        if offset >= max_offset {
            return Ok(ReadResult { records: Bytes::new() });
        }
        let idx = self.segment_index_for(offset);
        let seg = &self.segments[idx];
        let start = seg.position_of(offset)?;
        let mut end = seg.size_bytes();
        if max_offset < seg.next_offset() {
            end = end.min(seg.position_of(max_offset)?);
        }
        if start >= end {
            return Ok(ReadResult { records: Bytes::new() });
        }
        let available = (end - start) as usize;
        let mut len = available.min(max_bytes);
        if min_one_batch {
            let first = seg.header_at(start)?.size_bytes();
            len = len.max(first.min(available));
        }
        if len == 0 {
            return Ok(ReadResult { records: Bytes::new() });
        }
        Ok(ReadResult { records: Bytes::from(seg.read_at(start, len)?) })
    }

    /// Index of the segment holding `offset` (the last with base ≤ offset).
    fn segment_index_for(&self, offset: i64) -> usize {
        let i = self.segments.partition_point(|s| s.base_offset <= offset);
        i.saturating_sub(1)
    }

    /// Headers of every batch that ends at or after `offset`, in log order
    /// (replaying producer state after a restart).
    pub fn batch_headers_from(&self, offset: i64) -> Result<Vec<BatchHeader>, LogError> {
        let mut out = Vec::new();
        for seg in &self.segments {
            if seg.next_offset() <= offset {
                continue;
            }
            let start = seg.position_of(offset)?;
            out.extend(seg.headers_from(start)?.into_iter().map(|(_, h)| h));
        }
        Ok(out)
    }

    /// First offset whose record timestamp is ≥ `target_ms`, with that timestamp.
    pub fn offset_for_timestamp(&self, target_ms: i64, max_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in &self.segments {
            if seg.max_timestamp < target_ms {
                continue;
            }
            let hint = seg.time_lookup_offset(target_ms).max(self.log_start_offset);
            let start = seg.position_of(hint)?;
            for (pos, h) in seg.headers_from(start)? {
                if h.base_offset >= max_offset {
                    return Ok(None);
                }
                if h.max_timestamp < target_ms {
                    continue;
                }
                let bytes = Bytes::from(seg.read_at(pos, h.size_bytes())?);
                return Ok(first_record_at_or_after(&bytes, &h, target_ms)
                    .filter(|(off, _)| *off >= self.log_start_offset && *off < max_offset));
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the greatest timestamp (ListOffsets -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.segments
            .iter()
            .filter(|s| s.max_timestamp >= 0)
            .max_by_key(|s| (s.max_timestamp, std::cmp::Reverse(s.base_offset)))
            .map(|s| (s.max_timestamp_offset, s.max_timestamp))
    }

    /// Deletes whole segments by time and by size (never the active one), moving
    /// the log start offset. Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        if self.settings.compact {
            return Ok(0);
        }
        let mut size: i64 = self.size_bytes() as i64;
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let by_time = self.settings.retention_ms >= 0
                && oldest.max_timestamp >= 0
                && now_ms - oldest.max_timestamp > self.settings.retention_ms;
            let by_size = self.settings.retention_bytes >= 0
                && size - oldest.size_bytes() as i64 >= self.settings.retention_bytes;
            if !(by_time || by_size) {
                break;
            }
            let seg = self.segments.remove(0);
            size -= seg.size_bytes() as i64;
            seg.delete()?;
            deleted += 1;
        }
        let new_start = self.segments[0].base_offset;
        assert!(new_start >= self.log_start_offset || deleted == 0, "the log start offset only grows");
        self.log_start_offset = self.log_start_offset.max(new_start);
        Ok(deleted)
    }

    /// Drops every record at or past `offset` (replication: divergent tails).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        while self.segments.len() > 1 && self.active().base_offset >= offset {
            let seg = self.segments.pop().expect("len > 1");
            seg.delete()?;
        }
        self.segments.last_mut().expect("active").truncate_to(offset)?;
        Ok(())
    }
}

/// Scans the records of one batch (decompressing if needed: off the hot path) for
/// the first one with timestamp ≥ target.
fn first_record_at_or_after(batch_bytes: &Bytes, h: &BatchHeader, target_ms: i64) -> Option<(i64, i64)> {
    if h.is_log_append_time() {
        return Some((h.base_offset, h.max_timestamp));
    }
    let mut buf = batch_bytes.clone();
    match kafka_protocol::records::RecordBatchDecoder::decode(&mut buf) {
        Ok(set) => set
            .records
            .iter()
            .find(|r| r.timestamp >= target_ms)
            .map(|r| (r.offset, r.timestamp))
            .or(Some((h.base_offset, h.max_timestamp))),
        Err(e) => {
            tracing::warn!(error = %e, offset = h.base_offset, "cannot decode batch for timestamp lookup");
            Some((h.base_offset, h.max_timestamp))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use batch::tests::make_batch;

    fn settings() -> LogSettings {
        LogSettings {
            segment_bytes: 1 << 20,
            segment_ms: i64::MAX,
            index_interval_bytes: 100,
            index_entries_max: 1000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            retention_ms: -1,
            retention_bytes: -1,
            compact: false,
            delete_retention_ms: 86_400_000,
        }
    }

    fn append(log: &mut Log, count: i32, ts: i64) -> AppendInfo {
        let b = Bytes::from(make_batch(count, ts));
        let h = batch::split_and_validate(&b, 1 << 20).unwrap();
        log.append(&b, &h, 0, None, ts).unwrap()
    }

    #[test]
    fn append_read_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), settings(), false, 0).unwrap();
        let a = append(&mut log, 3, 100);
        assert_eq!((a.first_offset, a.last_offset), (0, 2));
        let b = append(&mut log, 2, 200);
        assert_eq!((b.first_offset, b.last_offset), (3, 4));
        assert_eq!(log.log_end_offset(), 5);
        let r = log.read(3, 1 << 20, 5, true).unwrap();
        let h = batch::validate(&r.records).unwrap();
        assert_eq!(h.base_offset, 3);
        // offset inside a batch returns that whole batch
        let r = log.read(1, 1 << 20, 5, true).unwrap();
        assert_eq!(batch::BatchHeader::parse(&r.records).unwrap().base_offset, 0);
        // reading at the high watermark returns nothing
        assert!(log.read(3, 1 << 20, 3, true).unwrap().records.is_empty());
        assert!(matches!(log.read(6, 100, 5, true), Err(LogError::OffsetOutOfRange { .. })));
        drop(log);
        for clean in [true, false] {
            let log = Log::open(dir.path(), settings(), clean, 0).unwrap();
            assert_eq!(log.log_end_offset(), 5);
            assert_eq!(log.offset_for_timestamp(150, 5).unwrap(), Some((3, 200)));
        }
    }

    #[test]
    fn missing_max_timestamp_is_derived_from_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), settings(), false, 0).unwrap();
        append(&mut log, 2, 100);
        // a batch as Sarama 1.22 writes it: max timestamp -1
        let mut raw = make_batch(3, 500);
        raw[35..43].copy_from_slice(&(-1i64).to_be_bytes());
        let crc = crc32c::crc32c(&raw[21..]);
        raw[17..21].copy_from_slice(&crc.to_be_bytes());
        let b = Bytes::from(raw);
        let h = batch::split_and_validate(&b, 1 << 20).unwrap();
        log.append(&b, &h, 0, None, 1000).unwrap();
        assert_eq!(log.offset_for_timestamp(400, 5).unwrap(), Some((2, 500)));
        assert_eq!(log.max_timestamp(), Some((4, 500)));
        let stored = log.read(2, 1 << 20, 5, true).unwrap().records;
        assert_eq!(batch::validate(&stored).unwrap().max_timestamp, 500);
    }

    #[test]
    fn first_batch_is_returned_whole_even_over_max_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), settings(), false, 0).unwrap();
        append(&mut log, 5, 1);
        let whole = log.read(0, 10, 5, true).unwrap().records.len();
        assert_eq!(whole, make_batch(5, 1).len());
        assert_eq!(log.read(0, 10, 5, false).unwrap().records.len(), 10);
    }

    #[test]
    fn torn_tail_is_truncated_on_unclean_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), settings(), false, 0).unwrap();
        append(&mut log, 3, 1);
        append(&mut log, 3, 2);
        drop(log);
        let path = dir.path().join("00000000000000000000.log");
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 5).unwrap();
        let mut log = Log::open(dir.path(), settings(), false, 0).unwrap();
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(append(&mut log, 1, 3).first_offset, 3);
        // corrupt a byte in the middle of the last batch: CRC catches it
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let log = Log::open(dir.path(), settings(), false, 0).unwrap();
        assert_eq!(log.log_end_offset(), 3);
    }

    #[test]
    fn segments_roll_and_retention_moves_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings();
        s.segment_bytes = 200;
        let mut log = Log::open(dir.path(), s, false, 0).unwrap();
        for i in 0..10 {
            append(&mut log, 2, 1000 + i);
        }
        assert!(log.segment_count() > 3);
        let before = log.segment_count();
        // every batch readable across segments
        for off in 0..20 {
            let r = log.read(off, 1 << 20, 20, true).unwrap();
            let h = batch::BatchHeader::parse(&r.records).unwrap();
            assert!(h.base_offset <= off && off <= h.last_offset());
        }
        s.retention_bytes = 300;
        log.set_settings(s);
        assert!(log.apply_retention(2000).unwrap() > 0);
        assert!(log.segment_count() < before);
        assert!(log.log_start_offset() > 0);
        assert!(matches!(log.read(0, 100, 20, true), Err(LogError::OffsetOutOfRange { .. })));
        let start = log.log_start_offset();
        drop(log);
        let log = Log::open(dir.path(), s, true, 0).unwrap();
        assert_eq!(log.log_start_offset(), start);
        assert_eq!(log.log_end_offset(), 20);
        s.retention_ms = 10;
        let mut log = Log::open(dir.path(), s, true, 0).unwrap();
        log.set_settings(s);
        log.apply_retention(5000).unwrap();
        assert_eq!(log.segment_count(), 1);
    }
}
