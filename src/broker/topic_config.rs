//! Topic configuration: the keys gregor enforces, their validation, and how a
//! topic's overrides resolve against the broker defaults (Kafka's names and rules).

use super::error::BrokerError;
use crate::config::{BrokerConfig, TimestampType};
use crate::log::LogSettings;
use std::collections::BTreeMap;

/// Kafka's default for how long tombstones stay in compacted topics (1 day).
const DELETE_RETENTION_MS_DEFAULT: i64 = 86_400_000;

/// Where a described value comes from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Long { min: i64 },
    Int { min: i64 },
    TimestampType,
    CleanupPolicy,
    CompressionType,
}

/// Every topic config key gregor accepts, with its type. Others are rejected with
/// INVALID_CONFIG rather than silently stored and ignored.
const KEYS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::CleanupPolicy),
    ("compression.type", Kind::CompressionType),
    ("delete.retention.ms", Kind::Long { min: 0 }),
    ("flush.messages", Kind::Long { min: 1 }),
    ("flush.ms", Kind::Long { min: 0 }),
    ("index.interval.bytes", Kind::Int { min: 0 }),
    ("max.message.bytes", Kind::Int { min: 0 }),
    ("message.timestamp.type", Kind::TimestampType),
    ("min.insync.replicas", Kind::Int { min: 1 }),
    ("retention.bytes", Kind::Long { min: -1 }),
    ("retention.ms", Kind::Long { min: -1 }),
    ("segment.bytes", Kind::Int { min: 14 }),
    ("segment.index.bytes", Kind::Int { min: 8 }),
    ("segment.ms", Kind::Long { min: 1 }),
];

/// A topic's explicit overrides (what `kafka-configs --describe` calls dynamic).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig {
    pub overrides: BTreeMap<String, String>,
}

/// Checks one key/value pair; returns the normalised value.
pub fn validate(key: &str, value: &str) -> Result<String, BrokerError> {
    let kind = KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| BrokerError::InvalidConfig(format!("Unknown or unsupported topic config name: {key}")))?;
    let bad = |why: &str| BrokerError::InvalidConfig(format!("Invalid value {value} for configuration {key}: {why}"));
    match kind {
        Kind::Long { min } | Kind::Int { min } => {
            let v: i64 = value.trim().parse().map_err(|_| bad("not a number"))?;
            let max = if matches!(kind, Kind::Int { .. }) { i32::MAX as i64 } else { i64::MAX };
            if v < min || v > max {
                return Err(bad(&format!("must be in [{min}, {max}]")));
            }
            Ok(v.to_string())
        }
        Kind::TimestampType => match value {
            "CreateTime" | "LogAppendTime" => Ok(value.to_string()),
            _ => Err(bad("must be CreateTime or LogAppendTime")),
        },
        Kind::CleanupPolicy => match value {
            "delete" => Ok(value.to_string()),
            "compact" | "compact,delete" | "delete,compact" => Err(bad("log compaction is not supported yet")),
            _ => Err(bad("must be delete")),
        },
        Kind::CompressionType => match value {
            "producer" => Ok(value.to_string()),
            "gzip" | "snappy" | "lz4" | "zstd" | "uncompressed" => {
                Err(bad("broker-side recompression is not supported; batches keep the producer's codec"))
            }
            _ => Err(bad("unknown compression type")),
        },
    }
}

impl TopicConfig {
    /// Builds from (key, value) pairs, validating each; duplicates are an error.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<TopicConfig, BrokerError> {
        let mut overrides = BTreeMap::new();
        for (k, v) in pairs {
            let v = validate(k, v)?;
            if overrides.insert(k.to_string(), v).is_some() {
                return Err(BrokerError::InvalidConfig(format!("duplicate config key {k}")));
            }
        }
        Ok(TopicConfig { overrides })
    }

    fn long(&self, key: &str, default: i64) -> i64 {
        self.overrides.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    pub fn timestamp_type(&self, broker: &BrokerConfig) -> TimestampType {
        match self.overrides.get("message.timestamp.type").map(String::as_str) {
            Some("LogAppendTime") => TimestampType::LogAppendTime,
            Some(_) => TimestampType::CreateTime,
            None => broker.log_message_timestamp_type,
        }
    }

    pub fn min_insync_replicas(&self, broker: &BrokerConfig) -> i32 {
        self.long("min.insync.replicas", broker.min_insync_replicas as i64) as i32
    }

    pub fn max_message_bytes(&self, broker: &BrokerConfig) -> usize {
        self.long("max.message.bytes", broker.message_max_bytes as i64) as usize
    }

    pub fn log_settings(&self, broker: &BrokerConfig) -> LogSettings {
        LogSettings {
            segment_bytes: self.long("segment.bytes", broker.log_segment_bytes) as u64,
            segment_ms: self.long("segment.ms", broker.log_segment_ms),
            index_interval_bytes: self.long("index.interval.bytes", broker.log_index_interval_bytes as i64) as u64,
            index_entries_max: (self.long("segment.index.bytes", broker.log_index_size_max_bytes as i64) / 8).max(1)
                as usize,
            flush_messages: self.long("flush.messages", broker.log_flush_interval_messages),
            flush_ms: self.long("flush.ms", broker.log_flush_interval_ms),
            retention_ms: self.long("retention.ms", broker.log_retention_ms),
            retention_bytes: self.long("retention.bytes", broker.log_retention_bytes),
            compact: self.overrides.get("cleanup.policy").is_some_and(|p| p.contains("compact")),
            delete_retention_ms: self.long("delete.retention.ms", DELETE_RETENTION_MS_DEFAULT),
        }
    }

    /// Every supported key with its effective value and source, for DescribeConfigs.
    pub fn describe(&self, broker: &BrokerConfig) -> Vec<(&'static str, String, ConfigSource)> {
        KEYS.iter()
            .map(|(key, _)| match self.overrides.get(*key) {
                Some(v) => (*key, v.clone(), ConfigSource::DynamicTopic),
                None => {
                    let (v, source) = broker_default(key, broker);
                    (*key, v, source)
                }
            })
            .collect()
    }
}

