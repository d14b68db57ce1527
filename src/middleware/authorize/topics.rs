//! Rules for topic metadata and administration: Metadata (DESCRIBE filters topics,
//! CREATE for auto-creation, authorized operations), DescribeCluster (authorized
//! operations), CreateTopics (CREATE on the cluster or the topic; DESCRIBE_CONFIGS
//! to see the resulting configs), DeleteTopics (DELETE) and CreatePartitions (ALTER).

use super::{split_denied, Check, Decision, Denied};
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeClusterRequest, MetadataRequest, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Metadata versions with topic ids (v10), nullable topic names in responses (v12),
/// authorized operations (v8; the cluster's only up to v10), auto-creation flag (v4).
const METADATA_TOPIC_ID_MIN: i16 = 10;
const METADATA_NULLABLE_NAME_MIN: i16 = 12;
const METADATA_OPERATIONS_MIN: i16 = 8;
const METADATA_CLUSTER_OPERATIONS_MAX: i16 = 10;
const METADATA_AUTO_CREATE_FLAG_MIN: i16 = 4;
/// CreateTopics returns configs from v5; DeleteTopics has messages from v5, ids from v6.
const CREATE_TOPICS_CONFIGS_MIN: i16 = 5;
const DELETE_TOPICS_MESSAGE_MIN: i16 = 5;
const DELETE_TOPICS_ID_MIN: i16 = 6;

pub(super) fn metadata(c: &Arc<Check>, mut r: MetadataRequest) -> Decision<MetadataRequest> {
    let v = c.version;
    let want_topic_ops = v >= METADATA_OPERATIONS_MIN && r.include_topic_authorized_operations;
    let want_cluster_ops = (METADATA_OPERATIONS_MIN..=METADATA_CLUSTER_OPERATIONS_MAX).contains(&v)
        && r.include_cluster_authorized_operations;
    // v0: an empty list means every topic; v1+: null does
    let all = r.topics.is_none() || (v == 0 && r.topics.as_ref().is_some_and(Vec::is_empty));
    let mut denied = Vec::new();
    let mut nothing_left = false;
    if !all && c.enforcing() {
        let auto_create =
            (v < METADATA_AUTO_CREATE_FLAG_MIN || r.allow_auto_topic_creation) && c.topics.auto_creates_topics();
        let (kept, refused) =
            split_denied(r.topics.take().unwrap_or_default(), |t| denied_metadata_topic(c, t, auto_create));
        // an emptied v0 list would ask for every topic: the answer's topics are dropped
        nothing_left = kept.is_empty();
        r.topics = Some(kept);
        denied = refused;
    }
    let c = c.clone();
    Decision::Forward(
        r,
        merge!(Metadata, |resp| {
            if all {
                // listings leave out what the principal may not describe, silently
                resp.topics.retain(|t| {
                    t.name.as_ref().is_some_and(|n| c.allowed_quietly(Operation::Describe, ResourceType::Topic, n))
                });
            } else if nothing_left {
                resp.topics.clear();
            }
            if want_topic_ops {
                for t in resp.topics.iter_mut().filter(|t| t.error_code == 0) {
                    if let Some(n) = &t.name {
                        t.topic_authorized_operations = c.operations(ResourceType::Topic, n);
                    }
                }
            }
            if want_cluster_ops {
                resp.cluster_authorized_operations = c.operations(ResourceType::Cluster, CLUSTER_NAME);
            }
            resp.topics.extend(denied);
        }),
    )
}

/// The answer for a requested topic the principal may not see (or may not create).
fn denied_metadata_topic(
    c: &Check,
    t: &kafka_protocol::messages::metadata_request::MetadataRequestTopic,
    auto_create: bool,
) -> Option<MetadataResponseTopic> {
    let v = c.version;
    let Some(name) = &t.name else {
        // by id: unknown ids go on (UNKNOWN_TOPIC_ID); ids are not secret, so a known
        // one the principal may not describe is TOPIC_AUTHORIZATION_FAILED
        let name = c.topics.topic_name(t.topic_id)?;
        if c.topic(Operation::Describe, &name) {
            return None;
        }
        // before v12 a response topic must have a name: an empty one reveals nothing
        let shown = (v < METADATA_NULLABLE_NAME_MIN).then(TopicName::default);
        return Some(metadata_denial(v, shown, t.topic_id));
    };
    if !c.topic(Operation::Describe, name) {
        return Some(metadata_denial(v, Some(name.clone()), Uuid::nil()));
    }
    let may_create = !auto_create
        || c.allowed_quietly(Operation::Create, ResourceType::Cluster, CLUSTER_NAME)
        || c.topics.topic_exists(name)
        || c.topic(Operation::Create, name);
    (!may_create).then(|| metadata_denial(v, Some(name.clone()), Uuid::nil()))
}

