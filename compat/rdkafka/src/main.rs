//! `rdkafka_driver`: the `rdkafka` crate (librdkafka) as a compat-suite client. One mode,
//! `produce`: N records spread over explicit partitions, every record numbered per
//! partition (key `p:seq`, value `p:seq:` padded) so a reader can check each is present
//! once and in send order; prints one JSON object with the delivery results, the retries
//! librdkafka reports in its statistics, and the throughput.
//!
//! ```text
//! rdkafka_driver produce --bootstrap 127.0.0.1:9092 --topic t [--partitions 4]
//!     [--count 100000] [--value-bytes 16] [--keys true] [--idempotence true]
//!     [--acks all] [--linger-ms 5] [--retry-backoff-ms 10] [--message-timeout-ms 300000]
//!     [--stats-interval-ms 200] [--deadline-s 600] [--records-per-s 0] [--throughput]
//!     [--set key=value]...
//! ```
//!
//! Retries: librdkafka puts the messages of a request lost with its connection back on the
//! partition queue without counting a broker-level `txretries`, so the report also gives
//! `retransmitted_msgs` = Σ per-partition `txmsgs` (messages written into requests, resends
//! included) − records delivered.
//!
//! `--throughput` uses the benchmark's bulk-loading settings (large batches and queues).
//! Exit status: 0 when every record was delivered, 1 when some were not, 2 on bad usage.

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Client-level error messages kept verbatim in the report; the rest are only counted.
const CLIENT_ERRORS_KEPT_MAX: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("produce") => match Args::parse(&args[1..]) {
            Ok(a) => produce(&a),
            Err(e) => usage(&e),
        },
        _ => usage("the first argument must be a mode: produce"),
    };
    std::process::exit(code);
}

fn usage(problem: &str) -> i32 {
    eprintln!("rdkafka_driver: {problem}");
    eprintln!("usage: rdkafka_driver produce --bootstrap HOST:PORT --topic T [--partitions N] [--count N] [--value-bytes N] [--keys BOOL] [--idempotence BOOL] [--acks A] [--linger-ms N] [--retry-backoff-ms N] [--message-timeout-ms N] [--stats-interval-ms N] [--deadline-s N] [--records-per-s N] [--throughput] [--set k=v]...");
    2
}

/// The command line of `produce`.
struct Args {
    bootstrap: String,
    topic: String,
    partitions: i32,
    count: u64,
    /// values are padded up to this size (they are longer when the numbering needs it)
    value_bytes: usize,
    keys: bool,
    idempotence: bool,
    acks: String,
    linger_ms: u32,
    retry_backoff_ms: u32,
    /// how long librdkafka keeps retrying one record before failing it
    message_timeout_ms: u32,
    stats_interval_ms: u32,
    /// the driver gives up waiting for delivery reports after this long
    deadline_s: u64,
    /// cap on the send rate (0 = as fast as librdkafka takes them), so that a test can
    /// act while the run is still going
    records_per_s: u64,
    throughput: bool,
    /// extra librdkafka properties, applied last
    set: Vec<(String, String)>,
}

