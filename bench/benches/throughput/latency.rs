//! Produce latency at a fixed rate: `linger.ms=0`, records paced evenly, and for each
//! one the time from `send` to its delivery report.

use crate::client::{warm_up, ClientLog};
use crate::cpu::{CpuMeter, CpuShare};
use crate::produce::{await_reports, send, throughput_producer, DELIVERY_TIMEOUT};
use crate::security::Endpoint;
use crate::Case;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pacing tick: records due since the last tick go out together.
const TICK: Duration = Duration::from_micros(200);

/// Latency percentiles of one run, in milliseconds.
pub struct LatencyOutcome {
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    pub warnings: Option<String>,
    pub target_rate: u64,
    pub achieved_rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub cpu: CpuShare,
}

/// Each record's opaque is its send time (ns since `epoch`), so a delivery report
/// carries everything needed to compute its latency.
struct Stopwatch {
    epoch: Instant,
    samples_ns: Mutex<Vec<u64>>,
    failures: Mutex<(u64, Option<String>)>,
    log: ClientLog,
}

impl ClientContext for Stopwatch {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason)
    }
}

impl ProducerContext for Stopwatch {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.epoch.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => self.samples_ns.lock().unwrap().push(now_ns.saturating_sub(sent_ns as u64)),
            Err((e, _)) => {
                let mut failures = self.failures.lock().unwrap();
                failures.0 += 1;
                failures.1.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Sends `rate` records/s for `duration`, round-robin over the partitions.
pub fn run(
    endpoint: &Endpoint,
    topic: &str,
    case: &Case,
    (rate, duration): (u64, Duration),
    broker_pid: Option<u32>,
) -> Result<LatencyOutcome, String> {
    let total = ((rate as f64 * duration.as_secs_f64()) as u64).max(1);
    let context = Stopwatch {
        epoch: Instant::now(),
        samples_ns: Mutex::new(Vec::with_capacity(total as usize)),
        failures: Mutex::new((0, None)),
        log: ClientLog::new("latency producer"),
    };
    // delivery reports are served by the producer's own thread the moment they arrive
    let producer: ThreadedProducer<Stopwatch> = throughput_producer(endpoint, case.acks.config_value(), 0)
        .create_with_context(context)
        .map_err(|e| format!("creating producer: {e}"))?;
    warm_up(producer.client(), topic, case.partitions)?;
    let payload = crate::payload(case.record_bytes);
    let watch = producer.context();
    let meter = CpuMeter::start(broker_pid);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        // how many records should be out by now; catch up in one burst if behind
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        for i in sent..due {
            let sent_ns = watch.epoch.elapsed().as_nanos() as usize;
            let record = BaseRecord::with_opaque_to(topic, sent_ns)
                .payload(&payload[..])
                .partition((i % case.partitions as u64) as i32);
            send(&producer, record)?;
        }
        sent = due;
        std::thread::sleep(TICK);
    }
    let achieved_rate = total as f64 / start.elapsed().as_secs_f64();
    let reported = || watch.samples_ns.lock().unwrap().len() as u64 + watch.failures.lock().unwrap().0;
    let complete = await_reports(reported, total, DELIVERY_TIMEOUT);
    let cpu = meter.finish();
    Ok(summarize(watch, total, (rate, achieved_rate), complete, cpu))
}

/// Percentiles and failure counts once every report is in; `rates` is (wanted, achieved).
fn summarize(watch: &Stopwatch, sent: u64, rates: (u64, f64), complete: bool, cpu: CpuShare) -> LatencyOutcome {
    let mut samples = watch.samples_ns.lock().unwrap();
    samples.sort_unstable();
    let (mut failed, mut first_failure) = watch.failures.lock().unwrap().clone();
    let delivered = samples.len() as u64;
    if !complete {
        failed = sent.saturating_sub(delivered).max(failed);
        first_failure.get_or_insert(format!("missing delivery reports after {DELIVERY_TIMEOUT:?}"));
    }
    let ms = |q: f64| percentile(&samples, q) as f64 / 1e6;
    LatencyOutcome {
        sent,
        delivered,
        failed,
        first_failure,
        warnings: watch.log.summary(),
        target_rate: rates.0,
        achieved_rate: rates.1,
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        max_ms: ms(1.0),
        cpu,
    }
}

/// Nearest-rank percentile of sorted samples (0 when there are none).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(0)
}
