//! Rules for OffsetFetch: DESCRIBE on the group, then DESCRIBE on each topic.
//! Requested topics the principal may not describe answer TOPIC_AUTHORIZATION_FAILED;
//! when all of a group's offsets are asked for, those topics are left out silently,
//! as in Kafka. One group per request before v8, several from v8.

use super::{split_denied, Check, Decision, Denied};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestTopic, OffsetFetchRequestTopics};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, ResponseKind};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Several groups per request from v8; a top-level error code from v2 (v1 carries
/// a group error in every partition).
const BATCHED_MIN: i16 = 8;
const TOP_LEVEL_ERROR_MIN: i16 = 2;
/// Kafka's "no committed offset".
const NO_OFFSET: i64 = -1;

pub(super) fn offset_fetch(c: &Arc<Check>, r: OffsetFetchRequest) -> Decision<OffsetFetchRequest> {
    if c.version >= BATCHED_MIN {
        batched(c, r)
    } else {
        single(c, r)
    }
}

fn denied_topic(t: &OffsetFetchRequestTopic, why: Denied) -> OffsetFetchResponseTopic {
    let partitions = t
        .partition_indexes
        .iter()
        .map(|&p| {
            OffsetFetchResponsePartition::default()
                .with_partition_index(p)
                .with_committed_offset(NO_OFFSET)
                .with_error_code(why.code())
        })
        .collect();
    OffsetFetchResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
}

fn single(c: &Arc<Check>, mut r: OffsetFetchRequest) -> Decision<OffsetFetchRequest> {
    if !c.group(Operation::Describe, &r.group_id) {
        let resp = if c.version >= TOP_LEVEL_ERROR_MIN {
            OffsetFetchResponse::default().with_error_code(Denied::Group.code())
        } else {
            let topics = r.topics.iter().flatten().map(|t| denied_topic(t, Denied::Group)).collect();
            OffsetFetchResponse::default().with_topics(topics)
        };
        return Decision::Answer(ResponseKind::OffsetFetch(resp));
    }
    let Some(topics) = r.topics.take() else {
        let c = c.clone();
        return Decision::Forward(
            r,
            merge!(OffsetFetch, |resp| resp.topics.retain(|t| c.allowed_quietly(
                Operation::Describe,
                ResourceType::Topic,
                &t.name
            ))),
        );
    };
    let (kept, denied) =
        split_denied(topics, |t| (!c.topic(Operation::Describe, &t.name)).then(|| denied_topic(t, Denied::Topic)));
    let nothing_left = kept.is_empty();
    r.topics = Some(kept);
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if nothing_left {
        return Decision::Answer(ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_topics(denied)));
    }
    Decision::Forward(r, merge!(OffsetFetch, |resp| resp.topics.extend(denied)))
}

fn denied_topics(t: &OffsetFetchRequestTopics) -> OffsetFetchResponseTopics {
    let partitions = t
        .partition_indexes
        .iter()
        .map(|&p| {
            OffsetFetchResponsePartitions::default()
                .with_partition_index(p)
                .with_committed_offset(NO_OFFSET)
                .with_error_code(Denied::Topic.code())
        })
        .collect();
    OffsetFetchResponseTopics::default().with_name(t.name.clone()).with_partitions(partitions)
}

fn batched(c: &Arc<Check>, mut r: OffsetFetchRequest) -> Decision<OffsetFetchRequest> {
    let mut denied_groups = Vec::new();
    let mut denied: HashMap<String, Vec<OffsetFetchResponseTopics>> = HashMap::new();
    let mut filtered: HashSet<String> = HashSet::new();
    let mut kept = Vec::with_capacity(r.groups.len());
    for mut g in std::mem::take(&mut r.groups) {
        if !c.group(Operation::Describe, &g.group_id) {
            denied_groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(Denied::Group.code()),
            );
            continue;
        }
        match g.topics.take() {
            None => {
                filtered.insert(g.group_id.to_string());
            }
            Some(ts) => {
                let (k, d) = split_denied(ts, |t| (!c.topic(Operation::Describe, &t.name)).then(|| denied_topics(t)));
                g.topics = Some(k);
                if !d.is_empty() {
                    denied.entry(g.group_id.to_string()).or_default().extend(d);
                }
            }
        }
        kept.push(g);
    }
    r.groups = kept;
    if denied_groups.is_empty() && denied.is_empty() && filtered.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.groups.is_empty() {
        return Decision::Answer(ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_groups(denied_groups)));
    }
    let c = c.clone();
    Decision::Forward(
        r,
        merge!(OffsetFetch, |resp| {
            for g in resp.groups.iter_mut() {
                if filtered.contains(g.group_id.as_str()) {
                    g.topics.retain(|t| c.allowed_quietly(Operation::Describe, ResourceType::Topic, &t.name));
                }
                if let Some(d) = denied.remove(g.group_id.as_str()) {
                    g.topics.extend(d);
                }
            }
            resp.groups.extend(denied_groups);
        }),
    )
}
