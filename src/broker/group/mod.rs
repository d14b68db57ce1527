//! The group coordinator: the async shell around the pure [`state::Group`]
//! machines. It parks JoinGroup and SyncGroup requests on oneshot channels until
//! their group answers them, keeps committed offsets in memory, and writes both
//! offsets and group metadata to the internal `__consumer_offsets` topic, from
//! which it restores them at start.
//!
//! In a cluster each node coordinates the groups whose offsets partition it leads
//! (Kafka's rule): it loads that partition's records when it becomes leader and
//! drops those groups when it stops; requests for other groups get
//! NOT_COORDINATOR, and COORDINATOR_LOAD_IN_PROGRESS while loading.
//!
//! One mutex guards all groups; it is held for in-memory work and for appends to
//! the offsets log (page-cache writes), never across an await.

pub mod records;
pub mod state;

use super::error::BrokerError;
use super::partition::Partition;
use super::Broker;
use crate::config::BrokerConfig;
use crate::log::batch;
use bytes::{Bytes, BytesMut};
use records::{GroupValue, Key, MemberValue, OffsetValue};
use state::{
    Completion, Group, GroupError, GroupSettings, GroupState, JoinRequest, JoinResult, Member, Reply, SyncResult,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Kafka's name for the internal offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Segment size of the offsets topic (Kafka's `offsets.topic.segment.bytes`).
pub const OFFSETS_SEGMENT_BYTES: &str = "104857600";

type Waiters<T> = HashMap<(String, String), oneshot::Sender<T>>;

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Group>,
    /// group → (topic, partition) → committed offset
    offsets: HashMap<String, BTreeMap<(String, i32), OffsetValue>>,
    join_waiters: Waiters<JoinResult>,
    sync_waiters: Waiters<SyncResult>,
    ownership: Ownership,
}

/// Which offsets partitions' groups this node coordinates: all on a single node;
/// in a cluster, those whose replica it leads, once their records are loaded.
#[derive(Default)]
struct Ownership {
    clustered: bool,
    /// The offsets topic's partition count, which group ids hash onto.
    partitions: i32,
    /// Led partitions: index → (leader epoch, loaded).
    led: HashMap<i32, (i32, bool)>,
}

impl Ownership {
    fn partition_of(&self, group_id: &str) -> Option<i32> {
        (self.partitions > 0).then(|| records::partition_for(group_id, self.partitions))
    }

    fn check(&self, group_id: &str) -> Result<(), GroupError> {
        if !self.clustered {
            return Ok(());
        }
        match self.partition_of(group_id).and_then(|p| self.led.get(&p)) {
            Some((_, true)) => Ok(()),
            Some((_, false)) => Err(GroupError::CoordinatorLoadInProgress),
            None => Err(GroupError::NotCoordinator),
        }
    }
}

/// An append to the offsets log: answered once the partition's HW passes
/// `last_offset` (Kafka writes offsets with acks=all).
pub struct Replicating {
    pub partition: Arc<Partition>,
    pub last_offset: i64,
}

/// One committed offset to store.
pub struct CommitEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// A group as DescribeGroups shows it.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<Member>,
}

pub struct GroupCoordinator {
    settings: GroupSettings,
    offsets_partitions: i32,
    metadata_bytes_max: usize,
    /// Offsets of a group that stays empty this long expire.
    retention_ms: i64,
    inner: Mutex<Inner>,
}

