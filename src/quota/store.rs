//! The quotas set online (AlterClientQuotas), persisted in
//! `data_dir/gregor-quotas.json`: versioned JSON, written atomically (temp file +
//! rename, as the ACL file), re-read when its stamp changes.

use super::entity::{QuotaEntity, QuotaType, QuotaValues};
use super::QuotaError;
use crate::state_file::{self, ReadError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

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

pub use crate::state_file::FileStamp;

pub type Entries = BTreeMap<QuotaEntity, QuotaValues>;

pub fn stamp_of(path: &Path) -> Result<Option<FileStamp>, QuotaError> {
    state_file::stamp_of(path).map_err(|e| QuotaError::Storage(format!("{}: {e}", path.display())))
}

/// The entries in the file (none when it is absent), and its stamp.
pub fn read(path: &Path) -> Result<(Entries, Option<FileStamp>), QuotaError> {
    let corrupt = |message: String| QuotaError::Corrupt { path: path.to_path_buf(), message };
    let read = state_file::read_json::<QuotasFile>(path, QUOTAS_FILE_BYTES_MAX).map_err(|e| match e {
        ReadError::Io(e) => QuotaError::Storage(format!("{}: {e}", path.display())),
        ReadError::Corrupt(m) => corrupt(m),
    })?;
    let Some((file, stamp)) = read else { return Ok((Entries::new(), None)) };
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
    state_file::write_atomically(path, &bytes)
        .map_err(|e| QuotaError::Storage(format!("writing {}: {e}", path.display())))?;
    stamp_of(path)
}