impl Args {
    fn parse(argv: &[String]) -> Result<Args, String> {
        let mut a = Args {
            bootstrap: String::new(),
            topic: String::new(),
            partitions: 1,
            count: 1000,
            value_bytes: 16,
            keys: true,
            idempotence: true,
            acks: "all".into(),
            linger_ms: 5,
            retry_backoff_ms: 10,
            message_timeout_ms: 300_000,
            stats_interval_ms: 200,
            deadline_s: 600,
            records_per_s: 0,
            throughput: false,
            set: Vec::new(),
        };
        let mut it = argv.iter();
        while let Some(flag) = it.next() {
            if flag == "--throughput" {
                a.throughput = true;
                continue;
            }
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |what: &str| v.parse::<u64>().map_err(|_| format!("{what}: not a number: {v}"));
            let flag_bool = |what: &str| match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("{what}: want true or false, got {v}")),
            };
            match flag.as_str() {
                "--bootstrap" => a.bootstrap = v.clone(),
                "--topic" => a.topic = v.clone(),
                "--partitions" => a.partitions = num(flag)? as i32,
                "--count" => a.count = num(flag)?,
                "--value-bytes" => a.value_bytes = num(flag)? as usize,
                "--keys" => a.keys = flag_bool(flag)?,
                "--idempotence" => a.idempotence = flag_bool(flag)?,
                "--acks" => a.acks = v.clone(),
                "--linger-ms" => a.linger_ms = num(flag)? as u32,
                "--retry-backoff-ms" => a.retry_backoff_ms = num(flag)? as u32,
                "--message-timeout-ms" => a.message_timeout_ms = num(flag)? as u32,
                "--stats-interval-ms" => a.stats_interval_ms = num(flag)? as u32,
                "--deadline-s" => a.deadline_s = num(flag)?,
                "--records-per-s" => a.records_per_s = num(flag)?,
                "--set" => {
                    let (k, val) = v.split_once('=').ok_or_else(|| format!("--set wants key=value, got {v}"))?;
                    a.set.push((k.into(), val.into()));
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if a.bootstrap.is_empty() || a.topic.is_empty() {
            return Err("--bootstrap and --topic are required".into());
        }
        if a.partitions < 1 {
            return Err("--partitions must be at least 1".into());
        }
        Ok(a)
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "gregor-compat-rdkafka")
            .set("enable.idempotence", self.idempotence.to_string())
            .set("acks", &self.acks)
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.send.max.retries", "2147483647")
            .set("retry.backoff.ms", self.retry_backoff_ms.to_string())
            .set("retry.backoff.max.ms", (self.retry_backoff_ms.max(1) * 10).max(100).to_string())
            .set("reconnect.backoff.ms", "10")
            .set("reconnect.backoff.max.ms", "50")
            .set("message.timeout.ms", self.message_timeout_ms.to_string())
            .set("request.timeout.ms", "10000")
            .set("statistics.interval.ms", self.stats_interval_ms.to_string())
            .set("compression.type", "none");
        if self.throughput {
            // the benchmark's bulk-loading producer (bench/benches/throughput/produce.rs)
            c.set("batch.size", "1000000")
                .set("batch.num.messages", "1000000")
                .set("queue.buffering.max.messages", "2000000")
                .set("queue.buffering.max.kbytes", "2097152");
        }
        for (k, v) in &self.set {
            c.set(k, v);
        }
        // the crate's default follows the `log` crate's level, which is off here
        let debug = self.set.iter().any(|(k, _)| k == "debug");
        c.set_log_level(if debug { RDKafkaLogLevel::Debug } else { RDKafkaLogLevel::Warning });
        c
    }
}

/// What the delivery reports said about one partition.
#[derive(Default)]
struct PartitionTally {
    delivered: u64,
    failed: u64,
    first_offset: Option<i64>,
    last_offset: Option<i64>,
    /// every offset was the previous one + 1
    offsets_contiguous: bool,
    /// reports came in send order (sequence = previous + 1)
    in_order: bool,
    last_seq: Option<u64>,
}

/// Shared between the sending thread, librdkafka's callbacks and the report.
struct Driver {
    delivered: AtomicU64,
    failed: AtomicU64,
    partitions: Mutex<BTreeMap<i32, PartitionTally>>,
    errors: Mutex<BTreeMap<String, u64>>,
    client_errors: Mutex<Vec<String>>,
    client_error_count: AtomicU64,
    /// the latest statistics JSON and how many have arrived
    stats: Mutex<Option<Value>>,
    stats_count: AtomicU64,
    started: Instant,
    last_report_ns: AtomicU64,
}

impl ClientContext for Driver {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let t = self.started.elapsed().as_secs_f64();
        eprintln!("{t:9.3} [librdkafka {level:?}] {fac}: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("[librdkafka error] {error}: {reason}");
        self.client_error_count.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.client_errors.lock().unwrap();
        if kept.len() < CLIENT_ERRORS_KEPT_MAX {
            kept.push(format!("{error}: {reason}"));
        }
    }

