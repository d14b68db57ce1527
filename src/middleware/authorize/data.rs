//! Rules for the data path: Produce (WRITE on each topic, WRITE on the transactional
//! id), Fetch (READ per topic for consumers, CLUSTER_ACTION for replicas),
//! ListOffsets and OffsetForLeaderEpoch (DESCRIBE per topic).
//!
//! Fetch sessions (KIP-227) are not tracked here: the broker declines them, and a
//! proxy must do the same (or track session partitions) for READ to hold on
//! incremental fetches.

use super::{split_denied, Check, Decision, Denied};
use crate::security::acl::{Operation, ResourceType};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::produce_request::TopicProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, ProduceRequest, ProduceResponse, ResponseKind,
};
use std::borrow::Cow;
use uuid::Uuid;

/// Produce v13 and Fetch v13 address topics by id.
const TOPIC_ID_VERSION_MIN: i16 = 13;
/// Fetch v15 moved the replica id into `replica_state`.
const FETCH_REPLICA_STATE_VERSION_MIN: i16 = 15;
/// Kafka's acks=0: no response, so a denial closes the connection.
const ACKS_NONE: i16 = 0;

/// The topic a name-or-id entry stands for; `None` for an id nobody knows (the
/// backend answers UNKNOWN_TOPIC_ID). Names are borrowed: this runs per produce.
fn topic_name<'a>(c: &Check, name: &'a str, id: Uuid) -> Option<Cow<'a, str>> {
    if c.version >= TOPIC_ID_VERSION_MIN {
        c.topics.topic_name(id).map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(name))
    }
}

pub(super) fn produce(c: &Check, mut r: ProduceRequest) -> Decision<ProduceRequest> {
    let acks_none = r.acks == ACKS_NONE;
    if let Some(txn) = &r.transactional_id {
        if !c.allowed(Operation::Write, ResourceType::TransactionalId, txn) {
            if acks_none {
                return Decision::Close("acks=0 produce with an unauthorized transactional id".into());
            }
            let all: Vec<_> = r.topic_data.iter().map(|td| denied_produce(td, Denied::TransactionalId)).collect();
            return Decision::Answer(ResponseKind::Produce(ProduceResponse::default().with_responses(all)));
        }
    }
    let (kept, denied) = split_denied(std::mem::take(&mut r.topic_data), |td| {
        let name = topic_name(c, &td.name, td.topic_id)?;
        (!c.topic(Operation::Write, &name)).then(|| denied_produce(td, Denied::Topic))
    });
    r.topic_data = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if acks_none {
        // Kafka writes the authorized partitions, then closes: acks=0 has no response
        if r.topic_data.is_empty() {
            return Decision::Close("acks=0 produce to unauthorized topics".into());
        }
        let close =
            Box::new(|_| Err(crate::middleware::StackError::Denied("acks=0 produce to unauthorized topics".into())))
                as super::Merge;
        return Decision::Forward(r, Some(close));
    }
    if r.topic_data.is_empty() {
        return Decision::Answer(ResponseKind::Produce(ProduceResponse::default().with_responses(denied)));
    }
    Decision::Forward(r, merge!(Produce, |resp| resp.responses.extend(denied)))
}

fn denied_produce(td: &TopicProduceData, why: Denied) -> TopicProduceResponse {
    let partitions = td
        .partition_data
        .iter()
        .map(|p| {
            PartitionProduceResponse::default().with_index(p.index).with_error_code(why.code()).with_base_offset(-1)
        })
        .collect();
    TopicProduceResponse::default()
        .with_name(td.name.clone())
        .with_topic_id(td.topic_id)
        .with_partition_responses(partitions)
}

pub(super) fn fetch(c: &Check, mut r: FetchRequest) -> Decision<FetchRequest> {
    let replica_id =
        if c.version >= FETCH_REPLICA_STATE_VERSION_MIN { r.replica_state.replica_id } else { r.replica_id };
    let (kept, denied) = if replica_id.0 >= 0 {
        // a follower reads everything or nothing
        if c.cluster(Operation::ClusterAction) {
            return Decision::Forward(r, None);
        }
        let denied = r.topics.iter().map(|t| denied_fetch(t, Denied::Topic)).collect();
        (Vec::new(), denied)
    } else {
        split_denied(std::mem::take(&mut r.topics), |t| {
            let name = topic_name(c, &t.topic, t.topic_id)?;
            (!c.topic(Operation::Read, &name)).then(|| denied_fetch(t, Denied::Topic))
        })
    };
    r.topics = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() {
        // nothing left to wait for: Kafka answers at once
        return Decision::Answer(ResponseKind::Fetch(FetchResponse::default().with_responses(denied)));
    }
    Decision::Forward(r, merge!(Fetch, |resp| resp.responses.extend(denied)))
}

fn denied_fetch(t: &kafka_protocol::messages::fetch_request::FetchTopic, why: Denied) -> FetchableTopicResponse {
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            PartitionData::default()
                .with_partition_index(p.partition)
                .with_error_code(why.code())
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_aborted_transactions(None)
                .with_records(None)
        })
        .collect();
    FetchableTopicResponse::default().with_topic(t.topic.clone()).with_topic_id(t.topic_id).with_partitions(partitions)
}

pub(super) fn list_offsets(c: &Check, mut r: ListOffsetsRequest) -> Decision<ListOffsetsRequest> {
    let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| {
        (!c.topic(Operation::Describe, &t.name)).then(|| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(Denied::Topic.code())
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
        })
    });
    r.topics = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() {
        return Decision::Answer(ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(denied)));
    }
    Decision::Forward(r, merge!(ListOffsets, |resp| resp.topics.extend(denied)))
}

pub(super) fn offset_for_leader_epoch(
    c: &Check,
    mut r: OffsetForLeaderEpochRequest,
) -> Decision<OffsetForLeaderEpochRequest> {
    let answer =
        |topics| ResponseKind::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse::default().with_topics(topics));
    let deny_all = |r: &OffsetForLeaderEpochRequest, why: Denied| -> Vec<OffsetForLeaderTopicResult> {
        r.topics.iter().map(|t| denied_epochs(t, why)).collect()
    };
    // replicas need CLUSTER_ACTION (replica_id exists from v3; consumers send -1)
    if r.replica_id.0 >= 0 && !c.cluster(Operation::ClusterAction) {
        return Decision::Answer(answer(deny_all(&r, Denied::Cluster)));
    }
    let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| {
        (!c.topic(Operation::Describe, &t.topic)).then(|| denied_epochs(t, Denied::Topic))
    });
    r.topics = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() {
        return Decision::Answer(answer(denied));
    }
    Decision::Forward(r, merge!(OffsetForLeaderEpoch, |resp| resp.topics.extend(denied)))
}

fn denied_epochs(
    t: &kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderTopic,
    why: Denied,
) -> OffsetForLeaderTopicResult {
    let partitions =
        t.partitions.iter().map(|p| EpochEndOffset::default().with_partition(p.partition).with_error_code(why.code()));
    OffsetForLeaderTopicResult::default().with_topic(t.topic.clone()).with_partitions(partitions.collect())
}
