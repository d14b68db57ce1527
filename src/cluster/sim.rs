//! A seeded, deterministic simulation of one partition on three replicas, run
//! against the real pure state machines: the controller's `Image` (registration,
//! fencing, leader election inside the ISR, AlterIsr validation, leader epochs)
//! and each replica's `ReplicaState` (follower progress, HW, ISR candidates). The
//! logs are in memory; the epoch cache and the OffsetForLeaderEpoch truncation
//! rule follow `partition.rs` and `replication.rs`, with `epoch_end` itself called.
//!
//! Each schedule mixes produce (acks=all, min.insync.replicas = 2), fetches whose
//! replies arrive later, metadata applied late on each node, crashes, restarts,
//! isolation from the controller, fencing, ISR shrink and expand, and preferred
//! elections; the invariants are checked after every step and once the replicas
//! have caught up. A crash keeps the whole disk: Kafka's guarantees rest on
//! replication, not fsync, and a lost unflushed tail would break them here too
//! (a restarted replica may lead again before it re-registers, see `Gaps`).
//!
//! The rules the broker follows outside the pure state machines (dropping stale
//! fetch replies, waiting for its registration, the partition epoch on ISR
//! changes...) are modelled here; `Gaps` switches one off at a time, and a test
//! per rule checks that the simulation then finds the bug it prevents: each was
//! found this way in the code as first written.
//!
//! `GREGOR_SIM_SEED` sets the first seed (a fixed one by default, so CI is
//! deterministic), `GREGOR_SIM_RUNS` how many schedules run. A failure names its
//! seed and step, the replicas' state and the last events.

use super::image::{Command, Endpoint, Image, Outcome, PartitionImage, Rejection, NO_LEADER};
use crate::broker::handlers::check_leader_epoch;
use crate::broker::partition::{epoch_end, truncation_point};
use crate::broker::replica_state::{ReplicaState, Role};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use uuid::Uuid;

/// Broker ids; the first is the preferred leader.
const BROKERS: [i32; 3] = [1, 2, 3];
const TOPIC: &str = "t";
const MIN_INSYNC_REPLICAS: usize = 2;
const REPLICA_LAG_TIME_MAX_MS: i64 = 500;
const SESSION_TIMEOUT_MS: i64 = 300;
const PRODUCE_TIMEOUT_MS: i64 = 2_000;
/// Chance per step that a live broker's heartbeat reaches the controller.
const HEARTBEAT_PERCENT: u64 = 30;
const STEP_MS_MAX: u64 = 30;
const BATCH_RECORDS_MAX: u64 = 3;
const FETCH_RECORDS_MAX: u64 = 8;
const ISOLATION_MS_MAX: u64 = 1_000;
const STEPS: usize = 300;
/// Rounds of fault-free replication after a schedule, for the replicas to converge.
const DRAIN_ROUNDS_MAX: usize = 60;
const TRACE_EVENTS_MAX: usize = 60;
const SEED_DEFAULT: u64 = 0x6772_6567;
const RUNS_DEFAULT: u64 = 500;

/// splitmix64: tiny, and every seed gives a good stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Rules of the broker outside the pure state machines, each switched off by its
/// flag (the code as first written), to show that the simulation finds what
/// breaks without it. The default runs keep every rule, as the code does.
#[derive(Debug, Clone, Copy, Default)]
struct Gaps {
    /// Apply a Fetch or OffsetForLeaderEpoch reply to the replica whatever its role
    /// became while the request was out (`replication.rs` drops it, as Kafka).
    stale_replies: bool,
    /// A restarted broker applies its stored image at once, before its new
    /// incarnation is registered, and may lead again at its old epoch (the broker
    /// waits for the controller, which bumps the epoch).
    leads_before_registering: bool,
    /// Acknowledge acks=all once the HW passes the batch, without checking
    /// min.insync.replicas then (`produce.rs` answers NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    acks_without_min_isr: bool,
    /// Leave the epoch cache alone when a truncation cuts nothing, so an entry for
    /// an epoch this replica led without writing outlives it and later claims an
    /// older epoch's records (`Partition::truncate_to`, as Kafka's `truncateTo`,
    /// always drops the entries that start at or past the log end).
    epoch_cache_keeps_empty_epoch: bool,
    /// Send `Command::AlterIsr` without its partition epoch, so the controller
    /// applies an ISR the leader computed from an older image, re-adding a member
    /// fenced since without it having caught up (rejected by partition epoch, as
    /// KRaft rejects a stale AlterPartition).
    alter_isr_without_partition_epoch: bool,
    /// Compute the leader's HW over the committed ISR only, not over the members a
    /// proposal in flight adds (`ReplicaState` counts them, Kafka's "maximal ISR").
    hw_ignores_pending_isr: bool,
    /// Fetch after one OffsetForLeaderEpoch answer even when it names an epoch the
    /// follower does not hold (`truncation_point` asks again about an older one).
    truncation_in_one_round: bool,
}

/// One record: the leader epoch it was written in, and an id that tells apart two
/// records written at the same offset and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    epoch: i32,
    id: u64,
}

struct Node {
    id: i32,
    up: bool,
    /// New at every start.
    incarnation: u128,
    /// Cut off from the controller (no heartbeats, no metadata, no proposals) until then.
    isolated_until_ms: i64,
    // On disk: survives a crash whole.
    log: Vec<Record>,
    /// (leader epoch, first offset), as `partition.rs` keeps it.
    epochs: Vec<(i32, i64)>,
    checkpointed_hw: i64,
    /// How much of the metadata log this node has applied, and the image it gives.
    applied: usize,
    image: Image,
    // In memory: lost in a crash.
    state: ReplicaState,
    needs_truncation: bool,
    /// Its new incarnation is registered in the image it applied.
    joined: bool,
    /// The follower log ends this node recorded as leader (mirrors `ReplicaState`).
    seen_leo: BTreeMap<i32, i64>,
}

