//! The results: one row per case and security protocol, printed as a markdown table with
//! the run's context (date, versions, machine) above it, each protocol's throughput
//! relative to plaintext beside it, and every problem listed below it.

use crate::consume::ConsumeOutcome;
use crate::cpu::CpuShare;
use crate::latency::LatencyOutcome;
use crate::produce::ProduceOutcome;
use crate::security::Protocol;
use std::time::{Duration, SystemTime};

/// Everything measured for one case; absent outcomes are phases that failed or were skipped.
pub struct Row {
    pub name: String,
    /// The listener (and client settings) this row ran against.
    pub protocol: Protocol,
    pub records: u64,
    pub record_bytes: usize,
    pub produce: Option<ProduceOutcome>,
    pub consume: Option<ConsumeOutcome>,
    pub latency: Option<LatencyOutcome>,
    pub problems: Vec<String>,
    /// Worth knowing but not invalidating (e.g. a topic that could not be deleted).
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(name: String, protocol: Protocol, records: u64, record_bytes: usize) -> Row {
        Row {
            name,
            protocol,
            records,
            record_bytes,
            produce: None,
            consume: None,
            latency: None,
            problems: vec![],
            notes: vec![],
        }
    }

    /// `100B-p1-acks1 over ssl`, for the lists below the table.
    pub fn title(&self) -> String {
        format!("{} over {}", self.name, self.protocol.label())
    }

    /// Record values delivered per second (MB = 10^6 bytes), when the phase ran.
    fn produce_mbps(&self) -> Option<f64> {
        let p = self.produce.as_ref()?;
        Some(p.delivered as f64 * self.record_bytes as f64 / 1e6 / p.elapsed.as_secs_f64().max(1e-9))
    }

    /// Record values read back per second (MB = 10^6 bytes), when the phase ran.
    fn consume_mbps(&self) -> Option<f64> {
        let c = self.consume.as_ref()?;
        Some(c.bytes as f64 / 1e6 / c.elapsed.as_secs_f64().max(1e-9))
    }

    /// A row is valid when nothing failed, nothing went missing, and nothing errored.
    pub fn valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Turns the outcomes' own failure counts into problems, so `valid` sees them.
    pub fn collect_problems(&mut self) {
        if let Some(p) = &self.produce {
            if p.failed > 0 || p.delivered != self.records {
                let first = p.first_failure.as_deref().unwrap_or("-");
                self.problems.push(format!(
                    "produce: {} delivered, {} failed of {} (first: {first})",
                    p.delivered, p.failed, self.records
                ));
            }
        }
        let warnings = [
            self.produce.as_ref().and_then(|p| p.warnings.clone()),
            self.latency.as_ref().and_then(|l| l.warnings.clone()),
        ];
        self.problems.extend(warnings.into_iter().flatten());
        if let Some(c) = &mut self.consume {
            self.problems.extend(c.problems.drain(..).map(|p| format!("consume: {p}")));
        }
        if let Some(l) = &self.latency {
            if l.failed > 0 || l.delivered != l.sent {
                let first = l.first_failure.as_deref().unwrap_or("-");
                self.problems.push(format!(
                    "latency: {} delivered, {} failed of {} (first: {first})",
                    l.delivered, l.failed, l.sent
                ));
            }
            // a client that cannot keep the pace measures its own backlog, not the broker
            if l.achieved_rate < 0.95 * l.target_rate as f64 {
                self.problems
                    .push(format!("latency: paced {:.0} records/s, wanted {}", l.achieved_rate, l.target_rate));
            }
        }
    }
}

/// The lines above the table.
pub struct Context {
    pub command: String,
    pub broker: String,
    pub client: String,
    pub machine: String,
    pub security: String,
    pub workload: String,
}

pub fn print(context: &Context, rows: &[Row]) {
    println!("## gregor throughput ({})\n", utc(SystemTime::now()));
    println!("- command: `{}`", context.command);
    println!("- broker: {}", context.broker);
    println!("- client: {}", context.client);
    println!("- machine: {}", context.machine);
    println!("- security: {}", context.security);
    println!("- workload: {}\n", context.workload);
    let baseline = baseline(rows);
    let versus = baseline.map(|b| format!(" MB/s vs {} produce / consume |", b.label())).unwrap_or_default();
    println!("| case | security | records | produce MB/s | produce rec/s | consume MB/s | consume rec/s |{versus} latency p50 / p99 / max ms | CPU produce broker + client (+other) | CPU consume broker + client (+other) | CPU latency run broker + client (+other) | status |");
    println!("|---|---|--:|--:|--:|--:|--:|{}--:|--:|--:|--:|---|", if baseline.is_some() { "--:|" } else { "" });
    for row in rows {
        let base = baseline.map(|b| rows.iter().find(|r| r.name == row.name && r.protocol == b));
        println!("{}", table_line(row, base));
    }
    println!("\nMB = 10^6 bytes of record values (keys: none; protocol overhead not counted). CPU = cores busy on average during the phase (from /proc, all threads); other = everything else on the machine meanwhile.");
    if let Some(b) = baseline {
        println!("vs {0} = this row's MB/s as a share of the {0} row of the same case (same run).", b.label());
    }
    for row in rows.iter().filter(|r| !r.valid()) {
        println!("\n**{} is INVALID:**", row.title());
        for problem in &row.problems {
            println!("- {problem}");
        }
    }
    for row in rows.iter().filter(|r| !r.notes.is_empty()) {
        println!("\nNotes on {}:", row.title());
        for note in &row.notes {
            println!("- {note}");
        }
    }
}

