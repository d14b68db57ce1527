//! Idempotent-producer state of one partition, as a pure module shared by the
//! append path, recovery (replaying batch headers from the log) and, later,
//! replication: for each producer id, its epoch and the last five batches'
//! sequence ranges and offsets.
//!
//! Rules (Kafka's): the next sequence appends; a duplicate of one of the last
//! five batches is acknowledged with its original offset and not appended; a gap
//! is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH; a
//! newer epoch must start at sequence 0. A producer we hold no state for (new, or
//! expired, or removed by retention) is accepted at any sequence, as Kafka does
//! since KIP-360 (2.5); a known epoch whose next sequence is unknown is
//! UNKNOWN_PRODUCER_ID. Sequences wrap from i32::MAX to 0.

use std::collections::{HashMap, VecDeque};

/// How many recent batches per producer are kept for duplicate detection
/// (Kafka's `max.in.flight.requests.per.connection` limit for idempotence).
pub const BATCHES_PER_PRODUCER: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_PER_PRODUCER`].
    pub batches: VecDeque<BatchMeta>,
    /// Wall-clock time of the last append, for `producer.id.expiration.ms`.
    pub last_append_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("out of order sequence number: expected {expected}, got {got}")]
    OutOfOrderSequence { expected: i32, got: i32 },
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch { current: i16, got: i16 },
    #[error("no state for producer id {0} and sequence is not 0")]
    UnknownProducerId(i64),
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// Already appended: acknowledge with the original offsets.
    Duplicate(BatchMeta),
}

/// The sequence after `seq`, wrapping at i32::MAX.
pub fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&i64, &ProducerEntry)> {
        self.producers.iter()
    }

    /// Decides whether a batch with these sequences may be appended.
    pub fn check(&self, producer_id: i64, epoch: i16, first_seq: i32, last_seq: i32) -> Result<Verdict, ProducerError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            // no state (new producer, or its batches expired or were deleted): Kafka
            // accepts any sequence rather than failing a producer whose data is gone
            return Ok(Verdict::Append);
        };
        if epoch < entry.epoch {
            return Err(ProducerError::InvalidProducerEpoch { current: entry.epoch, got: epoch });
        }
        if epoch > entry.epoch {
            // a bumped epoch restarts the sequence
            return if first_seq == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ProducerError::OutOfOrderSequence { expected: 0, got: first_seq })
            };
        }
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq) {
            return Ok(Verdict::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(last) if next_seq(last.last_seq) == first_seq => Ok(Verdict::Append),
            Some(last) => Err(ProducerError::OutOfOrderSequence { expected: next_seq(last.last_seq), got: first_seq }),
            // known epoch, no batches (state restored without them): only 0 is safe
            None if first_seq == 0 => Ok(Verdict::Append),
            None => Err(ProducerError::UnknownProducerId(producer_id)),
        }
    }

    /// Records an appended batch (from the append path or from replaying the log).
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchMeta, now_ms: i64) {
        let entry = self.producers.entry(producer_id).or_insert_with(|| ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_append_ms: now_ms,
        });
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        debug_assert!(epoch == entry.epoch, "batches of an older epoch are never recorded");
        entry.batches.push_back(batch);
        while entry.batches.len() > BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
    }

    /// Drops producers idle longer than `expiration_ms`. Returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| now_ms - e.last_append_ms <= expiration_ms);
        before - self.producers.len()
    }

    /// Drops producers whose every batch is below the log start (retention removed them).
    pub fn remove_below(&mut self, log_start_offset: i64) {
        self.producers.retain(|_, e| e.batches.back().is_none_or(|b| b.last_offset >= log_start_offset));
    }

    /// Drops state of batches at or past `offset` (log truncation).
    pub fn truncate_to(&mut self, offset: i64) {
        for e in self.producers.values_mut() {
            e.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    pub fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        self.producers.insert(producer_id, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMeta {
        let n = (last_seq as i64 - first_seq as i64).rem_euclid(i32::MAX as i64 + 1);
        BatchMeta { first_seq, last_seq, first_offset, last_offset: first_offset + n, max_timestamp: 0 }
    }

    #[test]
    fn next_sequence_appends_and_gaps_are_rejected() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(7, 0, 0, 4), Ok(Verdict::Append));
        s.record(7, 0, meta(0, 4, 0), 1);
        assert_eq!(s.check(7, 0, 5, 9), Ok(Verdict::Append));
        assert_eq!(s.check(7, 0, 6, 9), Err(ProducerError::OutOfOrderSequence { expected: 5, got: 6 }));
        assert_eq!(s.check(7, 0, 4, 9), Err(ProducerError::OutOfOrderSequence { expected: 5, got: 4 }));
    }

    #[test]
    fn duplicates_of_the_last_five_batches_return_their_offsets() {
        let mut s = ProducerStates::default();
        let mut off = 0;
        for i in 0..7 {
            let m = meta(i * 10, i * 10 + 9, off);
            assert_eq!(s.check(1, 0, m.first_seq, m.last_seq), Ok(Verdict::Append));
            s.record(1, 0, m, i as i64);
            off += 10;
        }
        // batches 2..=6 remembered; 0 and 1 forgotten
        assert_eq!(s.check(1, 0, 60, 69), Ok(Verdict::Duplicate(meta(60, 69, 60))));
        assert_eq!(s.check(1, 0, 20, 29), Ok(Verdict::Duplicate(meta(20, 29, 20))));
        assert!(matches!(s.check(1, 0, 10, 19), Err(ProducerError::OutOfOrderSequence { .. })));
        assert_eq!(s.get(1).unwrap().batches.len(), BATCHES_PER_PRODUCER);
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut s = ProducerStates::default();
        s.record(3, 1, meta(0, 9, 0), 0);
        assert_eq!(s.check(3, 0, 10, 19), Err(ProducerError::InvalidProducerEpoch { current: 1, got: 0 }));
        assert_eq!(s.check(3, 2, 5, 9), Err(ProducerError::OutOfOrderSequence { expected: 0, got: 5 }));
        assert_eq!(s.check(3, 2, 0, 9), Ok(Verdict::Append));
        s.record(3, 2, meta(0, 9, 10), 1);
        assert_eq!(s.get(3).unwrap().epoch, 2);
        assert_eq!(s.check(3, 1, 10, 19), Err(ProducerError::InvalidProducerEpoch { current: 2, got: 1 }));
    }

    #[test]
    fn producer_without_state_is_accepted_at_any_sequence() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(9, 0, 0, 0), Ok(Verdict::Append));
        assert_eq!(s.check(9, 0, 42, 50), Ok(Verdict::Append));
        // a known epoch whose next sequence is unknown (state restored without batches)
        s.insert(9, ProducerEntry { epoch: 0, batches: VecDeque::new(), last_append_ms: 0 });
        assert_eq!(s.check(9, 0, 42, 50), Err(ProducerError::UnknownProducerId(9)));
        assert_eq!(s.check(9, 0, 0, 3), Ok(Verdict::Append));
    }

    #[test]
    fn interleaved_producers_are_independent() {
        let mut s = ProducerStates::default();
        s.record(1, 0, meta(0, 0, 0), 0);
        s.record(2, 5, meta(0, 1, 1), 0);
        s.record(1, 0, meta(1, 1, 3), 0);
        assert_eq!(s.check(2, 5, 2, 2), Ok(Verdict::Append));
        assert_eq!(s.check(1, 0, 2, 2), Ok(Verdict::Append));
        assert_eq!(s.check(2, 5, 1, 1), Err(ProducerError::OutOfOrderSequence { expected: 2, got: 1 }));
        assert_eq!(s.check(1, 0, 0, 0), Ok(Verdict::Duplicate(meta(0, 0, 0))));
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut s = ProducerStates::default();
        assert_eq!(next_seq(i32::MAX), 0);
        s.record(4, 0, meta(i32::MAX - 2, i32::MAX, 100), 0);
        assert_eq!(s.check(4, 0, 0, 3), Ok(Verdict::Append));
        // a batch that itself wraps
        s.record(4, 0, meta(0, 3, 103), 0);
        s.record(
            4,
            0,
            BatchMeta { first_seq: i32::MAX - 1, last_seq: 1, first_offset: 200, last_offset: 203, max_timestamp: 0 },
            0,
        );
        assert_eq!(s.check(4, 0, 2, 2), Ok(Verdict::Append));
    }

    #[test]
    fn expiry_retention_and_truncation_forget_state() {
        let mut s = ProducerStates::default();
        s.record(1, 0, meta(0, 0, 0), 100);
        s.record(2, 0, meta(0, 0, 50), 1_000);
        assert_eq!(s.expire(1_050, 500), 1);
        assert!(s.get(1).is_none() && s.get(2).is_some());
        s.remove_below(51);
        assert!(s.is_empty());
        s.record(3, 0, meta(0, 4, 10), 0);
        s.record(3, 0, meta(5, 9, 15), 0);
        s.truncate_to(15);
        assert_eq!(s.check(3, 0, 5, 9), Ok(Verdict::Append));
    }
}