impl Node {
    fn new(id: i32, incarnation: u128) -> Node {
        Node {
            id,
            up: true,
            incarnation,
            isolated_until_ms: 0,
            log: Vec::new(),
            epochs: Vec::new(),
            checkpointed_hw: 0,
            applied: 0,
            image: Image::default(),
            state: ReplicaState::new_follower(id, Role::unassigned(), 0, 0),
            needs_truncation: true,
            joined: false,
            seen_leo: BTreeMap::new(),
        }
    }

    fn leo(&self) -> i64 {
        self.log.len() as i64
    }

    /// `Partition::become_leader`: the epoch starts at the log end.
    fn become_leader(&mut self, role: Role, now_ms: i64) {
        let (leo, hw) = (self.leo(), self.state.high_watermark());
        let epoch = role.leader_epoch;
        self.state = ReplicaState::new_leader(self.id, role, leo, hw, now_ms);
        self.needs_truncation = false;
        self.seen_leo.clear();
        if self.epochs.last().is_none_or(|(e, _)| *e < epoch) {
            self.epochs.push((epoch, leo));
        }
    }

    fn become_follower(&mut self, role: Role) {
        let (leo, hw) = (self.leo(), self.state.high_watermark());
        self.state = ReplicaState::new_follower(self.id, role, leo, hw);
        self.needs_truncation = true;
    }

    /// `Partition::truncate_to`; `clean_cache`: as the code does (and Kafka), also
    /// drop epoch-cache entries at the log end when there is nothing to cut.
    fn truncate_to(&mut self, offset: i64, done: bool, clean_cache: bool) -> i64 {
        let leo = self.leo();
        if offset < leo {
            self.log.truncate(offset as usize);
            self.epochs.retain(|(_, start)| *start < offset);
        } else if clean_cache {
            self.epochs.retain(|(_, start)| *start < leo);
        }
        self.state.on_truncate(self.leo());
        self.needs_truncation = !done;
        (leo - offset).max(0)
    }

    fn summary(&self) -> String {
        let role =
            if self.state.is_leader() { "leader".to_string() } else { format!("follows n{}", self.state.leader_id()) };
        let mut runs: Vec<(i32, usize)> = Vec::new();
        for r in &self.log {
            match runs.last_mut() {
                Some((e, n)) if *e == r.epoch => *n += 1,
                _ => runs.push((r.epoch, 1)),
            }
        }
        let log: Vec<String> = runs.iter().map(|(e, n)| format!("e{e}×{n}")).collect();
        format!(
            "n{}: {} {role} at e{}, hw {}, leo {}, isr {:?}, metadata {}, epoch cache {:?}, log [{}]",
            self.id,
            if self.up { "up" } else { "DOWN" },
            self.state.leader_epoch(),
            self.state.high_watermark(),
            self.leo(),
            self.state.isr(),
            self.applied,
            self.epochs,
            log.join(" ")
        )
    }
}

/// A reply on its way from a leader to a follower.
struct Reply {
    to: i32,
    from: i32,
    /// The follower's leader epoch when it asked.
    leader_epoch: i32,
    body: Body,
}

enum Body {
    EpochEnd { epoch: i32, end_offset: i64 },
    Records { first: i64, records: Vec<Record>, high_watermark: i64 },
}

struct Proposal {
    /// The proposing leader and its incarnation (AlterIsr only).
    from: Option<(i32, u128)>,
    cmd: Command,
}

/// An acks=all produce waiting for the HW (`produce.rs`'s `await_replication`).
struct Waiter {
    node: i32,
    incarnation: u128,
    first: i64,
    records: Vec<Record>,
    deadline_ms: i64,
}

/// What the schedules did, summed over runs: proof that they exercised something.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    acked: u64,
    refused: u64,
    leader_epochs: u64,
    truncated: u64,
    isr_changes: u64,
    rejected: u64,
    crashes: u64,
    stale_replies_dropped: u64,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.acked += o.acked;
        self.refused += o.refused;
        self.leader_epochs += o.leader_epochs;
        self.truncated += o.truncated;
        self.isr_changes += o.isr_changes;
        self.rejected += o.rejected;
        self.crashes += o.crashes;
        self.stale_replies_dropped += o.stale_replies_dropped;
    }
}

struct Sim {
    seed: u64,
    gaps: Gaps,
    rng: Rng,
    step: usize,
    now_ms: i64,
    /// The committed metadata log and the controller's image of it.
    metadata: Vec<Command>,
    controller: Image,
    /// Proposals the controller has not committed yet, in order.
    inbox: VecDeque<Proposal>,
    last_heartbeat_ms: BTreeMap<i32, i64>,
    nodes: Vec<Node>,
    replies: Vec<Reply>,
    waiters: Vec<Waiter>,
    next_record_id: u64,
    next_incarnation: u128,
    // What the invariants remember.
    acked: BTreeMap<i64, Record>,
    /// The longest prefix any leader exposed below its HW.
    committed: Vec<Record>,
    leader_of_epoch: BTreeMap<i32, i32>,
    hw_of_epoch: BTreeMap<i32, i64>,
    /// Highest leader epoch each node has held a role in (across restarts).
    epoch_floor: Vec<i32>,
    controller_epochs: (i32, i32),
    stats: Stats,
    trace: VecDeque<String>,
}

fn idx(id: i32) -> usize {
    usize::try_from(id - 1).expect("broker ids start at 1")
}

fn last_epoch(epochs: &[(i32, i64)]) -> i32 {
    epochs.last().map_or(-1, |e| e.0)
}

fn register(id: i32, incarnation: u128) -> Command {
    let endpoints = vec![Endpoint { listener: "REPLICATION".into(), host: "sim".into(), port: 9000 + id as u16 }];
    Command::RegisterBroker { id, incarnation: Uuid::from_u128(incarnation), endpoints, rack: None }
}

