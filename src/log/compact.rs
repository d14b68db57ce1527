//! The log cleaner for `cleanup.policy=compact` (the internal offsets topic):
//! keeps the newest record per key, drops tombstones older than
//! `delete.retention.ms`, and never touches the active segment. Offsets are
//! preserved, so batches may have gaps afterwards.
//!
//! A cleaned segment is written beside the old one (`.log.cleaned`), fsynced,
//! the old indexes are removed, then the new file is renamed over the old; a
//! crash at any point leaves either the old or the new segment, and indexes are
//! rebuilt from whichever is there.

use super::segment::{file_stem, Segment};
use super::{Log, LogError};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use std::collections::HashMap;

/// What one cleaning pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_rewritten: usize,
    pub records_removed: usize,
}

impl Log {
    /// Compacts every non-active segment that holds superseded records.
    pub fn compact(&mut self, now_ms: i64) -> Result<CleanStats, LogError> {
        let mut stats = CleanStats::default();
        if !self.settings.compact || self.segments.len() < 2 {
            return Ok(stats);
        }
        let latest = self.latest_offsets_by_key()?;
        let last_cleanable = self.segments.len() - 1;
        let mut i = 0;
        while i < last_cleanable.min(self.segments.len() - 1) {
            let (kept, removed) = self.surviving_records(i, &latest, now_ms)?;
            if removed == 0 {
                i += 1;
                continue;
            }
            stats.records_removed += removed;
            stats.segments_rewritten += 1;
            if kept.is_empty() && i > 0 {
                let seg = self.segments.remove(i);
                seg.delete()?;
                continue;
            }
            self.rewrite_segment(i, &kept, now_ms)?;
            i += 1;
        }
        Ok(stats)
    }

    /// key → offset of its newest record, over the whole log.
    fn latest_offsets_by_key(&self) -> Result<HashMap<Bytes, i64>, LogError> {
        let mut latest = HashMap::new();
        for seg in &self.segments {
            for r in decode_segment(seg)? {
                if let Some(k) = r.key {
                    latest.insert(k, r.offset);
                }
            }
        }
        Ok(latest)
    }

    fn surviving_records(
        &self,
        i: usize,
        latest: &HashMap<Bytes, i64>,
        now_ms: i64,
    ) -> Result<(Vec<Record>, usize), LogError> {
        let records = decode_segment(&self.segments[i])?;
        let total = records.len();
        let kept: Vec<Record> = records
            .into_iter()
            .filter(|r| {
                let newest = r.key.as_ref().is_some_and(|k| latest.get(k) == Some(&r.offset));
                let expired_tombstone = r.value.is_none() && now_ms - r.timestamp > self.settings.delete_retention_ms;
                newest && !expired_tombstone
            })
            .collect();
        let removed = total - kept.len();
        Ok((kept, removed))
    }

    fn rewrite_segment(&mut self, i: usize, kept: &[Record], now_ms: i64) -> Result<(), LogError> {
        let base = self.segments[i].base_offset;
        let stem = file_stem(base);
        let cleaned = self.dir.join(format!("{stem}.log.cleaned"));
        let bytes = encode_records(kept)?;
        let f = std::fs::File::create(&cleaned)?;
        std::io::Write::write_all(&mut &f, &bytes)?;
        f.sync_all()?;
        for ext in ["index", "timeindex"] {
            match std::fs::remove_file(self.dir.join(format!("{stem}.{ext}"))) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        std::fs::rename(&cleaned, self.dir.join(format!("{stem}.log")))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.segments[i] = Segment::open(&self.dir, base, self.settings.segment(), true, now_ms)?;
        Ok(())
    }
}

fn decode_segment(seg: &Segment) -> Result<Vec<Record>, LogError> {
    let mut buf = Bytes::from(seg.read_at(0, seg.size_bytes() as usize)?);
    let sets =
        RecordBatchDecoder::decode_all(&mut buf).map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?;
    Ok(sets.into_iter().flat_map(|s| s.records).collect())
}

/// Re-encodes surviving records, one batch per run of records that came from
/// one producer batch shape; offsets and timestamps are kept.
fn encode_records(records: &[Record]) -> Result<Bytes, LogError> {
    let mut out = BytesMut::new();
    let Some(first) = records.first() else { return Ok(out.freeze()) };
    // the encoder starts a new batch whenever offset - sequence changes: keep it
    // constant so that survivors share one batch (offset deltas carry the gaps)
    let rebased: Vec<Record> =
        records.iter().map(|r| Record { sequence: (r.offset - first.offset) as i32 - 1, ..r.clone() }).collect();
    RecordBatchEncoder::encode(
        &mut out,
        rebased.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::super::batch;
    use super::*;
    use crate::log::LogSettings;
    use kafka_protocol::records::TimestampType;

    fn record(offset: i64, key: &str, value: Option<&str>, ts: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32 - 1,
            timestamp: ts,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        }
    }

    fn append(log: &mut Log, recs: &[Record]) {
        let mut out = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut out,
            recs.iter(),
            &RecordEncodeOptions { version: 2, compression: Compression::None },
        )
        .unwrap();
        let b = out.freeze();
        let h = batch::split_and_validate(&b, 1 << 20).unwrap();
        log.append(&b, &h, 0, None, 0).unwrap();
    }

    #[test]
    fn keeps_newest_per_key_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LogSettings {
            segment_bytes: 150,
            segment_ms: i64::MAX,
            index_interval_bytes: 0,
            index_entries_max: 100,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            retention_ms: 1,
            retention_bytes: 1,
            compact: true,
            delete_retention_ms: 1_000,
        };
        let mut log = Log::open(dir.path(), settings, false, 0).unwrap();
        // a: 3 versions, b: 2 versions then a tombstone, c: 1 version
        for (i, (k, v)) in [
            ("a", Some("1")),
            ("b", Some("1")),
            ("a", Some("2")),
            ("c", Some("1")),
            ("b", Some("2")),
            ("a", Some("3")),
            ("b", None),
        ]
        .into_iter()
        .enumerate()
        {
            append(&mut log, &[record(0, k, v, 10 + i as i64)]);
        }
        assert!(log.segment_count() >= 3, "small segments roll");
        let end = log.log_end_offset();
        // retention never deletes compacted segments
        assert_eq!(log.apply_retention(1_000_000).unwrap(), 0);
        let stats = log.compact(100).unwrap();
        assert!(stats.records_removed > 0);
        let survivors = |log: &Log| -> Vec<(i64, String, Option<String>)> {
            log.segments
                .iter()
                .flat_map(|s| decode_segment(s).unwrap())
                .map(|r| {
                    (
                        r.offset,
                        String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                        r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    )
                })
                .collect()
        };
        let after = survivors(&log);
        assert_eq!(log.segments.last().unwrap().base_offset, 6, "the active segment holds only the tombstone");
        // superseded versions are gone; offsets are preserved; the active segment is untouched
        assert_eq!(
            after,
            vec![(3, "c".into(), Some("1".into())), (5, "a".into(), Some("3".into())), (6, "b".into(), None)]
        );
        assert_eq!(log.log_end_offset(), end, "the log end never moves back");
        drop(log);
        let log = Log::open(dir.path(), settings, false, 0).unwrap();
        assert_eq!(survivors(&log), after, "cleaned segments recover intact");
        assert_eq!(log.log_end_offset(), end);
        // reads still land on the right batches across the gaps
        for (o, _, _) in &after {
            let r = log.read(*o, 1 << 20, end, true).unwrap();
            let h = batch::BatchHeader::parse(&r.records).unwrap();
            assert!(h.base_offset <= *o && *o <= h.last_offset());
        }
    }
}
