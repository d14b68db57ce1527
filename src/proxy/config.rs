//! The `proxy:` section: the upstream cluster, how its brokers are addressed through
//! the gateway, and the virtual clusters. Its presence turns the process into a
//! gateway; every problem is reported with the key's path, as everywhere else.

use super::tenant::Tenant;
use crate::config::{parse_host_port, ConfigError, ListenerConfig, SecurityProtocol};
use crate::security::sasl::Mechanism;
use serde::Deserialize;
use std::path::PathBuf;

/// Upper bound of `addressing[].nodes_max`: each node is a listening port.
pub const NODES_MAX_LIMIT: u32 = 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    pub upstream: UpstreamConfig,
    /// One entry per gateway listener (a single mapping is read as a list of one).
    pub addressing: Vec<AddressingConfig>,
    /// Tenants mapped to a name prefix on the upstream.
    #[serde(default)]
    pub virtual_clusters: Vec<VirtualClusterConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// host:port of one or more upstream brokers, tried in turn.
    pub bootstrap: Vec<String>,
    #[serde(default)]
    pub security: SecurityProtocol,
    /// Required for `ssl` and `sasl_ssl`.
    pub tls: Option<UpstreamTlsConfig>,
    /// Required for `sasl_plaintext` and `sasl_ssl`: the gateway logs in as itself.
    pub sasl: Option<UpstreamSaslConfig>,
    /// How often the upstream's brokers and topics are re-read (Metadata responses
    /// passing through update them in between).
    #[serde(default = "default_metadata_refresh_ms")]
    pub metadata_refresh_ms: u64,
    /// Connect, TLS handshake and SASL login, together.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_metadata_refresh_ms() -> u64 {
    10_000
}

fn default_connect_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// CA certificates (PEM) the upstream's certificates must chain to.
    pub ca: PathBuf,
    /// Client certificate and key (PEM), when the upstream asks for one.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name checked against the upstream certificates; the dialled host when absent.
    pub server_name: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSaslConfig {
    pub mechanism: Mechanism,
    pub username: String,
    /// A file holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// The password itself; prefer `password_file` (or a `GREGOR_…` variable).
    pub password: Option<String>,
}

// the password never reaches a log line
impl std::fmt::Debug for UpstreamSaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressingMode {
    /// A gateway port per upstream broker.
    Port,
    /// One TLS port; the SNI host name `broker-<id>.<domain>` picks the broker.
    Sni,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressingConfig {
    /// The gateway listener this applies to; may be omitted when there is one listener.
    pub listener: Option<String>,
    pub mode: AddressingMode,
    /// port: the port of the lowest node id (`node_id_base`); node n listens on
    /// `first_port + n - node_id_base`.
    pub first_port: Option<u16>,
    /// port: the interface node ports bind; the listener's when absent.
    pub bind_host: Option<std::net::IpAddr>,
    /// port: the host clients are told; the listener's advertised host when absent.
    pub advertised_host: Option<String>,
    /// port: the port clients are told for `node_id_base` (a load balancer may map
    /// ports); `first_port` when absent.
    pub advertised_first_port: Option<u16>,
    /// port: the lowest upstream node id.
    #[serde(default)]
    pub node_id_base: i32,
    /// port: how many node ids (and ports) the range holds.
    #[serde(default = "default_nodes_max")]
    pub nodes_max: u32,
    /// sni: brokers are `broker-<id>.<domain>`, the bootstrap any other name.
    pub domain: Option<String>,
    /// sni: the port clients are told; the listener's advertised port when absent.
    pub advertised_port: Option<u16>,
}

fn default_nodes_max() -> u32 {
    32
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualClusterConfig {
    pub name: String,
    /// Upstream names of this tenant's topics, groups and transactional ids start so.
    pub prefix: String,
    /// Clients arriving on this listener are the tenant …
    pub listener: Option<String>,
    /// … or clients authenticated as this principal (`User:alice`).
    pub principal: Option<String>,
}

fn key_error(path: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Key { path, message: message.into() }
}

impl ProxyConfig {
    pub fn validate(&self, listeners: &[ListenerConfig]) -> Result<(), ConfigError> {
        self.upstream.validate()?;
        if self.addressing.is_empty() {
            return Err(key_error("proxy.addressing".into(), "give one entry per listener"));
        }
        for (i, l) in listeners.iter().enumerate() {
            if self.addressing_for(listeners, &l.name).is_none() {
                return Err(key_error(format!("listeners[{i}]"), "has no proxy.addressing entry"));
            }
        }
        for (i, a) in self.addressing.iter().enumerate() {
            a.validate(i, listeners, &self.addressing[..i])?;
        }
        self.validate_tenants(listeners)
    }

    /// The addressing entry of a listener.
    pub fn addressing_for<'a>(&'a self, listeners: &[ListenerConfig], name: &str) -> Option<&'a AddressingConfig> {
        self.addressing.iter().find(|a| match &a.listener {
            Some(l) => l == name,
            None => listeners.len() == 1,
        })
    }

