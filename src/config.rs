//! The configuration: one YAML file, typed, unknown keys rejected, every problem
//! reported with its key path, `GREGOR_…` environment variables on top.
//!
//! Broker settings use Kafka's own property names (`broker:` section) so that
//! operators can carry their `server.properties` knowledge over.

use serde::Deserialize;
use serde_norway::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The embedded default: what `gregor serve` runs without `--config`.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../config/single-node.yaml");

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "GREGOR_";
/// `GREGOR_…` variables that are not config overrides (read elsewhere).
pub const ENV_RESERVED: &[&str] = &["GREGOR_LOG"];
/// The config's top-level keys. A `GREGOR_…` variable naming none of them (e.g. a
/// tool's `GREGOR_BIN`) is not an override: it is ignored, with a warning at start.
/// One that names a section but a key it lacks is an error, so typos surface.
const TOP_LEVEL_KEYS: &[&str] = &[
    "node_id",
    "data_dir",
    "listeners",
    "admin",
    "limits",
    "log",
    "broker",
    "users",
    "super_users",
    "acls",
    "authorizer",
    "quotas",
    "proxy",
    "cluster",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config is not valid YAML: {0}")]
    Yaml(String),
    #[error("config key `{path}`: {message}")]
    Key { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

fn key_error(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key { path: path.to_string(), message: message.into() }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node_id: i32,
    pub data_dir: PathBuf,
    pub listeners: Vec<ListenerConfig>,
    pub admin: AdminConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub broker: BrokerConfig,
    /// SASL users defined by the config (beside those in the data directory's store).
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Principals (`User:admin`) that every ACL check allows (Kafka's `super.users`).
    #[serde(default)]
    pub super_users: Vec<String>,
    /// ACLs defined by the config (beside those created with CreateAcls).
    #[serde(default)]
    pub acls: Vec<AclConfig>,
    /// Whether ACLs are enforced (Kafka: `authorizer.class.name` set or not).
    #[serde(default)]
    pub authorizer: AuthorizerKind,
    /// Client quotas defined by the config (beside those set with AlterClientQuotas).
    #[serde(default)]
    pub quotas: Vec<QuotaConfig>,
    /// Present: the process is a gateway in front of an upstream cluster.
    #[serde(default)]
    pub proxy: Option<crate::proxy::config::ProxyConfig>,
    /// Present: this node is one of several, with a Raft metadata quorum.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
    /// `GREGOR_…` variables that were not config overrides, reported at start.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
    /// The file this was read from (`None`: the embedded default); SIGHUP re-reads it.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub name: String,
    pub bind: SocketAddr,
    /// host:port given to clients in Metadata; the bind address when absent.
    pub advertised: Option<String>,
    #[serde(default)]
    pub security: SecurityProtocol,
    /// Required for `ssl` and `sasl_ssl`.
    pub tls: Option<TlsConfig>,
    /// Required for `sasl_plaintext` and `sasl_ssl`.
    pub sasl: Option<ListenerSaslConfig>,
}

/// Kafka's `security.protocol` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// A TLS listener's certificate chain, key and client-certificate policy. Files are
/// PEM; they are re-read when they change or on SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates that client certificates must chain to (mTLS).
    pub client_ca: Option<PathBuf>,
    /// Kafka's `ssl.client.auth`.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    None,
    /// Verified when presented; connections without one stay anonymous.
    Requested,
    Required,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSaslConfig {
    /// Kafka's `sasl.enabled.mechanisms` for this listener.
    pub mechanisms: Vec<crate::security::sasl::Mechanism>,
}

/// A SASL user. SCRAM credentials are stored salted (never the password); a
/// `password_file` (e.g. a mounted Secret) is read at start and salted in memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password_file: Option<PathBuf>,
    pub scram_sha_256: Option<ScramCredentialConfig>,
    pub scram_sha_512: Option<ScramCredentialConfig>,
}

/// RFC 5802 stored credential, as `gregor user add --print-yaml` writes it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScramCredentialConfig {
    /// base64
    pub salt: String,
    pub iterations: u32,
    /// base64
    pub stored_key: String,
    /// base64
    pub server_key: String,
}

impl std::fmt::Debug for ScramCredentialConfig {
    // keys are secrets: `check-config` prints the config, and logs may too
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentialConfig").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerKind {
    /// No authorizer: every request is allowed (Kafka without `authorizer.class.name`).
    #[default]
    None,
    /// ACLs are enforced.
    Acl,
}

/// One ACL rule from the config; it expands to one binding per operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// Client IP address, or `*`.
    #[serde(default = "any_host")]
    pub host: String,
    pub resource: AclResourceConfig,
    pub operations: Vec<crate::security::acl::Operation>,
    pub permission: crate::security::acl::Permission,
}

