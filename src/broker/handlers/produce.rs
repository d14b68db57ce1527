//! Produce: validate each partition's batches, append them as leader, answer with
//! the base offset. acks=0 gets no response (and, as in Kafka, a failure closes
//! the connection instead, since there is no response to carry the error).

use super::{error_parts, Ctx};
use crate::broker::error::BrokerError;
use crate::broker::Topic;
use crate::config::TimestampType;
use crate::log::batch;
use crate::time::now_ms;
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::sync::Arc;

/// Kafka's acks values.
const ACKS_NONE: i16 = 0;
const ACKS_LEADER: i16 = 1;
const ACKS_ALL: i16 = -1;
/// Kafka accepts zstd batches only from Produce v7 on (KIP-110).
const ZSTD_PRODUCE_VERSION_MIN: i16 = 7;

/// What the connection does after a produce.
pub enum Outcome {
    Respond(ProduceResponse),
    /// acks=0 and every append worked.
    NoResponse,
    /// acks=0 and something failed: there is no response to carry the error.
    Close(String),
}

pub async fn handle(ctx: &Ctx<'_>, req: ProduceRequest) -> Outcome {
    let acks = req.acks;
    let timeout_ms = req.timeout_ms;
    // acks=all appends still waiting for the HW: (topic index, partition index, append)
    let mut waits: Vec<(usize, usize, Arc<crate::broker::partition::Partition>, i64, i32)> = Vec::new();
    let acks_valid = matches!(acks, ACKS_NONE | ACKS_LEADER | ACKS_ALL);
    let transactional = req.transactional_id.is_some();
    let mut any_error = false;
    let mut appended = false;
    let mut responses: Vec<TopicProduceResponse> = req
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(ti, td)| {
            let topic = lookup(ctx, &td);
            let parts = td
                .partition_data
                .iter()
                .enumerate()
                .map(|(pi, pd)| {
                    let outcome = if !acks_valid {
                        Err(BrokerError::InvalidRequiredAcks)
                    } else if transactional {
                        Err(BrokerError::InvalidRecord("transactional produce is not supported by this broker".into()))
                    } else {
                        topic.as_ref().map_err(clone_lookup_error).and_then(|t| append_partition(ctx, t, pd, acks))
                    };
                    if let Err(e) = &outcome {
                        tracing::debug!(conn = ctx.conn.id, topic = %td.name.as_str(), partition = pd.index, error = %e, "produce rejected");
                    }
                    any_error |= outcome.is_err();
                    appended |= outcome.is_ok();
                    if let Ok(a) = &outcome {
                        if acks == ACKS_ALL && a.high_watermark <= a.last_offset {
                            waits.push((ti, pi, a.partition.clone(), a.last_offset + 1, a.min_insync_replicas));
                        }
                    }
                    partition_response(ctx.version, pd.index, outcome)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(td.name)
                .with_topic_id(td.topic_id)
                .with_partition_responses(parts)
        })
        .collect();
    if appended {
        ctx.broker.notify_appended();
    }
    if !waits.is_empty() {
        // appended: the connection's next request may start while this one waits
        ctx.conn.release_current_turn();
        await_replication(ctx, &mut responses, waits, timeout_ms).await;
    }
    if acks == ACKS_NONE && acks_valid {
        if any_error {
            return Outcome::Close("acks=0 produce failed; closing the connection as Kafka does".into());
        }
        return Outcome::NoResponse;
    }
    Outcome::Respond(ProduceResponse::default().with_responses(responses))
}

/// acks=all: each append is answered once the HW passes it, or with the error that
/// stopped it (leadership lost, ISR below `min.insync.replicas`, timeout).
async fn await_replication(
    ctx: &Ctx<'_>,
    responses: &mut [TopicProduceResponse],
    mut waits: Vec<(usize, usize, Arc<crate::broker::partition::Partition>, i64, i32)>,
    timeout_ms: i32,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms.max(0) as u64);
    let mut changes = ctx.broker.subscribe_appends();
    loop {
        changes.borrow_and_update();
        waits.retain(|(ti, pi, p, target, min_isr)| {
            let failed = if !p.is_leader() {
                Some(BrokerError::NotLeaderOrFollower)
            } else if p.offsets().high_watermark >= *target && (p.isr_len() as i32) >= *min_isr {
                return false;
            } else if (p.isr_len() as i32) < *min_isr {
                Some(BrokerError::NotEnoughReplicasAfterAppend(format!(
                    "ISR shrank below min.insync.replicas {min_isr} before the batch was replicated"
                )))
            } else {
                None
            };
            match failed {
                Some(e) => {
                    fail(ctx.version, &mut responses[*ti].partition_responses[*pi], e);
                    false
                }
                None => true,
            }
        });
        if waits.is_empty() {
            return;
        }
        if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
            for (ti, pi, ..) in waits {
                let e = BrokerError::RequestTimedOut("the batch was not replicated to the ISR in time".into());
                fail(ctx.version, &mut responses[ti].partition_responses[pi], e);
            }
            return;
        }
    }
}

