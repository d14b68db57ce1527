//! CreateTopics: validates each topic, creates it (or only validates), and
//! answers with its resolved partition count, replication factor and configs.

use super::{error_parts, str_bytes, Ctx};
use crate::broker::error::BrokerError;
use crate::broker::metadata::NewTopic;
use crate::broker::topic_config::TopicConfig;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use std::collections::HashMap;

pub fn handle(ctx: &Ctx<'_>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.to_string()).or_default() += 1;
    }
    let results = req
        .topics
        .iter()
        .map(|t| {
            if seen[t.name.as_str()] > 1 {
                let e = BrokerError::InvalidRequest(format!(
                    "Create topics request from client contains a duplicate topic {}",
                    t.name.as_str()
                ));
                return result_for(ctx, t, Err(e));
            }
            let outcome = create_one(ctx, t, req.validate_only);
            result_for(ctx, t, outcome)
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

/// What was (or would be) created.
struct Created {
    id: uuid::Uuid,
    partitions: i32,
    config: TopicConfig,
}

fn create_one(ctx: &Ctx<'_>, t: &CreatableTopic, validate_only: bool) -> Result<Created, BrokerError> {
    let b = ctx.broker;
    let mut configs = Vec::with_capacity(t.configs.len());
    for c in &t.configs {
        let v = c.value.as_ref().ok_or_else(|| {
            BrokerError::InvalidConfig(format!("Null value not supported for topic configs: {}", c.name.as_str()))
        })?;
        configs.push((c.name.as_str(), v.as_str()));
    }
    let assignments = if t.assignments.is_empty() {
        None
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest("Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into()));
        }
        let mut a: Vec<_> = t
            .assignments
            .iter()
            .map(|a| (a.partition_index, a.broker_ids.iter().map(|id| id.0).collect::<Vec<i32>>()))
            .collect();
        a.sort_by_key(|x| x.0);
        if a.iter().enumerate().any(|(i, x)| x.0 != i as i32) {
            return Err(BrokerError::InvalidReplicaAssignment(
                "partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        Some(a.into_iter().map(|x| x.1).collect::<Vec<_>>())
    };
    let partitions = match (&assignments, t.num_partitions) {
        (Some(a), _) => a.len() as i32,
        (None, -1) => b.config.broker.num_partitions,
        (None, n) => n,
    };
    let replication_factor =
        if t.replication_factor == -1 { b.config.broker.default_replication_factor } else { t.replication_factor };
    let nt = NewTopic { name: t.name.as_str(), partitions, replication_factor, assignments, configs };
    if validate_only {
        let config = b.check_new_topic(&nt)?;
        return Ok(Created { id: uuid::Uuid::nil(), partitions, config });
    }
    let topic = b.create_topic(&nt)?;
    Ok(Created { id: topic.id, partitions: topic.partition_count(), config: topic.config() })
}

fn result_for(ctx: &Ctx<'_>, t: &CreatableTopic, outcome: Result<Created, BrokerError>) -> CreatableTopicResult {
    let (code, message) = error_parts(&outcome);
    let v = ctx.version;
    let r = CreatableTopicResult::default()
        .with_name(t.name.clone())
        .with_error_code(code)
        .with_error_message(message.filter(|_| v >= 1));
    if v < 5 {
        return r;
    }
    match outcome {
        Ok(c) => {
            let configs = c
                .config
                .describe(&ctx.broker.config.broker)
                .into_iter()
                .map(|(k, v, source)| {
                    CreatableTopicConfigs::default()
                        .with_name(str_bytes(k))
                        .with_value(Some(str_bytes(v)))
                        .with_config_source(source as i8)
                })
                .collect();
            let r = r.with_num_partitions(c.partitions).with_replication_factor(1).with_configs(Some(configs));
            if v >= 7 {
                r.with_topic_id(c.id)
            } else {
                r
            }
        }
        Err(_) => r.with_num_partitions(-1).with_replication_factor(-1).with_configs(None),
    }
}
