//! Who may do what, replicated: the SCRAM users, ACLs and client quotas set online
//! (AlterUserScramCredentials, CreateAcls/DeleteAcls, AlterClientQuotas). On a single
//! node each store keeps these in its own file in the data directory; in a cluster
//! they live in the metadata log, as KRaft keeps its SCRAM, ACL and quota records
//! there, so a change made through any node holds on every node.
//!
//! A store changes them by committing an [`AccessChange`] through its
//! [`AccessLink`]; every node applies the change to its [`AccessImage`] in log order,
//! and each store takes the image's part it serves ([`AccessImage::version`] tells a
//! newer image from an older one). Validation (unknown users, config-defined
//! entries, value ranges) happens before the change is proposed, in the store that
//! proposes it; applying only carries the change out.

use crate::quota::entity::QuotaEntity;
use crate::security::acl::AclBinding;
use crate::security::scram::EncodedCredential;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

/// A quota value (bytes/s or a request percentage). Compared bit for bit, so that the
/// image can be `Eq`: values come from the wire, never from arithmetic.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessImage {
    /// Bumped by every change applied.
    pub version: u64,
    /// User → SCRAM mechanism name (`SCRAM-SHA-256`) → credential.
    pub users: BTreeMap<String, BTreeMap<String, EncodedCredential>>,
    pub acls: BTreeSet<AclBinding>,
    /// Entity → Kafka's quota key (`producer_byte_rate`, …) → value.
    #[serde(with = "as_pairs")]
    pub quotas: BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessChange {
    /// AlterUserScramCredentials, in order.
    Users(Vec<UserChange>),
    CreateAcls(Vec<AclBinding>),
    DeleteAcls(Vec<AclBinding>),
    /// AlterClientQuotas: per entity, per key, a new value or `None` to remove it.
    Quotas(Vec<(QuotaEntity, QuotaOps)>),
}

/// Per Kafka quota key (`producer_byte_rate`, …), a new value or `None` to remove it.
pub type QuotaOps = Vec<(String, Option<QuotaValue>)>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserChange {
    /// `mechanism` is the SCRAM mechanism's name (`SCRAM-SHA-256`).
    Upsert {
        user: String,
        mechanism: String,
        credential: EncodedCredential,
    },
    Delete {
        user: String,
        mechanism: String,
    },
}

impl AccessImage {
    pub fn apply(&mut self, change: &AccessChange) {
        self.version += 1;
        match change {
            AccessChange::Users(changes) => {
                for change in changes {
                    match change {
                        UserChange::Upsert { user, mechanism, credential } => {
                            self.users.entry(user.clone()).or_default().insert(mechanism.clone(), credential.clone());
                        }
                        UserChange::Delete { user, mechanism } => {
                            if let Some(creds) = self.users.get_mut(user) {
                                creds.remove(mechanism);
                                if creds.is_empty() {
                                    self.users.remove(user);
                                }
                            }
                        }
                    }
                }
            }
            AccessChange::CreateAcls(acls) => self.acls.extend(acls.iter().cloned()),
            AccessChange::DeleteAcls(acls) => {
                for a in acls {
                    self.acls.remove(a);
                }
            }
            AccessChange::Quotas(entries) => {
                for (entity, ops) in entries {
                    let values = self.quotas.entry(entity.clone()).or_default();
                    for (key, value) in ops {
                        match value {
                            Some(v) => values.insert(key.clone(), *v),
                            None => values.remove(key),
                        };
                    }
                    if values.is_empty() {
                        self.quotas.remove(entity);
                    }
                }
            }
        }
    }
}

/// A map whose keys are not strings, as a JSON list of `[key, value]` pairs.
mod as_pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Commits access changes through the metadata quorum.
pub trait AccessLog: Send + Sync {
    /// Returns once the change is applied on this node, with the image as of then.
    /// Blocks (it waits for the quorum): call it where blocking is fine.
    fn commit(&self, change: AccessChange) -> Result<Arc<AccessImage>, String>;
}

/// A store's way to the metadata log. Stores are opened before the quorum member
/// starts, so the log is attached later; until then changes are refused.
#[derive(Default)]
pub struct AccessLink(OnceLock<Arc<dyn AccessLog>>);

