//! `cargo bench -p gregor-bench --bench throughput`: drives a gregor broker with
//! librdkafka (the `rdkafka` crate) over a matrix of record sizes, partition counts and
//! acks settings (and, with `--security`, over plaintext, TLS and SASL_SSL listeners in
//! the same run), and prints produce/consume throughput and produce latency as a table.
//!
//! It builds nothing: it starts `target/release/gregor` (or `GREGOR_BIN`) itself, or
//! measures a running broker given with `--bootstrap`. See `bench/README.md`.

// a bench target's root resolves `mod x;` beside itself, where cargo would take
// every file for a bench target of its own: the modules live in throughput/
#[path = "throughput/args.rs"]
mod args;
#[path = "throughput/broker.rs"]
mod broker;
#[path = "throughput/client.rs"]
mod client;
#[path = "throughput/consume.rs"]
mod consume;
#[path = "throughput/cpu.rs"]
mod cpu;
#[path = "throughput/latency.rs"]
mod latency;
#[path = "throughput/produce.rs"]
mod produce;
#[path = "throughput/report.rs"]
mod report;
#[path = "throughput/security.rs"]
mod security;

use args::Options;
use broker::Broker;
use report::Row;
use security::{Endpoint, Protocol};
use std::process::ExitCode;

/// `acks=1` (leader wrote it) or `acks=all` (every in-sync replica did; `-1` on the wire).
#[derive(Clone, Copy, Debug)]
pub enum Acks {
    One,
    All,
}

impl Acks {
    pub fn config_value(self) -> &'static str {
        match self {
            Acks::One => "1",
            Acks::All => "-1",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Acks::One => "acks1",
            Acks::All => "acksall",
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Debug)]
pub struct Case {
    pub record_bytes: usize,
    pub partitions: i32,
    pub acks: Acks,
}

impl Case {
    /// `100B-p1-acks1`, `1KiB-p8-acksall`: also what `--only` matches against.
    fn name(&self) -> String {
        let size = if self.record_bytes.is_multiple_of(1024) {
            format!("{}KiB", self.record_bytes / 1024)
        } else {
            format!("{}B", self.record_bytes)
        };
        format!("{size}-p{}-{}", self.partitions, self.acks.label())
    }

    /// How many of `records` the round-robin producer sends to each partition.
    fn per_partition(&self, records: u64) -> Vec<u64> {
        let parts = self.partitions as u64;
        (0..parts).map(|p| records / parts + u64::from(p < records % parts)).collect()
    }
}

fn matrix() -> Vec<Case> {
    let mut cases = Vec::new();
    for record_bytes in [100, 1024] {
        for partitions in [1, 8] {
            for acks in [Acks::One, Acks::All] {
                cases.push(Case { record_bytes, partitions, acks });
            }
        }
    }
    cases
}

/// Record values: pseudo-random bytes (xorshift), so nothing on the way can compress
/// or deduplicate them.
pub fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The broker under test: one we started (and will kill), or one given by address.
struct Target {
    broker: Option<Broker>,
    /// One per protocol compared, in the order `--security` gave them.
    endpoints: Vec<Endpoint>,
    description: String,
}

impl Target {
    fn new(opts: &Options) -> Result<Target, String> {
        if let Some(bootstrap) = &opts.bootstrap {
            let description = format!("already running at {bootstrap} (CPU of the broker not measured)");
            let endpoints = vec![Endpoint::new(opts.security[0], bootstrap.clone(), None)];
            return Ok(Target { broker: None, endpoints, description });
        }
        let bin = broker::locate_binary()?;
        if let Some(warning) = broker::staleness_warning(&bin) {
            eprintln!("warning: {warning}");
        }
        let broker = Broker::start(&bin, &opts.security)?;
        let description = format!(
            "{} (`{}`, built {}), started by the benchmark, log level warn",
            broker::version(&bin),
            broker::display_path(&bin),
            std::fs::metadata(&bin).and_then(|m| m.modified()).map(report::utc).unwrap_or_default()
        );
        Ok(Target { endpoints: broker.endpoints.clone(), broker: Some(broker), description })
    }

