//! What a broker does with the metadata image: opens the replicas assigned to it,
//! leads or follows each as the image says, fetches from leaders (one task per
//! leader, Kafka's replica fetcher), and, as a leader, asks the controller to shrink
//! or expand the ISR.

use super::image::{Command, Image, Outcome, PartitionImage, Rejection};
use super::Cluster;
use crate::broker::group::OFFSETS_TOPIC;
use crate::broker::partition::{IsrProposal, Partition};
use crate::broker::Broker;
use crate::proxy::upstream::{self, Connected, UpstreamSecurity};
use crate::time::now_ms;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fetch v12: the newest that names topics and carries the replica id at the top.
const REPLICA_FETCH_VERSION_MAX: i16 = 12;
/// How often leaders look at their ISR and replicas checkpoint their HW.
const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(250);
/// OffsetForLeaderEpoch rounds before fetching: each after the first walks a
/// replica back one epoch it does not share with its leader.
const TRUNCATION_ROUNDS_MAX: usize = 8;
/// Pause after a failed fetch or connection before trying again.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

pub struct Replication {
    pub cluster: Arc<Cluster>,
    broker: Arc<Broker>,
    inter_broker_listener: String,
    security: UpstreamSecurity,
    fetchers: Mutex<HashSet<i32>>,
    /// ISR changes this leader has in flight, by (topic, partition).
    isr_in_flight: Mutex<HashSet<(String, i32)>>,
    /// Wakes fetchers when the image changes.
    changed: tokio::sync::Notify,
}

impl Replication {
    /// Fails when the inter-broker client's TLS or SASL settings cannot be loaded.
    pub fn new(cluster: Arc<Cluster>, broker: Arc<Broker>) -> Result<Arc<Replication>, upstream::UpstreamError> {
        let inter_broker_listener = broker.config.inter_broker_listener().name.clone();
        let client = broker.config.cluster.as_ref().map(|c| c.inter_broker_client.clone()).unwrap_or_default();
        let security = UpstreamSecurity::from_parts(
            "cluster.inter_broker_client",
            client.tls.as_ref(),
            client.sasl.as_ref(),
            Duration::from_secs(5),
        )?;
        Ok(Arc::new(Replication {
            cluster,
            broker,
            inter_broker_listener,
            security,
            fetchers: Mutex::new(HashSet::new()),
            isr_in_flight: Mutex::new(HashSet::new()),
            changed: tokio::sync::Notify::new(),
        }))
    }

    /// Applies every new image to the local replicas, forever.
    pub async fn run(self: Arc<Self>) {
        let mut rx = self.cluster.subscribe();
        tokio::spawn(self.clone().maintenance());
        loop {
            rx.borrow_and_update();
            let image = self.cluster.image();
            self.reconcile(&image);
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn reconcile(self: &Arc<Self>, image: &Image) {
        let b = &self.broker;
        let me = b.node_id();
        let now = now_ms();
        // a restarted node's image is from before it stopped: until the controller
        // has registered this incarnation, its roles there are stale (it might lead
        // at an old epoch beside the real leader); a fenced one's are current
        let registered = image.brokers.get(&me).is_some_and(|r| r.incarnation == self.cluster.incarnation());
        if !registered {
            return;
        }
        for (name, t) in &image.topics {
            let topic = match b.cluster_topic(name, t) {
                Ok(topic) => topic,
                Err(e) => {
                    tracing::error!(topic = %name, error = %e, "cannot set up the topic's replicas");
                    continue;
                }
            };
            for (i, p) in t.partitions.iter().enumerate() {
                let index = i as i32;
                if !p.replicas.contains(&me) {
                    continue;
                }
                let partition = match b.cluster_partition(&topic, index) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(topic = %name, partition = index, error = %e, "cannot open the replica");
                        continue;
                    }
                };
                apply_role(&partition, me, p, now);
                if p.leader != me && p.leader >= 0 {
                    self.ensure_fetcher(p.leader);
                }
            }
        }
        b.remove_topics_not_in(image);
        self.coordinate_groups(image);
        b.notify_appended();
        self.changed.notify_waiters();
    }

