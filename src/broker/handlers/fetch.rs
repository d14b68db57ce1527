//! Fetch: whole batches straight from the log, long-polling until `min_bytes`
//! are available or `max_wait_ms` passes. Fetch sessions (KIP-227) are declined
//! by answering session id 0, which makes clients send full requests.

use super::{check_leader_epoch, Ctx};
use crate::broker::error::BrokerError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use std::time::{Duration, Instant};

/// Longest a fetch may park, whatever the client asks: bounds held resources.
pub const FETCH_WAIT_MS_MAX: i32 = 60_000;
/// Bound on a response's size, whatever the client asks.
pub const FETCH_RESPONSE_BYTES_MAX: i32 = 64 * 1024 * 1024;

pub async fn handle(ctx: &Ctx<'_>, req: FetchRequest) -> FetchResponse {
    if req.session_id != 0 {
        return FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code())
            .with_session_id(0);
    }
    let wait_ms = req.max_wait_ms.clamp(0, FETCH_WAIT_MS_MAX);
    let deadline = Instant::now() + Duration::from_millis(wait_ms as u64);
    let mut appends = ctx.broker.subscribe_appends();
    loop {
        appends.borrow_and_update();
        let (topics, bytes, errors) = read_all(ctx, &req);
        let done = bytes >= req.min_bytes.max(0) as usize || errors || Instant::now() >= deadline;
        if done {
            return FetchResponse::default().with_session_id(0).with_responses(topics);
        }
        // wake on the next append anywhere, or at the deadline
        if tokio::time::timeout_at(deadline.into(), appends.changed()).await.is_err() {
            let (topics, _, _) = read_all(ctx, &req);
            return FetchResponse::default().with_session_id(0).with_responses(topics);
        }
    }
}

/// Reads every requested partition once: (responses, record bytes, any error).
fn read_all(ctx: &Ctx<'_>, req: &FetchRequest) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut budget = req.max_bytes.clamp(0, FETCH_RESPONSE_BYTES_MAX) as usize;
    // a follower replica (Kafka's replica fetcher) names itself; consumers send -1
    let replica = if ctx.version >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    let mut total = 0usize;
    let mut errors = false;
    let mut min_one = true;
    let topics = req
        .topics
        .iter()
        .map(|ft| {
            let partitions = ft
                .partitions
                .iter()
                .map(|fp| {
                    let limit = (fp.partition_max_bytes.max(0) as usize).min(budget);
                    let pd = read_partition(
                        ctx,
                        ft,
                        fp.partition,
                        fp.fetch_offset,
                        fp.current_leader_epoch,
                        limit,
                        min_one,
                        replica,
                    );
                    let n = pd.records.as_ref().map_or(0, |r| r.len());
                    if n > 0 {
                        min_one = false;
                    }
                    budget = budget.saturating_sub(n);
                    total += n;
                    errors |= pd.error_code != 0;
                    pd
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (topics, total, errors)
}

#[allow(clippy::too_many_arguments, reason = "one call site; each argument is a request field")]
fn read_partition(
    ctx: &Ctx<'_>,
    ft: &FetchTopic,
    index: i32,
    offset: i64,
    leader_epoch: i32,
    limit: usize,
    min_one: bool,
    replica: i32,
) -> PartitionData {
    let pd = PartitionData::default().with_partition_index(index);
    let topic = if ctx.version >= 13 {
        ctx.broker.topic_by_id(ft.topic_id).ok_or(BrokerError::UnknownTopicId)
    } else {
        ctx.broker.topic(&ft.topic).ok_or(BrokerError::UnknownTopicOrPartition)
    };
    let partition = match topic.and_then(|t| t.local_partition(index)) {
        Ok(p) => p,
        Err(e) => return pd.with_error_code(e.code()).with_high_watermark(-1).with_records(None),
    };
    let offsets = partition.offsets();
    if let Err(e) = check_leader_epoch(leader_epoch, offsets.leader_epoch) {
        return pd.with_error_code(e.code()).with_high_watermark(-1).with_records(None);
    }
    // read_committed sees up to the last stable offset, which equals the high
    // watermark while no transactions exist
    let read = if replica >= 0 {
        partition.read_for_follower(replica, offset, limit, crate::time::now_ms()).map(|(read, hw_moved)| {
            if hw_moved {
                ctx.broker.notify_appended();
            }
            read
        })
    } else {
        partition.read(offset, limit, min_one)
    };
    let log_start = |pd: PartitionData, v: i64| if ctx.version >= 5 { pd.with_log_start_offset(v) } else { pd };
    match read {
        Ok(r) => log_start(pd, r.offsets.log_start)
            .with_high_watermark(r.offsets.high_watermark)
            .with_last_stable_offset(r.offsets.high_watermark)
            .with_records(Some(r.records)),
        Err(e) => log_start(pd, offsets.log_start)
            .with_error_code(e.code())
            .with_high_watermark(offsets.high_watermark)
            .with_last_stable_offset(offsets.high_watermark)
            .with_records(None),
    }
}