fn any_host() -> String {
    "*".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclResourceConfig {
    #[serde(rename = "type")]
    pub kind: crate::security::acl::ResourceType,
    /// The name, `*` for all (literal only), or a prefix; the cluster is `kafka-cluster`.
    pub name: String,
    #[serde(default)]
    pub pattern: crate::security::acl::PatternType,
}

/// One client quota entity from the config (Kafka's `kafka-configs --alter
/// --entity-type users/clients`). `user` and `client_id` name the entity; either may
/// be absent (not part of it) or `<default>` (Kafka's default entity); at least one
/// is given. Rates are bytes per second; `request_percentage` is percent of one
/// request-handling thread over the quota window (KIP-124).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    pub producer_byte_rate: Option<u64>,
    pub consumer_byte_rate: Option<u64>,
    pub request_percentage: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub bind: SocketAddr,
    /// Serve `/metrics` and record request metrics (on by default; off measures the
    /// metrics layer's cost).
    #[serde(default = "default_true")]
    pub metrics: bool,
}

fn default_true() -> bool {
    true
}

/// Bounds on what one client can make the process hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request frame accepted (Kafka's `socket.request.max.bytes`).
    pub frame_bytes_max: u32,
    /// Connections beyond this are closed at accept.
    pub connections_max: u32,
    /// How long SIGTERM waits for in-flight requests before closing connections.
    pub shutdown_drain_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { frame_bytes_max: 100 * 1024 * 1024, connections_max: 10_000, shutdown_drain_ms: 10_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, or per module, `info,gregor::log=debug`.
    pub level: String,
    pub format: LogFormat,
    /// One structured line (target `gregor::audit`) per authentication result and per
    /// authorization denial.
    pub audit: bool,
    /// One info line per connection opened and closed, with client address, listener
    /// and (at close) principal.
    pub connections: bool,
    /// Requests that take longer than this are logged at warn (0 = never). Time a
    /// Fetch spends in its long poll (`max_wait_ms`) does not count, nor JoinGroup and
    /// SyncGroup, which wait for other members by design.
    pub slow_request_ms: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            audit: false,
            connections: true,
            slow_request_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// A multi-node cluster: the metadata quorum's voters and the listener that
/// replicas fetch over.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Every node's controller endpoint as `node_id@host:port` (Kafka's
    /// `controller.quorum.voters`); this node's entry is where it listens.
    pub voters: Vec<String>,
    /// Where this node's controller endpoint binds, when not its voter address
    /// (default: that address if it is an IP, else every interface on its port).
    pub controller_bind: Option<SocketAddr>,
    /// The listener followers fetch from (default: the first listener).
    pub inter_broker_listener: Option<String>,
    /// How followers connect to that listener when it uses TLS or SASL.
    #[serde(default)]
    pub inter_broker_client: InterBrokerClient,
}

/// A follower's TLS and SASL settings towards the inter-broker listener of its
/// leaders (Kafka's inter-broker client settings). With an authorizer, its
/// principal needs CLUSTER_ACTION on the cluster (or to be a super user).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterBrokerClient {
    /// Required when the listener uses TLS.
    pub tls: Option<crate::proxy::config::UpstreamTlsConfig>,
    /// Required when the listener uses SASL.
    pub sasl: Option<crate::proxy::config::UpstreamSaslConfig>,
}