fn describe(cmd: &Command) -> String {
    match cmd {
        Command::RegisterBroker { id, incarnation, .. } => format!("register n{id} ({})", incarnation.as_u128()),
        Command::FenceBroker { id, .. } => format!("fence n{id}"),
        Command::AlterIsr { leader, leader_epoch, isr, .. } => {
            format!("AlterIsr {isr:?} from n{leader} e{leader_epoch}")
        }
        Command::ElectPreferred { .. } => "elect preferred".into(),
        other => format!("{other:?}"),
    }
}

impl Sim {
    fn new(seed: u64, gaps: Gaps) -> Sim {
        let mut metadata: Vec<Command> = BROKERS.iter().map(|&id| register(id, id as u128)).collect();
        metadata.push(Command::CreateTopic {
            name: TOPIC.into(),
            id: Uuid::nil(),
            configs: BTreeMap::new(),
            assignments: vec![BROKERS.to_vec()],
        });
        let mut controller = Image::default();
        for cmd in &metadata {
            assert_eq!(controller.apply(cmd), Outcome::Applied);
        }
        let mut sim = Sim {
            seed,
            gaps,
            rng: Rng(seed),
            step: 0,
            now_ms: 0,
            metadata,
            controller,
            inbox: VecDeque::new(),
            last_heartbeat_ms: BROKERS.iter().map(|&id| (id, 0)).collect(),
            nodes: BROKERS.iter().map(|&id| Node::new(id, id as u128)).collect(),
            replies: Vec::new(),
            waiters: Vec::new(),
            next_record_id: 0,
            next_incarnation: 100,
            acked: BTreeMap::new(),
            committed: Vec::new(),
            leader_of_epoch: BTreeMap::new(),
            hw_of_epoch: BTreeMap::new(),
            epoch_floor: vec![-1; BROKERS.len()],
            controller_epochs: (0, 0),
            stats: Stats::default(),
            trace: VecDeque::new(),
        };
        for i in 0..sim.nodes.len() {
            sim.apply_metadata(i, usize::MAX);
        }
        sim
    }

    fn trace(&mut self, event: String) {
        if self.trace.len() == TRACE_EVENTS_MAX {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("#{} t={}ms {event}", self.step, self.now_ms));
    }

    fn partition(&self) -> &PartitionImage {
        self.controller.partition(TOPIC, 0).expect("the topic exists")
    }

    fn pick(&mut self, candidates: &[usize]) -> Option<usize> {
        match candidates.len() {
            0 => None,
            n => Some(candidates[self.rng.below(n as u64) as usize]),
        }
    }

