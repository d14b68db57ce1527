//! The group coordinator: the async shell around the pure [`state::Group`]
//! machines. It parks JoinGroup and SyncGroup requests on oneshot channels until
//! their group answers them, keeps committed offsets in memory, and writes both
//! offsets and group metadata to the internal `__consumer_offsets` topic, from
//! which it restores them at start.
//!
//! One mutex guards all groups; it is held for in-memory work and for appends to
//! the offsets log (page-cache writes), never across an await.

pub mod records;
pub mod state;

use super::error::BrokerError;
use super::Broker;
use crate::config::BrokerConfig;
use crate::log::batch;
use bytes::{Bytes, BytesMut};
use records::{GroupValue, Key, MemberValue, OffsetValue};
use state::{
    Completion, Group, GroupError, GroupSettings, GroupState, JoinRequest, JoinResult, Member, Reply, SyncResult,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
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
    pub fn new(cfg: &BrokerConfig) -> GroupCoordinator {
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
            inner: Mutex::new(Inner::default()),
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
    /// returned as Kafka codes; a group-level failure as `Err`.
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
    ) -> Result<Vec<i16>, GroupError> {
        let mut inner = self.lock();
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
            } else if broker.topic(&e.topic).and_then(|t| t.partition(e.partition)).is_none() {
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
        if !records.is_empty() {
            if let Err(e) = self.append(broker, group_id, records, now_ms) {
                tracing::error!(group = group_id, error = %e, "cannot persist offsets");
                let code = e.code();
                return Ok(codes.into_iter().map(|c| if c == 0 { code } else { c }).collect());
            }
        }
        let stored = inner.offsets.entry(group_id.to_string()).or_default();
        stored.extend(accepted);
        Ok(codes)
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
    ) -> Vec<(String, i32, Option<OffsetValue>)> {
        let inner = self.lock();
        let stored = inner.offsets.get(group_id);
        match topics {
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
        }
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

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let inner = self.lock();
        match inner.groups.get(group_id) {
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
        }
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
    ) -> Result<(), BrokerError> {
        let topic = broker.offsets_topic(self.offsets_partitions)?;
        let index = records::partition_for(group_id, topic.partition_count());
        let partition = topic.partition(index).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let bytes = encode_batch(records, now_ms)?;
        let headers = batch::split_and_validate(&bytes, usize::MAX)?;
        partition.append(&bytes, &headers, None, now_ms)?;
        Ok(())
    }

    /// Rebuilds offsets and groups from `__consumer_offsets` (at start).
    pub fn restore(&self, broker: &Broker, now_ms: i64) -> Result<(), BrokerError> {
        let Some(topic) = broker.topic(OFFSETS_TOPIC) else { return Ok(()) };
        let mut latest: BTreeMap<Key, Option<Bytes>> = BTreeMap::new();
        for p in topic.partitions() {
            let mut offset = p.offsets().log_start;
            let end = p.offsets().high_watermark;
            while offset < end {
                let read = p.read(offset, 1 << 20, true)?;
                if read.records.is_empty() {
                    break;
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
                    break;
                }
            }
        }
        let mut inner = self.lock();
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
        tracing::info!(offsets = offsets_n, groups = groups_n, "consumer groups restored");
        Ok(())
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
