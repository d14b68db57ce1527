//! Produce throughput: N records as fast as a tuned `ThreadedProducer` can push them, timed
//! from the first `send` to the last delivery report, with every delivery counted.

use crate::client::{base_config, ClientLog};
use crate::cpu::CpuMeter;
use crate::security::Endpoint;
use crate::Case;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the last delivery reports may take before the missing ones count as failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// What one produce run measured.
pub struct ProduceOutcome {
    pub delivered: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    /// librdkafka's own warnings and errors, if any (see `ClientLog::summary`).
    pub warnings: Option<String>,
    pub elapsed: Duration,
    pub cpu: crate::cpu::CpuShare,
}

/// Counts delivery reports and remembers when the last one arrived.
struct Deliveries {
    epoch: Instant,
    ok: AtomicU64,
    failed: AtomicU64,
    last_ns: AtomicU64,
    first_failure: Mutex<Option<String>>,
    log: ClientLog,
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason)
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                self.first_failure.lock().unwrap().get_or_insert_with(|| e.to_string());
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        self.last_ns.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// The throughput producer's settings: what a bulk-loading client would use.
pub fn throughput_producer(endpoint: &Endpoint, acks: &str, linger_ms: u32) -> rdkafka::ClientConfig {
    let mut config = base_config(endpoint);
    config
        .set("acks", acks)
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", "1000000")
        // 10,000 (the default) would cap 100 B batches at 1 MB anyway; keep batch.size the limit
        .set("batch.num.messages", "1000000")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097152")
        .set("compression.type", "none")
        .set("enable.idempotence", "false");
    crate::client::with_overrides(config, true)
}

/// Produces `records` values of `case.record_bytes` to `topic`, round-robin over its
/// partitions (so every produce request carries a batch per partition).
pub fn run(
    endpoint: &Endpoint,
    topic: &str,
    case: &Case,
    records: u64,
    broker_pid: Option<u32>,
) -> Result<ProduceOutcome, String> {
    let context = Deliveries {
        epoch: Instant::now(),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
        first_failure: Mutex::new(None),
        log: ClientLog::new("producer"),
    };
    // ThreadedProducer: its own thread serves delivery reports as they arrive, so this
    // one only sends (BaseProducer::poll(d) busy-spins for the last millisecond of d:
    // rdkafka rounds the remaining time down to whole ms)
    let producer: ThreadedProducer<Deliveries> = throughput_producer(endpoint, case.acks.config_value(), 5)
        .create_with_context(context)
        .map_err(|e| format!("creating producer: {e}"))?;
    crate::client::warm_up(producer.client(), topic, case.partitions)?;
    let payload = crate::payload(case.record_bytes);
    let meter = CpuMeter::start(broker_pid);
    let ctx = producer.context();
    let start_ns = ctx.epoch.elapsed().as_nanos() as u64;
    for i in 0..records {
        let record = BaseRecord::to(topic).payload(&payload[..]).partition((i % case.partitions as u64) as i32);
        send(&producer, record)?;
    }
    let reported = || ctx.ok.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed);
    let complete = await_reports(reported, records, DELIVERY_TIMEOUT);
    let cpu = meter.finish();
    let mut failed = ctx.failed.load(Ordering::Relaxed);
    let mut first_failure = ctx.first_failure.lock().unwrap().clone();
    if !complete {
        failed = records - ctx.ok.load(Ordering::Relaxed);
        first_failure.get_or_insert(format!(
            "no delivery report for {} records after {DELIVERY_TIMEOUT:?}",
            records - reported()
        ));
    }
    let end_ns = ctx.last_ns.load(Ordering::Relaxed).max(start_ns);
    let elapsed = Duration::from_nanos(end_ns - start_ns);
    let (delivered, warnings) = (ctx.ok.load(Ordering::Relaxed), ctx.log.summary());
    Ok(ProduceOutcome { delivered, failed, first_failure, warnings, elapsed, cpu })
}

/// Waits until `reported()` reaches `total`; false when `timeout` passes first. Checks
/// every millisecond: the end time comes from the last report itself, not from here.
pub fn await_reports(reported: impl Fn() -> u64, total: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while reported() < total {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// `send`, sleeping while librdkafka's queue is full (the polling thread drains it).
pub fn send<C: ProducerContext>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, (), [u8], C::DeliveryOpaque>,
) -> Result<(), String> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(format!("send refused by librdkafka: {e}")),
        }
    }
}
