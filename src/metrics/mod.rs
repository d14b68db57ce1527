//! Prometheus metrics, served as text at the admin endpoint's `/metrics`.
//!
//! Two kinds live here. Event metrics (requests, latencies, errors, bytes, connections,
//! authentications) are counted where they happen: the metrics layer, the router, the
//! accept loop, the authentication paths. State metrics (partition offsets and sizes,
//! groups, lag, the process) are read from their owners at scrape time, so they can
//! never drift from the state they describe and vanish with it.
//!
//! Names follow `gregor_<subsystem>_<name>_<unit>` in base units (seconds, bytes);
//! every family has HELP and TYPE, and `promtool check metrics` passes on the output
//! (a compat test runs it).
//!
//! The `prometheus` crate was chosen over `metrics` + an exporter: its label vectors
//! hand out counter handles that can be resolved once and kept (the per-API table
//! below), which keeps the per-request cost to a few atomic adds.

pub mod errors;
pub mod process;
pub mod scrape;

use kafka_protocol::messages::ApiKey;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::collections::HashMap;
use std::time::Duration;

/// Latency buckets, in seconds: 50 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// The counters of one API, resolved once so a request costs no label lookup.
struct ApiMetrics {
    /// Indexed by version − `min_version`, over the routed range.
    requests: Vec<IntCounter>,
    min_version: i16,
    queue: Histogram,
    handle: Histogram,
    total: Histogram,
}

/// Every event metric, and the registry that renders them with the scrape-time ones.
pub struct Metrics {
    enabled: bool,
    registry: Registry,
    per_api: HashMap<i16, ApiMetrics>,
    request_errors: IntCounterVec,
    topic_bytes_in: IntCounterVec,
    topic_bytes_out: IntCounterVec,
    topic_records_in: IntCounterVec,
    connections_active: IntGaugeVec,
    connection_attempts: IntCounterVec,
    authentications: IntCounterVec,
    scrape: scrape::ScrapeGauges,
    /// Scrapes are serialised: the state gauges are reset and refilled per scrape.
    scrape_lock: std::sync::Mutex<()>,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(v.clone())).expect("unique metric");
    v
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let v = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(v.clone())).expect("unique metric");
    v
}

fn histogram_vec(registry: &Registry, name: &str, help: &str) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let v = HistogramVec::new(opts, &["api"]).expect("valid metric");
    registry.register(Box::new(v.clone())).expect("unique metric");
    v
}

/// Kafka's name for an API (`Produce`, `OffsetCommit`): the label value everywhere.
pub fn api_name(api: ApiKey) -> String {
    format!("{api:?}")
}

