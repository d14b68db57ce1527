//! `gregor groups list|describe|reset-offsets|delete`: ListGroups on every broker;
//! DescribeGroups, OffsetFetch, OffsetCommit and DeleteGroups at each group's
//! coordinator; ListOffsets at partition leaders for lag and reset targets.

use super::error::{AdminError, ClientError, KafkaError};
use super::output::{or_dash, print, Outcome, Report, Table};
use super::parse::{datetime_ms, format_ms, topic_selection, TopicSelection};
use super::session::Session;
use super::ConnectArgs;
use bytes::{Buf, Bytes};
use clap::{ArgGroup, Args, Subcommand};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
    ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Message, StrBytes};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// ListOffsets timestamps meaning "log start" and "log end".
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// Group states in which no member can overwrite a reset.
const INACTIVE_STATES: [&str; 2] = ["Empty", "Dead"];

type Tp = (String, i32);
/// Per topic: partition → leader node, or why the topic cannot be used.
type Leaders = BTreeMap<String, Result<BTreeMap<i32, i32>, KafkaError>>;

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Consumer groups of every broker, with their state.
    List,
    /// State, members and their assignments, committed offsets and lag.
    Describe {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Plan (default) or apply new committed offsets for an inactive group.
    ResetOffsets(ResetArgs),
    /// Delete groups (they must have no members).
    Delete {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
#[command(group(ArgGroup::new("target").required(true)
    .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime"])))]
pub struct ResetArgs {
    /// The consumer group whose committed offsets to reset.
    pub group: String,
    /// TOPIC or TOPIC:P,P (those partitions); repeatable.
    #[arg(long = "topic", value_name = "TOPIC[:P,P]", value_parser = topic_selection)]
    pub topics: Vec<TopicSelection>,
    /// Every topic the group has committed offsets for.
    #[arg(long)]
    pub all_topics: bool,
    /// Each partition's log start offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// Each partition's log end offset (skip everything not yet consumed).
    #[arg(long)]
    pub to_latest: bool,
    /// An absolute offset (clamped to the partition's earliest..latest).
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// Move the committed offset by N (negative goes back), clamped.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// The first offset with a timestamp at or after this ISO 8601 time (UTC unless
    /// it carries an offset), or the log end when there is none.
    #[arg(long, value_name = "DATETIME", value_parser = datetime_ms)]
    pub to_datetime: Option<i64>,
    /// Print the plan only (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Commit the new offsets; refused while the group has members.
    #[arg(long)]
    pub execute: bool,
}

/// What a reset moves each partition to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTarget {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    Datetime(i64),
}

impl ResetTarget {
    pub fn describe(self) -> String {
        match self {
            ResetTarget::Earliest => "earliest".into(),
            ResetTarget::Latest => "latest".into(),
            ResetTarget::Offset(o) => format!("offset {o}"),
            ResetTarget::ShiftBy(n) => format!("shift-by {n}"),
            ResetTarget::Datetime(ms) => format!("datetime {}", format_ms(ms)),
        }
    }
}

impl ResetArgs {
    fn target(&self) -> ResetTarget {
        match (self.to_earliest, self.to_latest, self.to_offset, self.shift_by, self.to_datetime) {
            (true, ..) => ResetTarget::Earliest,
            (_, true, ..) => ResetTarget::Latest,
            (_, _, Some(o), ..) => ResetTarget::Offset(o),
            (_, _, _, Some(n), _) => ResetTarget::ShiftBy(n),
            (_, _, _, _, Some(ms)) => ResetTarget::Datetime(ms),
            _ => unreachable!("clap requires one target"),
        }
    }
}

/// The new offset of one partition from its bounds and current committed offset.
/// `at_time` is the ListOffsets answer for a datetime target (-1: none that late).
pub fn new_offset(
    target: ResetTarget,
    current: Option<i64>,
    earliest: i64,
    latest: i64,
    at_time: Option<i64>,
) -> Result<i64, String> {
    assert!(earliest <= latest, "log start {earliest} beyond log end {latest}");
    let clamp = |o: i64| o.clamp(earliest, latest);
    match target {
        ResetTarget::Earliest => Ok(earliest),
        ResetTarget::Latest => Ok(latest),
        ResetTarget::Offset(o) => Ok(clamp(o)),
        ResetTarget::ShiftBy(n) => match current {
            Some(c) => Ok(clamp(c.saturating_add(n))),
            None => Err("no committed offset to shift".into()),
        },
        ResetTarget::Datetime(_) => match at_time {
            Some(o) if o >= 0 => Ok(clamp(o)),
            _ => Ok(latest),
        },
    }
}

pub fn run(
    command: GroupsCommand,
    session: &mut Session,
    args: &ConnectArgs,
    out: &mut dyn Write,
) -> Result<Outcome, AdminError> {
    let (failures, printed) = match command {
        GroupsCommand::List => {
            let (report, failures) = list(session)?;
            (failures, print(&report, args.output, out))
        }
        GroupsCommand::Describe { groups } => {
            let report =
                GroupDescriptions { groups: groups.iter().map(|g| describe(session, g)).collect::<Result<_, _>>()? };
            let failures = report.groups.iter().filter_map(|g| group_failure(&g.group_id, &g.error)).collect();
            (failures, print(&report, args.output, out))
        }
        GroupsCommand::ResetOffsets(reset_args) => {
            let report = reset(session, &reset_args)?;
            let failures = report
                .partitions
                .iter()
                .filter_map(|p| p.error.as_ref().map(|e| format!("{}-{}: {e}", p.topic, p.partition)))
                .collect();
            (failures, print(&report, args.output, out))
        }
        GroupsCommand::Delete { groups } => {
            let report = DeletedGroups { groups: groups.iter().map(|g| delete(session, g)).collect::<Result<_, _>>()? };
            let failures = report.groups.iter().filter_map(|g| group_failure(&g.group_id, &g.error)).collect();
            (failures, print(&report, args.output, out))
        }
    };
    printed?;
    Ok(Outcome { failures })
}

fn group_failure(group: &str, error: &Option<KafkaError>) -> Option<String> {
    error.as_ref().map(|e| format!("group \"{group}\": {e}"))
}

/// A whole-group failure as a Kafka error; connection failures stay fatal.
fn group_error(e: ClientError) -> Result<KafkaError, AdminError> {
    match e {
        ClientError::Kafka { error, .. } => Ok(error),
        other => Err(other.into()),
    }
}

fn group_id(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_string()))
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

