//! The layer against a recording inner service: what reaches the backend and what
//! the client gets back, for each API family, with a fixed set of ACLs for
//! `User:alice`.

use super::*;
use crate::config::Config;
use crate::middleware::ConnInfo;
use kafka_protocol::messages::*;
use std::collections::HashMap;
use std::sync::Mutex;
use tower::ServiceExt;

const ACLS: &str = "
acls:
  - principal: User:alice
    resource: {type: topic, name: public}
    operations: [all]
    permission: allow
  - principal: User:alice
    resource: {type: topic, name: orders-, pattern: prefixed}
    operations: [read, write]
    permission: allow
  - principal: User:alice
    resource: {type: topic, name: readonly}
    operations: [read]
    permission: allow
  - principal: User:alice
    resource: {type: group, name: g-ok}
    operations: [read, describe, delete]
    permission: allow
  - principal: User:alice
    resource: {type: transactional_id, name: tx-ok}
    operations: [write, describe]
    permission: allow
";

const TOPIC: i16 = 29;
const GROUP: i16 = 30;
const CLUSTER: i16 = 31;
const TXN: i16 = 53;
const UNKNOWN_TOPIC_ID: i16 = 100;

fn id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

/// Topics the fake backend knows: name ↔ id.
struct FakeTopics {
    by_id: HashMap<Uuid, String>,
    auto_create: bool,
}

impl TopicDirectory for FakeTopics {
    fn topic_name(&self, id: Uuid) -> Option<String> {
        self.by_id.get(&id).cloned()
    }
    fn topic_exists(&self, name: &str) -> bool {
        self.by_id.values().any(|n| n == name)
    }
    fn auto_creates_topics(&self) -> bool {
        self.auto_create
    }
}

const EXISTING: [(&str, u8); 4] = [("public", 1), ("secret", 2), ("orders-1", 3), ("readonly", 4)];

/// The inner service: records what reaches it, answers with [`echo`].
#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<RequestKind>>>,
}

impl Service<Request> for Recorder {
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.seen.lock().unwrap().push(req.body.clone());
        let resp = echo(&req.body, req.api_version);
        Box::pin(async move { Ok(resp) })
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.into()))
}

fn group(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.into()))
}

/// A backend that succeeds at whatever reaches it.
fn echo(body: &RequestKind, version: i16) -> Response {
    use RequestKind as K;
    Some(match body {
        K::Produce(r) => {
            if r.acks == 0 {
                return None;
            }
            let topics = r.topic_data.iter().map(|t| {
                let parts = t
                    .partition_data
                    .iter()
                    .map(|p| produce_response::PartitionProduceResponse::default().with_index(p.index));
                produce_response::TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(parts.collect())
            });
            ResponseKind::Produce(ProduceResponse::default().with_responses(topics.collect()))
        }
        K::Fetch(r) => {
            let topics = r.topics.iter().map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| fetch_response::PartitionData::default().with_partition_index(p.partition));
                fetch_response::FetchableTopicResponse::default()
                    .with_topic(t.topic.clone())
                    .with_partitions(parts.collect())
            });
            ResponseKind::Fetch(FetchResponse::default().with_responses(topics.collect()))
        }
        K::Metadata(r) => {
            let names: Vec<String> = match &r.topics {
                None => EXISTING.iter().map(|(n, _)| n.to_string()).collect(),
                Some(ts) if ts.is_empty() && version == 0 => EXISTING.iter().map(|(n, _)| n.to_string()).collect(),
                Some(ts) => ts.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect(),
            };
            let topics = names
                .into_iter()
                .map(|n| metadata_response::MetadataResponseTopic::default().with_name(Some(name(&n))));
            ResponseKind::Metadata(MetadataResponse::default().with_topics(topics.collect()))
        }
        K::CreateTopics(r) => {
            let topics = r.topics.iter().map(|t| {
                create_topics_response::CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_num_partitions(1)
                    .with_replication_factor(1)
                    .with_configs(Some(vec![create_topics_response::CreatableTopicConfigs::default()]))
            });
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(topics.collect()))
        }
        K::DescribeCluster(_) => ResponseKind::DescribeCluster(DescribeClusterResponse::default()),
        K::InitProducerId(_) => {
            ResponseKind::InitProducerId(InitProducerIdResponse::default().with_producer_id(ProducerId(7)))
        }
        K::JoinGroup(_) => ResponseKind::JoinGroup(JoinGroupResponse::default().with_generation_id(1)),
        _ => return echo_more(body),
    })
}