    fn validate_tenants(&self, listeners: &[ListenerConfig]) -> Result<(), ConfigError> {
        for (i, v) in self.virtual_clusters.iter().enumerate() {
            let at = |k: &str| format!("proxy.virtual_clusters[{i}].{k}");
            if v.name.is_empty() {
                return Err(key_error(at("name"), "must not be empty"));
            }
            let tenant = Tenant::try_new(v.prefix.clone()).map_err(|e| key_error(at("prefix"), e.to_string()))?;
            match (&v.listener, &v.principal) {
                (Some(l), None) if !listeners.iter().any(|x| &x.name == l) => {
                    return Err(key_error(at("listener"), format!("no listener is named `{l}`")))
                }
                (None, Some(p)) => {
                    crate::security::Principal::parse(p).map_err(|m| key_error(at("principal"), m))?;
                }
                (Some(_), None) => {}
                _ => return Err(key_error(format!("proxy.virtual_clusters[{i}]"), "give listener or principal")),
            }
            for (j, o) in self.virtual_clusters[..i].iter().enumerate() {
                if o.name == v.name {
                    return Err(key_error(at("name"), "duplicate virtual cluster"));
                }
                if Tenant::try_new(o.prefix.clone()).is_ok_and(|t| t.overlaps(&tenant)) {
                    let other = &o.name;
                    return Err(key_error(
                        at("prefix"),
                        format!("overlaps virtual_clusters[{j}] ({other}): tenants would see each other"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A client's TLS and SASL settings (under the config section `at`) against the
/// security protocol of what it connects to: each present exactly when needed.
pub fn validate_client_security(
    at: &str,
    security: SecurityProtocol,
    tls: Option<&UpstreamTlsConfig>,
    sasl: Option<&UpstreamSaslConfig>,
) -> Result<(), ConfigError> {
    let at = |k: &str| format!("{at}.{k}");
    match (security.uses_tls(), tls) {
        (true, None) => return Err(key_error(at("tls"), "required for security ssl and sasl_ssl")),
        (false, Some(_)) => return Err(key_error(at("tls"), "only for security ssl and sasl_ssl")),
        (true, Some(t)) if t.cert.is_some() != t.key.is_some() => {
            return Err(key_error(at("tls"), "give cert and key together"))
        }
        _ => {}
    }
    match (security.uses_sasl(), sasl) {
        (true, None) => return Err(key_error(at("sasl"), "required for security sasl_plaintext and sasl_ssl")),
        (false, Some(_)) => return Err(key_error(at("sasl"), "only for security sasl_plaintext and sasl_ssl")),
        (true, Some(s)) if s.password.is_some() == s.password_file.is_some() => {
            return Err(key_error(at("sasl"), "give password_file or password (one of them)"))
        }
        _ => {}
    }
    Ok(())
}

impl UpstreamConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap.is_empty() {
            return Err(key_error("proxy.upstream.bootstrap".into(), "name at least one host:port"));
        }
        for (i, b) in self.bootstrap.iter().enumerate() {
            parse_host_port(b).map_err(|m| key_error(format!("proxy.upstream.bootstrap[{i}]"), m))?;
        }
        let at = |k: &str| format!("proxy.upstream.{k}");
        validate_client_security("proxy.upstream", self.security, self.tls.as_ref(), self.sasl.as_ref())?;
        if self.metadata_refresh_ms < 100 {
            return Err(key_error(at("metadata_refresh_ms"), "must be ≥ 100"));
        }
        if self.connect_timeout_ms < 100 {
            return Err(key_error(at("connect_timeout_ms"), "must be ≥ 100"));
        }
        Ok(())
    }
}

impl AddressingConfig {
    fn validate(&self, i: usize, listeners: &[ListenerConfig], before: &[AddressingConfig]) -> Result<(), ConfigError> {
        let at = |k: &str| format!("proxy.addressing[{i}].{k}");
        let listener = match &self.listener {
            Some(name) => listeners
                .iter()
                .find(|l| &l.name == name)
                .ok_or_else(|| key_error(at("listener"), format!("no listener is named `{name}`")))?,
            None if listeners.len() == 1 => &listeners[0],
            None => return Err(key_error(at("listener"), "name the listener (there are several)")),
        };
        if before.iter().any(|b| b.listener == self.listener) {
            return Err(key_error(at("listener"), "a second entry for the same listener"));
        }
        match self.mode {
            AddressingMode::Port => {
                let first = self.first_port.ok_or_else(|| key_error(at("first_port"), "required for mode port"))?;
                if self.nodes_max == 0 || self.nodes_max > NODES_MAX_LIMIT {
                    return Err(key_error(at("nodes_max"), format!("must be in 1..={NODES_MAX_LIMIT}")));
                }
                if first as u32 + self.nodes_max > 65536 || first == 0 {
                    return Err(key_error(at("first_port"), "the node port range must fit in 1..=65535"));
                }
                if self.node_id_base < 0 {
                    return Err(key_error(at("node_id_base"), "must be ≥ 0"));
                }
                if self.domain.is_some() || self.advertised_port.is_some() {
                    return Err(key_error(at("mode"), "domain and advertised_port are for mode sni"));
                }
            }
            AddressingMode::Sni => {
                let domain = self.domain.as_deref().unwrap_or("");
                if domain.is_empty() {
                    return Err(key_error(at("domain"), "required for mode sni"));
                }
                if !listener.security.uses_tls() {
                    return Err(key_error(at("mode"), "sni needs a listener with security ssl or sasl_ssl"));
                }
                if self.first_port.is_some() || self.advertised_first_port.is_some() || self.bind_host.is_some() {
                    return Err(key_error(
                        at("mode"),
                        "first_port, advertised_first_port and bind_host are for mode port",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `proxy.addressing` may be one mapping; the typed config wants a list.
pub fn normalize(root: &mut serde_norway::Value) {
    use serde_norway::Value;
    let Some(proxy) = root.get_mut("proxy") else { return };
    if let Some(a) = proxy.get_mut("addressing") {
        if a.is_mapping() {
            let one = std::mem::replace(a, Value::Null);
            *a = Value::Sequence(vec![one]);
        }
    }
}
