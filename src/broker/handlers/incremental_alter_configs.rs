//! IncrementalAlterConfigs for topic configs (dynamic broker configs are not
//! offered: the broker's settings come from its YAML file).

use super::describe_configs::RESOURCE_TOPIC;
use super::{error_parts, Ctx};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

pub fn handle(ctx: &Ctx<'_>, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => {
                    let ops: Vec<(i8, &str, Option<&str>)> =
                        r.configs.iter().map(|c| (c.config_operation, c.name.as_str(), c.value.as_deref())).collect();
                    ctx.broker.alter_topic_config(r.resource_name.as_str(), &ops, req.validate_only)
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
