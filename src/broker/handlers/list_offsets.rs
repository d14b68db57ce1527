//! ListOffsets: earliest, latest, max timestamp, or the first offset at or after
//! a timestamp (through the time index).

use super::{check_leader_epoch, Ctx};
use crate::broker::error::BrokerError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

pub fn handle(ctx: &Ctx<'_>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.broker.topic(&t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition_index)) else {
                        return r.with_error_code(BrokerError::UnknownTopicOrPartition.code());
                    };
                    match lookup(ctx, &partition, p) {
                        Ok((offset, timestamp, epoch)) => {
                            let r = r.with_offset(offset).with_timestamp(timestamp);
                            if ctx.version >= 4 {
                                r.with_leader_epoch(epoch)
                            } else {
                                r
                            }
                        }
                        Err(code) => r.with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    ctx: &Ctx<'_>,
    partition: &crate::broker::partition::Partition,
    p: &ListOffsetsPartition,
) -> Result<(i64, i64, i32), i16> {
    if !partition.is_leader() {
        return Err(crate::broker::error::BrokerError::NotLeaderOrFollower.code());
    }
    let o = partition.offsets();
    if ctx.version >= 4 {
        check_leader_epoch(p.current_leader_epoch, o.leader_epoch).map_err(|e| e.code())?;
    }
    let epoch = o.leader_epoch;
    let found = match p.timestamp {
        LATEST => Some((o.high_watermark, -1)),
        EARLIEST | EARLIEST_LOCAL => Some((o.log_start, -1)),
        MAX_TIMESTAMP => partition.max_timestamp(),
        EARLIEST_PENDING_UPLOAD => None,
        ts if ts >= 0 => partition.offset_for_timestamp(ts).map_err(|e| e.code())?,
        _ => return Err(BrokerError::InvalidRequest("negative timestamp".into()).code()),
    };
    Ok(match found {
        Some((offset, ts)) => (offset, ts, epoch),
        None => (-1, -1, -1),
    })
}
