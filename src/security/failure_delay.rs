//! Slows password guessing: a failed authentication is answered late, the delay
//! doubling with each failure for the same user from the same client address (from
//! `connection.failed.authentication.delay.ms`, capped). Once a (user, address) pair
//! has failed repeatedly, its attempts also queue behind each other, so parallel
//! connections guess no faster than one. Keying by user as well as address keeps a
//! misconfigured client from slowing its neighbours behind the same NAT. Pure: time
//! is passed in; the caller sleeps.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The spacing never exceeds this.
const DELAY_MAX_MS: i64 = 5_000;
/// An address with no failure for this long starts over.
const FORGET_AFTER_MS: i64 = 60_000;
/// (user, address) pairs remembered at most; beyond it the oldest are forgotten first.
const ADDRESSES_MAX: usize = 10_000;
/// Longest user name kept in a key (longer ones are cut: the key only groups).
const USER_BYTES_MAX: usize = 256;
/// Recent failures from which a pair's attempts queue behind each other.
const QUEUE_AFTER_FAILURES: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure_ms: i64,
    /// The earliest time the next attempt from this address may be evaluated.
    next_slot_ms: i64,
}

pub struct FailureDelay {
    base_ms: i64,
    entries: Mutex<HashMap<Key, Entry>>,
}

type Key = (IpAddr, Box<str>);

fn key(ip: IpAddr, user: &str) -> Key {
    let mut end = user.len().min(USER_BYTES_MAX);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    (ip, user[..end].into())
}

impl FailureDelay {
    pub fn new(base_ms: i64) -> FailureDelay {
        assert!(base_ms >= 0, "delay must not be negative");
        FailureDelay { base_ms, entries: Mutex::new(HashMap::new()) }
    }

    fn spacing_ms(&self, failures: u32) -> i64 {
        if failures == 0 {
            return 0;
        }
        let doubled = self.base_ms.saturating_mul(1i64 << (failures - 1).min(20));
        doubled.min(DELAY_MAX_MS.max(self.base_ms))
    }

    /// How long to wait before evaluating an attempt from `ip`: zero unless the
    /// address has failed repeatedly of late.
    pub fn admit(&self, ip: IpAddr, user: &str, now_ms: i64) -> Duration {
        let k = key(ip, user);
        let mut entries = self.entries.lock().expect("failure delay lock");
        let Some(e) = entries.get_mut(&k) else { return Duration::ZERO };
        if now_ms - e.last_failure_ms > FORGET_AFTER_MS {
            entries.remove(&k);
            return Duration::ZERO;
        }
        if e.failures < QUEUE_AFTER_FAILURES {
            return Duration::ZERO;
        }
        let slot = e.next_slot_ms.max(now_ms);
        e.next_slot_ms = slot + self.spacing_ms(e.failures);
        Duration::from_millis((slot - now_ms) as u64)
    }

    /// Records a failure; returns how long to hold its answer.
    pub fn on_failure(&self, ip: IpAddr, user: &str, now_ms: i64) -> Duration {
        let k = key(ip, user);
        let mut entries = self.entries.lock().expect("failure delay lock");
        if entries.len() >= ADDRESSES_MAX && !entries.contains_key(&k) {
            entries.retain(|_, e| now_ms - e.last_failure_ms <= FORGET_AFTER_MS);
            if entries.len() >= ADDRESSES_MAX {
                let oldest = entries.iter().min_by_key(|(_, e)| e.last_failure_ms).map(|(k, _)| k.clone());
                entries.remove(&oldest.expect("map is full"));
            }
        }
        let e = entries.entry(k).or_insert(Entry { failures: 0, last_failure_ms: now_ms, next_slot_ms: now_ms });
        if now_ms - e.last_failure_ms > FORGET_AFTER_MS {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure_ms = now_ms;
        let spacing = self.spacing_ms(e.failures);
        e.next_slot_ms = e.next_slot_ms.max(now_ms + spacing);
        debug_assert!(entries.len() <= ADDRESSES_MAX);
        Duration::from_millis(spacing as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn failures_double_the_delay_up_to_the_cap() {
        let d = FailureDelay::new(100);
        let got: Vec<u64> = (0..8).map(|i| d.on_failure(ip(1), "alice", i).as_millis() as u64).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // another address is not affected, nor another user from the same address
        assert_eq!(d.admit(ip(2), "alice", 10), Duration::ZERO);
        assert_eq!(d.on_failure(ip(1), "bob", 10), Duration::from_millis(100));
    }

    #[test]
    fn attempts_queue_only_after_repeated_failures() {
        let d = FailureDelay::new(10);
        assert_eq!(d.admit(ip(1), "alice", 0), Duration::ZERO);
        for _ in 1..QUEUE_AFTER_FAILURES {
            d.on_failure(ip(1), "alice", 0);
            assert_eq!(d.admit(ip(1), "alice", 0), Duration::ZERO, "a few failures hold up no one");
        }
        d.on_failure(ip(1), "alice", 0); // 5th failure: spacing 160, next slot 160
        assert_eq!(d.admit(ip(1), "alice", 0), Duration::from_millis(160));
        assert_eq!(d.admit(ip(1), "alice", 0), Duration::from_millis(320));
        assert_eq!(d.admit(ip(1), "alice", 400), Duration::from_millis(80));
    }

    #[test]
    fn quiet_addresses_are_forgotten() {
        let d = FailureDelay::new(100);
        d.on_failure(ip(1), "alice", 0);
        d.on_failure(ip(1), "alice", 0);
        assert_eq!(d.admit(ip(1), "alice", FORGET_AFTER_MS + 1), Duration::ZERO);
        assert_eq!(d.on_failure(ip(1), "alice", FORGET_AFTER_MS + 2), Duration::from_millis(100));
    }

    #[test]
    fn the_table_stays_bounded() {
        let d = FailureDelay::new(1);
        for i in 0..(ADDRESSES_MAX as u32 + 50) {
            d.on_failure(IpAddr::from(i.to_be_bytes()), "u", i as i64);
        }
        assert!(d.entries.lock().unwrap().len() <= ADDRESSES_MAX);
    }

    #[test]
    fn zero_base_never_delays() {
        let d = FailureDelay::new(0);
        assert_eq!(d.on_failure(ip(1), "alice", 0), Duration::ZERO);
        assert_eq!(d.admit(ip(1), "alice", 0), Duration::ZERO);
    }
}