    /// The group coordinator follows the leadership of `__consumer_offsets`: it
    /// drops the groups of partitions this node stopped leading and loads, off the
    /// runtime's threads, those it started leading.
    fn coordinate_groups(&self, image: &Image) {
        let me = self.broker.node_id();
        let (led, count) = match image.topics.get(OFFSETS_TOPIC) {
            Some(t) => (
                t.partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.leader == me)
                    .map(|(i, p)| (i as i32, p.leader_epoch))
                    .collect(),
                t.partitions.len() as i32,
            ),
            None => (HashMap::new(), 0),
        };
        for (index, epoch) in self.broker.groups.set_led(&led, count) {
            let Some(partition) = self.broker.topic(OFFSETS_TOPIC).and_then(|t| t.partition(index)) else { continue };
            let broker = self.broker.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = broker.groups.load(index, epoch, &partition, now_ms()) {
                    tracing::error!(partition = index, error = %e, "cannot load the groups of an offsets partition");
                }
            });
        }
    }

    fn ensure_fetcher(self: &Arc<Self>, leader: i32) {
        if self.fetchers.lock().unwrap_or_else(|e| e.into_inner()).insert(leader) {
            tokio::spawn(self.clone().fetch_from(leader));
        }
    }

    /// Partitions this node follows with `leader` as their leader.
    fn followed_from(&self, leader: i32) -> Vec<(String, Arc<Partition>)> {
        let mut out = Vec::new();
        for t in self.broker.topics() {
            for p in t.partitions() {
                if p.leadership().0 == leader && leader != self.broker.node_id() {
                    out.push((t.name.clone(), p));
                }
            }
        }
        out
    }

    /// Kafka's replica fetcher for one leader.
    async fn fetch_from(self: Arc<Self>, leader: i32) {
        let mut conn: Option<Connected> = None;
        loop {
            let partitions = self.followed_from(leader);
            if partitions.is_empty() {
                conn = None;
                let _ = tokio::time::timeout(Duration::from_secs(1), self.changed.notified()).await;
                continue;
            }
            if conn.is_none() {
                let image = self.cluster.image();
                let addr = image
                    .brokers
                    .get(&leader)
                    .and_then(|r| r.endpoint(&self.inter_broker_listener))
                    .map(|e| format!("{}:{}", e.host, e.port));
                let Some(addr) = addr else {
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                };
                match upstream::connect(&addr, &self.security).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::debug!(leader, error = %e, "replica fetcher cannot reach the leader");
                        tokio::time::sleep(RETRY_BACKOFF).await;
                        continue;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            let result = match self.truncate_diverged(c, &partitions).await {
                Ok(()) => self.fetch_once(c, leader, &partitions).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::debug!(leader, error = %e, "replica fetch failed");
                conn = None;
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        }
    }

    /// Asks the leader where each newly followed replica's log diverges from its
    /// own (OffsetForLeaderEpoch) and truncates there, asking again about an
    /// older epoch while the answer names one the replica does not hold.
    async fn truncate_diverged(
        &self,
        c: &mut Connected,
        partitions: &[(String, Arc<Partition>)],
    ) -> Result<(), String> {
        for _ in 0..TRUNCATION_ROUNDS_MAX {
            if !self.truncation_round(c, partitions).await? {
                break;
            }
        }
        Ok(())
    }

    /// One OffsetForLeaderEpoch round; whether a replica cut its log and must ask again.
    async fn truncation_round(
        &self,
        c: &mut Connected,
        partitions: &[(String, Arc<Partition>)],
    ) -> Result<bool, String> {
        let pending: Vec<&(String, Arc<Partition>)> = partitions.iter().filter(|(_, p)| p.needs_truncation()).collect();
        if pending.is_empty() {
            return Ok(false);
        }
        let version = c.version_of::<OffsetForLeaderEpochRequest>().ok_or("leader lacks OffsetForLeaderEpoch")?;
        let mut by_topic: HashMap<&str, Vec<OffsetForLeaderPartition>> = HashMap::new();
        let mut asked: HashMap<(&str, i32), i32> = HashMap::new();
        for (t, p) in &pending {
            let (_, leader_epoch) = p.leadership();
            asked.insert((t.as_str(), p.index), leader_epoch);
            by_topic.entry(t.as_str()).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(p.index)
                    .with_current_leader_epoch(leader_epoch)
                    .with_leader_epoch(p.last_epoch()),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(t, parts)| {
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(crate::broker::handlers::str_bytes(t)))
                    .with_partitions(parts)
            })
            .collect();
        let req =
            OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(self.broker.node_id())).with_topics(topics);
        let resp = c.send(version, &req).await.map_err(|e| e.to_string())?;
        let now = now_ms();
        let mut again = false;
        for t in resp.topics {
            for r in t.partitions {
                let Some((_, p)) =
                    pending.iter().find(|(n, p)| n.as_str() == t.topic.as_str() && p.index == r.partition)
                else {
                    continue;
                };
                if r.error_code != 0 || !p.needs_truncation() || p.leadership().1 != asked[&(t.topic.as_str(), p.index)]
                {
                    continue;
                }
                let (target, done) = p.truncation_point(r.leader_epoch, r.end_offset);
                p.truncate_to(target, done, now).map_err(|e| e.to_string())?;
                again |= !done;
            }
        }
        Ok(again)
    }

    async fn fetch_once(
        &self,
        c: &mut Connected,
        leader: i32,
        partitions: &[(String, Arc<Partition>)],
    ) -> Result<(), String> {
        let ready: Vec<&(String, Arc<Partition>)> = partitions.iter().filter(|(_, p)| !p.needs_truncation()).collect();
        if ready.is_empty() {
            tokio::time::sleep(RETRY_BACKOFF).await;
            return Ok(());
        }
        let version = c.version_of::<FetchRequest>().ok_or("leader lacks Fetch")?.min(REPLICA_FETCH_VERSION_MAX);
        let cfg = &self.broker.config.broker;
        let mut by_topic: HashMap<&str, Vec<FetchPartition>> = HashMap::new();
        let mut asked: HashMap<(&str, i32), i32> = HashMap::new();
        for (t, p) in &ready {
            let o = p.offsets();
            asked.insert((t.as_str(), p.index), o.leader_epoch);
            by_topic.entry(t.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(p.index)
                    .with_current_leader_epoch(o.leader_epoch)
                    .with_fetch_offset(o.log_end)
                    .with_last_fetched_epoch(p.last_epoch())
                    .with_log_start_offset(o.log_start)
                    .with_partition_max_bytes(cfg.replica_fetch_max_bytes),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(t, parts)| {
                FetchTopic::default()
                    .with_topic(TopicName(crate::broker::handlers::str_bytes(t)))
                    .with_partitions(parts)
            })
            .collect();
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(self.broker.node_id()))
            .with_max_wait_ms(cfg.replica_fetch_wait_max_ms)
            .with_min_bytes(1)
            .with_max_bytes(cfg.replica_fetch_max_bytes.saturating_mul(4))
            .with_session_epoch(-1)
            .with_topics(topics);
        let resp = c.send(version, &req).await.map_err(|e| e.to_string())?;
        if resp.error_code != 0 {
            return Err(format!("fetch error code {}", resp.error_code));
        }
        let now = now_ms();
        let mut backoff = false;
        for t in resp.responses {
            for r in t.partitions {
                let Some((_, p)) =
                    ready.iter().find(|(n, p)| n.as_str() == t.topic.as_str() && p.index == r.partition_index)
                else {
                    continue;
                };
                if p.leadership() != (leader, asked[&(t.topic.as_str(), p.index)]) {
                    // the replica's leader or epoch changed while the fetch was out:
                    // what the old one sent may not be in the new leader's log
                    continue;
                }
                match ResponseError::try_from_code(r.error_code) {
                    None => {
                        if let Some(records) = r.records.as_ref().filter(|r| !r.is_empty()) {
                            if let Err(e) = p.append_as_follower(records, now) {
                                tracing::warn!(topic = %t.topic.as_str(), partition = p.index, error = %e, "follower append failed");
                                backoff = true;
                            }
                        }
                        p.follower_high_watermark(r.high_watermark);
                    }
                    Some(ResponseError::OffsetOutOfRange) => {
                        // the leader's log starts after ours ends (retention): start over there
                        let o = p.offsets();
                        if r.log_start_offset > o.log_end {
                            tracing::warn!(topic = %t.topic.as_str(), partition = p.index, "follower is behind the leader's log start");
                        }
                        backoff = true;
                    }
                    Some(e) => {
                        tracing::debug!(topic = %t.topic.as_str(), partition = p.index, error = ?e, "leader refused the fetch");
                        backoff = true;
                    }
                }
            }
        }
        if backoff {
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
        Ok(())
    }

    /// Leaders: shrink the ISR by members that fell behind, expand it by replicas
    /// that caught up (each change committed by the controller before it counts,
    /// one at a time, sent again while unanswered); everyone: checkpoint the HW.
    async fn maintenance(self: Arc<Self>) {
        let lag = self.broker.config.broker.replica_lag_time_max_ms;
        let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            let image = self.cluster.image();
            for t in self.broker.topics() {
                for p in t.partitions() {
                    p.checkpoint_high_watermark();
                    let Some(c) = p.isr_candidates(now, lag) else { continue };
                    if let Some(pending) = c.pending {
                        self.propose_isr(t.name.clone(), p.clone(), pending);
                        continue;
                    }
                    if c.lagging.is_empty() && c.ready.is_empty() {
                        continue;
                    }
                    let mut next: Vec<i32> = c.isr.iter().copied().filter(|r| !c.lagging.contains(r)).collect();
                    next.extend(c.ready.iter().copied().filter(|r| image.is_live(*r)));
                    next.sort_unstable();
                    next.dedup();
                    if next != c.isr {
                        if let Some(proposal) = p.propose_isr(next) {
                            self.propose_isr(t.name.clone(), p.clone(), proposal);
                        }
                    }
                }
            }
        }
    }

    /// Sends `proposal` to the controller unless it is already on its way. The
    /// partition's pending ISR is settled when the answer's image is applied, or
    /// here when the controller refused it without anything having changed.
    fn propose_isr(self: &Arc<Self>, topic: String, partition: Arc<Partition>, proposal: IsrProposal) {
        let key = (topic.clone(), partition.index);
        if !self.isr_in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let IsrProposal { leader_epoch, partition_epoch, isr } = proposal;
            tracing::info!(%topic, partition = partition.index, ?isr, "asking the controller to change the ISR");
            let cmd = Command::AlterIsr {
                topic,
                partition: partition.index,
                leader: this.broker.node_id(),
                leader_epoch,
                partition_epoch: Some(partition_epoch),
                isr,
            };
            match this.cluster.propose(cmd).await {
                Ok(Outcome::Applied | Outcome::ProducerIds { .. }) => {}
                Ok(Outcome::Rejected(why @ Rejection::InvalidIsr(_))) => {
                    tracing::info!(%why, "ISR change refused");
                    partition.isr_refused(partition_epoch);
                }
                // the partition moved on: applying its new state settles the proposal
                Ok(Outcome::Rejected(why)) => tracing::info!(%why, "ISR change refused"),
                // unanswered: it may yet commit, so it stays pending and is sent again
                Err(e) => tracing::warn!(error = %e, "ISR change not committed"),
            }
            this.isr_in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        });
    }
}

/// Brings one local replica to the role the image gives it.
fn apply_role(partition: &Partition, me: i32, p: &PartitionImage, now: i64) {
    let current = partition.role();
    let role = p.role();
    if current == role {
        return;
    }
    if (current.leader_id, current.leader_epoch) == (role.leader_id, role.leader_epoch) {
        partition.set_membership(role, now);
    } else if p.leader == me {
        partition.become_leader(me, role, now);
    } else {
        partition.become_follower(me, role);
    }
}
