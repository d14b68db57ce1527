//! Authorization layer: enforces ACLs where Kafka does, on the decoded request,
//! without the backend's help. It removes what the principal may not touch from the
//! request, calls the inner service with the rest, and merges Kafka's per-resource
//! errors into the answer; a request denied entirely is answered here. This is what
//! lets the same layer guard the broker and, later, an upstream cluster (the proxy),
//! whose handlers know nothing of ACLs.
//!
//! The rules, by API family, live in the submodules: `data` (Produce, Fetch,
//! ListOffsets, OffsetForLeaderEpoch), `topics` (Metadata, DescribeCluster, topic
//! admin), `configs` (with client quotas), `groups` (coordinator, membership, offsets) and `admin`
//! (InitProducerId, ACLs, SCRAM credentials). A request kind without a rule is
//! refused (the connection closes), and a test walks the router's table so that a
//! newly routed API without a rule fails the build's tests.

use super::{BoxFuture, Request, Response, StackError};
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::security::authorizer::Authorizer;
use crate::security::{Principal, Security};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};
use uuid::Uuid;

/// Builds a [`Merge`] that edits a response of one kind in place; other kinds (and
/// no response) pass unchanged.
macro_rules! merge {
    ($kind:ident, |$r:ident| $body:expr) => {
        Some(Box::new(move |resp: $crate::middleware::Response| {
            Ok(resp.map(|kind| match kind {
                kafka_protocol::messages::ResponseKind::$kind(mut $r) => {
                    $body;
                    kafka_protocol::messages::ResponseKind::$kind($r)
                }
                other => other,
            }))
        }) as $crate::middleware::authorize::Merge)
    };
}

mod admin;
mod configs;
mod data;
mod groups;
mod offsets;
mod topics;

/// What the layer needs to know about topics that a request does not say: the name
/// behind a topic id (Fetch v13+, Produce v13, Metadata v10+, DeleteTopics v6) and
/// whether a topic exists (Metadata's auto-creation needs CREATE). The broker
/// implements it; the proxy will answer from the upstream's metadata.
pub trait TopicDirectory: Send + Sync + 'static {
    /// The name of the topic with this id, if there is one.
    fn topic_name(&self, id: Uuid) -> Option<String>;
    fn topic_exists(&self, name: &str) -> bool;
    /// Whether Metadata creates missing topics (`auto.create.topics.enable`).
    fn auto_creates_topics(&self) -> bool;
}

/// Why part or all of a request is refused; each maps to one Kafka error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("Topic authorization failed.")]
    Topic,
    #[error("Group authorization failed.")]
    Group,
    #[error("Cluster authorization failed.")]
    Cluster,
    #[error("Transactional Id authorization failed.")]
    TransactionalId,
    /// A topic addressed by id that the principal may not describe: Kafka does not
    /// reveal that it exists.
    #[error("This server does not host this topic ID.")]
    HiddenTopicId,
}

impl Denied {
    /// The one place denials become Kafka error codes.
    pub fn response_error(self) -> ResponseError {
        match self {
            Denied::Topic => ResponseError::TopicAuthorizationFailed,
            Denied::Group => ResponseError::GroupAuthorizationFailed,
            Denied::Cluster => ResponseError::ClusterAuthorizationFailed,
            Denied::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
            Denied::HiddenTopicId => ResponseError::UnknownTopicId,
        }
    }

    pub fn code(self) -> i16 {
        self.response_error().code()
    }

    pub fn message(self) -> StrBytes {
        StrBytes::from_string(self.to_string())
    }

    /// The denial for a resource of this type.
    pub fn of(resource_type: ResourceType) -> Denied {
        match resource_type {
            ResourceType::Topic => Denied::Topic,
            ResourceType::Group => Denied::Group,
            ResourceType::TransactionalId => Denied::TransactionalId,
            _ => Denied::Cluster,
        }
    }
}

/// Puts what was denied back into the inner service's answer.
pub type Merge = Box<dyn FnOnce(Response) -> Result<Response, StackError> + Send>;

/// What a rule makes of a request.
#[allow(clippy::large_enum_variant, reason = "one per request, moved once: boxing would only add an allocation")]
pub enum Decision<B> {
    /// Send this (possibly trimmed) request on; the merge completes the answer.
    Forward(B, Option<Merge>),
    /// Nothing is left to send on: this is the whole answer.
    Answer(ResponseKind),
    /// A denial no response can carry (acks=0 Produce): close, as Kafka does.
    Close(String),
}