impl AccessLink {
    pub fn attach(&self, log: Arc<dyn AccessLog>) {
        if self.0.set(log).is_err() {
            tracing::warn!("the metadata log was attached to the access stores twice");
        }
    }

    pub fn commit(&self, change: AccessChange) -> Result<Arc<AccessImage>, String> {
        match self.0.get() {
            Some(log) => log.commit(change),
            None => Err("this node has not joined the metadata quorum yet".into()),
        }
    }
}

/// A metadata log of one, in memory: what the stores' tests share between "nodes".
#[cfg(test)]
#[derive(Default)]
pub struct LocalLog(std::sync::Mutex<Arc<AccessImage>>);

#[cfg(test)]
impl LocalLog {
    pub fn image(&self) -> Arc<AccessImage> {
        self.0.lock().unwrap().clone()
    }
}

#[cfg(test)]
impl AccessLog for LocalLog {
    fn commit(&self, change: AccessChange) -> Result<Arc<AccessImage>, String> {
        let mut image = self.0.lock().unwrap();
        Arc::make_mut(&mut image).apply(&change);
        Ok(image.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::entity::EntityName;

    fn credential(salt: &str) -> EncodedCredential {
        EncodedCredential {
            salt: salt.into(),
            iterations: 4096,
            stored_key: "c3RvcmVk".into(),
            server_key: "c2VydmVy".into(),
        }
    }

    #[test]
    fn user_changes_apply_in_order_and_empty_users_vanish() {
        let mut image = AccessImage::default();
        let upsert = |salt: &str| UserChange::Upsert {
            user: "alice".into(),
            mechanism: "SCRAM-SHA-256".into(),
            credential: credential(salt),
        };
        let delete = || UserChange::Delete { user: "alice".into(), mechanism: "SCRAM-SHA-256".into() };
        image.apply(&AccessChange::Users(vec![upsert("a")]));
        assert_eq!(image.users["alice"]["SCRAM-SHA-256"], credential("a"));
        image.apply(&AccessChange::Users(vec![delete(), upsert("b")]));
        assert_eq!(image.users["alice"]["SCRAM-SHA-256"], credential("b"), "the later upsertion wins");
        image.apply(&AccessChange::Users(vec![delete()]));
        assert!(image.users.is_empty());
        assert_eq!(image.version, 3);
    }

    #[test]
    fn quota_keys_are_set_and_removed_one_by_one() {
        let mut image = AccessImage::default();
        let entity = QuotaEntity { user: Some(EntityName::Default), client_id: None };
        let produce = "producer_byte_rate".to_string();
        let fetch = "consumer_byte_rate".to_string();
        image.apply(&AccessChange::Quotas(vec![(
            entity.clone(),
            vec![(produce.clone(), Some(QuotaValue(1024.0))), (fetch.clone(), Some(QuotaValue(2048.0)))],
        )]));
        image.apply(&AccessChange::Quotas(vec![(entity.clone(), vec![(produce.clone(), None)])]));
        assert_eq!(image.quotas[&entity].keys().collect::<Vec<_>>(), vec![&fetch]);
        image.apply(&AccessChange::Quotas(vec![(entity.clone(), vec![(fetch, None)])]));
        assert!(image.quotas.is_empty(), "an entity without values is gone");
    }

    #[test]
    fn the_image_survives_json_as_snapshots_and_log_entries_carry_it() {
        let mut image = AccessImage::default();
        let entity = QuotaEntity { user: Some(EntityName::Named("bob".into())), client_id: None };
        image.apply(&AccessChange::Quotas(vec![(entity, vec![("request_percentage".into(), Some(QuotaValue(12.5)))])]));
        image.apply(&AccessChange::Users(vec![UserChange::Upsert {
            user: "alice".into(),
            mechanism: "SCRAM-SHA-512".into(),
            credential: credential("s"),
        }]));
        let json = serde_json::to_string(&image).unwrap();
        assert_eq!(serde_json::from_str::<AccessImage>(&json).unwrap(), image);
    }
}
