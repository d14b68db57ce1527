//! Client quotas with Kafka's semantics (KIP-13 byte rates, KIP-124 request
//! percentage, KIP-55 user/client-id entities, KIP-219 throttling).
//!
//! The [`QuotaManager`] holds the quota entities — fixed ones from the config
//! (`quotas:`) and online ones (AlterClientQuotas, persisted in
//! `data_dir/gregor-quotas.json`) — and every client's measured usage. For one
//! entity and quota key the config's value wins: the API cannot change or remove
//! it, and a config reload that sets a key the file also sets shadows the file's.
//! The quota layer (`middleware::quota`) records usage per request and asks for the
//! throttle time; `throttle_snapshot` gives the throttle counters to metrics.

pub mod entity;
pub mod rate;
pub mod store;

use crate::cluster::access::{AccessChange, AccessImage, AccessLink, AccessLog, QuotaValue};
use crate::config::{Config, QuotaConfig};
use entity::{Client, EntityName, QuotaEntity, QuotaType, QuotaValues, Resolver};
use kafka_protocol::error::ResponseError;
use rate::{SampledRate, WindowConfig};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use store::{Entries, FileStamp};

/// Rates kept in memory before idle ones (which measure zero anyway) are dropped.
const RATES_SOFT_MAX: usize = 100_000;
/// Distinct (type, user, client-id) throttle counters kept; further ones are counted
/// under [`OTHER_TAG`], so a client-id flood cannot grow memory.
const THROTTLE_SERIES_MAX: usize = 10_000;
pub const OTHER_TAG: &str = "<other>";
/// The config spelling of Kafka's default entity.
pub const DEFAULT_NAME: &str = "<default>";

#[derive(Debug, Clone, thiserror::Error)]
pub enum QuotaError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Storage(String),
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

impl QuotaError {
    /// The one place quota failures become Kafka error codes.
    pub fn response_error(&self) -> ResponseError {
        match self {
            QuotaError::Invalid(_) => ResponseError::InvalidRequest,
            QuotaError::Unsupported(_) => ResponseError::UnsupportedVersion,
            QuotaError::Storage(_) | QuotaError::Corrupt { .. } => ResponseError::UnknownServerError,
        }
    }
}

fn invalid(m: impl Into<String>) -> QuotaError {
    QuotaError::Invalid(m.into())
}

/// Kafka's checks on an entity (ClientQuotaControlManager): not empty, names not
/// empty. IP entities (connection-rate quotas) are not supported here.
pub fn validate_entity(e: &QuotaEntity) -> Result<(), QuotaError> {
    if e.user.is_none() && e.client_id.is_none() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    for (kind, name) in e.components() {
        if name == Some("") {
            return Err(invalid(format!("Empty {kind} not supported")));
        }
    }
    Ok(())
}

/// Kafka's checks on a value: positive; byte rates are whole numbers (LONG).
pub fn validate_value(t: QuotaType, v: f64) -> Result<(), QuotaError> {
    let key = t.config_key();
    if v.is_nan() || v <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    if t.is_integral() {
        if v > i64::MAX as f64 {
            return Err(invalid(format!("Proposed value for {key} is too large for a LONG.")));
        }
        if (v % 1.0).abs() > 1e-6 {
            return Err(invalid(format!("{key} cannot be a fractional value.")));
        }
    } else if !v.is_finite() {
        return Err(invalid(format!("Quota {key} must be finite")));
    }
    Ok(())
}

/// The config's `quotas:` as entities, validated; errors carry the key path.
pub fn entries_from_config(quotas: &[QuotaConfig]) -> Result<Entries, (String, String)> {
    let name = |n: &Option<String>| {
        n.as_ref().map(|s| if s == DEFAULT_NAME { EntityName::Default } else { EntityName::Named(s.clone()) })
    };
    let mut out = Entries::new();
    for (i, q) in quotas.iter().enumerate() {
        let at = |k: &str| if k.is_empty() { format!("quotas[{i}]") } else { format!("quotas[{i}].{k}") };
        let entity = QuotaEntity { user: name(&q.user), client_id: name(&q.client_id) };
        if entity.user.is_none() && entity.client_id.is_none() {
            return Err((at(""), "give user, client_id or both (`<default>` for Kafka's default entity)".into()));
        }
        validate_entity(&entity)
            .map_err(|e| (at(if q.user.as_deref() == Some("") { "user" } else { "client_id" }), e.to_string()))?;
        let mut values = QuotaValues::default();
        values.set(QuotaType::Produce, q.producer_byte_rate.map(|v| v as f64));
        values.set(QuotaType::Fetch, q.consumer_byte_rate.map(|v| v as f64));
        values.set(QuotaType::Request, q.request_percentage);
        if values.is_empty() {
            return Err((at(""), "set producer_byte_rate, consumer_byte_rate or request_percentage".into()));
        }
        for (t, v) in values.iter() {
            validate_value(t, v).map_err(|e| (at(t.config_key()), e.to_string()))?;
        }
        if out.insert(entity.clone(), values).is_some() {
            return Err((at(""), format!("{entity} is listed twice")));
        }
    }
    Ok(out)
}

