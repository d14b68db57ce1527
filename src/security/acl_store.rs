//! The ACL store: ACLs from the YAML config (read-only here) plus ACLs created
//! online with CreateAcls, which persist in `data_dir/gregor-acls.json`. It owns the
//! current [`Authorizer`] and swaps in a new one whenever either set changes: an
//! online change, an edit of the file (`reload_if_changed`), or a config reload.

use super::acl::{AclBinding, AclBindingFilter, AclError};
use super::authorizer::{Authorizer, AuthorizerSettings};
use super::Principal;
use crate::cluster::access::{AccessChange, AccessImage, AccessLink, AccessLog};
use crate::config::{AuthorizerKind, Config};
use crate::state_file::{self, write_atomically, FileStamp, ReadError};
use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The file online ACLs live in, inside the data directory.
pub const ACLS_FILE: &str = "gregor-acls.json";
/// Bound on ACLs created online (the config's own are bounded by the file's size).
pub const ONLINE_ACLS_MAX: usize = 100_000;
/// Bound on the ACL file read at start and on reload.
const ACLS_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
const FILE_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AclStoreError {
    #[error("{0}")]
    Storage(String),
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("config key `{key}`: {source}")]
    Config { key: String, source: AclError },
    #[error(transparent)]
    Invalid(#[from] AclError),
    #[error("this ACL is defined in the config file (acls:); it can only be removed there")]
    ConfigDefined,
    #[error("at most {ONLINE_ACLS_MAX} ACLs can be created online")]
    Full,
    #[error("No authorizer is configured on the broker (set `authorizer: acl`)")]
    Disabled,
}

impl AclStoreError {
    /// The Kafka error a client sees for this failure.
    pub fn response_error(&self) -> ResponseError {
        match self {
            AclStoreError::Storage(_) | AclStoreError::Corrupt { .. } => ResponseError::UnknownServerError,
            AclStoreError::Invalid(e) | AclStoreError::Config { source: e, .. } => e.response_error(),
            AclStoreError::ConfigDefined => ResponseError::InvalidRequest,
            AclStoreError::Full => ResponseError::PolicyViolation,
            AclStoreError::Disabled => ResponseError::SecurityDisabled,
        }
    }
}

/// The persisted form: versioned so that a later format can be told apart.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclsFile {
    version: u32,
    acls: Vec<AclBinding>,
}

struct State {
    /// From the YAML file, deduplicated; they cannot be deleted online.
    config: BTreeSet<AclBinding>,
    /// Created online; exactly what the file holds.
    online: BTreeSet<AclBinding>,
    settings: AuthorizerSettings,
    /// The file as last read or written (None: absent).
    stamp: Option<FileStamp>,
    /// In a cluster: the version of the metadata log's ACLs `online` holds.
    synced: u64,
    authorizer: Arc<Authorizer>,
}

impl State {
    fn rebuild(&mut self) {
        let all = self.config.union(&self.online);
        self.authorizer = Arc::new(Authorizer::new(self.settings.clone(), all));
    }
}

pub struct AclStore {
    path: PathBuf,
    state: RwLock<State>,
    /// In a cluster, online ACLs live in the metadata log, not in the file.
    replicated: Option<AccessLink>,
}

impl AclStore {
    /// Loads the config's ACLs and the data directory's file (a corrupt file stops
    /// the start: silently dropping ACLs could open resources).
    pub fn open(config: &Config) -> Result<AclStore, AclStoreError> {
        let (settings, config_acls) = from_config(config)?;
        let path = config.data_dir.join(ACLS_FILE);
        let replicated = config.cluster.is_some().then(AccessLink::default);
        let (online, stamp) = if replicated.is_some() {
            if path.exists() {
                tracing::warn!(file = %path.display(), "ignored: in a cluster, ACLs created online live in the metadata log");
            }
            (BTreeSet::new(), None)
        } else {
            read_file(&path)?
        };
        let mut state = State {
            config: config_acls,
            online,
            settings,
            stamp,
            synced: 0,
            authorizer: Arc::new(Authorizer::allow_all()),
        };
        state.rebuild();
        tracing::info!(
            enforcing = state.settings.enforcing,
            config_acls = state.config.len(),
            online_acls = state.online.len(),
            "ACLs loaded"
        );
        Ok(AclStore { path, state: RwLock::new(state), replicated })
    }

