//! The manager: config parsing, persistence, the config-wins rule, reloads, the
//! describe filter and the throttle counters.

use super::*;
use crate::config::Config;
use std::path::Path;

fn config(dir: &Path, extra: &str) -> Config {
    let yaml = format!(
        "node_id: 1\ndata_dir: {}\nlisteners: [{{name: P, bind: 127.0.0.1:0}}]\nadmin: {{bind: 127.0.0.1:0}}\n{extra}",
        dir.display()
    );
    Config::from_yaml(&yaml, std::iter::empty()).unwrap()
}

fn config_err(extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "node_id: 1\ndata_dir: {}\nlisteners: [{{name: P, bind: 127.0.0.1:0}}]\nadmin: {{bind: 127.0.0.1:0}}\n{extra}",
        dir.path().display()
    );
    Config::from_yaml(&yaml, std::iter::empty()).unwrap_err().to_string()
}

const CONFIG_QUOTAS: &str = "quotas:\n  - { user: alice, producer_byte_rate: 1000 }\n  - { user: <default>, client_id: <default>, consumer_byte_rate: 2000, request_percentage: 50 }\n";

fn named(s: &str) -> Option<EntityName> {
    Some(EntityName::Named(s.into()))
}

fn ent(user: Option<EntityName>, client_id: Option<EntityName>) -> QuotaEntity {
    QuotaEntity { user, client_id }
}

fn set(entity: QuotaEntity, t: QuotaType, v: f64) -> Alteration {
    Alteration { entity, ops: vec![(t, Some(v))] }
}

#[test]
fn config_quotas_parse_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let m = QuotaManager::open(&config(dir.path(), CONFIG_QUOTAS)).unwrap();
    let all = m.describe(&[], false);
    assert_eq!(all.len(), 2);
    let d = ent(Some(EntityName::Default), Some(EntityName::Default));
    let (_, v) = all.iter().find(|(e, _)| *e == d).unwrap();
    assert_eq!(v.get(QuotaType::Fetch), Some(2000.0));
    assert_eq!(v.get(QuotaType::Request), Some(50.0));
    assert_eq!(m.window(), WindowConfig::DEFAULT);
}

#[test]
fn bad_config_quotas_name_their_key() {
    let e = config_err("quotas:\n  - { user: a, producer_byte_ratee: 1 }\n");
    assert!(e.contains("quotas[0]") && e.contains("producer_byte_ratee"), "{e}");
    let e = config_err("quotas:\n  - { producer_byte_rate: 1 }\n");
    assert!(e.contains("`quotas[0]`") && e.contains("user, client_id"), "{e}");
    let e = config_err("quotas:\n  - { user: a }\n");
    assert!(e.contains("`quotas[0]`") && e.contains("set producer_byte_rate"), "{e}");
    let e = config_err("quotas:\n  - { user: a, request_percentage: 0 }\n");
    assert!(e.contains("quotas[0].request_percentage") && e.contains("greater than 0"), "{e}");
    let e = config_err("quotas:\n  - { user: a, producer_byte_rate: -5 }\n");
    assert!(e.contains("quotas[0].producer_byte_rate"), "{e}");
    let e = config_err("quotas:\n  - { user: a, producer_byte_rate: 1 }\n  - { user: a, consumer_byte_rate: 1 }\n");
    assert!(e.contains("`quotas[1]`") && e.contains("twice"), "{e}");
    let e = config_err("quotas:\n  - { client_id: \"\", producer_byte_rate: 1 }\n");
    assert!(e.contains("quotas[0].client_id") && e.contains("Empty"), "{e}");
    let e = config_err("broker:\n  quota.window.num: 0\n");
    assert!(e.contains("broker.quota.window.num"), "{e}");
}

