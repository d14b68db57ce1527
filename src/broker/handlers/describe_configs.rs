//! DescribeConfigs for topics (every key gregor enforces, with its source) and
//! for this broker.

use super::{str_bytes, Ctx};
use crate::broker::error::BrokerError;
use crate::broker::topic_config::{self, ConfigSource};
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

/// Kafka's ConfigResource types.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's ConfigEntry types (DescribeConfigs v3+).
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_SHORT: i8 = 4;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

pub fn handle(ctx: &Ctx<'_>, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = req
        .resources
        .iter()
        .map(|r| {
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries = match r.resource_type {
                RESOURCE_TOPIC => topic_entries(ctx, r.resource_name.as_str(), req.include_synonyms),
                RESOURCE_BROKER => broker_entries(ctx, r.resource_name.as_str()),
                other => Err(BrokerError::InvalidRequest(format!("unsupported resource type {other}"))),
            };
            match entries {
                Ok(mut entries) => {
                    if let Some(keys) = &r.configuration_keys {
                        entries.retain(|e| keys.iter().any(|k| k.as_str() == e.name.as_str()));
                    }
                    base.with_configs(entries)
                }
                Err(e) => base.with_error_code(e.code()).with_error_message(Some(str_bytes(e.message()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn topic_entries(ctx: &Ctx<'_>, name: &str, synonyms: bool) -> Result<Vec<DescribeConfigsResourceResult>, BrokerError> {
    let topic = ctx.broker.topic(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
    let described = topic.config().describe(&ctx.broker.config.broker);
    Ok(described
        .into_iter()
        .map(|(key, value, source)| {
            let mut e = DescribeConfigsResourceResult::default()
                .with_name(str_bytes(key))
                .with_value(Some(str_bytes(value.clone())))
                .with_config_source(source as i8)
                .with_config_type(if ctx.version >= 3 { type_of(key) } else { 0 });
            if synonyms {
                e = e.with_synonyms(vec![DescribeConfigsSynonym::default()
                    .with_name(str_bytes(key))
                    .with_value(Some(str_bytes(value)))
                    .with_source(source as i8)]);
            }
            e
        })
        .collect())
}

fn broker_entries(ctx: &Ctx<'_>, name: &str) -> Result<Vec<DescribeConfigsResourceResult>, BrokerError> {
    let me = ctx.broker.node_id().to_string();
    if !name.is_empty() && name != me {
        return Err(BrokerError::InvalidRequest(format!("this is broker {me}, not {name}")));
    }
    Ok(topic_config::describe_broker(&ctx.broker.config.broker)
        .into_iter()
        .map(|(key, value)| {
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(key))
                .with_value(Some(str_bytes(value)))
                .with_read_only(true)
                .with_config_source(ConfigSource::StaticBroker as i8)
                .with_config_type(if ctx.version >= 3 { type_of(key) } else { 0 })
        })
        .collect())
}

/// Why a resource other than a topic cannot be altered (broker configs come from
/// the YAML file; other resource types have no configs here).
pub fn not_alterable(resource_type: i8) -> BrokerError {
    if resource_type == RESOURCE_BROKER {
        BrokerError::InvalidRequest("dynamic broker configs are not supported: set them in the YAML config".into())
    } else {
        BrokerError::InvalidRequest(format!("unsupported resource type {resource_type}"))
    }
}

fn type_of(key: &str) -> i8 {
    match key {
        "cleanup.policy" => TYPE_LIST,
        "compression.type" | "message.timestamp.type" | "log.message.timestamp.type" => TYPE_STRING,
        "auto.create.topics.enable" => TYPE_BOOLEAN,
        "default.replication.factor" => TYPE_SHORT,
        "index.interval.bytes"
        | "max.message.bytes"
        | "min.insync.replicas"
        | "segment.bytes"
        | "segment.index.bytes"
        | "num.partitions"
        | "log.index.interval.bytes"
        | "log.index.size.max.bytes"
        | "message.max.bytes" => TYPE_INT,
        _ => TYPE_LONG,
    }
}