    /// In a cluster: the metadata log online changes are committed to.
    pub fn attach(&self, log: Arc<dyn AccessLog>) {
        if let Some(link) = &self.replicated {
            link.attach(log);
        }
    }

    /// In a cluster: takes the metadata log's ACLs when they are newer than the ones held.
    pub fn sync(&self, access: &AccessImage) {
        if self.replicated.is_none() || self.state.read().expect("acl lock").synced >= access.version {
            return;
        }
        let mut s = self.state.write().expect("acl lock");
        if s.synced >= access.version {
            return;
        }
        s.synced = access.version;
        if s.online != access.acls {
            s.online = access.acls.clone();
            s.rebuild();
            tracing::info!(online_acls = s.online.len(), "ACLs changed in the metadata log");
        }
    }

    /// Commits a change to the metadata log and takes the result.
    fn commit(&self, link: &AccessLink, change: AccessChange) -> Result<(), AclStoreError> {
        let access = link.commit(change).map_err(|e| AclStoreError::Storage(format!("metadata log: {e}")))?;
        self.sync(&access);
        Ok(())
    }

    /// Kafka refuses the ACL APIs when no authorizer is configured: ACLs that would
    /// not be enforced are better refused than silently stored.
    pub fn check_enabled(&self) -> Result<(), AclStoreError> {
        if self.state.read().expect("acl lock").settings.enforcing {
            Ok(())
        } else {
            Err(AclStoreError::Disabled)
        }
    }

    /// The current decisions. Callers keep the `Arc` for a whole request, so a
    /// request sees one consistent set of ACLs.
    pub fn authorizer(&self) -> Arc<Authorizer> {
        self.state.read().expect("acl lock").authorizer.clone()
    }

    /// Every binding (config and online) the filter matches, each once, in order.
    pub fn describe(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let s = self.state.read().expect("acl lock");
        s.config.union(&s.online).filter(|b| filter.matches(b)).cloned().collect()
    }

    /// Adds bindings (already validated). One result per binding; creating one that
    /// exists is a success, as in Kafka. The file is written once per call.
    pub fn create(&self, bindings: &[AclBinding]) -> Vec<Result<(), AclStoreError>> {
        if let Some(link) = &self.replicated {
            let (mut results, added) = {
                let s = self.state.read().expect("acl lock");
                plan_create(&s.config, &mut s.online.clone(), bindings)
            };
            if !added.is_empty() {
                if let Err(e) = self.commit(link, AccessChange::CreateAcls(added.clone())) {
                    fail_added(&mut results, bindings, &added, &e);
                }
            }
            return results;
        }
        let mut guard = self.state.write().expect("acl lock");
        let s = &mut *guard;
        let (mut results, added) = plan_create(&s.config, &mut s.online, bindings);
        if added.is_empty() {
            return results;
        }
        if let Err(e) = self.persist(s) {
            for b in &added {
                s.online.remove(b);
            }
            fail_added(&mut results, bindings, &added, &e);
            return results;
        }
        s.rebuild();
        tracing::info!(created = added.len(), "ACLs created");
        results
    }

    /// Deletes what each filter matches. Per filter, the bindings it matched, each
    /// with its outcome; a binding matched by several filters is reported under the
    /// first (as in Kafka). Config-defined bindings are reported, not deleted.
    pub fn delete(&self, filters: &[AclBindingFilter]) -> Deletions {
        if let Some(link) = &self.replicated {
            let (mut per_filter, removed) = {
                let s = self.state.read().expect("acl lock");
                plan_delete(&s.config, &mut s.online.clone(), filters)
            };
            if !removed.is_empty() {
                if let Err(e) = self.commit(link, AccessChange::DeleteAcls(removed.clone())) {
                    fail_removed(&mut per_filter, &removed, &e);
                }
            }
            return per_filter;
        }
        let mut s = self.state.write().expect("acl lock");
        let (mut per_filter, removed) = {
            let s = &mut *s;
            plan_delete(&s.config, &mut s.online, filters)
        };
        if removed.is_empty() {
            return per_filter;
        }
        if let Err(e) = self.persist(&mut s) {
            s.online.extend(removed.iter().cloned());
            fail_removed(&mut per_filter, &removed, &e);
            return per_filter;
        }
        s.rebuild();
        tracing::info!(deleted = removed.len(), "ACLs deleted");
        per_filter
    }

