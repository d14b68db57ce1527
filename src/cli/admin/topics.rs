//! `gregor topics list|describe|create|delete|alter-config`: Metadata, DescribeConfigs,
//! CreateTopics and DeleteTopics (to the controller), IncrementalAlterConfigs.

use super::error::{AdminError, KafkaError};
use super::output::{join_ids, kafka_uuid, or_dash, print, Outcome, Report, Table};
use super::parse::key_value;
use super::session::Session;
use super::ConnectArgs;
use clap::Subcommand;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// ConfigResource type of a topic (DescribeConfigs, IncrementalAlterConfigs).
const RESOURCE_TOPIC: i8 = 2;
/// ConfigSource of a per-topic override (Kafka's DYNAMIC_TOPIC_CONFIG).
const SOURCE_TOPIC: i8 = 1;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Topics with their partition count and replication factor.
    List {
        /// Include internal topics such as __consumer_offsets.
        #[arg(long)]
        internal: bool,
    },
    /// Topic id, partitions (leader, replicas, ISR) and non-default configs.
    Describe {
        #[arg(required = true, value_name = "TOPIC")]
        topics: Vec<String>,
        /// Show every config, defaults included.
        #[arg(long)]
        all_configs: bool,
    },
    /// Create a topic.
    Create {
        name: String,
        /// Partition count (default: the broker's num.partitions).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        partitions: Option<i32>,
        /// Replicas per partition (default: the broker's default.replication.factor).
        #[arg(long, value_parser = clap::value_parser!(i16).range(1..))]
        replication_factor: Option<i16>,
        /// A topic config, key=value; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// Delete topics.
    Delete {
        #[arg(required = true, value_name = "TOPIC")]
        topics: Vec<String>,
    },
    /// Set or remove topic config overrides (IncrementalAlterConfigs).
    AlterConfig {
        name: String,
        /// key=value to set; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
        set: Vec<(String, String)>,
        /// Key whose override to remove (back to the default); repeatable.
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
}

pub fn run(
    command: TopicsCommand,
    session: &mut Session,
    args: &ConnectArgs,
    out: &mut dyn Write,
) -> Result<Outcome, AdminError> {
    let (failures, result) = match command {
        TopicsCommand::List { internal } => {
            let report = list(session, internal)?;
            (Vec::new(), print(&report, args.output, out))
        }
        TopicsCommand::Describe { topics, all_configs } => {
            let report = describe(session, &topics, all_configs)?;
            (failures(report.topics.iter().map(|t| (&t.name, &t.error))), print(&report, args.output, out))
        }
        TopicsCommand::Create { name, partitions, replication_factor, configs } => {
            let spec = CreateSpec { name, partitions, replication_factor, configs };
            let report = create(session, &spec, args.request_timeout_ms())?;
            (failures(report.topics.iter().map(|t| (&t.name, &t.error))), print(&report, args.output, out))
        }
        TopicsCommand::Delete { topics } => {
            let report = delete(session, &topics, args.request_timeout_ms())?;
            (failures(report.topics.iter().map(|t| (&t.name, &t.error))), print(&report, args.output, out))
        }
        TopicsCommand::AlterConfig { name, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                return Err(AdminError::Usage("alter-config needs --set KEY=VALUE or --delete KEY".into()));
            }
            let report = alter_config(session, &name, set, delete)?;
            (failures(report.topics.iter().map(|t| (&t.name, &t.error))), print(&report, args.output, out))
        }
    };
    result?;
    Ok(Outcome { failures })
}

fn failures<'a>(items: impl Iterator<Item = (&'a String, &'a Option<KafkaError>)>) -> Vec<String> {
    items.filter_map(|(name, e)| e.as_ref().map(|e| format!("topic \"{name}\": {e}"))).collect()
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn topic_id(t: &MetadataResponseTopic) -> Option<String> {
    kafka_uuid(&t.topic_id)
}

fn replication_factor(t: &MetadataResponseTopic) -> usize {
    t.partitions.iter().map(|p| p.replica_nodes.len()).max().unwrap_or(0)
}

// ------------------------------------------------------------------------- list

#[derive(Debug, Serialize)]
pub struct TopicList {
    pub topics: Vec<TopicSummary>,
}

#[derive(Debug, Serialize)]
pub struct TopicSummary {
    pub name: String,
    pub topic_id: Option<String>,
    pub partitions: usize,
    pub replication_factor: usize,
    pub internal: bool,
}

