//! OffsetFetch: committed offsets of one group (v1–7) or several (v8+); unknown
//! partitions answer offset -1, as Kafka does.

use super::{str_bytes, Ctx};
use crate::broker::group::records::OffsetValue;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use std::collections::BTreeMap;

type Found = Vec<(String, i32, Option<OffsetValue>)>;

pub fn handle(ctx: &Ctx<'_>, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let topics = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
                let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match ctx.broker.groups.fetch_offsets(&g.group_id, topics) {
                    Ok(found) => group.with_topics(grouped_v8(ctx, found)),
                    Err(e) => group.with_error_code(e.code()),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
    let _: &GroupId = &req.group_id;
    match ctx.broker.groups.fetch_offsets(&req.group_id, topics.clone()) {
        Ok(found) => OffsetFetchResponse::default().with_topics(grouped(ctx, found)),
        Err(e) if ctx.version >= 2 => OffsetFetchResponse::default().with_error_code(e.code()),
        Err(e) => {
            // v0–1 have no group-level error: every asked partition carries it
            let asked = topics
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(t, parts)| parts.into_iter().map(move |p| (t.clone(), p, None)))
                .collect();
            let mut topics = grouped(ctx, asked);
            for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.error_code = e.code();
            }
            OffsetFetchResponse::default().with_topics(topics)
        }
    }
}

fn by_topic(found: Found) -> BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> {
    let mut m: BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> = BTreeMap::new();
    for (t, p, v) in found {
        m.entry(t).or_default().push((p, v));
    }
    m
}

fn grouped(ctx: &Ctx<'_>, found: Found) -> Vec<OffsetFetchResponseTopic> {
    by_topic(found)
        .into_iter()
        .map(|(t, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(p, v)| {
                    let r = OffsetFetchResponsePartition::default().with_partition_index(p);
                    let (offset, epoch, meta) = fields(v);
                    let r = r.with_committed_offset(offset).with_metadata(Some(str_bytes(meta)));
                    if ctx.version >= 5 {
                        r.with_committed_leader_epoch(epoch)
                    } else {
                        r
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(t))).with_partitions(partitions)
        })
        .collect()
}

fn grouped_v8(_ctx: &Ctx<'_>, found: Found) -> Vec<OffsetFetchResponseTopics> {
    by_topic(found)
        .into_iter()
        .map(|(t, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(p, v)| {
                    let (offset, epoch, meta) = fields(v);
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(str_bytes(meta)))
                })
                .collect();
            OffsetFetchResponseTopics::default().with_name(TopicName(str_bytes(t))).with_partitions(partitions)
        })
        .collect()
}

/// (offset, leader epoch, metadata), or Kafka's "nothing committed" values.
fn fields(v: Option<OffsetValue>) -> (i64, i32, String) {
    match v {
        Some(v) => (v.offset, v.leader_epoch, v.metadata),
        None => (-1, -1, String::new()),
    }
}