impl<B> Decision<B> {
    fn map<C>(self, f: impl FnOnce(B) -> C) -> Decision<C> {
        match self {
            Decision::Forward(b, m) => Decision::Forward(f(b), m),
            Decision::Answer(r) => Decision::Answer(r),
            Decision::Close(why) => Decision::Close(why),
        }
    }
}

/// One request's view of the ACLs: who asks, from where, for which API, against one
/// consistent snapshot of the authorizer.
pub struct Check {
    authorizer: Arc<Authorizer>,
    principal: Arc<Principal>,
    client: SocketAddr,
    api: ApiKey,
    /// The request's API version (responses must not set fields it lacks).
    pub version: i16,
    audit: bool,
    pub topics: Arc<dyn TopicDirectory>,
}

impl Check {
    /// Whether anything can be denied (`authorizer: acl`).
    pub fn enforcing(&self) -> bool {
        self.authorizer.enforcing()
    }

    /// An explicit access: a denial is audited.
    pub fn allowed(&self, op: Operation, resource_type: ResourceType, name: &str) -> bool {
        let ok = self.allowed_quietly(op, resource_type, name);
        if !ok {
            self.denied(op, resource_type, name);
        }
        ok
    }

    /// A probe whose denial only filters (all-topic listings, implied checks):
    /// nothing to audit, as in Kafka.
    pub fn allowed_quietly(&self, op: Operation, resource_type: ResourceType, name: &str) -> bool {
        self.authorizer.authorize(&self.principal, self.client.ip(), op, resource_type, name)
    }

    pub fn topic(&self, op: Operation, name: &str) -> bool {
        self.allowed(op, ResourceType::Topic, name)
    }

    pub fn group(&self, op: Operation, name: &str) -> bool {
        self.allowed(op, ResourceType::Group, name)
    }

    pub fn cluster(&self, op: Operation) -> bool {
        self.allowed(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// May the principal perform `op` on some resource of the type (KIP-679)?
    pub fn any_quietly(&self, op: Operation, resource_type: ResourceType) -> bool {
        self.authorizer.authorize_any(&self.principal, self.client.ip(), op, resource_type)
    }

    /// Kafka's authorized-operations bitfield for a resource.
    pub fn operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        self.authorizer.authorized_operations(&self.principal, self.client.ip(), resource_type, name)
    }

    /// Records a denial: one `gregor::audit` line when `log.audit` is on.
    pub fn denied(&self, op: Operation, resource_type: ResourceType, name: &str) {
        if self.audit {
            tracing::info!(
                target: "gregor::audit",
                principal = %self.principal,
                client = %self.client,
                operation = op.name(),
                resource_type = resource_type.name(),
                resource = name,
                api = ?self.api,
                "authorization denied"
            );
        } else {
            tracing::debug!(principal = %self.principal, operation = op.name(), resource = name, "authorization denied");
        }
    }
}

#[derive(Clone)]
pub struct AuthorizeLayer {
    security: Arc<Security>,
    topics: Arc<dyn TopicDirectory>,
}

impl AuthorizeLayer {
    pub fn new(security: Arc<Security>, topics: Arc<dyn TopicDirectory>) -> AuthorizeLayer {
        AuthorizeLayer { security, topics }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;
    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize { inner, security: self.security.clone(), topics: self.topics.clone() }
    }
}

#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    security: Arc<Security>,
    topics: Arc<dyn TopicDirectory>,
}

/// APIs whose responses carry authorized-operations fields: these are planned even
/// when nothing is enforced, to fill them (with everything, as Kafka does).
fn reports_operations(api: ApiKey) -> bool {
    matches!(api, ApiKey::Metadata | ApiKey::DescribeCluster | ApiKey::DescribeGroups)
}

impl<S> Service<Request> for Authorize<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = BoxFuture<Result<Response, StackError>>>,
{
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let authorizer = self.security.acls.authorizer();
        if !authorizer.enforcing() && !reports_operations(req.api_key) {
            return self.inner.call(req);
        }
        let check = Arc::new(Check {
            authorizer,
            principal: req.principal.clone(),
            client: req.conn.peer,
            api: req.api_key,
            version: req.api_version,
            audit: self.security.audit,
            topics: self.topics.clone(),
        });
        let Request { conn, header, api_key, api_version, body, principal, received } = req;
        let decision = match plan(&check, body) {
            Some(d) => d,
            None => {
                let why = format!("{api_key:?} has no authorization rule; refused");
                return Box::pin(async move { Err(StackError::Denied(why)) });
            }
        };
        match decision {
            Decision::Forward(body, merge) => {
                let fut = self.inner.call(Request { conn, header, api_key, api_version, body, principal, received });
                Box::pin(async move {
                    let resp = fut.await?;
                    match merge {
                        Some(m) => m(resp),
                        None => Ok(resp),
                    }
                })
            }
            Decision::Answer(resp) => Box::pin(async move { Ok(Some(resp)) }),
            Decision::Close(why) => Box::pin(async move { Err(StackError::Denied(why)) }),
        }
    }
}

