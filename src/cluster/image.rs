//! The cluster metadata image and the commands that change it: what every node
//! applies from the Raft log, in log order, to reach the same state.
//!
//! Pure: no I/O, no clock. Every decision that depends on the image (which
//! replica leads after a fence, whether an ISR change is stale) is made here, at
//! apply time, so that all nodes make it the same way. Choices that need more
//! than the image (replica placement, the unclean-election switch) are made by
//! the controller before proposing and travel inside the command.

use super::access::{AccessChange, AccessImage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// No leader: every ISR member is fenced (and unclean election is off).
pub const NO_LEADER: i32 = -1;

/// Where a broker's listener is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub id: i32,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// New at every process start: a new one means the broker restarted.
    pub incarnation: Uuid,
    /// Missed its heartbeats (or shut down): leads nothing, in no ISR.
    pub fenced: bool,
}

impl BrokerRegistration {
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.listener == listener)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// Preferred leader first.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change (leader or ISR), as KRaft's partition epoch.
    pub partition_epoch: i32,
}

impl PartitionImage {
    /// What a replica of this partition is told: leader, epochs, replicas and ISR.
    pub fn role(&self) -> crate::broker::replica_state::Role {
        crate::broker::replica_state::Role {
            leader_id: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicImage>,
    /// Users, ACLs and quotas set online. Shared, not copied, by the images published
    /// after commands that do not change it.
    #[serde(default)]
    pub access: Arc<AccessImage>,
    /// The first producer id of the next block handed out (KIP-730).
    #[serde(default)]
    pub next_producer_id: i64,
    /// The cluster's id, chosen once by the first active controller: every node
    /// reports this one (Kafka formats every node's storage with one id).
    #[serde(default)]
    pub cluster_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A broker (re)joined: registered and unfenced. Leaderless partitions it can
    /// lead get it as leader.
    /// A new incarnation is first fenced: the restarted broker may have lost its
    /// unflushed tail, so it does not keep leaderships from its previous life.
    RegisterBroker {
        id: i32,
        incarnation: Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// A broker stopped heartbeating, or is shutting down: its leaderships move to
    /// another ISR member (any live replica when `unclean`), and it leaves every ISR
    /// it is not the last member of.
    FenceBroker {
        id: i32,
        unclean: bool,
    },
    CreateTopic {
        name: String,
        id: Uuid,
        configs: BTreeMap<String, String>,
        assignments: Vec<Vec<i32>>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        assignments: Vec<Vec<i32>>,
    },
    SetTopicConfig {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// The partition leader's ISR change (Kafka's AlterPartition), valid only for the
    /// leader and epoch that sent it, and only at the partition epoch it was
    /// computed from (an entry written before partition epochs were sent has none).
    AlterIsr {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        #[serde(default)]
        partition_epoch: Option<i32>,
        isr: Vec<i32>,
    },
    /// Moves leadership back to the first replica when it is a live ISR member.
    ElectPreferred {
        topic: String,
        partition: i32,
    },
    /// A change to the users, ACLs or quotas set online.
    Access(AccessChange),
    /// A block of `PRODUCER_ID_BLOCK` producer ids for a broker's InitProducerId
    /// (Kafka's AllocateProducerIds): the outcome says where it starts.
    AllocateProducerIds {
        broker: i32,
    },
    /// Names the cluster; only the first such command counts.
    InitCluster {
        id: Uuid,
    },
}

/// Producer ids per block (Kafka's controller hands out 1000 at a time).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// What applying a command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Applied,
    Rejected(Rejection),
    /// AllocateProducerIds: the block `[first, first + PRODUCER_ID_BLOCK)` is the broker's.
    ProducerIds {
        first: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    TopicExists(String),
    UnknownTopic(String),
    UnknownPartition,
    StaleLeaderEpoch {
        current: i32,
    },
    NotLeader {
        current: i32,
    },
    /// The partition changed since the ISR change was computed (Kafka's INVALID_UPDATE_VERSION).
    StalePartitionEpoch {
        current: i32,
    },
    InvalidIsr(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::TopicExists(t) => write!(f, "topic '{t}' already exists"),
            Rejection::UnknownTopic(t) => write!(f, "unknown topic '{t}'"),
            Rejection::UnknownPartition => f.write_str("unknown partition"),
            Rejection::StaleLeaderEpoch { current } => write!(f, "stale leader epoch (current {current})"),
            Rejection::NotLeader { current } => write!(f, "not the leader (current {current})"),
            Rejection::StalePartitionEpoch { current } => write!(f, "stale partition epoch (current {current})"),
            Rejection::InvalidIsr(why) => write!(f, "invalid ISR: {why}"),
        }
    }
}

impl Image {
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Live brokers, by id.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<&PartitionImage> {
        self.topics.get(topic)?.partitions.get(usize::try_from(index).ok()?)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<(&String, &TopicImage)> {
        self.topics.iter().find(|(_, t)| t.id == id)
    }

    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::RegisterBroker { id, incarnation, endpoints, rack } => {
                let restarted = self.brokers.get(id).is_some_and(|b| !b.fenced && b.incarnation != *incarnation);
                if restarted {
                    self.apply(&Command::FenceBroker { id: *id, unclean: false });
                }
                let reg = BrokerRegistration {
                    id: *id,
                    endpoints: endpoints.clone(),
                    rack: rack.clone(),
                    incarnation: *incarnation,
                    fenced: false,
                };
                self.brokers.insert(*id, reg);
                for p in self.topics.values_mut().flat_map(|t| t.partitions.iter_mut()) {
                    if p.leader == NO_LEADER && p.isr.contains(id) {
                        p.leader = *id;
                        p.leader_epoch += 1;
                        p.partition_epoch += 1;
                    }
                }
                Outcome::Applied
            }
            Command::FenceBroker { id, unclean } => {
                if let Some(b) = self.brokers.get_mut(id) {
                    b.fenced = true;
                }
                let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
                for p in self.topics.values_mut().flat_map(|t| t.partitions.iter_mut()) {
                    fence_in_partition(p, *id, &live, *unclean);
                }
                Outcome::Applied
            }
            Command::CreateTopic { name, id, configs, assignments } => {
                if self.topics.contains_key(name) {
                    return Outcome::Rejected(Rejection::TopicExists(name.clone()));
                }
                let partitions = assignments.iter().map(|r| self.new_partition(r)).collect();
                self.topics.insert(name.clone(), TopicImage { id: *id, configs: configs.clone(), partitions });
                Outcome::Applied
            }
            Command::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => Outcome::Applied,
                None => Outcome::Rejected(Rejection::UnknownTopic(name.clone())),
            },
            Command::CreatePartitions { name, assignments } => {
                let new: Vec<PartitionImage> = assignments.iter().map(|r| self.new_partition(r)).collect();
                match self.topics.get_mut(name) {
                    Some(t) => {
                        t.partitions.extend(new);
                        Outcome::Applied
                    }
                    None => Outcome::Rejected(Rejection::UnknownTopic(name.clone())),
                }
            }
            Command::SetTopicConfig { name, configs } => match self.topics.get_mut(name) {
                Some(t) => {
                    t.configs = configs.clone();
                    Outcome::Applied
                }
                None => Outcome::Rejected(Rejection::UnknownTopic(name.clone())),
            },
            Command::AlterIsr { topic, partition, leader, leader_epoch, partition_epoch, isr } => {
                let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
                let Some(p) =
                    self.topics.get_mut(topic).and_then(|t| t.partitions.get_mut(usize::try_from(*partition).ok()?))
                else {
                    return Outcome::Rejected(Rejection::UnknownPartition);
                };
                if p.leader != *leader {
                    return Outcome::Rejected(Rejection::NotLeader { current: p.leader });
                }
                if p.leader_epoch != *leader_epoch {
                    return Outcome::Rejected(Rejection::StaleLeaderEpoch { current: p.leader_epoch });
                }
                if partition_epoch.is_some_and(|e| e != p.partition_epoch) {
                    return Outcome::Rejected(Rejection::StalePartitionEpoch { current: p.partition_epoch });
                }
                if !isr.contains(leader) {
                    return Outcome::Rejected(Rejection::InvalidIsr("the leader must stay in its ISR".into()));
                }
                if let Some(r) = isr.iter().find(|r| !p.replicas.contains(r)) {
                    return Outcome::Rejected(Rejection::InvalidIsr(format!("{r} is not a replica")));
                }
                if let Some(r) = isr.iter().find(|r| !p.isr.contains(r) && !live.contains(r)) {
                    return Outcome::Rejected(Rejection::InvalidIsr(format!("broker {r} is fenced")));
                }
                let mut isr = isr.clone();
                isr.sort_unstable();
                isr.dedup();
                p.isr = isr;
                p.partition_epoch += 1;
                Outcome::Applied
            }
            Command::ElectPreferred { topic, partition } => {
                let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
                let Some(p) =
                    self.topics.get_mut(topic).and_then(|t| t.partitions.get_mut(usize::try_from(*partition).ok()?))
                else {
                    return Outcome::Rejected(Rejection::UnknownPartition);
                };
                let preferred = p.replicas[0];
                if p.leader != preferred && p.isr.contains(&preferred) && live.contains(&preferred) {
                    p.leader = preferred;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                }
                Outcome::Applied
            }
            Command::Access(change) => {
                Arc::make_mut(&mut self.access).apply(change);
                Outcome::Applied
            }
            Command::InitCluster { id } => {
                self.cluster_id.get_or_insert(*id);
                Outcome::Applied
            }
            Command::AllocateProducerIds { .. } => {
                let first = self.next_producer_id;
                self.next_producer_id += PRODUCER_ID_BLOCK;
                Outcome::ProducerIds { first }
            }
        }
    }

    /// A new partition: every live replica in sync, the first live one leading.
    fn new_partition(&self, replicas: &[i32]) -> PartitionImage {
        let mut isr: Vec<i32> = replicas.iter().copied().filter(|r| self.is_live(*r)).collect();
        let leader = isr.first().copied().unwrap_or(NO_LEADER);
        if isr.is_empty() {
            isr = replicas.to_vec();
        }
        isr.sort_unstable();
        PartitionImage { replicas: replicas.to_vec(), isr, leader, leader_epoch: 0, partition_epoch: 0 }
    }

    /// Replica lists for `count` new partitions of `rf` replicas over the live
    /// brokers, starting at `start` (so that topics spread their leaders). With racks
    /// set, brokers are interleaved by rack first, so that consecutive replicas of a
    /// partition land on different racks where possible (Kafka's rack-aware order).
    pub fn assign(&self, count: i32, rf: i16, start: usize) -> Result<Vec<Vec<i32>>, String> {
        let live: Vec<&BrokerRegistration> = self.live_brokers().collect();
        let rf = usize::try_from(rf).map_err(|_| format!("replication factor {rf} must be positive"))?;
        if rf == 0 || rf > live.len() {
            return Err(format!("Replication factor: {rf} larger than available brokers: {}.", live.len()));
        }
        let order = rack_interleaved(&live);
        let racked = live.iter().any(|b| b.rack.is_some());
        let n = order.len();
        Ok((0..count.max(0) as usize)
            .map(|p| {
                let first = (start + p) % n;
                // shift later replicas by the partition's round so that followers spread too
                // (with racks, neighbours in the interleaved order are on different racks)
                let shift = if racked { 1 } else { 1 + (p / n) % (n - 1).max(1) };
                (0..rf).map(|k| order[(first + if k == 0 { 0 } else { shift + k - 1 }) % n]).collect::<Vec<i32>>()
            })
            .map(|mut r| {
                dedup_keep_order(&mut r, &order);
                r
            })
            .collect())
    }
}

/// Broker ids ordered so that racks alternate: rack A's first, rack B's first, …
fn rack_interleaved(live: &[&BrokerRegistration]) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for b in live {
        by_rack.entry(b.rack.as_deref()).or_default().push(b.id);
    }
    if by_rack.len() <= 1 {
        return live.iter().map(|b| b.id).collect();
    }
    let mut out = Vec::with_capacity(live.len());
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for ids in by_rack.values() {
            if let Some(id) = ids.get(i) {
                out.push(*id);
            }
        }
    }
    out
}