// ------------------------------------------------------------------------- list

#[derive(Debug, Serialize)]
pub struct GroupList {
    pub groups: Vec<ListedGroup>,
}

#[derive(Debug, Serialize)]
pub struct ListedGroup {
    pub group_id: String,
    /// None from brokers older than ListGroups v4.
    pub state: Option<String>,
    pub protocol_type: String,
    pub coordinator: i32,
}

impl Report for GroupList {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"]);
        for g in &self.groups {
            t.row(vec![
                g.group_id.clone(),
                or_dash(g.state.as_ref()),
                g.protocol_type.clone(),
                g.coordinator.to_string(),
            ]);
        }
        vec![t]
    }
}

fn list(session: &mut Session) -> Result<(GroupList, Vec<String>), AdminError> {
    let mut groups = Vec::new();
    let mut failures = Vec::new();
    let ids: Vec<i32> = session.brokers.keys().copied().collect();
    for id in ids {
        let conn = session.node(id)?;
        let response = conn.send(&ListGroupsRequest::default())?;
        if let Err(e) = KafkaError::check(response.error_code, None) {
            failures.push(format!("broker {id}: {e}"));
            continue;
        }
        let has_state = conn.version_of::<ListGroupsRequest>().is_some_and(|v| v >= 4);
        groups.extend(response.groups.into_iter().map(|g| ListedGroup {
            group_id: g.group_id.to_string(),
            state: has_state.then(|| g.group_state.to_string()),
            protocol_type: g.protocol_type.to_string(),
            coordinator: id,
        }));
    }
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    groups.dedup_by(|a, b| a.group_id == b.group_id);
    Ok((GroupList { groups }, failures))
}

