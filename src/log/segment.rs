//! One segment: `<base offset>.log` plus its `.index` and `.timeindex`.

use super::batch::{self, BatchHeader, HEADER_BYTES};
use super::index::{OffsetIndex, TimeIndex, OFFSET_ENTRY_BYTES};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How a segment's files are named: the base offset, zero-padded to 20 digits.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Settings that shape segment files.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSettings {
    pub index_interval_bytes: u64,
    pub index_entries_max: usize,
}

pub struct Segment {
    pub base_offset: i64,
    log_path: PathBuf,
    log: File,
    /// Bytes in the `.log`; the next batch goes here.
    size_bytes: u64,
    index: OffsetIndex,
    time_index: TimeIndex,
    settings: SegmentSettings,
    bytes_since_index_entry: u64,
    /// Offset after the last batch in this segment.
    next_offset: i64,
    /// Largest batch max timestamp in the segment (-1 when empty); retention uses it.
    pub max_timestamp: i64,
    /// Offset of the last batch whose max timestamp is `max_timestamp`.
    pub max_timestamp_offset: i64,
    /// When the segment was created (ms), for `segment.ms` rolls.
    pub created_ms: i64,
}

/// What a scan of the `.log` found.
struct ScanResult {
    valid_bytes: u64,
    next_offset: i64,
    max_timestamp: i64,
    max_timestamp_offset: i64,
}

/// Walks batch headers from `start` (no CRC checks) to find where the data ends.
fn scan_headers(log: &File, start: u64, file_size: u64, base_offset: i64) -> io::Result<ScanResult> {
    let mut r = ScanResult {
        valid_bytes: start,
        next_offset: base_offset,
        max_timestamp: -1,
        max_timestamp_offset: base_offset,
    };
    let mut header = [0u8; HEADER_BYTES];
    while r.valid_bytes + HEADER_BYTES as u64 <= file_size {
        log.read_exact_at(&mut header, r.valid_bytes)?;
        let Ok(h) = BatchHeader::parse(&header) else { break };
        let size = h.size_bytes() as u64;
        let sane = h.magic == 2 && h.batch_length >= (HEADER_BYTES - 12) as i32 && h.base_offset >= r.next_offset;
        if !sane || r.valid_bytes + size > file_size {
            break;
        }
        if h.max_timestamp > r.max_timestamp {
            r.max_timestamp = h.max_timestamp;
            r.max_timestamp_offset = h.last_offset();
        }
        r.next_offset = h.last_offset() + 1;
        r.valid_bytes += size;
    }
    Ok(r)
}