    /// Re-reads the file when it changed since it was last read or written (an
    /// operator's edit, a restore). The server calls this every second and on SIGHUP.
    /// A file that no longer parses is reported and the current ACLs stay.
    pub fn reload_if_changed(&self) -> Result<bool, AclStoreError> {
        if self.replicated.is_some() {
            return Ok(false);
        }
        if self.state.read().expect("acl lock").stamp == stamp_of(&self.path)? {
            return Ok(false);
        }
        // read under the write lock: a CreateAcls racing with an edit must not have its
        // write replaced by an older read of the file
        let mut s = self.state.write().expect("acl lock");
        let now = stamp_of(&self.path)?;
        if s.stamp == now {
            return Ok(false);
        }
        let (online, stamp) = match read_file(&self.path) {
            Ok(read) => read,
            Err(e) => {
                // remember this version so a bad file is reported once, not every second
                s.stamp = now;
                return Err(e);
            }
        };
        s.online = online;
        s.stamp = stamp;
        s.rebuild();
        tracing::info!(online_acls = s.online.len(), file = %self.path.display(), "ACL file changed; reloaded");
        Ok(true)
    }

    /// Whether a reloaded config's ACLs and super users are valid, changing nothing.
    pub fn check_config(&self, config: &Config) -> Result<(), AclStoreError> {
        from_config(config).map(|_| ())
    }

    /// Takes the ACLs, super users and settings of a reloaded config.
    pub fn apply_config(&self, config: &Config) -> Result<(), AclStoreError> {
        let (settings, config_acls) = from_config(config)?;
        let mut s = self.state.write().expect("acl lock");
        s.settings = settings;
        s.config = config_acls;
        s.rebuild();
        tracing::info!(config_acls = s.config.len(), enforcing = s.settings.enforcing, "config ACLs applied");
        Ok(())
    }

    fn persist(&self, s: &mut State) -> Result<(), AclStoreError> {
        let file = AclsFile { version: FILE_FORMAT_VERSION, acls: s.online.iter().cloned().collect() };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| AclStoreError::Storage(e.to_string()))?;
        write_atomically(&self.path, &bytes)
            .map_err(|e| AclStoreError::Storage(format!("writing {}: {e}", self.path.display())))?;
        s.stamp = stamp_of(&self.path)?;
        Ok(())
    }
}

type Deletions = Vec<Vec<(AclBinding, Result<(), AclStoreError>)>>;

/// CreateAcls against `online`: one result per binding, and the bindings added to
/// `online` (creating one that exists is a success, as in Kafka).
fn plan_create(
    config: &BTreeSet<AclBinding>,
    online: &mut BTreeSet<AclBinding>,
    bindings: &[AclBinding],
) -> (Vec<Result<(), AclStoreError>>, Vec<AclBinding>) {
    let mut added = Vec::new();
    let results = bindings
        .iter()
        .map(|b| {
            if config.contains(b) || online.contains(b) {
                Ok(())
            } else if online.len() >= ONLINE_ACLS_MAX {
                Err(AclStoreError::Full)
            } else {
                online.insert(b.clone());
                added.push(b.clone());
                Ok(())
            }
        })
        .collect();
    (results, added)
}

fn fail_added(
    results: &mut [Result<(), AclStoreError>],
    bindings: &[AclBinding],
    added: &[AclBinding],
    e: &AclStoreError,
) {
    for (r, b) in results.iter_mut().zip(bindings) {
        if added.contains(b) {
            *r = Err(e.clone());
        }
    }
}

/// DeleteAcls against `online`: per filter, the bindings it matched with their
/// outcomes, and the bindings removed from `online`.
fn plan_delete(
    config: &BTreeSet<AclBinding>,
    online: &mut BTreeSet<AclBinding>,
    filters: &[AclBindingFilter],
) -> (Deletions, Vec<AclBinding>) {
    let mut claimed: BTreeSet<AclBinding> = BTreeSet::new();
    let mut per_filter: Deletions = Vec::with_capacity(filters.len());
    for f in filters {
        let matched: Vec<AclBinding> =
            config.union(online).filter(|b| f.matches(b) && !claimed.contains(*b)).cloned().collect();
        claimed.extend(matched.iter().cloned());
        per_filter.push(
            matched
                .into_iter()
                .map(|b| {
                    let r = if config.contains(&b) { Err(AclStoreError::ConfigDefined) } else { Ok(()) };
                    (b, r)
                })
                .collect(),
        );
    }
    let removed = claimed.into_iter().filter(|b| online.remove(b)).collect();
    (per_filter, removed)
}