/// What the other protocols are compared with, when the run has more than one:
/// plaintext if it ran, else the first protocol.
fn baseline(rows: &[Row]) -> Option<Protocol> {
    let first = rows.first()?.protocol;
    if rows.iter().all(|r| r.protocol == first) {
        return None;
    }
    let plaintext = rows.iter().any(|r| r.protocol == Protocol::Plaintext);
    Some(if plaintext { Protocol::Plaintext } else { first })
}

/// `base` is `None` without a comparison column, `Some(None)` when the case has no
/// baseline row.
fn table_line(row: &Row, base: Option<Option<&Row>>) -> String {
    let produce = row.produce.as_ref().map(|p| rates(p.delivered, row.record_bytes as f64, p.elapsed));
    let consume = row.consume.as_ref().map(|c| rates(c.records, c.bytes as f64 / c.records.max(1) as f64, c.elapsed));
    let latency = row.latency.as_ref().map(|l| format!("{:.2} / {:.2} / {:.2}", l.p50_ms, l.p99_ms, l.max_ms));
    // an invalid row's figures are struck through: they are not measurements to quote
    let figure = |cell: Option<String>| match cell {
        Some(text) if !row.valid() => format!("~~{text}~~"),
        Some(text) => text,
        None => dash(),
    };
    let mut cells = vec![
        row.name.clone(),
        row.protocol.label().to_string(),
        row.records.to_string(),
        figure(produce.as_ref().map(|r| r.0.clone())),
        figure(produce.map(|r| r.1)),
        figure(consume.as_ref().map(|r| r.0.clone())),
        figure(consume.map(|r| r.1)),
    ];
    cells.extend(base.map(|base| versus(row, base)));
    cells.extend([
        figure(latency),
        row.produce.as_ref().map(|p| cpu(p.cpu)).unwrap_or_else(dash),
        row.consume.as_ref().map(|c| cpu(c.cpu)).unwrap_or_else(dash),
        row.latency.as_ref().map(|l| cpu(l.cpu)).unwrap_or_else(dash),
        if row.valid() { "ok".into() } else { "**INVALID**".into() },
    ]);
    format!("| {} |", cells.join(" | "))
}

/// `71% / 80%`: produce and consume MB/s as a share of the baseline row's; a dash
/// where either row is invalid or lacks the phase, `base` for the baseline itself.
fn versus(row: &Row, base: Option<&Row>) -> String {
    let Some(base) = base.filter(|b| b.valid() && row.valid()) else { return dash() };
    if std::ptr::eq(row, base) {
        return "base".into();
    }
    let share = |mine: Option<f64>, theirs: Option<f64>| match (mine, theirs) {
        (Some(m), Some(t)) if t > 0.0 => format!("{:.0}%", 100.0 * m / t),
        _ => dash(),
    };
    format!("{} / {}", share(row.produce_mbps(), base.produce_mbps()), share(row.consume_mbps(), base.consume_mbps()))
}

/// (MB/s, records/s) as display strings; numbers stay numbers until here.
fn rates(records: u64, record_bytes: f64, elapsed: Duration) -> (String, String) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    (grouped(records as f64 * record_bytes / 1e6 / secs, 1), grouped(records as f64 / secs, 0))
}

fn cpu(share: CpuShare) -> String {
    let show = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "?".into());
    format!("{} + {} (+{})", show(share.broker), show(share.client), show(share.other))
}

fn dash() -> String {
    "–".into()
}

/// `value` with `decimals` decimals and thousands separators: `1,234,567.8`.
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, d)| (i, Some(d)));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    frac.map_or(out.clone(), |d| format!("{out}.{d}"))
}

/// `YYYY-MM-DD HH:MM UTC` without a date crate (days → civil date, Howard Hinnant's algorithm).
pub fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}