impl Metrics {
    /// `enabled: false` (config `admin.metrics`) keeps the registry empty and makes
    /// every recording call return at once.
    pub fn new(enabled: bool) -> Metrics {
        let registry = Registry::new();
        let requests = counter_vec(
            &registry,
            "gregor_kafka_requests_total",
            "Requests handled, by API and version.",
            &["api", "version"],
        );
        let queue = histogram_vec(
            &registry,
            "gregor_kafka_request_queue_time_seconds",
            "From the request frame's arrival to the start of its handler (decoding, authentication, authorization, quotas).",
        );
        let handle = histogram_vec(
            &registry,
            "gregor_kafka_request_handle_time_seconds",
            "Time in the API's handler, including long-poll and replication waits.",
        );
        let total = histogram_vec(
            &registry,
            "gregor_kafka_request_latency_seconds",
            "From the request frame's arrival to its response being ready to write.",
        );
        let mut per_api = HashMap::new();
        for &(api, min, max) in crate::router::ROUTES {
            let name = api_name(api);
            per_api.insert(
                api as i16,
                ApiMetrics {
                    requests: (min..=max)
                        .map(|v| requests.with_label_values(&[name.as_str(), &v.to_string()]))
                        .collect(),
                    min_version: min,
                    queue: queue.with_label_values(&[&name]),
                    handle: handle.with_label_values(&[&name]),
                    total: total.with_label_values(&[&name]),
                },
            );
        }
        let metrics = Metrics {
            enabled,
            request_errors: counter_vec(
                &registry,
                "gregor_kafka_request_errors_total",
                "Error codes in responses (top level and per resource), by API and error.",
                &["api", "error", "error_code"],
            ),
            topic_bytes_in: counter_vec(
                &registry,
                "gregor_topic_bytes_in_total",
                "Record batch bytes appended by producers, by topic.",
                &["topic"],
            ),
            topic_bytes_out: counter_vec(
                &registry,
                "gregor_topic_bytes_out_total",
                "Record batch bytes returned to fetchers, by topic.",
                &["topic"],
            ),
            topic_records_in: counter_vec(
                &registry,
                "gregor_topic_records_in_total",
                "Records appended by producers, by topic.",
                &["topic"],
            ),
            connections_active: gauge_vec(
                &registry,
                "gregor_network_connections_active",
                "Open client connections, by listener.",
                &["listener"],
            ),
            connection_attempts: counter_vec(
                &registry,
                "gregor_network_connection_attempts_total",
                "Accepted TCP connections (before TLS and SASL), by listener.",
                &["listener"],
            ),
            authentications: counter_vec(
                &registry,
                "gregor_security_authentications_total",
                "Authentication results (TLS client certificates and SASL), by mechanism and outcome.",
                &["mechanism", "outcome"],
            ),
            scrape: scrape::ScrapeGauges::register(&registry),
            scrape_lock: std::sync::Mutex::new(()),
            per_api,
            registry,
        };
        if enabled {
            let build = gauge_vec(&metrics.registry, "gregor_build_info", "Always 1; the version label.", &["version"]);
            build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        }
        metrics
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A request was handled: its count and total latency.
    pub fn observe_request(&self, api: ApiKey, version: i16, total: Duration) {
        if !self.enabled {
            return;
        }
        if let Some(m) = self.per_api.get(&(api as i16)) {
            if let Some(c) = usize::try_from(version - m.min_version).ok().and_then(|i| m.requests.get(i)) {
                c.inc();
            }
            m.total.observe(total.as_secs_f64());
        }
    }

    /// The router's split of a request's time: before its handler, and in it.
    pub fn observe_phases(&self, api: ApiKey, queue: Duration, handle: Duration) {
        if !self.enabled {
            return;
        }
        if let Some(m) = self.per_api.get(&(api as i16)) {
            m.queue.observe(queue.as_secs_f64());
            m.handle.observe(handle.as_secs_f64());
        }
    }

    pub fn request_error(&self, api: ApiKey, code: i16, count: u64) {
        if self.enabled {
            let name = errors::error_name(code);
            self.request_errors.with_label_values(&[&api_name(api), &name, &code.to_string()]).inc_by(count);
        }
    }

    pub fn bytes_in(&self, topic: &str, bytes: u64, records: u64) {
        if self.enabled {
            self.topic_bytes_in.with_label_values(&[topic]).inc_by(bytes);
            self.topic_records_in.with_label_values(&[topic]).inc_by(records);
        }
    }

    pub fn bytes_out(&self, topic: &str, bytes: u64) {
        if self.enabled {
            self.topic_bytes_out.with_label_values(&[topic]).inc_by(bytes);
        }
    }

    /// A deleted topic's counters go with it (Kafka removes its topic metrics too).
    pub fn forget_topic(&self, topic: &str) {
        let _ = self.topic_bytes_in.remove_label_values(&[topic]);
        let _ = self.topic_bytes_out.remove_label_values(&[topic]);
        let _ = self.topic_records_in.remove_label_values(&[topic]);
    }

    pub fn connection_opened(&self, listener: &str) {
        if self.enabled {
            self.connection_attempts.with_label_values(&[listener]).inc();
            self.connections_active.with_label_values(&[listener]).inc();
        }
    }

    pub fn connection_closed(&self, listener: &str) {
        if self.enabled {
            self.connections_active.with_label_values(&[listener]).dec();
        }
    }

    pub fn authentication(&self, mechanism: &str, success: bool) {
        if self.enabled {
            let outcome = if success { "success" } else { "failure" };
            self.authentications.with_label_values(&[mechanism, outcome]).inc();
        }
    }

    /// The exposition: state gauges are refilled by `fill`, then everything is encoded
    /// in Prometheus' text format. `None` when metrics are off.
    pub fn render(&self, fill: impl FnOnce(&scrape::ScrapeGauges)) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let _serial = self.scrape_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.scrape.reset();
        fill(&self.scrape);
        process::observe(&self.scrape);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).ok()?;
        String::from_utf8(out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_a_gregor_name() {
        let m = Metrics::new(true);
        m.observe_request(ApiKey::Produce, 9, Duration::from_millis(2));
        m.observe_phases(ApiKey::Produce, Duration::from_micros(20), Duration::from_millis(1));
        m.request_error(ApiKey::Produce, 6, 2);
        m.bytes_in("orders", 100, 3);
        m.bytes_out("orders", 50);
        m.connection_opened("PLAINTEXT");
        m.authentication("SCRAM-SHA-512", false);
        let text = m
            .render(|g| {
                g.partition("orders", 0, &scrape::PartitionStats::default());
            })
            .unwrap();
        let mut families = 0;
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert!(name.starts_with("gregor_"), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP");
            families += 1;
        }
        assert!(families > 20, "{families} families");
        assert!(text.contains(r#"gregor_kafka_requests_total{api="Produce",version="9"} 1"#), "{text}");
        assert!(text.contains(
            r#"gregor_kafka_request_errors_total{api="Produce",error="NOT_LEADER_OR_FOLLOWER",error_code="6"} 2"#
        ));
        assert!(text.contains(r#"gregor_topic_records_in_total{topic="orders"} 3"#));
        assert!(text.contains(r#"gregor_network_connections_active{listener="PLAINTEXT"} 1"#));
        assert!(
            text.contains(r#"gregor_security_authentications_total{mechanism="SCRAM-SHA-512",outcome="failure"} 1"#)
        );
        assert!(text.contains(r#"gregor_log_end_offset{partition="0",topic="orders"} 0"#));
    }

    #[test]
    fn state_gauges_forget_what_is_gone() {
        let m = Metrics::new(true);
        let first = m.render(|g| g.partition("gone", 0, &scrape::PartitionStats::default())).unwrap();
        assert!(first.contains(r#"topic="gone""#));
        let second = m.render(|_| {}).unwrap();
        assert!(!second.contains(r#"topic="gone""#));
        m.bytes_in("gone", 1, 1);
        m.forget_topic("gone");
        assert!(!m.render(|_| {}).unwrap().contains(r#"topic="gone""#));
    }

    #[test]
    fn disabled_metrics_render_nothing_and_count_nothing() {
        let m = Metrics::new(false);
        m.observe_request(ApiKey::Produce, 9, Duration::from_millis(2));
        assert!(m.render(|_| {}).is_none());
    }
}