fn fail_removed(per_filter: &mut Deletions, removed: &[AclBinding], e: &AclStoreError) {
    for (b, r) in per_filter.iter_mut().flatten() {
        if removed.contains(b) {
            *r = Err(e.clone());
        }
    }
}

/// The authorizer settings and the bindings the config defines, validated.
fn from_config(config: &Config) -> Result<(AuthorizerSettings, BTreeSet<AclBinding>), AclStoreError> {
    let mut super_users = Vec::with_capacity(config.super_users.len());
    for (i, p) in config.super_users.iter().enumerate() {
        let parsed = Principal::parse(p)
            .map_err(|m| AclStoreError::Config { key: format!("super_users[{i}]"), source: AclError::Invalid(m) })?;
        super_users.push(parsed);
    }
    let mut bindings = BTreeSet::new();
    for (i, a) in config.acls.iter().enumerate() {
        let expanded =
            AclBinding::from_config(a).map_err(|source| AclStoreError::Config { key: format!("acls[{i}]"), source })?;
        bindings.extend(expanded);
    }
    let settings = AuthorizerSettings {
        enforcing: config.authorizer == AuthorizerKind::Acl,
        allow_if_no_acl: config.broker.allow_everyone_if_no_acl_found,
        super_users,
    };
    Ok((settings, bindings))
}

fn stamp_of(path: &Path) -> Result<Option<FileStamp>, AclStoreError> {
    state_file::stamp_of(path).map_err(|e| AclStoreError::Storage(format!("{}: {e}", path.display())))
}