    fn up_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].up).collect()
    }

    fn isolated(&self, i: usize) -> bool {
        self.nodes[i].isolated_until_ms > self.now_ms
    }

    fn queued(&self, matches: impl Fn(&Command) -> bool) -> bool {
        self.inbox.iter().any(|p| matches(&p.cmd))
    }

    fn step(&mut self) {
        self.step += 1;
        self.now_ms += self.rng.below(STEP_MS_MAX) as i64;
        self.heartbeats(HEARTBEAT_PERCENT);
        self.controller_tick();
        match self.rng.below(1000) {
            0..=179 => self.produce(),
            180..=439 => {
                let up = self.up_nodes();
                if let Some(i) = self.pick(&up) {
                    self.send_fetch(i, FETCH_RECORDS_MAX);
                }
            }
            440..=659 => {
                if !self.replies.is_empty() {
                    let k = self.rng.below(self.replies.len() as u64) as usize;
                    self.deliver(k);
                }
            }
            660..=789 => {
                let behind: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| self.nodes[i].up && !self.isolated(i) && self.nodes[i].applied < self.metadata.len())
                    .collect();
                if let Some(i) = self.pick(&behind) {
                    let count = 1 + self.rng.below((self.metadata.len() - self.nodes[i].applied) as u64) as usize;
                    self.apply_metadata(i, count);
                }
            }
            790..=889 => self.commit(),
            890..=959 => {
                let up = self.up_nodes();
                if let Some(i) = self.pick(&up) {
                    self.maintenance(i);
                }
            }
            960..=966 => self.crash(),
            967..=984 => {
                let down: Vec<usize> = (0..self.nodes.len()).filter(|&i| !self.nodes[i].up).collect();
                if let Some(i) = self.pick(&down) {
                    self.restart(i);
                }
            }
            985..=991 => self.isolate(),
            _ => self.propose_preferred(),
        }
        self.settle_waiters();
        self.check();
    }

    /// Live brokers reach the controller; a stale registration (new incarnation, or
    /// fenced) is proposed again (`Cluster::on_heartbeat`).
    fn heartbeats(&mut self, percent: u64) {
        for i in 0..self.nodes.len() {
            let beat = self.rng.chance(percent);
            if !beat || !self.nodes[i].up || self.isolated(i) {
                continue;
            }
            let (id, incarnation) = (self.nodes[i].id, self.nodes[i].incarnation);
            self.last_heartbeat_ms.insert(id, self.now_ms);
            let stale = self
                .controller
                .brokers
                .get(&id)
                .is_none_or(|b| b.fenced || b.incarnation != Uuid::from_u128(incarnation));
            if stale && !self.queued(|c| matches!(c, Command::RegisterBroker { id: r, .. } if *r == id)) {
                self.inbox.push_back(Proposal { from: None, cmd: register(id, incarnation) });
            }
        }
    }

    /// The controller fences brokers that missed their heartbeats (`controller_loop`).
    fn controller_tick(&mut self) {
        let now = self.now_ms;
        let silent: Vec<i32> = self
            .controller
            .live_brokers()
            .map(|b| b.id)
            .filter(|id| now - self.last_heartbeat_ms[id] > SESSION_TIMEOUT_MS)
            .collect();
        for id in silent {
            if !self.queued(|c| matches!(c, Command::FenceBroker { id: f, .. } if *f == id)) {
                self.inbox.push_back(Proposal { from: None, cmd: Command::FenceBroker { id, unclean: false } });
                self.trace(format!("controller: n{id} missed its heartbeats"));
            }
        }
    }

    fn propose_preferred(&mut self) {
        let p = self.partition();
        let preferred = p.replicas[0];
        let wanted = p.leader != preferred && p.isr.contains(&preferred) && self.controller.is_live(preferred);
        if wanted && !self.queued(|c| matches!(c, Command::ElectPreferred { .. })) {
            let cmd = Command::ElectPreferred { topic: TOPIC.into(), partition: 0 };
            self.inbox.push_back(Proposal { from: None, cmd });
        }
    }

    /// The controller commits the oldest proposal. A refused ISR change that
    /// changed nothing is answered to its leader (`Replication::propose_isr`); any
    /// other answer reaches it as metadata.
    fn commit(&mut self) {
        let Some(p) = self.inbox.pop_front() else { return };
        let outcome = self.controller.apply(&p.cmd);
        let index = self.metadata.len();
        if let Command::AlterIsr { partition_epoch, .. } = p.cmd {
            match &outcome {
                Outcome::Applied | Outcome::ProducerIds { .. } => self.stats.isr_changes += 1,
                Outcome::Rejected(why) => {
                    self.stats.rejected += 1;
                    if let (Rejection::InvalidIsr(_), Some((from, incarnation))) = (why, p.from) {
                        let n = &mut self.nodes[idx(from)];
                        if n.incarnation == incarnation {
                            n.state.isr_refused(partition_epoch.unwrap_or(-1));
                        }
                    }
                }
            }
        }
        self.trace(format!("controller commits #{index} {}: {outcome:?}", describe(&p.cmd)));
        self.metadata.push(p.cmd);
    }

    /// A node applies up to `count` more metadata entries, then its replica takes
    /// the role they give (`Replication::reconcile`).
    fn apply_metadata(&mut self, i: usize, count: usize) {
        let n = &mut self.nodes[i];
        let end = self.metadata.len().min(n.applied.saturating_add(count));
        for cmd in &self.metadata[n.applied..end] {
            n.image.apply(cmd);
        }
        n.applied = end;
        if n.applied == self.metadata.len() {
            assert!(n.image == self.controller, "n{} applied the whole metadata log, yet its image differs", n.id);
        }
        let me = Uuid::from_u128(n.incarnation);
        if n.image.brokers.get(&n.id).is_some_and(|b| !b.fenced && b.incarnation == me) {
            n.joined = true;
        }
        self.reconcile(i);
    }

    /// `replication.rs`'s `apply_role` for the one partition.
    fn reconcile(&mut self, i: usize) {
        let (gaps, now) = (self.gaps, self.now_ms);
        let n = &mut self.nodes[i];
        if !n.joined && !gaps.leads_before_registering {
            return;
        }
        let Some(p) = n.image.partition(TOPIC, 0).cloned() else { return };
        let role = p.role();
        if *n.state.role() == role {
            return;
        }
        if n.state.leader_id() == p.leader && n.state.leader_epoch() == p.leader_epoch {
            n.state.set_membership(role, now);
            return;
        }
        let event = if p.leader == n.id {
            n.become_leader(role, now);
            self.stats.leader_epochs += 1;
            format!("n{} leads at e{} from offset {}, hw {}", n.id, p.leader_epoch, n.leo(), n.state.high_watermark())
        } else {
            n.become_follower(role);
            format!("n{} follows n{} at e{}", n.id, p.leader, p.leader_epoch)
        };
        self.trace(event);
    }

    /// A client produces a batch to a node that believes it leads (`produce.rs`).
    fn produce(&mut self) {
        let leaders: Vec<usize> =
            (0..self.nodes.len()).filter(|&i| self.nodes[i].up && self.nodes[i].state.is_leader()).collect();
        let Some(i) = self.pick(&leaders) else { return };
        let count = 1 + self.rng.below(BATCH_RECORDS_MAX);
        let n = &mut self.nodes[i];
        let isr = n.state.isr().len();
        if isr < MIN_INSYNC_REPLICAS {
            self.stats.refused += 1;
            let id = n.id;
            self.trace(format!("produce to n{id}: NOT_ENOUGH_REPLICAS (ISR {isr})"));
            return;
        }
        let epoch = n.state.leader_epoch();
        let first = n.leo();
        let records: Vec<Record> = (0..count).map(|k| Record { epoch, id: self.next_record_id + k }).collect();
        self.next_record_id += count;
        n.log.extend_from_slice(&records);
        n.state.on_local_append(n.leo());
        let waiter = Waiter {
            node: n.id,
            incarnation: n.incarnation,
            first,
            records,
            deadline_ms: self.now_ms + PRODUCE_TIMEOUT_MS,
        };
        let event = format!("produce to n{} e{epoch}: [{first}, {})", n.id, n.leo());
        self.waiters.push(waiter);
        self.trace(event);
    }

    /// A follower's fetcher asks its leader: OffsetForLeaderEpoch while it must
    /// truncate, Fetch after. The leader serves at once; the reply travels.
    fn send_fetch(&mut self, i: usize, records_max: u64) {
        let f = &self.nodes[i];
        let leader = f.state.leader_id();
        if !f.up || leader < 0 || leader == f.id || self.replies.iter().any(|r| r.to == f.id && r.from == leader) {
            return;
        }
        if !self.nodes[idx(leader)].up {
            return;
        }
        let (id, epoch, offset) = (f.id, f.state.leader_epoch(), f.leo());
        let served = if f.needs_truncation {
            self.serve_epoch_query(idx(leader), epoch, last_epoch(&f.epochs))
        } else {
            let count = 1 + self.rng.below(records_max);
            self.serve_fetch(idx(leader), id, epoch, offset, count)
        };
        match served {
            Ok(body) => self.replies.push(Reply { to: id, from: leader, leader_epoch: epoch, body }),
            Err(e) => self.trace(format!("n{id} → n{leader} at e{epoch}: {e}")),
        }
    }

    /// The leader's side of OffsetForLeaderEpoch.
    fn serve_epoch_query(&self, l: usize, current_epoch: i32, asked: i32) -> Result<Body, String> {
        let n = &self.nodes[l];
        if !n.state.is_leader() {
            return Err("NOT_LEADER_OR_FOLLOWER".into());
        }
        check_leader_epoch(current_epoch, n.state.leader_epoch()).map_err(|e| format!("{e:?}"))?;
        let (epoch, end_offset) = epoch_end(&n.epochs, asked, n.leo());
        Ok(Body::EpochEnd { epoch, end_offset })
    }

    /// The leader's side of a replica Fetch (`Partition::read_for_follower`).
    fn serve_fetch(
        &mut self,
        l: usize,
        replica: i32,
        current_epoch: i32,
        offset: i64,
        count: u64,
    ) -> Result<Body, String> {
        let now = self.now_ms;
        let n = &mut self.nodes[l];
        check_leader_epoch(current_epoch, n.state.leader_epoch()).map_err(|e| format!("{e:?}"))?;
        if !n.state.is_leader() {
            return Err("NOT_LEADER_OR_FOLLOWER".into());
        }
        let leo = n.leo();
        if offset > leo {
            return Err(format!("OFFSET_OUT_OF_RANGE: {offset} > leader's log end {leo}"));
        }
        n.state.on_follower_fetch(replica, offset, now);
        if n.state.replicas().contains(&replica) {
            n.seen_leo.insert(replica, offset.min(leo));
        }
        let end = leo.min(offset.saturating_add(count as i64));
        let records = n.log[offset as usize..end as usize].to_vec();
        Ok(Body::Records { first: offset, records, high_watermark: n.state.high_watermark() })
    }

    /// A reply reaches its follower.
    fn deliver(&mut self, k: usize) {
        let r = self.replies.swap_remove(k);
        let i = idx(r.to);
        let role = (self.nodes[i].state.leader_id(), self.nodes[i].state.leader_epoch());
        if role != (r.from, r.leader_epoch) && !self.gaps.stale_replies {
            self.stats.stale_replies_dropped += 1;
            self.trace(format!("n{} drops a reply from n{} at e{}: its role changed", r.to, r.from, r.leader_epoch));
            return;
        }
        match r.body {
            Body::EpochEnd { epoch, end_offset } => self.truncate_diverged(i, epoch, end_offset),
            Body::Records { first, records, high_watermark } => {
                self.append_as_follower(i, first, &records, high_watermark)
            }
        }
    }

    /// `Replication::truncate_diverged` for one reply.
    fn truncate_diverged(&mut self, i: usize, epoch: i32, end_offset: i64) {
        let (clean_cache, one_round) = (!self.gaps.epoch_cache_keeps_empty_epoch, self.gaps.truncation_in_one_round);
        let n = &mut self.nodes[i];
        let ours = last_epoch(&n.epochs);
        let (target, done) = truncation_point(&n.epochs, n.leo(), n.state.high_watermark(), epoch, end_offset);
        let (target, done) = (target.max(0), done || one_round);
        let cut = n.truncate_to(target, done, clean_cache);
        self.stats.truncated += cut as u64;
        let then = if done { "" } else { ", and asks again" };
        let event =
            format!("n{} asked e{ours}, leader said e{epoch} ends at {end_offset}: truncates to {target}{then}", n.id);
        self.trace(event);
    }

    /// `Partition::append_as_follower`, then the leader's HW.
    fn append_as_follower(&mut self, i: usize, first: i64, records: &[Record], high_watermark: i64) {
        let n = &mut self.nodes[i];
        let leo = n.leo();
        let skip = (leo - first).clamp(0, records.len() as i64) as usize;
        let rest = &records[skip..];
        let mut event = format!("n{} got [{first}, {}) hw {high_watermark}", n.id, first + records.len() as i64);
        if !rest.is_empty() {
            let base = first + skip as i64;
            if base != leo {
                event += &format!(": rejected, its log ends at {leo}");
            } else {
                for r in rest {
                    // a batch of a newer epoch starts that epoch here
                    if n.epochs.last().is_none_or(|(e, _)| *e < r.epoch) {
                        n.epochs.push((r.epoch, n.leo()));
                    }
                    n.log.push(*r);
                }
                n.state.on_follower_append(n.leo());
            }
        }
        n.state.on_leader_high_watermark(high_watermark);
        self.trace(event);
    }

    /// `replication.rs`'s maintenance on one node: HW checkpoint, then, as leader,
    /// an ISR change for lagging and caught-up replicas, or the one it proposed
    /// again when the controller has not got it (`isr_in_flight`).
    fn maintenance(&mut self, i: usize) {
        let (now, isolated) = (self.now_ms, self.isolated(i));
        let n = &mut self.nodes[i];
        n.checkpointed_hw = n.state.high_watermark();
        if !n.state.is_leader() || isolated {
            return;
        }
        let (id, incarnation) = (n.id, n.incarnation);
        let partition_epochs = !self.gaps.alter_isr_without_partition_epoch;
        let alter = move |p: crate::broker::replica_state::IsrProposal| Command::AlterIsr {
            topic: TOPIC.into(),
            partition: 0,
            leader: id,
            leader_epoch: p.leader_epoch,
            partition_epoch: partition_epochs.then_some(p.partition_epoch),
            isr: p.isr,
        };
        if let Some(pending) = n.state.pending_isr() {
            let queued = self.inbox.iter().any(|q| q.from == Some((id, incarnation)));
            if !queued {
                let cmd = alter(pending);
                self.trace(format!("n{id} proposes again {}", describe(&cmd)));
                self.inbox.push_back(Proposal { from: Some((id, incarnation)), cmd });
            }
            return;
        }
        let lagging = n.state.lagging_isr_members(now, REPLICA_LAG_TIME_MAX_MS);
        let ready = n.state.caught_up_outside_isr();
        let isr = n.state.isr().to_vec();
        let mut next: Vec<i32> = isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
        next.extend(ready.iter().copied().filter(|r| n.image.is_live(*r)));
        next.sort_unstable();
        next.dedup();
        if next == isr {
            return;
        }
        let queued = self.inbox.iter().any(|q| q.from == Some((id, incarnation)));
        if self.gaps.hw_ignores_pending_isr && queued {
            return;
        }
        let Some(proposal) = n.state.propose_isr(next) else { return };
        if self.gaps.hw_ignores_pending_isr {
            n.state.isr_refused(proposal.partition_epoch);
        }
        let cmd = alter(proposal);
        self.trace(format!("n{id} proposes {}", describe(&cmd)));
        self.inbox.push_back(Proposal { from: Some((id, incarnation)), cmd });
    }

    fn crash(&mut self) {
        let up = self.up_nodes();
        let Some(i) = self.pick(&up) else { return };
        let id = self.nodes[i].id;
        self.nodes[i].up = false;
        self.replies.retain(|r| r.to != id && r.from != id);
        self.stats.crashes += 1;
        self.trace(format!("n{id} crashes"));
    }

    /// `Partition::open_replica`: the log and epoch cache from disk, the HW from its
    /// checkpoint, following nobody until the image says otherwise.
    fn restart(&mut self, i: usize) {
        let incarnation = self.next_incarnation;
        self.next_incarnation += 1;
        let n = &mut self.nodes[i];
        n.up = true;
        n.incarnation = incarnation;
        n.isolated_until_ms = 0;
        let leo = n.leo();
        n.epochs.retain(|(_, start)| *start <= leo);
        let hw = n.checkpointed_hw.clamp(0, leo);
        n.state = ReplicaState::new_follower(n.id, Role::unassigned(), leo, hw);
        n.needs_truncation = true;
        n.joined = false;
        n.seen_leo.clear();
        let id = n.id;
        self.trace(format!("n{id} restarts as incarnation {incarnation}, hw {hw}"));
        self.reconcile(i);
    }

    fn isolate(&mut self) {
        let up = self.up_nodes();
        let Some(i) = self.pick(&up) else { return };
        let until = self.now_ms + 1 + self.rng.below(ISOLATION_MS_MAX) as i64;
        self.nodes[i].isolated_until_ms = until;
        let id = self.nodes[i].id;
        self.trace(format!("n{id} is cut off from the controller until t={until}ms"));
    }

    /// `await_replication`: each waiting produce is answered once its fate is known.
    fn settle_waiters(&mut self) {
        let mut waiters = std::mem::take(&mut self.waiters);
        waiters.retain(|w| {
            let n = &self.nodes[idx(w.node)];
            let target = w.first + w.records.len() as i64;
            let isr = n.state.isr().len();
            let failed = if !n.up || n.incarnation != w.incarnation {
                "connection lost"
            } else if !n.state.is_leader() {
                "NOT_LEADER_OR_FOLLOWER"
            } else if n.state.high_watermark() >= target {
                if isr >= MIN_INSYNC_REPLICAS || self.gaps.acks_without_min_isr {
                    self.ack(w);
                    return false;
                }
                "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
            } else if isr < MIN_INSYNC_REPLICAS {
                "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
            } else if self.now_ms > w.deadline_ms {
                "REQUEST_TIMED_OUT"
            } else {
                return true;
            };
            self.trace(format!("produce [{}, {target}) to n{}: {failed}", w.first, w.node));
            false
        });
        self.waiters = waiters;
    }

    fn ack(&mut self, w: &Waiter) {
        let leader = &self.nodes[idx(w.node)];
        for (k, r) in w.records.iter().enumerate() {
            let offset = w.first + k as i64;
            assert_eq!(
                leader.log.get(offset as usize),
                Some(r),
                "n{} acknowledges offset {offset}, which its log no longer holds",
                w.node
            );
            let copies = self.nodes.iter().filter(|n| n.log.get(offset as usize) == Some(r)).count();
            assert!(
                copies >= MIN_INSYNC_REPLICAS,
                "offset {offset} acknowledged with {copies} copies, below min.insync.replicas {MIN_INSYNC_REPLICAS}"
            );
            self.acked.insert(offset, *r);
        }
        self.stats.acked += w.records.len() as u64;
        self.trace(format!("produce [{}, {}) to n{}: acknowledged", w.first, w.first + w.records.len() as i64, w.node));
    }
}