/// Broker settings, by Kafka's names, with Kafka's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    #[serde(rename = "auto.create.topics.enable")]
    pub auto_create_topics_enable: bool,
    #[serde(rename = "num.partitions")]
    pub num_partitions: i32,
    #[serde(rename = "default.replication.factor")]
    pub default_replication_factor: i16,
    #[serde(rename = "min.insync.replicas")]
    pub min_insync_replicas: i32,
    #[serde(rename = "log.segment.bytes")]
    pub log_segment_bytes: i64,
    #[serde(rename = "log.segment.ms")]
    pub log_segment_ms: i64,
    #[serde(rename = "log.retention.ms")]
    pub log_retention_ms: i64,
    #[serde(rename = "log.retention.bytes")]
    pub log_retention_bytes: i64,
    #[serde(rename = "log.retention.check.interval.ms")]
    pub log_retention_check_interval_ms: i64,
    #[serde(rename = "log.index.interval.bytes")]
    pub log_index_interval_bytes: i32,
    #[serde(rename = "log.index.size.max.bytes")]
    pub log_index_size_max_bytes: i32,
    #[serde(rename = "log.flush.interval.messages")]
    pub log_flush_interval_messages: i64,
    #[serde(rename = "log.flush.interval.ms")]
    pub log_flush_interval_ms: i64,
    #[serde(rename = "message.max.bytes")]
    pub message_max_bytes: i32,
    #[serde(rename = "log.message.timestamp.type")]
    pub log_message_timestamp_type: TimestampType,
    #[serde(rename = "group.min.session.timeout.ms")]
    pub group_min_session_timeout_ms: i32,
    #[serde(rename = "group.max.session.timeout.ms")]
    pub group_max_session_timeout_ms: i32,
    #[serde(rename = "group.initial.rebalance.delay.ms")]
    pub group_initial_rebalance_delay_ms: i64,
    #[serde(rename = "group.max.size")]
    pub group_max_size: i32,
    #[serde(rename = "offsets.topic.num.partitions")]
    pub offsets_topic_num_partitions: i32,
    #[serde(rename = "offsets.retention.minutes")]
    pub offsets_retention_minutes: i64,
    #[serde(rename = "offsets.retention.check.interval.ms")]
    pub offsets_retention_check_interval_ms: i64,
    /// How long an OffsetCommit waits for the offsets partition's ISR.
    #[serde(rename = "offsets.commit.timeout.ms")]
    pub offsets_commit_timeout_ms: i64,
    #[serde(rename = "offset.metadata.max.bytes")]
    pub offset_metadata_max_bytes: i32,
    #[serde(rename = "producer.id.expiration.ms")]
    pub producer_id_expiration_ms: i64,
    /// With the ACL authorizer: a resource no ACL names is open to everyone.
    #[serde(rename = "allow.everyone.if.no.acl.found")]
    pub allow_everyone_if_no_acl_found: bool,
    /// KIP-368: SASL sessions last this long, then the client must re-authenticate
    /// (0 = forever).
    #[serde(rename = "connections.max.reauth.ms")]
    pub connections_max_reauth_ms: i64,
    /// How the mTLS certificate subject becomes the principal's name.
    #[serde(rename = "ssl.principal.mapping.rules")]
    pub ssl_principal_mapping_rules: String,
    /// Delay before a failed authentication is answered; it doubles with each
    /// further failure from the same client address.
    #[serde(rename = "connection.failed.authentication.delay.ms")]
    pub connection_failed_authentication_delay_ms: i64,
    /// Samples kept per client quota rate.
    #[serde(rename = "quota.window.num")]
    pub quota_window_num: i32,
    /// Length of one quota sample.
    #[serde(rename = "quota.window.size.seconds")]
    pub quota_window_size_seconds: i32,
    /// Rack of this broker: replicas of a partition are spread over racks.
    #[serde(rename = "broker.rack")]
    pub broker_rack: Option<String>,
    /// A follower that has not caught up for this long leaves the ISR.
    #[serde(rename = "replica.lag.time.max.ms")]
    pub replica_lag_time_max_ms: i64,
    /// Longest a follower's fetch waits at the leader for new records.
    #[serde(rename = "replica.fetch.wait.max.ms")]
    pub replica_fetch_wait_max_ms: i32,
    #[serde(rename = "replica.fetch.max.bytes")]
    pub replica_fetch_max_bytes: i32,
    /// Elect a replica outside the ISR when no ISR member is alive (may lose data).
    #[serde(rename = "unclean.leader.election.enable")]
    pub unclean_leader_election_enable: bool,
    #[serde(rename = "auto.leader.rebalance.enable")]
    pub auto_leader_rebalance_enable: bool,
    #[serde(rename = "leader.imbalance.check.interval.seconds")]
    pub leader_imbalance_check_interval_seconds: u64,
    #[serde(rename = "broker.heartbeat.interval.ms")]
    pub broker_heartbeat_interval_ms: u64,
    /// A broker whose heartbeats stop for this long is fenced.
    #[serde(rename = "broker.session.timeout.ms")]
    pub broker_session_timeout_ms: u64,
    #[serde(rename = "offsets.topic.replication.factor")]
    pub offsets_topic_replication_factor: i16,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            auto_create_topics_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            log_segment_bytes: 1 << 30,
            log_segment_ms: 7 * 24 * 3600 * 1000,
            log_retention_ms: 7 * 24 * 3600 * 1000,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            log_index_interval_bytes: 4096,
            log_index_size_max_bytes: 10 * 1024 * 1024,
            log_flush_interval_messages: i64::MAX,
            log_flush_interval_ms: i64::MAX,
            message_max_bytes: 1_048_588,
            log_message_timestamp_type: TimestampType::CreateTime,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX,
            offsets_topic_num_partitions: 50,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offsets_commit_timeout_ms: 5_000,
            offset_metadata_max_bytes: 4096,
            producer_id_expiration_ms: 86_400_000,
            allow_everyone_if_no_acl_found: false,
            connections_max_reauth_ms: 0,
            ssl_principal_mapping_rules: "DEFAULT".into(),
            connection_failed_authentication_delay_ms: 100,
            quota_window_num: 11,
            quota_window_size_seconds: 1,
            broker_rack: None,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_max_bytes: 1_048_576,
            unclean_leader_election_enable: false,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
            broker_heartbeat_interval_ms: 2_000,
            broker_session_timeout_ms: 9_000,
            offsets_topic_replication_factor: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl Config {
    /// Loads the file (or the embedded default), applies `GREGOR_…` overrides from
    /// `env`, and validates.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => {
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_path_buf(), source })?
            }
            None => DEFAULT_CONFIG_YAML.to_string(),
        };
        let mut config = Self::from_yaml(&text, env)?;
        config.source = path.map(Path::to_path_buf);
        Ok(config)
    }

    pub fn from_yaml(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut value: Value = serde_norway::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        let mut ignored_env = Vec::new();
        for (var, raw) in env {
            if ENV_RESERVED.contains(&var.as_str()) {
                continue;
            }
            if let Some(rest) = var.strip_prefix(ENV_PREFIX) {
                let first = rest.split("__").next().unwrap_or("").to_ascii_lowercase();
                if TOP_LEVEL_KEYS.contains(&first.as_str()) {
                    apply_env_override(&mut value, &var, rest, &raw)?;
                } else {
                    ignored_env.push(var);
                }
            }
        }
        crate::proxy::config::normalize(&mut value);
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            key_error(&path, e.into_inner().to_string())
        })?;
        ignored_env.sort();
        config.ignored_env = ignored_env;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id < 0 {
            return Err(key_error("node_id", "must be ≥ 0"));
        }
        if self.listeners.is_empty() {
            return Err(key_error("listeners", "at least one listener is required"));
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if l.name.is_empty() {
                return Err(key_error(&format!("listeners[{i}].name"), "must not be empty"));
            }
            if let Some(adv) = &l.advertised {
                parse_host_port(adv).map_err(|m| key_error(&format!("listeners[{i}].advertised"), m))?;
            }
            if self.listeners[..i].iter().any(|o| o.name == l.name) {
                return Err(key_error(&format!("listeners[{i}].name"), "duplicate listener name"));
            }
        }
        self.validate_security()?;
        if let Some(p) = &self.proxy {
            p.validate(&self.listeners)?;
        }
        if self.limits.frame_bytes_max < 1024 {
            return Err(key_error("limits.frame_bytes_max", "must be ≥ 1024"));
        }
        if self.limits.frame_bytes_max as usize >= crate::alloc::HUGE_ALLOCATION_BYTES {
            return Err(key_error("limits.frame_bytes_max", "must be < 1 GiB"));
        }
        if self.limits.connections_max == 0 {
            return Err(key_error("limits.connections_max", "must be ≥ 1"));
        }
        self.validate_cluster()?;
        self.broker.validate()
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let Some(c) = &self.cluster else {
            if self.broker.default_replication_factor != 1 {
                return Err(key_error(
                    "broker.default.replication.factor",
                    "a single node can only hold replication factor 1 (add a `cluster:` section for more)",
                ));
            }
            return Ok(());
        };
        if self.proxy.is_some() {
            return Err(key_error("cluster", "a gateway (`proxy:`) is not a cluster member"));
        }
        let voters =
            crate::cluster::parse_voters(&c.voters).map_err(|(i, m)| key_error(&format!("cluster.voters[{i}]"), m))?;
        if voters.is_empty() {
            return Err(key_error("cluster.voters", "at least one voter is required"));
        }
        if !voters.contains_key(&(self.node_id as u64)) {
            return Err(key_error("cluster.voters", format!("does not list this node (node_id {})", self.node_id)));
        }
        if let Some(name) = &c.inter_broker_listener {
            if !self.listeners.iter().any(|l| &l.name == name) {
                return Err(key_error("cluster.inter_broker_listener", format!("no listener is named {name}")));
            }
        }
        let client = &c.inter_broker_client;
        crate::proxy::config::validate_client_security(
            "cluster.inter_broker_client",
            self.inter_broker_listener().security,
            client.tls.as_ref(),
            client.sasl.as_ref(),
        )?;
        if self.broker.broker_session_timeout_ms <= self.broker.broker_heartbeat_interval_ms {
            return Err(key_error("broker.broker.session.timeout.ms", "must be > broker.heartbeat.interval.ms"));
        }
        Ok(())
    }

    /// The listener replicas fetch over.
    pub fn inter_broker_listener(&self) -> &ListenerConfig {
        let name = self.cluster.as_ref().and_then(|c| c.inter_broker_listener.as_deref());
        name.and_then(|n| self.listeners.iter().find(|l| l.name == n)).unwrap_or(&self.listeners[0])
    }
}

