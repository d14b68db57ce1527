//! Record batches (magic v2) as stored: header parsing, validation, offset patching.
//!
//! The broker never decompresses on the hot path: it checks the header and the
//! CRC32C, patches the base offset (and the leader epoch, and for LogAppendTime
//! topics the max timestamp, which is under the CRC and so recomputes it), and
//! stores the bytes the client sent.

use bytes::{Buf, Bytes};

/// base offset (8) + batch length (4): the part of a batch before the length counts.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// The whole v2 batch header, up to and including the record count.
pub const HEADER_BYTES: usize = 61;
/// Bytes counted by `batch_length` in an empty batch (header minus log overhead).
const MIN_BATCH_LENGTH: i32 = (HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// The CRC covers everything from the attributes on.
const CRC_START: usize = 21;

const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// The compression codec id of zstd in the attributes.
pub const COMPRESSION_ZSTD: i16 = 4;
const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch is truncated or its length is inconsistent")]
    Truncated,
    #[error("unsupported record batch magic {0} (only v2 is accepted)")]
    Magic(i8),
    #[error("record batch CRC mismatch (stored {stored:#x}, computed {computed:#x})")]
    Crc { stored: u32, computed: u32 },
    #[error("record batch of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid record batch: {0}")]
    Invalid(&'static str),
}

/// The fixed v2 header fields the broker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the first [`HEADER_BYTES`] of `buf`; checks only that they are there.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_BYTES {
            return Err(BatchError::Truncated);
        }
        let mut b = &buf[..HEADER_BYTES];
        Ok(BatchHeader {
            base_offset: b.get_i64(),
            batch_length: b.get_i32(),
            partition_leader_epoch: b.get_i32(),
            magic: b.get_i8(),
            crc: b.get_u32(),
            attributes: b.get_i16(),
            last_offset_delta: b.get_i32(),
            base_timestamp: b.get_i64(),
            max_timestamp: b.get_i64(),
            producer_id: b.get_i64(),
            producer_epoch: b.get_i16(),
            base_sequence: b.get_i32(),
            record_count: b.get_i32(),
        })
    }

    /// Bytes of the whole batch on disk and on the wire.
    pub fn size_bytes(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Sequence of the last record, wrapping at i32::MAX as Kafka's producers do.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        (last % (i32::MAX as i64 + 1)) as i32
    }
}

/// Reads just the size of the batch starting at `buf[0]` (needs 12 bytes).
pub fn peek_size(buf: &[u8]) -> Option<usize> {
    if buf.len() < LOG_OVERHEAD_BYTES {
        return None;
    }
    let len = i32::from_be_bytes(buf[8..12].try_into().ok()?);
    (len >= MIN_BATCH_LENGTH).then(|| LOG_OVERHEAD_BYTES + len as usize)
}

/// Checks one whole batch: length, magic, CRC32C, record counts.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(batch)?;
    if h.magic != 2 {
        return Err(BatchError::Magic(h.magic));
    }
    if h.batch_length < MIN_BATCH_LENGTH || h.size_bytes() != batch.len() {
        return Err(BatchError::Truncated);
    }
    let computed = crc32c::crc32c(&batch[CRC_START..]);
    if computed != h.crc {
        return Err(BatchError::Crc { stored: h.crc, computed });
    }
    if h.record_count < 0 || h.last_offset_delta < 0 {
        return Err(BatchError::Invalid("negative record count or offset delta"));
    }
    // compaction leaves batches with fewer records than offsets, never more
    if h.record_count > 0 && h.last_offset_delta < h.record_count - 1 {
        return Err(BatchError::Invalid("more records than the offset delta allows"));
    }
    Ok(h)
}

/// Splits a produce request's records into validated batches.
/// `batch_bytes_max` is the topic's `max.message.bytes`.
pub fn split_and_validate(records: &Bytes, batch_bytes_max: usize) -> Result<Vec<BatchHeader>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let size = peek_size(&records[pos..]).ok_or(BatchError::Truncated)?;
        if size > batch_bytes_max {
            return Err(BatchError::TooLarge { size, limit: batch_bytes_max });
        }
        if pos + size > records.len() {
            return Err(BatchError::Truncated);
        }
        let h = validate(&records[pos..pos + size])?;
        if h.record_count == 0 {
            return Err(BatchError::Invalid("empty record batch"));
        }
        // a producer's batch holds consecutive offsets, as many as it has records
        if h.last_offset_delta != h.record_count - 1 {
            return Err(BatchError::Invalid("record count does not match the last offset delta"));
        }
        verify_record_count(&records[pos..pos + size], &h)?;
        out.push(h);
        pos += size;
    }
    if out.is_empty() {
        return Err(BatchError::Invalid("no record batch in the request"));
    }
    Ok(out)
}

/// Splits what a leader sent a follower into whole, checked batches, and how many
/// bytes they cover: a fetch capped by size may end inside a batch (Kafka sends
/// the partial tail; replicas and clients drop it), and compacted batches may hold
/// fewer records than offsets, or none.
pub fn split_fetched(records: &[u8]) -> Result<(Vec<BatchHeader>, usize), BatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(size) = peek_size(&records[pos..]) {
        if pos + size > records.len() {
            break;
        }
        out.push(validate(&records[pos..pos + size])?);
        pos += size;
    }
    Ok((out, pos))
}

