//! The pure state of one partition replica: leadership, ISR, high watermark and
//! follower progress. No I/O and no clock: events and times are passed in, so the
//! same code runs in the broker and in simulation tests.
//!
//! Invariants asserted here: the high watermark never decreases; it never passes
//! the log end offset of any ISR member; the leader epoch never goes back.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset, as its last fetch told us.
    pub log_end_offset: i64,
    /// Last time the follower had fetched up to the leader's log end.
    pub last_caught_up_ms: i64,
}

#[derive(Debug, Clone)]
pub struct ReplicaState {
    local_id: i32,
    leader_id: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    local_log_end_offset: i64,
    high_watermark: i64,
    followers: BTreeMap<i32, FollowerProgress>,
}

impl ReplicaState {
    /// This node leads the partition from `leader_epoch` on.
    pub fn new_leader(
        local_id: i32,
        leader_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        log_end_offset: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> ReplicaState {
        assert!(isr.contains(&local_id), "a leader is in its own ISR");
        assert!(high_watermark <= log_end_offset, "HW ≤ LEO");
        let followers = replicas
            .iter()
            .filter(|&&r| r != local_id)
            .map(|&r| (r, FollowerProgress { log_end_offset: -1, last_caught_up_ms: now_ms }))
            .collect();
        let mut s = ReplicaState {
            local_id,
            leader_id: local_id,
            leader_epoch,
            replicas,
            isr,
            local_log_end_offset: log_end_offset,
            high_watermark,
            followers,
        };
        s.recompute_high_watermark();
        s
    }

    /// This node follows `leader_id` (or nobody, -1) at `leader_epoch`.
    pub fn new_follower(
        local_id: i32,
        leader_id: i32,
        leader_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        log_end_offset: i64,
        high_watermark: i64,
    ) -> ReplicaState {
        assert!(leader_id != local_id, "a follower does not follow itself");
        ReplicaState {
            local_id,
            leader_id,
            leader_epoch,
            replicas,
            isr,
            local_log_end_offset: log_end_offset,
            high_watermark: high_watermark.min(log_end_offset),
            followers: BTreeMap::new(),
        }
    }

    /// A follower copied records from its leader up to `log_end_offset`.
    pub fn on_follower_append(&mut self, log_end_offset: i64) {
        assert!(!self.is_leader(), "leaders append with on_local_append");
        assert!(log_end_offset >= self.local_log_end_offset, "the log end offset only grows on append");
        self.local_log_end_offset = log_end_offset;
    }

    /// A follower learnt the leader's HW: its own is that, capped by what it holds.
    pub fn on_leader_high_watermark(&mut self, leader_hw: i64) -> bool {
        let next = leader_hw.min(self.local_log_end_offset);
        if next > self.high_watermark {
            self.high_watermark = next;
            return true;
        }
        false
    }

    /// A follower cut its divergent tail. The HW only falls after an unclean election.
    pub fn on_truncate(&mut self, log_end_offset: i64) {
        assert!(!self.is_leader(), "only followers truncate");
        self.local_log_end_offset = log_end_offset;
        self.high_watermark = self.high_watermark.min(log_end_offset);
    }

    /// The replica set and ISR of the current epoch changed (leader: an ISR change
    /// it asked for was committed; follower: news from the controller).
    pub fn set_membership(&mut self, replicas: Vec<i32>, isr: Vec<i32>, now_ms: i64) -> bool {
        for r in &replicas {
            if *r != self.local_id && self.is_leader() {
                self.followers.entry(*r).or_insert(FollowerProgress { log_end_offset: -1, last_caught_up_ms: now_ms });
            }
        }
        self.followers.retain(|r, _| replicas.contains(r));
        self.replicas = replicas;
        if self.is_leader() {
            self.set_isr(isr)
        } else {
            self.isr = isr;
            false
        }
    }

    /// Replicas outside the ISR that have caught up to the HW: ready to rejoin.
    pub fn caught_up_outside_isr(&self) -> Vec<i32> {
        self.followers
            .iter()
            .filter(|(r, f)| !self.isr.contains(r) && f.log_end_offset >= self.high_watermark)
            .map(|(r, _)| *r)
            .collect()
    }

    pub fn leader_id(&self) -> i32 {
        self.leader_id
    }

    pub fn is_leader(&self) -> bool {
        self.leader_id == self.local_id
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }

    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn log_end_offset(&self) -> i64 {
        self.local_log_end_offset
    }

    /// The local log grew to `log_end_offset`. Returns whether the HW moved.
    pub fn on_local_append(&mut self, log_end_offset: i64) -> bool {
        assert!(log_end_offset >= self.local_log_end_offset, "the log end offset only grows on append");
        self.local_log_end_offset = log_end_offset;
        self.recompute_high_watermark()
    }

    /// A follower fetched from `fetch_offset` (= its log end). Returns whether the HW moved.
    pub fn on_follower_fetch(&mut self, replica: i32, fetch_offset: i64, now_ms: i64) -> bool {
        let leo = self.local_log_end_offset;
        let Some(f) = self.followers.get_mut(&replica) else { return false };
        f.log_end_offset = fetch_offset.min(leo);
        if fetch_offset >= leo {
            f.last_caught_up_ms = now_ms;
        }
        self.recompute_high_watermark()
    }

    /// Followers in the ISR that have not caught up within `lag_max_ms`.
    pub fn lagging_isr_members(&self, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        self.isr
            .iter()
            .filter(|&&r| r != self.local_id)
            .filter(|r| self.followers.get(r).is_some_and(|f| now_ms - f.last_caught_up_ms > lag_max_ms))
            .copied()
            .collect()
    }

    /// Applies an ISR change that the controller committed.
    pub fn set_isr(&mut self, isr: Vec<i32>) -> bool {
        assert!(isr.contains(&self.local_id), "the leader stays in its ISR");
        self.isr = isr;
        self.recompute_high_watermark()
    }

    fn recompute_high_watermark(&mut self) -> bool {
        if !self.is_leader() {
            return false;
        }
        let min_isr_leo = self
            .isr
            .iter()
            .map(|r| {
                if *r == self.local_id {
                    self.local_log_end_offset
                } else {
                    self.followers.get(r).map_or(-1, |f| f.log_end_offset)
                }
            })
            .min()
            .unwrap_or(self.local_log_end_offset);
        if min_isr_leo > self.high_watermark {
            self.high_watermark = min_isr_leo;
            debug_assert!(self.high_watermark <= self.local_log_end_offset);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_replica_hw_follows_leo() {
        let mut s = ReplicaState::new_leader(1, 0, vec![1], vec![1], 0, 0, 0);
        assert!(s.on_local_append(5));
        assert_eq!(s.high_watermark(), 5);
        assert!(!s.on_local_append(5));
    }

    #[test]
    fn hw_is_min_leo_over_isr_and_never_decreases() {
        let mut s = ReplicaState::new_leader(1, 3, vec![1, 2, 3], vec![1, 2, 3], 10, 10, 0);
        // followers have not fetched yet: the leader's append alone cannot move HW
        assert!(!s.on_local_append(20));
        assert_eq!(s.high_watermark(), 10);
        s.on_follower_fetch(2, 20, 90_000);
        assert_eq!(s.high_watermark(), 10);
        assert!(s.on_follower_fetch(3, 15, 1));
        assert_eq!(s.high_watermark(), 15);
        // a follower fetching an older offset (after truncation) does not move HW back
        s.on_follower_fetch(3, 12, 2);
        assert_eq!(s.high_watermark(), 15);
        // shrinking the ISR to the caught-up members lets HW advance
        assert_eq!(s.lagging_isr_members(100_000, 30_000), vec![3]);
        assert!(s.set_isr(vec![1, 2]));
        assert_eq!(s.high_watermark(), 20);
    }

    #[test]
    fn follower_hw_is_the_leaders_capped_by_its_own_log() {
        let mut s = ReplicaState::new_follower(2, 1, 4, vec![1, 2], vec![1, 2], 10, 8);
        assert!(!s.is_leader());
        assert!(s.on_leader_high_watermark(15));
        assert_eq!(s.high_watermark(), 10);
        s.on_follower_append(20);
        assert!(s.on_leader_high_watermark(15));
        assert_eq!(s.high_watermark(), 15);
        assert!(!s.on_leader_high_watermark(12), "HW never goes back");
        s.on_truncate(18);
        assert_eq!((s.log_end_offset(), s.high_watermark()), (18, 15));
    }

    #[test]
    fn caught_up_followers_outside_the_isr_are_offered_back() {
        let mut s = ReplicaState::new_leader(1, 0, vec![1, 2, 3], vec![1, 2], 10, 10, 0);
        s.on_follower_fetch(2, 10, 1);
        s.on_follower_fetch(3, 5, 1);
        assert!(s.caught_up_outside_isr().is_empty());
        s.on_follower_fetch(3, 10, 2);
        assert_eq!(s.caught_up_outside_isr(), vec![3]);
        assert!(!s.set_membership(vec![1, 2, 3], vec![1, 2, 3], 3));
        assert!(s.caught_up_outside_isr().is_empty());
    }

    #[test]
    fn unknown_replica_fetch_is_ignored() {
        let mut s = ReplicaState::new_leader(1, 0, vec![1], vec![1], 0, 0, 0);
        assert!(!s.on_follower_fetch(9, 100, 0));
    }
}