/// The broker-level value behind a topic key, and whether the operator set it.
fn broker_default(key: &str, b: &BrokerConfig) -> (String, ConfigSource) {
    let d = BrokerConfig::default();
    let pick =
        |v: i64, dv: i64| (v.to_string(), if v == dv { ConfigSource::Default } else { ConfigSource::StaticBroker });
    match key {
        "cleanup.policy" => ("delete".into(), ConfigSource::Default),
        "compression.type" => ("producer".into(), ConfigSource::Default),
        "delete.retention.ms" => (DELETE_RETENTION_MS_DEFAULT.to_string(), ConfigSource::Default),
        "flush.messages" => pick(b.log_flush_interval_messages, d.log_flush_interval_messages),
        "flush.ms" => pick(b.log_flush_interval_ms, d.log_flush_interval_ms),
        "index.interval.bytes" => pick(b.log_index_interval_bytes as i64, d.log_index_interval_bytes as i64),
        "max.message.bytes" => pick(b.message_max_bytes as i64, d.message_max_bytes as i64),
        "message.timestamp.type" => {
            let s = if b.log_message_timestamp_type == d.log_message_timestamp_type {
                ConfigSource::Default
            } else {
                ConfigSource::StaticBroker
            };
            (b.log_message_timestamp_type.as_str().into(), s)
        }
        "min.insync.replicas" => pick(b.min_insync_replicas as i64, d.min_insync_replicas as i64),
        "retention.bytes" => pick(b.log_retention_bytes, d.log_retention_bytes),
        "retention.ms" => pick(b.log_retention_ms, d.log_retention_ms),
        "segment.bytes" => pick(b.log_segment_bytes, d.log_segment_bytes),
        "segment.index.bytes" => pick(b.log_index_size_max_bytes as i64, d.log_index_size_max_bytes as i64),
        "segment.ms" => pick(b.log_segment_ms, d.log_segment_ms),
        _ => (String::new(), ConfigSource::Default),
    }
}

/// Broker resource configs for DescribeConfigs on the BROKER resource.
pub fn describe_broker(b: &BrokerConfig) -> Vec<(&'static str, String)> {
    vec![
        ("auto.create.topics.enable", b.auto_create_topics_enable.to_string()),
        ("num.partitions", b.num_partitions.to_string()),
        ("default.replication.factor", b.default_replication_factor.to_string()),
        ("min.insync.replicas", b.min_insync_replicas.to_string()),
        ("log.segment.bytes", b.log_segment_bytes.to_string()),
        ("log.segment.ms", b.log_segment_ms.to_string()),
        ("log.retention.ms", b.log_retention_ms.to_string()),
        ("log.retention.bytes", b.log_retention_bytes.to_string()),
        ("log.retention.check.interval.ms", b.log_retention_check_interval_ms.to_string()),
        ("log.index.interval.bytes", b.log_index_interval_bytes.to_string()),
        ("log.index.size.max.bytes", b.log_index_size_max_bytes.to_string()),
        ("log.flush.interval.messages", b.log_flush_interval_messages.to_string()),
        ("log.flush.interval.ms", b.log_flush_interval_ms.to_string()),
        ("message.max.bytes", b.message_max_bytes.to_string()),
        ("log.message.timestamp.type", b.log_message_timestamp_type.as_str().to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_follows_kafka_rules() {
        assert_eq!(validate("retention.ms", " 1000").unwrap(), "1000");
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("segment.bytes", "3000000000").is_err());
        assert!(validate("no.such.key", "1").is_err());
        assert!(validate("cleanup.policy", "compact").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(TopicConfig::from_pairs([("retention.ms", "1"), ("retention.ms", "2")]).is_err());
    }

    #[test]
    fn overrides_resolve_over_broker_defaults() {
        let b = BrokerConfig::default();
        let c =
            TopicConfig::from_pairs([("segment.bytes", "1000"), ("message.timestamp.type", "LogAppendTime")]).unwrap();
        assert_eq!(c.log_settings(&b).segment_bytes, 1000);
        assert_eq!(c.log_settings(&b).retention_ms, b.log_retention_ms);
        assert_eq!(c.timestamp_type(&b), TimestampType::LogAppendTime);
        let described = c.describe(&b);
        let seg = described.iter().find(|d| d.0 == "segment.bytes").unwrap();
        assert_eq!((seg.1.as_str(), seg.2), ("1000", ConfigSource::DynamicTopic));
        let ret = described.iter().find(|d| d.0 == "retention.ms").unwrap();
        assert_eq!(ret.2, ConfigSource::Default);
    }
}
