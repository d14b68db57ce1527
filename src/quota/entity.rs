//! Quota entities (user, client-id, their defaults and combinations) and the lookup
//! of the quota that applies to a client, in Kafka's precedence order (KIP-55):
//!
//! 1. user + client-id          5. default user + default client-id
//! 2. user + default client-id  6. default user
//! 3. user                      7. client-id
//! 4. default user + client-id  8. default client-id
//!
//! The first level that sets a value for the quota type wins; each type (produce,
//! fetch, request) is resolved on its own. The level also decides which clients
//! share one measured rate, as in Kafka: at the user levels (3, 6) all client-ids
//! of a user share it, at the user + client-id levels (1, 2, 4, 5) each pair has its
//! own, at the client-id levels (7, 8) each client-id has its own (across users).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Kafka's names for the entity types.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// What the quotas limit: bytes produced, bytes fetched, request handler time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaType {
    Produce,
    Fetch,
    Request,
}

impl QuotaType {
    pub const ALL: [QuotaType; 3] = [QuotaType::Produce, QuotaType::Fetch, QuotaType::Request];

    /// Kafka's config key for the quota (DescribeClientQuotas, AlterClientQuotas, YAML).
    pub fn config_key(self) -> &'static str {
        match self {
            QuotaType::Produce => "producer_byte_rate",
            QuotaType::Fetch => "consumer_byte_rate",
            QuotaType::Request => "request_percentage",
        }
    }

    pub fn from_config_key(key: &str) -> Option<QuotaType> {
        QuotaType::ALL.into_iter().find(|t| t.config_key() == key)
    }

    /// Kafka's quota type name (its metric group), for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            QuotaType::Produce => "produce",
            QuotaType::Fetch => "fetch",
            QuotaType::Request => "request",
        }
    }

    /// Byte rates are whole numbers (Kafka: LONG); the request percentage is a DOUBLE.
    pub fn is_integral(self) -> bool {
        !matches!(self, QuotaType::Request)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One component of an entity: a name, or the default for that type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    /// The wire form: `None` is the default (DescribeClientQuotas, AlterClientQuotas).
    pub fn wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Named(n) => Some(n),
        }
    }

    pub fn from_wire(name: Option<&str>) -> EntityName {
        name.map_or(EntityName::Default, |n| EntityName::Named(n.to_string()))
    }
}

/// A quota entity: a user, a client-id, or both; either may be the default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

impl QuotaEntity {
    /// (entity type, name) pairs as the wire carries them, user first.
    pub fn components(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out = Vec::with_capacity(2);
        if let Some(u) = &self.user {
            out.push((USER, u.wire()));
        }
        if let Some(c) = &self.client_id {
            out.push((CLIENT_ID, c.wire()));
        }
        out
    }
}

impl std::fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |n: &EntityName| match n {
            EntityName::Default => "<default>".to_string(),
            EntityName::Named(s) => s.clone(),
        };
        match (&self.user, &self.client_id) {
            (Some(u), Some(c)) => write!(f, "user {} client-id {}", name(u), name(c)),
            (Some(u), None) => write!(f, "user {}", name(u)),
            (None, Some(c)) => write!(f, "client-id {}", name(c)),
            (None, None) => write!(f, "(empty)"),
        }
    }
}

/// The values set on one entity, by quota type.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QuotaValues([Option<f64>; 3]);

impl QuotaValues {
    pub fn get(&self, t: QuotaType) -> Option<f64> {
        self.0[t.index()]
    }

    pub fn set(&mut self, t: QuotaType, v: Option<f64>) {
        self.0[t.index()] = v;
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// (type, value) for each value set, in type order.
    pub fn iter(&self) -> impl Iterator<Item = (QuotaType, f64)> + '_ {
        QuotaType::ALL.into_iter().filter_map(|t| self.get(t).map(|v| (t, v)))
    }

    /// `self` with `over`'s values on top.
    pub fn overlaid(mut self, over: &QuotaValues) -> QuotaValues {
        for (t, v) in over.iter() {
            self.set(t, Some(v));
        }
        self
    }
}

/// Who sends a request, as quotas see it: the principal's name and the header's
/// client id ("" when absent).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub user: &'a str,
    pub client_id: &'a str,
}

/// The quota that applies to a client for one type, and which measured rate it
/// counts against: (user tag, client-id tag) as in Kafka's metric tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub bound: f64,
    pub user_tag: String,
    pub client_tag: String,
}

/// Every entity's values, indexed for lookups without allocation.
#[derive(Debug, Default)]
pub struct Resolver {
    user_client: HashMap<String, HashMap<String, QuotaValues>>,
    user_default_client: HashMap<String, QuotaValues>,
    user: HashMap<String, QuotaValues>,
    default_user_client: HashMap<String, QuotaValues>,
    default_user_default_client: Option<QuotaValues>,
    default_user: Option<QuotaValues>,
    client: HashMap<String, QuotaValues>,
    default_client: Option<QuotaValues>,
    /// Whether any entity sets each type: when none does, nothing is recorded.
    enabled: [bool; 3],
}

/// Which tags a precedence level measures under.
#[derive(Clone, Copy)]
enum Share {
    UserAndClient,
    User,
    Client,
}

