//! Proxy mode: the second backend beside the broker. Clients talk to the gateway's
//! listeners and tower stack as they would to a broker; the backend forwards to an
//! upstream Kafka cluster instead of the log. This module owns what the gateway
//! knows of the upstream: its brokers (node id → address), its topics (for ACLs on
//! topic ids), and the API versions both sides speak.
//!
//! Reading order: `config` (the `proxy:` section) → `addressing` (which gateway
//! address stands for which upstream broker) → `forward` (the per-connection
//! backend service) → `upstream` (dialling, login, the pipelined link) → `rewrite`
//! (broker addresses in responses) and `tenant` (virtual clusters).

pub mod addressing;
pub mod config;
pub mod forward;
pub mod rewrite;
pub mod tenant;
pub mod upstream;

use crate::config::Config;
use crate::middleware::tenant::{Member, Tenants};
use crate::router::{ApiTable, ROUTES};
use crate::security::Principal;
use addressing::ListenerAddressing;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::VersionRange;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tenant::Tenant;
use tokio::sync::{watch, Notify};
use upstream::{Connected, UpstreamError, UpstreamSecurity};
use uuid::Uuid;

/// APIs the gateway answers itself: its own versions, its own clients' logins, and
/// the ACLs, users and quotas it enforces. Everything else routed is forwarded.
pub const LOCAL_APIS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
];
/// A failed discovery is retried this soon (then every refresh interval).
const DISCOVERY_RETRY: Duration = Duration::from_millis(500);
/// How long a link waits for discovery to learn a node it does not know yet.
const UNKNOWN_NODE_WAIT: Duration = Duration::from_secs(5);

/// What the gateway knows of the upstream cluster, shared by every connection.
pub struct Proxy {
    pub config: Arc<Config>,
    pub security: Arc<UpstreamSecurity>,
    /// Per gateway listener: how upstream brokers are addressed on it.
    pub addressing: Vec<ListenerAddressing>,
    /// Virtual clusters: which clients see which prefix of the upstream.
    pub tenants: Arc<Tenants>,
    /// Upstream node id → the host:port the upstream advertises for it.
    nodes: RwLock<BTreeMap<i32, String>>,
    topics: RwLock<TopicCache>,
    /// The APIs and versions clients may use: ours narrowed to the upstream's. `None`
    /// until the upstream has been reached once.
    table: RwLock<Option<Arc<ApiTable>>>,
    /// Wakes discovery early (a client addressed a node the gateway does not know).
    refresh: Notify,
    /// Signalled after every discovery round.
    discovered: watch::Sender<u64>,
    /// Round-robin over the bootstrap servers for connections on a bootstrap address.
    next_bootstrap: AtomicUsize,
}

#[derive(Default)]
struct TopicCache {
    by_id: HashMap<Uuid, String>,
    by_name: HashMap<String, Uuid>,
}

impl Proxy {
    pub fn new(config: Arc<Config>) -> anyhow::Result<Proxy> {
        let p = config.proxy.as_ref().ok_or_else(|| anyhow::anyhow!("no proxy section"))?;
        let security = Arc::new(UpstreamSecurity::from_config(&p.upstream)?);
        let addressing = config
            .listeners
            .iter()
            .map(|l| {
                let a = p.addressing_for(&config.listeners, &l.name).expect("validated: every listener has addressing");
                ListenerAddressing::new(l, a)
            })
            .collect();
        let mut rules = Vec::new();
        for v in &p.virtual_clusters {
            let member = match (&v.listener, &v.principal) {
                (Some(l), _) => Member::Listener(l.clone()),
                (None, Some(p)) => Member::Principal(Principal::parse(p).map_err(anyhow::Error::msg)?),
                (None, None) => anyhow::bail!("virtual cluster {} names no listener or principal", v.name),
            };
            rules.push((member, Tenant::try_new(v.prefix.clone())?));
        }
        Ok(Proxy {
            security,
            addressing,
            tenants: Arc::new(Tenants::new(rules)),
            nodes: RwLock::default(),
            topics: RwLock::default(),
            table: RwLock::new(None),
            refresh: Notify::new(),
            discovered: watch::channel(0).0,
            next_bootstrap: AtomicUsize::new(0),
            config,
        })
    }

    pub fn table(&self) -> Option<Arc<ApiTable>> {
        self.table.read().expect("table lock").clone()
    }

