//! Topic metadata changes on a single node: create, delete, add partitions, alter
//! configs. Each change is validated, persisted to `gregor-metadata.json`
//! (atomically: write, fsync, rename) and then applied to the registry.
//!
//! This is the seam the Raft controller replaces in a cluster: the same
//! operations become records in the metadata log.

use super::error::BrokerError;
use super::partition::Partition;
use super::topic_config::{self, TopicConfig};
use super::{sync_dir, Broker, Topic};
use crate::time::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

const METADATA_FILE: &str = "gregor-metadata.json";
const METADATA_VERSION: u32 = 1;
/// Kafka's limit on topic name length.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Upper bound on partitions per topic, so that one request cannot exhaust file handles.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

#[derive(Serialize, Deserialize)]
struct StoredMetadata {
    version: u32,
    topics: Vec<StoredTopic>,
}

#[derive(Serialize, Deserialize)]
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

/// Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let invalid = |why: &str| Err(BrokerError::InvalidTopic(format!("Topic name \"{name}\" is illegal, {why}")));
    if name.is_empty() {
        return invalid("it can't be empty");
    }
    if name == "." || name == ".." {
        return invalid("it can't be '.' or '..'");
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid("it can't be longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid("it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

/// What a CreateTopics entry asks for, after defaults.
pub struct NewTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Explicit replica lists per partition, if given.
    pub assignments: Option<Vec<Vec<i32>>>,
    pub configs: Vec<(&'a str, &'a str)>,
}

impl Broker {
    pub(super) fn load_topics(&self, clean: bool) -> Result<(), BrokerError> {
        let path = self.data_dir.join(METADATA_FILE);
        let stored: StoredMetadata = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| BrokerError::Storage(format!("{} is corrupt: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                StoredMetadata { version: METADATA_VERSION, topics: vec![] }
            }
            Err(e) => return Err(BrokerError::Storage(format!("{}: {e}", path.display()))),
        };
        let mut topics = self.topics.write().expect("lock");
        for t in stored.topics {
            let config = TopicConfig { overrides: t.configs };
            let settings = config.log_settings(&self.config.broker);
            let mut parts = Vec::with_capacity(t.partitions as usize);
            for i in 0..t.partitions {
                parts.push(Some(Arc::new(Partition::open(
                    &self.partition_dir(&t.name, i),
                    i,
                    settings,
                    clean,
                    self.node_id(),
                    now_ms(),
                )?)));
            }
            topics.insert(
                t.name.clone(),
                Arc::new(Topic { name: t.name, id: t.id, config: RwLock::new(config), partitions: RwLock::new(parts) }),
            );
        }
        drop(topics);
        self.remove_stale_dirs();
        Ok(())
    }

    /// Deletes directories marked for deletion by an interrupted DeleteTopics.
    fn remove_stale_dirs(&self) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else { return };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with("-delete") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    fn persist(&self) -> Result<(), BrokerError> {
        let topics = self.topics.read().expect("lock");
        let stored = StoredMetadata {
            version: METADATA_VERSION,
            topics: topics
                .values()
                .map(|t| StoredTopic {
                    name: t.name.clone(),
                    id: t.id,
                    partitions: t.partition_count(),
                    configs: t.config().overrides,
                })
                .collect(),
        };
        drop(topics);
        let path = self.data_dir.join(METADATA_FILE);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| BrokerError::Storage(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut &f, &bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.data_dir);
            Ok(())
        };
        write().map_err(|e| BrokerError::Storage(format!("{}: {e}", path.display())))
    }

    /// Creates the directories and logs of new, empty partitions.
    fn open_new_partitions(
        &self,
        topic: &str,
        range: std::ops::Range<i32>,
        settings: crate::log::LogSettings,
    ) -> Result<Vec<Option<Arc<Partition>>>, BrokerError> {
        range
            .map(|i| {
                Ok(Some(Arc::new(Partition::open(
                    &self.partition_dir(topic, i),
                    i,
                    settings,
                    true,
                    self.node_id(),
                    now_ms(),
                )?)))
            })
            .collect()
    }

    /// Validates a new topic without creating it.
    pub fn check_new_topic(&self, t: &NewTopic<'_>) -> Result<TopicConfig, BrokerError> {
        validate_topic_name(t.name)?;
        if t.name == super::group::OFFSETS_TOPIC {
            return Err(BrokerError::InvalidTopic(format!("{} is reserved for internal use", t.name)));
        }
        let topics = self.topics.read().expect("lock");
        if topics.contains_key(t.name) {
            return Err(BrokerError::TopicAlreadyExists(t.name.to_string()));
        }
        let norm = |n: &str| n.replace('.', "_");
        if let Some(other) = topics.keys().find(|k| norm(k) == norm(t.name)) {
            return Err(BrokerError::InvalidTopic(format!("Topic '{}' collides with existing topic: {other}", t.name)));
        }
        drop(topics);
        if t.partitions < 1 || t.partitions > PARTITIONS_PER_TOPIC_MAX {
            return Err(BrokerError::InvalidPartitions(format!(
                "Number of partitions must be in [1, {PARTITIONS_PER_TOPIC_MAX}], got {}",
                t.partitions
            )));
        }
        if let Some(cluster) = self.cluster.get() {
            let image = cluster.image();
            match &t.assignments {
                Some(a) => check_cluster_assignments(&image, a)?,
                None => {
                    image
                        .assign(t.partitions, t.replication_factor, 0)
                        .map_err(BrokerError::InvalidReplicationFactor)?;
                }
            }
            return TopicConfig::from_pairs(t.configs.iter().copied());
        }
        match &t.assignments {
            Some(a) => self.check_assignments(a)?,
            None if t.replication_factor != 1 => {
                return Err(BrokerError::InvalidReplicationFactor(format!(
                    "Replication factor: {} larger than available brokers: 1.",
                    t.replication_factor
                )))
            }
            None => {}
        }
        TopicConfig::from_pairs(t.configs.iter().copied())
    }

    fn check_assignments(&self, assignments: &[Vec<i32>]) -> Result<(), BrokerError> {
        for replicas in assignments {
            if replicas.is_empty() || replicas.iter().any(|&r| r != self.node_id()) || replicas.len() > 1 {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "replica assignment {replicas:?} names brokers other than the only one, {}",
                    self.node_id()
                )));
            }
        }
        Ok(())
    }

    /// Creates a topic (validated by `check_new_topic`) and its partitions on disk.
    pub fn create_topic(&self, t: &NewTopic<'_>) -> Result<Arc<Topic>, BrokerError> {
        let _guard = self.lock_metadata();
        let config = self.check_new_topic(t)?;
        if let Some(cluster) = self.cluster.get() {
            let assignments = match &t.assignments {
                Some(a) => a.clone(),
                None => cluster
                    .image()
                    .assign(t.partitions, t.replication_factor, spread_start(t.name))
                    .map_err(BrokerError::InvalidReplicationFactor)?,
            };
            return self.propose_topic(t.name, config, assignments);
        }
        let count = t.assignments.as_ref().map_or(t.partitions, |a| a.len() as i32);
        let settings = config.log_settings(&self.config.broker);
        let mut parts = Vec::with_capacity(count as usize);
        for i in 0..count {
            let dir = self.partition_dir(t.name, i);
            parts.push(Some(Arc::new(Partition::open(&dir, i, settings, true, self.node_id(), now_ms())?)));
        }
        let topic = Arc::new(Topic {
            name: t.name.to_string(),
            id: Uuid::new_v4(),
            config: RwLock::new(config),
            partitions: RwLock::new(parts),
        });
        self.topics.write().expect("lock").insert(t.name.to_string(), topic.clone());
        if let Err(e) = self.persist() {
            self.topics.write().expect("lock").remove(t.name);
            return Err(e);
        }
        tracing::info!(topic = t.name, partitions = count, id = %topic.id, "topic created");
        Ok(topic)
    }

    /// Creates an internal topic (name starting with `__`) with fixed configs that
    /// user topics may not set (e.g. `cleanup.policy=compact`).
    pub fn create_internal_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<Arc<Topic>, BrokerError> {
        let _guard = self.lock_metadata();
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        let config = TopicConfig { overrides: configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        if let Some(cluster) = self.cluster.get() {
            let image = cluster.image();
            // Kafka's rule: the full replication factor or no topic (capped only by
            // the cluster's size), so a cluster never starts with a thin offsets log
            let voters = self.config.cluster.as_ref().map_or(1, |c| c.voters.len()) as i16;
            let rf = self.config.broker.offsets_topic_replication_factor.min(voters).max(1);
            let assignments =
                image.assign(partitions, rf, spread_start(name)).map_err(BrokerError::InvalidReplicationFactor)?;
            return self.propose_topic(name, config, assignments);
        }
        let settings = config.log_settings(&self.config.broker);
        let parts = self.open_new_partitions(name, 0..partitions, settings)?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            config: RwLock::new(config),
            partitions: RwLock::new(parts),
        });
        self.topics.write().expect("lock").insert(name.to_string(), topic.clone());
        self.persist()?;
        tracing::info!(topic = name, partitions, "internal topic created");
        Ok(topic)
    }

    /// Creates a topic with the broker defaults, for Metadata auto-creation.
    pub fn auto_create_topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        let nt = NewTopic {
            name,
            partitions: self.config.broker.num_partitions,
            replication_factor: self.config.broker.default_replication_factor,
            assignments: None,
            configs: vec![],
        };
        match self.create_topic(&nt) {
            Err(BrokerError::TopicAlreadyExists(_)) => self.topic(name).ok_or(BrokerError::UnknownTopicOrPartition),
            other => other,
        }
    }

    /// Removes a topic from the registry and deletes its data.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, BrokerError> {
        let _guard = self.lock_metadata();
        if let Some(cluster) = self.cluster.get() {
            let cmd = crate::cluster::image::Command::DeleteTopic { name: name.to_string() };
            propose(cluster, cmd)?;
            self.remove_local_topic(name);
            return Ok(Uuid::nil());
        }
        let topic = self.topics.write().expect("lock").remove(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        if let Err(e) = self.persist() {
            self.topics.write().expect("lock").insert(name.to_string(), topic);
            return Err(e);
        }
        let count = topic.partition_count();
        drop(topic);
        for i in 0..count {
            let dir = self.partition_dir(name, i);
            let doomed = self.data_dir.join(format!("{name}-{i}.{}-delete", Uuid::new_v4().simple()));
            if std::fs::rename(&dir, &doomed).is_ok() {
                if let Err(e) = std::fs::remove_dir_all(&doomed) {
                    tracing::warn!(dir = %doomed.display(), error = %e, "could not remove deleted partition data");
                }
            }
        }
        self.notify_appended();
        tracing::info!(topic = name, "topic deleted");
        Ok(Uuid::nil())
    }

    /// Grows a topic to `count` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let _guard = self.lock_metadata();
        let topic = self.topic(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let current = topic.partition_count();
        if count <= current {
            let why = if count == current { "Topic already has" } else { "Topic currently has" };
            return Err(BrokerError::InvalidPartitions(format!(
                "{why} {current} partitions, {count} would not be an increase."
            )));
        }
        if count > PARTITIONS_PER_TOPIC_MAX {
            return Err(BrokerError::InvalidPartitions(format!(
                "at most {PARTITIONS_PER_TOPIC_MAX} partitions per topic"
            )));
        }
        if let Some(a) = assignments {
            if a.len() as i32 != count - current {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {} but {} assignments provided.",
                    count - current,
                    a.len()
                )));
            }
            match self.cluster.get() {
                Some(c) => check_cluster_assignments(&c.image(), a)?,
                None => self.check_assignments(a)?,
            }
        }
        if let Some(cluster) = self.cluster.get() {
            let image = cluster.image();
            let rf = image.topics.get(name).and_then(|t| t.partitions.first()).map_or(1, |p| p.replicas.len() as i16);
            let assignments = match assignments {
                Some(a) => a.to_vec(),
                None => image
                    .assign(count - current, rf, spread_start(name) + current as usize)
                    .map_err(BrokerError::InvalidReplicationFactor)?,
            };
            if validate_only {
                return Ok(());
            }
            let cmd = crate::cluster::image::Command::CreatePartitions { name: name.to_string(), assignments };
            propose(cluster, cmd)?;
            if let Some(t) = cluster.image().topics.get(name) {
                self.cluster_topic(name, t)?;
            }
            return Ok(());
        }
        if validate_only {
            return Ok(());
        }
        let settings = topic.config().log_settings(&self.config.broker);
        let added = self.open_new_partitions(name, current..count, settings)?;
        topic.partitions.write().expect("lock").extend(added);
        self.persist()?;
        tracing::info!(topic = name, from = current, to = count, "partitions added");
        Ok(())
    }

    /// Replaces a topic's overrides with exactly `pairs` (the legacy AlterConfigs).
    pub fn replace_topic_config(
        &self,
        name: &str,
        pairs: &[(&str, &str)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let _guard = self.lock_metadata();
        let topic = self.topic(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let next = TopicConfig::from_pairs(pairs.iter().copied())?;
        if validate_only {
            return Ok(());
        }
        self.install_topic_config(&topic, next)
    }

    fn install_topic_config(&self, topic: &Topic, next: TopicConfig) -> Result<(), BrokerError> {
        if let Some(cluster) = self.cluster.get() {
            let cmd =
                crate::cluster::image::Command::SetTopicConfig { name: topic.name.clone(), configs: next.overrides };
            propose(cluster, cmd)?;
            if let Some(t) = cluster.image().topics.get(&topic.name) {
                self.cluster_topic(&topic.name, t)?;
            }
            return Ok(());
        }
        let settings = next.log_settings(&self.config.broker);
        *topic.config.write().expect("lock") = next;
        for p in topic.partitions() {
            p.set_settings(settings);
        }
        self.persist()
    }

    /// Applies incremental config operations (SET = 0, DELETE = 1, APPEND = 2,
    /// SUBTRACT = 3) atomically: all or nothing.
    pub fn alter_topic_config(
        &self,
        name: &str,
        ops: &[(i8, &str, Option<&str>)],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let _guard = self.lock_metadata();
        let topic = self.topic(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let mut next = topic.config();
        for &(op, key, value) in ops {
            match op {
                0 => {
                    let v = value.ok_or_else(|| BrokerError::InvalidConfig(format!("SET {key} needs a value")))?;
                    next.overrides.insert(key.to_string(), topic_config::validate(key, v)?);
                }
                1 => {
                    topic_config::validate(key, "0").or_else(|e| match e {
                        BrokerError::InvalidConfig(m) if m.starts_with("Invalid value") => Ok(String::new()),
                        other => Err(other),
                    })?;
                    next.overrides.remove(key);
                }
                2 | 3 => {
                    return Err(BrokerError::InvalidConfig(format!(
                        "{key} is not a list config: APPEND/SUBTRACT do not apply"
                    )))
                }
                _ => return Err(BrokerError::InvalidRequest(format!("unknown config operation {op}"))),
            }
        }
        if validate_only {
            return Ok(());
        }
        self.install_topic_config(&topic, next)
    }
}

/// Commits a metadata change through the controller (blocking: admin paths only).
fn propose(cluster: &crate::cluster::Cluster, cmd: crate::cluster::image::Command) -> Result<(), BrokerError> {
    use crate::cluster::image::{Outcome, Rejection};
    match cluster.propose_blocking(cmd) {
        Ok(Outcome::Applied | Outcome::ProducerIds { .. }) => Ok(()),
        Ok(Outcome::Rejected(Rejection::TopicExists(t))) => Err(BrokerError::TopicAlreadyExists(t)),
        Ok(Outcome::Rejected(Rejection::UnknownTopic(_))) => Err(BrokerError::UnknownTopicOrPartition),
        Ok(Outcome::Rejected(other)) => Err(BrokerError::InvalidRequest(other.to_string())),
        Err(e) => Err(BrokerError::NotController(e.to_string())),
    }
}

/// Where a topic's round-robin placement starts, so that topics spread their leaders.
fn spread_start(name: &str) -> usize {
    crc32c::crc32c(name.as_bytes()) as usize
}

fn check_cluster_assignments(
    image: &crate::cluster::image::Image,
    assignments: &[Vec<i32>],
) -> Result<(), BrokerError> {
    for replicas in assignments {
        let mut sorted = replicas.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if replicas.is_empty() || sorted.len() != replicas.len() {
            return Err(BrokerError::InvalidReplicaAssignment(format!(
                "replica assignment {replicas:?} is empty or repeats a broker"
            )));
        }
        if let Some(b) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
            return Err(BrokerError::InvalidReplicaAssignment(format!("broker {b} is not registered")));
        }
    }
    Ok(())
}

/// A cluster member's local copy of the topics the metadata image holds.
impl Broker {
    fn propose_topic(
        &self,
        name: &str,
        config: TopicConfig,
        assignments: Vec<Vec<i32>>,
    ) -> Result<Arc<Topic>, BrokerError> {
        let cluster = self.cluster.get().expect("cluster mode");
        let cmd = crate::cluster::image::Command::CreateTopic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            configs: config.overrides,
            assignments,
        };
        propose(cluster, cmd)?;
        let image = cluster.image();
        let t = image.topics.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        tracing::info!(topic = name, partitions = t.partitions.len(), id = %t.id, "topic created");
        self.cluster_topic(name, t)
    }

    /// The local topic for an image entry, created (or re-created, when the name now
    /// stands for a new topic id) as needed, with the image's configs.
    pub(crate) fn cluster_topic(
        &self,
        name: &str,
        t: &crate::cluster::image::TopicImage,
    ) -> Result<Arc<Topic>, BrokerError> {
        if let Some(local) = self.topic(name) {
            if local.id == t.id {
                if local.config().overrides != t.configs {
                    let next = TopicConfig { overrides: t.configs.clone() };
                    let settings = next.log_settings(&self.config.broker);
                    *local.config.write().expect("lock") = next;
                    for p in local.partitions() {
                        p.set_settings(settings);
                    }
                }
                return Ok(local);
            }
            self.remove_local_topic(name);
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: t.id,
            config: RwLock::new(TopicConfig { overrides: t.configs.clone() }),
            partitions: RwLock::new(vec![None; t.partitions.len()]),
        });
        self.topics.write().expect("lock").insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// This node's replica of a partition, opened (with recovery) on first use.
    pub(crate) fn cluster_partition(&self, topic: &Topic, index: i32) -> Result<Arc<Partition>, BrokerError> {
        if let Some(p) = topic.partition(index) {
            return Ok(p);
        }
        let settings = topic.config().log_settings(&self.config.broker);
        let dir = self.partition_dir(&topic.name, index);
        let p =
            Arc::new(Partition::open_replica(&dir, index, settings, self.recovered_clean, self.node_id(), now_ms())?);
        let mut parts = topic.partitions.write().expect("lock");
        let i = index as usize;
        if parts.len() <= i {
            parts.resize(i + 1, None);
        }
        Ok(parts[i].get_or_insert(p).clone())
    }

    /// Deletes local topics the image no longer has.
    pub(crate) fn remove_topics_not_in(&self, image: &crate::cluster::image::Image) {
        let gone: Vec<String> = self
            .topics
            .read()
            .expect("lock")
            .values()
            .filter(|t| image.topics.get(&t.name).is_none_or(|i| i.id != t.id))
            .map(|t| t.name.clone())
            .collect();
        for name in gone {
            self.remove_local_topic(&name);
        }
    }

    fn remove_local_topic(&self, name: &str) {
        let Some(topic) = self.topics.write().expect("lock").remove(name) else { return };
        let count = topic.partition_count();
        drop(topic);
        for i in 0..count {
            let dir = self.partition_dir(name, i);
            if !dir.exists() {
                continue;
            }
            let doomed = self.data_dir.join(format!("{name}-{i}.{}-delete", Uuid::new_v4().simple()));
            if std::fs::rename(&dir, &doomed).is_ok() {
                if let Err(e) = std::fs::remove_dir_all(&doomed) {
                    tracing::warn!(dir = %doomed.display(), error = %e, "could not remove deleted partition data");
                }
            }
        }
        tracing::info!(topic = name, "topic deleted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }
}
