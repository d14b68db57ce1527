//! The router: ApiKey → handler, and the table of what we handle. The table is
//! the single source of truth for ApiVersions: nothing absent from it is
//! advertised, and nothing in it lacks a handler.

use crate::broker::handlers;
use crate::broker::Broker;
use crate::middleware::{BoxFuture, Request, Response, StackError};
use crate::quota::QuotaManager;
use crate::security::Security;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestKind, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// (API, lowest version, highest version) that the handlers really implement.
pub const ROUTES: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    // after v0 the tokens come bare, without request headers (see the codec);
    // librdkafka ≤ 2.0 requires v0 in the range, Sarama sends v0 by default
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// The versions of `api` the broker serves, if any.
pub fn supported_versions(api: ApiKey) -> Option<VersionRange> {
    ROUTES.iter().find(|(k, _, _)| *k == api).map(|&(_, min, max)| VersionRange { min, max })
}

/// The broker's ApiVersions body, generated from [`ROUTES`].
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    ApiTable::broker_shared().api_versions_response(error_code)
}

/// What one connection may ask for: the broker's [`ROUTES`], or in proxy mode those
/// ranges narrowed to what the upstream speaks. The codec refuses anything outside
/// it, and ApiVersions advertises exactly it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTable {
    routes: Vec<(ApiKey, i16, i16)>,
}

impl ApiTable {
    pub fn broker() -> ApiTable {
        ApiTable { routes: ROUTES.to_vec() }
    }

    /// The broker's table, built once and shared by every connection.
    pub fn broker_shared() -> Arc<ApiTable> {
        static TABLE: std::sync::LazyLock<Arc<ApiTable>> = std::sync::LazyLock::new(|| Arc::new(ApiTable::broker()));
        TABLE.clone()
    }

    pub fn new(routes: Vec<(ApiKey, i16, i16)>) -> ApiTable {
        debug_assert!(routes.iter().all(|(_, min, max)| min <= max));
        ApiTable { routes }
    }

    pub fn supported(&self, api: ApiKey) -> Option<VersionRange> {
        self.routes.iter().find(|(k, _, _)| *k == api).map(|&(_, min, max)| VersionRange { min, max })
    }

    pub fn routes(&self) -> &[(ApiKey, i16, i16)] {
        &self.routes
    }

    pub fn api_versions_response(&self, error_code: i16) -> ApiVersionsResponse {
        let mut keys: Vec<ApiVersion> = self
            .routes
            .iter()
            .map(|&(k, min, max)| {
                ApiVersion::default().with_api_key(k as i16).with_min_version(min).with_max_version(max)
            })
            .collect();
        keys.sort_by_key(|v| v.api_key);
        ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(keys)
    }
}

#[derive(Clone)]
pub struct Router {
    broker: Arc<Broker>,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
}

impl Router {
    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.security.metrics.clone()
    }

    pub fn new(broker: Arc<Broker>, security: Arc<Security>, quotas: Arc<QuotaManager>) -> Router {
        Router { broker, security, quotas }
    }
}

impl Service<Request> for Router {
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (broker, security, quotas) = (self.broker.clone(), self.security.clone(), self.quotas.clone());
        Box::pin(dispatch(broker, security, quotas, req))
    }
}