    fn stats_raw(&self, statistics: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<Value>(statistics) {
            *self.stats.lock().unwrap() = Some(v);
            self.stats_count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ProducerContext for Driver {
    /// the record's sequence number within its partition
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let seq = seq as u64;
        let mut parts = self.partitions.lock().unwrap();
        match result {
            Ok(m) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                let t = parts.entry(m.partition()).or_default();
                t.delivered += 1;
                if t.first_offset.is_none() {
                    t.first_offset = Some(m.offset());
                    t.offsets_contiguous = true;
                    t.in_order = true;
                } else {
                    t.offsets_contiguous &= t.last_offset.map(|o| o + 1) == Some(m.offset());
                    t.in_order &= t.last_seq.map(|s| s + 1) == Some(seq);
                }
                t.last_offset = Some(m.offset());
                t.last_seq = Some(seq);
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                parts.entry(m.partition()).or_default().failed += 1;
                *self.errors.lock().unwrap().entry(e.to_string()).or_default() += 1;
            }
        }
        self.last_report_ns.store(self.started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

fn produce(a: &Args) -> i32 {
    let driver = Driver {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        partitions: Mutex::new(BTreeMap::new()),
        errors: Mutex::new(BTreeMap::new()),
        client_errors: Mutex::new(Vec::new()),
        client_error_count: AtomicU64::new(0),
        stats: Mutex::new(None),
        stats_count: AtomicU64::new(0),
        started: Instant::now(),
        last_report_ns: AtomicU64::new(0),
    };
    let producer: ThreadedProducer<Driver> = match a.client_config().create_with_context(driver) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rdkafka_driver: creating the producer: {e}");
            return 2;
        }
    };
    let ctx = producer.context();
    let mut next_seq = vec![0u64; a.partitions as usize];
    let mut key = String::new();
    let mut value: Vec<u8> = Vec::with_capacity(a.value_bytes + 32);
    let start_ns = ctx.started.elapsed().as_nanos() as u64;
    let mut send_error = None;
    for i in 0..a.count {
        let p = (i % a.partitions as u64) as i32;
        let seq = next_seq[p as usize];
        next_seq[p as usize] += 1;
        fill_record(p, seq, a.value_bytes, &mut key, &mut value);
        let mut record = BaseRecord::with_opaque_to(&a.topic, seq as usize).payload(&value[..]).partition(p);
        if a.keys {
            record = record.key(key.as_bytes());
        }
        if let Err(e) = send(&producer, record) {
            send_error = Some(e);
            break;
        }
        if a.records_per_s > 0 && i % 100 == 99 {
            let due = Duration::from_secs_f64((i + 1) as f64 / a.records_per_s as f64);
            if let Some(ahead) = due.checked_sub(ctx.started.elapsed().saturating_sub(Duration::from_nanos(start_ns))) {
                std::thread::sleep(ahead);
            }
        }
    }
    let sent = next_seq.iter().sum::<u64>();
    let deadline = Instant::now() + Duration::from_secs(a.deadline_s);
    let reported = || ctx.delivered.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed);
    while reported() < sent && Instant::now() < deadline && producer.client().fatal_error().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let end_ns = ctx.last_report_ns.load(Ordering::Relaxed).max(start_ns);
    // one more statistics round after the last report, so the counters are final
    let seen = ctx.stats_count.load(Ordering::Relaxed);
    let stats_deadline = Instant::now() + Duration::from_millis(a.stats_interval_ms as u64 * 5 + 1000);
    while ctx.stats_count.load(Ordering::Relaxed) < seen + 2 && Instant::now() < stats_deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let fatal = producer.client().fatal_error().map(|(code, reason)| format!("{code:?}: {reason}"));
    let report = report(a, ctx, sent, end_ns - start_ns, send_error, fatal);
    println!("{report}");
    // don't wait for librdkafka to flush what can no longer be delivered
    let complete = ctx.delivered.load(Ordering::Relaxed) == a.count;
    if !complete {
        let _ = producer.flush(Duration::from_millis(100));
        std::process::exit(1);
    }
    0
}

/// Key `p:seq`; value `p:seq:` then `.` up to `value_bytes`.
fn fill_record(p: i32, seq: u64, value_bytes: usize, key: &mut String, value: &mut Vec<u8>) {
    use std::fmt::Write;
    key.clear();
    let _ = write!(key, "{p}:{seq}");
    value.clear();
    value.extend_from_slice(key.as_bytes());
    value.push(b':');
    if value.len() < value_bytes {
        value.resize(value_bytes, b'.');
    }
}

/// `send`, sleeping while librdkafka's queue is full (its polling thread drains it).
fn send(producer: &ThreadedProducer<Driver>, mut record: BaseRecord<'_, [u8], [u8], usize>) -> Result<(), String> {
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

fn report(
    a: &Args,
    ctx: &Driver,
    sent: u64,
    elapsed_ns: u64,
    send_error: Option<String>,
    fatal: Option<String>,
) -> Value {
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    let elapsed_s = elapsed_ns as f64 / 1e9;
    let mut parts = Map::new();
    for (p, t) in ctx.partitions.lock().unwrap().iter() {
        parts.insert(
            p.to_string(),
            json!({
                "delivered": t.delivered, "failed": t.failed,
                "first_offset": t.first_offset, "last_offset": t.last_offset,
                "offsets_contiguous": t.offsets_contiguous, "in_order": t.in_order,
            }),
        );
    }
    let stats = ctx.stats.lock().unwrap().clone().unwrap_or(Value::Null);
    let (mut txretries, mut txerrs, mut req_timeouts, mut disconnects, mut connects) = (0, 0, 0, 0, 0);
    let mut requests = 0;
    if let Some(brokers) = stats["brokers"].as_object() {
        for b in brokers.values() {
            requests += b["tx"].as_u64().unwrap_or(0);
            txretries += b["txretries"].as_u64().unwrap_or(0);
            txerrs += b["txerrs"].as_u64().unwrap_or(0);
            req_timeouts += b["req_timeouts"].as_u64().unwrap_or(0);
            disconnects += b["disconnects"].as_u64().unwrap_or(0);
            connects += b["connects"].as_u64().unwrap_or(0);
        }
    }
    // messages written into produce requests, retransmissions included (per-partition
    // `txmsgs`): minus the records delivered, that is how many were sent more than once
    let mut txmsgs = 0;
    if let Some(parts) = stats["topics"][&a.topic]["partitions"].as_object() {
        for (id, p) in parts {
            if id != "-1" {
                txmsgs += p["txmsgs"].as_u64().unwrap_or(0);
            }
        }
    }
    let eos = &stats["eos"];
    json!({
        "client": "rdkafka",
        "librdkafka": rdkafka::util::get_rdkafka_version().1,
        "idempotence": a.idempotence,
        "acks": a.acks,
        "sent": sent,
        "delivered": delivered,
        "failed": ctx.failed.load(Ordering::Relaxed),
        "errors": ctx.errors.lock().unwrap().clone(),
        "send_error": send_error,
        "fatal_error": fatal,
        "client_errors": ctx.client_errors.lock().unwrap().clone(),
        "client_error_count": ctx.client_error_count.load(Ordering::Relaxed),
        "partitions": parts,
        "requests": requests,
        "txretries": txretries,
        "txerrs": txerrs,
        "req_timeouts": req_timeouts,
        "connects": connects,
        "disconnects": disconnects,
        "txmsgs": txmsgs,
        "retransmitted_msgs": txmsgs.saturating_sub(delivered),
        "producer_id": eos["producer_id"],
        "producer_epoch": eos["producer_epoch"],
        "epoch_cnt": eos["epoch_cnt"],
        "idemp_state": eos["idemp_state"],
        "elapsed_s": elapsed_s,
        "records_per_s": if elapsed_s > 0.0 { delivered as f64 / elapsed_s } else { 0.0 },
        "mb_per_s": if elapsed_s > 0.0 { (delivered as f64 * a.value_bytes as f64) / elapsed_s / 1e6 } else { 0.0 },
    })
}
