//! Producer-state snapshots: `<offset>.snapshot` files in a partition directory,
//! written at segment roll and clean shutdown, so that a restart replays only the
//! log after the newest snapshot. Our own format: magic, version, CRC32C of the
//! body, then the entries; written to a temporary file and renamed.

use super::producer_state::{BatchMeta, ProducerEntry, ProducerStates};
use bytes::{Buf, BufMut, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"GRPS";
const VERSION: u16 = 1;
/// Snapshots kept per partition; older ones are deleted after a new one is written.
const SNAPSHOTS_KEPT: usize = 2;
/// Bound on entries read back, so a corrupt count cannot make us allocate wildly.
const ENTRIES_MAX: usize = 10_000_000;

fn path_for(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

/// Offsets of the snapshots in `dir`, newest first.
pub fn list(dir: &Path) -> io::Result<Vec<i64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(stem) = name.to_string_lossy().strip_suffix(".snapshot") {
            if let Ok(o) = stem.parse::<i64>() {
                out.push(o);
            }
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

pub fn write(dir: &Path, offset: i64, states: &ProducerStates) -> io::Result<()> {
    let mut body = BytesMut::new();
    body.put_i64(offset);
    body.put_u32(states.len() as u32);
    for (pid, e) in states.iter() {
        body.put_i64(*pid);
        body.put_i16(e.epoch);
        body.put_i64(e.last_append_ms);
        body.put_u8(e.batches.len() as u8);
        for b in &e.batches {
            body.put_i32(b.first_seq);
            body.put_i32(b.last_seq);
            body.put_i64(b.first_offset);
            body.put_i64(b.last_offset);
            body.put_i64(b.max_timestamp);
        }
    }
    let mut file = BytesMut::with_capacity(body.len() + 10);
    file.put_slice(MAGIC);
    file.put_u16(VERSION);
    file.put_u32(crc32c::crc32c(&body));
    file.put_slice(&body);
    let path = path_for(dir, offset);
    let tmp = path.with_extension("snapshot.tmp");
    let f = std::fs::File::create(&tmp)?;
    io::Write::write_all(&mut &f, &file)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    for old in list(dir)?.into_iter().skip(SNAPSHOTS_KEPT) {
        let _ = std::fs::remove_file(path_for(dir, old));
    }
    Ok(())
}

/// Reads a snapshot; `None` if it is corrupt.
pub fn read(dir: &Path, offset: i64) -> io::Result<Option<ProducerStates>> {
    let bytes = std::fs::read(path_for(dir, offset))?;
    Ok(parse(&bytes, offset))
}

fn parse(bytes: &[u8], offset: i64) -> Option<ProducerStates> {
    if bytes.len() < 10 || &bytes[..4] != MAGIC || u16::from_be_bytes([bytes[4], bytes[5]]) != VERSION {
        return None;
    }
    let crc = u32::from_be_bytes(bytes[6..10].try_into().ok()?);
    let mut b = &bytes[10..];
    if crc32c::crc32c(b) != crc || b.len() < 12 || b.get_i64() != offset {
        return None;
    }
    let n = b.get_u32() as usize;
    if n > ENTRIES_MAX {
        return None;
    }
    let mut states = ProducerStates::default();
    for _ in 0..n {
        if b.remaining() < 19 {
            return None;
        }
        let pid = b.get_i64();
        let epoch = b.get_i16();
        let last_append_ms = b.get_i64();
        let count = b.get_u8() as usize;
        if b.remaining() < count * 32 {
            return None;
        }
        let mut batches = VecDeque::with_capacity(count);
        for _ in 0..count {
            batches.push_back(BatchMeta {
                first_seq: b.get_i32(),
                last_seq: b.get_i32(),
                first_offset: b.get_i64(),
                last_offset: b.get_i64(),
                max_timestamp: b.get_i64(),
            });
        }
        states.insert(pid, ProducerEntry { epoch, batches, last_append_ms });
    }
    Some(states)
}

/// Deletes snapshots past `offset` (the log was truncated below them).
pub fn remove_after(dir: &Path, offset: i64) -> io::Result<()> {
    for o in list(dir)? {
        if o > offset {
            std::fs::remove_file(path_for(dir, o))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStates::default();
        s.record(
            5,
            2,
            BatchMeta { first_seq: 0, last_seq: 9, first_offset: 100, last_offset: 109, max_timestamp: 7 },
            42,
        );
        s.record(
            6,
            0,
            BatchMeta { first_seq: 3, last_seq: 3, first_offset: 110, last_offset: 110, max_timestamp: 8 },
            43,
        );
        write(dir.path(), 111, &s).unwrap();
        assert_eq!(read(dir.path(), 111).unwrap(), Some(s.clone()));
        write(dir.path(), 200, &s).unwrap();
        write(dir.path(), 300, &s).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![300, 200], "only the newest two are kept");
        let p = path_for(dir.path(), 300);
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(read(dir.path(), 300).unwrap(), None);
        remove_after(dir.path(), 250).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![200]);
    }
}