/// Replaces repeated ids (possible when the shift wraps) with unused ones, in order.
fn dedup_keep_order(r: &mut [i32], order: &[i32]) {
    for i in 1..r.len() {
        if r[..i].contains(&r[i]) {
            if let Some(free) = order.iter().find(|b| !r.contains(b)) {
                r[i] = *free;
            }
        }
    }
}

fn fence_in_partition(p: &mut PartitionImage, id: i32, live: &[i32], unclean: bool) {
    let mut changed = false;
    if p.isr.contains(&id) && p.isr.len() > 1 {
        p.isr.retain(|r| *r != id);
        changed = true;
    }
    if p.leader == id {
        let next = p.isr.iter().copied().find(|r| *r != id && live.contains(r));
        let next = next.or_else(|| {
            if unclean {
                p.replicas.iter().copied().find(|r| *r != id && live.contains(r))
            } else {
                None
            }
        });
        match next {
            Some(n) => {
                if !p.isr.contains(&n) {
                    // unclean: the new leader's log is the truth now
                    p.isr = vec![n];
                }
                p.leader = n;
            }
            None => p.leader = NO_LEADER,
        }
        p.leader_epoch += 1;
        changed = true;
    }
    if changed {
        p.partition_epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(img: &mut Image, id: i32, rack: Option<&str>) {
        let endpoints = vec![Endpoint { listener: "PLAINTEXT".into(), host: "h".into(), port: 9000 + id as u16 }];
        let incarnation = Uuid::from_u128(id as u128);
        img.apply(&Command::RegisterBroker { id, incarnation, endpoints, rack: rack.map(str::to_string) });
    }

    fn three() -> Image {
        let mut img = Image::default();
        for id in 1..=3 {
            register(&mut img, id, None);
        }
        let assignments = img.assign(3, 3, 0).unwrap();
        let cmd = Command::CreateTopic { name: "t".into(), id: Uuid::nil(), configs: BTreeMap::new(), assignments };
        assert_eq!(img.apply(&cmd), Outcome::Applied);
        img
    }

    #[test]
    fn assignment_spreads_leaders_and_never_repeats_a_broker() {
        let img = three();
        let leaders: Vec<i32> = img.topics["t"].partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![1, 2, 3]);
        for p in &img.topics["t"].partitions {
            let mut r = p.replicas.clone();
            r.sort_unstable();
            r.dedup();
            assert_eq!(r.len(), 3);
            assert_eq!(p.isr, vec![1, 2, 3]);
        }
        assert!(img.assign(1, 4, 0).unwrap_err().contains("larger than available brokers: 3"));
        for count in 1..20 {
            for rf in 1..=3 {
                for a in img.assign(count, rf, count as usize).unwrap() {
                    let mut s = a.clone();
                    s.sort_unstable();
                    s.dedup();
                    assert_eq!(s.len(), rf as usize, "{a:?}");
                }
            }
        }
    }

    #[test]
    fn racks_alternate_in_replica_lists() {
        let mut img = Image::default();
        register(&mut img, 1, Some("a"));
        register(&mut img, 2, Some("a"));
        register(&mut img, 3, Some("b"));
        register(&mut img, 4, Some("b"));
        for r in img.assign(8, 2, 0).unwrap() {
            let racks: Vec<_> = r.iter().map(|id| img.brokers[id].rack.clone()).collect();
            assert_ne!(racks[0], racks[1], "{r:?}");
        }
    }

    #[test]
    fn fencing_moves_leadership_within_the_isr_and_bumps_the_epoch() {
        let mut img = three();
        img.apply(&Command::FenceBroker { id: 1, unclean: false });
        let p0 = &img.topics["t"].partitions[0];
        assert_ne!(p0.leader, 1);
        assert_eq!(p0.leader_epoch, 1);
        assert!(!p0.isr.contains(&1));
        // a partition 1 followed: it leaves the ISR, the leader and its epoch stay
        let p1 = &img.topics["t"].partitions[1];
        assert_eq!((p1.leader, p1.leader_epoch), (2, 0));
        assert!(!p1.isr.contains(&1));
        img.apply(&Command::FenceBroker { id: 2, unclean: false });
        img.apply(&Command::FenceBroker { id: 3, unclean: false });
        for p in &img.topics["t"].partitions {
            assert_eq!(p.leader, NO_LEADER);
            assert_eq!(p.isr.len(), 1, "the last ISR member stays: it holds every committed record");
        }
        // only the last ISR member may lead again (clean election)
        let last = img.topics["t"].partitions[0].isr[0];
        let other = (1..=3).find(|b| *b != last).unwrap();
        register(&mut img, other, None);
        assert_eq!(img.topics["t"].partitions[0].leader, NO_LEADER);
        register(&mut img, last, None);
        assert_eq!(img.topics["t"].partitions[0].leader, last);
    }

    #[test]
    fn a_restarted_leader_loses_its_leaderships_first() {
        let mut img = three();
        let endpoints = img.brokers[&1].endpoints.clone();
        img.apply(&Command::RegisterBroker { id: 1, incarnation: Uuid::from_u128(99), endpoints, rack: None });
        let p0 = &img.topics["t"].partitions[0];
        assert_eq!((p0.leader, p0.leader_epoch), (2, 1));
        assert_eq!(p0.isr, vec![2, 3]);
        assert!(!img.brokers[&1].fenced);
    }

    #[test]
    fn unclean_election_picks_a_live_replica_outside_the_isr() {
        let mut img = three();
        img.apply(&Command::FenceBroker { id: 2, unclean: false });
        img.apply(&Command::FenceBroker { id: 3, unclean: false });
        let before = img.topics["t"].partitions[0].clone();
        assert_eq!(before.isr, vec![1]);
        register(&mut img, 2, None);
        img.apply(&Command::FenceBroker { id: 1, unclean: true });
        let p = &img.topics["t"].partitions[0];
        assert_eq!(p.leader, 2);
        assert_eq!(p.isr, vec![2]);
        assert!(p.leader_epoch > before.leader_epoch);
    }

    #[test]
    fn isr_changes_are_accepted_only_from_the_current_leader_and_epochs() {
        let mut img = three();
        let alter = |leader, leader_epoch, partition_epoch, isr: Vec<i32>| Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader,
            leader_epoch,
            partition_epoch: Some(partition_epoch),
            isr,
        };
        assert_eq!(img.apply(&alter(1, 0, 0, vec![1, 2])), Outcome::Applied);
        assert_eq!(img.topics["t"].partitions[0].isr, vec![1, 2]);
        assert_eq!(img.topics["t"].partitions[0].partition_epoch, 1);
        assert_eq!(img.apply(&alter(2, 0, 1, vec![2])), Outcome::Rejected(Rejection::NotLeader { current: 1 }));
        assert_eq!(img.apply(&alter(1, 5, 1, vec![1])), Outcome::Rejected(Rejection::StaleLeaderEpoch { current: 0 }));
        // computed before the change above: it would undo it
        assert_eq!(
            img.apply(&alter(1, 0, 0, vec![1, 2, 3])),
            Outcome::Rejected(Rejection::StalePartitionEpoch { current: 1 })
        );
        assert!(matches!(img.apply(&alter(1, 0, 1, vec![2])), Outcome::Rejected(Rejection::InvalidIsr(_))));
        assert!(matches!(img.apply(&alter(1, 0, 1, vec![1, 9])), Outcome::Rejected(Rejection::InvalidIsr(_))));
        img.apply(&Command::FenceBroker { id: 3, unclean: false });
        assert!(matches!(img.apply(&alter(1, 0, 1, vec![1, 2, 3])), Outcome::Rejected(Rejection::InvalidIsr(_))));
        // a metadata log written before partition epochs were sent still applies
        let legacy = r#"{"AlterIsr":{"topic":"t","partition":0,"leader":1,"leader_epoch":0,"isr":[1]}}"#;
        let legacy: Command = serde_json::from_str(legacy).unwrap();
        assert_eq!(img.apply(&legacy), Outcome::Applied);
    }

    #[test]
    fn preferred_leader_returns_when_back_in_sync() {
        let mut img = three();
        img.apply(&Command::FenceBroker { id: 1, unclean: false });
        register(&mut img, 1, None);
        let p = img.topics["t"].partitions[0].clone();
        assert_ne!(p.leader, 1);
        img.apply(&Command::ElectPreferred { topic: "t".into(), partition: 0 });
        assert_eq!(img.topics["t"].partitions[0].leader, p.leader, "1 is not in the ISR yet");
        let isr = vec![1, 2, 3];
        img.apply(&Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: Some(p.partition_epoch),
            isr,
        });
        img.apply(&Command::ElectPreferred { topic: "t".into(), partition: 0 });
        let q = &img.topics["t"].partitions[0];
        assert_eq!((q.leader, q.leader_epoch), (1, p.leader_epoch + 1));
    }

    #[test]
    fn the_first_cluster_id_stays() {
        let mut img = Image::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        img.apply(&Command::InitCluster { id: a });
        img.apply(&Command::InitCluster { id: b });
        assert_eq!(img.cluster_id, Some(a));
    }

    #[test]
    fn producer_id_blocks_never_overlap_and_old_images_start_at_zero() {
        let mut img: Image = serde_json::from_str(r#"{"brokers": {}, "topics": {}}"#).unwrap();
        let mut firsts = Vec::new();
        for broker in [1, 2, 1] {
            match img.apply(&Command::AllocateProducerIds { broker }) {
                Outcome::ProducerIds { first } => firsts.push(first),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(firsts, vec![0, PRODUCER_ID_BLOCK, 2 * PRODUCER_ID_BLOCK]);
    }
}