/// [`echo`] for admin and group requests.
fn echo_more(body: &RequestKind) -> Response {
    use RequestKind as K;
    Some(match body {
        K::OffsetFetch(r) => {
            let groups = r.groups.iter().map(|g| {
                let names: Vec<String> = match &g.topics {
                    None => vec!["public".into(), "secret".into()],
                    Some(ts) => ts.iter().map(|t| t.name.to_string()).collect(),
                };
                let topics = names
                    .iter()
                    .map(|n| offset_fetch_response::OffsetFetchResponseTopics::default().with_name(name(n)));
                offset_fetch_response::OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics.collect())
            });
            ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_groups(groups.collect()))
        }
        K::ListGroups(_) => {
            let groups = ["g-ok", "g-no"].map(|g| list_groups_response::ListedGroup::default().with_group_id(group(g)));
            ResponseKind::ListGroups(ListGroupsResponse::default().with_groups(groups.into()))
        }
        K::DescribeGroups(r) => {
            let groups =
                r.groups.iter().map(|g| describe_groups_response::DescribedGroup::default().with_group_id(g.clone()));
            ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups.collect()))
        }
        K::DeleteTopics(r) => {
            let results = r
                .topics
                .iter()
                .map(|t| delete_topics_response::DeletableTopicResult::default().with_topic_id(t.topic_id));
            ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(results.collect()))
        }
        K::DescribeConfigs(r) => {
            let results = r.resources.iter().map(|res| {
                describe_configs_response::DescribeConfigsResult::default()
                    .with_resource_name(res.resource_name.clone())
            });
            ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results.collect()))
        }
        K::FindCoordinator(r) => {
            let cs = r
                .coordinator_keys
                .iter()
                .map(|k| find_coordinator_response::Coordinator::default().with_key(k.clone()));
            ResponseKind::FindCoordinator(FindCoordinatorResponse::default().with_coordinators(cs.collect()))
        }
        K::OffsetCommit(r) => {
            let topics = r.topics.iter().map(|t| {
                let parts = t.partitions.iter().map(|p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                });
                offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(parts.collect())
            });
            ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics.collect()))
        }
        _ => return None,
    })
}

struct Harness {
    security: Arc<Security>,
    topics: Arc<FakeTopics>,
    seen: Arc<Mutex<Vec<RequestKind>>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(extra: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "node_id: 1\ndata_dir: {}\nlisteners: [{{name: P, bind: 127.0.0.1:0}}]\nadmin: {{bind: 127.0.0.1:0}}\n{extra}",
            dir.path().display()
        );
        let config = Config::from_yaml(&yaml, std::iter::empty()).unwrap();
        let by_id = EXISTING.iter().map(|(n, i)| (id(*i), n.to_string())).collect();
        Harness {
            security: Arc::new(Security::open(&config, Arc::new(crate::metrics::Metrics::new(false))).unwrap()),
            topics: Arc::new(FakeTopics { by_id, auto_create: true }),
            seen: Arc::default(),
            _dir: dir,
        }
    }

    fn enforcing() -> Harness {
        Harness::new(&format!("authorizer: acl\n{ACLS}"))
    }

    fn check(&self, api: ApiKey, version: i16) -> Arc<Check> {
        self.check_audited(api, version, false)
    }

    fn check_audited(&self, api: ApiKey, version: i16, audit: bool) -> Arc<Check> {
        Arc::new(Check {
            authorizer: self.security.acls.authorizer(),
            principal: Arc::new(Principal::user("alice")),
            client: "10.1.2.3:5000".parse().unwrap(),
            api,
            version,
            audit,
            topics: self.topics.clone(),
        })
    }

    /// One request through the layer: the answer, and what reached the backend.
    async fn call(
        &self,
        api: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> (Result<Response, StackError>, Vec<RequestKind>) {
        self.seen.lock().unwrap().clear();
        let layer = AuthorizeLayer::new(self.security.clone(), self.topics.clone());
        let svc = layer.layer(Recorder { seen: self.seen.clone() });
        let req = Request {
            conn: Arc::new(ConnInfo::new(Arc::from("P"), "10.1.2.3:5000".parse().unwrap(), 1)),
            header: RequestHeader::default(),
            api_key: api,
            api_version: version,
            body,
            principal: Arc::new(Principal::user("alice")),
            received: std::time::Instant::now(),
        };
        let result = svc.oneshot(req).await;
        let seen = self.seen.lock().unwrap().clone();
        (result, seen)
    }
}

