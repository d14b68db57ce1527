//! OffsetDelete: drops committed offsets of topics the group no longer consumes.

use super::Ctx;
use crate::broker::group::state::GroupError;
use crate::time::now_ms;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

pub fn handle(ctx: &Ctx<'_>, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let topics: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()))
        .collect();
    match ctx.broker.groups.delete_offsets(ctx.broker, &req.group_id, &topics, now_ms()) {
        Ok(codes) => {
            let topics = req
                .topics
                .iter()
                .zip(codes)
                .map(|(t, codes)| {
                    let partitions = t
                        .partitions
                        .iter()
                        .zip(codes)
                        .map(|(p, c)| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(c)
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
        Err(GroupError::CoordinatorNotAvailable) => {
            OffsetDeleteResponse::default().with_error_code(ResponseError::GroupIdNotFound.code())
        }
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
    }
}