#[test]
fn online_quotas_persist_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), CONFIG_QUOTAS);
    let m = QuotaManager::open(&cfg).unwrap();
    let bob_app = ent(named("bob"), named("app"));
    let r = m.alter(
        &[
            set(bob_app.clone(), QuotaType::Produce, 4096.0),
            set(ent(None, Some(EntityName::Default)), QuotaType::Request, 12.5),
        ],
        false,
    );
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    let file = dir.path().join(store::QUOTAS_FILE);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("bob") && !text.contains("alice"), "only online quotas are in the file: {text}");
    assert!(!dir.path().join("gregor-quotas.json.tmp").exists());
    drop(m);
    let m = QuotaManager::open(&cfg).unwrap();
    assert_eq!(m.describe(&[], false).len(), 4);
    let who = Client { user: "bob", client_id: "app" };
    assert_eq!(m.resolver().resolve(QuotaType::Produce, who).unwrap().bound, 4096.0);
    // removing the only key removes the entity
    let r = m.alter(&[Alteration { entity: bob_app.clone(), ops: vec![(QuotaType::Produce, None)] }], false);
    assert!(r[0].is_ok());
    assert!(m.describe(&[("user".into(), MatchName::Exact("bob".into()))], false).is_empty());
}

#[test]
fn validate_only_changes_nothing_and_errors_are_kafkas() {
    let dir = tempfile::tempdir().unwrap();
    let m = QuotaManager::open(&config(dir.path(), "")).unwrap();
    let r = m.alter(&[set(ent(named("x"), None), QuotaType::Produce, 10.0)], true);
    assert!(r[0].is_ok());
    assert!(m.describe(&[], false).is_empty());
    assert!(!dir.path().join(store::QUOTAS_FILE).exists());
    let r = m.alter(&[set(ent(named("x"), None), QuotaType::Produce, 1.5)], false);
    assert_eq!(r[0].as_ref().unwrap_err().response_error(), ResponseError::InvalidRequest);
    let r = m.alter(&[set(ent(named("x"), None), QuotaType::Request, -1.0)], false);
    assert_eq!(r[0].as_ref().unwrap_err().response_error(), ResponseError::InvalidRequest);
    assert!(op_from_wire("nonsense", 1.0, false).is_err());
    assert!(op_from_wire("request_percentage", 0.5, false).is_ok());
    assert_eq!(op_from_wire("producer_byte_rate", 0.0, true).unwrap(), (QuotaType::Produce, None));
    assert!(entity_from_wire(&[]).is_err());
    assert!(entity_from_wire(&[("ip".into(), None)]).is_err());
    assert!(entity_from_wire(&[("group".into(), Some("g".into()))]).is_err());
    assert!(entity_from_wire(&[("user".into(), Some("a".into())), ("user".into(), Some("b".into()))]).is_err());
    assert!(entity_from_wire(&[("user".into(), Some("".into()))]).is_err());
    let e = entity_from_wire(&[("client-id".into(), None), ("user".into(), Some("a".into()))]).unwrap();
    assert_eq!(e, ent(named("a"), Some(EntityName::Default)));
}

#[test]
fn config_values_win_and_cannot_be_altered() {
    let dir = tempfile::tempdir().unwrap();
    let m = QuotaManager::open(&config(dir.path(), CONFIG_QUOTAS)).unwrap();
    let alice = ent(named("alice"), None);
    let r = m.alter(&[set(alice.clone(), QuotaType::Produce, 5.0)], false);
    let e = r[0].as_ref().unwrap_err();
    assert_eq!(e.response_error(), ResponseError::InvalidRequest);
    assert!(e.to_string().contains("config file"), "{e}");
    // another key of the same entity can be set online
    assert!(m.alter(&[set(alice.clone(), QuotaType::Fetch, 7.0)], false)[0].is_ok());
    let who = Client { user: "alice", client_id: "c" };
    assert_eq!(m.resolver().resolve(QuotaType::Produce, who).unwrap().bound, 1000.0);
    assert_eq!(m.resolver().resolve(QuotaType::Fetch, who).unwrap().bound, 7.0);
    // a reloaded config that sets the key shadows the file's value; dropping it unshadows
    let q = |yaml: &str| config(dir.path(), yaml).quotas;
    m.apply_config(&q("quotas:\n  - { user: alice, consumer_byte_rate: 99 }\n")).unwrap();
    assert_eq!(m.resolver().resolve(QuotaType::Fetch, who).unwrap().bound, 99.0);
    assert!(m.resolver().resolve(QuotaType::Produce, who).is_none(), "the old config value is gone");
    m.apply_config(&[]).unwrap();
    assert_eq!(m.resolver().resolve(QuotaType::Fetch, who).unwrap().bound, 7.0);
}