/// The online bindings in the file (none when it is absent), and its stamp.
fn read_file(path: &Path) -> Result<(BTreeSet<AclBinding>, Option<FileStamp>), AclStoreError> {
    let corrupt = |message: String| AclStoreError::Corrupt { path: path.to_path_buf(), message };
    let read = state_file::read_json::<AclsFile>(path, ACLS_FILE_BYTES_MAX).map_err(|e| match e {
        ReadError::Io(e) => AclStoreError::Storage(format!("{}: {e}", path.display())),
        ReadError::Corrupt(m) => corrupt(m),
    })?;
    let Some((file, stamp)) = read else { return Ok((BTreeSet::new(), None)) };
    if file.version != FILE_FORMAT_VERSION {
        return Err(corrupt(format!("format version {} (this gregor reads {FILE_FORMAT_VERSION})", file.version)));
    }
    if file.acls.len() > ONLINE_ACLS_MAX {
        return Err(corrupt(format!("{} ACLs, more than {ONLINE_ACLS_MAX}", file.acls.len())));
    }
    for (i, b) in file.acls.iter().enumerate() {
        b.validate().map_err(|e| corrupt(format!("acls[{i}]: {e}")))?;
    }
    Ok((file.acls.into_iter().collect(), Some(stamp)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::{Operation, PatternType, Permission, ResourceType};
    use std::net::IpAddr;

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn config(dir: &Path, extra: &str) -> Config {
        let yaml = format!(
            "node_id: 1\ndata_dir: {}\nlisteners: [{{name: P, bind: 127.0.0.1:0}}]\nadmin: {{bind: 127.0.0.1:0}}\n\
             authorizer: acl\n{extra}",
            dir.display()
        );
        Config::from_yaml(&yaml, std::iter::empty()).unwrap()
    }

    fn topic_acl(principal: &str, name: &str, op: Operation) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            name: name.into(),
            pattern: PatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: Permission::Allow,
        }
    }

    fn alice() -> Principal {
        Principal::user("alice")
    }

    const CONFIG_ACL: &str = "acls:\n  - principal: User:alice\n    resource: {type: topic, name: cfg}\n    \
                              operations: [read, write]\n    permission: allow\n";

    #[test]
    fn config_acls_load_and_expand_per_operation() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(&config(dir.path(), CONFIG_ACL)).unwrap();
        assert_eq!(store.describe(&AclBindingFilter::any()).len(), 2);
        let a = store.authorizer();
        assert!(a.enforcing());
        assert!(a.authorize(&alice(), HOST, Operation::Write, ResourceType::Topic, "cfg"));
        assert!(!a.authorize(&alice(), HOST, Operation::Write, ResourceType::Topic, "other"));
    }

    #[test]
    fn bad_config_acls_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let bad = "acls:\n  - principal: User:a\n    resource: {type: cluster, name: x}\n    operations: [alter]\n    \
                   permission: allow\n";
        let e = AclStore::open(&config(dir.path(), bad)).err().unwrap().to_string();
        assert!(e.contains("acls[0]") && e.contains("kafka-cluster"), "{e}");
    }

    #[test]
    fn created_acls_persist_and_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), CONFIG_ACL);
        let store = AclStore::open(&cfg).unwrap();
        let new = topic_acl("User:bob", "t", Operation::Read);
        let existing_in_config = topic_acl("User:alice", "cfg", Operation::Read);
        let r = store.create(&[new.clone(), new.clone(), existing_in_config]);
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        assert!(store.authorizer().authorize(&Principal::user("bob"), HOST, Operation::Read, ResourceType::Topic, "t"));
        assert_eq!(store.describe(&AclBindingFilter::any()).len(), 3);
        drop(store);
        let reopened = AclStore::open(&cfg).unwrap();
        assert_eq!(reopened.describe(&AclBindingFilter::any()).len(), 3);
        let text = std::fs::read_to_string(dir.path().join(ACLS_FILE)).unwrap();
        assert!(text.contains("User:bob") && !text.contains("\"cfg\""), "only online ACLs are in the file: {text}");
        assert!(!dir.path().join("gregor-acls.json.tmp").exists());
    }

    #[test]
    fn in_a_cluster_acls_go_through_the_metadata_log_and_reach_every_node() {
        let log = Arc::new(crate::cluster::access::LocalLog::default());
        let cluster = "cluster:\n  voters: [\"1@127.0.0.1:19093\"]\n";
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // a file left from single-node days is not read
        let stale = AclsFile { version: FILE_FORMAT_VERSION, acls: vec![topic_acl("User:eve", "t", Operation::All)] };
        std::fs::write(dir_a.path().join(ACLS_FILE), serde_json::to_vec(&stale).unwrap()).unwrap();
        let a = AclStore::open(&config(dir_a.path(), &format!("{CONFIG_ACL}{cluster}"))).unwrap();
        let b = AclStore::open(&config(dir_b.path(), cluster)).unwrap();
        assert_eq!(a.describe(&AclBindingFilter::any()).len(), 2, "only the config's ACLs");
        let bob = topic_acl("User:bob", "t", Operation::Read);
        let r = a.create(std::slice::from_ref(&bob));
        assert!(matches!(&r[..], [Err(AclStoreError::Storage(m))] if m.contains("metadata")), "{r:?}");
        a.attach(log.clone());
        b.attach(log.clone());
        assert!(a.create(std::slice::from_ref(&bob)).iter().all(Result::is_ok));
        let allowed = |s: &AclStore| {
            s.authorizer().authorize(&Principal::user("bob"), HOST, Operation::Read, ResourceType::Topic, "t")
        };
        assert!(allowed(&a), "the node that proposed sees its change at once");
        assert!(!allowed(&b), "another node sees it when it applies the log");
        b.sync(&log.image());
        assert!(allowed(&b));
        let deleted = b.delete(&[AclBindingFilter::any()]);
        assert_eq!(deleted[0].iter().map(|(acl, r)| (acl.clone(), r.is_ok())).collect::<Vec<_>>(), vec![(bob, true)]);
        let older = log.image();
        a.sync(&log.image());
        assert!(!allowed(&a));
        a.sync(&crate::cluster::access::AccessImage { version: older.version - 1, ..(*older).clone() });
        assert!(!allowed(&a), "an older image does not undo a newer one");
        assert!(!dir_b.path().join(ACLS_FILE).exists(), "nothing is written to the data directory");
        assert!(!a.reload_if_changed().unwrap());
    }

    #[test]
    fn deleting_reports_config_acls_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(&config(dir.path(), CONFIG_ACL)).unwrap();
        store.create(&[topic_acl("User:alice", "online", Operation::Read)]);
        let by_alice = AclBindingFilter { principal: Some("User:alice".into()), ..AclBindingFilter::any() };
        let r = store.delete(&[by_alice.clone(), AclBindingFilter::any()]);
        assert_eq!(r[0].len(), 3);
        assert!(r[1].is_empty(), "a binding is reported under the first filter only");
        let config_defined = r[0].iter().filter(|(_, r)| matches!(r, Err(AclStoreError::ConfigDefined))).count();
        assert_eq!(config_defined, 2);
        assert_eq!(store.describe(&by_alice).len(), 2, "config ACLs stay");
        let a = store.authorizer();
        assert!(!a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "online"));
        assert!(a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "cfg"));
    }

    #[test]
    fn an_edited_file_is_reloaded_and_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "");
        let store = AclStore::open(&cfg).unwrap();
        assert!(!store.reload_if_changed().unwrap());
        store.create(&[topic_acl("User:alice", "t", Operation::Read)]);
        assert!(!store.reload_if_changed().unwrap(), "our own write is not a change");
        let file = AclsFile {
            version: FILE_FORMAT_VERSION,
            acls: vec![topic_acl("User:alice", "a", Operation::Read), topic_acl("User:alice", "b", Operation::Read)],
        };
        let path = dir.path().join(ACLS_FILE);
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(store.reload_if_changed().unwrap());
        let a = store.authorizer();
        assert!(a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "b"));
        assert!(!a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "t"));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(store.reload_if_changed(), Err(AclStoreError::Corrupt { .. })));
        assert!(!store.reload_if_changed().unwrap(), "a bad file is reported once");
        assert!(store.authorizer().authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "b"), "kept");
        assert!(AclStore::open(&cfg).is_err(), "a corrupt file stops the start");
        std::fs::remove_file(&path).unwrap();
        assert!(store.reload_if_changed().unwrap());
        assert!(store.describe(&AclBindingFilter::any()).is_empty());
    }

    #[test]
    fn a_config_reload_swaps_config_acls_and_super_users() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(&config(dir.path(), CONFIG_ACL)).unwrap();
        store.apply_config(&config(dir.path(), "super_users: [\"User:root\"]\n")).unwrap();
        let a = store.authorizer();
        assert!(!a.authorize(&alice(), HOST, Operation::Read, ResourceType::Topic, "cfg"));
        assert!(a.authorize(&Principal::user("root"), HOST, Operation::Alter, ResourceType::Cluster, "kafka-cluster"));
        assert!(store.describe(&AclBindingFilter::any()).is_empty());
    }

    #[test]
    fn the_secure_example_config_means_what_it_says() {
        let config = Config::from_yaml(include_str!("../../config/secure.yaml"), std::iter::empty()).unwrap();
        let (settings, bindings) = from_config(&config).unwrap();
        let a = Authorizer::new(settings, &bindings);
        let (app, host) = (Principal::user("orders-app"), HOST);
        assert!(a.authorize(&app, host, Operation::Write, ResourceType::Topic, "orders.eu"));
        assert!(!a.authorize(&app, host, Operation::Write, ResourceType::Topic, "orders.payments.eu"), "deny wins");
        assert!(!a.authorize(&app, host, Operation::Write, ResourceType::Topic, "invoices"));
        assert!(a.authorize(&Principal::user("admin"), host, Operation::Write, ResourceType::Topic, "orders.payments"));
        let anon = Principal::anonymous();
        assert!(a.authorize(&anon, host, Operation::Describe, ResourceType::Cluster, "kafka-cluster"));
        let remote: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(!a.authorize(&anon, remote, Operation::Describe, ResourceType::Cluster, "kafka-cluster"));
    }

    #[test]
    fn without_an_authorizer_the_acl_apis_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "node_id: 1\ndata_dir: {}\nlisteners: [{{name: P, bind: 127.0.0.1:0}}]\nadmin: {{bind: 127.0.0.1:0}}\n",
            dir.path().display()
        );
        let store = AclStore::open(&Config::from_yaml(&yaml, std::iter::empty()).unwrap()).unwrap();
        let e = store.check_enabled().unwrap_err();
        assert_eq!(e.response_error(), ResponseError::SecurityDisabled);
        assert!(AclStore::open(&config(dir.path(), "")).unwrap().check_enabled().is_ok());
    }

    #[test]
    fn the_online_set_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(&config(dir.path(), "")).unwrap();
        {
            let mut s = store.state.write().unwrap();
            s.online = (0..ONLINE_ACLS_MAX).map(|i| topic_acl("User:x", &format!("t{i}"), Operation::Read)).collect();
        }
        let r = store.create(&[topic_acl("User:x", "one-more", Operation::Read)]);
        assert!(matches!(r[0], Err(AclStoreError::Full)));
        assert_eq!(r[0].as_ref().unwrap_err().response_error(), ResponseError::PolicyViolation);
    }
}