    fn pid(&self) -> Option<u32> {
        self.broker.as_ref().map(Broker::pid)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the selected cases; `Ok(false)` when any of them is invalid.
fn run() -> Result<bool, String> {
    let opts = Options::parse(std::env::args().skip(1))?;
    client::set_overrides(opts.overrides.clone());
    client::set_replication_factor(opts.replication_factor);
    let cases: Vec<Case> = matrix().into_iter().filter(|c| opts.selects(&c.name())).collect();
    if cases.is_empty() {
        return Err(format!("--only {:?} matches none of the cases", opts.only));
    }
    let target = Target::new(&opts)?;
    // each case over every protocol back to back, so the rows compared ran close in time
    let mut rows = Vec::new();
    for case in &cases {
        rows.extend(target.endpoints.iter().map(|endpoint| run_case(&target, endpoint, &opts, case)));
    }
    report::print(&context(&opts, &target), &rows);
    print_broker_log(&target);
    Ok(rows.iter().all(Row::valid))
}

/// Produce, consume back, then the latency run on a topic of its own; then delete both.
/// Every client of the case goes through `endpoint`.
fn run_case(target: &Target, endpoint: &Endpoint, opts: &Options, case: &Case) -> Row {
    let records = opts.records_for(case.record_bytes);
    let mut row = Row::new(case.name(), endpoint.protocol, records, case.record_bytes);
    eprintln!("== {}: {records} records of {} B", row.title(), case.record_bytes);
    let topic = unique_topic(&row.name, endpoint.protocol);
    let latency_topic = format!("{topic}-latency");
    throughput_phases(target, endpoint, case, &topic, &mut row);
    if let Some(duration) = opts.latency {
        match client::create_topic(endpoint, &latency_topic, case.partitions)
            .and_then(|()| latency::run(endpoint, &latency_topic, case, (opts.rate, duration), target.pid()))
        {
            Ok(outcome) => row.latency = Some(outcome),
            Err(e) => row.problems.push(format!("latency: {e}")),
        }
    }
    let mut topics = vec![topic.as_str()];
    topics.extend(opts.latency.map(|_| latency_topic.as_str()));
    // a failed delete costs disk space, not validity
    if let Err(e) = client::delete_topics(endpoint, &topics) {
        row.notes.push(e);
    }
    row.collect_problems();
    progress(&row);
    row
}

/// Produce `row.records` to a fresh topic, then read them all back.
fn throughput_phases(target: &Target, endpoint: &Endpoint, case: &Case, topic: &str, row: &mut Row) {
    let produced = client::create_topic(endpoint, topic, case.partitions)
        .and_then(|()| produce::run(endpoint, topic, case, row.records, target.pid()));
    match produced {
        // with records missing, what a consumer should find is unknown: the row is
        // invalid already, so do not spend a stall timeout proving it
        Ok(outcome) if outcome.failed > 0 || outcome.delivered != row.records => {
            row.produce = Some(outcome);
            return row.notes.push("consume skipped: not every record was delivered".into());
        }
        Ok(outcome) => row.produce = Some(outcome),
        Err(e) => return row.problems.push(format!("produce: {e}")),
    }
    match consume::run(endpoint, topic, &case.per_partition(row.records), target.pid()) {
        Ok(outcome) => row.consume = Some(outcome),
        Err(e) => row.problems.push(format!("consume: {e}")),
    }
}

/// One line per finished case on stderr, so a long run shows signs of life.
fn progress(row: &Row) {
    let secs = |d: std::time::Duration| format!("{:.1}s", d.as_secs_f64());
    let produce = row.produce.as_ref().map(|p| secs(p.elapsed)).unwrap_or_default();
    let consume = row.consume.as_ref().map(|c| secs(c.elapsed)).unwrap_or_default();
    let status = if row.valid() { "ok" } else { "INVALID" };
    eprintln!("   produce {produce}, consume {consume}: {status}");
    for problem in &row.problems {
        eprintln!("   ! {problem}");
    }
}

/// Fresh names per run, so `--bootstrap` against a long-lived broker never reuses data.
fn unique_topic(case_name: &str, protocol: Protocol) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let (case, protocol) = (case_name.to_ascii_lowercase(), protocol.label().replace('_', "-"));
    format!("bench-{case}-{protocol}-{}-{nanos}", std::process::id())
}

fn context(opts: &Options, target: &Target) -> report::Context {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").map(|a| redacted(&a)).collect();
    let command = format!(
        "cargo bench -p gregor-bench --bench throughput{}",
        if args.is_empty() { String::new() } else { format!(" -- {}", args.join(" ")) }
    );
    let rf = opts.replication_factor;
    let latency = match opts.latency {
        Some(d) => format!("latency runs at {} records/s for {:.1} s with linger.ms=0", opts.rate, d.as_secs_f64()),
        None => "latency runs skipped".to_string(),
    };
    let overrides = [
        ("client", &opts.overrides.client),
        ("producer", &opts.overrides.producer),
        ("consumer", &opts.overrides.consumer),
    ]
    .iter()
    .flat_map(|(role, pairs)| {
        pairs.iter().map(move |(k, v)| format!("; {role} override {}", redacted(&format!("{k}={v}"))))
    })
    .collect::<String>();
    report::Context {
        command,
        broker: target.description.clone(),
        client: format!(
            "rdkafka crate {} (librdkafka {}), ThreadedProducer + BaseConsumer (assign, no group)",
            rdkafka_crate_version(),
            client::librdkafka_version()
        ),
        machine: machine_note(),
        security: security_note(opts),
        workload: format!(
            "{} per case, values random and uncompressed, no keys, round-robin over partitions, replication factor {rf}; \
             produce with linger.ms=5, batch.size=1000000, compression none; consume with fetch.max.bytes=100 MiB, \
             max.partition.fetch.bytes=1 MiB and librdkafka's prefetch backoff disabled (see README); {latency}{overrides}",
            match opts.records {
                Some(n) => format!("{n} records"),
                None => format!("{} MiB of values", opts.mib_per_case),
            }
        ),
    }
}

/// `sasl.password=***`: reports get pasted into files, secrets given with `--client-set`
/// (or the other `-set` flags) must not go with them.
fn redacted(arg: &str) -> String {
    match arg.split_once('=') {
        Some((key, _)) if ["password", "secret"].iter().any(|s| key.to_ascii_lowercase().contains(s)) => {
            format!("{key}=***")
        }
        _ => arg.to_string(),
    }
}

/// Which protocols ran and what each one means for the clients.
fn security_note(opts: &Options) -> String {
    let started = opts.bootstrap.is_none();
    let describe = |p: Protocol| match (p, started) {
        (Protocol::Plaintext, _) => "plaintext".to_string(),
        (p, false) => format!("{} (CA and credentials from --client-set)", p.label()),
        (Protocol::Ssl, true) => {
            "ssl (TLS, server certificate from a throwaway CA, RSA 2048; no client certificate)".into()
        }
        (Protocol::SaslSsl, true) => format!(
            "sasl_ssl (TLS as for ssl, then {} as user `{}`, once per connection)",
            security::SASL_MECHANISM,
            security::SASL_USER
        ),
    };
    let list: Vec<String> = opts.security.iter().map(|&p| describe(p)).collect();
    let each = if list.len() > 1 { "; every case once per protocol, each on a listener of its own" } else { "" };
    format!("{}{each}", list.join(", "))
}

/// The rdkafka version Cargo resolved, read from the workspace lock file.
fn rdkafka_crate_version() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap_or_default();
    let after = lock.split("name = \"rdkafka\"\nversion = \"").nth(1);
    after.and_then(|rest| rest.split('"').next()).unwrap_or("0.39 (exact version unknown)").to_string()
}

fn machine_note() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']))
        .unwrap_or("unknown CPU");
    format!("{cores} cores ({model}) shared by client and broker, loopback TCP")
}

/// Whatever the broker logged at warn or above during the run.
fn print_broker_log(target: &Target) {
    let Some(broker) = &target.broker else { return };
    let log = broker.stderr_text();
    if !log.trim().is_empty() {
        let lines: Vec<&str> = log.lines().collect();
        println!("\nBroker stderr ({} lines, last 20):\n```", lines.len());
        for line in &lines[lines.len().saturating_sub(20)..] {
            println!("{line}");
        }
        println!("```");
    }
}
