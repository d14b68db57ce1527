//! The broker core: the topic registry, partitions on this node, and the
//! background work (flush, retention) that keeps them healthy.

pub mod error;
pub mod group;
pub mod handlers;
pub mod metadata;
mod observe;
pub mod partition;
pub mod producer_ids;
pub mod producer_snapshot;
pub mod producer_state;
pub mod replica_state;
pub mod topic_config;

use crate::config::{Config, TimestampType};
use crate::time::now_ms;
use error::BrokerError;
use partition::Partition;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use topic_config::TopicConfig;
use uuid::Uuid;

/// Written at the end of a clean shutdown, removed at start: its absence means the
/// active segments must be verified.
const CLEAN_SHUTDOWN_MARKER: &str = ".gregor_cleanshutdown";
/// Kafka's per-data-dir identity file.
const META_PROPERTIES: &str = "meta.properties";

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    config: RwLock<TopicConfig>,
    /// By index; `None` where this node holds no replica (clusters only).
    partitions: RwLock<Vec<Option<Arc<Partition>>>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.read().expect("lock").get(i).cloned().flatten())
    }

    /// The replicas this node holds.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().expect("lock").iter().flatten().cloned().collect()
    }

    /// The local replica, or the error Kafka gives: NOT_LEADER_OR_FOLLOWER for a
    /// partition that exists on other nodes, so that the client refreshes metadata.
    pub fn local_partition(&self, index: i32) -> Result<Arc<Partition>, error::BrokerError> {
        match self.partition(index) {
            Some(p) => Ok(p),
            None if index >= 0 && index < self.partition_count() => Err(error::BrokerError::NotLeaderOrFollower),
            None => Err(error::BrokerError::UnknownTopicOrPartition),
        }
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.read().expect("lock").len() as i32
    }

    pub fn config(&self) -> TopicConfig {
        self.config.read().expect("lock").clone()
    }

    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// Per-topic settings that the produce path needs, resolved once per request.
#[derive(Debug, Clone, Copy)]
pub struct ProduceSettings {
    pub max_message_bytes: usize,
    pub timestamp_type: TimestampType,
    pub min_insync_replicas: i32,
}

