//! Virtual clusters: one tenant's topic names, group ids and transactional ids, mapped under its
//! prefix on the upstream cluster in requests and back out of responses.
//!
//! The tenant sees `orders`; the upstream stores `tenant-a.orders`. Requests gain the prefix;
//! responses lose it, and an entry whose upstream name lies outside the prefix is dropped rather
//! than shown, so no answer reveals another tenant's resources or Kafka's internal topics.
//!
//! Rules that hold across every API:
//! - Requests are rewritten without knowing their version, so only fields that version populates
//!   change: the codec refuses to encode a field its version lacks, and an empty topic name is how
//!   id-addressed entries (Produce/Fetch v13, OffsetCommit v10, DeleteTopics v6, ...) leave it out.
//! - Group and transactional ids are prefixed even when empty: Kafka accepts the empty group for
//!   offset commits and fetches, and it must not become a group every tenant shares.
//! - Topic ids pass through both ways. A tenant learns ids only from its own, filtered, Metadata,
//!   but this module cannot tell whose topic an id names: confining ids needs an id → name map
//!   the caller keeps.
//! - Consumer-protocol bytes (JoinGroup metadata, SyncGroup assignments) stay opaque: the
//!   tenant's members encode unprefixed names among themselves and the broker never reads them.
//! - An API [`Tenant::covers`] does not know is left untouched, so the proxy must refuse it
//!   rather than forward it.

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, FetchRequest, MetadataRequest, OffsetFetchRequest, OffsetFetchResponse,
    ProduceRequest, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

/// Longest accepted prefix, separator included: leaves 185 of Kafka's 249 topic-name bytes to the tenant.
pub const PREFIX_BYTES_MAX: usize = 64;

/// Separators a prefix may end in; any other ending gets `.` appended, so that the tenant
/// `tenant-a` can never claim `tenant-ab.x`.
const SEPARATORS: [char; 3] = ['.', '_', '-'];

/// `ConfigResource.Type` values naming a tenant's resource. Brokers (4), broker loggers (8) and
/// client-metrics subscriptions (16) are cluster-wide and pass through.
const CONFIG_TOPIC: i8 = 2;
const CONFIG_GROUP: i8 = 32;

/// FindCoordinator key types whose keys are tenant names.
const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("a tenant prefix must not be empty")]
    EmptyPrefix,
    #[error("tenant prefix '{prefix}' has '{character}'; Kafka names allow only ASCII letters, digits, '.', '_', '-'")]
    IllegalCharacter { prefix: String, character: char },
    #[error("tenant prefix '{prefix}' is {prefix_bytes} bytes with its separator; at most {PREFIX_BYTES_MAX}")]
    TooLong { prefix: String, prefix_bytes: usize },
}

/// One tenant's view of the upstream: everything it names lives under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Prepended to every name the tenant uses; always ends in one of [`SEPARATORS`].
    prefix: String,
}