#[test]
fn an_edited_file_is_reloaded_and_a_corrupt_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let m = QuotaManager::open(&cfg).unwrap();
    assert!(!m.reload_if_changed().unwrap());
    m.alter(&[set(ent(named("a"), None), QuotaType::Produce, 10.0)], false);
    assert!(!m.reload_if_changed().unwrap(), "our own write is not a change");
    let path = dir.path().join(store::QUOTAS_FILE);
    let edited = r#"{"version":1,"entries":[{"entity":{"user":null,"client_id":{"named":"c"}},"values":{"consumer_byte_rate":5.0}}]}"#;
    std::fs::write(&path, edited).unwrap();
    assert!(m.reload_if_changed().unwrap());
    let all = m.describe(&[], false);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, ent(None, named("c")));
    std::fs::write(&path, b"{not json").unwrap();
    assert!(matches!(m.reload_if_changed(), Err(QuotaError::Corrupt { .. })));
    assert!(!m.reload_if_changed().unwrap(), "a bad file is reported once");
    assert_eq!(m.describe(&[], false).len(), 1, "kept");
    assert!(QuotaManager::open(&cfg).is_err(), "a corrupt file stops the start");
    std::fs::remove_file(&path).unwrap();
    assert!(m.reload_if_changed().unwrap());
    assert!(m.describe(&[], false).is_empty());
}

#[test]
fn describe_filters_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let m = QuotaManager::open(&config(dir.path(), "")).unwrap();
    let d = || Some(EntityName::Default);
    let all =
        [ent(named("a"), None), ent(named("a"), named("c")), ent(d(), None), ent(None, named("c")), ent(d(), d())];
    let alts: Vec<Alteration> = all.iter().map(|e| set(e.clone(), QuotaType::Produce, 1.0)).collect();
    assert!(m.alter(&alts, false).iter().all(Result::is_ok));
    let count = |f: Vec<(&str, MatchName)>, strict: bool| {
        let f: Vec<(String, MatchName)> = f.into_iter().map(|(k, m)| (k.to_string(), m)).collect();
        m.describe(&f, strict).len()
    };
    use MatchName::*;
    assert_eq!(count(vec![], false), 5);
    assert_eq!(count(vec![], true), 0);
    assert_eq!(count(vec![("user", Exact("a".into()))], false), 2);
    assert_eq!(count(vec![("user", Exact("a".into()))], true), 1);
    assert_eq!(count(vec![("user", Default)], false), 2);
    assert_eq!(count(vec![("user", Any)], false), 4, "any includes the default");
    assert_eq!(count(vec![("user", Any)], true), 2);
    assert_eq!(count(vec![("user", Any), ("client-id", Any)], true), 2);
    assert_eq!(count(vec![("client-id", Exact("c".into()))], true), 1);
    assert_eq!(count(vec![("ip", Any)], false), 0);
    // wire validation
    let w = |v: Vec<(&str, i8, Option<&str>)>| {
        filter_from_wire(&v.into_iter().map(|(a, b, c)| (a.to_string(), b, c.map(String::from))).collect::<Vec<_>>())
    };
    assert!(w(vec![("user", 0, Some("a")), ("client-id", 2, None)]).is_ok());
    let code = |r: Result<Vec<(String, MatchName)>, QuotaError>| r.unwrap_err().response_error();
    assert_eq!(code(w(vec![("user", 0, None)])), ResponseError::InvalidRequest);
    assert_eq!(code(w(vec![("user", 1, Some("a"))])), ResponseError::InvalidRequest);
    assert_eq!(code(w(vec![("user", 2, Some("a"))])), ResponseError::InvalidRequest);
    assert_eq!(code(w(vec![("user", 7, None)])), ResponseError::InvalidRequest);
    assert_eq!(code(w(vec![("user", 2, None), ("user", 1, None)])), ResponseError::InvalidRequest);
    assert_eq!(code(w(vec![("ip", 2, None), ("user", 1, None)])), ResponseError::InvalidRequest);
    assert_eq!(code(w(vec![("group", 2, None)])), ResponseError::UnsupportedVersion);
}