/// A DescribeClientQuotas filter from the wire: (entity type, match type, match).
/// Kafka's validation: a type at most once, only user/client-id/ip, a match string
/// exactly for match type 0, and ip not combined with the others.
pub fn filter_from_wire(components: &[(String, i8, Option<String>)]) -> Result<Vec<(String, MatchName)>, QuotaError> {
    let mut out: Vec<(String, MatchName)> = Vec::with_capacity(components.len());
    for (kind, match_type, name) in components {
        if kind.is_empty() {
            return Err(invalid("Invalid empty entity type."));
        }
        if out.iter().any(|(k, _)| k == kind) {
            return Err(invalid(format!("Entity type {kind} cannot appear more than once in the filter.")));
        }
        if ![entity::USER, entity::CLIENT_ID, entity::IP].contains(&kind.as_str()) {
            return Err(QuotaError::Unsupported(format!("Unsupported entity type {kind}")));
        }
        let m = match (match_type, name) {
            (0, Some(n)) => MatchName::Exact(n.clone()),
            (0, None) => return Err(invalid("Request specified MATCH_TYPE_EXACT, but set match string to null.")),
            (1, None) => MatchName::Default,
            (1, Some(_)) => {
                return Err(invalid("Request specified MATCH_TYPE_DEFAULT, but also specified a match string."))
            }
            (2, None) => MatchName::Any,
            (2, Some(_)) => {
                return Err(invalid("Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."))
            }
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        };
        out.push((kind.clone(), m));
    }
    let has = |k: &str| out.iter().any(|(kind, _)| kind == k);
    if has(entity::IP) && (has(entity::USER) || has(entity::CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or \
             clientId filter component.",
        ));
    }
    Ok(out)
}

/// An AlterClientQuotas entity from the wire: (entity type, name or null = default).
pub fn entity_from_wire(components: &[(String, Option<String>)]) -> Result<QuotaEntity, QuotaError> {
    let mut e = QuotaEntity { user: None, client_id: None };
    if components.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    for (kind, name) in components {
        let slot = match kind.as_str() {
            entity::USER => &mut e.user,
            entity::CLIENT_ID => &mut e.client_id,
            entity::IP => {
                return Err(invalid("IP quotas (connection_creation_rate) are not supported by gregor"));
            }
            other => return Err(invalid(format!("Unhandled client quota entity type: {other}"))),
        };
        if slot.is_some() {
            return Err(invalid(format!("Invalid client quota entity, duplicate entity entry {kind}")));
        }
        *slot = Some(EntityName::from_wire(name.as_deref()));
    }
    validate_entity(&e)?;
    Ok(e)
}

/// An AlterClientQuotas op from the wire: the key, and the value or removal.
pub fn op_from_wire(key: &str, value: f64, remove: bool) -> Result<(QuotaType, Option<f64>), QuotaError> {
    let t = QuotaType::from_config_key(key).ok_or_else(|| match key {
        "controller_mutation_rate" => invalid("controller_mutation_rate is not enforced by gregor"),
        _ => invalid(format!("Invalid configuration key {key}")),
    })?;
    if remove {
        return Ok((t, None));
    }
    validate_value(t, value)?;
    Ok((t, Some(value)))
}

/// Per-(quota type, user tag, client-id tag) throttle counters, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSample {
    /// `produce`, `fetch` or `request`.
    pub quota_type: &'static str,
    /// The tags the rate is measured under ("" when the level does not include it).
    pub user: String,
    pub client_id: String,
    pub throttle_time_ms_total: u64,
    pub throttled_responses_total: u64,
}

type RateKey = (QuotaType, String, String);

struct State {
    /// From the YAML file; they cannot be changed online.
    config: Entries,
    /// Set online; exactly what the file holds.
    online: Entries,
    /// The file as last read or written (None: absent).
    stamp: Option<FileStamp>,
    /// In a cluster: the version of the metadata log's quotas `online` holds.
    synced: u64,
    resolver: Arc<Resolver>,
}

impl State {
    fn effective(&self) -> Entries {
        let mut all = self.online.clone();
        for (e, v) in &self.config {
            let merged = all.get(e).copied().unwrap_or_default().overlaid(v);
            all.insert(e.clone(), merged);
        }
        all
    }