impl Config {
    fn validate_security(&self) -> Result<(), ConfigError> {
        for (i, l) in self.listeners.iter().enumerate() {
            let at = |k: &str| format!("listeners[{i}].{k}");
            match (l.security.uses_tls(), &l.tls) {
                (true, None) => return Err(key_error(&at("tls"), "required for security ssl and sasl_ssl")),
                (false, Some(_)) => return Err(key_error(&at("tls"), "only for security ssl and sasl_ssl")),
                (true, Some(t)) if t.client_auth != ClientAuth::None && t.client_ca.is_none() => {
                    return Err(key_error(&at("tls.client_ca"), "required when client_auth is requested or required"))
                }
                _ => {}
            }
            match (l.security.uses_sasl(), &l.sasl) {
                (true, None) => {
                    return Err(key_error(&at("sasl"), "required for security sasl_plaintext and sasl_ssl"))
                }
                (false, Some(_)) => {
                    return Err(key_error(&at("sasl"), "only for security sasl_plaintext and sasl_ssl"))
                }
                (true, Some(s)) if s.mechanisms.is_empty() => {
                    return Err(key_error(&at("sasl.mechanisms"), "name at least one mechanism"))
                }
                _ => {}
            }
        }
        for (i, p) in self.super_users.iter().enumerate() {
            crate::security::Principal::parse(p).map_err(|m| key_error(&format!("super_users[{i}]"), m))?;
        }
        for (i, a) in self.acls.iter().enumerate() {
            crate::security::Principal::parse(&a.principal)
                .map_err(|m| key_error(&format!("acls[{i}].principal"), m))?;
            if a.host != "*" && a.host.parse::<std::net::IpAddr>().is_err() {
                return Err(key_error(&format!("acls[{i}].host"), "must be an IP address or *"));
            }
            if a.operations.is_empty() {
                return Err(key_error(&format!("acls[{i}].operations"), "name at least one operation"));
            }
            if a.resource.name.is_empty() {
                return Err(key_error(&format!("acls[{i}].resource.name"), "must not be empty"));
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.name.is_empty() {
                return Err(key_error(&format!("users[{i}].name"), "must not be empty"));
            }
            if u.password_file.is_none() && u.scram_sha_256.is_none() && u.scram_sha_512.is_none() {
                return Err(key_error(
                    &format!("users[{i}]"),
                    "give password_file, scram_sha_256 or scram_sha_512 (see `gregor user add --print-yaml`)",
                ));
            }
            for (key, c) in [("scram_sha_256", &u.scram_sha_256), ("scram_sha_512", &u.scram_sha_512)] {
                if let Some(c) = c {
                    if c.iterations < 4096 {
                        return Err(key_error(&format!("users[{i}].{key}.iterations"), "must be ≥ 4096"));
                    }
                }
            }
            if self.users[..i].iter().any(|o| o.name == u.name) {
                return Err(key_error(&format!("users[{i}].name"), "duplicate user"));
            }
        }
        crate::quota::entries_from_config(&self.quotas).map_err(|(path, message)| key_error(&path, message))?;
        crate::security::ssl_principal::PrincipalMapper::parse(&self.broker.ssl_principal_mapping_rules)
            .map_err(|e| key_error("broker.ssl.principal.mapping.rules", e.to_string()))?;
        if self.broker.connections_max_reauth_ms < 0 {
            return Err(key_error("broker.connections.max.reauth.ms", "must be ≥ 0"));
        }
        if self.broker.connection_failed_authentication_delay_ms < 0 {
            return Err(key_error("broker.connection.failed.authentication.delay.ms", "must be ≥ 0"));
        }
        Ok(())
    }
}

impl BrokerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("num.partitions", self.num_partitions as i64),
            ("default.replication.factor", self.default_replication_factor as i64),
            ("min.insync.replicas", self.min_insync_replicas as i64),
            ("log.segment.ms", self.log_segment_ms),
            ("log.retention.check.interval.ms", self.log_retention_check_interval_ms),
            ("log.index.size.max.bytes", self.log_index_size_max_bytes as i64),
            ("log.flush.interval.messages", self.log_flush_interval_messages),
            ("log.flush.interval.ms", self.log_flush_interval_ms),
            ("message.max.bytes", self.message_max_bytes as i64),
            ("group.min.session.timeout.ms", self.group_min_session_timeout_ms as i64),
            ("group.max.size", self.group_max_size as i64),
            ("offsets.topic.num.partitions", self.offsets_topic_num_partitions as i64),
            ("offsets.retention.minutes", self.offsets_retention_minutes),
            ("offsets.retention.check.interval.ms", self.offsets_retention_check_interval_ms),
            ("offsets.commit.timeout.ms", self.offsets_commit_timeout_ms),
            ("producer.id.expiration.ms", self.producer_id_expiration_ms),
            ("quota.window.num", self.quota_window_num as i64),
            ("quota.window.size.seconds", self.quota_window_size_seconds as i64),
            ("replica.lag.time.max.ms", self.replica_lag_time_max_ms),
            ("replica.fetch.wait.max.ms", self.replica_fetch_wait_max_ms as i64),
            ("replica.fetch.max.bytes", self.replica_fetch_max_bytes as i64),
            ("leader.imbalance.check.interval.seconds", self.leader_imbalance_check_interval_seconds as i64),
            ("broker.heartbeat.interval.ms", self.broker_heartbeat_interval_ms as i64),
            ("broker.session.timeout.ms", self.broker_session_timeout_ms as i64),
            ("offsets.topic.replication.factor", self.offsets_topic_replication_factor as i64),
        ];
        for (key, v) in positive {
            if v < 1 {
                return Err(key_error(&format!("broker.{key}"), "must be ≥ 1"));
            }
        }
        if self.log_segment_bytes < 14 || self.log_segment_bytes > i32::MAX as i64 {
            return Err(key_error("broker.log.segment.bytes", "must be in 14..=2147483647"));
        }
        if self.log_index_interval_bytes < 0 {
            return Err(key_error("broker.log.index.interval.bytes", "must be ≥ 0"));
        }
        if self.group_max_session_timeout_ms < self.group_min_session_timeout_ms {
            return Err(key_error("broker.group.max.session.timeout.ms", "must be ≥ group.min.session.timeout.ms"));
        }
        if self.group_initial_rebalance_delay_ms < 0 {
            return Err(key_error("broker.group.initial.rebalance.delay.ms", "must be ≥ 0"));
        }
        if self.offset_metadata_max_bytes < 0 {
            return Err(key_error("broker.offset.metadata.max.bytes", "must be ≥ 0"));
        }
        if self.offsets_topic_num_partitions > crate::broker::metadata::PARTITIONS_PER_TOPIC_MAX {
            return Err(key_error("broker.offsets.topic.num.partitions", "must be ≤ 10000"));
        }
        if self.log_retention_ms < -1 {
            return Err(key_error("broker.log.retention.ms", "must be ≥ -1 (-1 = keep forever)"));
        }
        Ok(())
    }
}

