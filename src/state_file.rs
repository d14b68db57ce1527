//! The small JSON state files in the data directory (online ACLs, online quotas):
//! a stamp so an unchanged file is not re-read, a bounded read, and atomic writes.

use serde::de::DeserializeOwned;
use std::io::Write as _;
use std::path::Path;
use std::time::SystemTime;

/// What identifies one version of a file: a rewrite (new inode), an edit in place
/// (mtime, length) all change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified: SystemTime,
    len_bytes: u64,
    inode: u64,
}

/// The file's stamp; `None` when it does not exist.
pub fn stamp_of(path: &Path) -> std::io::Result<Option<FileStamp>> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(FileStamp {
            modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len_bytes: m.len(),
            inode: m.ino(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It was read but is not what we wrote: too large, not JSON of the shape.
    #[error("{0}")]
    Corrupt(String),
}

/// Reads and parses the file (`None` when absent), refusing one larger than
/// `max_bytes` before reading it, with the stamp it was read at.
pub fn read_json<T: DeserializeOwned>(path: &Path, max_bytes: u64) -> Result<Option<(T, FileStamp)>, ReadError> {
    let Some(stamp) = stamp_of(path)? else { return Ok(None) };
    if stamp.len_bytes > max_bytes {
        return Err(ReadError::Corrupt(format!("larger than {max_bytes} bytes")));
    }
    let bytes = std::fs::read(path)?;
    let value = serde_json::from_slice(&bytes).map_err(|e| ReadError::Corrupt(e.to_string()))?;
    Ok(Some((value, stamp)))
}

/// Temp file, fsync, rename, fsync of the directory: a crash leaves the old file or
/// the new one, never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_follow_rewrites_and_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(stamp_of(&path).unwrap().is_none());
        assert!(read_json::<Vec<u32>>(&path, 100).unwrap().is_none());
        write_atomically(&path, b"[1,2,3]").unwrap();
        let (v, first) = read_json::<Vec<u32>>(&path, 100).unwrap().unwrap();
        assert_eq!(v, vec![1, 2, 3]);
        assert_eq!(stamp_of(&path).unwrap(), Some(first));
        write_atomically(&path, b"[4]").unwrap();
        assert_ne!(stamp_of(&path).unwrap(), Some(first));
        assert!(matches!(read_json::<Vec<u32>>(&path, 2), Err(ReadError::Corrupt(_))));
        write_atomically(&path, b"{").unwrap();
        assert!(matches!(read_json::<Vec<u32>>(&path, 100), Err(ReadError::Corrupt(_))));
    }
}
