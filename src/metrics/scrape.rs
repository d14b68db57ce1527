//! Gauges read from their owners at scrape time: partitions, groups, the process.
//! Each scrape resets them first, so a deleted topic or group leaves no stale series.

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

/// One partition's state as the log and the replica state machine see it.
#[derive(Debug, Default, Clone)]
pub struct PartitionStats {
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
    pub segments: usize,
    pub replicas: usize,
    pub in_sync_replicas: usize,
    /// This node leads the partition (single node: always).
    pub has_leader: bool,
}

pub struct ScrapeGauges {
    log_start: IntGaugeVec,
    log_end: IntGaugeVec,
    high_watermark: IntGaugeVec,
    size: IntGaugeVec,
    segments: IntGaugeVec,
    partitions: IntGauge,
    under_replicated: IntGauge,
    offline: IntGauge,
    groups: IntGaugeVec,
    group_members: IntGaugeVec,
    group_lag: IntGaugeVec,
    /// Per (quota type, user, client id): throttle time and throttled responses.
    pub(super) quota_throttle_seconds: prometheus::CounterVec,
    pub(super) quota_throttled: prometheus::IntCounterVec,
    pub(super) rss: IntGauge,
    pub(super) open_fds: IntGauge,
    pub(super) max_fds: IntGauge,
    pub(super) cpu_seconds: prometheus::Counter,
    pub(super) start_time: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

const PARTITION: &[&str] = &["topic", "partition"];

impl ScrapeGauges {
    pub(super) fn register(r: &Registry) -> ScrapeGauges {
        let quota_throttle_seconds = prometheus::CounterVec::new(
            Opts::new(
                "gregor_quota_throttle_time_seconds_total",
                "Throttle time given to clients, by quota type and the quota entity (user, client id).",
            ),
            &["quota_type", "user", "client_id"],
        )
        .expect("valid metric");
        r.register(Box::new(quota_throttle_seconds.clone())).expect("unique metric");
        let cpu_seconds =
            prometheus::Counter::new("gregor_process_cpu_seconds_total", "User and system CPU time of the process.")
                .expect("valid metric");
        r.register(Box::new(cpu_seconds.clone())).expect("unique metric");
        ScrapeGauges {
            log_start: gauges(r, "gregor_log_start_offset", "First offset still in the partition's log.", PARTITION),
            log_end: gauges(r, "gregor_log_end_offset", "Offset the next appended record gets.", PARTITION),
            high_watermark: gauges(
                r,
                "gregor_log_high_watermark",
                "Offset up to which records are replicated to the ISR and visible to consumers.",
                PARTITION,
            ),
            size: gauges(r, "gregor_log_size_bytes", "Bytes of the partition's segment files on disk.", PARTITION),
            segments: gauges(r, "gregor_log_segments", "Segment files of the partition.", PARTITION),
            partitions: gauge(r, "gregor_cluster_partitions", "Partitions hosted by this node."),
            under_replicated: gauge(
                r,
                "gregor_cluster_under_replicated_partitions",
                "Partitions led here whose ISR is smaller than their replica set.",
            ),
            offline: gauge(r, "gregor_cluster_offline_partitions", "Partitions without a live leader."),
            groups: gauges(r, "gregor_groups_by_state", "Consumer groups, by state.", &["state"]),
            group_members: gauges(r, "gregor_group_members", "Members of a consumer group.", &["group"]),
            group_lag: gauges(
                r,
                "gregor_group_lag_records",
                "High watermark minus the group's committed offset, per partition.",
                &["group", "topic", "partition"],
            ),
            quota_throttled: {
                let v = prometheus::IntCounterVec::new(
                    Opts::new(
                        "gregor_quota_throttled_responses_total",
                        "Responses that carried a non-zero throttle time, by quota type and entity.",
                    ),
                    &["quota_type", "user", "client_id"],
                )
                .expect("valid metric");
                r.register(Box::new(v.clone())).expect("unique metric");
                v
            },
            quota_throttle_seconds,
            rss: gauge(r, "gregor_process_resident_memory_bytes", "Resident set size of the process."),
            open_fds: gauge(r, "gregor_process_open_fds", "Open file descriptors (sockets and segment files)."),
            max_fds: gauge(r, "gregor_process_max_fds", "The process's open file descriptor limit."),
            cpu_seconds,
            start_time: gauge(r, "gregor_process_start_time_seconds", "Process start, in seconds since the epoch."),
        }
    }

    pub(super) fn reset(&self) {
        for v in [
            &self.log_start,
            &self.log_end,
            &self.high_watermark,
            &self.size,
            &self.segments,
            &self.groups,
            &self.group_members,
            &self.group_lag,
        ] {
            v.reset();
        }
        self.quota_throttled.reset();
        self.quota_throttle_seconds.reset();
        self.partitions.set(0);
        self.under_replicated.set(0);
        self.offline.set(0);
    }

    pub fn partition(&self, topic: &str, partition: i32, s: &PartitionStats) {
        let p = partition.to_string();
        let labels = [topic, p.as_str()];
        self.log_start.with_label_values(&labels).set(s.log_start_offset);
        self.log_end.with_label_values(&labels).set(s.log_end_offset);
        self.high_watermark.with_label_values(&labels).set(s.high_watermark);
        self.size.with_label_values(&labels).set(s.size_bytes as i64);
        self.segments.with_label_values(&labels).set(s.segments as i64);
        self.partitions.inc();
        if !s.has_leader {
            self.offline.inc();
        } else if s.in_sync_replicas < s.replicas {
            self.under_replicated.inc();
        }
    }

    /// Every state is reported, at zero when no group is in it.
    pub fn group_states(&self, counts: &[(&str, i64)]) {
        for (state, n) in counts {
            self.groups.with_label_values(&[state]).set(*n);
        }
    }

    pub fn group_members(&self, group: &str, members: usize) {
        self.group_members.with_label_values(&[group]).set(members as i64);
    }

    pub fn group_lag(&self, group: &str, topic: &str, partition: i32, lag: i64) {
        self.group_lag.with_label_values(&[group, topic, &partition.to_string()]).set(lag);
    }

    /// A quota entity's throttling so far (totals kept by the quota manager).
    pub fn quota_throttle(&self, quota_type: &str, user: &str, client_id: &str, throttle_ms: u64, responses: u64) {
        let labels = [quota_type, user, client_id];
        self.quota_throttle_seconds.with_label_values(&labels).inc_by(throttle_ms as f64 / 1000.0);
        self.quota_throttled.with_label_values(&labels).inc_by(responses);
    }
}
