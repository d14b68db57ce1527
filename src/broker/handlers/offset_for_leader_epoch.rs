//! OffsetForLeaderEpoch: where a leader epoch ended in the leader's log. Followers
//! ask it to find where their log diverges after a leader change; clients ask it
//! (KIP-320) to detect a log truncated under them.

use super::{check_leader_epoch, Ctx};
use crate::broker::error::BrokerError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

pub fn handle(ctx: &Ctx<'_>, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.broker.topic(&t.topic);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let found = topic.as_ref().ok_or(BrokerError::UnknownTopicOrPartition).and_then(|t| {
                        let part = t.local_partition(p.partition)?;
                        if !part.is_leader() {
                            return Err(BrokerError::NotLeaderOrFollower);
                        }
                        Ok(part)
                    });
                    let part = match found {
                        Ok(part) => part,
                        Err(e) => return r.with_error_code(e.code()).with_leader_epoch(-1).with_end_offset(-1),
                    };
                    if let Err(e) = check_leader_epoch(p.current_leader_epoch, part.offsets().leader_epoch) {
                        return r.with_error_code(e.code()).with_leader_epoch(-1).with_end_offset(-1);
                    }
                    let (epoch, end) = part.epoch_end_offset(p.leader_epoch);
                    r.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(t.topic).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