    fn rebuild(&mut self) {
        self.resolver = Arc::new(Resolver::new(&self.effective()));
    }
}

/// One alteration of AlterClientQuotas: an entity and, per key, a new value or
/// `None` to remove it.
#[derive(Debug, Clone)]
pub struct Alteration {
    pub entity: QuotaEntity,
    pub ops: Vec<(QuotaType, Option<f64>)>,
}

/// A DescribeClientQuotas filter component: the entity type must have this name
/// (`Exact`), be the default (`Default`), or be present at all (`Any`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchName {
    Exact(String),
    Default,
    Any,
}

pub struct QuotaManager {
    window: WindowConfig,
    path: PathBuf,
    started: Instant,
    state: RwLock<State>,
    rates: Mutex<HashMap<RateKey, SampledRate>>,
    throttles: Mutex<HashMap<RateKey, (u64, u64)>>,
    /// In a cluster, quotas set online live in the metadata log, not in the file.
    replicated: Option<AccessLink>,
}

impl QuotaManager {
    /// Loads the config's quotas and the data directory's file (a corrupt file stops
    /// the start, as the ACL file does).
    pub fn open(config: &Config) -> Result<QuotaManager, QuotaError> {
        let config_entries = entries_from_config(&config.quotas).map_err(|(k, m)| invalid(format!("{k}: {m}")))?;
        let path = config.data_dir.join(store::QUOTAS_FILE);
        let replicated = config.cluster.is_some().then(AccessLink::default);
        let (online, stamp) = if replicated.is_some() {
            if path.exists() {
                tracing::warn!(file = %path.display(), "ignored: in a cluster, quotas set online live in the metadata log");
            }
            (Entries::new(), None)
        } else {
            store::read(&path)?
        };
        let window = WindowConfig {
            samples: config.broker.quota_window_num.max(1) as usize,
            window_ms: config.broker.quota_window_size_seconds.max(1) as i64 * 1_000,
        };
        let mut state = State { config: config_entries, online, stamp, synced: 0, resolver: Arc::default() };
        state.rebuild();
        tracing::info!(config_entities = state.config.len(), online_entities = state.online.len(), "quotas loaded");
        Ok(QuotaManager {
            window,
            path,
            started: Instant::now(),
            state: RwLock::new(state),
            rates: Mutex::new(HashMap::new()),
            throttles: Mutex::new(HashMap::new()),
            replicated,
        })
    }

    /// In a cluster: the metadata log online changes are committed to.
    pub fn attach(&self, log: Arc<dyn AccessLog>) {
        if let Some(link) = &self.replicated {
            link.attach(log);
        }
    }

    /// In a cluster: takes the metadata log's quotas when they are newer than the ones
    /// held. A key or value this version does not know is logged and left out.
    pub fn sync(&self, access: &AccessImage) {
        if self.replicated.is_none() || self.state.read().expect("quota lock").synced >= access.version {
            return;
        }
        let mut online = Entries::new();
        for (entity, keys) in &access.quotas {
            let mut values = QuotaValues::default();
            for (key, value) in keys {
                match QuotaType::from_config_key(key) {
                    Some(t) => values.set(t, Some(value.0)),
                    None => tracing::error!(%entity, %key, "metadata log quota with an unknown key left out"),
                }
            }
            if !values.is_empty() {
                online.insert(entity.clone(), values);
            }
        }
        let mut s = self.state.write().expect("quota lock");
        if s.synced >= access.version {
            return;
        }
        s.synced = access.version;
        if s.online != online {
            s.online = online;
            s.rebuild();
            tracing::info!(online_entities = s.online.len(), "client quotas changed in the metadata log");
        }
    }

    /// Replaces the config-sourced quotas (a reloaded config file). Online quotas stay.
    pub fn apply_config(&self, quotas: &[QuotaConfig]) -> Result<(), QuotaError> {
        let entries = entries_from_config(quotas).map_err(|(k, m)| invalid(format!("{k}: {m}")))?;
        let mut s = self.state.write().expect("quota lock");
        s.config = entries;
        s.rebuild();
        tracing::info!(config_entities = s.config.len(), "config quotas applied");
        Ok(())
    }

