//! OffsetCommit: stores offsets in `__consumer_offsets` for group members, or for
//! standalone consumers (generation -1, no member id) of an empty group. The
//! answer waits until the offsets partition's ISR holds the commit, as in Kafka
//! (`offsets.commit.timeout.ms`).

use super::Ctx;
use crate::broker::group::state::GroupError;
use crate::broker::group::{commit_error, CommitEntry};
use crate::time::now_ms;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

pub async fn handle(ctx: &Ctx<'_>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let v = ctx.version;
    let entries: Vec<CommitEntry> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| CommitEntry {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let instance = if v >= 7 { req.group_instance_id.as_deref() } else { None };
    let result = if req.group_id.is_empty() {
        Err(kafka_protocol::error::ResponseError::InvalidGroupId.code())
    } else {
        ctx.broker
            .groups
            .commit(
                ctx.broker,
                &req.group_id,
                req.generation_id_or_member_epoch,
                &req.member_id,
                instance,
                entries,
                now_ms(),
            )
            .map_err(GroupError::code)
    };
    let result = match result {
        Ok((codes, Some(r))) => {
            let timeout = std::time::Duration::from_millis(ctx.broker.config.broker.offsets_commit_timeout_ms as u64);
            match ctx.broker.await_high_watermark(&r.partition, r.last_offset, timeout).await {
                Ok(()) => Ok(codes),
                Err(e) => {
                    let code = commit_error(&e).code();
                    Ok(codes.into_iter().map(|c| if c == 0 { code } else { c }).collect())
                }
            }
        }
        Ok((codes, None)) => Ok(codes),
        Err(code) => Err(code),
    };
    let mut codes = match result {
        Ok(codes) => codes.into_iter(),
        Err(code) => vec![code; req.topics.iter().map(|t| t.partitions.len()).sum()].into_iter(),
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.next().unwrap_or(0))
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