/// A request of each kind the layer must have a rule for.
fn sample(api: ApiKey) -> RequestKind {
    use RequestKind as K;
    match api {
        ApiKey::Produce => K::Produce(Default::default()),
        ApiKey::Fetch => K::Fetch(Default::default()),
        ApiKey::ListOffsets => K::ListOffsets(Default::default()),
        ApiKey::Metadata => K::Metadata(Default::default()),
        ApiKey::ApiVersions => K::ApiVersions(Default::default()),
        ApiKey::CreateTopics => K::CreateTopics(Default::default()),
        ApiKey::DeleteTopics => K::DeleteTopics(Default::default()),
        ApiKey::DescribeConfigs => K::DescribeConfigs(Default::default()),
        ApiKey::AlterConfigs => K::AlterConfigs(Default::default()),
        ApiKey::CreatePartitions => K::CreatePartitions(Default::default()),
        ApiKey::IncrementalAlterConfigs => K::IncrementalAlterConfigs(Default::default()),
        ApiKey::DescribeCluster => K::DescribeCluster(Default::default()),
        ApiKey::FindCoordinator => K::FindCoordinator(Default::default()),
        ApiKey::JoinGroup => K::JoinGroup(Default::default()),
        ApiKey::SyncGroup => K::SyncGroup(Default::default()),
        ApiKey::Heartbeat => K::Heartbeat(Default::default()),
        ApiKey::LeaveGroup => K::LeaveGroup(Default::default()),
        ApiKey::OffsetCommit => K::OffsetCommit(Default::default()),
        ApiKey::OffsetFetch => K::OffsetFetch(Default::default()),
        ApiKey::ListGroups => K::ListGroups(Default::default()),
        ApiKey::DescribeGroups => K::DescribeGroups(Default::default()),
        ApiKey::DeleteGroups => K::DeleteGroups(Default::default()),
        ApiKey::OffsetDelete => K::OffsetDelete(Default::default()),
        ApiKey::InitProducerId => K::InitProducerId(Default::default()),
        ApiKey::DescribeAcls => K::DescribeAcls(Default::default()),
        ApiKey::CreateAcls => K::CreateAcls(Default::default()),
        ApiKey::DeleteAcls => K::DeleteAcls(Default::default()),
        ApiKey::OffsetForLeaderEpoch => K::OffsetForLeaderEpoch(Default::default()),
        ApiKey::SaslHandshake => K::SaslHandshake(Default::default()),
        ApiKey::SaslAuthenticate => K::SaslAuthenticate(Default::default()),
        ApiKey::DescribeUserScramCredentials => K::DescribeUserScramCredentials(Default::default()),
        ApiKey::AlterUserScramCredentials => K::AlterUserScramCredentials(Default::default()),
        ApiKey::DescribeClientQuotas => K::DescribeClientQuotas(Default::default()),
        ApiKey::AlterClientQuotas => K::AlterClientQuotas(Default::default()),
        other => panic!("{other:?} is routed: give it a sample here and an authorization rule in `plan`"),
    }
}

#[test]
fn every_routed_api_has_a_rule() {
    let h = Harness::enforcing();
    let extra = [
        ApiKey::OffsetForLeaderEpoch,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
        ApiKey::DescribeUserScramCredentials,
        ApiKey::AlterUserScramCredentials,
    ];
    let apis = crate::router::ROUTES.iter().map(|&(k, _, max)| (k, max)).chain(extra.map(|k| (k, 0)));
    for (api, version) in apis {
        assert!(plan(&h.check(api, version), sample(api)).is_some(), "{api:?} has no authorization rule");
    }
    // and a kind without one is refused, not let through
    assert!(plan(&h.check(ApiKey::EndTxn, 0), RequestKind::EndTxn(Default::default())).is_none());
}

#[tokio::test]
async fn a_request_without_a_rule_closes_the_connection() {
    let h = Harness::enforcing();
    let (r, seen) = h.call(ApiKey::EndTxn, 0, RequestKind::EndTxn(Default::default())).await;
    assert!(matches!(r, Err(StackError::Denied(_))));
    assert!(seen.is_empty());
}

fn produce_req(acks: i16, topics: &[&str], txn: Option<&str>) -> RequestKind {
    let data = topics.iter().map(|t| {
        let parts = (0..2).map(|i| produce_request::PartitionProduceData::default().with_index(i)).collect();
        produce_request::TopicProduceData::default().with_name(name(t)).with_partition_data(parts)
    });
    let r = ProduceRequest::default().with_acks(acks).with_topic_data(data.collect());
    RequestKind::Produce(r.with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into())))))
}

fn produce_codes(r: Response) -> Vec<(String, i32, i16)> {
    let Some(ResponseKind::Produce(p)) = r else { panic!("not a produce response: {r:?}") };
    let mut out: Vec<_> = p
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter().map(|p| (t.name.to_string(), p.index, p.error_code)))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn produce_writes_allowed_topics_and_denies_the_rest() {
    let h = Harness::enforcing();
    let (r, seen) = h.call(ApiKey::Produce, 9, produce_req(-1, &["public", "secret", "orders-eu"], None)).await;
    let RequestKind::Produce(sent) = &seen[0] else { panic!() };
    let sent: Vec<_> = sent.topic_data.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(sent, ["public", "orders-eu"]);
    let codes = produce_codes(r.unwrap());
    assert_eq!(codes.iter().filter(|c| c.2 == TOPIC).count(), 2);
    assert!(codes.iter().filter(|c| c.0 == "secret").all(|c| c.2 == TOPIC));
    assert!(codes.iter().filter(|c| c.0 != "secret").all(|c| c.2 == 0));
    // entirely denied: answered without the backend
    let (r, seen) = h.call(ApiKey::Produce, 9, produce_req(1, &["secret", "readonly"], None)).await;
    assert!(seen.is_empty());
    assert!(produce_codes(r.unwrap()).iter().all(|c| c.2 == TOPIC));
}