    /// Re-reads the file when it changed since it was last read or written. A file
    /// that no longer parses is reported once and the current quotas stay.
    pub fn reload_if_changed(&self) -> Result<bool, QuotaError> {
        if self.replicated.is_some() {
            return Ok(false);
        }
        if self.state.read().expect("quota lock").stamp == store::stamp_of(&self.path)? {
            return Ok(false);
        }
        let mut s = self.state.write().expect("quota lock");
        let now = store::stamp_of(&self.path)?;
        if s.stamp == now {
            return Ok(false);
        }
        let (online, stamp) = match store::read(&self.path) {
            Ok(read) => read,
            Err(e) => {
                s.stamp = now;
                return Err(e);
            }
        };
        s.online = online;
        s.stamp = stamp;
        s.rebuild();
        tracing::info!(online_entities = s.online.len(), file = %self.path.display(), "quota file changed; reloaded");
        Ok(true)
    }

    /// `quota.window.num` × `quota.window.size.seconds`, as configured.
    pub fn window(&self) -> WindowConfig {
        self.window
    }

    /// The current lookup table; a request keeps one for its whole handling.
    pub fn resolver(&self) -> Arc<Resolver> {
        self.state.read().expect("quota lock").resolver.clone()
    }

    /// Milliseconds on this manager's monotonic clock.
    pub fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    /// Every entity the filter matches, with its effective values (config over file).
    /// `strict`: the entity has exactly the filtered types, no others.
    pub fn describe(&self, filter: &[(String, MatchName)], strict: bool) -> Vec<(QuotaEntity, QuotaValues)> {
        let all = self.state.read().expect("quota lock").effective();
        all.into_iter().filter(|(e, _)| matches_filter(e, filter, strict)).collect()
    }

    /// Applies alterations (validated here, one result each); with `validate_only`
    /// nothing changes. The file is written once per call.
    pub fn alter(&self, alterations: &[Alteration], validate_only: bool) -> Vec<Result<(), QuotaError>> {
        if let Some(link) = &self.replicated {
            return self.alter_replicated(link, alterations, validate_only);
        }
        let mut s = self.state.write().expect("quota lock");
        let mut online = s.online.clone();
        let results: Vec<Result<(), QuotaError>> =
            alterations.iter().map(|a| apply_alteration(&s.config, &mut online, a)).collect();
        if validate_only || online == s.online {
            return results;
        }
        if let Err(full) = check_size(&online) {
            return results.into_iter().map(|r| r.and(Err(full.clone()))).collect();
        }
        match store::write(&self.path, &online) {
            Ok(stamp) => {
                s.online = online;
                s.stamp = stamp;
                s.rebuild();
                tracing::info!(online_entities = s.online.len(), "client quotas altered");
                results
            }
            Err(e) => results.into_iter().map(|r| r.and(Err(e.clone()))).collect(),
        }
    }