async fn dispatch(
    b: Arc<Broker>,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
    req: Request,
) -> Result<Response, StackError> {
    let v = req.api_version;
    let client_id = req.header.client_id.as_deref().unwrap_or("");
    let local = handlers::Local {
        security: &security,
        quotas: &quotas,
        conn: &req.conn,
        principal: &req.principal,
        version: v,
        client_id,
    };
    let ctx = handlers::Ctx { broker: &b, local };
    let resp = match req.body {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(handlers::api_versions::handle(&ctx, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(handlers::metadata::handle(&ctx, r)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(handlers::create_topics::handle(&ctx, r)),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(handlers::delete_topics::handle(&ctx, r)),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(handlers::create_partitions::handle(&ctx, r))
        }
        RequestKind::Produce(r) => match handlers::produce::handle(&ctx, r).await {
            handlers::produce::Outcome::Respond(resp) => ResponseKind::Produce(resp),
            handlers::produce::Outcome::NoResponse => return Ok(None),
            handlers::produce::Outcome::Close(why) => return Err(StackError::Handler(why)),
        },
        RequestKind::Fetch(r) => ResponseKind::Fetch(handlers::fetch::handle(&ctx, r).await),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(handlers::offset_for_leader_epoch::handle(&ctx, r))
        }
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(handlers::list_offsets::handle(&ctx, r)),
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(handlers::describe_configs::handle(&ctx, r)),
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(handlers::alter_configs::handle(&ctx, r)),
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(handlers::incremental_alter_configs::handle(&ctx, r))
        }
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(handlers::describe_cluster::handle(&ctx, r)),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(handlers::init_producer_id::handle(&ctx, r)),
        RequestKind::FindCoordinator(r) => ResponseKind::FindCoordinator(handlers::find_coordinator::handle(&ctx, r)),
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(handlers::join_group::handle(&ctx, r).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(handlers::sync_group::handle(&ctx, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(handlers::heartbeat::handle(&ctx, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(handlers::leave_group::handle(&ctx, r)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(handlers::offset_commit::handle(&ctx, r).await),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(handlers::offset_fetch::handle(&ctx, r)),
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(handlers::list_groups::handle(&ctx, r)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(handlers::describe_groups::handle(&ctx, r)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(handlers::delete_groups::handle(&ctx, r)),
        RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(handlers::offset_delete::handle(&ctx, r)),
        RequestKind::DescribeAcls(r) => ResponseKind::DescribeAcls(handlers::describe_acls::handle(&ctx, r)),
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(handlers::create_acls::handle(&ctx, r)),
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(handlers::delete_acls::handle(&ctx, r)),
        RequestKind::DescribeUserScramCredentials(r) => {
            ResponseKind::DescribeUserScramCredentials(handlers::describe_user_scram_credentials::handle(&ctx, r))
        }
        RequestKind::AlterUserScramCredentials(r) => {
            ResponseKind::AlterUserScramCredentials(handlers::alter_user_scram_credentials::handle(&ctx, r).await)
        }
        RequestKind::DescribeClientQuotas(r) => {
            ResponseKind::DescribeClientQuotas(handlers::describe_client_quotas::handle(&ctx, r))
        }
        RequestKind::AlterClientQuotas(r) => {
            ResponseKind::AlterClientQuotas(handlers::alter_client_quotas::handle(&ctx, r))
        }
        RequestKind::SaslHandshake(r) => ResponseKind::SaslHandshake(handlers::sasl_handshake::handle(&ctx, r)),
        RequestKind::SaslAuthenticate(r) => {
            ResponseKind::SaslAuthenticate(handlers::sasl_authenticate::handle(&ctx, r))
        }
        other => return Err(StackError::Handler(format!("no handler for {:?}", std::mem::discriminant(&other)))),
    };
    Ok(Some(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    /// The versions kafka-protocol can decode for a request type. `ApiKey::valid_versions`
    /// may include unstable versions the decoders reject (InitProducerId v6 in 0.18).
    fn decodable(api: ApiKey) -> VersionRange {
        use kafka_protocol::messages::*;
        match api {
            ApiKey::Produce => ProduceRequest::VERSIONS,
            ApiKey::Fetch => FetchRequest::VERSIONS,
            ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
            ApiKey::OffsetForLeaderEpoch => kafka_protocol::messages::OffsetForLeaderEpochRequest::VERSIONS,
            ApiKey::Metadata => MetadataRequest::VERSIONS,
            ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
            ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
            ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
            ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
            ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
            ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
            ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
            ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
            ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
            ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
            ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
            ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
            ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
            ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
            ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
            ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
            ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
            ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
            ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
            ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
            ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
            ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
            ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
            ApiKey::DescribeUserScramCredentials => DescribeUserScramCredentialsRequest::VERSIONS,
            ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
            ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::VERSIONS,
            ApiKey::AlterClientQuotas => AlterClientQuotasRequest::VERSIONS,
            ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
            ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
            other => panic!("{other:?} is routed but missing from this table"),
        }
    }

    /// Fails when kafka-protocol moves under us: every advertised range must be one
    /// the crate can decode, and the newest it can.
    #[test]
    fn routes_match_what_the_protocol_crate_decodes() {
        for &(k, min, max) in ROUTES {
            let range = decodable(k);
            assert!(min <= max, "{k:?}");
            assert!(min >= range.min && max <= range.max, "{k:?} {min}..{max} vs crate {range}");
            assert_eq!(max, range.max, "{k:?} could advertise a newer version");
            assert!(max <= k.valid_versions().max, "{k:?}");
        }
    }

    #[test]
    fn api_versions_lists_exactly_the_routes() {
        let r = api_versions_response(0);
        assert_eq!(r.api_keys.len(), ROUTES.len());
        assert!(supported_versions(ApiKey::EndTxn).is_none(), "transactions are not offered");
    }
}