#[tokio::test]
async fn acks_zero_produce_with_a_denial_closes_after_writing_the_rest() {
    let h = Harness::enforcing();
    let (r, seen) = h.call(ApiKey::Produce, 9, produce_req(0, &["public", "secret"], None)).await;
    assert!(matches!(r, Err(StackError::Denied(_))));
    assert_eq!(seen.len(), 1, "the authorized topic is still written");
    let (r, seen) = h.call(ApiKey::Produce, 9, produce_req(0, &["secret"], None)).await;
    assert!(matches!(r, Err(StackError::Denied(_))) && seen.is_empty());
    let (r, _) = h.call(ApiKey::Produce, 9, produce_req(0, &["public"], None)).await;
    assert!(r.unwrap().is_none());
}

#[tokio::test]
async fn transactional_produce_needs_write_on_the_transactional_id() {
    let h = Harness::enforcing();
    let (r, seen) = h.call(ApiKey::Produce, 9, produce_req(-1, &["public"], Some("tx-no"))).await;
    assert!(seen.is_empty());
    assert!(produce_codes(r.unwrap()).iter().all(|c| c.2 == TXN));
    let (r, seen) = h.call(ApiKey::Produce, 9, produce_req(-1, &["public"], Some("tx-ok"))).await;
    assert_eq!(seen.len(), 1);
    assert!(produce_codes(r.unwrap()).iter().all(|c| c.2 == 0));
}

fn fetch_req(topics: &[(&str, Uuid)], replica: i32) -> RequestKind {
    let ts = topics.iter().map(|(n, i)| {
        fetch_request::FetchTopic::default()
            .with_topic(name(n))
            .with_topic_id(*i)
            .with_partitions(vec![fetch_request::FetchPartition::default().with_partition(0)])
    });
    RequestKind::Fetch(FetchRequest::default().with_replica_id(BrokerId(replica)).with_topics(ts.collect()))
}

fn fetch_codes(r: Response) -> Vec<(String, i16)> {
    let Some(ResponseKind::Fetch(f)) = r else { panic!("not a fetch response") };
    let mut out: Vec<_> =
        f.responses.iter().flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), p.error_code))).collect();
    out.sort();
    out
}

#[tokio::test]
async fn fetch_needs_read_per_topic_and_cluster_action_for_replicas() {
    let h = Harness::enforcing();
    let (r, _) = h.call(ApiKey::Fetch, 12, fetch_req(&[("public", Uuid::nil()), ("secret", Uuid::nil())], -1)).await;
    assert_eq!(fetch_codes(r.unwrap()), [("public".into(), 0), ("secret".into(), TOPIC)]);
    // by id (v13+): the directory names the topic; unknown ids go on to the backend
    let (r, seen) = h.call(ApiKey::Fetch, 13, fetch_req(&[("", id(2)), ("", id(4)), ("", id(99))], -1)).await;
    let RequestKind::Fetch(sent) = &seen[0] else { panic!() };
    assert_eq!(sent.topics.iter().map(|t| t.topic_id).collect::<Vec<_>>(), [id(4), id(99)]);
    assert_eq!(fetch_codes(r.unwrap()).iter().filter(|c| c.1 == TOPIC).count(), 1);
    // a follower without CLUSTER_ACTION gets nothing, even from topics it may read
    let (r, seen) = h.call(ApiKey::Fetch, 12, fetch_req(&[("public", Uuid::nil())], 2)).await;
    assert!(seen.is_empty());
    assert_eq!(fetch_codes(r.unwrap()), [("public".into(), TOPIC)]);
}

fn metadata_req(topics: Option<&[&str]>) -> MetadataRequest {
    let ts = topics.map(|ts| {
        ts.iter().map(|t| metadata_request::MetadataRequestTopic::default().with_name(Some(name(t)))).collect()
    });
    MetadataRequest::default().with_topics(ts).with_allow_auto_topic_creation(true)
}

fn metadata_topics(r: Response) -> Vec<(String, i16, i32)> {
    let Some(ResponseKind::Metadata(m)) = r else { panic!("not a metadata response") };
    m.topics
        .iter()
        .map(|t| {
            (t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(), t.error_code, t.topic_authorized_operations)
        })
        .collect()
}