    /// `alter` in a cluster: validated against this node's view, then the valid
    /// alterations are committed to the metadata log key by key (so that changes made
    /// meanwhile through other nodes to other keys stay).
    fn alter_replicated(
        &self,
        link: &AccessLink,
        alterations: &[Alteration],
        validate_only: bool,
    ) -> Vec<Result<(), QuotaError>> {
        let (results, online, unchanged) = {
            let s = self.state.read().expect("quota lock");
            let mut online = s.online.clone();
            let results: Vec<Result<(), QuotaError>> =
                alterations.iter().map(|a| apply_alteration(&s.config, &mut online, a)).collect();
            let unchanged = online == s.online;
            (results, online, unchanged)
        };
        if validate_only || unchanged {
            return results;
        }
        if let Err(full) = check_size(&online) {
            return results.into_iter().map(|r| r.and(Err(full.clone()))).collect();
        }
        let change = alterations
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(a, _)| {
                let ops = a.ops.iter().map(|(t, v)| (t.config_key().to_string(), v.map(QuotaValue))).collect();
                (a.entity.clone(), ops)
            })
            .collect();
        match link.commit(AccessChange::Quotas(change)) {
            Ok(access) => {
                self.sync(&access);
                results
            }
            Err(e) => {
                let e = QuotaError::Storage(format!("metadata log: {e}"));
                results.into_iter().map(|r| r.and(Err(e.clone()))).collect()
            }
        }
    }

    /// Records `value` against the client's quota of type `t` at `now_ms` and returns
    /// the throttle time (0 when within, or when no quota applies: then nothing is
    /// recorded). Request-time throttles are capped at one window, as in Kafka.
    pub fn record(&self, resolver: &Resolver, t: QuotaType, who: Client<'_>, value: f64, now_ms: i64) -> i64 {
        let Some(q) = resolver.resolve(t, who) else { return 0 };
        let mut rates = self.rates.lock().expect("rates lock");
        if rates.len() >= RATES_SOFT_MAX {
            let cfg = self.window;
            rates.retain(|_, r| !r.is_idle(cfg, now_ms));
        }
        let rate = rates.entry((t, q.user_tag, q.client_tag)).or_default();
        let ms = rate.record_and_throttle_ms(self.window, value, q.bound, now_ms);
        match t {
            QuotaType::Request => ms.min(self.window.window_ms),
            _ => ms,
        }
    }

    /// Takes back a value recorded at `now_ms` (a throttled fetch answers empty).
    pub fn unrecord(&self, resolver: &Resolver, t: QuotaType, who: Client<'_>, value: f64, now_ms: i64) {
        let Some(q) = resolver.resolve(t, who) else { return };
        if let Some(rate) = self.rates.lock().expect("rates lock").get_mut(&(t, q.user_tag, q.client_tag)) {
            rate.record(self.window, -value, now_ms);
        }
    }

    /// The most a consumer may fetch at once without a guaranteed throttle (Kafka caps
    /// the fetch size at this); `None` when no fetch quota applies.
    pub fn fetch_bytes_max(&self, resolver: &Resolver, who: Client<'_>) -> Option<i32> {
        let q = resolver.resolve(QuotaType::Fetch, who)?;
        Some(self.window.max_value_in_window(q.bound).clamp(1.0, i32::MAX as f64) as i32)
    }

    /// Counts a throttled response against the quota type that caused it.
    pub fn note_throttle(&self, resolver: &Resolver, t: QuotaType, who: Client<'_>, throttle_ms: i64) {
        let (user, client) = match resolver.resolve(t, who) {
            Some(q) => (q.user_tag, q.client_tag),
            None => (who.user.to_string(), who.client_id.to_string()),
        };
        let mut throttles = self.throttles.lock().expect("throttles lock");
        let key = (t, user, client);
        let key = if throttles.len() >= THROTTLE_SERIES_MAX && !throttles.contains_key(&key) {
            (t, OTHER_TAG.to_string(), OTHER_TAG.to_string())
        } else {
            key
        };
        let c = throttles.entry(key).or_insert((0, 0));
        c.0 += throttle_ms.max(0) as u64;
        c.1 += 1;
    }

    /// Total throttle time and throttled responses per (quota type, user, client-id)
    /// since start, sorted; for the metrics exporter.
    pub fn throttle_snapshot(&self) -> Vec<ThrottleSample> {
        let throttles = self.throttles.lock().expect("throttles lock");
        let mut out: Vec<ThrottleSample> = throttles
            .iter()
            .map(|((t, u, c), (ms, n))| ThrottleSample {
                quota_type: t.label(),
                user: u.clone(),
                client_id: c.clone(),
                throttle_time_ms_total: *ms,
                throttled_responses_total: *n,
            })
            .collect();
        out.sort_by(|a, b| (a.quota_type, &a.user, &a.client_id).cmp(&(b.quota_type, &b.user, &b.client_id)));
        out
    }
}

fn check_size(online: &Entries) -> Result<(), QuotaError> {
    if online.len() > store::ONLINE_ENTITIES_MAX {
        return Err(invalid(format!("at most {} quota entities can be set online", store::ONLINE_ENTITIES_MAX)));
    }
    Ok(())
}

fn apply_alteration(config: &Entries, online: &mut Entries, a: &Alteration) -> Result<(), QuotaError> {
    validate_entity(&a.entity)?;
    let mut values = online.get(&a.entity).copied().unwrap_or_default();
    let fixed = config.get(&a.entity);
    for (t, v) in &a.ops {
        if let Some(v) = v {
            validate_value(*t, *v)?;
        }
        if fixed.and_then(|f| f.get(*t)).is_some() {
            return Err(invalid(format!(
                "{} of {} is defined in the config file (quotas:); change it there",
                t.config_key(),
                a.entity
            )));
        }
        values.set(*t, *v);
    }
    if values.is_empty() {
        online.remove(&a.entity);
    } else {
        online.insert(a.entity.clone(), values);
    }
    Ok(())
}

/// Kafka's DescribeClientQuotas matching: every component must match; `strict`
/// also requires the entity to have no other types.
fn matches_filter(e: &QuotaEntity, filter: &[(String, MatchName)], strict: bool) -> bool {
    let parts: BTreeMap<&str, Option<&str>> = e.components().into_iter().collect();
    if strict && parts.len() != filter.len() {
        return false;
    }
    filter.iter().all(|(kind, m)| match (parts.get(kind.as_str()), m) {
        (None, _) => false,
        (Some(name), MatchName::Exact(want)) => *name == Some(want.as_str()),
        (Some(name), MatchName::Default) => name.is_none(),
        (Some(_), MatchName::Any) => true,
    })
}

#[cfg(test)]
mod tests;
