//! Sparse indexes of a segment, in Kafka's file formats:
//! `.index` = (relative offset u32, file position u32) per entry, and
//! `.timeindex` = (timestamp i64, relative offset u32) per entry, big-endian.
//!
//! Entries are kept in memory for binary search and appended to the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const OFFSET_ENTRY_BYTES: usize = 8;
pub const TIME_ENTRY_BYTES: usize = 12;

/// relative offset (to the segment base) → byte position of a batch in the `.log`.
pub struct OffsetIndex {
    path: PathBuf,
    file: File,
    /// (last offset of the batch, relative; position of the batch)
    entries: Vec<(u32, u32)>,
    entries_max: usize,
}

impl OffsetIndex {
    /// Opens the index; `None` when it is missing or fails its sanity checks
    /// (the caller then rebuilds it from the log).
    pub fn load(path: &Path, entries_max: usize, log_size: u64) -> io::Result<Option<OffsetIndex>> {
        let Ok(bytes) = std::fs::read(path) else { return Ok(None) };
        if bytes.len() % OFFSET_ENTRY_BYTES != 0 {
            return Ok(None);
        }
        let entries: Vec<(u32, u32)> = bytes
            .chunks_exact(OFFSET_ENTRY_BYTES)
            .map(|c| (u32::from_be_bytes(c[0..4].try_into().unwrap()), u32::from_be_bytes(c[4..8].try_into().unwrap())))
            .collect();
        let sorted = entries.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        let in_bounds = entries.last().is_none_or(|e| (e.1 as u64) < log_size);
        if !sorted || !in_bounds {
            return Ok(None);
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Some(OffsetIndex { path: path.to_path_buf(), file, entries, entries_max }))
    }

    pub fn create(path: &Path, entries_max: usize) -> io::Result<OffsetIndex> {
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
        let file = reopen_append(file, path)?;
        Ok(OffsetIndex { path: path.to_path_buf(), file, entries: Vec::new(), entries_max })
    }

    pub fn append(&mut self, relative_offset: u32, position: u32) -> io::Result<()> {
        if let Some(last) = self.entries.last() {
            assert!(relative_offset > last.0 && position > last.1, "index entries must grow");
        }
        let mut buf = [0u8; OFFSET_ENTRY_BYTES];
        buf[0..4].copy_from_slice(&relative_offset.to_be_bytes());
        buf[4..8].copy_from_slice(&position.to_be_bytes());
        self.file.write_all(&buf)?;
        self.entries.push((relative_offset, position));
        Ok(())
    }

    /// Position to start scanning from for `relative_offset`: the entry with the
    /// greatest offset ≤ target, else the segment start.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        let idx = self.entries.partition_point(|e| e.0 <= relative_offset);
        if idx == 0 {
            0
        } else {
            self.entries[idx - 1].1
        }
    }

    /// Drops entries at or past `position` (used when the log is truncated).
    pub fn truncate_to_position(&mut self, position: u32) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.1 < position);
        self.entries.truncate(keep);
        self.file.set_len((keep * OFFSET_ENTRY_BYTES) as u64)
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.entries_max
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// max timestamp seen so far → relative offset of the batch that carried it.
pub struct TimeIndex {
    path: PathBuf,
    file: File,
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn load(path: &Path, log_last_relative: Option<u32>) -> io::Result<Option<TimeIndex>> {
        let Ok(bytes) = std::fs::read(path) else { return Ok(None) };
        if bytes.len() % TIME_ENTRY_BYTES != 0 {
            return Ok(None);
        }
        let entries: Vec<(i64, u32)> = bytes
            .chunks_exact(TIME_ENTRY_BYTES)
            .map(|c| {
                (i64::from_be_bytes(c[0..8].try_into().unwrap()), u32::from_be_bytes(c[8..12].try_into().unwrap()))
            })
            .collect();
        let sorted = entries.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        let in_bounds = match (entries.last(), log_last_relative) {
            (Some(e), Some(last)) => e.1 <= last,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !sorted || !in_bounds {
            return Ok(None);
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Some(TimeIndex { path: path.to_path_buf(), file, entries }))
    }

    pub fn create(path: &Path) -> io::Result<TimeIndex> {
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
        let file = reopen_append(file, path)?;
        Ok(TimeIndex { path: path.to_path_buf(), file, entries: Vec::new() })
    }

    /// Adds an entry when `timestamp` is a new maximum.
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) -> io::Result<()> {
        if self.entries.last().is_some_and(|e| e.0 >= timestamp) {
            return Ok(());
        }
        let mut buf = [0u8; TIME_ENTRY_BYTES];
        buf[0..8].copy_from_slice(&timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&relative_offset.to_be_bytes());
        self.file.write_all(&buf)?;
        self.entries.push((timestamp, relative_offset));
        Ok(())
    }

    /// Relative offset to start searching from for the first record with
    /// timestamp ≥ `target`: the entry with the greatest timestamp < target.
    pub fn lookup(&self, target: i64) -> u32 {
        let idx = self.entries.partition_point(|e| e.0 < target);
        if idx == 0 {
            0
        } else {
            self.entries[idx - 1].1
        }
    }

    pub fn truncate_to_offset(&mut self, relative_offset: u32) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.1 < relative_offset);
        self.entries.truncate(keep);
        self.file.set_len((keep * TIME_ENTRY_BYTES) as u64)
    }

    pub fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn reopen_append(file: File, path: &Path) -> io::Result<File> {
    drop(file);
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_round_trip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = OffsetIndex::create(&p, 100).unwrap();
        idx.append(9, 4000).unwrap();
        idx.append(19, 8100).unwrap();
        assert_eq!(idx.lookup(5), 0);
        assert_eq!(idx.lookup(9), 4000);
        assert_eq!(idx.lookup(18), 4000);
        assert_eq!(idx.lookup(25), 8100);
        let loaded = OffsetIndex::load(&p, 100, 9000).unwrap().unwrap();
        assert_eq!(loaded.lookup(19), 8100);
        // an index pointing past the log is rejected
        assert!(OffsetIndex::load(&p, 100, 8000).unwrap().is_none());
        // a torn entry is rejected
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(&[1, 2, 3]).unwrap();
        assert!(OffsetIndex::load(&p, 100, 9000).unwrap().is_none());
    }

    #[test]
    fn time_index_keeps_only_new_maxima() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.timeindex");
        let mut t = TimeIndex::create(&p).unwrap();
        t.maybe_append(100, 0).unwrap();
        t.maybe_append(90, 5).unwrap();
        t.maybe_append(200, 10).unwrap();
        assert_eq!(t.last(), Some((200, 10)));
        assert_eq!(t.lookup(50), 0);
        assert_eq!(t.lookup(150), 0);
        assert_eq!(t.lookup(201), 10);
        let t = TimeIndex::load(&p, Some(10)).unwrap().unwrap();
        assert_eq!(t.last(), Some((200, 10)));
        assert!(TimeIndex::load(&p, Some(9)).unwrap().is_none());
    }
}