#[tokio::test]
async fn metadata_lists_only_describable_topics() {
    let h = Harness::enforcing();
    let (r, _) = h.call(ApiKey::Metadata, 12, RequestKind::Metadata(metadata_req(None))).await;
    let names: Vec<_> = metadata_topics(r.unwrap()).into_iter().map(|t| t.0).collect();
    assert_eq!(names, ["public", "orders-1", "readonly"], "secret is left out, silently");
    // v0: an empty list means every topic
    let (r, _) = h.call(ApiKey::Metadata, 0, RequestKind::Metadata(metadata_req(Some(&[])))).await;
    assert_eq!(metadata_topics(r.unwrap()).len(), 3);
}

#[tokio::test]
async fn metadata_denies_named_topics_and_unauthorized_auto_creation() {
    let h = Harness::enforcing();
    let req = metadata_req(Some(&["public", "secret", "orders-new", "brand-new"]));
    let (r, seen) = h.call(ApiKey::Metadata, 12, RequestKind::Metadata(req)).await;
    let RequestKind::Metadata(sent) = &seen[0] else { panic!() };
    let sent: Vec<_> = sent.topics.iter().flatten().map(|t| t.name.as_ref().unwrap().to_string()).collect();
    // orders-new: DESCRIBE (implied by READ) but no CREATE, and it does not exist
    assert_eq!(sent, ["public"]);
    let got = metadata_topics(r.unwrap());
    assert_eq!(got.iter().filter(|t| t.1 == TOPIC).count(), 3, "{got:?}");
    // without auto-creation a missing topic needs no CREATE: the backend says it is unknown
    let req = metadata_req(Some(&["orders-new"])).with_allow_auto_topic_creation(false);
    let (_, seen) = h.call(ApiKey::Metadata, 12, RequestKind::Metadata(req)).await;
    assert_eq!(seen.len(), 1);
    let RequestKind::Metadata(sent) = &seen[0] else { panic!() };
    assert_eq!(sent.topics.as_ref().unwrap().len(), 1);
    // v0 with every named topic denied must not turn into "all topics"
    let (r, _) = h.call(ApiKey::Metadata, 0, RequestKind::Metadata(metadata_req(Some(&["secret"])))).await;
    assert_eq!(metadata_topics(r.unwrap()), [("secret".into(), TOPIC, i32::MIN)]);
}

#[tokio::test]
async fn metadata_by_id_hides_nothing_but_denies() {
    let h = Harness::enforcing();
    let ids =
        [id(2), id(99)].map(|i| metadata_request::MetadataRequestTopic::default().with_topic_id(i).with_name(None));
    let req = MetadataRequest::default().with_topics(Some(ids.into()));
    let (r, seen) = h.call(ApiKey::Metadata, 12, RequestKind::Metadata(req)).await;
    let RequestKind::Metadata(sent) = &seen[0] else { panic!() };
    assert_eq!(sent.topics.as_ref().unwrap().len(), 1, "the unknown id goes on");
    let Some(ResponseKind::Metadata(m)) = r.unwrap() else { panic!() };
    let denied = m.topics.iter().find(|t| t.error_code == TOPIC).unwrap();
    assert_eq!((denied.topic_id, denied.name.clone()), (id(2), None));
}

#[tokio::test]
async fn metadata_fills_authorized_operations() {
    let h = Harness::enforcing();
    let req = metadata_req(None)
        .with_include_topic_authorized_operations(true)
        .with_include_cluster_authorized_operations(true);
    let (r, _) = h.call(ApiKey::Metadata, 10, RequestKind::Metadata(req)).await;
    let Some(ResponseKind::Metadata(m)) = r.unwrap() else { panic!() };
    let ops =
        |n: &str| m.topics.iter().find(|t| t.name.as_ref().unwrap().as_str() == n).unwrap().topic_authorized_operations;
    let bits = |ops: &[Operation]| ops.iter().fold(0, |b, o| b | o.bit());
    assert_eq!(ops("readonly"), bits(&[Operation::Read, Operation::Describe]));
    assert_eq!(ops("public"), bits(ResourceType::Topic.supported_operations()));
    assert_eq!(m.cluster_authorized_operations, 0);
    // without an authorizer, everything is authorized
    let open = Harness::new("");
    let req = metadata_req(None).with_include_topic_authorized_operations(true);
    let (r, _) = open.call(ApiKey::Metadata, 12, RequestKind::Metadata(req)).await;
    assert!(metadata_topics(r.unwrap()).iter().all(|t| t.2 == bits(ResourceType::Topic.supported_operations())));
}