/// Topics by name, with an index by id: Fetch and Produce v13+ (and the ACL layer)
/// address topics by id on every request.
#[derive(Default)]
pub struct TopicTable {
    by_name: BTreeMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

impl TopicTable {
    pub fn insert(&mut self, name: String, topic: Arc<Topic>) {
        debug_assert_eq!(name, topic.name);
        self.by_id.insert(topic.id, topic.clone());
        if let Some(old) = self.by_name.insert(name, topic) {
            debug_assert!(false, "topic {} inserted twice", old.name);
        }
        assert_eq!(self.by_id.len(), self.by_name.len(), "topic indexes out of step");
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Topic>> {
        let topic = self.by_name.remove(name)?;
        self.by_id.remove(&topic.id);
        assert_eq!(self.by_id.len(), self.by_name.len(), "topic indexes out of step");
        Some(topic)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Topic>> {
        self.by_name.get(name)
    }

    pub fn by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.by_id.get(&id).cloned()
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.by_name.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Topic>> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

pub struct Broker {
    pub config: Arc<Config>,
    /// From `meta.properties`: the cluster id of a single node (a cluster member
    /// reports the metadata log's instead).
    local_cluster_id: String,
    data_dir: PathBuf,
    topics: RwLock<TopicTable>,
    /// Serialises metadata changes (create/delete/alter) and their persistence.
    metadata_lock: std::sync::Mutex<()>,
    /// Bumped on every append; long-polling fetches wait on it.
    appended: tokio::sync::watch::Sender<u64>,
    /// Whether the previous run ended cleanly (recovery scans skipped).
    pub recovered_clean: bool,
    /// Where each listener really bound (port 0 in the config picks one); used when
    /// a listener has no `advertised` address.
    bound: RwLock<BTreeMap<String, std::net::SocketAddr>>,
    /// Set in a cluster: the metadata quorum this broker is a member of.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Consumer groups and committed offsets.
    pub groups: group::GroupCoordinator,
    /// Producer ids for idempotent producers.
    pub producer_ids: producer_ids::ProducerIds,
}

impl Broker {
    /// Opens the data directory: identity, topic registry, every partition (with
    /// recovery after an unclean shutdown).
    pub fn open(config: Arc<Config>) -> Result<Arc<Broker>, BrokerError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| BrokerError::Storage(format!("{}: {e}", data_dir.display())))?;
        let local_cluster_id = load_or_create_identity(&data_dir, config.node_id)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_MARKER);
        let clean = marker.exists();
        if clean {
            std::fs::remove_file(&marker).map_err(|e| BrokerError::Storage(e.to_string()))?;
        }
        let (appended, _) = tokio::sync::watch::channel(0);
        let broker = Broker {
            local_cluster_id,
            data_dir,
            topics: RwLock::new(TopicTable::default()),
            metadata_lock: std::sync::Mutex::new(()),
            appended,
            recovered_clean: clean,
            bound: RwLock::new(BTreeMap::new()),
            cluster: std::sync::OnceLock::new(),
            groups: group::GroupCoordinator::new(&config.broker, config.cluster.is_some()),
            producer_ids: producer_ids::ProducerIds::open(&config.data_dir)?,
            config,
        };
        if broker.config.cluster.is_none() {
            // a cluster member's topics come from the metadata quorum instead
            broker.load_topics(clean)?;
            broker.groups.restore(&broker, now_ms())?;
        }
        tracing::info!(
            clean_shutdown = clean,
            topics = broker.topics.read().expect("lock").len(),
            "log recovery finished"
        );
        Ok(Arc::new(broker))
    }

    /// The id Metadata and DescribeCluster report: in a cluster, the one in the
    /// metadata log (this node's own until it has applied that).
    pub fn cluster_id(&self) -> String {
        match self.cluster.get().and_then(|c| c.image().cluster_id) {
            Some(id) => base64_uuid(id),
            None => self.local_cluster_id.clone(),
        }
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    pub fn set_bound_address(&self, listener: &str, addr: std::net::SocketAddr) {
        self.bound.write().expect("lock").insert(listener.to_string(), addr);
    }

    pub fn bound_address(&self, listener: &str) -> Option<std::net::SocketAddr> {
        self.bound.read().expect("lock").get(listener).copied()
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().expect("lock").get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().expect("lock").by_id(id)
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().expect("lock").values().cloned().collect()
    }

    /// Resolved under the read lock, without cloning the overrides (hot path).
    pub fn produce_settings(&self, topic: &Topic) -> ProduceSettings {
        let c = topic.config.read().expect("lock");
        let b = &self.config.broker;
        ProduceSettings {
            max_message_bytes: c.max_message_bytes(b),
            timestamp_type: c.timestamp_type(b),
            min_insync_replicas: c.min_insync_replicas(b),
        }
    }

    /// Serialises metadata changes. A change in a cluster waits for the controller
    /// (`Cluster::propose_blocking`) with this held, so a runtime worker must not
    /// block here: it would sit on tasks the change needs (a deadlock seen under
    /// load with two workers). On the multi-threaded runtime the wait is handed off.
    pub(crate) fn lock_metadata(&self) -> std::sync::MutexGuard<'_, ()> {
        let lock = || self.metadata_lock.lock().unwrap_or_else(|e| e.into_inner());
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(lock),
            _ => lock(),
        }
    }