impl Report for TopicList {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(&["TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "TOPIC-ID"]);
        for s in &self.topics {
            t.row(vec![
                s.name.clone(),
                s.partitions.to_string(),
                s.replication_factor.to_string(),
                or_dash(s.topic_id.as_ref()),
            ]);
        }
        vec![t]
    }
}

fn list(session: &mut Session, internal: bool) -> Result<TopicList, AdminError> {
    let metadata = session.metadata(None)?;
    let mut topics: Vec<TopicSummary> = metadata
        .topics
        .iter()
        .filter(|t| t.error_code == 0 && (internal || !t.is_internal))
        .filter_map(|t| {
            Some(TopicSummary {
                name: t.name.as_ref()?.to_string(),
                topic_id: topic_id(t),
                partitions: t.partitions.len(),
                replication_factor: replication_factor(t),
                internal: t.is_internal,
            })
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(TopicList { topics })
}

// --------------------------------------------------------------------- describe

#[derive(Debug, Serialize)]
pub struct TopicDescriptions {
    pub topics: Vec<TopicDescription>,
}

#[derive(Debug, Serialize)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: Option<String>,
    pub internal: bool,
    pub replication_factor: usize,
    pub partitions: Vec<PartitionDescription>,
    pub configs: Vec<ConfigEntry>,
    pub error: Option<KafkaError>,
}

#[derive(Debug, Serialize)]
pub struct PartitionDescription {
    pub partition: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error: Option<KafkaError>,
}

#[derive(Debug, Serialize)]
pub struct ConfigEntry {
    pub name: String,
    /// None for sensitive values, which brokers never send.
    pub value: Option<String>,
    /// Kafka's ConfigSource name, e.g. DYNAMIC_TOPIC_CONFIG or DEFAULT_CONFIG.
    pub source: &'static str,
    pub read_only: bool,
    pub sensitive: bool,
}

impl Report for TopicDescriptions {
    fn tables(&self) -> Vec<Table> {
        let mut tables = Vec::new();
        for d in self.topics.iter().filter(|d| d.error.is_none()) {
            let title = format!(
                "Topic: {}  TopicId: {}  PartitionCount: {}  ReplicationFactor: {}{}",
                d.name,
                or_dash(d.topic_id.as_ref()),
                d.partitions.len(),
                d.replication_factor,
                if d.internal { "  Internal: true" } else { "" }
            );
            let mut t = Table::new(&["PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE"]).titled(title);
            for p in &d.partitions {
                t.row(vec![
                    p.partition.to_string(),
                    if p.leader < 0 { "none".into() } else { p.leader.to_string() },
                    join_ids(&p.replicas),
                    join_ids(&p.isr),
                    join_ids(&p.offline_replicas),
                ]);
            }
            tables.push(t);
            let mut c = Table::new(&["CONFIG", "VALUE", "SOURCE"]);
            for e in &d.configs {
                let value = if e.sensitive { "(sensitive)".to_string() } else { or_dash(e.value.as_ref()) };
                c.row(vec![e.name.clone(), value, e.source.to_string()]);
            }
            if !c.rows.is_empty() {
                tables.push(c);
            }
        }
        tables
    }
}

fn describe(session: &mut Session, names: &[String], all_configs: bool) -> Result<TopicDescriptions, AdminError> {
    let metadata = session.metadata(Some(names))?;
    let mut by_name: BTreeMap<String, &MetadataResponseTopic> = BTreeMap::new();
    for t in &metadata.topics {
        if let Some(n) = &t.name {
            by_name.insert(n.to_string(), t);
        }
    }
    let found: Vec<String> =
        names.iter().filter(|n| by_name.get(*n).is_some_and(|t| t.error_code == 0)).cloned().collect();
    let mut configs = describe_configs(session, &found, all_configs)?;
    let mut topics = Vec::new();
    for name in names {
        let Some(t) = by_name.get(name) else {
            let error = KafkaError::new(kafka_protocol::error::ResponseError::UnknownTopicOrPartition.code(), None);
            topics.push(missing(name, error));
            continue;
        };
        if t.error_code != 0 {
            topics.push(missing(name, KafkaError::new(t.error_code, None)));
            continue;
        }
        let (entries, error) = configs.remove(name).unwrap_or((Vec::new(), None));
        let mut partitions: Vec<PartitionDescription> = t
            .partitions
            .iter()
            .map(|p| PartitionDescription {
                partition: p.partition_index,
                leader: *p.leader_id,
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.iter().map(|b| **b).collect(),
                isr: p.isr_nodes.iter().map(|b| **b).collect(),
                offline_replicas: p.offline_replicas.iter().map(|b| **b).collect(),
                error: KafkaError::check(p.error_code, None).err(),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        topics.push(TopicDescription {
            name: name.clone(),
            topic_id: topic_id(t),
            internal: t.is_internal,
            replication_factor: replication_factor(t),
            partitions,
            configs: entries,
            error,
        });
    }
    Ok(TopicDescriptions { topics })
}

fn missing(name: &str, error: KafkaError) -> TopicDescription {
    TopicDescription {
        name: name.to_string(),
        topic_id: None,
        internal: false,
        replication_factor: 0,
        partitions: Vec::new(),
        configs: Vec::new(),
        error: Some(error),
    }
}

type ConfigResult = (Vec<ConfigEntry>, Option<KafkaError>);

/// Topic configs by topic: the overrides only unless `all`.
fn describe_configs(
    session: &mut Session,
    names: &[String],
    all: bool,
) -> Result<BTreeMap<String, ConfigResult>, AdminError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let resources = names
        .iter()
        .map(|n| {
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(n.clone()))
                .with_configuration_keys(None)
        })
        .collect();
    let request = DescribeConfigsRequest::default().with_resources(resources);
    let response = session.any().send(&request)?;
    let mut out = BTreeMap::new();
    for r in response.results {
        let error = KafkaError::check(r.error_code, r.error_message.map(|m| m.to_string())).err();
        let mut entries: Vec<ConfigEntry> = r
            .configs
            .iter()
            .filter(|c| all || c.config_source == SOURCE_TOPIC)
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: if c.is_sensitive { None } else { c.value.as_ref().map(|v| v.to_string()) },
                source: config_source_name(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        out.insert(r.resource_name.to_string(), (entries, error));
    }
    Ok(out)
}

/// Kafka's DescribeConfigsResponse ConfigSource names.
pub fn config_source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

// ------------------------------------------------------------- create / delete

struct CreateSpec {
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct CreatedTopics {
    pub topics: Vec<CreatedTopic>,
}

#[derive(Debug, Serialize)]
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: Option<String>,
    /// As the broker reports them (v5+), else as requested; -1 when unknown or failed.
    pub partitions: i32,
    pub replication_factor: i16,
    pub error: Option<KafkaError>,
}

impl Report for CreatedTopics {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(&["TOPIC", "RESULT", "PARTITIONS", "REPLICATION-FACTOR", "TOPIC-ID"]);
        for c in &self.topics {
            let result = c.error.as_ref().map_or_else(|| "created".to_string(), |e| e.name.clone());
            let known = |n: i64| if n < 0 { "-".to_string() } else { n.to_string() };
            t.row(vec![
                c.name.clone(),
                result,
                known(c.partitions.into()),
                known(c.replication_factor.into()),
                or_dash(c.topic_id.as_ref()),
            ]);
        }
        vec![t]
    }
}

fn create(session: &mut Session, spec: &CreateSpec, timeout_ms: i32) -> Result<CreatedTopics, AdminError> {
    let conn = session.controller()?;
    let version = conn.version::<CreateTopicsRequest>()?;
    if version < 4 && (spec.partitions.is_none() || spec.replication_factor.is_none()) {
        return Err(AdminError::Usage(format!(
            "{} speaks CreateTopics v{version}, which has no broker defaults: give --partitions and --replication-factor",
            conn.addr()
        )));
    }
    let configs = spec
        .configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(topic_name(&spec.name))
        .with_num_partitions(spec.partitions.unwrap_or(-1))
        .with_replication_factor(spec.replication_factor.unwrap_or(-1))
        .with_configs(configs);
    let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(timeout_ms);
    let response = conn.send_at(version, &request)?;
    let topics = response
        .topics
        .into_iter()
        .map(|r| {
            let (partitions, replication_factor) = match (r.error_code, version >= 5) {
                (0, true) => (r.num_partitions, r.replication_factor),
                (0, false) => (spec.partitions.unwrap_or(-1), spec.replication_factor.unwrap_or(-1)),
                _ => (-1, -1),
            };
            CreatedTopic {
                name: r.name.to_string(),
                topic_id: kafka_uuid(&r.topic_id),
                partitions,
                replication_factor,
                error: KafkaError::check(r.error_code, r.error_message.map(|m| m.to_string())).err(),
            }
        })
        .collect();
    Ok(CreatedTopics { topics })
}

#[derive(Debug, Serialize)]
pub struct DeletedTopics {
    pub topics: Vec<DeletedTopic>,
}

#[derive(Debug, Serialize)]
pub struct DeletedTopic {
    pub name: String,
    pub error: Option<KafkaError>,
}

impl Report for DeletedTopics {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(&["TOPIC", "RESULT"]);
        for d in &self.topics {
            t.row(vec![d.name.clone(), d.error.as_ref().map_or_else(|| "deleted".to_string(), |e| e.name.clone())]);
        }
        vec![t]
    }
}

fn delete(session: &mut Session, names: &[String], timeout_ms: i32) -> Result<DeletedTopics, AdminError> {
    let conn = session.controller()?;
    let version = conn.version::<DeleteTopicsRequest>()?;
    let mut request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
    if version >= 6 {
        request.topics = names.iter().map(|n| DeleteTopicState::default().with_name(Some(topic_name(n)))).collect();
    } else {
        request.topic_names = names.iter().map(|n| topic_name(n)).collect();
    }
    let response = conn.send_at(version, &request)?;
    let mut topics: Vec<DeletedTopic> = response
        .responses
        .into_iter()
        .map(|r| DeletedTopic {
            name: r.name.map(|n| n.to_string()).unwrap_or_default(),
            error: KafkaError::check(r.error_code, r.error_message.map(|m| m.to_string())).err(),
        })
        .collect();
    topics.sort_by_key(|t| names.iter().position(|n| *n == t.name));
    Ok(DeletedTopics { topics })
}

// ------------------------------------------------------------------ alter-config

#[derive(Debug, Serialize)]
pub struct AlteredConfigs {
    pub topics: Vec<AlteredConfig>,
}

#[derive(Debug, Serialize)]
pub struct AlteredConfig {
    pub name: String,
    pub set: BTreeMap<String, String>,
    pub deleted: Vec<String>,
    pub error: Option<KafkaError>,
}

impl Report for AlteredConfigs {
    fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(&["TOPIC", "CONFIG", "CHANGE", "RESULT"]);
        for a in &self.topics {
            let result = a.error.as_ref().map_or_else(|| "ok".to_string(), |e| e.name.clone());
            for (k, v) in &a.set {
                t.row(vec![a.name.clone(), k.clone(), format!("set {v}"), result.clone()]);
            }
            for k in &a.deleted {
                t.row(vec![a.name.clone(), k.clone(), "delete".into(), result.clone()]);
            }
        }
        vec![t]
    }
}