#[tokio::test]
async fn created_topics_hide_their_configs_without_describe_configs() {
    let h = Harness::enforcing();
    let t = |n: &str| create_topics_request::CreatableTopic::default().with_name(name(n));
    let req = CreateTopicsRequest::default().with_topics(vec![t("public"), t("orders-x")]);
    let (r, seen) = h.call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req)).await;
    let RequestKind::CreateTopics(sent) = &seen[0] else { panic!() };
    assert_eq!(sent.topics.len(), 1, "orders-x: no CREATE");
    let Some(ResponseKind::CreateTopics(c)) = r.unwrap() else { panic!() };
    let public = c.topics.iter().find(|t| t.name.as_str() == "public").unwrap();
    assert_eq!((public.error_code, public.topic_config_error_code), (0, 0));
    assert!(public.configs.is_some());
    let denied = c.topics.iter().find(|t| t.name.as_str() == "orders-x").unwrap();
    assert_eq!(denied.error_code, TOPIC);
    // CREATE without DESCRIBE_CONFIGS: created, configs withheld
    let h = Harness::new(
        "authorizer: acl\nacls:\n  - principal: User:alice\n    resource: {type: cluster, name: kafka-cluster}\n    \
         operations: [create]\n    permission: allow\n",
    );
    let req = CreateTopicsRequest::default().with_topics(vec![t("any")]);
    let (r, _) = h.call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req)).await;
    let Some(ResponseKind::CreateTopics(c)) = r.unwrap() else { panic!() };
    assert_eq!((c.topics[0].error_code, c.topics[0].topic_config_error_code), (0, TOPIC));
    assert_eq!((c.topics[0].configs.clone(), c.topics[0].num_partitions), (None, -1));
}

#[tokio::test]
async fn delete_topics_by_id_does_not_reveal_hidden_topics() {
    let h = Harness::enforcing();
    let by_id = |i| delete_topics_request::DeleteTopicState::default().with_name(None).with_topic_id(i);
    let req = DeleteTopicsRequest::default().with_topics(vec![by_id(id(2)), by_id(id(4)), by_id(id(1))]);
    let (r, seen) = h.call(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(req)).await;
    let RequestKind::DeleteTopics(sent) = &seen[0] else { panic!() };
    assert_eq!(sent.topics.len(), 1, "only public (ALL) may be deleted");
    let Some(ResponseKind::DeleteTopics(d)) = r.unwrap() else { panic!() };
    let code = |i| d.responses.iter().find(|t| t.topic_id == i).unwrap().error_code;
    assert_eq!(code(id(2)), UNKNOWN_TOPIC_ID, "secret: not describable, so not revealed");
    assert_eq!(code(id(4)), TOPIC, "readonly: describable, not deletable");
}

#[tokio::test]
async fn configs_of_brokers_need_the_cluster() {
    let h = Harness::enforcing();
    let res = |t: i8, n: &str| {
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(StrBytes::from_string(n.into()))
    };
    let req = DescribeConfigsRequest::default().with_resources(vec![
        res(2, "public"),
        res(2, "readonly"),
        res(4, "1"),
        res(99, "x"),
    ]);
    let (r, seen) = h.call(ApiKey::DescribeConfigs, 4, RequestKind::DescribeConfigs(req)).await;
    let RequestKind::DescribeConfigs(sent) = &seen[0] else { panic!() };
    let sent: Vec<_> = sent.resources.iter().map(|r| r.resource_name.to_string()).collect();
    assert_eq!(sent, ["public", "x"], "unknown resource types are the backend's to refuse");
    let Some(ResponseKind::DescribeConfigs(d)) = r.unwrap() else { panic!() };
    let codes: Vec<_> = d.results.iter().map(|r| (r.resource_name.to_string(), r.error_code)).collect();
    assert_eq!(codes, [("public".into(), 0), ("x".into(), 0), ("readonly".into(), TOPIC), ("1".into(), CLUSTER)]);
}

#[tokio::test]
async fn group_membership_needs_read_on_the_group() {
    let h = Harness::enforcing();
    let join = |g| RequestKind::JoinGroup(JoinGroupRequest::default().with_group_id(group(g)));
    let (r, seen) = h.call(ApiKey::JoinGroup, 9, join("g-no")).await;
    assert!(seen.is_empty());
    let Some(ResponseKind::JoinGroup(j)) = r.unwrap() else { panic!() };
    assert_eq!((j.error_code, j.generation_id), (GROUP, -1));
    let (r, _) = h.call(ApiKey::JoinGroup, 9, join("g-ok")).await;
    let Some(ResponseKind::JoinGroup(j)) = r.unwrap() else { panic!() };
    assert_eq!((j.error_code, j.generation_id), (0, 1));
    let hb = RequestKind::Heartbeat(HeartbeatRequest::default().with_group_id(group("g-no")));
    let Some(ResponseKind::Heartbeat(b)) = h.call(ApiKey::Heartbeat, 4, hb).await.0.unwrap() else { panic!() };
    assert_eq!(b.error_code, GROUP);
}

