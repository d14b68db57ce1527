//! Command-line options of the throughput benchmark, parsed by hand: `cargo bench` adds
//! flags of its own (`--bench`), which are ignored.

use crate::security::Protocol;
use std::time::Duration;

pub const USAGE: &str = "\
usage: cargo bench -p gregor-bench --bench throughput -- [options]

  --quick            small volumes: a smoke run of the whole matrix in about a minute
  --mib N            payload MiB produced (and consumed) per case   [default 1024, quick 16]
  --records N        records per case (overrides --mib)
  --rate R           records/s of the fixed-rate latency run        [default 10000]
  --latency-secs S   length of each latency run in seconds          [default 5, quick 1]
  --no-latency       skip the latency runs
  --only PATTERN     run only cases whose name contains PATTERN (case-insensitive,
                     e.g. 1k, 100b, p8, acksall); repeat to narrow further
  --security LIST    comma-separated protocols to compare, each case running once per
                     protocol against a listener of its own: plaintext, ssl, sasl_ssl
                     (SCRAM-SHA-512)                                 [default plaintext]
  --bootstrap ADDR   benchmark an already running broker instead of starting one
                     (--security then names one protocol; its CA and credentials
                     come from --client-set)
  --client-set K=V   extra librdkafka setting for every client, admin included
                     (repeatable), e.g. ssl.ca.location=ca.pem
  --producer-set K=V extra librdkafka setting for every producer (repeatable),
                     e.g. socket.nagle.disable=true
  --consumer-set K=V the same for the consumer
  --replication-factor N
                     replication factor of the topics the cases create; -1 takes the
                     broker's default.replication.factor (for a cluster)   [default 1]
  --help             this text

Environment: GREGOR_BIN (broker binary; default target/release/gregor next to this
benchmark), GREGOR_BENCH_MIB, GREGOR_BENCH_RECORDS, GREGOR_BENCH_RATE (same as the flags).";

/// What one run of the benchmark does.
#[derive(Debug, Clone)]
pub struct Options {
    pub bootstrap: Option<String>,
    /// Protocols compared, each once, in the order given.
    pub security: Vec<crate::security::Protocol>,
    pub mib_per_case: u64,
    pub records: Option<u64>,
    pub rate: u64,
    pub latency: Option<Duration>,
    pub only: Vec<String>,
    pub quick: bool,
    pub overrides: crate::client::Overrides,
    pub replication_factor: i32,
}

impl Options {
    /// Flags win over environment variables, which win over defaults.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut opts = Options::from_env()?;
        let mut mib_given = std::env::var("GREGOR_BENCH_MIB").is_ok();
        let mut latency_given = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"));
            match arg.as_str() {
                "--quick" => opts.quick = true,
                "--mib" => (opts.mib_per_case, mib_given) = (number("--mib", &value("--mib")?)?, true),
                "--records" => opts.records = Some(number("--records", &value("--records")?)?),
                "--rate" => opts.rate = number("--rate", &value("--rate")?)?,
                "--latency-secs" => {
                    let secs: f64 = number("--latency-secs", &value("--latency-secs")?)?;
                    (opts.latency, latency_given) = (Some(Duration::from_secs_f64(secs)), true);
                }
                "--no-latency" => (opts.latency, latency_given) = (None, true),
                "--only" => opts.only.push(value("--only")?.to_ascii_lowercase()),
                "--bootstrap" => opts.bootstrap = Some(value("--bootstrap")?),
                "--security" => opts.security = Protocol::parse_list(&value("--security")?)?,
                "--client-set" => opts.overrides.client.push(pair(&value("--client-set")?)?),
                "--producer-set" => opts.overrides.producer.push(pair(&value("--producer-set")?)?),
                "--consumer-set" => opts.overrides.consumer.push(pair(&value("--consumer-set")?)?),
                "--replication-factor" => {
                    opts.replication_factor = number("--replication-factor", &value("--replication-factor")?)?
                }
                "--help" | "-h" => return Err(USAGE.to_string()),
                // `cargo bench` passes `--bench`; anything else unknown is reported, not fatal
                "--bench" => {}
                other => eprintln!("note: ignoring unknown argument `{other}`"),
            }
        }
        if opts.quick {
            opts.mib_per_case = if mib_given { opts.mib_per_case } else { 16 };
            opts.latency = if latency_given { opts.latency } else { Some(Duration::from_secs(1)) };
        }
        if opts.rate == 0 {
            return Err("--rate must be ≥ 1".into());
        }
        if opts.bootstrap.is_some() && opts.security.len() > 1 {
            return Err(
                "with --bootstrap, --security names one protocol (the broker's listener at that address)".into()
            );
        }
        Ok(opts)
    }

    fn from_env() -> Result<Options, String> {
        let env = |name: &str| std::env::var(name).ok();
        Ok(Options {
            bootstrap: None,
            security: vec![Protocol::Plaintext],
            mib_per_case: env("GREGOR_BENCH_MIB").map(|v| number("GREGOR_BENCH_MIB", &v)).transpose()?.unwrap_or(1024),
            records: env("GREGOR_BENCH_RECORDS").map(|v| number("GREGOR_BENCH_RECORDS", &v)).transpose()?,
            rate: env("GREGOR_BENCH_RATE").map(|v| number("GREGOR_BENCH_RATE", &v)).transpose()?.unwrap_or(10_000),
            latency: Some(Duration::from_secs(5)),
            only: Vec::new(),
            quick: false,
            overrides: Default::default(),
            replication_factor: 1,
        })
    }

    /// Records per case for a given record size.
    pub fn records_for(&self, record_bytes: usize) -> u64 {
        self.records.unwrap_or_else(|| (self.mib_per_case << 20) / record_bytes as u64).max(1)
    }

    /// `--only` patterns all have to match.
    /// (`1KiB-p8-acks1` also answers to `1k-p8-acks1`.)
    pub fn selects(&self, case_name: &str) -> bool {
        let name = case_name.to_ascii_lowercase();
        let short = name.replace("kib", "k");
        self.only.iter().all(|p| name.contains(p.as_str()) || short.contains(p.as_str()))
    }
}

fn pair(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw.split_once('=').ok_or_else(|| format!("`{raw}` is not KEY=VALUE"))?;
    Ok((key.trim().to_string(), value.trim().to_string()))
}

fn number<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, String> {
    raw.replace('_', "").parse().map_err(|_| format!("{name}: `{raw}` is not a valid number"))
}
