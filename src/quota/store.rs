//! The quotas set online (AlterClientQuotas), persisted in
//! `data_dir/gregor-quotas.json`: versioned JSON, written atomically (temp file +
//! rename, as the ACL file), re-read when its stamp changes.

use super::entity::{QuotaEntity, QuotaType, QuotaValues};
use super::QuotaError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// The file online quotas live in, inside the data directory.
pub const QUOTAS_FILE: &str = "gregor-quotas.json";
/// Bound on entities set online (config entities are bounded by the file's size).
pub const ONLINE_ENTITIES_MAX: usize = 100_000;
/// Bound on the file read at start and on reload.
const QUOTAS_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
const FILE_FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotasFile {
    version: u32,
    entries: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    entity: QuotaEntity,
    /// Kafka's keys (`producer_byte_rate`, …) → value.
    values: BTreeMap<String, f64>,
}

/// What identifies one version of the file, so an unchanged file is not re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified: SystemTime,
    len_bytes: u64,
    inode: u64,
}

pub type Entries = BTreeMap<QuotaEntity, QuotaValues>;

pub fn stamp_of(path: &Path) -> Result<Option<FileStamp>, QuotaError> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(FileStamp {
            modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len_bytes: m.len(),
            inode: m.ino(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(QuotaError::Storage(format!("{}: {e}", path.display()))),
    }
}

/// The entries in the file (none when it is absent), and its stamp.
pub fn read(path: &Path) -> Result<(Entries, Option<FileStamp>), QuotaError> {
    let corrupt = |message: String| QuotaError::Corrupt { path: path.to_path_buf(), message };
    let Some(stamp) = stamp_of(path)? else { return Ok((Entries::new(), None)) };
    if stamp.len_bytes > QUOTAS_FILE_BYTES_MAX {
        return Err(corrupt(format!("larger than {QUOTAS_FILE_BYTES_MAX} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|e| QuotaError::Storage(format!("{}: {e}", path.display())))?;
    let file: QuotasFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != FILE_FORMAT_VERSION {
        return Err(corrupt(format!("format version {} (this gregor reads {FILE_FORMAT_VERSION})", file.version)));
    }
    if file.entries.len() > ONLINE_ENTITIES_MAX {
        return Err(corrupt(format!("{} entities, more than {ONLINE_ENTITIES_MAX}", file.entries.len())));
    }
    let mut entries = Entries::new();
    for (i, e) in file.entries.into_iter().enumerate() {
        let at = |m: String| corrupt(format!("entries[{i}]: {m}"));
        super::validate_entity(&e.entity).map_err(|err| at(err.to_string()))?;
        let mut values = QuotaValues::default();
        for (key, v) in &e.values {
            let t = QuotaType::from_config_key(key).ok_or_else(|| at(format!("unknown quota key {key}")))?;
            super::validate_value(t, *v).map_err(|err| at(err.to_string()))?;
            values.set(t, Some(*v));
        }
        if values.is_empty() || entries.insert(e.entity, values).is_some() {
            return Err(at("an entity without values, or one listed twice".into()));
        }
    }
    Ok((entries, Some(stamp)))
}

/// Writes `entries` as the whole file; returns the new stamp.
pub fn write(path: &Path, entries: &Entries) -> Result<Option<FileStamp>, QuotaError> {
    let file = QuotasFile {
        version: FILE_FORMAT_VERSION,
        entries: entries
            .iter()
            .map(|(entity, v)| FileEntry {
                entity: entity.clone(),
                values: v.iter().map(|(t, x)| (t.config_key().to_string(), x)).collect(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| QuotaError::Storage(e.to_string()))?;
    crate::security::acl_store::write_atomically(path, &bytes)
        .map_err(|e| QuotaError::Storage(format!("writing {}: {e}", path.display())))?;
    stamp_of(path)
}