impl Resolver {
    pub fn new(entries: &BTreeMap<QuotaEntity, QuotaValues>) -> Resolver {
        use EntityName::{Default as D, Named as N};
        let mut r = Resolver::default();
        for (e, v) in entries {
            match (&e.user, &e.client_id) {
                (Some(N(u)), Some(N(c))) => {
                    r.user_client.entry(u.clone()).or_default().insert(c.clone(), *v);
                }
                (Some(N(u)), Some(D)) => drop(r.user_default_client.insert(u.clone(), *v)),
                (Some(N(u)), None) => drop(r.user.insert(u.clone(), *v)),
                (Some(D), Some(N(c))) => drop(r.default_user_client.insert(c.clone(), *v)),
                (Some(D), Some(D)) => r.default_user_default_client = Some(*v),
                (Some(D), None) => r.default_user = Some(*v),
                (None, Some(N(c))) => drop(r.client.insert(c.clone(), *v)),
                (None, Some(D)) => r.default_client = Some(*v),
                (None, None) => {}
            }
            for (t, _) in v.iter() {
                r.enabled[t.index()] = true;
            }
        }
        r
    }

    pub fn enabled(&self, t: QuotaType) -> bool {
        self.enabled[t.index()]
    }

    pub fn any_enabled(&self) -> bool {
        self.enabled.iter().any(|e| *e)
    }

    /// The quota of type `t` for this client, by the precedence above; `None` when
    /// no level sets one (the client is not limited).
    pub fn resolve(&self, t: QuotaType, who: Client<'_>) -> Option<Resolved> {
        if !self.enabled(t) {
            return None;
        }
        let (u, c) = (who.user, who.client_id);
        let levels: [(Option<&QuotaValues>, Share); 8] = [
            (self.user_client.get(u).and_then(|m| m.get(c)), Share::UserAndClient),
            (self.user_default_client.get(u), Share::UserAndClient),
            (self.user.get(u), Share::User),
            (self.default_user_client.get(c), Share::UserAndClient),
            (self.default_user_default_client.as_ref(), Share::UserAndClient),
            (self.default_user.as_ref(), Share::User),
            (self.client.get(c), Share::Client),
            (self.default_client.as_ref(), Share::Client),
        ];
        let (bound, share) = levels.into_iter().find_map(|(v, s)| v.and_then(|v| v.get(t)).map(|b| (b, s)))?;
        let (user_tag, client_tag) = match share {
            Share::UserAndClient => (u, c),
            Share::User => (u, ""),
            Share::Client => ("", c),
        };
        Some(Resolved { bound, user_tag: user_tag.to_string(), client_tag: client_tag.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(s: &str) -> Option<EntityName> {
        Some(EntityName::Named(s.into()))
    }

    fn entity(user: Option<EntityName>, client_id: Option<EntityName>) -> QuotaEntity {
        QuotaEntity { user, client_id }
    }

    fn produce(v: f64) -> QuotaValues {
        let mut q = QuotaValues::default();
        q.set(QuotaType::Produce, Some(v));
        q
    }

    const D: Option<EntityName> = Some(EntityName::Default);

    /// All eight levels set, each with its own value (its level number); removing the
    /// winner each time walks down the precedence order.
    #[test]
    fn every_level_in_kafkas_order() {
        let levels = [
            (entity(named("alice"), named("app")), "alice", "app"),
            (entity(named("alice"), D), "alice", "app"),
            (entity(named("alice"), None), "alice", ""),
            (entity(D, named("app")), "alice", "app"),
            (entity(D, D), "alice", "app"),
            (entity(D, None), "alice", ""),
            (entity(None, named("app")), "", "app"),
            (entity(None, D), "", "app"),
        ];
        let mut entries: BTreeMap<QuotaEntity, QuotaValues> =
            levels.iter().enumerate().map(|(i, (e, _, _))| (e.clone(), produce((i + 1) as f64))).collect();
        let who = Client { user: "alice", client_id: "app" };
        for (i, (e, user_tag, client_tag)) in levels.iter().enumerate() {
            let r = Resolver::new(&entries).resolve(QuotaType::Produce, who).unwrap();
            assert_eq!(r.bound, (i + 1) as f64, "level {} ({e})", i + 1);
            assert_eq!((r.user_tag.as_str(), r.client_tag.as_str()), (*user_tag, *client_tag), "level {}", i + 1);
            entries.remove(e);
        }
        assert!(Resolver::new(&entries).resolve(QuotaType::Produce, who).is_none());
    }

    #[test]
    fn other_names_fall_through_to_defaults_and_types_resolve_separately() {
        let mut fetch_only = QuotaValues::default();
        fetch_only.set(QuotaType::Fetch, Some(7.0));
        let entries = BTreeMap::from([
            (entity(named("alice"), None), fetch_only),
            (entity(None, named("app")), produce(3.0)),
            (entity(None, D), produce(9.0)),
        ]);
        let r = Resolver::new(&entries);
        let alice = Client { user: "alice", client_id: "app" };
        // alice's user entity sets no produce quota: the client-id level applies
        assert_eq!(r.resolve(QuotaType::Produce, alice).unwrap().bound, 3.0);
        assert_eq!(r.resolve(QuotaType::Fetch, alice).unwrap().bound, 7.0);
        assert!(r.resolve(QuotaType::Request, alice).is_none());
        assert!(!r.enabled(QuotaType::Request));
        let bob = Client { user: "bob", client_id: "other" };
        let got = r.resolve(QuotaType::Produce, bob).unwrap();
        assert_eq!((got.bound, got.user_tag.as_str(), got.client_tag.as_str()), (9.0, "", "other"));
        assert!(r.resolve(QuotaType::Fetch, bob).is_none());
    }
}