// --------------------------------------------------------------------- describe

#[derive(Debug, Serialize)]
pub struct GroupDescriptions {
    pub groups: Vec<GroupDescription>,
}

#[derive(Debug, Default, Serialize)]
pub struct GroupDescription {
    pub group_id: String,
    pub coordinator: Option<i32>,
    pub state: Option<String>,
    /// None when the group has none (no members).
    pub protocol_type: Option<String>,
    /// The assignor the members agreed on (e.g. `range`).
    pub protocol: Option<String>,
    pub members: Vec<MemberDescription>,
    pub offsets: Vec<PartitionOffsets>,
    pub error: Option<KafkaError>,
}

#[derive(Debug, Serialize)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// Decoded from the consumer protocol; None for other protocol types.
    pub assignment: Option<Vec<AssignedTopic>>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AssignedTopic {
    pub topic: String,
    pub partitions: Vec<i32>,
}

#[derive(Debug, Serialize)]
pub struct PartitionOffsets {
    pub topic: String,
    pub partition: i32,
    pub committed_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    /// The member the partition is assigned to, if any.
    pub member_id: Option<String>,
    pub error: Option<KafkaError>,
}

impl Report for GroupDescriptions {
    fn tables(&self) -> Vec<Table> {
        let mut tables = Vec::new();
        for g in self.groups.iter().filter(|g| g.error.is_none()) {
            let title = format!(
                "Group: {}  State: {}  Coordinator: {}  Protocol: {}/{}  Members: {}",
                g.group_id,
                or_dash(g.state.as_ref()),
                or_dash(g.coordinator),
                or_dash(g.protocol_type.as_ref()),
                or_dash(g.protocol.as_ref()),
                g.members.len()
            );
            let mut t = Table::new(&["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"])
                .titled(title);
            for o in &g.offsets {
                t.row(vec![
                    o.topic.clone(),
                    o.partition.to_string(),
                    or_dash(o.committed_offset),
                    or_dash(o.log_end_offset),
                    or_dash(o.lag),
                    or_dash(o.member_id.as_ref()),
                ]);
            }
            tables.push(t);
            if !g.members.is_empty() {
                let mut m = Table::new(&["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"]);
                for member in &g.members {
                    m.row(vec![
                        member.member_id.clone(),
                        or_dash(member.group_instance_id.as_ref()),
                        member.client_id.clone(),
                        member.host.clone(),
                        member.assignment.as_ref().map_or_else(|| "-".into(), |a| format_assignment(a)),
                    ]);
                }
                tables.push(m);
            }
        }
        tables
    }
}

fn format_assignment(a: &[AssignedTopic]) -> String {
    let parts: Vec<String> = a
        .iter()
        .map(|t| format!("{}:{}", t.topic, t.partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",")))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// Consumer protocol assignment bytes: an i16 version, then the struct. Versions newer
/// than the decoder knows are read as its newest, as Kafka's consumers do.
pub fn decode_assignment(bytes: &Bytes) -> Option<Vec<AssignedTopic>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = bytes.clone();
    let version = buf.try_get_i16().ok()?;
    if version < 0 {
        return None;
    }
    let version = version.min(ConsumerProtocolAssignment::VERSIONS.max);
    let assignment = ConsumerProtocolAssignment::decode(&mut buf, version).ok()?;
    let mut topics: Vec<AssignedTopic> = assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| {
            let mut partitions = tp.partitions;
            partitions.sort_unstable();
            AssignedTopic { topic: tp.topic.to_string(), partitions }
        })
        .collect();
    topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    Some(topics)
}

fn describe(session: &mut Session, group: &str) -> Result<GroupDescription, AdminError> {
    let mut d = GroupDescription { group_id: group.to_string(), ..Default::default() };
    if let Err(e) = describe_into(session, group, &mut d) {
        d.error = Some(group_error(e)?);
    }
    Ok(d)
}