fn metadata_denial(v: i16, name: Option<TopicName>, id: Uuid) -> MetadataResponseTopic {
    let t = MetadataResponseTopic::default().with_name(name).with_error_code(Denied::Topic.code());
    if v >= METADATA_TOPIC_ID_MIN {
        t.with_topic_id(id)
    } else {
        t
    }
}

pub(super) fn describe_cluster(c: &Arc<Check>, r: DescribeClusterRequest) -> Decision<DescribeClusterRequest> {
    if !r.include_cluster_authorized_operations {
        return Decision::Forward(r, None);
    }
    let c = c.clone();
    Decision::Forward(
        r,
        merge!(DescribeCluster, |resp| {
            resp.cluster_authorized_operations = c.operations(ResourceType::Cluster, CLUSTER_NAME)
        }),
    )
}

/// Names that occur more than once: Kafka refuses those as duplicates before it
/// looks at ACLs, so they go on for the backend to refuse.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for n in names {
        *counts.entry(n.to_string()).or_default() += 1;
    }
    counts.retain(|_, n| *n > 1);
    counts
}

pub(super) fn create_topics(c: &Arc<Check>, mut r: CreateTopicsRequest) -> Decision<CreateTopicsRequest> {
    let dups = duplicates(r.topics.iter().map(|t| t.name.as_str()));
    let cluster_create = c.allowed_quietly(Operation::Create, ResourceType::Cluster, CLUSTER_NAME);
    let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| {
        let allowed = cluster_create || dups.contains_key(t.name.as_str()) || c.topic(Operation::Create, &t.name);
        (!allowed).then(|| {
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(Denied::Topic.code())
                .with_error_message(Some(StrBytes::from_static_str("Authorization failed.")))
        })
    });
    r.topics = kept;
    if !denied.is_empty() && r.topics.is_empty() {
        return Decision::Answer(ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(denied)));
    }
    let hide_configs = c.version >= CREATE_TOPICS_CONFIGS_MIN;
    let c = c.clone();
    Decision::Forward(
        r,
        merge!(CreateTopics, |resp| {
            if hide_configs {
                // the configs of a created topic are shown only with DESCRIBE_CONFIGS
                for t in resp.topics.iter_mut().filter(|t| t.error_code == 0) {
                    if !c.allowed_quietly(Operation::DescribeConfigs, ResourceType::Topic, &t.name) {
                        t.topic_config_error_code = Denied::Topic.code();
                        t.configs = None;
                        t.num_partitions = -1;
                        t.replication_factor = -1;
                    }
                }
            }
            resp.topics.extend(denied);
        }),
    )
}

pub(super) fn delete_topics(c: &Check, mut r: DeleteTopicsRequest) -> Decision<DeleteTopicsRequest> {
    let v = c.version;
    let result = |name: Option<TopicName>, id: Uuid, why: Denied| {
        let d = DeletableTopicResult::default().with_name(name).with_error_code(why.code());
        let d = if v >= DELETE_TOPICS_MESSAGE_MIN { d.with_error_message(Some(why.message())) } else { d };
        if v >= DELETE_TOPICS_ID_MIN {
            d.with_topic_id(id)
        } else {
            d
        }
    };
    let denied = if v >= DELETE_TOPICS_ID_MIN {
        let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| match &t.name {
            Some(n) => (!c.topic(Operation::Delete, n)).then(|| result(Some(n.clone()), t.topic_id, Denied::Topic)),
            None => {
                let name = c.topics.topic_name(t.topic_id)?;
                if !c.topic(Operation::Describe, &name) {
                    Some(result(None, t.topic_id, Denied::HiddenTopicId))
                } else {
                    (!c.topic(Operation::Delete, &name)).then(|| result(None, t.topic_id, Denied::Topic))
                }
            }
        });
        r.topics = kept;
        denied
    } else {
        let (kept, denied) = split_denied(std::mem::take(&mut r.topic_names), |n| {
            (!c.topic(Operation::Delete, n)).then(|| result(Some(n.clone()), Uuid::nil(), Denied::Topic))
        });
        r.topic_names = kept;
        denied
    };
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() && r.topic_names.is_empty() {
        return Decision::Answer(ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(denied)));
    }
    Decision::Forward(r, merge!(DeleteTopics, |resp| resp.responses.extend(denied)))
}

pub(super) fn create_partitions(c: &Check, mut r: CreatePartitionsRequest) -> Decision<CreatePartitionsRequest> {
    let dups = duplicates(r.topics.iter().map(|t| t.name.as_str()));
    let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| {
        let allowed = dups.contains_key(t.name.as_str()) || c.topic(Operation::Alter, &t.name);
        (!allowed).then(|| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(Denied::Topic.code())
                .with_error_message(Some(Denied::Topic.message()))
        })
    });
    r.topics = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() {
        return Decision::Answer(ResponseKind::CreatePartitions(
            CreatePartitionsResponse::default().with_results(denied),
        ));
    }
    Decision::Forward(r, merge!(CreatePartitions, |resp| resp.results.extend(denied)))
}
