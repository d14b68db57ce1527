//! The pure state of one partition replica: leadership, ISR, high watermark and
//! follower progress. No I/O and no clock: events and times are passed in, so the
//! same code runs in the broker and in simulation tests.
//!
//! Invariants asserted here: the high watermark never decreases; it never passes
//! the log end offset of any ISR member; the leader epoch never goes back.
//!
//! A leader's ISR change is proposed to the controller and takes effect when the
//! controller's answer is applied. Until then the HW counts the union of the
//! committed and the proposed ISR (Kafka's "maximal ISR"): a member being added
//! may be elected leader as soon as the change commits, so the HW must not pass
//! its log end before that; a member being removed is still in the committed ISR.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset, as its last fetch told us.
    pub log_end_offset: i64,
    /// Last time the follower had fetched up to the leader's log end.
    pub last_caught_up_ms: i64,
}

/// What the controller says of a partition at one partition epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// -1: nobody.
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// Bumped by the controller on every change of leader or ISR: an ISR change
    /// proposed from an older one is refused.
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl Role {
    /// Before the controller has said anything.
    pub fn unassigned() -> Role {
        Role { leader_id: -1, leader_epoch: -1, partition_epoch: -1, replicas: vec![], isr: vec![] }
    }
}

/// An ISR change to send to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone)]
pub struct ReplicaState {
    local_id: i32,
    role: Role,
    /// The ISR this leader proposed, until the controller's answer is applied.
    pending_isr: Option<Vec<i32>>,
    /// Where this leader's epoch began: a replica rejoins the ISR only once it
    /// holds the epoch's first offset (KAFKA-7128), not just the HW.
    epoch_start_offset: i64,
    local_log_end_offset: i64,
    high_watermark: i64,
    followers: BTreeMap<i32, FollowerProgress>,
}