/// Splits `host:port` (IPv6 hosts in brackets) for advertised addresses.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("`{s}` is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{s}` has no host"));
    }
    let port = port.parse::<u16>().map_err(|_| format!("`{s}` has no valid port"))?;
    Ok((host.to_string(), port))
}

/// `GREGOR_A__B__0__C=v` sets `a.b[0].c = v`. Segments are matched against existing
/// keys case-insensitively with `_` standing for `.` or `_`, so
/// `GREGOR_BROKER__NUM_PARTITIONS=3` sets `broker: { num.partitions: 3 }`.
fn apply_env_override(root: &mut Value, var: &str, rest: &str, raw: &str) -> Result<(), ConfigError> {
    let env_err = |m: String| ConfigError::Env { var: var.to_string(), message: m };
    let segments: Vec<&str> = rest.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(env_err("empty path segment".into()));
    }
    let parsed: Value = serde_norway::from_str(raw).unwrap_or(Value::String(raw.to_string()));
    let mut node = root;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        node = match node {
            Value::Sequence(items) => {
                let idx: usize = seg.parse().map_err(|_| env_err(format!("`{seg}` is not a list index")))?;
                items.get_mut(idx).ok_or_else(|| env_err(format!("list index {idx} out of range")))?
            }
            Value::Mapping(map) => {
                let want = seg.to_ascii_lowercase();
                let existing = map.keys().find_map(|k| {
                    k.as_str().filter(|k| k.replace('.', "_").to_ascii_lowercase() == want).map(String::from)
                });
                let key = Value::String(existing.unwrap_or_else(|| default_key_name(&want, i)));
                if !map.contains_key(&key) {
                    map.insert(key.clone(), if last { Value::Null } else { Value::Mapping(Default::default()) });
                }
                map.get_mut(&key).expect("inserted above")
            }
            Value::Null => {
                *node = Value::Mapping(Default::default());
                let Value::Mapping(map) = node else { unreachable!() };
                let key = Value::String(default_key_name(&seg.to_ascii_lowercase(), i));
                map.insert(key.clone(), Value::Null);
                map.get_mut(&key).expect("inserted above")
            }
            _ => return Err(env_err(format!("`{seg}` goes below a scalar"))),
        };
    }
    *node = parsed;
    Ok(())
}