// The invariants.
impl Sim {
    fn check(&mut self) {
        self.check_epochs();
        for i in 0..self.nodes.len() {
            check_epoch_cache(&self.nodes[i]);
            if self.nodes[i].up && self.nodes[i].state.is_leader() {
                self.check_leader(i);
            }
        }
        self.check_current_leader();
        for a in 0..self.nodes.len() {
            for b in a + 1..self.nodes.len() {
                check_log_matching(&self.nodes[a], &self.nodes[b]);
            }
        }
    }

    /// Epochs only grow: in the image, and in each node's role (across restarts).
    fn check_epochs(&mut self) {
        let p = self.partition();
        let now = (p.leader_epoch, p.partition_epoch);
        assert!(now.0 >= self.controller_epochs.0 && now.1 >= self.controller_epochs.1, "the image's epochs went back");
        self.controller_epochs = now;
        for (i, n) in self.nodes.iter().enumerate() {
            let e = n.state.leader_epoch();
            if n.up && e >= 0 {
                assert!(e >= self.epoch_floor[i], "n{} went back from epoch {} to {e}", n.id, self.epoch_floor[i]);
                self.epoch_floor[i] = e;
            }
        }
    }

    /// One leader per epoch; its HW never goes back within the epoch, never passes
    /// an ISR member's log end (as it saw it, and in reality), and what lies below it
    /// never changes.
    fn check_leader(&mut self, i: usize) {
        let n = &self.nodes[i];
        let (epoch, hw) = (n.state.leader_epoch(), n.state.high_watermark());
        let first = *self.leader_of_epoch.entry(epoch).or_insert(n.id);
        assert_eq!(first, n.id, "n{first} and n{} both led epoch {epoch}", n.id);
        let best = self.hw_of_epoch.entry(epoch).or_insert(hw);
        assert!(hw >= *best, "n{}'s HW went back from {} to {hw} within epoch {epoch}", n.id, *best);
        *best = hw;
        for &m in n.state.isr() {
            let actual = self.nodes[idx(m)].leo();
            assert!(hw <= actual, "n{}'s HW {hw} passes the log end {actual} of ISR member n{m}", n.id);
            if let Some(seen) = n.seen_leo.get(&m) {
                assert!(hw <= *seen, "n{}'s HW {hw} passes the log end {seen} n{m} last fetched from", n.id);
            }
        }
        let below = &n.log[..hw as usize];
        let common = below.len().min(self.committed.len());
        if let Some(o) = (0..common).find(|&o| below[o] != self.committed[o]) {
            panic!(
                "n{} exposes {:?} at committed offset {o}, where {:?} was committed",
                n.id, below[o], self.committed[o]
            );
        }
        if below.len() > self.committed.len() {
            self.committed.extend_from_slice(&below[common..]);
        }
    }

