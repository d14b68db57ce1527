//! CreatePartitions: grows topics.

use super::{error_parts, Ctx};
use crate::broker::error::BrokerError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use std::collections::HashMap;

pub fn handle(ctx: &Ctx<'_>, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.to_string()).or_default() += 1;
    }
    let results = req
        .topics
        .iter()
        .map(|t| {
            let outcome = if seen[t.name.as_str()] > 1 {
                Err(BrokerError::InvalidRequest("Duplicate topic in request.".into()))
            } else {
                let assignments: Option<Vec<Vec<i32>>> = t
                    .assignments
                    .as_ref()
                    .map(|a| a.iter().map(|x| x.broker_ids.iter().map(|id| id.0).collect()).collect());
                ctx.broker.create_partitions(&t.name, t.count, assignments.as_deref(), req.validate_only)
            };
            let (code, message) = error_parts(&outcome);
            CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