fn fail(version: i16, r: &mut PartitionProduceResponse, e: BrokerError) {
    r.error_code = e.code();
    r.base_offset = -1;
    if version >= 8 {
        r.error_message = Some(super::str_bytes(e.message()));
    }
}

fn lookup(ctx: &Ctx<'_>, td: &TopicProduceData) -> Result<Arc<Topic>, BrokerError> {
    if ctx.version >= 13 {
        ctx.broker.topic_by_id(td.topic_id).ok_or(BrokerError::UnknownTopicId)
    } else {
        ctx.broker.topic(&td.name).ok_or(BrokerError::UnknownTopicOrPartition)
    }
}

fn clone_lookup_error(e: &BrokerError) -> BrokerError {
    match e {
        BrokerError::UnknownTopicId => BrokerError::UnknownTopicId,
        _ => BrokerError::UnknownTopicOrPartition,
    }
}

struct Appended {
    base_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
    last_offset: i64,
    high_watermark: i64,
    min_insync_replicas: i32,
    partition: Arc<crate::broker::partition::Partition>,
}

fn append_partition(
    ctx: &Ctx<'_>,
    topic: &Topic,
    pd: &PartitionProduceData,
    acks: i16,
) -> Result<Appended, BrokerError> {
    let b = ctx.broker;
    let partition = topic.local_partition(pd.index)?;
    let settings = b.produce_settings(topic);
    let records: Bytes = pd.records.clone().unwrap_or_default();
    let headers = batch::split_and_validate(&records, settings.max_message_bytes)?;
    if ctx.version < ZSTD_PRODUCE_VERSION_MIN && headers.iter().any(|h| h.compression() == batch::COMPRESSION_ZSTD) {
        return Err(BrokerError::UnsupportedCompressionType(format!(
            "zstd-compressed batches need Produce v{ZSTD_PRODUCE_VERSION_MIN}+, got v{}",
            ctx.version
        )));
    }
    if headers.iter().any(|h| h.is_transactional() || h.is_control()) {
        return Err(BrokerError::InvalidRecord(
            "transactional and control batches are not supported by this broker".into(),
        ));
    }
    if headers.len() != 1 {
        return Err(BrokerError::InvalidRecord(format!(
            "Produce v{} must carry exactly one record batch per partition, got {}",
            ctx.version,
            headers.len()
        )));
    }
    if acks == ACKS_ALL {
        let min_isr = settings.min_insync_replicas;
        let isr = partition.isr_len() as i32;
        if partition.is_leader() && isr < min_isr {
            return Err(BrokerError::NotEnoughReplicas(format!(
                "ISR size {isr} is below min.insync.replicas {min_isr}"
            )));
        }
    }
    let now = now_ms();
    let append_time = (settings.timestamp_type == TimestampType::LogAppendTime).then_some(now);
    let a = partition.append(&records, &headers, append_time, now)?;
    Ok(Appended {
        base_offset: a.info.first_offset,
        log_append_time_ms: a.info.log_append_time_ms.unwrap_or(-1),
        log_start_offset: a.log_start_offset,
        last_offset: a.info.last_offset,
        high_watermark: partition.offsets().high_watermark,
        min_insync_replicas: settings.min_insync_replicas,
        partition: partition.clone(),
    })
}

fn partition_response(version: i16, index: i32, outcome: Result<Appended, BrokerError>) -> PartitionProduceResponse {
    let (code, message) = error_parts(&outcome);
    let mut r = PartitionProduceResponse::default().with_index(index).with_error_code(code);
    if version >= 8 {
        r = r.with_error_message(message);
    }
    match outcome {
        Ok(a) => {
            let r = r.with_base_offset(a.base_offset).with_log_append_time_ms(a.log_append_time_ms);
            if version >= 5 {
                r.with_log_start_offset(a.log_start_offset)
            } else {
                r
            }
        }
        Err(_) => r.with_base_offset(-1),
    }
}