fn alter_config(
    session: &mut Session,
    name: &str,
    set: Vec<(String, String)>,
    deleted: Vec<String>,
) -> Result<AlteredConfigs, AdminError> {
    let set: BTreeMap<String, String> = set.into_iter().collect();
    if let Some(k) = deleted.iter().find(|k| set.contains_key(*k)) {
        return Err(AdminError::Usage(format!("config `{k}` is both set and deleted")));
    }
    let mut configs: Vec<AlterableConfig> = set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    configs.extend(deleted.iter().map(|k| {
        AlterableConfig::default().with_name(StrBytes::from_string(k.clone())).with_config_operation(OP_DELETE)
    }));
    let resource = AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_configs(configs);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
    let response = session.any().send(&request)?;
    let error = match response.responses.first() {
        Some(r) => KafkaError::check(r.error_code, r.error_message.as_ref().map(|m| m.to_string())).err(),
        None => Some(KafkaError::new(-1, Some("the broker answered for no resource".into()))),
    };
    Ok(AlteredConfigs { topics: vec![AlteredConfig { name: name.to_string(), set, deleted, error }] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_renders_partitions_and_configs() {
        let report = TopicDescriptions {
            topics: vec![
                TopicDescription {
                    name: "orders".into(),
                    topic_id: Some("abc".into()),
                    internal: false,
                    replication_factor: 1,
                    partitions: vec![PartitionDescription {
                        partition: 0,
                        leader: 1,
                        leader_epoch: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        offline_replicas: vec![],
                        error: None,
                    }],
                    configs: vec![ConfigEntry {
                        name: "retention.ms".into(),
                        value: Some("1000".into()),
                        source: config_source_name(1),
                        read_only: false,
                        sensitive: false,
                    }],
                    error: None,
                },
                missing("gone", KafkaError::new(3, None)),
            ],
        };
        let mut out = Vec::new();
        print(&report, super::super::output::OutputFormat::Table, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Topic: orders  TopicId: abc  PartitionCount: 1  ReplicationFactor: 1\n\
             PARTITION  LEADER  REPLICAS  ISR  OFFLINE\n\
             0          1       1         1\n\
             \n\
             CONFIG        VALUE  SOURCE\n\
             retention.ms  1000   DYNAMIC_TOPIC_CONFIG\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["topics"][1]["error"]["name"], "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(json["topics"][0]["partitions"][0]["isr"], serde_json::json!([1]));
        assert_eq!(json["topics"][0]["error"], serde_json::Value::Null);
        let f = failures(report.topics.iter().map(|t| (&t.name, &t.error)));
        assert_eq!(f, vec!["topic \"gone\": UNKNOWN_TOPIC_OR_PARTITION (3)"]);
    }
}