    /// Returns once the upstream has been reached (the API table is known).
    pub async fn wait_discovered(&self) {
        let mut rx = self.discovered.subscribe();
        while self.table().is_none() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn addressing(&self, listener: &str) -> &ListenerAddressing {
        self.addressing.iter().find(|a| a.listener == listener).unwrap_or(&self.addressing[0])
    }

    pub fn nodes(&self) -> BTreeMap<i32, String> {
        self.nodes.read().expect("nodes lock").clone()
    }

    /// The upstream address for a connection: its node's, or for a bootstrap
    /// connection the next bootstrap server in turn.
    pub async fn target(self: Arc<Self>, node: Option<i32>) -> Result<String, UpstreamError> {
        let Some(id) = node else {
            let servers = &self.config.proxy.as_ref().expect("proxy mode").upstream.bootstrap;
            let i = self.next_bootstrap.fetch_add(1, Ordering::Relaxed);
            return Ok(servers[i % servers.len()].clone());
        };
        let mut discovered = self.discovered.subscribe();
        let deadline = tokio::time::Instant::now() + UNKNOWN_NODE_WAIT;
        loop {
            if let Some(addr) = self.nodes.read().expect("nodes lock").get(&id) {
                return Ok(addr.clone());
            }
            self.refresh.notify_one();
            if tokio::time::timeout_at(deadline, discovered.changed()).await.is_err() {
                return Err(UpstreamError::Protocol {
                    addr: format!("node {id}"),
                    message: "the upstream cluster has no broker with this id".into(),
                });
            }
        }
    }

    /// Learns brokers and topics from a Metadata response (discovery's own, or one
    /// passing through to a client).
    pub fn observe_metadata(&self, m: &MetadataResponse) {
        if !m.brokers.is_empty() {
            let fresh: BTreeMap<i32, String> =
                m.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect();
            let mut nodes = self.nodes.write().expect("nodes lock");
            if *nodes != fresh {
                tracing::info!(brokers = ?fresh, "upstream brokers");
                *nodes = fresh;
            }
        }
        let mut topics = self.topics.write().expect("topics lock");
        for t in &m.topics {
            if let (Some(name), false) = (&t.name, t.topic_id.is_nil()) {
                if t.error_code == 0 {
                    topics.by_id.insert(t.topic_id, name.to_string());
                    topics.by_name.insert(name.to_string(), t.topic_id);
                }
            }
        }
    }

    /// Forgets topics a full listing no longer has (deleted upstream).
    fn replace_topics(&self, m: &MetadataResponse) {
        let mut fresh = TopicCache::default();
        for t in m.topics.iter().filter(|t| t.error_code == 0) {
            if let Some(name) = &t.name {
                fresh.by_id.insert(t.topic_id, name.to_string());
                fresh.by_name.insert(name.to_string(), t.topic_id);
            }
        }
        *self.topics.write().expect("topics lock") = fresh;
    }

    /// Keeps the gateway's picture of the upstream current: connects to a bootstrap
    /// server (or a known broker), reads its versions and a full Metadata, then
    /// repeats every `metadata_refresh_ms` (or when woken), reconnecting as needed.
    pub async fn discover(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let upstream = &self.config.proxy.as_ref().expect("proxy mode").upstream;
        let every = Duration::from_millis(upstream.metadata_refresh_ms);
        let mut conn: Option<Connected> = None;
        let mut attempt = 0usize;
        let mut last_error: Option<String> = None;
        loop {
            if conn.is_none() {
                let mut candidates = upstream.bootstrap.clone();
                candidates.extend(self.nodes().into_values());
                let addr = candidates[attempt % candidates.len()].clone();
                attempt += 1;
                match upstream::connect(&addr, &self.security).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        let message = e.to_string();
                        if last_error.as_deref() != Some(&message) {
                            tracing::warn!(error = %message, "upstream discovery failed; retrying");
                        }
                        last_error = Some(message);
                    }
                }
            }
            let wait = match conn.as_mut() {
                None => DISCOVERY_RETRY,
                Some(c) => match self.refresh_from(c).await {
                    Ok(()) => {
                        last_error = None;
                        every
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "upstream metadata refresh failed; reconnecting");
                        conn = None;
                        DISCOVERY_RETRY
                    }
                },
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.refresh.notified() => {}
            }
        }
    }

    async fn refresh_from(&self, c: &mut Connected) -> Result<(), UpstreamError> {
        let table = Arc::new(intersect(&c.versions));
        let version = c.version_of::<MetadataRequest>().ok_or_else(|| UpstreamError::Protocol {
            addr: c.addr.clone(),
            message: "the upstream speaks no Metadata version the gateway knows".into(),
        })?;
        // every topic: ACLs on topic ids need their names
        let request = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
        let response = c.send(version, &request).await?;
        self.observe_metadata(&response);
        self.replace_topics(&response);
        {
            let mut current = self.table.write().expect("table lock");
            if current.as_deref() != Some(&table) {
                tracing::info!(apis = table.routes().len(), upstream = %c.addr, "API versions agreed with the upstream");
                *current = Some(table);
            }
        }
        self.discovered.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// Ours narrowed to the upstream's: gateway-local APIs keep our ranges; a forwarded
/// API the upstream lacks, or shares no version of, is not offered.
pub fn intersect(upstream: &HashMap<i16, VersionRange>) -> ApiTable {
    let routes = ROUTES
        .iter()
        .filter_map(|&(api, min, max)| {
            if LOCAL_APIS.contains(&api) {
                return Some((api, min, max));
            }
            let theirs = upstream.get(&(api as i16))?;
            let both = VersionRange { min, max }.intersect(theirs);
            (!both.is_empty()).then_some((api, both.min, both.max))
        })
        .collect();
    ApiTable::new(routes)
}

impl crate::middleware::authorize::TopicDirectory for Proxy {
    fn topic_name(&self, id: Uuid) -> Option<String> {
        self.topics.read().expect("topics lock").by_id.get(&id).cloned()
    }

    fn topic_exists(&self, name: &str) -> bool {
        self.topics.read().expect("topics lock").by_name.contains_key(name)
    }

    /// The upstream's setting is not visible to the gateway; assuming it creates
    /// topics means a client needs CREATE to name a topic the gateway has not seen.
    fn auto_creates_topics(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_apis_keep_our_ranges_and_forwarded_ones_narrow() {
        let mut upstream = HashMap::new();
        upstream.insert(ApiKey::Produce as i16, VersionRange { min: 0, max: 9 });
        upstream.insert(ApiKey::Fetch as i16, VersionRange { min: 0, max: 2 });
        let t = intersect(&upstream);
        assert_eq!(t.supported(ApiKey::Produce), Some(VersionRange { min: 3, max: 9 }));
        assert_eq!(t.supported(ApiKey::Fetch), None, "no common Fetch version");
        assert_eq!(t.supported(ApiKey::Metadata), None, "the upstream lacks it");
        let ours = crate::router::supported_versions(ApiKey::SaslAuthenticate);
        assert_eq!(t.supported(ApiKey::SaslAuthenticate), ours);
        assert!(t.supported(ApiKey::ApiVersions).is_some());
    }
}