    /// Wakes long-polling fetches.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Waits until `partition`'s HW passes `last_offset` (the ISR holds it), as
    /// long as this node still leads it.
    pub async fn await_high_watermark(
        &self,
        partition: &Partition,
        last_offset: i64,
        timeout: std::time::Duration,
    ) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.subscribe_appends();
        loop {
            changes.borrow_and_update();
            if !partition.is_leader() {
                return Err(BrokerError::NotLeaderOrFollower);
            }
            if partition.offsets().high_watermark > last_offset {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return Err(BrokerError::RequestTimedOut("not replicated to the ISR in time".into()));
            }
        }
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{index}"))
    }

    /// Periodic maintenance: flush.ms for every log, retention when due.
    pub fn tick(&self, retention: bool) {
        let now = now_ms();
        for topic in self.topics() {
            for p in topic.partitions() {
                match p.tick(now, retention, self.config.broker.producer_id_expiration_ms) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(topic = %topic.name, partition = p.index, segments = n, "retention deleted segments")
                    }
                    Err(e) => {
                        tracing::error!(topic = %topic.name, partition = p.index, error = %e, "log maintenance failed")
                    }
                }
            }
        }
    }

    /// The internal offsets topic, created on first use.
    pub fn offsets_topic(&self, partitions: i32) -> Result<Arc<Topic>, BrokerError> {
        if let Some(t) = self.topic(group::OFFSETS_TOPIC) {
            return Ok(t);
        }
        self.create_internal_topic(
            group::OFFSETS_TOPIC,
            partitions,
            &[("cleanup.policy", "compact"), ("segment.bytes", group::OFFSETS_SEGMENT_BYTES)],
        )
    }

    /// Flushes every log and writes the clean-shutdown marker.
    pub fn shutdown(&self) -> Result<(), BrokerError> {
        let now = now_ms();
        for topic in self.topics() {
            for p in topic.partitions() {
                p.close(now)?;
            }
        }
        let marker = self.data_dir.join(CLEAN_SHUTDOWN_MARKER);
        std::fs::write(&marker, b"").map_err(|e| BrokerError::Storage(e.to_string()))?;
        sync_dir(&self.data_dir);
        tracing::info!("logs flushed, clean shutdown recorded");
        Ok(())
    }
}

/// What the authorization layer asks about topics a request names by id, or that
/// Metadata might create.
impl crate::middleware::authorize::TopicDirectory for Broker {
    fn topic_name(&self, id: Uuid) -> Option<String> {
        self.topic_by_id(id).map(|t| t.name.clone())
    }

    fn topic_exists(&self, name: &str) -> bool {
        self.topics.read().expect("lock").contains_key(name)
    }

    fn auto_creates_topics(&self) -> bool {
        self.config.broker.auto_create_topics_enable
    }
}

fn sync_dir(dir: &std::path::Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Reads `meta.properties` (Kafka's format) or creates it with a new cluster id.
fn load_or_create_identity(dir: &std::path::Path, node_id: i32) -> Result<String, BrokerError> {
    let path = dir.join(META_PROPERTIES);
    let storage = |e: std::io::Error| BrokerError::Storage(format!("{}: {e}", path.display()));
    if let Ok(text) = std::fs::read_to_string(&path) {
        let get =
            |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')).map(str::trim));
        if let Some(stored) = get("node.id").and_then(|v| v.parse::<i32>().ok()) {
            if stored != node_id {
                return Err(BrokerError::Storage(format!(
                    "{} belongs to node.id {stored}, but this node is {node_id}",
                    path.display()
                )));
            }
        }
        if let Some(id) = get("cluster.id") {
            return Ok(id.to_string());
        }
    }
    let id = base64_uuid(Uuid::new_v4());
    let text = format!("#gregor\nversion=1\ncluster.id={id}\nnode.id={node_id}\n");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(storage)?;
    std::fs::rename(&tmp, &path).map_err(storage)?;
    Ok(id)
}

/// A stable id for a voter set: two FNV-1a hashes of the sorted list.
/// Kafka prints cluster ids as URL-safe base64 of a UUID, without padding.
fn base64_uuid(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_22_chars_of_url_safe_base64() {
        let s = base64_uuid(Uuid::nil());
        assert_eq!(s, "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(base64_uuid(Uuid::new_v4()).len(), 22);
    }
}