fn describe_into(session: &mut Session, group: &str, d: &mut GroupDescription) -> Result<(), ClientError> {
    let coordinator = session.coordinator(group)?;
    d.coordinator = Some(coordinator);
    let described = describe_group(session, coordinator, group)?;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    d.state = Some(described.state.clone());
    d.protocol_type = non_empty(&described.protocol_type);
    d.protocol = non_empty(&described.protocol);
    d.members = described.members;
    let committed = committed_offsets(session, coordinator, group)?;
    let mut owners: BTreeMap<Tp, String> = BTreeMap::new();
    for m in &d.members {
        for t in m.assignment.iter().flatten() {
            for p in &t.partitions {
                owners.insert((t.topic.clone(), *p), m.member_id.clone());
            }
        }
    }
    let partitions: BTreeSet<Tp> = committed.keys().chain(owners.keys()).cloned().collect();
    let ends = offsets_at(session, &partitions, LATEST)?;
    d.offsets = partitions
        .into_iter()
        .map(|tp| {
            let committed_offset = committed.get(&tp).copied();
            let (log_end_offset, error) = match ends.get(&tp) {
                Some(Ok(o)) => (Some(*o), None),
                Some(Err(e)) => (None, Some(e.clone())),
                None => (None, None),
            };
            let lag = committed_offset.zip(log_end_offset).map(|(c, e)| (e - c).max(0));
            PartitionOffsets {
                member_id: owners.get(&tp).cloned(),
                topic: tp.0,
                partition: tp.1,
                committed_offset,
                log_end_offset,
                lag,
                error,
            }
        })
        .collect();
    Ok(())
}

struct DescribedGroup {
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<MemberDescription>,
}