    /// The leader the controller elected holds every committed and acknowledged record.
    fn check_current_leader(&self) {
        let p = self.partition();
        if p.leader == NO_LEADER {
            return;
        }
        let n = &self.nodes[idx(p.leader)];
        if !n.up || !n.state.is_leader() || n.state.leader_epoch() != p.leader_epoch {
            return;
        }
        if let Some(o) = (0..self.committed.len()).find(|&o| n.log.get(o) != Some(&self.committed[o])) {
            panic!(
                "the current leader n{} (e{}) lost committed offset {o}: {:?}",
                n.id, p.leader_epoch, self.committed[o]
            );
        }
        for (o, r) in &self.acked {
            assert_eq!(n.log.get(*o as usize), Some(r), "the current leader n{} lost acknowledged offset {o}", n.id);
        }
    }

    /// Replays the rest of the schedule without faults until every replica holds
    /// the leader's log, then checks that each has every acknowledged record.
    fn drain(&mut self) {
        for _ in 0..DRAIN_ROUNDS_MAX {
            self.step += 1;
            self.now_ms += 100;
            for i in 0..self.nodes.len() {
                self.nodes[i].isolated_until_ms = 0;
                if !self.nodes[i].up {
                    self.restart(i);
                }
            }
            self.heartbeats(100);
            self.controller_tick();
            while !self.inbox.is_empty() {
                self.commit();
            }
            for i in 0..self.nodes.len() {
                self.apply_metadata(i, usize::MAX);
            }
            for i in 0..self.nodes.len() {
                self.send_fetch(i, u64::MAX / 2);
            }
            while !self.replies.is_empty() {
                self.deliver(self.replies.len() - 1);
            }
            for i in 0..self.nodes.len() {
                self.maintenance(i);
            }
            self.settle_waiters();
            self.check();
            if self.converged() {
                for n in &self.nodes {
                    for (o, r) in &self.acked {
                        assert_eq!(n.log.get(*o as usize), Some(r), "n{} lacks acknowledged offset {o}", n.id);
                    }
                }
                return;
            }
        }
        panic!("the replicas did not converge within {DRAIN_ROUNDS_MAX} fault-free rounds");
    }

