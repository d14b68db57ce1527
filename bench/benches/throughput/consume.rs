//! Consume throughput: read a produced topic back with an assign-only `BaseConsumer`
//! (gregor has no group APIs yet, so never `subscribe()`), checking count and offsets.

use crate::client::{base_config, warm_up, with_overrides, ClientLog};
use crate::cpu::{CpuMeter, CpuShare};
use crate::security::Endpoint;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// A run that sees no new record for this long is stuck: give up and report it.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What one consume run measured and verified.
pub struct ConsumeOutcome {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub cpu: CpuShare,
    /// Everything that makes the run invalid: errors, gaps, wrong counts.
    pub problems: Vec<String>,
}

/// Per-partition bookkeeping: the next offset we expect and how many we saw.
#[derive(Clone, Default)]
struct PartitionTally {
    next_offset: i64,
    seen: u64,
    gaps: u64,
}

/// Reads `expected[p]` records from every partition `p` of `topic`, from the beginning.
pub fn run(
    endpoint: &Endpoint,
    topic: &str,
    expected: &[u64],
    broker_pid: Option<u32>,
) -> Result<ConsumeOutcome, String> {
    let consumer = consumer(endpoint)?;
    warm_up(consumer.client(), topic, expected.len() as i32)?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..expected.len() as i32 {
        assignment.add_partition_offset(topic, p, Offset::Beginning).map_err(|e| e.to_string())?;
    }
    let total: u64 = expected.iter().sum();
    let meter = CpuMeter::start(broker_pid);
    let start = Instant::now();
    consumer.assign(&assignment).map_err(|e| format!("assign: {e}"))?;
    let (tallies, bytes, mut problems) = drain(&consumer, expected.len(), total);
    let elapsed = start.elapsed();
    let cpu = meter.finish();
    problems.extend(verify(&tallies, expected));
    problems.extend(consumer.context().summary());
    Ok(ConsumeOutcome { records: tallies.iter().map(|t| t.seen).sum(), bytes, elapsed, cpu, problems })
}

fn consumer(endpoint: &Endpoint) -> Result<BaseConsumer<ClientLog>, String> {
    let mut config = base_config(endpoint);
    config
        // librdkafka wants a group id; with assign() and commits off no group protocol
        // runs (no JoinGroup/OffsetCommit), at most a coordinator lookup
        .set("group.id", "gregor-bench-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // fetch.max.bytes large, but partitions at Kafka's 1 MiB default: bigger
        // per-partition fetches were measured slower against gregor (1 KiB records,
        // 1 partition: 1,000–1,500 MB/s at 1 MiB, ≈ 400 MB/s at 50 MiB), both sides
        // paying page faults on fresh multi-MiB buffers; see bench/RESULTS.md.
        // --consumer-set overrides it.
        .set("fetch.max.bytes", "104857600")
        .set("max.partition.fetch.bytes", "1048576")
        .set("receive.message.max.bytes", "209715200")
        // librdkafka stops fetching a partition once its prefetch queue holds
        // queued.min.messages (default 100,000) or queued.max.messages.kbytes, and then
        // waits fetch.queue.backoff.ms (default 1 s) before looking again: with 100 B
        // records that idles client and broker most of the time (measured: 43 MB/s with
        // the defaults, 150 MB/s without the stall). Prefetch up to 1 GiB instead.
        .set("queued.min.messages", "10000000")
        .set("queued.max.messages.kbytes", "1048576")
        .set("fetch.queue.backoff.ms", "10");
    with_overrides(config, false)
        .create_with_context(ClientLog::new("consumer"))
        .map_err(|e| format!("creating consumer: {e}"))
}

/// Polls until `total` records arrived (or the stream stalls), tallying offsets.
fn drain(consumer: &BaseConsumer<ClientLog>, partitions: usize, total: u64) -> (Vec<PartitionTally>, u64, Vec<String>) {
    let mut tallies = vec![PartitionTally::default(); partitions];
    let (mut count, mut bytes, mut problems) = (0u64, 0u64, Vec::new());
    let mut last_progress = Instant::now();
    while count < total {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let Some(tally) = tallies.get_mut(message.partition() as usize) else {
                    problems.push(format!("record from unassigned partition {}", message.partition()));
                    continue;
                };
                tally.gaps += u64::from(message.offset() != tally.next_offset);
                tally.next_offset = message.offset() + 1;
                tally.seen += 1;
                bytes += message.payload_len() as u64;
                count += 1;
                last_progress = Instant::now();
            }
            // one broken fetch tends to repeat every poll: keep the first few
            Some(Err(e)) if problems.len() < 10 => problems.push(format!("consumer error: {e}")),
            Some(Err(_)) => {}
            None if last_progress.elapsed() > STALL_TIMEOUT => {
                problems.push(format!("stalled: {count} of {total} records after {STALL_TIMEOUT:?} without progress"));
                break;
            }
            None => {}
        }
    }
    (tallies, bytes, problems)
}

/// Each partition must hold exactly what was produced to it, at offsets 0, 1, 2, …
fn verify(tallies: &[PartitionTally], expected: &[u64]) -> Vec<String> {
    let mut problems = Vec::new();
    for (p, (tally, want)) in tallies.iter().zip(expected).enumerate() {
        if tally.seen != *want {
            problems.push(format!("partition {p}: {} records, expected {want}", tally.seen));
        }
        if tally.gaps > 0 {
            problems.push(format!("partition {p}: {} offset discontinuities", tally.gaps));
        }
    }
    problems
}