/// Some producers (Sarama before 1.26, for one) leave the batch's max timestamp at
/// -1. Kafka derives it from the records; so do we, on this rare path only (it
/// decompresses), so that retention and timestamp lookups see the real times.
/// Returns the repaired header, with the CRC recomputed.
pub fn repair_max_timestamp(batch: &mut [u8], h: &BatchHeader) -> Result<BatchHeader, BatchError> {
    let timestamps = record_timestamps(batch, h)?;
    let max = timestamps.iter().copied().max().unwrap_or(-1);
    batch[35..43].copy_from_slice(&max.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(BatchHeader { max_timestamp: max, crc, ..*h })
}

/// The timestamp of every record in a batch, decompressing if needed. Reads only
/// each record's length and timestamp delta: keys, values and headers are opaque
/// bytes here, as they are to Kafka's broker.
pub fn record_timestamps(batch: &[u8], h: &BatchHeader) -> Result<Vec<i64>, BatchError> {
    let base = h.base_timestamp;
    with_records(batch, h, |b| {
        let mut out = Vec::with_capacity(h.record_count.clamp(0, 1 << 16) as usize);
        walk_records(b, |rec| {
            anyhow::ensure!(rec.has_remaining(), "empty record");
            rec.advance(1); // attributes
            out.push(base.wrapping_add(read_varint(rec)?));
            Ok(())
        })?;
        Ok(out)
    })
}

/// Checks that a producer's batch holds as many records as its header claims.
/// Uncompressed batches are always counted (a scan of record lengths); compressed
/// ones only when the claim exceeds one record per byte, so the common path never
/// decompresses and a batch cannot claim billions of offsets it does not hold.
pub fn verify_record_count(batch: &[u8], h: &BatchHeader) -> Result<(), BatchError> {
    if h.compression() != 0 && (h.record_count as usize) <= batch.len() {
        return Ok(());
    }
    let n = with_records(batch, h, |b| {
        let mut n = 0usize;
        walk_records(b, |_| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    })?;
    if n != h.record_count as usize {
        return Err(BatchError::Invalid("the batch holds a different number of records than its header claims"));
    }
    Ok(())
}

/// Runs `f` over the batch's record bytes: in place when uncompressed (the produce
/// path counts records this way, so no copy), decompressed otherwise.
fn with_records<R>(
    batch: &[u8],
    h: &BatchHeader,
    f: impl FnOnce(&mut &[u8]) -> anyhow::Result<R>,
) -> Result<R, BatchError> {
    use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};
    let records = &batch[HEADER_BYTES..];
    if h.compression() == 0 {
        return f(&mut &records[..]).map_err(undecodable);
    }
    let on_decompressed = |b: &mut Bytes| f(&mut &b[..]);
    let result = match h.compression() {
        1 => Gzip::decompress(&mut Bytes::copy_from_slice(records), on_decompressed),
        2 => Snappy::decompress(&mut Bytes::copy_from_slice(records), on_decompressed),
        3 => Lz4::decompress(&mut Bytes::copy_from_slice(records), on_decompressed),
        COMPRESSION_ZSTD => Zstd::decompress(&mut Bytes::copy_from_slice(records), on_decompressed),
        _ => return Err(BatchError::Invalid("unknown compression codec")),
    };
    result.map_err(undecodable)
}

fn undecodable(e: anyhow::Error) -> BatchError {
    tracing::debug!(error = %e, "cannot read the records of a batch");
    BatchError::Invalid("records cannot be decoded")
}

/// Calls `f` with each record's bytes (after its length prefix); fails on a
/// length past the end.
fn walk_records(b: &mut &[u8], mut f: impl FnMut(&mut &[u8]) -> anyhow::Result<()>) -> anyhow::Result<()> {
    while b.has_remaining() {
        let len = read_varint(b)?;
        anyhow::ensure!(len >= 0 && len as usize <= b.remaining(), "record length {len} exceeds the batch");
        let (mut rec, rest) = b.split_at(len as usize);
        *b = rest;
        f(&mut rec)?;
    }
    Ok(())
}

/// A zigzag varint (Kafka's varint and varlong).
fn read_varint(b: &mut impl Buf) -> anyhow::Result<i64> {
    let mut raw: u64 = 0;
    for shift in (0..70).step_by(7) {
        anyhow::ensure!(b.has_remaining(), "truncated varint");
        let byte = b.get_u8();
        raw |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    anyhow::bail!("varint longer than 10 bytes")
}

/// Writes the broker-assigned fields into a batch in place. `append_time_ms` is
/// `Some` for LogAppendTime topics; the CRC is then recomputed.
pub fn patch(batch: &mut [u8], base_offset: i64, leader_epoch: i32, append_time_ms: Option<i64>) {
    debug_assert!(batch.len() >= HEADER_BYTES);
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(ts) = append_time_ms {
        let attrs = i16::from_be_bytes([batch[21], batch[22]]) | ATTR_TIMESTAMP_TYPE;
        batch[21..23].copy_from_slice(&attrs.to_be_bytes());
        batch[35..43].copy_from_slice(&ts.to_be_bytes());
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid v2 batch with `count` empty-ish records, for tests.
    pub fn make_batch(count: i32, timestamp: i64) -> Vec<u8> {
        let mut records = Vec::new();
        for i in 0..count {
            // length, attributes, ts delta, offset delta, key len -1, value len 1 'x', headers 0
            let body = [0u8, 0, zigzag(i), 1, 2, b'x', 0];
            records.push(zigzag(body.len() as i32));
            records.extend_from_slice(&body);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((HEADER_BYTES - 12 + records.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(count - 1).to_be_bytes());
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&records);
        let crc = crc32c::crc32c(&b[CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// `make_batch` from an idempotent producer.
    pub fn make_idempotent_batch(
        count: i32,
        timestamp: i64,
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
    ) -> Vec<u8> {
        let mut b = make_batch(count, timestamp);
        b[43..51].copy_from_slice(&producer_id.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&base_sequence.to_be_bytes());
        let crc = crc32c::crc32c(&b[CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn zigzag(v: i32) -> u8 {
        let z = ((v << 1) ^ (v >> 31)) as u32;
        assert!(z < 128);
        z as u8
    }

    #[test]
    fn valid_batch_passes_and_patching_keeps_crc() {
        let mut b = make_batch(3, 1000);
        let h = validate(&b).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        patch(&mut b, 42, 5, None);
        let h = validate(&b).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.last_offset(), 44);
        assert_eq!(h.partition_leader_epoch, 5);
        patch(&mut b, 42, 5, Some(777));
        let h = validate(&b).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 777);
    }

    #[test]
    fn corruption_is_detected() {
        let mut b = make_batch(2, 1);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b), Err(BatchError::Crc { .. })));
        let b = make_batch(2, 1);
        assert_eq!(validate(&b[..b.len() - 1]), Err(BatchError::Truncated));
        let mut b = make_batch(2, 1);
        b[16] = 1;
        assert_eq!(validate(&b), Err(BatchError::Magic(1)));
    }

    #[test]
    fn split_checks_sizes() {
        let mut all = make_batch(1, 1);
        all.extend(make_batch(2, 2));
        let all = Bytes::from(all);
        assert_eq!(split_and_validate(&all, 1 << 20).unwrap().len(), 2);
        assert!(matches!(split_and_validate(&all, 10), Err(BatchError::TooLarge { .. })));
        assert_eq!(split_and_validate(&all.slice(..all.len() - 3), 1 << 20), Err(BatchError::Truncated));
        assert!(split_and_validate(&Bytes::new(), 100).is_err());
    }

    #[test]
    fn a_fetch_keeps_its_whole_batches_and_drops_a_partial_tail() {
        let mut all = make_batch(2, 1);
        let first = all.len();
        all.extend(make_batch(3, 2));
        let whole = all.len();
        let (hs, n) = split_fetched(&all).unwrap();
        assert_eq!((hs.len(), n), (2, whole));
        for cut in [whole - 1, first + 20, first + 5] {
            let (hs, n) = split_fetched(&all[..cut]).unwrap();
            assert_eq!((hs.len(), n), (1, first), "cut at {cut}");
        }
        assert_eq!(split_fetched(&all[..7]).unwrap().1, 0);
        let last = all.len() - 1;
        all[last] ^= 1;
        assert!(matches!(split_fetched(&all), Err(BatchError::Crc { .. })));
    }

    #[test]
    fn record_timestamps_ignore_key_and_header_bytes() {
        let b = make_batch(3, 1_000);
        let h = validate(&b).unwrap();
        // make_batch writes timestamp delta 0 for every record
        assert_eq!(record_timestamps(&b, &h).unwrap(), vec![1_000, 1_000, 1_000]);
        let mut v = Bytes::from_static(&[0x96, 0x01]);
        assert_eq!(read_varint(&mut v).unwrap(), 75);
        let mut neg = Bytes::from_static(&[0x03]);
        assert_eq!(read_varint(&mut neg).unwrap(), -2);
    }

    #[test]
    fn a_batch_cannot_claim_records_it_does_not_hold() {
        let mut b = make_batch(1, 5);
        // claim 1000 records (and offsets) while holding one
        b[23..27].copy_from_slice(&999i32.to_be_bytes());
        b[57..61].copy_from_slice(&1000i32.to_be_bytes());
        let crc = crc32c::crc32c(&b[CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(validate(&b).is_ok(), "the header alone is consistent");
        let err = split_and_validate(&Bytes::from(b), 1 << 20).unwrap_err();
        assert_eq!(err, BatchError::Invalid("the batch holds a different number of records than its header claims"));
    }

    #[test]
    fn sequence_wraps() {
        let mut h = BatchHeader::parse(&make_batch(3, 0)).unwrap();
        h.base_sequence = i32::MAX - 1;
        assert_eq!(h.last_sequence(), 0);
    }
}