    fn converged(&self) -> bool {
        let p = self.partition();
        if p.leader == NO_LEADER || !self.inbox.is_empty() {
            return false;
        }
        let l = &self.nodes[idx(p.leader)];
        l.state.is_leader()
            && l.state.leader_epoch() == p.leader_epoch
            && self.nodes.iter().all(|n| n.applied == self.metadata.len() && n.log == l.log)
    }

    fn report(&self, what: &str) -> String {
        let p = self.partition();
        let mut out = format!(
            "replication simulation failed: seed {} ({:#x}), step {}, t={}ms: {what}\n  \
             replay: GREGOR_SIM_SEED={} GREGOR_SIM_RUNS=1 and the same test\n  \
             controller: leader n{} at e{}, isr {:?}; {} records acknowledged, {} committed\n",
            self.seed,
            self.seed,
            self.step,
            self.now_ms,
            self.seed,
            p.leader,
            p.leader_epoch,
            p.isr,
            self.acked.len(),
            self.committed.len()
        );
        for n in &self.nodes {
            out += &format!("  {}\n", n.summary());
        }
        out += "  last events:\n";
        for e in &self.trace {
            out += &format!("    {e}\n");
        }
        out
    }
}

/// The epoch cache is ordered and says, for every record, the epoch it was written in.
fn check_epoch_cache(n: &Node) {
    for w in n.epochs.windows(2) {
        assert!(w[0].0 < w[1].0 && w[0].1 <= w[1].1, "n{}'s epoch cache is out of order: {:?}", n.id, n.epochs);
    }
    assert!(n.epochs.last().is_none_or(|(_, s)| *s <= n.leo()), "n{}'s epoch cache passes its log end", n.id);
    let mut k = 0;
    for (o, r) in n.log.iter().enumerate() {
        while k + 1 < n.epochs.len() && n.epochs[k + 1].1 <= o as i64 {
            k += 1;
        }
        let cached = n.epochs.get(k).filter(|(_, s)| *s <= o as i64).map(|(e, _)| *e);
        assert_eq!(
            cached,
            Some(r.epoch),
            "n{}'s epoch cache {:?} gives offset {o} epoch {cached:?}, the record says e{}",
            n.id,
            n.epochs,
            r.epoch
        );
    }
}