impl GroupCoordinator {
    /// `clustered`: coordinate only the groups of led offsets partitions (none
    /// until [`Self::set_led`] says which).
    pub fn new(cfg: &BrokerConfig, clustered: bool) -> GroupCoordinator {
        GroupCoordinator {
            settings: GroupSettings {
                min_session_timeout_ms: cfg.group_min_session_timeout_ms,
                max_session_timeout_ms: cfg.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: cfg.group_initial_rebalance_delay_ms,
                max_size: cfg.group_max_size as usize,
            },
            offsets_partitions: cfg.offsets_topic_num_partitions,
            metadata_bytes_max: cfg.offset_metadata_max_bytes as usize,
            retention_ms: cfg.offsets_retention_minutes.saturating_mul(60_000),
            inner: Mutex::new(Inner { ownership: Ownership { clustered, ..Ownership::default() }, ..Inner::default() }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers parked requests.
    fn deliver(inner: &mut Inner, group: &str, completions: Vec<Completion>) {
        for c in completions {
            match c {
                Completion::Join { member_id, result } => {
                    if let Some(tx) = inner.join_waiters.remove(&(group.to_string(), member_id)) {
                        let _ = tx.send(result);
                    }
                }
                Completion::Sync { member_id, result } => {
                    if let Some(tx) = inner.sync_waiters.remove(&(group.to_string(), member_id)) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
    }

    pub async fn join(&self, group_id: &str, req: JoinRequest, now_ms: i64) -> JoinResult {
        let (rx, member_id) = {
            let mut inner = self.lock();
            if let Err(e) = inner.ownership.check(group_id) {
                return JoinResult::error(&req.member_id, e);
            }
            let group =
                inner.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, self.settings, now_ms));
            if group.state == GroupState::Dead {
                *group = Group::new(group_id, self.settings, now_ms);
            }
            let (reply, completions) = group.join(req, now_ms);
            Self::deliver(&mut inner, group_id, completions);
            match reply {
                Reply::Now(r) => return r,
                Reply::Parked { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    inner.join_waiters.insert((group_id.to_string(), member_id.clone()), tx);
                    (rx, member_id)
                }
            }
        };
        match rx.await {
            Ok(r) => r,
            // replaced by a newer join of the same member: that one gets the answer
            Err(_) => JoinResult::error(&member_id, GroupError::RebalanceInProgress),
        }
    }

    #[allow(clippy::too_many_arguments, reason = "mirrors the SyncGroup request fields")]
    pub async fn sync(
        &self,
        broker: &Broker,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol: Option<(&str, &str)>,
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> SyncResult {
        let rx = {
            let mut inner = self.lock();
            if let Err(e) = inner.ownership.check(group_id) {
                return SyncResult::error(e);
            }
            let Some(group) = inner.groups.get_mut(group_id) else {
                return SyncResult::error(GroupError::UnknownMemberId);
            };
            let (reply, completions) = group.sync(member_id, instance_id, generation_id, protocol, assignments, now_ms);
            let became_stable =
                group.state == GroupState::Stable && matches!(reply, Reply::Now(SyncResult { error: None, .. }));
            if became_stable {
                let value = group_value(group);
                if let Err(e) = self.append(
                    broker,
                    group_id,
                    vec![(Key::Group { group: group_id.to_string() }, Some(value.encode()))],
                    now_ms,
                ) {
                    tracing::error!(group = group_id, error = %e, "cannot persist group metadata");
                }
            }
            Self::deliver(&mut inner, group_id, completions);
            match reply {
                Reply::Now(r) => return r,
                Reply::Parked { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    inner.sync_waiters.insert((group_id.to_string(), member_id), tx);
                    rx
                }
            }
        };
        rx.await.unwrap_or_else(|_| SyncResult::error(GroupError::RebalanceInProgress))
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let mut inner = self.lock();
        inner.ownership.check(group_id)?;
        match inner.groups.get_mut(group_id) {
            Some(g) => g.heartbeat(member_id, instance_id, generation_id, now_ms),
            None => Err(GroupError::UnknownMemberId),
        }
    }

    /// Removes members; one result per member, in order.
    pub fn leave(
        &self,
        broker: &Broker,
        group_id: &str,
        members: &[(String, Option<String>)],
        now_ms: i64,
    ) -> Vec<Result<(), GroupError>> {
        let mut inner = self.lock();
        if let Err(e) = inner.ownership.check(group_id) {
            return members.iter().map(|_| Err(e)).collect();
        }
        let Some(group) = inner.groups.get_mut(group_id) else {
            return members.iter().map(|_| Err(GroupError::UnknownMemberId)).collect();
        };
        let mut results = Vec::with_capacity(members.len());
        let mut all = Vec::new();
        for (member_id, instance_id) in members {
            let (r, completions) = group.leave(member_id, instance_id.as_deref(), now_ms);
            results.push(r);
            all.extend(completions);
        }
        let emptied = group.state == GroupState::Empty;
        let value = group_value(group);
        Self::deliver(&mut inner, group_id, all);
        if emptied {
            let _ = self.append(
                broker,
                group_id,
                vec![(Key::Group { group: group_id.to_string() }, Some(value.encode()))],
                now_ms,
            );
        }
        results
    }

    /// Stores offsets for a group member (or, with generation -1 and no member id,
    /// for a group that only uses Kafka to store offsets). Per-entry errors are
    /// returned as Kafka codes; a group-level failure as `Err`. The offsets are
    /// answered once the returned append is replicated.
    #[allow(clippy::too_many_arguments, reason = "mirrors the OffsetCommit request fields")]
    pub fn commit(
        &self,
        broker: &Broker,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        entries: Vec<CommitEntry>,
        now_ms: i64,
    ) -> Result<(Vec<i16>, Option<Replicating>), GroupError> {
        let mut inner = self.lock();
        inner.ownership.check(group_id)?;
        let group =
            inner.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, self.settings, now_ms));
        self.check_commit(group, generation_id, member_id, instance_id, now_ms)?;
        let mut codes = Vec::with_capacity(entries.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for e in entries {
            let meta = e.metadata.unwrap_or_default();
            let code = if meta.len() > self.metadata_bytes_max {
                kafka_protocol::error::ResponseError::OffsetMetadataTooLarge.code()
            } else if broker.topic(&e.topic).is_none_or(|t| e.partition < 0 || e.partition >= t.partition_count()) {
                BrokerError::UnknownTopicOrPartition.code()
            } else {
                let v = OffsetValue {
                    offset: e.offset,
                    leader_epoch: e.leader_epoch,
                    metadata: meta,
                    commit_timestamp_ms: now_ms,
                };
                records.push((
                    Key::Offset { group: group_id.to_string(), topic: e.topic.clone(), partition: e.partition },
                    Some(v.encode()),
                ));
                accepted.push(((e.topic, e.partition), v));
                0
            };
            codes.push(code);
        }
        let mut replicating = None;
        if !records.is_empty() {
            match self.append(broker, group_id, records, now_ms) {
                Ok(r) => replicating = Some(r),
                Err(e) => {
                    tracing::error!(group = group_id, error = %e, "cannot persist offsets");
                    let code = commit_error(&e).code();
                    return Ok((codes.into_iter().map(|c| if c == 0 { code } else { c }).collect(), None));
                }
            }
        }
        let stored = inner.offsets.entry(group_id.to_string()).or_default();
        stored.extend(accepted);
        Ok((codes, replicating))
    }

    /// Kafka's rules: members commit with their generation (also while the group
    /// prepares a rebalance: the heartbeat tells them to rejoin); a consumer outside
    /// the group (generation -1, no member id) may commit only to an empty group.
    fn check_commit(
        &self,
        group: &mut Group,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let as_member = generation_id >= 0 || !member_id.is_empty() || instance_id.is_some();
        if !as_member {
            return if group.state == GroupState::Empty { Ok(()) } else { Err(GroupError::UnknownMemberId) };
        }
        if let Some(instance) = instance_id {
            if group.static_members.get(instance).is_some_and(|owner| owner != member_id) {
                return Err(GroupError::FencedInstanceId);
            }
        }
        if !group.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        match group.state {
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            _ => {
                // a commit counts as a sign of life
                if let Some(m) = group.members.get_mut(member_id) {
                    m.last_heartbeat_ms = now_ms;
                }
                Ok(())
            }
        }
    }

    /// Committed offsets: for `topics` (None = all the group has).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<(String, i32, Option<OffsetValue>)>, GroupError> {
        let inner = self.lock();
        inner.ownership.check(group_id)?;
        let stored = inner.offsets.get(group_id);
        Ok(match topics {
            Some(topics) => topics
                .into_iter()
                .flat_map(|(t, parts)| parts.into_iter().map(move |p| (t.clone(), p)).collect::<Vec<_>>())
                .map(|(t, p)| {
                    let v = stored.and_then(|s| s.get(&(t.clone(), p)).cloned());
                    (t, p, v)
                })
                .collect(),
            None => stored
                .map(|s| s.iter().map(|((t, p), v)| (t.clone(), *p, Some(v.clone()))).collect())
                .unwrap_or_default(),
        })
    }

    /// (group id, protocol type, state) for every live group.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| (g.id.clone(), g.protocol_type.clone().unwrap_or_default(), g.state))
            .collect();
        for id in inner.offsets.keys() {
            if !inner.groups.contains_key(id) {
                out.push((id.clone(), String::new(), GroupState::Empty));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn describe(&self, group_id: &str) -> Result<Option<GroupDescription>, GroupError> {
        let inner = self.lock();
        inner.ownership.check(group_id)?;
        Ok(match inner.groups.get(group_id) {
            Some(g) if g.state != GroupState::Dead => Some(GroupDescription {
                state: g.state,
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocol: if g.state == GroupState::Stable {
                    g.protocol_name.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                members: g.members.values().cloned().collect(),
            }),
            _ if inner.offsets.contains_key(group_id) => Some(GroupDescription {
                state: GroupState::Empty,
                protocol_type: String::new(),
                protocol: String::new(),
                members: vec![],
            }),
            _ => None,
        })
    }

    /// Deletes an empty group and its offsets.
    pub fn delete(
        &self,
        broker: &Broker,
        group_id: &str,
        now_ms: i64,
    ) -> Result<(), kafka_protocol::error::ResponseError> {
        use kafka_protocol::error::ResponseError;
        let mut inner = self.lock();
        inner.ownership.check(group_id).map_err(GroupError::response_error)?;
        let known = inner.groups.get(group_id).is_some_and(|g| g.state != GroupState::Dead)
            || inner.offsets.contains_key(group_id);
        if !known {
            return Err(ResponseError::GroupIdNotFound);
        }
        if let Some(g) = inner.groups.get_mut(group_id) {
            g.delete(now_ms).map_err(GroupError::response_error)?;
        }
        let mut records = vec![(Key::Group { group: group_id.to_string() }, None)];
        if let Some(offsets) = inner.offsets.get(group_id) {
            for (t, p) in offsets.keys() {
                records.push((Key::Offset { group: group_id.to_string(), topic: t.clone(), partition: *p }, None));
            }
        }
        self.append(broker, group_id, records, now_ms).map_err(|e| e.response_error())?;
        inner.offsets.remove(group_id);
        inner.groups.remove(group_id);
        Ok(())
    }

    /// Deletes committed offsets of topics no member is subscribed to (OffsetDelete).
    pub fn delete_offsets(
        &self,
        broker: &Broker,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
        now_ms: i64,
    ) -> Result<Vec<Vec<i16>>, GroupError> {
        let mut inner = self.lock();
        inner.ownership.check(group_id)?;
        let group = inner.groups.get(group_id);
        let has_offsets = inner.offsets.contains_key(group_id);
        if group.is_none_or(|g| g.state == GroupState::Dead) && !has_offsets {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let subscribed = group.map(subscribed_topics).unwrap_or_default();
        let active = group.is_some_and(|g| g.state != GroupState::Empty && g.state != GroupState::Dead);
        let mut records = Vec::new();
        let mut removed = Vec::new();
        let codes = topics
            .iter()
            .map(|(t, parts)| {
                parts
                    .iter()
                    .map(|p| {
                        if active && subscribed.iter().any(|s| s == t) {
                            return kafka_protocol::error::ResponseError::GroupSubscribedToTopic.code();
                        }
                        records
                            .push((Key::Offset { group: group_id.to_string(), topic: t.clone(), partition: *p }, None));
                        removed.push((t.clone(), *p));
                        0
                    })
                    .collect()
            })
            .collect();
        if !records.is_empty() {
            self.append(broker, group_id, records, now_ms).map_err(|_| GroupError::CoordinatorNotAvailable)?;
            if let Some(o) = inner.offsets.get_mut(group_id) {
                for k in removed {
                    o.remove(&k);
                }
            }
        }
        Ok(codes)
    }

    /// Advances every group's clock; expires offsets of long-empty groups.
    pub fn tick(&self, broker: &Broker, now_ms: i64, expire_offsets: bool) {
        let mut inner = self.lock();
        let ids: Vec<String> = inner.groups.keys().cloned().collect();
        for id in ids {
            let g = inner.groups.get_mut(&id).expect("listed");
            let before = g.state;
            let completions = g.tick(now_ms);
            let emptied = before != GroupState::Empty && g.state == GroupState::Empty;
            let value = group_value(g);
            Self::deliver(&mut inner, &id, completions);
            if emptied {
                let _ =
                    self.append(broker, &id, vec![(Key::Group { group: id.clone() }, Some(value.encode()))], now_ms);
            }
        }
        if expire_offsets && self.retention_ms > 0 {
            self.expire_offsets(&mut inner, broker, now_ms);
        }
    }

    fn expire_offsets(&self, inner: &mut Inner, broker: &Broker, now_ms: i64) {
        let expired: Vec<String> = inner
            .offsets
            .iter()
            .filter(|(id, offsets)| {
                let empty_since = inner
                    .groups
                    .get(*id)
                    .map_or(Some(0), |g| (g.state == GroupState::Empty).then_some(g.state_changed_ms));
                let newest_commit = offsets.values().map(|v| v.commit_timestamp_ms).max().unwrap_or(0);
                empty_since.is_some_and(|since| now_ms - since.max(newest_commit) > self.retention_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let records: Vec<_> = inner.offsets[&id]
                .keys()
                .map(|(t, p)| (Key::Offset { group: id.clone(), topic: t.clone(), partition: *p }, None))
                .collect();
            if self.append(broker, &id, records, now_ms).is_ok() {
                tracing::info!(group = %id, "committed offsets expired (offsets.retention.minutes)");
                inner.offsets.remove(&id);
            }
        }
    }

    /// Writes records for one group to its `__consumer_offsets` partition.
    fn append(
        &self,
        broker: &Broker,
        group_id: &str,
        records: Vec<(Key, Option<Bytes>)>,
        now_ms: i64,
    ) -> Result<Replicating, BrokerError> {
        let topic = broker.offsets_topic(self.offsets_partitions)?;
        let index = records::partition_for(group_id, topic.partition_count());
        let partition = topic.local_partition(index)?;
        let bytes = encode_batch(records, now_ms)?;
        let headers = batch::split_and_validate(&bytes, usize::MAX)?;
        let appended = partition.append(&bytes, &headers, None, now_ms)?;
        // followers long-polling this leader fetch it now
        broker.notify_appended();
        Ok(Replicating { partition, last_offset: appended.info.last_offset })
    }

    /// Rebuilds offsets and groups from `__consumer_offsets` (a single node, at start).
    pub fn restore(&self, broker: &Broker, now_ms: i64) -> Result<(), BrokerError> {
        let Some(topic) = broker.topic(OFFSETS_TOPIC) else { return Ok(()) };
        let mut latest = BTreeMap::new();
        for p in topic.partitions() {
            read_latest(&p, &mut latest)?;
        }
        let mut inner = self.lock();
        let (offsets, groups) = self.replay(&mut inner, latest, now_ms);
        tracing::info!(offsets, groups, "consumer groups restored");
        Ok(())
    }

    /// In a cluster: the offsets partitions this node leads now (index → leader
    /// epoch) of `partitions`. Groups of partitions it no longer leads are dropped,
    /// their parked requests answered NOT_COORDINATOR. Returns the newly led
    /// partitions, which serve nothing until [`Self::load`] has read them.
    pub fn set_led(&self, led: &HashMap<i32, i32>, partitions: i32) -> Vec<(i32, i32)> {
        let mut inner = self.lock();
        let own = &mut inner.ownership;
        own.clustered = true;
        let resized = own.partitions != partitions;
        own.partitions = partitions;
        let gone: Vec<i32> =
            own.led.iter().filter(|(i, (e, _))| resized || led.get(i) != Some(e)).map(|(i, _)| *i).collect();
        for i in &gone {
            own.led.remove(i);
        }
        let mut fresh = Vec::new();
        for (&i, &e) in led {
            if let std::collections::hash_map::Entry::Vacant(v) = own.led.entry(i) {
                v.insert((e, false));
                fresh.push((i, e));
            }
        }
        if !gone.is_empty() {
            Self::unload(&mut inner, &gone);
        }
        fresh
    }

    /// Reads a newly led offsets partition from its log start to its log end (as
    /// Kafka's loader does: a new leader's whole log is the partition's truth) and
    /// starts coordinating its groups, unless leadership moved on meanwhile.
    pub fn load(&self, index: i32, leader_epoch: i32, partition: &Partition, now_ms: i64) -> Result<(), BrokerError> {
        let mut latest = BTreeMap::new();
        read_latest(partition, &mut latest)?;
        let mut inner = self.lock();
        if inner.ownership.led.get(&index) != Some(&(leader_epoch, false)) {
            return Ok(());
        }
        let (offsets, groups) = self.replay(&mut inner, latest, now_ms);
        inner.ownership.led.insert(index, (leader_epoch, true));
        tracing::info!(
            partition = index,
            leader_epoch,
            offsets,
            groups,
            "coordinating the groups of an offsets partition"
        );
        Ok(())
    }

    /// Drops the groups hashed onto `gone`, answering their parked requests.
    fn unload(inner: &mut Inner, gone: &[i32]) {
        let own = &inner.ownership;
        let ours = |g: &str| own.partition_of(g).is_some_and(|p| gone.contains(&p));
        let joins: Vec<_> = inner.join_waiters.keys().filter(|(g, _)| ours(g)).cloned().collect();
        let syncs: Vec<_> = inner.sync_waiters.keys().filter(|(g, _)| ours(g)).cloned().collect();
        let groups = inner.groups.len();
        inner.groups.retain(|id, _| !ours(id));
        inner.offsets.retain(|id, _| !ours(id));
        let dropped = groups - inner.groups.len();
        for key in joins {
            if let Some(tx) = inner.join_waiters.remove(&key) {
                let _ = tx.send(JoinResult::error(&key.1, GroupError::NotCoordinator));
            }
        }
        for key in syncs {
            if let Some(tx) = inner.sync_waiters.remove(&key) {
                let _ = tx.send(SyncResult::error(GroupError::NotCoordinator));
            }
        }
        tracing::info!(partitions = ?gone, groups = dropped, "no longer coordinating the groups of these offsets partitions");
    }

    /// Applies the newest record of every key: offsets and stable groups.
    fn replay(&self, inner: &mut Inner, latest: BTreeMap<Key, Option<Bytes>>, now_ms: i64) -> (usize, usize) {
        let (mut offsets_n, mut groups_n) = (0, 0);
        for (k, v) in latest {
            let Some(v) = v else { continue };
            match k {
                Key::Offset { group, topic, partition } => {
                    if let Ok(val) = OffsetValue::decode(v) {
                        inner.offsets.entry(group).or_default().insert((topic, partition), val);
                        offsets_n += 1;
                    }
                }
                Key::Group { group } => {
                    if let Ok(val) = GroupValue::decode(v) {
                        let mut g = Group::new(&group, self.settings, now_ms);
                        let members = val
                            .members
                            .into_iter()
                            .map(|m| member_from(m, &val.protocol, &val.protocol_type))
                            .collect();
                        g.restore_stable(
                            val.generation_id,
                            val.protocol_type,
                            val.protocol,
                            val.leader,
                            members,
                            now_ms,
                        );
                        inner.groups.insert(group, g);
                        groups_n += 1;
                    }
                }
            }
        }
        (offsets_n, groups_n)
    }
}

/// The newest value of every key in one offsets partition, up to its log end.
fn read_latest(p: &Partition, latest: &mut BTreeMap<Key, Option<Bytes>>) -> Result<(), BrokerError> {
    let mut offset = p.offsets().log_start;
    loop {
        let read = p.read_to_log_end(offset, 1 << 20)?;
        if read.records.is_empty() {
            return Ok(());
        }
        let mut buf = read.records.clone();
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
            .map_err(|e| BrokerError::Storage(format!("{OFFSETS_TOPIC}: {e}")))?;
        let mut advanced = false;
        for set in sets {
            for r in set.records {
                if let Some(k) = r.key.clone().and_then(|k| Key::decode(k).ok()) {
                    latest.insert(k, r.value.clone());
                }
                offset = offset.max(r.offset + 1);
                advanced = true;
            }
        }
        if !advanced {
            return Ok(());
        }
    }
}

/// Kafka's mapping of offsets-log append errors to what OffsetCommit answers.
pub fn commit_error(e: &BrokerError) -> GroupError {
    match e {
        BrokerError::NotLeaderOrFollower | BrokerError::Storage(_) => GroupError::NotCoordinator,
        _ => GroupError::CoordinatorNotAvailable,
    }
}

fn group_value(g: &Group) -> GroupValue {
    let protocol = g.protocol_name.clone();
    GroupValue {
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        generation_id: g.generation_id,
        protocol: protocol.clone(),
        leader: g.leader_id.clone(),
        state_timestamp_ms: g.state_changed_ms,
        members: g
            .members
            .values()
            .map(|m| MemberValue {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                subscription: protocol
                    .as_deref()
                    .map(|p| m.protocols.iter().find(|(n, _)| n == p).map(|(_, b)| b.clone()).unwrap_or_default())
                    .unwrap_or_default(),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
}

fn member_from(m: MemberValue, protocol: &Option<String>, protocol_type: &str) -> Member {
    Member {
        id: m.member_id,
        instance_id: m.instance_id,
        client_id: m.client_id,
        client_host: m.client_host,
        session_timeout_ms: m.session_timeout_ms,
        rebalance_timeout_ms: m.rebalance_timeout_ms,
        protocol_type: protocol_type.to_string(),
        protocols: protocol.iter().map(|p| (p.clone(), m.subscription.clone())).collect(),
        assignment: m.assignment,
        last_heartbeat_ms: 0,
        awaiting_join: false,
        awaiting_sync: false,
    }
}

/// Topics named in the members' consumer-protocol subscriptions.
fn subscribed_topics(g: &Group) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    if g.protocol_type.as_deref() != Some("consumer") {
        return vec![];
    }
    let Some(protocol) = g.protocol_name.as_deref() else { return vec![] };
    let mut out = Vec::new();
    for m in g.members.values() {
        if let Some((_, meta)) = m.protocols.iter().find(|(n, _)| n == protocol) {
            let mut b = meta.clone();
            if b.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([b[0], b[1]]);
            let _ = bytes::Buf::get_i16(&mut b);
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut b, version.clamp(0, 3)) {
                out.extend(sub.topics.iter().map(|t| t.to_string()));
            }
        }
    }
    out
}

/// One uncompressed batch holding `records` (null value = tombstone).
fn encode_batch(records: Vec<(Key, Option<Bytes>)>, now_ms: i64) -> Result<Bytes, BrokerError> {
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let recs: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // the encoder starts a new batch when offset - sequence changes: keep it constant
            sequence: i as i32 - 1,
            timestamp: now_ms,
            key: Some(k.encode()),
            value: v,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|e| BrokerError::Storage(format!("encoding {OFFSETS_TOPIC} records: {e}")))?;
    Ok(buf.freeze())
}