impl Segment {
    pub fn create(dir: &Path, base_offset: i64, settings: SegmentSettings, now_ms: i64) -> io::Result<Segment> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let log = OpenOptions::new().create(true).read(true).append(true).open(&log_path)?;
        log.set_len(0)?;
        let index = OffsetIndex::create(&dir.join(format!("{stem}.index")), settings.index_entries_max)?;
        let time_index = TimeIndex::create(&dir.join(format!("{stem}.timeindex")))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            size_bytes: 0,
            index,
            time_index,
            settings,
            bytes_since_index_entry: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_offset: base_offset,
            created_ms: now_ms,
        })
    }

    /// Opens an existing segment. With `verify`, every batch's CRC is checked and
    /// the file is truncated at the first bad or torn batch; the indexes are
    /// rebuilt whenever they are missing, corrupt, or disagree with the log.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        settings: SegmentSettings,
        verify: bool,
        now_ms: i64,
    ) -> io::Result<Segment> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let log = OpenOptions::new().read(true).append(true).open(&log_path)?;
        let file_size = log.metadata()?.len();
        let index_path = dir.join(format!("{stem}.index"));
        let time_path = dir.join(format!("{stem}.timeindex"));
        if !verify {
            if let Some(index) = OffsetIndex::load(&index_path, settings.index_entries_max, file_size)? {
                let tail = scan_headers(&log, index.lookup(u32::MAX) as u64, file_size, base_offset)?;
                let last_rel = (tail.next_offset > base_offset).then(|| (tail.next_offset - 1 - base_offset) as u32);
                if tail.valid_bytes == file_size {
                    if let Some(time_index) = TimeIndex::load(&time_path, last_rel)? {
                        let (max_timestamp, max_timestamp_offset) = match time_index.last() {
                            Some((ts, rel)) if ts >= tail.max_timestamp => (ts, base_offset + rel as i64),
                            _ => (tail.max_timestamp, tail.max_timestamp_offset),
                        };
                        return Ok(Segment {
                            base_offset,
                            log_path,
                            log,
                            size_bytes: file_size,
                            index,
                            time_index,
                            settings,
                            bytes_since_index_entry: 0,
                            next_offset: tail.next_offset,
                            max_timestamp,
                            max_timestamp_offset,
                            created_ms: now_ms,
                        });
                    }
                }
            }
        }
        let mut seg = Segment {
            base_offset,
            log_path,
            log,
            size_bytes: 0,
            index: OffsetIndex::create(&index_path, settings.index_entries_max)?,
            time_index: TimeIndex::create(&time_path)?,
            settings,
            bytes_since_index_entry: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            max_timestamp_offset: base_offset,
            created_ms: now_ms,
        };
        seg.rebuild(file_size)?;
        Ok(seg)
    }

    /// Scans from 0 verifying every batch, truncates a bad tail, rebuilds indexes.
    fn rebuild(&mut self, file_size: u64) -> io::Result<()> {
        let scan = self.scan_and_index(file_size)?;
        if scan.valid_bytes < file_size {
            tracing::warn!(
                segment = %self.log_path.display(),
                valid_bytes = scan.valid_bytes,
                file_bytes = file_size,
                "truncating torn or corrupt segment tail"
            );
            self.log.set_len(scan.valid_bytes)?;
            self.log.sync_all()?;
        }
        self.size_bytes = scan.valid_bytes;
        self.next_offset = scan.next_offset;
        Ok(())
    }

    fn scan_and_index(&mut self, file_size: u64) -> io::Result<ScanResult> {
        let mut pos = 0u64;
        let mut next_offset = self.base_offset;
        let mut header = [0u8; HEADER_BYTES];
        while pos + HEADER_BYTES as u64 <= file_size {
            self.log.read_exact_at(&mut header, pos)?;
            let Ok(h) = BatchHeader::parse(&header) else { break };
            let size = h.size_bytes() as u64;
            if h.magic != 2
                || h.batch_length < (HEADER_BYTES - 12) as i32
                || pos + size > file_size
                || h.base_offset < next_offset
            {
                break;
            }
            let mut buf = vec![0u8; size as usize];
            self.log.read_exact_at(&mut buf, pos)?;
            let Ok(h) = batch::validate(&buf) else { break };
            self.size_bytes = pos;
            self.note_batch(&h, pos, size)?;
            next_offset = h.last_offset() + 1;
            pos += size;
        }
        Ok(ScanResult {
            valid_bytes: pos,
            next_offset,
            max_timestamp: self.max_timestamp,
            max_timestamp_offset: self.max_timestamp_offset,
        })
    }

    /// Updates indexes and timestamps for a batch written at `position`.
    fn note_batch(&mut self, h: &BatchHeader, position: u64, size: u64) -> io::Result<()> {
        let rel_last = (h.last_offset() - self.base_offset) as u32;
        if self.bytes_since_index_entry >= self.settings.index_interval_bytes || position == 0 {
            self.index.append(rel_last, position as u32)?;
            self.time_index.maybe_append(self.max_timestamp.max(h.max_timestamp), rel_last)?;
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += size;
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_offset = h.last_offset();
        }
        self.next_offset = h.last_offset() + 1;
        Ok(())
    }

    /// Appends already patched batches (`headers` describe `bytes` in order).
    pub fn append(&mut self, bytes: &[u8], headers: &[BatchHeader]) -> io::Result<()> {
        assert!(headers.first().is_some_and(|h| h.base_offset >= self.next_offset), "offsets only grow");
        self.log.write_all(bytes)?;
        let mut pos = self.size_bytes;
        for h in headers {
            let size = h.size_bytes() as u64;
            self.note_batch(h, pos, size)?;
            pos += size;
        }
        debug_assert_eq!(pos, self.size_bytes + bytes.len() as u64);
        self.size_bytes = pos;
        Ok(())
    }

    /// Byte position of the first batch that contains or follows `offset`.
    /// Returns `size_bytes` when `offset` is past the last batch.
    pub fn position_of(&self, offset: i64) -> io::Result<u64> {
        if offset <= self.base_offset {
            return Ok(0);
        }
        let rel = (offset - self.base_offset).min(u32::MAX as i64) as u32;
        let mut pos = self.index.lookup(rel) as u64;
        let mut head = [0u8; HEADER_BYTES];
        while pos + HEADER_BYTES as u64 <= self.size_bytes {
            self.log.read_exact_at(&mut head, pos)?;
            let h = BatchHeader::parse(&head).map_err(|e| io::Error::other(e.to_string()))?;
            if h.last_offset() >= offset {
                return Ok(pos);
            }
            pos += h.size_bytes() as u64;
        }
        Ok(self.size_bytes)
    }

    /// Reads `len` bytes at `position`. Reads into fresh capacity without
    /// zero-filling it first (profiling showed zeroing large fetch buffers costing a
    /// third of the fetch path). Callers hold the partition lock, so moving the file
    /// position is safe; appends ignore it (the file is opened in append mode).
    pub fn read_at(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut buf = Vec::with_capacity(len);
        let mut file = &self.log;
        file.seek(SeekFrom::Start(position))?;
        file.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "segment shorter than its index says"));
        }
        Ok(buf)
    }

    /// The header of the batch at `position`.
    pub fn header_at(&self, position: u64) -> io::Result<BatchHeader> {
        let mut head = [0u8; HEADER_BYTES];
        self.log.read_exact_at(&mut head, position)?;
        BatchHeader::parse(&head).map_err(|e| io::Error::other(e.to_string()))
    }

    /// Headers of batches from `position` to the end, in order.
    pub fn headers_from(&self, mut position: u64) -> io::Result<Vec<(u64, BatchHeader)>> {
        let mut out = Vec::new();
        while position + HEADER_BYTES as u64 <= self.size_bytes {
            let h = self.header_at(position)?;
            out.push((position, h));
            position += h.size_bytes() as u64;
        }
        Ok(out)
    }

    /// Relative-offset hint from the time index for a timestamp search.
    pub fn time_lookup_offset(&self, target_ms: i64) -> i64 {
        self.base_offset + self.time_index.lookup(target_ms) as i64
    }

    /// Drops every batch at or after `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let pos = self.position_of(offset)?;
        self.log.set_len(pos)?;
        self.size_bytes = pos;
        self.index.truncate_to_position(pos as u32)?;
        self.time_index.truncate_to_offset((offset - self.base_offset).max(0) as u32)?;
        self.next_offset = offset.min(self.next_offset);
        self.bytes_since_index_entry = self.settings.index_interval_bytes;
        Ok(())
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn is_index_full(&self) -> bool {
        self.index.is_full()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.index.sync()?;
        self.time_index.sync()
    }

    /// Removes the segment's files.
    pub fn delete(self) -> io::Result<()> {
        for p in [self.log_path.clone(), self.index.path().to_path_buf(), self.time_index.path().to_path_buf()] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Offset index entries are 8 bytes; used by callers sizing `index_entries_max`.
pub const fn index_entries_for(bytes: usize) -> usize {
    bytes / OFFSET_ENTRY_BYTES
}