/// Two logs that hold the same epoch at an offset hold the same records up to it:
/// what truncation by leader epoch relies on.
fn check_log_matching(a: &Node, b: &Node) {
    let mut o = a.log.len().min(b.log.len());
    while o > 0 && a.log[o - 1].epoch != b.log[o - 1].epoch {
        o -= 1;
    }
    if let Some(d) = (0..o).find(|&d| a.log[d] != b.log[d]) {
        panic!(
            "n{} and n{} both hold e{} at offset {}, yet differ at offset {d}: {:?} vs {:?}",
            a.id,
            b.id,
            a.log[o - 1].epoch,
            o - 1,
            a.log[d],
            b.log[d]
        );
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// One schedule: the steps, then the drain. A panic anywhere (an invariant here,
/// an assertion in the real state machines) becomes the report.
fn run(seed: u64, gaps: Gaps) -> Result<Stats, String> {
    let mut sim = Sim::new(seed, gaps);
    for _ in 0..STEPS {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| sim.step())) {
            return Err(sim.report(&panic_text(p)));
        }
    }
    match catch_unwind(AssertUnwindSafe(|| sim.drain())) {
        Ok(()) => Ok(sim.stats),
        Err(p) => Err(sim.report(&panic_text(p))),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}={v}: {e}"))
        }
    }
}

/// Runs the seeds `GREGOR_SIM_SEED`.. (from `first` when unset; `GREGOR_SIM_RUNS`
/// of them) and stops at the first failure.
fn run_seeds(gaps: Gaps, first: u64) -> Stats {
    let base = env_u64("GREGOR_SIM_SEED", first);
    let runs = env_u64("GREGOR_SIM_RUNS", RUNS_DEFAULT);
    let mut total = Stats::default();
    for seed in base..base.saturating_add(runs) {
        match run(seed, gaps) {
            Ok(stats) => total.add(stats),
            Err(report) => panic!("{report}"),
        }
    }
    println!("seeds {base}..{}: {total:?}", base.saturating_add(runs));
    total
}

#[test]
fn replication_invariants_hold_across_seeded_schedules() {
    let total = run_seeds(Gaps::default(), SEED_DEFAULT);
    let runs = env_u64("GREGOR_SIM_RUNS", RUNS_DEFAULT);
    if runs >= 50 {
        // the schedules did something: leaders changed, records were acknowledged and
        // cut, ISR changes went through and were refused
        assert!(total.acked > 0 && total.truncated > 0 && total.crashes > 0, "{total:?}");
        assert!(total.leader_epochs > runs && total.isr_changes > 0 && total.rejected > 0, "{total:?}");
    }
}

#[test]
fn a_seed_replays_the_same_schedule() {
    let trace = |seed| {
        let mut sim = Sim::new(seed, Gaps::default());
        for _ in 0..STEPS {
            sim.step();
        }
        (sim.trace, sim.nodes.iter().map(|n| n.log.clone()).collect::<Vec<_>>())
    };
    assert_eq!(trace(SEED_DEFAULT), trace(SEED_DEFAULT));
    assert_ne!(trace(SEED_DEFAULT).0, trace(SEED_DEFAULT + 1).0);
}

/// The report of the first failing seed among `count` from `first`.
fn first_failure(gaps: Gaps, first: u64, count: u64) -> Option<String> {
    (first..first + count).find_map(|seed| run(seed, gaps).err())
}

// Each test below switches off one rule (see `Gaps`) and checks that the simulation
// then breaks the invariant that rule protects, from near the seed where it first did.

#[test]
fn without_dropping_stale_replies_replicas_diverge() {
    let gaps = Gaps { stale_replies: true, ..Gaps::default() };
    let report = first_failure(gaps, 1_735_554_147, 100).expect("a seed fails");
    assert!(report.contains("yet differ at offset"), "{report}");
}

#[test]
fn leading_before_registering_moves_the_hw_back() {
    let gaps = Gaps { leads_before_registering: true, ..Gaps::default() };
    let report = first_failure(gaps, 1_735_552_449, 100).expect("a seed fails");
    assert!(report.contains("HW went back"), "{report}");
}

#[test]
fn acks_without_min_isr_acknowledge_too_few_copies() {
    let gaps = Gaps { acks_without_min_isr: true, ..Gaps::default() };
    let report = first_failure(gaps, 1_735_550_773, 100).expect("a seed fails");
    assert!(report.contains("below min.insync.replicas"), "{report}");
}

#[test]
fn an_epoch_led_without_writing_must_leave_the_cache() {
    let gaps = Gaps { epoch_cache_keeps_empty_epoch: true, ..Gaps::default() };
    let report = first_failure(gaps, 1_735_551_029, 100).expect("a seed fails");
    assert!(report.contains("epoch cache"), "{report}");
}

#[test]
fn isr_changes_without_partition_epochs_break_the_hw() {
    let gaps = Gaps { alter_isr_without_partition_epoch: true, ..Gaps::default() };
    let report = first_failure(gaps, 1_735_551_173, 100).expect("a seed fails");
    assert!(report.contains("passes the log end"), "{report}");
}

#[test]
fn a_hw_over_the_committed_isr_alone_loses_acknowledged_records() {
    let gaps = Gaps { hw_ignores_pending_isr: true, ..Gaps::default() };
    let report = first_failure(gaps, 1_735_561_254, 100).expect("a seed fails");
    assert!(report.contains("lost"), "{report}");
}

#[test]
fn one_truncation_round_leaves_a_divergent_tail() {
    let gaps = Gaps { truncation_in_one_round: true, ..Gaps::default() };
    let report = first_failure(gaps, 7_013_268, 100).expect("a seed fails");
    assert!(report.contains("yet differ at offset"), "{report}");
}