/// DescribeGroups for one group; an unknown group reads as Dead with no members.
fn describe_group(session: &mut Session, coordinator: i32, group: &str) -> Result<DescribedGroup, ClientError> {
    let conn = session.node(coordinator)?;
    let response = conn.send(&DescribeGroupsRequest::default().with_groups(vec![group_id(group)]))?;
    let g = response.groups.into_iter().next().ok_or_else(|| ClientError::Protocol {
        addr: conn.addr().to_string(),
        message: "DescribeGroups answered for no group".into(),
    })?;
    if g.error_code == ResponseError::GroupIdNotFound.code() {
        return Ok(DescribedGroup {
            state: "Dead".into(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        });
    }
    KafkaError::check(g.error_code, g.error_message.map(|m| m.to_string()))
        .map_err(|error| ClientError::Kafka { what: format!("group \"{group}\""), error })?;
    let consumer = g.protocol_type.as_str() == "consumer";
    let members = g
        .members
        .into_iter()
        .map(|m| MemberDescription {
            member_id: m.member_id.to_string(),
            group_instance_id: m.group_instance_id.map(|i| i.to_string()),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment: if consumer { decode_assignment(&m.member_assignment) } else { None },
        })
        .collect();
    Ok(DescribedGroup {
        state: g.group_state.to_string(),
        protocol_type: g.protocol_type.to_string(),
        protocol: g.protocol_data.to_string(),
        members,
    })
}

/// Every committed offset of the group (OffsetFetch with all topics, v2+).
fn committed_offsets(session: &mut Session, coordinator: i32, group: &str) -> Result<BTreeMap<Tp, i64>, ClientError> {
    let conn = session.node(coordinator)?;
    let version = conn.version::<OffsetFetchRequest>()?;
    let kafka = |error: KafkaError| ClientError::Kafka { what: format!("group \"{group}\""), error };
    let mut out = BTreeMap::new();
    if version >= 8 {
        let request = OffsetFetchRequest::default()
            .with_groups(vec![OffsetFetchRequestGroup::default().with_group_id(group_id(group)).with_topics(None)]);
        let response = conn.send_at(version, &request)?;
        for g in response.groups {
            KafkaError::check(g.error_code, None).map_err(kafka)?;
            for t in g.topics {
                for p in t.partitions.iter().filter(|p| p.error_code == 0 && p.committed_offset >= 0) {
                    out.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
    } else if version >= 2 {
        let request = OffsetFetchRequest::default().with_group_id(group_id(group)).with_topics(None);
        let response = conn.send_at(version, &request)?;
        KafkaError::check(response.error_code, None).map_err(kafka)?;
        for t in response.topics {
            for p in t.partitions.iter().filter(|p| p.error_code == 0 && p.committed_offset >= 0) {
                out.insert((t.name.to_string(), p.partition_index), p.committed_offset);
            }
        }
    } else {
        return Err(ClientError::Unsupported { addr: conn.addr().to_string(), api: "OffsetFetch v2+".into() });
    }
    Ok(out)
}

/// Partition → leader for the topics named, from Metadata; a topic's error instead.
fn leaders(session: &mut Session, topics: &BTreeSet<String>) -> Result<Leaders, ClientError> {
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let names: Vec<String> = topics.iter().cloned().collect();
    let metadata = session.metadata(Some(&names))?;
    let mut out = BTreeMap::new();
    for t in metadata.topics {
        let Some(name) = t.name.map(|n| n.to_string()) else { continue };
        let entry = match KafkaError::check(t.error_code, None) {
            Ok(()) => Ok(t.partitions.iter().map(|p| (p.partition_index, *p.leader_id)).collect()),
            Err(e) => Err(e),
        };
        out.insert(name, entry);
    }
    for name in topics {
        out.entry(name.clone()).or_insert(Err(KafkaError::new(ResponseError::UnknownTopicOrPartition.code(), None)));
    }
    Ok(out)
}

/// ListOffsets at `timestamp` for each partition, asking each partition's leader.
fn offsets_at(
    session: &mut Session,
    partitions: &BTreeSet<Tp>,
    timestamp: i64,
) -> Result<BTreeMap<Tp, Result<i64, KafkaError>>, ClientError> {
    let topics: BTreeSet<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
    let leaders = leaders(session, &topics)?;
    let mut out = BTreeMap::new();
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for (topic, partition) in partitions {
        let leader = match &leaders[topic] {
            Err(e) => Err(e.clone()),
            Ok(ps) => match ps.get(partition) {
                None => Err(KafkaError::new(ResponseError::UnknownTopicOrPartition.code(), None)),
                Some(l) if *l < 0 => Err(KafkaError::new(ResponseError::LeaderNotAvailable.code(), None)),
                Some(l) => Ok(*l),
            },
        };
        match leader {
            Ok(l) => by_leader.entry(l).or_default().entry(topic.clone()).or_default().push(*partition),
            Err(e) => {
                out.insert((topic.clone(), *partition), Err(e));
            }
        }
    }
    for (leader, topics) in by_leader {
        let request_topics = topics
            .iter()
            .map(|(t, ps)| {
                let ps = ps
                    .iter()
                    .map(|p| ListOffsetsPartition::default().with_partition_index(*p).with_timestamp(timestamp));
                ListOffsetsTopic::default().with_name(topic_name(t)).with_partitions(ps.collect())
            })
            .collect();
        let request = ListOffsetsRequest::default().with_replica_id((-1).into()).with_topics(request_topics);
        let response = session.node(leader)?.send(&request)?;
        for t in response.topics {
            for p in t.partitions {
                let result = KafkaError::check(p.error_code, None).map(|()| p.offset);
                out.insert((t.name.to_string(), p.partition_index), result);
            }
        }
    }
    Ok(out)
}

// ----------------------------------------------------------------- reset-offsets

#[derive(Debug, Serialize)]
pub struct ResetPlan {
    pub group_id: String,
    /// `earliest`, `latest`, `offset N`, `shift-by N` or `datetime <ISO 8601 UTC>`.
    pub target: String,
    /// false for a dry run: nothing was committed.
    pub executed: bool,
    pub partitions: Vec<PartitionReset>,
}

#[derive(Debug, Serialize)]
pub struct PartitionReset {
    pub topic: String,
    pub partition: i32,
    pub current_offset: Option<i64>,
    pub new_offset: Option<i64>,
    pub error: Option<KafkaError>,
}

impl Report for ResetPlan {
    fn tables(&self) -> Vec<Table> {
        let title = if self.executed {
            format!("Group {}: offsets reset to {}", self.group_id, self.target)
        } else {
            format!("Group {}: plan to reset to {} (dry run; add --execute to commit it)", self.group_id, self.target)
        };
        let mut t = Table::new(&["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET", "ERROR"]).titled(title);
        for p in &self.partitions {
            t.row(vec![
                p.topic.clone(),
                p.partition.to_string(),
                or_dash(p.current_offset),
                or_dash(p.new_offset),
                or_dash(p.error.as_ref().map(|e| e.name.clone())),
            ]);
        }
        vec![t]
    }
}

fn reset(session: &mut Session, args: &ResetArgs) -> Result<ResetPlan, AdminError> {
    let group = args.group.as_str();
    let fatal = |e: ClientError| -> AdminError { e.into() };
    let coordinator = session.coordinator(group)?;
    let described = describe_group(session, coordinator, group)?;
    if args.execute && !INACTIVE_STATES.contains(&described.state.as_str()) {
        return Err(AdminError::Refused(format!(
            "group \"{group}\" is {} with {} member(s): offsets can only be reset while the group is inactive \
             (Empty or Dead); stop its consumers first",
            described.state,
            described.members.len()
        )));
    }
    let committed = committed_offsets(session, coordinator, group)?;
    let partitions = reset_partitions(session, args, &committed)?;
    let earliest = offsets_at(session, &partitions, EARLIEST).map_err(fatal)?;
    let latest = offsets_at(session, &partitions, LATEST).map_err(fatal)?;
    let at_time = match args.target() {
        ResetTarget::Datetime(ms) => Some(offsets_at(session, &partitions, ms).map_err(fatal)?),
        _ => None,
    };
    let mut plan: Vec<PartitionReset> = partitions
        .iter()
        .map(|tp| {
            let current = committed.get(tp).copied();
            let bounds = (earliest.get(tp).cloned(), latest.get(tp).cloned());
            let time = at_time.as_ref().and_then(|m| m.get(tp).cloned());
            let result = match (bounds, time) {
                ((Some(Err(e)), _), _) | ((_, Some(Err(e))), _) | (_, Some(Err(e))) => Err(e),
                ((Some(Ok(lo)), Some(Ok(hi))), t) => {
                    new_offset(args.target(), current, lo, hi.max(lo), t.and_then(Result::ok))
                        .map_err(|m| KafkaError::new(ResponseError::InvalidRequest.code(), Some(m)))
                }
                _ => Err(KafkaError::new(ResponseError::UnknownTopicOrPartition.code(), None)),
            };
            let (new_offset, error) = match result {
                Ok(o) => (Some(o), None),
                Err(e) => (None, Some(e)),
            };
            PartitionReset { topic: tp.0.clone(), partition: tp.1, current_offset: current, new_offset, error }
        })
        .collect();
    if args.execute {
        commit(session, coordinator, group, &mut plan)?;
    }
    let target = args.target().describe();
    Ok(ResetPlan { group_id: group.to_string(), target, executed: args.execute, partitions: plan })
}

/// The partitions a reset covers: the named ones (all of a topic's when none are
/// named) or, with --all-topics, every partition with a committed offset.
fn reset_partitions(
    session: &mut Session,
    args: &ResetArgs,
    committed: &BTreeMap<Tp, i64>,
) -> Result<BTreeSet<Tp>, AdminError> {
    if args.all_topics {
        return Ok(committed.keys().cloned().collect());
    }
    let topics: BTreeSet<String> = args.topics.iter().map(|s| s.topic.clone()).collect();
    let leaders = leaders(session, &topics)?;
    let mut out = BTreeSet::new();
    for selection in &args.topics {
        let known = leaders[&selection.topic]
            .as_ref()
            .map_err(|e| AdminError::kafka(format!("topic \"{}\"", selection.topic), e.clone()))?;
        match &selection.partitions {
            None => out.extend(known.keys().map(|p| (selection.topic.clone(), *p))),
            Some(ps) => {
                if let Some(p) = ps.iter().find(|p| !known.contains_key(p)) {
                    let error = KafkaError::new(ResponseError::UnknownTopicOrPartition.code(), None);
                    return Err(AdminError::kafka(format!("partition {}-{p}", selection.topic), error));
                }
                out.extend(ps.iter().map(|p| (selection.topic.clone(), *p)));
            }
        }
    }
    Ok(out)
}

/// Commits the planned offsets as an admin (generation -1, no member id), as Kafka's
/// tool does; per-partition errors land in the plan.
fn commit(session: &mut Session, coordinator: i32, group: &str, plan: &mut [PartitionReset]) -> Result<(), AdminError> {
    let mut topics: BTreeMap<String, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for p in plan.iter().filter(|p| p.error.is_none()) {
        let offset = p.new_offset.expect("a partition without error has a new offset");
        let entry =
            OffsetCommitRequestPartition::default().with_partition_index(p.partition).with_committed_offset(offset);
        topics.entry(p.topic.clone()).or_default().push(entry);
    }
    if topics.is_empty() {
        return Ok(());
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| OffsetCommitRequestTopic::default().with_name(topic_name(&t)).with_partitions(ps))
                .collect(),
        );
    let response = session.node(coordinator)?.send(&request)?;
    for t in response.topics {
        for p in t.partitions.iter().filter(|p| p.error_code != 0) {
            let name = t.name.to_string();
            if let Some(entry) = plan.iter_mut().find(|e| e.topic == name && e.partition == p.partition_index) {
                entry.error = Some(KafkaError::new(p.error_code, None));
            }
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------- delete

#[derive(Debug, Serialize)]
pub struct DeletedGroups {
    pub groups: Vec<DeletedGroup>,
}

#[derive(Debug, Serialize)]
pub struct DeletedGroup {
    pub group_id: String,
    pub error: Option<KafkaError>,
}

impl Report for DeletedGroups {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(&["GROUP", "RESULT"]);
        for g in &self.groups {
            t.row(vec![g.group_id.clone(), g.error.as_ref().map_or_else(|| "deleted".to_string(), |e| e.name.clone())]);
        }
        vec![t]
    }
}

fn delete(session: &mut Session, group: &str) -> Result<DeletedGroup, AdminError> {
    let result = (|| -> Result<(), ClientError> {
        let coordinator = session.coordinator(group)?;
        let response = session
            .node(coordinator)?
            .send(&DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]))?;
        let code = response.results.first().map_or(ResponseError::UnknownServerError.code(), |r| r.error_code);
        KafkaError::check(code, None).map_err(|error| ClientError::Kafka { what: format!("group \"{group}\""), error })
    })();
    let error = match result {
        Ok(()) => None,
        Err(e) => Some(group_error(e)?),
    };
    Ok(DeletedGroup { group_id: group.to_string(), error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn reset_targets() {
        use ResetTarget::*;
        assert_eq!(new_offset(Earliest, Some(5), 2, 10, None), Ok(2));
        assert_eq!(new_offset(Latest, None, 2, 10, None), Ok(10));
        assert_eq!(new_offset(Offset(7), None, 2, 10, None), Ok(7));
        assert_eq!(new_offset(Offset(70), None, 2, 10, None), Ok(10));
        assert_eq!(new_offset(Offset(0), None, 2, 10, None), Ok(2));
        assert_eq!(new_offset(ShiftBy(-3), Some(5), 0, 10, None), Ok(2));
        assert_eq!(new_offset(ShiftBy(-30), Some(5), 1, 10, None), Ok(1));
        assert_eq!(new_offset(ShiftBy(30), Some(5), 1, 10, None), Ok(10));
        assert!(new_offset(ShiftBy(1), None, 0, 10, None).is_err());
        assert_eq!(new_offset(Datetime(0), Some(1), 0, 10, Some(4)), Ok(4));
        assert_eq!(new_offset(Datetime(0), Some(1), 0, 10, Some(-1)), Ok(10));
        assert_eq!(new_offset(Datetime(0), Some(1), 0, 10, None), Ok(10));
    }

    #[test]
    fn reset_args_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            reset: ResetArgs,
        }
        let parse = |a: &[&str]| Cli::try_parse_from(std::iter::once("x").chain(a.iter().copied())).map(|c| c.reset);
        let r = parse(&["g", "--topic", "t:0,1", "--shift-by", "-5"]).unwrap();
        assert_eq!(r.target(), ResetTarget::ShiftBy(-5));
        assert_eq!(r.topics[0].partitions, Some(vec![0, 1]));
        assert!(!r.execute);
        let r = parse(&["g", "--all-topics", "--to-datetime", "1970-01-01T00:00:01Z", "--execute"]).unwrap();
        assert_eq!(r.target(), ResetTarget::Datetime(1000));
        assert!(r.execute);
        parse(&["g", "--all-topics"]).unwrap_err();
        parse(&["g", "--to-earliest"]).unwrap_err();
        parse(&["g", "--all-topics", "--to-earliest", "--to-latest"]).unwrap_err();
        parse(&["g", "--all-topics", "--to-earliest", "--dry-run", "--execute"]).unwrap_err();
        parse(&["g", "--all-topics", "--to-datetime", "soon"]).unwrap_err();
    }

    #[test]
    fn assignments_decode_from_consumer_protocol_bytes() {
        for version in [0i16, 1, 3, 7] {
            let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
                TopicPartition::default().with_topic(topic_name("b")).with_partitions(vec![2, 0]),
                TopicPartition::default().with_topic(topic_name("a")).with_partitions(vec![1]),
            ]);
            let mut buf = bytes::BytesMut::new();
            buf.extend_from_slice(&version.to_be_bytes());
            a.encode(&mut buf, version.min(3)).unwrap();
            let decoded = decode_assignment(&buf.freeze()).unwrap();
            assert_eq!(
                decoded,
                vec![
                    AssignedTopic { topic: "a".into(), partitions: vec![1] },
                    AssignedTopic { topic: "b".into(), partitions: vec![0, 2] }
                ]
            );
            assert_eq!(format_assignment(&decoded), "a:1 b:0,2");
        }
        assert_eq!(decode_assignment(&Bytes::new()), Some(vec![]));
        assert_eq!(decode_assignment(&Bytes::from_static(&[0xff, 0xff, 0])), None);
        assert_eq!(decode_assignment(&Bytes::from_static(&[0, 0, 0, 0, 0, 9])), None);
    }

    #[test]
    fn describe_renders_offsets_and_members() {
        let report = GroupDescriptions {
            groups: vec![GroupDescription {
                group_id: "g".into(),
                coordinator: Some(1),
                state: Some("Stable".into()),
                protocol_type: Some("consumer".into()),
                protocol: Some("range".into()),
                members: vec![MemberDescription {
                    member_id: "m-1".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    host: "/127.0.0.1".into(),
                    assignment: Some(vec![AssignedTopic { topic: "t".into(), partitions: vec![0] }]),
                }],
                offsets: vec![PartitionOffsets {
                    topic: "t".into(),
                    partition: 0,
                    committed_offset: Some(3),
                    log_end_offset: Some(5),
                    lag: Some(2),
                    member_id: Some("m-1".into()),
                    error: None,
                }],
                error: None,
            }],
        };
        let text = report.tables().iter().map(Table::render).collect::<Vec<_>>().join("\n");
        assert_eq!(
            text,
            "Group: g  State: Stable  Coordinator: 1  Protocol: consumer/range  Members: 1\n\
             TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  MEMBER-ID\n\
             t      0          3               5               2    m-1\n\
             \n\
             MEMBER-ID  INSTANCE-ID  CLIENT-ID  HOST        ASSIGNMENT\n\
             m-1        -            c          /127.0.0.1  t:0\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["groups"][0]["offsets"][0]["lag"], 2);
        assert_eq!(json["groups"][0]["members"][0]["assignment"][0]["partitions"], serde_json::json!([0]));
    }

    #[test]
    fn plan_says_whether_it_was_applied() {
        let plan = ResetPlan {
            group_id: "g".into(),
            target: ResetTarget::Datetime(0).describe(),
            executed: false,
            partitions: vec![],
        };
        let title = plan.tables()[0].title.clone().unwrap();
        assert_eq!(
            title,
            "Group g: plan to reset to datetime 1970-01-01T00:00:00.000Z (dry run; add --execute to commit it)"
        );
    }
}