#[test]
fn recording_throttles_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let m = QuotaManager::open(&config(
        dir.path(),
        "quotas:\n  - { client_id: app, producer_byte_rate: 100, request_percentage: 1 }\n",
    ))
    .unwrap();
    let r = m.resolver();
    let app = Client { user: "u1", client_id: "app" };
    let other = Client { user: "u1", client_id: "other" };
    assert_eq!(m.record(&r, QuotaType::Produce, app, 1_000.0, 0), 0, "1000 B over 10 s is the bound");
    let t = m.record(&r, QuotaType::Produce, app, 1_000.0, 0);
    assert_eq!(t, 10_000);
    assert_eq!(m.record(&r, QuotaType::Produce, other, 1e9, 0), 0, "not limited");
    // 1 s of handler time against 1 %: capped at one window
    assert_eq!(m.record(&r, QuotaType::Request, app, 100.0, 0), 1_000);
    // a user with the same client-id shares the client-id level's rate
    let u2 = Client { user: "u2", client_id: "app" };
    assert!(m.record(&r, QuotaType::Produce, u2, 1.0, 0) > 0);
    m.note_throttle(&r, QuotaType::Produce, app, t);
    m.note_throttle(&r, QuotaType::Produce, u2, 5);
    let snap = m.throttle_snapshot();
    assert_eq!(
        snap,
        vec![ThrottleSample {
            quota_type: "produce",
            user: String::new(),
            client_id: "app".into(),
            throttle_time_ms_total: 10_005,
            throttled_responses_total: 2
        }]
    );
    assert_eq!(m.fetch_bytes_max(&r, app), None);
}

#[test]
fn in_a_cluster_quotas_go_through_the_metadata_log_key_by_key() {
    let log = Arc::new(crate::cluster::access::LocalLog::default());
    let cluster = "cluster:\n  voters: [\"1@127.0.0.1:19093\"]\n";
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = QuotaManager::open(&config(dir_a.path(), &format!("{CONFIG_QUOTAS}{cluster}"))).unwrap();
    let b = QuotaManager::open(&config(dir_b.path(), &format!("{CONFIG_QUOTAS}{cluster}"))).unwrap();
    a.attach(log.clone());
    b.attach(log.clone());
    let bob = ent(named("bob"), None);
    // two nodes change different keys of one entity: both changes hold
    assert!(a.alter(&[set(bob.clone(), QuotaType::Produce, 100.0)], false)[0].is_ok());
    assert!(b.alter(&[set(bob.clone(), QuotaType::Fetch, 200.0)], false)[0].is_ok());
    a.sync(&log.image());
    for m in [&a, &b] {
        let (_, v) = m.describe(&[], false).into_iter().find(|(e, _)| *e == bob).unwrap();
        assert_eq!((v.get(QuotaType::Produce), v.get(QuotaType::Fetch)), (Some(100.0), Some(200.0)));
    }
    // the config-wins rule is checked before proposing, and validate_only proposes nothing
    let r = a.alter(&[set(ent(named("alice"), None), QuotaType::Produce, 5.0)], false);
    assert!(matches!(&r[0], Err(e) if e.to_string().contains("config file")), "{r:?}");
    let before = log.image().version;
    assert!(a.alter(&[set(bob.clone(), QuotaType::Request, 10.0)], true)[0].is_ok());
    assert_eq!(log.image().version, before);
    b.alter(
        &[Alteration { entity: bob.clone(), ops: vec![(QuotaType::Produce, None), (QuotaType::Fetch, None)] }],
        false,
    );
    a.sync(&log.image());
    assert!(a.describe(&[], false).iter().all(|(e, _)| *e != bob), "removed on every node");
    assert!(!dir_a.path().join(store::QUOTAS_FILE).exists());
}