impl Tenant {
    /// # Panics
    /// When the prefix is invalid (see [`Tenant::try_new`]); configuration input goes through `try_new`.
    pub fn new(prefix: impl Into<String>) -> Tenant {
        Tenant::try_new(prefix).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tenant under `prefix`, with `.` appended unless it already ends in `.`, `_` or `-`.
    pub fn try_new(prefix: impl Into<String>) -> Result<Tenant, TenantError> {
        let mut prefix = prefix.into();
        if prefix.is_empty() {
            return Err(TenantError::EmptyPrefix);
        }
        if let Some(character) = prefix.chars().find(|c| !c.is_ascii_alphanumeric() && !SEPARATORS.contains(c)) {
            return Err(TenantError::IllegalCharacter { prefix, character });
        }
        if !prefix.ends_with(SEPARATORS) {
            prefix.push('.');
        }
        if prefix.len() > PREFIX_BYTES_MAX {
            let prefix_bytes = prefix.len();
            return Err(TenantError::TooLong { prefix, prefix_bytes });
        }
        Ok(Tenant { prefix })
    }

    /// The prefix with its separator (`tenant-a.`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The upstream name of a tenant-visible name (`orders` → `tenant-a.orders`).
    pub fn upstream_name(&self, name: &str) -> String {
        let mut upstream = String::with_capacity(self.prefix.len() + name.len());
        upstream.push_str(&self.prefix);
        upstream.push_str(name);
        upstream
    }

    /// The tenant-visible name of an upstream name, or None when it belongs to nobody/another tenant.
    pub fn client_name<'a>(&self, upstream: &'a str) -> Option<&'a str> {
        upstream.strip_prefix(self.prefix.as_str())
    }

    /// Whether either tenant could see the other's names; configuration must reject such a pair.
    pub fn overlaps(&self, other: &Tenant) -> bool {
        self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix)
    }

    /// Whether this module knows how to rewrite `api` (a test asserts every forwarded API is covered).
    pub fn covers(api: ApiKey) -> bool {
        use ApiKey::*;
        matches!(
            api,
            Produce
                | Fetch
                | ListOffsets
                | Metadata
                | CreateTopics
                | DeleteTopics
                | DescribeConfigs
                | AlterConfigs
                | IncrementalAlterConfigs
                | CreatePartitions
                | DescribeCluster
                | FindCoordinator
                | JoinGroup
                | SyncGroup
                | Heartbeat
                | LeaveGroup
                | OffsetCommit
                | OffsetFetch
                | ListGroups
                | DescribeGroups
                | DeleteGroups
                | OffsetDelete
                | InitProducerId
        )
    }

    /// Rewrites every topic name, group id and transactional id in a request from the
    /// tenant's names to upstream names (in place).
    pub fn request_to_upstream(&self, body: &mut RequestKind) {
        match body {
            RequestKind::Produce(r) => self.produce_request(r),
            RequestKind::Fetch(r) => self.fetch_request(r),
            RequestKind::ListOffsets(r) => r.topics.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.name.0)),
            RequestKind::Metadata(r) => self.metadata_request(r),
            RequestKind::CreateTopics(r) => r.topics.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.name.0)),
            RequestKind::DeleteTopics(r) => self.delete_topics_request(r),
            RequestKind::DescribeConfigs(r) => {
                r.resources.iter_mut().for_each(|c| self.config_to_upstream(c.resource_type, &mut c.resource_name))
            }
            RequestKind::AlterConfigs(r) => {
                r.resources.iter_mut().for_each(|c| self.config_to_upstream(c.resource_type, &mut c.resource_name))
            }
            RequestKind::IncrementalAlterConfigs(r) => {
                r.resources.iter_mut().for_each(|c| self.config_to_upstream(c.resource_type, &mut c.resource_name))
            }
            RequestKind::CreatePartitions(r) => r.topics.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.name.0)),
            RequestKind::FindCoordinator(r) => self.find_coordinator_request(r),
            RequestKind::JoinGroup(r) => self.id_to_upstream(&mut r.group_id.0),
            RequestKind::SyncGroup(r) => self.id_to_upstream(&mut r.group_id.0),
            RequestKind::Heartbeat(r) => self.id_to_upstream(&mut r.group_id.0),
            RequestKind::LeaveGroup(r) => self.id_to_upstream(&mut r.group_id.0),
            RequestKind::OffsetCommit(r) => {
                self.id_to_upstream(&mut r.group_id.0);
                r.topics.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.name.0));
            }
            RequestKind::OffsetFetch(r) => self.offset_fetch_request(r),
            RequestKind::DescribeGroups(r) => r.groups.iter_mut().for_each(|g| self.id_to_upstream(&mut g.0)),
            RequestKind::DeleteGroups(r) => r.groups_names.iter_mut().for_each(|g| self.id_to_upstream(&mut g.0)),
            RequestKind::OffsetDelete(r) => {
                self.id_to_upstream(&mut r.group_id.0);
                r.topics.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.name.0));
            }
            RequestKind::InitProducerId(r) => {
                r.transactional_id.iter_mut().for_each(|id| self.id_to_upstream(&mut id.0))
            }
            // DescribeCluster and ListGroups name nothing; the rest are not covered.
            _ => {}
        }
    }

    /// Rewrites a response back: strips the prefix from names, and removes entries
    /// (topics in Metadata, groups in ListGroups, ...) outside the tenant's prefix.
    pub fn response_to_client(&self, body: &mut ResponseKind) {
        match body {
            ResponseKind::Produce(r) => r.responses.retain_mut(|t| self.topic_to_client(&mut t.name.0)),
            ResponseKind::Fetch(r) => r.responses.retain_mut(|t| self.topic_to_client(&mut t.topic.0)),
            ResponseKind::ListOffsets(r) => r.topics.retain_mut(|t| self.topic_to_client(&mut t.name.0)),
            ResponseKind::Metadata(r) => r.topics.retain_mut(|t| self.metadata_topic_to_client(t)),
            ResponseKind::CreateTopics(r) => r.topics.retain_mut(|t| self.topic_to_client(&mut t.name.0)),
            ResponseKind::DeleteTopics(r) => {
                r.responses.retain_mut(|t| t.name.as_mut().is_none_or(|n| self.topic_to_client(&mut n.0)))
            }
            ResponseKind::DescribeConfigs(r) => {
                r.results.retain_mut(|c| self.config_to_client(c.resource_type, &mut c.resource_name))
            }
            ResponseKind::AlterConfigs(r) => {
                r.responses.retain_mut(|c| self.config_to_client(c.resource_type, &mut c.resource_name))
            }
            ResponseKind::IncrementalAlterConfigs(r) => {
                r.responses.retain_mut(|c| self.config_to_client(c.resource_type, &mut c.resource_name))
            }
            ResponseKind::CreatePartitions(r) => r.results.retain_mut(|t| self.topic_to_client(&mut t.name.0)),
            // Only v4+ names its coordinators; an unprefixed key was not asked for by this tenant.
            ResponseKind::FindCoordinator(r) => r.coordinators.retain_mut(|c| self.id_to_client(&mut c.key)),
            ResponseKind::OffsetCommit(r) => r.topics.retain_mut(|t| self.topic_to_client(&mut t.name.0)),
            ResponseKind::OffsetFetch(r) => self.offset_fetch_response(r),
            ResponseKind::ListGroups(r) => r.groups.retain_mut(|g| self.id_to_client(&mut g.group_id.0)),
            ResponseKind::DescribeGroups(r) => r.groups.retain_mut(|g| self.id_to_client(&mut g.group_id.0)),
            ResponseKind::DeleteGroups(r) => r.results.retain_mut(|g| self.id_to_client(&mut g.group_id.0)),
            ResponseKind::OffsetDelete(r) => r.topics.retain_mut(|t| self.topic_to_client(&mut t.name.0)),
            _ => {}
        }
    }

    fn produce_request(&self, r: &mut ProduceRequest) {
        r.transactional_id.iter_mut().for_each(|id| self.id_to_upstream(&mut id.0));
        r.topic_data.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.name.0));
    }

    fn fetch_request(&self, r: &mut FetchRequest) {
        r.topics.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.topic.0));
        r.forgotten_topics_data.iter_mut().for_each(|t| self.topic_to_upstream(&mut t.topic.0));
    }

    /// A null topic list asks for every topic; the response filter keeps only the tenant's.
    fn metadata_request(&self, r: &mut MetadataRequest) {
        let named = r.topics.iter_mut().flatten().filter_map(|t| t.name.as_mut());
        named.for_each(|n| self.topic_to_upstream(&mut n.0));
    }

    /// v0-5 list names; v6 lists entries with a name or an id.
    fn delete_topics_request(&self, r: &mut DeleteTopicsRequest) {
        r.topic_names.iter_mut().for_each(|n| self.topic_to_upstream(&mut n.0));
        let named = r.topics.iter_mut().filter_map(|t| t.name.as_mut());
        named.for_each(|n| self.topic_to_upstream(&mut n.0));
    }

    fn find_coordinator_request(&self, r: &mut FindCoordinatorRequest) {
        if r.key_type != KEY_GROUP && r.key_type != KEY_TRANSACTION {
            return;
        }
        // v4+ batches its keys and must leave `key` empty; v0-3 carries the one key
        if r.coordinator_keys.is_empty() {
            self.id_to_upstream(&mut r.key);
        }
        r.coordinator_keys.iter_mut().for_each(|k| self.id_to_upstream(k));
    }

    fn offset_fetch_request(&self, r: &mut OffsetFetchRequest) {
        // v8+ names its groups in `groups` and must leave `group_id` empty; v0-7 carries the one group
        if r.groups.is_empty() {
            self.id_to_upstream(&mut r.group_id.0);
            r.topics.iter_mut().flatten().for_each(|t| self.topic_to_upstream(&mut t.name.0));
        }
        for g in &mut r.groups {
            self.id_to_upstream(&mut g.group_id.0);
            g.topics.iter_mut().flatten().for_each(|t| self.topic_to_upstream(&mut t.name.0));
        }
    }

    fn offset_fetch_response(&self, r: &mut OffsetFetchResponse) {
        r.topics.retain_mut(|t| self.topic_to_client(&mut t.name.0));
        r.groups.retain_mut(|g| {
            g.topics.retain_mut(|t| self.topic_to_client(&mut t.name.0));
            self.id_to_client(&mut g.group_id.0)
        });
    }

    /// Kafka names every topic it found, so a null name answers a failed lookup by id and is kept
    /// with its error; a null-named success could be anyone's and is dropped.
    fn metadata_topic_to_client(&self, t: &mut MetadataResponseTopic) -> bool {
        match t.name.as_mut() {
            Some(n) if !n.is_empty() => self.id_to_client(&mut n.0),
            _ => t.error_code != 0,
        }
    }

    fn config_to_upstream(&self, resource_type: i8, name: &mut StrBytes) {
        match resource_type {
            CONFIG_TOPIC => self.topic_to_upstream(name),
            CONFIG_GROUP => self.id_to_upstream(name),
            _ => {}
        }
    }

    fn config_to_client(&self, resource_type: i8, name: &mut StrBytes) -> bool {
        match resource_type {
            CONFIG_TOPIC => self.topic_to_client(name),
            CONFIG_GROUP => self.id_to_client(name),
            _ => true,
        }
    }

    /// An empty topic name is an absent field (the entry is addressed by id), and stays absent.
    fn topic_to_upstream(&self, name: &mut StrBytes) {
        if !name.is_empty() {
            self.id_to_upstream(name);
        }
    }

    fn id_to_upstream(&self, name: &mut StrBytes) {
        *name = StrBytes::from_string(self.upstream_name(name));
    }

    /// Whether the entry stays: id-addressed entries (empty name) do, as the tenant asked for them.
    fn topic_to_client(&self, name: &mut StrBytes) -> bool {
        name.is_empty() || self.id_to_client(name)
    }

    /// Strips the prefix in place; false when the name is not this tenant's, so the entry goes.
    fn id_to_client(&self, name: &mut StrBytes) -> bool {
        let Some(client) = self.client_name(name).map(str::to_owned) else {
            return false;
        };
        *name = StrBytes::from_string(client);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Encodable;
    use uuid::Uuid;

    // The codec defaults nullable names to `Some("")`, not null: entries standing for a null name
    // (id lookups, idempotent producers) set `None` explicitly, as decoding the wire would.

    fn tenant() -> Tenant {
        Tenant::new("tenant-a")
    }

    fn s(v: &'static str) -> StrBytes {
        StrBytes::from_static_str(v)
    }

    fn topic(v: &'static str) -> TopicName {
        TopicName(s(v))
    }

    fn group(v: &'static str) -> GroupId {
        GroupId(s(v))
    }

    fn up(mut body: RequestKind) -> RequestKind {
        tenant().request_to_upstream(&mut body);
        body
    }

    fn down(mut body: ResponseKind) -> ResponseKind {
        tenant().response_to_client(&mut body);
        body
    }

    fn encodes<T: Encodable>(message: &T, version: i16) -> bool {
        message.encode(&mut BytesMut::new(), version).is_ok()
    }

    const FORWARDED: [ApiKey; 23] = [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::DescribeConfigs,
        ApiKey::AlterConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::CreatePartitions,
        ApiKey::DescribeCluster,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::ListGroups,
        ApiKey::DescribeGroups,
        ApiKey::DeleteGroups,
        ApiKey::OffsetDelete,
        ApiKey::InitProducerId,
    ];

    #[test]
    fn covers_exactly_the_forwarded_apis() {
        for api in FORWARDED {
            assert!(Tenant::covers(api), "{api:?} is forwarded but not covered");
        }
        let covered: Vec<ApiKey> = ApiKey::iter().filter(|a| Tenant::covers(*a)).collect();
        assert_eq!(covered.len(), FORWARDED.len());
        assert!(!Tenant::covers(ApiKey::ApiVersions));
        assert!(!Tenant::covers(ApiKey::AddPartitionsToTxn));
    }

    #[test]
    fn names_round_trip_and_foreign_names_map_to_none() {
        let t = tenant();
        for name in ["orders", "", "a.b", "tenant-a.nested", "__consumer_offsets"] {
            assert_eq!(t.client_name(&t.upstream_name(name)), Some(name));
        }
        assert_eq!(t.upstream_name("orders"), "tenant-a.orders");
        assert_eq!(t.client_name("tenant-b.x"), None);
        assert_eq!(t.client_name("tenant-ab.x"), None);
        assert_eq!(t.client_name("__consumer_offsets"), None);
    }

    #[test]
    fn prefixes_end_in_a_separator_and_are_validated() {
        assert_eq!(Tenant::new("tenant-a").prefix(), "tenant-a.");
        assert_eq!(Tenant::new("tenant-a."), Tenant::new("tenant-a"));
        assert_eq!(Tenant::new("t_").prefix(), "t_");
        assert_eq!(Tenant::try_new(""), Err(TenantError::EmptyPrefix));
        let bad = Tenant::try_new("a/b");
        assert_eq!(bad, Err(TenantError::IllegalCharacter { prefix: "a/b".into(), character: '/' }));
        let long = "x".repeat(PREFIX_BYTES_MAX);
        assert_eq!(Tenant::try_new(long.clone()), Err(TenantError::TooLong { prefix: long + ".", prefix_bytes: 65 }));
        assert!(Tenant::try_new("x".repeat(PREFIX_BYTES_MAX - 1)).is_ok());
    }

    #[test]
    fn nested_prefixes_overlap_siblings_do_not() {
        assert!(Tenant::new("a").overlaps(&Tenant::new("a.b")));
        assert!(Tenant::new("a.b").overlaps(&Tenant::new("a")));
        assert!(!Tenant::new("a").overlaps(&Tenant::new("ab")));
    }

    #[test]
    fn produce_prefixes_names_and_transactional_id_keeps_ids() {
        let id = Uuid::from_u128(7);
        let req =
            ProduceRequest::default().with_transactional_id(Some(TransactionalId(s("tx")))).with_topic_data(vec![
                produce_request::TopicProduceData::default().with_name(topic("orders")),
                produce_request::TopicProduceData::default().with_topic_id(id),
            ]);
        let RequestKind::Produce(req) = up(RequestKind::Produce(req)) else { unreachable!() };
        assert_eq!(req.transactional_id, Some(TransactionalId(s("tenant-a.tx"))));
        assert_eq!(req.topic_data[0].name, topic("tenant-a.orders"));
        assert_eq!((req.topic_data[1].name.as_str(), req.topic_data[1].topic_id), ("", id));
        assert!(encodes(&req.topic_data[1], 13));

        let res = ProduceResponse::default().with_responses(vec![
            produce_response::TopicProduceResponse::default().with_name(topic("tenant-a.orders")),
            produce_response::TopicProduceResponse::default().with_name(topic("tenant-b.orders")),
            produce_response::TopicProduceResponse::default().with_topic_id(id),
        ]);
        let ResponseKind::Produce(res) = down(ResponseKind::Produce(res)) else { unreachable!() };
        let names: Vec<&str> = res.responses.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["orders", ""]);
        assert_eq!(res.responses[1].topic_id, id);
    }

    #[test]
    fn fetch_prefixes_topics_and_forgotten_topics() {
        let req = FetchRequest::default()
            .with_topics(vec![fetch_request::FetchTopic::default().with_topic(topic("orders"))])
            .with_forgotten_topics_data(vec![fetch_request::ForgottenTopic::default().with_topic(topic("old"))]);
        let RequestKind::Fetch(req) = up(RequestKind::Fetch(req)) else { unreachable!() };
        assert_eq!(req.topics[0].topic, topic("tenant-a.orders"));
        assert_eq!(req.forgotten_topics_data[0].topic, topic("tenant-a.old"));

        let res = FetchResponse::default().with_responses(vec![
            fetch_response::FetchableTopicResponse::default().with_topic(topic("tenant-a.orders")),
            fetch_response::FetchableTopicResponse::default().with_topic(topic("tenant-b.orders")),
        ]);
        let ResponseKind::Fetch(res) = down(ResponseKind::Fetch(res)) else { unreachable!() };
        assert_eq!(res.responses.len(), 1);
        assert_eq!(res.responses[0].topic, topic("orders"));
    }

    #[test]
    fn list_offsets_prefixes_and_strips() {
        let req = ListOffsetsRequest::default()
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default().with_name(topic("orders"))]);
        let RequestKind::ListOffsets(req) = up(RequestKind::ListOffsets(req)) else { unreachable!() };
        assert_eq!(req.topics[0].name, topic("tenant-a.orders"));

        let res = ListOffsetsResponse::default().with_topics(vec![
            list_offsets_response::ListOffsetsTopicResponse::default().with_name(topic("tenant-a.orders")),
            list_offsets_response::ListOffsetsTopicResponse::default().with_name(topic("other")),
        ]);
        let ResponseKind::ListOffsets(res) = down(ResponseKind::ListOffsets(res)) else { unreachable!() };
        let names: Vec<&str> = res.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["orders"]);
    }

    #[test]
    fn metadata_request_prefixes_names_and_leaves_id_lookups() {
        let id = Uuid::from_u128(9);
        let req = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders"))),
            metadata_request::MetadataRequestTopic::default().with_name(None).with_topic_id(id),
        ]));
        let RequestKind::Metadata(req) = up(RequestKind::Metadata(req)) else { unreachable!() };
        let topics = req.topics.expect("topics stay listed");
        assert_eq!(topics[0].name, Some(topic("tenant-a.orders")));
        assert_eq!((topics[1].name.clone(), topics[1].topic_id), (None, id));

        let all = up(RequestKind::Metadata(MetadataRequest::default().with_topics(None)));
        assert_eq!(all, RequestKind::Metadata(MetadataRequest::default().with_topics(None)));
    }

    #[test]
    fn metadata_all_topics_hides_other_tenants_and_internal_topics() {
        let entry = |name: Option<TopicName>, error_code| {
            metadata_response::MetadataResponseTopic::default().with_name(name).with_error_code(error_code)
        };
        let res = MetadataResponse::default().with_topics(vec![
            entry(Some(topic("tenant-a.orders")), 0),
            entry(Some(topic("tenant-b.x")), 0),
            entry(Some(topic("__consumer_offsets")), 0).with_is_internal(true),
            entry(None, 100),
            entry(None, 0),
        ]);
        let ResponseKind::Metadata(res) = down(ResponseKind::Metadata(res)) else { unreachable!() };
        let kept: Vec<(Option<&str>, i16)> =
            res.topics.iter().map(|t| (t.name.as_ref().map(|n| n.as_str()), t.error_code)).collect();
        assert_eq!(kept, [(Some("orders"), 0), (None, 100)]);
    }

    #[test]
    fn create_topics_and_partitions_prefix_and_strip() {
        let req = CreateTopicsRequest::default()
            .with_topics(vec![create_topics_request::CreatableTopic::default().with_name(topic("orders"))]);
        let RequestKind::CreateTopics(req) = up(RequestKind::CreateTopics(req)) else { unreachable!() };
        assert_eq!(req.topics[0].name, topic("tenant-a.orders"));
        let res = CreateTopicsResponse::default().with_topics(vec![
            create_topics_response::CreatableTopicResult::default().with_name(topic("tenant-a.orders")),
            create_topics_response::CreatableTopicResult::default().with_name(topic("orders")),
        ]);
        let ResponseKind::CreateTopics(res) = down(ResponseKind::CreateTopics(res)) else { unreachable!() };
        assert_eq!(res.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["orders"]);

        let req = CreatePartitionsRequest::default()
            .with_topics(vec![create_partitions_request::CreatePartitionsTopic::default().with_name(topic("orders"))]);
        let RequestKind::CreatePartitions(req) = up(RequestKind::CreatePartitions(req)) else { unreachable!() };
        assert_eq!(req.topics[0].name, topic("tenant-a.orders"));
        let res = CreatePartitionsResponse::default().with_results(vec![
            create_partitions_response::CreatePartitionsTopicResult::default().with_name(topic("tenant-a.orders")),
            create_partitions_response::CreatePartitionsTopicResult::default().with_name(topic("tenant-b.orders")),
        ]);
        let ResponseKind::CreatePartitions(res) = down(ResponseKind::CreatePartitions(res)) else { unreachable!() };
        assert_eq!(res.results.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["orders"]);
    }

    #[test]
    fn delete_topics_v6_leaves_topic_ids_and_v5_names_are_prefixed() {
        let id = Uuid::from_u128(42);
        let req = DeleteTopicsRequest::default().with_topics(vec![
            delete_topics_request::DeleteTopicState::default().with_name(Some(topic("orders"))),
            delete_topics_request::DeleteTopicState::default().with_topic_id(id),
        ]);
        let RequestKind::DeleteTopics(req) = up(RequestKind::DeleteTopics(req)) else { unreachable!() };
        assert_eq!(req.topics[0].name, Some(topic("tenant-a.orders")));
        assert_eq!((req.topics[1].name.clone(), req.topics[1].topic_id), (None, id));
        assert!(encodes(&req, 6));

        let v5 = DeleteTopicsRequest::default().with_topic_names(vec![topic("orders")]);
        let RequestKind::DeleteTopics(v5) = up(RequestKind::DeleteTopics(v5)) else { unreachable!() };
        assert_eq!(v5.topic_names, [topic("tenant-a.orders")]);

        let res = DeleteTopicsResponse::default().with_responses(vec![
            delete_topics_response::DeletableTopicResult::default().with_name(Some(topic("tenant-a.orders"))),
            delete_topics_response::DeletableTopicResult::default().with_name(Some(topic("tenant-b.x"))),
            delete_topics_response::DeletableTopicResult::default()
                .with_name(None)
                .with_topic_id(id)
                .with_error_code(100),
        ]);
        let ResponseKind::DeleteTopics(res) = down(ResponseKind::DeleteTopics(res)) else { unreachable!() };
        let kept: Vec<(Option<TopicName>, Uuid)> = res.responses.iter().map(|t| (t.name.clone(), t.topic_id)).collect();
        assert_eq!(kept, [(Some(topic("orders")), Uuid::nil()), (None, id)]);
    }

    #[test]
    fn describe_configs_prefixes_topics_and_groups_only() {
        let resource = |resource_type, name| {
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
        };
        let req = DescribeConfigsRequest::default().with_resources(vec![
            resource(2, "orders"),
            resource(4, "1"),
            resource(8, "1"),
            resource(32, "billing"),
        ]);
        let RequestKind::DescribeConfigs(req) = up(RequestKind::DescribeConfigs(req)) else { unreachable!() };
        let names: Vec<&str> = req.resources.iter().map(|r| r.resource_name.as_str()).collect();
        assert_eq!(names, ["tenant-a.orders", "1", "1", "tenant-a.billing"]);

        let result = |resource_type, name| {
            describe_configs_response::DescribeConfigsResult::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
        };
        let res = DescribeConfigsResponse::default().with_results(vec![
            result(2, "tenant-a.orders"),
            result(2, "tenant-b.orders"),
            result(4, "1"),
        ]);
        let ResponseKind::DescribeConfigs(res) = down(ResponseKind::DescribeConfigs(res)) else { unreachable!() };
        let names: Vec<&str> = res.results.iter().map(|r| r.resource_name.as_str()).collect();
        assert_eq!(names, ["orders", "1"]);
    }

    #[test]
    fn alter_configs_and_incremental_prefix_topics_and_strip() {
        let req = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders")),
            alter_configs_request::AlterConfigsResource::default().with_resource_type(4).with_resource_name(s("1")),
        ]);
        let RequestKind::AlterConfigs(req) = up(RequestKind::AlterConfigs(req)) else { unreachable!() };
        let names: Vec<&str> = req.resources.iter().map(|r| r.resource_name.as_str()).collect();
        assert_eq!(names, ["tenant-a.orders", "1"]);
        let res = AlterConfigsResponse::default().with_responses(vec![
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(2)
                .with_resource_name(s("tenant-a.orders")),
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(2)
                .with_resource_name(s("__consumer_offsets")),
        ]);
        let ResponseKind::AlterConfigs(res) = down(ResponseKind::AlterConfigs(res)) else { unreachable!() };
        assert_eq!(res.responses.iter().map(|r| r.resource_name.as_str()).collect::<Vec<_>>(), ["orders"]);

        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders")),
        ]);
        let RequestKind::IncrementalAlterConfigs(req) = up(RequestKind::IncrementalAlterConfigs(req)) else {
            unreachable!()
        };
        assert_eq!(req.resources[0].resource_name.as_str(), "tenant-a.orders");
        let res = IncrementalAlterConfigsResponse::default().with_responses(vec![
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(8)
                .with_resource_name(s("1")),
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(2)
                .with_resource_name(s("tenant-a.orders")),
        ]);
        let ResponseKind::IncrementalAlterConfigs(res) = down(ResponseKind::IncrementalAlterConfigs(res)) else {
            unreachable!()
        };
        assert_eq!(res.responses.iter().map(|r| r.resource_name.as_str()).collect::<Vec<_>>(), ["1", "orders"]);
    }

    #[test]
    fn find_coordinator_v3_prefixes_key() {
        let req = FindCoordinatorRequest::default().with_key(s("billing")).with_key_type(1);
        let RequestKind::FindCoordinator(req) = up(RequestKind::FindCoordinator(req)) else { unreachable!() };
        assert_eq!(req.key.as_str(), "tenant-a.billing");
        assert!(req.coordinator_keys.is_empty());
        assert!(encodes(&req, 3));
    }

    #[test]
    fn find_coordinator_v4_prefixes_coordinator_keys_and_strips_response() {
        let req = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("billing"), s("audit")]);
        let RequestKind::FindCoordinator(req) = up(RequestKind::FindCoordinator(req)) else { unreachable!() };
        assert_eq!(req.coordinator_keys, [s("tenant-a.billing"), s("tenant-a.audit")]);
        assert_eq!(req.key.as_str(), "");
        assert!(encodes(&req, 4));

        let other = FindCoordinatorRequest::default().with_key_type(2).with_coordinator_keys(vec![s("g:x:0")]);
        assert_eq!(up(RequestKind::FindCoordinator(other.clone())), RequestKind::FindCoordinator(other));

        let res = FindCoordinatorResponse::default().with_coordinators(vec![
            find_coordinator_response::Coordinator::default().with_key(s("tenant-a.billing")).with_port(9092),
            find_coordinator_response::Coordinator::default().with_key(s("tenant-b.billing")),
        ]);
        let ResponseKind::FindCoordinator(res) = down(ResponseKind::FindCoordinator(res)) else { unreachable!() };
        let kept: Vec<(&str, i32)> = res.coordinators.iter().map(|c| (c.key.as_str(), c.port)).collect();
        assert_eq!(kept, [("billing", 9092)]);
    }

    #[test]
    fn group_membership_apis_prefix_group_and_keep_protocol_bytes() {
        let metadata = Bytes::from_static(b"\x00\x01\x00\x00\x00\x01\x00\x06orders");
        let join = JoinGroupRequest::default().with_group_id(group("billing")).with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(metadata.clone()),
        ]);
        let RequestKind::JoinGroup(join) = up(RequestKind::JoinGroup(join)) else { unreachable!() };
        assert_eq!(join.group_id, group("tenant-a.billing"));
        assert_eq!(join.protocols[0].metadata, metadata);

        let sync = SyncGroupRequest::default().with_group_id(group("billing")).with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default().with_assignment(metadata.clone()),
        ]);
        let RequestKind::SyncGroup(sync) = up(RequestKind::SyncGroup(sync)) else { unreachable!() };
        assert_eq!(sync.group_id, group("tenant-a.billing"));
        assert_eq!(sync.assignments[0].assignment, metadata);

        let beat = up(RequestKind::Heartbeat(HeartbeatRequest::default().with_group_id(group("billing"))));
        assert_eq!(beat, RequestKind::Heartbeat(HeartbeatRequest::default().with_group_id(group("tenant-a.billing"))));
        let leave = up(RequestKind::LeaveGroup(LeaveGroupRequest::default().with_group_id(group("billing"))));
        let want = LeaveGroupRequest::default().with_group_id(group("tenant-a.billing"));
        assert_eq!(leave, RequestKind::LeaveGroup(want));
    }

    #[test]
    fn offset_commit_prefixes_group_and_topics_even_the_empty_group() {
        let req = OffsetCommitRequest::default()
            .with_group_id(group(""))
            .with_topics(vec![offset_commit_request::OffsetCommitRequestTopic::default().with_name(topic("orders"))]);
        let RequestKind::OffsetCommit(req) = up(RequestKind::OffsetCommit(req)) else { unreachable!() };
        assert_eq!(req.group_id, group("tenant-a."));
        assert_eq!(req.topics[0].name, topic("tenant-a.orders"));

        let res = OffsetCommitResponse::default().with_topics(vec![
            offset_commit_response::OffsetCommitResponseTopic::default().with_name(topic("tenant-a.orders")),
            offset_commit_response::OffsetCommitResponseTopic::default().with_name(topic("tenant-b.orders")),
        ]);
        let ResponseKind::OffsetCommit(res) = down(ResponseKind::OffsetCommit(res)) else { unreachable!() };
        assert_eq!(res.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["orders"]);
    }

    #[test]
    fn offset_fetch_v7_single_group_form() {
        let req = OffsetFetchRequest::default().with_group_id(group("billing")).with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default().with_name(topic("orders")),
        ]));
        let RequestKind::OffsetFetch(req) = up(RequestKind::OffsetFetch(req)) else { unreachable!() };
        assert_eq!(req.group_id, group("tenant-a.billing"));
        assert_eq!(req.topics.as_ref().expect("topics stay listed")[0].name, topic("tenant-a.orders"));
        assert!(req.groups.is_empty());
        assert!(encodes(&req, 7));

        let res = OffsetFetchResponse::default().with_topics(vec![
            offset_fetch_response::OffsetFetchResponseTopic::default().with_name(topic("tenant-a.orders")),
            offset_fetch_response::OffsetFetchResponseTopic::default().with_name(topic("tenant-b.orders")),
        ]);
        let ResponseKind::OffsetFetch(res) = down(ResponseKind::OffsetFetch(res)) else { unreachable!() };
        assert_eq!(res.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["orders"]);
    }

    #[test]
    fn offset_fetch_v8_groups_form() {
        let req = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group("billing")).with_topics(Some(
                vec![offset_fetch_request::OffsetFetchRequestTopics::default().with_name(topic("orders"))],
            )),
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group("audit")).with_topics(None),
        ]);
        let RequestKind::OffsetFetch(req) = up(RequestKind::OffsetFetch(req)) else { unreachable!() };
        assert_eq!(req.group_id, group(""));
        assert_eq!(req.groups[0].group_id, group("tenant-a.billing"));
        assert_eq!(req.groups[0].topics.as_ref().expect("topics stay listed")[0].name, topic("tenant-a.orders"));
        assert_eq!((req.groups[1].group_id.clone(), req.groups[1].topics.clone()), (group("tenant-a.audit"), None));
        assert!(encodes(&req, 8));

        let res = OffsetFetchResponse::default().with_groups(vec![
            offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(group("tenant-a.billing"))
                .with_topics(vec![
                    offset_fetch_response::OffsetFetchResponseTopics::default().with_name(topic("tenant-a.orders")),
                    offset_fetch_response::OffsetFetchResponseTopics::default().with_name(topic("tenant-b.orders")),
                ]),
            offset_fetch_response::OffsetFetchResponseGroup::default().with_group_id(group("tenant-b.billing")),
        ]);
        let ResponseKind::OffsetFetch(res) = down(ResponseKind::OffsetFetch(res)) else { unreachable!() };
        assert_eq!(res.groups.len(), 1);
        assert_eq!(res.groups[0].group_id, group("billing"));
        assert_eq!(res.groups[0].topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["orders"]);
    }

    #[test]
    fn list_groups_shows_only_the_tenants_groups() {
        let listed = |id| list_groups_response::ListedGroup::default().with_group_id(group(id));
        let res = ListGroupsResponse::default().with_groups(vec![
            listed("tenant-a.billing"),
            listed("tenant-b.billing"),
            listed("console-consumer-1"),
            listed("tenant-a.audit"),
        ]);
        let ResponseKind::ListGroups(res) = down(ResponseKind::ListGroups(res)) else { unreachable!() };
        let ids: Vec<&str> = res.groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, ["billing", "audit"]);
        let req = ListGroupsRequest::default().with_states_filter(vec![s("Stable")]);
        assert_eq!(up(RequestKind::ListGroups(req.clone())), RequestKind::ListGroups(req));
    }

    #[test]
    fn describe_and_delete_groups_prefix_and_strip() {
        let req = DescribeGroupsRequest::default().with_groups(vec![group("billing")]);
        let RequestKind::DescribeGroups(req) = up(RequestKind::DescribeGroups(req)) else { unreachable!() };
        assert_eq!(req.groups, [group("tenant-a.billing")]);
        let res = DescribeGroupsResponse::default().with_groups(vec![
            describe_groups_response::DescribedGroup::default().with_group_id(group("tenant-a.billing")),
            describe_groups_response::DescribedGroup::default().with_group_id(group("tenant-b.billing")),
        ]);
        let ResponseKind::DescribeGroups(res) = down(ResponseKind::DescribeGroups(res)) else { unreachable!() };
        assert_eq!(res.groups.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), ["billing"]);

        let req = DeleteGroupsRequest::default().with_groups_names(vec![group("billing")]);
        let RequestKind::DeleteGroups(req) = up(RequestKind::DeleteGroups(req)) else { unreachable!() };
        assert_eq!(req.groups_names, [group("tenant-a.billing")]);
        let res = DeleteGroupsResponse::default().with_results(vec![
            delete_groups_response::DeletableGroupResult::default().with_group_id(group("tenant-a.billing")),
            delete_groups_response::DeletableGroupResult::default().with_group_id(group("billing")),
        ]);
        let ResponseKind::DeleteGroups(res) = down(ResponseKind::DeleteGroups(res)) else { unreachable!() };
        assert_eq!(res.results.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), ["billing"]);
    }

    #[test]
    fn offset_delete_prefixes_group_and_topics() {
        let req = OffsetDeleteRequest::default()
            .with_group_id(group("billing"))
            .with_topics(vec![offset_delete_request::OffsetDeleteRequestTopic::default().with_name(topic("orders"))]);
        let RequestKind::OffsetDelete(req) = up(RequestKind::OffsetDelete(req)) else { unreachable!() };
        assert_eq!(
            (req.group_id.clone(), req.topics[0].name.clone()),
            (group("tenant-a.billing"), topic("tenant-a.orders"))
        );
        let res = OffsetDeleteResponse::default().with_topics(vec![
            offset_delete_response::OffsetDeleteResponseTopic::default().with_name(topic("tenant-a.orders")),
            offset_delete_response::OffsetDeleteResponseTopic::default().with_name(topic("tenant-b.orders")),
        ]);
        let ResponseKind::OffsetDelete(res) = down(ResponseKind::OffsetDelete(res)) else { unreachable!() };
        assert_eq!(res.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["orders"]);
    }

    #[test]
    fn init_producer_id_prefixes_only_a_present_transactional_id() {
        let req = InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("tx"))));
        let RequestKind::InitProducerId(req) = up(RequestKind::InitProducerId(req)) else { unreachable!() };
        assert_eq!(req.transactional_id, Some(TransactionalId(s("tenant-a.tx"))));
        let idempotent =
            InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
        assert_eq!(up(RequestKind::InitProducerId(idempotent.clone())), RequestKind::InitProducerId(idempotent));
    }

    #[test]
    fn describe_cluster_passes_through_both_ways() {
        let req = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
        assert_eq!(up(RequestKind::DescribeCluster(req.clone())), RequestKind::DescribeCluster(req));
        let res = DescribeClusterResponse::default().with_cluster_id(s("upstream")).with_brokers(vec![
            describe_cluster_response::DescribeClusterBroker::default().with_host(s("kafka-1")).with_port(9092),
        ]);
        assert_eq!(down(ResponseKind::DescribeCluster(res.clone())), ResponseKind::DescribeCluster(res));
    }
}