/// A key absent from the file: under `broker` Kafka names use dots.
fn default_key_name(lower: &str, depth: usize) -> String {
    if depth >= 1 && lower.contains('_') {
        lower.replace('_', ".")
    } else {
        lower.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn embedded_default_loads() {
        let c = Config::load(None, no_env()).unwrap();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listeners[0].bind.port(), 9092);
        assert_eq!(c.admin.bind.port(), 9644);
        assert_eq!(c.limits.frame_bytes_max, 100 * 1024 * 1024);
        assert!(c.broker.auto_create_topics_enable);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_path() {
        let yaml = DEFAULT_CONFIG_YAML.replace("num.partitions: 1", "num.partitionz: 1");
        let err = Config::from_yaml(&yaml, no_env()).unwrap_err().to_string();
        assert!(err.contains("broker"), "{err}");
        assert!(err.contains("num.partitionz"), "{err}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let yaml = DEFAULT_CONFIG_YAML.replace("bind: 0.0.0.0:9092", "bind: nonsense");
        let err = Config::from_yaml(&yaml, no_env()).unwrap_err().to_string();
        assert!(err.contains("listeners[0].bind"), "{err}");
        let yaml = DEFAULT_CONFIG_YAML.replace("num.partitions: 1", "num.partitions: 0");
        let err = Config::from_yaml(&yaml, no_env()).unwrap_err().to_string();
        assert!(err.contains("broker.num.partitions"), "{err}");
    }

    #[test]
    fn env_overrides_apply() {
        let env = vec![
            ("GREGOR_NODE_ID".to_string(), "7".to_string()),
            ("GREGOR_BROKER__NUM_PARTITIONS".to_string(), "3".to_string()),
            ("GREGOR_LISTENERS__0__BIND".to_string(), "127.0.0.1:19092".to_string()),
            ("GREGOR_DATA_DIR".to_string(), "/tmp/x".to_string()),
            ("OTHER".to_string(), "ignored".to_string()),
            ("GREGOR_LOG".to_string(), "debug".to_string()),
            ("GREGOR_BIN".to_string(), "/usr/bin/gregor".to_string()),
        ];
        let c = Config::from_yaml(DEFAULT_CONFIG_YAML, env).unwrap();
        assert_eq!(c.node_id, 7);
        assert_eq!(c.broker.num_partitions, 3);
        assert_eq!(c.listeners[0].bind.port(), 19092);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.ignored_env, vec!["GREGOR_BIN".to_string()]);
        // a typo inside a section is still an error
        let typo = vec![("GREGOR_BROKER__NUM_PARTITIONZ".to_string(), "3".to_string())];
        assert!(Config::from_yaml(DEFAULT_CONFIG_YAML, typo).is_err());
    }

    #[test]
    fn example_configs_load() {
        for file in ["config/single-node.yaml", "config/secure.yaml", "config/proxy.yaml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            Config::load(Some(&path), no_env()).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }

    #[test]
    fn security_settings_are_checked_with_their_key() {
        let with = |from: &str, to: &str| {
            Config::from_yaml(&DEFAULT_CONFIG_YAML.replacen(from, to, 1), no_env()).unwrap_err().to_string()
        };
        let err = with("security: plaintext", "security: sasl_ssl");
        assert!(err.contains("listeners[0].tls"), "{err}");
        let err = with("security: plaintext", "security: sasl_plaintext");
        assert!(err.contains("listeners[0].sasl"), "{err}");
        let err = with("security: plaintext", "security: plaintext\n    sasl: { mechanisms: [GSSAPI] }");
        assert!(err.contains("listeners[0].sasl.mechanisms"), "{err}");
        let err = with("num.partitions: 1", "num.partitions: 1\n  ssl.principal.mapping.rules: \"RULE:x\"");
        assert!(err.contains("broker.ssl.principal.mapping.rules"), "{err}");
        let err = with("node_id: 1", "node_id: 1\nsuper_users: [admin]");
        assert!(err.contains("super_users[0]"), "{err}");
    }

    #[test]
    fn proxy_settings_are_checked_with_their_key() {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/proxy.yaml")).unwrap();
        let ok = Config::from_yaml(&text, no_env()).unwrap();
        let p = ok.proxy.as_ref().unwrap();
        assert_eq!(p.addressing.len(), 1, "a single mapping is a list of one");
        assert_eq!(p.addressing[0].first_port, Some(19100));
        let with = |from: &str, to: &str| {
            assert!(text.contains(from), "{from}");
            Config::from_yaml(&text.replacen(from, to, 1), no_env()).unwrap_err().to_string()
        };
        let err = with("bootstrap: [\"localhost:9092\"]", "bootstrap: [\"localhost\"]");
        assert!(err.contains("proxy.upstream.bootstrap[0]"), "{err}");
        let err = with("    security: plaintext\n    #", "    security: sasl_ssl\n    #");
        assert!(err.contains("proxy.upstream.tls"), "{err}");
        let err = with("first_port: 19100", "first_port: 65530");
        assert!(err.contains("proxy.addressing[0].first_port"), "{err}");
        let err = with("mode: port", "mode: sni");
        assert!(err.contains("proxy.addressing[0]"), "{err}");
        let err = with("    nodes_max: 16", "    nodes_max: 16\n    colour: blue");
        assert!(err.contains("proxy.addressing"), "{err}");
        let tenants = "  virtual_clusters:\n    - { name: a, prefix: \"t.\", listener: EXTERNAL }\n    \
                       - { name: b, prefix: \"t.x.\", principal: \"User:bob\" }\n";
        let err = Config::from_yaml(&format!("{text}{tenants}"), no_env()).unwrap_err().to_string();
        assert!(err.contains("proxy.virtual_clusters[1].prefix") && err.contains("overlaps"), "{err}");
    }

    #[test]
    fn a_secured_inter_broker_listener_needs_the_matching_client_settings() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cluster-3.yaml")).unwrap();
        Config::from_yaml(&text, no_env()).unwrap();
        let secured = text.replace(
            "    security: plaintext\n",
            "    security: sasl_ssl\n    tls: { cert: c.pem, key: k.pem }\n    sasl: { mechanisms: [SCRAM-SHA-512] }\n",
        );
        let err = Config::from_yaml(&secured, no_env()).unwrap_err().to_string();
        assert!(err.contains("cluster.inter_broker_client.tls"), "{err}");
        let with_tls = secured.replace(
            "  inter_broker_listener: PLAINTEXT\n",
            "  inter_broker_listener: PLAINTEXT\n  inter_broker_client:\n    tls: { ca: ca.pem }\n",
        );
        let err = Config::from_yaml(&with_tls, no_env()).unwrap_err().to_string();
        assert!(err.contains("cluster.inter_broker_client.sasl"), "{err}");
        let full = with_tls.replace(
            "    tls: { ca: ca.pem }\n",
            "    tls: { ca: ca.pem }\n    sasl: { mechanism: SCRAM-SHA-512, username: broker, password: pw }\n",
        );
        Config::from_yaml(&full, no_env()).unwrap();
        // and not where the listener is plaintext
        let stray = text.replace(
            "  inter_broker_listener: PLAINTEXT\n",
            "  inter_broker_listener: PLAINTEXT\n  inter_broker_client: { tls: { ca: ca.pem } }\n",
        );
        let err = Config::from_yaml(&stray, no_env()).unwrap_err().to_string();
        assert!(err.contains("cluster.inter_broker_client.tls") && err.contains("only for"), "{err}");
    }

    #[test]
    fn env_override_to_bad_value_is_reported() {
        let env = vec![("GREGOR_BROKER__NUM_PARTITIONS".to_string(), "many".to_string())];
        let err = Config::from_yaml(DEFAULT_CONFIG_YAML, env).unwrap_err().to_string();
        assert!(err.contains("broker.num.partitions"), "{err}");
    }
}