/// The rule for each request kind; `None` for a kind that has none.
fn plan(c: &Arc<Check>, body: RequestKind) -> Option<Decision<RequestKind>> {
    use RequestKind as K;
    Some(match body {
        // before and during authentication: nothing to authorize
        K::ApiVersions(_) | K::SaslHandshake(_) | K::SaslAuthenticate(_) => Decision::Forward(body, None),
        K::Produce(r) => data::produce(c, r).map(K::Produce),
        K::Fetch(r) => data::fetch(c, r).map(K::Fetch),
        K::ListOffsets(r) => data::list_offsets(c, r).map(K::ListOffsets),
        K::OffsetForLeaderEpoch(r) => data::offset_for_leader_epoch(c, r).map(K::OffsetForLeaderEpoch),
        K::Metadata(r) => topics::metadata(c, r).map(K::Metadata),
        K::DescribeCluster(r) => topics::describe_cluster(c, r).map(K::DescribeCluster),
        K::CreateTopics(r) => topics::create_topics(c, r).map(K::CreateTopics),
        K::DeleteTopics(r) => topics::delete_topics(c, r).map(K::DeleteTopics),
        K::CreatePartitions(r) => topics::create_partitions(c, r).map(K::CreatePartitions),
        K::DescribeConfigs(r) => configs::describe_configs(c, r).map(K::DescribeConfigs),
        K::AlterConfigs(r) => configs::alter_configs(c, r).map(K::AlterConfigs),
        K::IncrementalAlterConfigs(r) => configs::incremental_alter_configs(c, r).map(K::IncrementalAlterConfigs),
        K::DescribeClientQuotas(r) => configs::describe_client_quotas(c, r).map(K::DescribeClientQuotas),
        K::AlterClientQuotas(r) => configs::alter_client_quotas(c, r).map(K::AlterClientQuotas),
        K::FindCoordinator(r) => groups::find_coordinator(c, r).map(K::FindCoordinator),
        K::JoinGroup(r) => groups::join_group(c, r).map(K::JoinGroup),
        K::SyncGroup(r) => groups::sync_group(c, r).map(K::SyncGroup),
        K::Heartbeat(r) => groups::heartbeat(c, r).map(K::Heartbeat),
        K::LeaveGroup(r) => groups::leave_group(c, r).map(K::LeaveGroup),
        K::OffsetCommit(r) => groups::offset_commit(c, r).map(K::OffsetCommit),
        K::OffsetFetch(r) => offsets::offset_fetch(c, r).map(K::OffsetFetch),
        K::OffsetDelete(r) => groups::offset_delete(c, r).map(K::OffsetDelete),
        K::ListGroups(r) => groups::list_groups(c, r).map(K::ListGroups),
        K::DescribeGroups(r) => groups::describe_groups(c, r).map(K::DescribeGroups),
        K::DeleteGroups(r) => groups::delete_groups(c, r).map(K::DeleteGroups),
        K::InitProducerId(r) => admin::init_producer_id(c, r).map(K::InitProducerId),
        K::CreateAcls(r) => admin::create_acls(c, r).map(K::CreateAcls),
        K::DeleteAcls(r) => admin::delete_acls(c, r).map(K::DeleteAcls),
        K::DescribeAcls(r) => admin::describe_acls(c, r).map(K::DescribeAcls),
        K::DescribeUserScramCredentials(r) => {
            admin::describe_user_scram_credentials(c, r).map(K::DescribeUserScramCredentials)
        }
        K::AlterUserScramCredentials(r) => admin::alter_user_scram_credentials(c, r).map(K::AlterUserScramCredentials),
        _ => return None,
    })
}

/// Splits `items` into those to send on and the answers for those `deny` refuses
/// (it returns the answer for a refused item).
pub(crate) fn split_denied<T, D>(items: Vec<T>, mut deny: impl FnMut(&T) -> Option<D>) -> (Vec<T>, Vec<D>) {
    let mut kept = Vec::with_capacity(items.len());
    let mut denied = Vec::new();
    for item in items {
        match deny(&item) {
            None => kept.push(item),
            Some(d) => denied.push(d),
        }
    }
    (kept, denied)
}

#[cfg(test)]
mod tests;
