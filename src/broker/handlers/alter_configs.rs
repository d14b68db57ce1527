//! AlterConfigs (the pre-KIP-339 API some clients, kafkajs among them, still use):
//! replaces a topic's whole set of overrides.

use super::describe_configs::RESOURCE_TOPIC;
use super::{error_parts, Ctx};
use crate::broker::error::BrokerError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

pub fn handle(ctx: &Ctx<'_>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => {
                    let mut pairs = Vec::with_capacity(r.configs.len());
                    let mut null = None;
                    for c in &r.configs {
                        match &c.value {
                            Some(v) => pairs.push((c.name.as_str(), v.as_str())),
                            None => null = Some(c.name.as_str()),
                        }
                    }
                    match null {
                        Some(k) => {
                            Err(BrokerError::InvalidConfig(format!("Null value not supported for topic config {k}")))
                        }
                        None => ctx.broker.replace_topic_config(r.resource_name.as_str(), &pairs, req.validate_only),
                    }
                }
                other => Err(super::describe_configs::not_alterable(other)),
            };
            let (code, message) = error_parts(&outcome);
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