#[tokio::test]
async fn offset_commit_needs_read_on_group_and_topics() {
    let h = Harness::enforcing();
    let commit = |g: &str| {
        let t = |n: &str| {
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(name(n))
                .with_partitions(vec![offset_commit_request::OffsetCommitRequestPartition::default()])
        };
        RequestKind::OffsetCommit(
            OffsetCommitRequest::default().with_group_id(group(g)).with_topics(vec![t("public"), t("secret")]),
        )
    };
    let codes = |r: Response| {
        let Some(ResponseKind::OffsetCommit(c)) = r else { panic!() };
        let mut v: Vec<_> = c.topics.iter().map(|t| (t.name.to_string(), t.partitions[0].error_code)).collect();
        v.sort();
        v
    };
    let (r, seen) = h.call(ApiKey::OffsetCommit, 9, commit("g-no")).await;
    assert!(seen.is_empty());
    assert_eq!(codes(r.unwrap()), [("public".into(), GROUP), ("secret".into(), GROUP)]);
    let (r, _) = h.call(ApiKey::OffsetCommit, 9, commit("g-ok")).await;
    assert_eq!(codes(r.unwrap()), [("public".into(), 0), ("secret".into(), TOPIC)]);
}

#[tokio::test]
async fn offset_fetch_filters_topics_and_groups() {
    let h = Harness::enforcing();
    let g = |id: &str, topics: Option<&[&str]>| {
        let ts = topics.map(|ts| {
            ts.iter().map(|t| offset_fetch_request::OffsetFetchRequestTopics::default().with_name(name(t))).collect()
        });
        offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group(id)).with_topics(ts)
    };
    let req = OffsetFetchRequest::default().with_groups(vec![g("g-ok", None), g("g-no", None)]);
    let (r, _) = h.call(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(req)).await;
    let Some(ResponseKind::OffsetFetch(f)) = r.unwrap() else { panic!() };
    let ok = f.groups.iter().find(|g| g.group_id.as_str() == "g-ok").unwrap();
    assert_eq!(ok.topics.iter().map(|t| t.name.to_string()).collect::<Vec<_>>(), ["public"], "secret left out");
    assert_eq!(f.groups.iter().find(|g| g.group_id.as_str() == "g-no").unwrap().error_code, GROUP);
    let req = OffsetFetchRequest::default().with_groups(vec![g("g-ok", Some(&["public", "secret"]))]);
    let (r, _) = h.call(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(req)).await;
    let Some(ResponseKind::OffsetFetch(f)) = r.unwrap() else { panic!() };
    let secret = f.groups[0].topics.iter().find(|t| t.name.as_str() == "secret").unwrap();
    assert!(secret.partitions.is_empty() || secret.partitions.iter().all(|p| p.error_code == TOPIC));
    // v1 has no top-level error: a denied group shows in every partition
    let t = offset_fetch_request::OffsetFetchRequestTopic::default()
        .with_name(name("public"))
        .with_partition_indexes(vec![0]);
    let req = OffsetFetchRequest::default().with_group_id(group("g-no")).with_topics(Some(vec![t]));
    let (r, _) = h.call(ApiKey::OffsetFetch, 1, RequestKind::OffsetFetch(req)).await;
    let Some(ResponseKind::OffsetFetch(f)) = r.unwrap() else { panic!() };
    assert_eq!((f.error_code, f.topics[0].partitions[0].error_code), (0, GROUP));
}

#[tokio::test]
async fn group_listing_and_description_follow_describe() {
    let h = Harness::enforcing();
    let (r, _) = h.call(ApiKey::ListGroups, 5, RequestKind::ListGroups(Default::default())).await;
    let Some(ResponseKind::ListGroups(l)) = r.unwrap() else { panic!() };
    assert_eq!(l.groups.iter().map(|g| g.group_id.to_string()).collect::<Vec<_>>(), ["g-ok"]);
    let req = DescribeGroupsRequest::default()
        .with_groups(vec![group("g-ok"), group("g-no")])
        .with_include_authorized_operations(true);
    let (r, _) = h.call(ApiKey::DescribeGroups, 5, RequestKind::DescribeGroups(req)).await;
    let Some(ResponseKind::DescribeGroups(d)) = r.unwrap() else { panic!() };
    let ok = d.groups.iter().find(|g| g.group_id.as_str() == "g-ok").unwrap();
    assert_eq!(ok.authorized_operations, ResourceType::Group.supported_operations().iter().fold(0, |b, o| b | o.bit()));
    let no = d.groups.iter().find(|g| g.group_id.as_str() == "g-no").unwrap();
    assert_eq!((no.error_code, no.authorized_operations), (GROUP, i32::MIN));
}