impl ReplicaState {
    /// This node leads the partition from `leader_epoch` on.
    pub fn new_leader(
        local_id: i32,
        role: Role,
        log_end_offset: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> ReplicaState {
        assert_eq!(role.leader_id, local_id, "a leader leads");
        assert!(role.isr.contains(&local_id), "a leader is in its own ISR");
        assert!(high_watermark <= log_end_offset, "HW ≤ LEO");
        let followers = role
            .replicas
            .iter()
            .filter(|&&r| r != local_id)
            .map(|&r| (r, FollowerProgress { log_end_offset: -1, last_caught_up_ms: now_ms }))
            .collect();
        let mut s = ReplicaState {
            local_id,
            role,
            pending_isr: None,
            epoch_start_offset: log_end_offset,
            local_log_end_offset: log_end_offset,
            high_watermark,
            followers,
        };
        s.recompute_high_watermark();
        s
    }

    /// This node follows `role.leader_id` (or nobody, -1).
    pub fn new_follower(local_id: i32, role: Role, log_end_offset: i64, high_watermark: i64) -> ReplicaState {
        assert!(role.leader_id != local_id, "a follower does not follow itself");
        ReplicaState {
            local_id,
            role,
            pending_isr: None,
            epoch_start_offset: log_end_offset,
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

    /// A new partition epoch under the same leader and leader epoch: the replica
    /// set or ISR changed (leader: the controller answered its ISR proposal, or
    /// fenced a member; follower: news from the controller). Any proposal in
    /// flight is settled by it. Returns whether the HW moved.
    pub fn set_membership(&mut self, role: Role, now_ms: i64) -> bool {
        assert_eq!(
            (role.leader_id, role.leader_epoch),
            (self.role.leader_id, self.role.leader_epoch),
            "a new leader or epoch is a new state"
        );
        if self.is_leader() {
            assert!(role.isr.contains(&self.local_id), "the leader stays in its ISR");
            for r in &role.replicas {
                if *r != self.local_id {
                    self.followers
                        .entry(*r)
                        .or_insert(FollowerProgress { log_end_offset: -1, last_caught_up_ms: now_ms });
                }
            }
        }
        self.followers.retain(|r, _| role.replicas.contains(r));
        self.role = role;
        self.pending_isr = None;
        self.recompute_high_watermark()
    }

    /// Records `isr` as proposed to the controller, and returns what to send;
    /// `None` when a proposal is already out (one at a time, as Kafka) or this
    /// replica does not lead.
    pub fn propose_isr(&mut self, isr: Vec<i32>) -> Option<IsrProposal> {
        if !self.is_leader() || self.pending_isr.is_some() {
            return None;
        }
        assert!(isr.contains(&self.local_id), "the leader stays in its ISR");
        self.pending_isr = Some(isr.clone());
        Some(IsrProposal { leader_epoch: self.role.leader_epoch, partition_epoch: self.role.partition_epoch, isr })
    }

    /// The proposal in flight, to send again when its answer was lost.
    pub fn pending_isr(&self) -> Option<IsrProposal> {
        self.pending_isr.as_ref().map(|isr| IsrProposal {
            leader_epoch: self.role.leader_epoch,
            partition_epoch: self.role.partition_epoch,
            isr: isr.clone(),
        })
    }

    /// The controller refused the proposal made at `partition_epoch` and changed
    /// nothing: the leader may propose again. A refusal because the partition
    /// moved on is settled by applying the new state instead.
    pub fn isr_refused(&mut self, partition_epoch: i32) {
        if self.role.partition_epoch == partition_epoch {
            self.pending_isr = None;
        }
    }

    /// Replicas outside the ISR that hold everything up to the HW and this
    /// leader's epoch start: ready to rejoin.
    pub fn caught_up_outside_isr(&self) -> Vec<i32> {
        let needed = self.high_watermark.max(self.epoch_start_offset);
        self.followers
            .iter()
            .filter(|(r, f)| !self.role.isr.contains(r) && f.log_end_offset >= needed)
            .map(|(r, _)| *r)
            .collect()
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn leader_id(&self) -> i32 {
        self.role.leader_id
    }

    pub fn is_leader(&self) -> bool {
        self.role.leader_id == self.local_id
    }

    pub fn leader_epoch(&self) -> i32 {
        self.role.leader_epoch
    }

    pub fn replicas(&self) -> &[i32] {
        &self.role.replicas
    }

    /// The committed ISR (what min.insync.replicas is checked against).
    pub fn isr(&self) -> &[i32] {
        &self.role.isr
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
        self.role
            .isr
            .iter()
            .filter(|&&r| r != self.local_id)
            .filter(|r| self.followers.get(r).is_some_and(|f| now_ms - f.last_caught_up_ms > lag_max_ms))
            .copied()
            .collect()
    }

    /// The HW is the least log end over the maximal ISR: the committed ISR and
    /// any member a proposal in flight would add.
    fn recompute_high_watermark(&mut self) -> bool {
        if !self.is_leader() {
            return false;
        }
        let pending = self.pending_isr.iter().flatten().filter(|r| !self.role.isr.contains(r));
        let min_isr_leo = self
            .role
            .isr
            .iter()
            .chain(pending)
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

    fn role(leader: i32, epoch: i32, replicas: &[i32], isr: &[i32]) -> Role {
        Role {
            leader_id: leader,
            leader_epoch: epoch,
            partition_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        }
    }

    /// The same leader and epoch at the next partition epoch.
    fn next(s: &ReplicaState, isr: &[i32]) -> Role {
        Role { partition_epoch: s.role().partition_epoch + 1, isr: isr.to_vec(), ..s.role().clone() }
    }

    #[test]
    fn single_replica_hw_follows_leo() {
        let mut s = ReplicaState::new_leader(1, role(1, 0, &[1], &[1]), 0, 0, 0);
        assert!(s.on_local_append(5));
        assert_eq!(s.high_watermark(), 5);
        assert!(!s.on_local_append(5));
    }

    #[test]
    fn hw_is_min_leo_over_isr_and_never_decreases() {
        let mut s = ReplicaState::new_leader(1, role(1, 3, &[1, 2, 3], &[1, 2, 3]), 10, 10, 0);
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
        // a proposed shrink does not count until the controller commits it
        assert_eq!(s.lagging_isr_members(100_000, 30_000), vec![3]);
        let proposal = s.propose_isr(vec![1, 2]).expect("leader, nothing in flight");
        assert_eq!((proposal.leader_epoch, proposal.partition_epoch), (3, 0));
        assert_eq!(s.high_watermark(), 15);
        assert!(s.set_membership(next(&s, &[1, 2]), 100_001));
        assert_eq!(s.high_watermark(), 20);
    }

    #[test]
    fn a_proposed_expansion_holds_the_hw_at_the_new_members_log_end() {
        let mut s = ReplicaState::new_leader(1, role(1, 0, &[1, 2, 3], &[1, 2]), 10, 10, 0);
        s.on_follower_fetch(2, 10, 1);
        s.on_follower_fetch(3, 10, 1);
        assert_eq!(s.caught_up_outside_isr(), vec![3]);
        s.propose_isr(vec![1, 2, 3]).expect("nothing in flight");
        assert!(s.propose_isr(vec![1, 2]).is_none(), "one proposal at a time");
        // 3 may lead once the change commits: the HW waits for it
        s.on_local_append(20);
        s.on_follower_fetch(2, 20, 2);
        assert_eq!(s.high_watermark(), 10);
        assert!(s.on_follower_fetch(3, 20, 3));
        assert_eq!(s.high_watermark(), 20);
        // refused at another partition epoch: settled by the new state, not here
        s.isr_refused(7);
        assert!(s.pending_isr().is_some());
        s.isr_refused(0);
        assert!(s.pending_isr().is_none());
    }

    #[test]
    fn a_replica_rejoins_only_past_the_leaders_epoch_start() {
        // led from offset 10 at a HW of 5: a replica at 7 holds the HW, not the epoch start
        let mut s = ReplicaState::new_leader(1, role(1, 2, &[1, 2], &[1]), 10, 5, 0);
        s.on_follower_fetch(2, 7, 1);
        assert!(s.caught_up_outside_isr().is_empty());
        s.on_follower_fetch(2, 10, 2);
        assert_eq!(s.caught_up_outside_isr(), vec![2]);
    }

    #[test]
    fn follower_hw_is_the_leaders_capped_by_its_own_log() {
        let mut s = ReplicaState::new_follower(2, role(1, 4, &[1, 2], &[1, 2]), 10, 8);
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
        let mut s = ReplicaState::new_leader(1, role(1, 0, &[1, 2, 3], &[1, 2]), 10, 10, 0);
        s.on_follower_fetch(2, 10, 1);
        s.on_follower_fetch(3, 5, 1);
        assert!(s.caught_up_outside_isr().is_empty());
        s.on_follower_fetch(3, 10, 2);
        assert_eq!(s.caught_up_outside_isr(), vec![3]);
        assert!(!s.set_membership(next(&s, &[1, 2, 3]), 3));
        assert!(s.caught_up_outside_isr().is_empty());
    }

    #[test]
    fn unknown_replica_fetch_is_ignored() {
        let mut s = ReplicaState::new_leader(1, role(1, 0, &[1], &[1]), 0, 0, 0);
        assert!(!s.on_follower_fetch(9, 100, 0));
    }
}
