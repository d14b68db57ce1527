//! DeleteTopics: by name (v0–5) or by name or id (v6+).

use super::{error_parts, Ctx};
use crate::broker::error::BrokerError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

pub fn handle(ctx: &Ctx<'_>, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let targets: Vec<(Option<TopicName>, Uuid)> = if ctx.version >= 6 {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n), Uuid::nil())).collect()
    };
    let responses = targets.into_iter().map(|(name, id)| delete_one(ctx, name, id)).collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

fn delete_one(ctx: &Ctx<'_>, name: Option<TopicName>, id: Uuid) -> DeletableTopicResult {
    let b = ctx.broker;
    let topic = match &name {
        Some(n) => b.topic(n).ok_or(BrokerError::UnknownTopicOrPartition),
        None => b.topic_by_id(id).ok_or(BrokerError::UnknownTopicId),
    };
    let outcome = topic.and_then(|t| {
        if t.is_internal() {
            return Err(BrokerError::InvalidRequest(format!("internal topic {} cannot be deleted", t.name)));
        }
        b.delete_topic(&t.name).map(|_| (t.name.clone(), t.id))
    });
    let (code, message) = error_parts(&outcome);
    let mut r = DeletableTopicResult::default().with_name(name).with_topic_id(id).with_error_code(code);
    if ctx.version >= 5 {
        r = r.with_error_message(message);
    }
    if let Ok((n, tid)) = outcome {
        r = r.with_name(Some(TopicName(super::str_bytes(n))));
        if ctx.version >= 6 {
            r = r.with_topic_id(tid);
        }
    }
    r
}
