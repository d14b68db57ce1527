//! Broker addresses in upstream responses become gateway addresses, so clients keep
//! talking to the gateway: Metadata, FindCoordinator and DescribeCluster are the
//! responses (of the APIs the gateway forwards) that carry them.

use super::addressing::ListenerAddressing;
use kafka_protocol::messages::ResponseKind;
use kafka_protocol::protocol::StrBytes;

/// Rewrites every broker address in `resp` for a client of `a`'s listener. A node
/// the listener's range cannot address is left out of broker lists (clients then
/// treat its partitions as leaderless and retry), and a coordinator on one is
/// answered COORDINATOR_NOT_AVAILABLE: no upstream address ever reaches a client.
pub fn rewrite_addresses(resp: &mut ResponseKind, a: &ListenerAddressing) {
    match resp {
        ResponseKind::Metadata(m) => {
            m.brokers.retain_mut(|b| set(a, b.node_id.0, &mut b.host, &mut b.port));
        }
        ResponseKind::DescribeCluster(d) => {
            d.brokers.retain_mut(|b| set(a, b.broker_id.0, &mut b.host, &mut b.port));
        }
        ResponseKind::FindCoordinator(f) => {
            if f.node_id.0 >= 0 && !set(a, f.node_id.0, &mut f.host, &mut f.port) {
                unaddressable(&mut f.error_code, &mut f.node_id.0, &mut f.host, &mut f.port);
            }
            for c in &mut f.coordinators {
                if c.node_id.0 >= 0 && !set(a, c.node_id.0, &mut c.host, &mut c.port) {
                    unaddressable(&mut c.error_code, &mut c.node_id.0, &mut c.host, &mut c.port);
                }
            }
        }
        _ => {}
    }
}

fn set(a: &ListenerAddressing, id: i32, host: &mut StrBytes, port: &mut i32) -> bool {
    match a.advertised(id) {
        Some((h, p)) => {
            *host = StrBytes::from_string(h);
            *port = p;
            true
        }
        None => {
            tracing::warn!(node = id, listener = %a.listener,
                "an upstream broker id outside the listener's node range (proxy.addressing nodes_max, node_id_base); clients cannot reach it");
            false
        }
    }
}

fn unaddressable(error_code: &mut i16, node: &mut i32, host: &mut StrBytes, port: &mut i32) {
    *error_code = kafka_protocol::error::ResponseError::CoordinatorNotAvailable.code();
    *node = -1;
    *host = StrBytes::default();
    *port = -1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ListenerConfig, SecurityProtocol};
    use crate::proxy::config::{AddressingConfig, AddressingMode};
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse, MetadataResponse};

    fn addressing() -> ListenerAddressing {
        let l = ListenerConfig {
            name: "EXTERNAL".into(),
            bind: "127.0.0.1:9092".parse().unwrap(),
            advertised: Some("gw:9092".into()),
            security: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        };
        let a = AddressingConfig {
            listener: None,
            mode: AddressingMode::Port,
            first_port: Some(20000),
            bind_host: None,
            advertised_host: None,
            advertised_first_port: None,
            node_id_base: 0,
            nodes_max: 4,
            domain: None,
            advertised_port: None,
        };
        ListenerAddressing::new(&l, &a)
    }

    fn broker(id: i32, host: &str, port: i32) -> MetadataResponseBroker {
        MetadataResponseBroker::default()
            .with_node_id(BrokerId(id))
            .with_host(StrBytes::from_string(host.into()))
            .with_port(port)
    }

    #[test]
    fn metadata_brokers_become_gateway_ports() {
        let m = MetadataResponse::default().with_brokers(vec![
            broker(1, "kafka-1.internal", 9092),
            broker(3, "kafka-3.internal", 9092),
            broker(9, "kafka-9.internal", 9092),
        ]);
        let mut r = ResponseKind::Metadata(m);
        rewrite_addresses(&mut r, &addressing());
        let ResponseKind::Metadata(m) = r else { unreachable!() };
        let got: Vec<_> = m.brokers.iter().map(|b| (b.node_id.0, b.host.to_string(), b.port)).collect();
        assert_eq!(got, vec![(1, "gw".into(), 20001), (3, "gw".into(), 20003)], "node 9 is outside the range");
    }

    #[test]
    fn coordinators_old_and_new_forms() {
        let f = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(2))
            .with_host(StrBytes::from_static_str("kafka-2"))
            .with_port(9092)
            .with_coordinators(vec![
                Coordinator::default()
                    .with_node_id(BrokerId(0))
                    .with_host(StrBytes::from_static_str("kafka-0"))
                    .with_port(9092),
                Coordinator::default().with_node_id(BrokerId(-1)).with_error_code(15),
                Coordinator::default().with_node_id(BrokerId(7)).with_host(StrBytes::from_static_str("kafka-7")),
            ]);
        let mut r = ResponseKind::FindCoordinator(f);
        rewrite_addresses(&mut r, &addressing());
        let ResponseKind::FindCoordinator(f) = r else { unreachable!() };
        assert_eq!((f.host.as_str(), f.port), ("gw", 20002));
        assert_eq!((f.coordinators[0].host.as_str(), f.coordinators[0].port), ("gw", 20000));
        assert_eq!(f.coordinators[1].error_code, 15, "errors pass through");
        assert_eq!(f.coordinators[2].error_code, 15, "unaddressable: COORDINATOR_NOT_AVAILABLE");
        assert_eq!(f.coordinators[2].host.as_str(), "");
    }
}