#[tokio::test]
async fn find_coordinator_needs_describe_per_key() {
    let h = Harness::enforcing();
    let keys = ["g-ok", "g-no"].map(|k| StrBytes::from_string(k.into()));
    let req = FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(keys.into());
    let (r, seen) = h.call(ApiKey::FindCoordinator, 4, RequestKind::FindCoordinator(req)).await;
    let RequestKind::FindCoordinator(sent) = &seen[0] else { panic!() };
    assert_eq!(sent.coordinator_keys.len(), 1);
    let Some(ResponseKind::FindCoordinator(f)) = r.unwrap() else { panic!() };
    assert_eq!(f.coordinators.iter().find(|c| c.key.as_str() == "g-no").unwrap().error_code, GROUP);
    let req = FindCoordinatorRequest::default().with_key_type(1).with_key(StrBytes::from_static_str("tx-no"));
    let (r, _) = h.call(ApiKey::FindCoordinator, 3, RequestKind::FindCoordinator(req)).await;
    let Some(ResponseKind::FindCoordinator(f)) = r.unwrap() else { panic!() };
    assert_eq!((f.error_code, f.node_id), (TXN, BrokerId(-1)));
}

#[tokio::test]
async fn init_producer_id_follows_kip_679() {
    let h = Harness::enforcing();
    let code = |r: Response| {
        let Some(ResponseKind::InitProducerId(i)) = r else { panic!() };
        i.error_code
    };
    // WRITE on some topic (orders-, public) is enough for an idempotent producer
    let idempotent = || RequestKind::InitProducerId(InitProducerIdRequest::default().with_transactional_id(None));
    let (r, _) = h.call(ApiKey::InitProducerId, 4, idempotent()).await;
    assert_eq!(code(r.unwrap()), 0);
    let txn = |t: &str| {
        InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(StrBytes::from_string(t.into()))))
    };
    let (r, _) = h.call(ApiKey::InitProducerId, 4, RequestKind::InitProducerId(txn("tx-no"))).await;
    assert_eq!(code(r.unwrap()), TXN);
    let none = Harness::new("authorizer: acl\n");
    let (r, seen) = none.call(ApiKey::InitProducerId, 4, idempotent()).await;
    assert_eq!(code(r.unwrap()), CLUSTER);
    assert!(seen.is_empty());
}

#[tokio::test]
async fn acl_admin_needs_the_cluster() {
    let h = Harness::enforcing();
    let req = CreateAclsRequest::default().with_creations(vec![Default::default(), Default::default()]);
    let (r, seen) = h.call(ApiKey::CreateAcls, 3, RequestKind::CreateAcls(req)).await;
    assert!(seen.is_empty());
    let Some(ResponseKind::CreateAcls(c)) = r.unwrap() else { panic!() };
    assert_eq!(c.results.iter().map(|r| r.error_code).collect::<Vec<_>>(), [CLUSTER, CLUSTER]);
    let (r, _) = h.call(ApiKey::DescribeAcls, 3, RequestKind::DescribeAcls(Default::default())).await;
    let Some(ResponseKind::DescribeAcls(d)) = r.unwrap() else { panic!() };
    assert_eq!(d.error_code, CLUSTER);
}

#[tokio::test]
async fn nothing_is_touched_without_an_authorizer() {
    let h = Harness::new("");
    let body = produce_req(-1, &["secret"], Some("tx-no"));
    let (r, seen) = h.call(ApiKey::Produce, 9, body.clone()).await;
    assert_eq!(seen, [body]);
    assert!(produce_codes(r.unwrap()).iter().all(|c| c.2 == 0));
}

/// Collects what `tracing` writes, for the audit line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn denials_are_audited_once_each() {
    let h = Harness::enforcing();
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // callsites other tests reached first cached "no subscriber": ask again
        tracing::callsite::rebuild_interest_cache();
        let c = h.check_audited(ApiKey::Produce, 9, true);
        let Decision::Forward(..) = plan(&c, produce_req(-1, &["public", "secret"], None)).unwrap() else { panic!() };
        // listing filters are not denials worth a line
        let Decision::Forward(_, Some(merge)) = plan(&c, RequestKind::Metadata(metadata_req(None))).unwrap() else {
            panic!()
        };
        merge(echo(&RequestKind::Metadata(metadata_req(None)), 12)).unwrap();
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<_> = text.lines().filter(|l| l.contains("gregor::audit")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    for part in ["User:alice", "10.1.2.3:5000", "WRITE", "TOPIC", "secret", "Produce"] {
        assert!(lines[0].contains(part), "{part} missing from {}", lines[0]);
    }
}
