//! The cluster as the admin commands see it: one bootstrap connection, the brokers and
//! controller learned from Metadata, and a connection per broker opened on first use,
//! so that each request goes where Kafka wants it (the controller, a group's
//! coordinator, a partition's leader).

use super::client::{ConnectOptions, Connection};
use super::error::{ClientError, KafkaError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Pause between retries of a coordinator that is still loading or not yet elected.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerAddr {
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

pub struct Session {
    options: ConnectOptions,
    bootstrap: Connection,
    /// Every broker the cluster has told us about, by node id.
    pub brokers: BTreeMap<i32, BrokerAddr>,
    /// -1 when the cluster names none.
    pub controller_id: i32,
    pub cluster_id: Option<String>,
    /// Connections to single brokers, opened when first needed.
    nodes: HashMap<i32, Connection>,
}

impl Session {
    /// Connects to the first bootstrap address that answers and reads the broker list.
    pub fn connect(bootstrap: &[String], options: ConnectOptions) -> Result<Session, ClientError> {
        assert!(!bootstrap.is_empty(), "the argument parser guarantees an address");
        let mut last = None;
        for addr in bootstrap {
            match Connection::open(addr, &options) {
                Ok(conn) => {
                    let mut session = Session {
                        options,
                        bootstrap: conn,
                        brokers: BTreeMap::new(),
                        controller_id: -1,
                        cluster_id: None,
                        nodes: HashMap::new(),
                    };
                    session.metadata(Some(&[]))?;
                    return Ok(session);
                }
                // a failed login is an answer, not an unreachable address: stop here
                Err(e @ ClientError::Sasl { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one address was tried"))
    }

    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The connection any broker-agnostic request may use.
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata for the named topics (`None`: every topic), never auto-creating one.
    /// Refreshes the broker list and the controller as a side effect.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse, ClientError> {
        let conn = &mut self.bootstrap;
        let version = conn.version::<MetadataRequest>()?;
        let topics = topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(n.clone())))))
                .collect()
        });
        let mut request = MetadataRequest::default().with_topics(topics);
        if version >= 4 {
            request = request.with_allow_auto_topic_creation(false);
        }
        let response = conn.send_at(version, &request)?;
        if response.error_code != 0 {
            let what = format!("Metadata from {}", conn.addr());
            return Err(ClientError::Kafka { what, error: KafkaError::new(response.error_code, None) });
        }
        self.brokers = response
            .brokers
            .iter()
            .map(|b| {
                let addr =
                    BrokerAddr { host: b.host.to_string(), port: b.port, rack: b.rack.as_ref().map(|r| r.to_string()) };
                (*b.node_id, addr)
            })
            .collect();
        self.controller_id = *response.controller_id;
        self.cluster_id = response.cluster_id.as_ref().map(|c| c.to_string());
        Ok(response)
    }

    /// The connection to one broker, opened on first use.
    pub fn node(&mut self, id: i32) -> Result<&mut Connection, ClientError> {
        if !self.nodes.contains_key(&id) {
            let addr = self.brokers.get(&id).ok_or(ClientError::UnknownNode(id))?.addr();
            let conn = Connection::open(&addr, &self.options)?;
            self.nodes.insert(id, conn);
        }
        Ok(self.nodes.get_mut(&id).expect("inserted above"))
    }

    /// The controller's connection (KRaft brokers name a broker that forwards), or the
    /// bootstrap connection when Metadata names no controller.
    pub fn controller(&mut self) -> Result<&mut Connection, ClientError> {
        match self.controller_id {
            id if id >= 0 && self.brokers.contains_key(&id) => self.node(id),
            _ => Ok(&mut self.bootstrap),
        }
    }

    /// The node coordinating `group`, retrying while the coordinator is loading or
    /// not yet available, for at most the session's timeout.
    pub fn coordinator(&mut self, group: &str) -> Result<i32, ClientError> {
        let deadline = Instant::now() + self.options.timeout;
        loop {
            let (code, message, node) = self.find_coordinator(group)?;
            if code == 0 {
                return Ok(node);
            }
            if !is_coordinator_retriable(code) || Instant::now() + RETRY_BACKOFF > deadline {
                let what = format!("group \"{group}\"");
                return Err(ClientError::Kafka { what, error: KafkaError::new(code, message) });
            }
            std::thread::sleep(RETRY_BACKOFF);
        }
    }

    /// One FindCoordinator; learns the coordinator's address on success.
    fn find_coordinator(&mut self, group: &str) -> Result<(i16, Option<String>, i32), ClientError> {
        let conn = &mut self.bootstrap;
        let version = conn.version::<FindCoordinatorRequest>()?;
        let key = StrBytes::from_string(group.to_string());
        let request = if version >= 4 {
            FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default().with_key_type(0).with_key(key)
        };
        let r: FindCoordinatorResponse = conn.send_at(version, &request)?;
        let (code, message, node, host, port) = if version >= 4 {
            let c = r.coordinators.into_iter().next().ok_or_else(|| ClientError::Protocol {
                addr: conn.addr().to_string(),
                message: "FindCoordinator answered no coordinator".into(),
            })?;
            (c.error_code, c.error_message, *c.node_id, c.host, c.port)
        } else {
            (r.error_code, r.error_message, *r.node_id, r.host, r.port)
        };
        if code == 0 {
            let known = self.brokers.get(&node).map(|b| b.rack.clone());
            let addr = BrokerAddr { host: host.to_string(), port, rack: known.flatten() };
            self.brokers.insert(node, addr);
        }
        Ok((code, message.map(|m| m.to_string()), node))
    }
}

/// Codes after which asking again, a little later, may succeed.
pub fn is_coordinator_retriable(code: i16) -> bool {
    [
        ResponseError::CoordinatorNotAvailable.code(),
        ResponseError::CoordinatorLoadInProgress.code(),
        ResponseError::NotCoordinator.code(),
    ]
    .contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_bracket_ipv6() {
        let b = BrokerAddr { host: "::1".into(), port: 9092, rack: None };
        assert_eq!(b.addr(), "[::1]:9092");
        let b = BrokerAddr { host: "kafka-0.local".into(), port: 9093, rack: None };
        assert_eq!(b.addr(), "kafka-0.local:9093");
    }

    #[test]
    fn retriable_coordinator_codes() {
        assert!(is_coordinator_retriable(14) && is_coordinator_retriable(15) && is_coordinator_retriable(16));
        assert!(!is_coordinator_retriable(30) && !is_coordinator_retriable(0));
    }
}
