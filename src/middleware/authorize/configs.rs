//! Rules for configs: DescribeConfigs needs DESCRIBE_CONFIGS, AlterConfigs and
//! IncrementalAlterConfigs need ALTER_CONFIGS, on the topic for topic configs, on
//! the cluster for broker-wide ones, on the group for group configs. Resource types
//! Kafka does not know go on unchecked, for the backend to refuse. Client quotas are
//! cluster configs: DescribeClientQuotas needs DESCRIBE_CONFIGS and
//! AlterClientQuotas ALTER_CONFIGS on the cluster.

use super::{split_denied, Check, Decision, Denied};
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::{
    alter_client_quotas_response, alter_configs_response, incremental_alter_configs_response, AlterClientQuotasRequest,
    AlterClientQuotasResponse, AlterConfigsRequest, AlterConfigsResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

/// Kafka's ConfigResource types.
const CONFIG_TOPIC: i8 = 2;
const CONFIG_BROKER: i8 = 4;
const CONFIG_BROKER_LOGGER: i8 = 8;
const CONFIG_CLIENT_METRICS: i8 = 16;
const CONFIG_GROUP: i8 = 32;

/// The ACL resource guarding a config resource, or `None` for a type Kafka rejects.
fn guarded_by(config_type: i8, name: &str) -> Option<(ResourceType, &str)> {
    match config_type {
        CONFIG_TOPIC => Some((ResourceType::Topic, name)),
        CONFIG_BROKER | CONFIG_BROKER_LOGGER | CONFIG_CLIENT_METRICS => Some((ResourceType::Cluster, CLUSTER_NAME)),
        CONFIG_GROUP => Some((ResourceType::Group, name)),
        _ => None,
    }
}

/// Whether `op` on this config resource is refused, and with what.
fn refused(c: &Check, op: Operation, config_type: i8, name: &StrBytes) -> Option<Denied> {
    let (resource_type, resource) = guarded_by(config_type, name)?;
    (!c.allowed(op, resource_type, resource)).then_some(Denied::of(resource_type))
}

pub(super) fn describe_configs(c: &Check, mut r: DescribeConfigsRequest) -> Decision<DescribeConfigsRequest> {
    let (kept, denied) = split_denied(std::mem::take(&mut r.resources), |res| {
        let why = refused(c, Operation::DescribeConfigs, res.resource_type, &res.resource_name)?;
        Some(
            DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone())
                .with_error_code(why.code())
                .with_error_message(Some(why.message())),
        )
    });
    r.resources = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.resources.is_empty() {
        return Decision::Answer(ResponseKind::DescribeConfigs(
            DescribeConfigsResponse::default().with_results(denied),
        ));
    }
    Decision::Forward(r, merge!(DescribeConfigs, |resp| resp.results.extend(denied)))
}

/// AlterConfigs and IncrementalAlterConfigs have the same shape (resources in, one
/// result per resource out) in distinct types: one rule for both, ALTER_CONFIGS per
/// resource.
macro_rules! alter_configs_rule {
    ($name:ident, $kind:ident, $request:ty, $response:ty, $result:ty) => {
        pub(super) fn $name(c: &Check, mut r: $request) -> Decision<$request> {
            let (kept, denied) = split_denied(std::mem::take(&mut r.resources), |res| {
                let why = refused(c, Operation::AlterConfigs, res.resource_type, &res.resource_name)?;
                Some(
                    <$result>::default()
                        .with_resource_type(res.resource_type)
                        .with_resource_name(res.resource_name.clone())
                        .with_error_code(why.code())
                        .with_error_message(Some(why.message())),
                )
            });
            r.resources = kept;
            if denied.is_empty() {
                return Decision::Forward(r, None);
            }
            if r.resources.is_empty() {
                return Decision::Answer(ResponseKind::$kind(<$response>::default().with_responses(denied)));
            }
            Decision::Forward(r, merge!($kind, |resp| resp.responses.extend(denied)))
        }
    };
}

alter_configs_rule!(
    alter_configs,
    AlterConfigs,
    AlterConfigsRequest,
    AlterConfigsResponse,
    alter_configs_response::AlterConfigsResourceResponse
);
alter_configs_rule!(
    incremental_alter_configs,
    IncrementalAlterConfigs,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
    incremental_alter_configs_response::AlterConfigsResourceResponse
);

pub(super) fn describe_client_quotas(
    c: &Check,
    r: DescribeClientQuotasRequest,
) -> Decision<DescribeClientQuotasRequest> {
    if c.cluster(Operation::DescribeConfigs) {
        return Decision::Forward(r, None);
    }
    let resp = DescribeClientQuotasResponse::default()
        .with_error_code(Denied::Cluster.code())
        .with_error_message(Some(Denied::Cluster.message()))
        .with_entries(None);
    Decision::Answer(ResponseKind::DescribeClientQuotas(resp))
}

pub(super) fn alter_client_quotas(c: &Check, r: AlterClientQuotasRequest) -> Decision<AlterClientQuotasRequest> {
    if c.cluster(Operation::AlterConfigs) {
        return Decision::Forward(r, None);
    }
    let entries = r
        .entries
        .into_iter()
        .map(|e| {
            let entity = e
                .entity
                .into_iter()
                .map(|d| {
                    alter_client_quotas_response::EntityData::default()
                        .with_entity_type(d.entity_type)
                        .with_entity_name(d.entity_name)
                })
                .collect();
            alter_client_quotas_response::EntryData::default()
                .with_error_code(Denied::Cluster.code())
                .with_error_message(Some(Denied::Cluster.message()))
                .with_entity(entity)
        })
        .collect();
    Decision::Answer(ResponseKind::AlterClientQuotas(AlterClientQuotasResponse::default().with_entries(entries)))
}
