//! Which gateway address stands for which upstream broker, per listener: a port per
//! node (`first_port + id - node_id_base`), or one TLS port where the SNI name
//! `broker-<id>.<domain>` picks the node. Clients only ever see these addresses.

use super::config::{AddressingConfig, AddressingMode};
use crate::config::{parse_host_port, ListenerConfig};
use std::net::SocketAddr;

/// SNI names of node addresses start so: `broker-3.kafka.example.com`.
const SNI_NODE_LABEL: &str = "broker-";

#[derive(Debug, Clone)]
pub struct ListenerAddressing {
    pub listener: String,
    pub mode: AddressingMode,
    /// Where the listener is bound (its bootstrap address).
    bind: SocketAddr,
    /// The host clients are told for node addresses.
    advertised_host: String,
    /// port: first node port bound / told; sni: the one port told.
    first_port: u16,
    advertised_first_port: u16,
    node_id_base: i32,
    nodes_max: u32,
    domain: String,
    bind_host: std::net::IpAddr,
}

impl ListenerAddressing {
    pub fn new(l: &ListenerConfig, a: &AddressingConfig) -> ListenerAddressing {
        let (adv_host, adv_port) = l
            .advertised
            .as_deref()
            .and_then(|s| parse_host_port(s).ok())
            .unwrap_or_else(|| (l.bind.ip().to_string(), l.bind.port()));
        let first_port = a.first_port.unwrap_or(adv_port);
        ListenerAddressing {
            listener: l.name.clone(),
            mode: a.mode,
            bind: l.bind,
            advertised_host: a.advertised_host.clone().unwrap_or(adv_host),
            first_port,
            advertised_first_port: match a.mode {
                AddressingMode::Port => a.advertised_first_port.unwrap_or(first_port),
                AddressingMode::Sni => a.advertised_port.unwrap_or(adv_port),
            },
            node_id_base: a.node_id_base,
            nodes_max: a.nodes_max,
            domain: a.domain.clone().unwrap_or_default().trim_start_matches('.').to_ascii_lowercase(),
            bind_host: a.bind_host.unwrap_or(l.bind.ip()),
        }
    }

    /// The address clients are told for upstream node `id`; `None` when the
    /// configured range cannot hold it.
    pub fn advertised(&self, id: i32) -> Option<(String, i32)> {
        match self.mode {
            AddressingMode::Port => {
                let offset = self.offset(id)?;
                Some((self.advertised_host.clone(), self.advertised_first_port as i32 + offset as i32))
            }
            AddressingMode::Sni => {
                (id >= 0).then(|| (format!("{SNI_NODE_LABEL}{id}.{}", self.domain), self.advertised_first_port as i32))
            }
        }
    }

    fn offset(&self, id: i32) -> Option<u32> {
        let offset = u32::try_from(id.checked_sub(self.node_id_base)?).ok()?;
        (offset < self.nodes_max).then_some(offset)
    }

    /// port mode: (node id, bind address) for every node port of the range.
    pub fn node_ports(&self) -> Vec<(i32, SocketAddr)> {
        if self.mode != AddressingMode::Port {
            return Vec::new();
        }
        (0..self.nodes_max)
            .map(|i| (self.node_id_base + i as i32, SocketAddr::new(self.bind_host, self.first_port + i as u16)))
            .collect()
    }

    /// sni mode: the node a TLS server name addresses (`None`: the bootstrap).
    pub fn node_for_server_name(&self, name: &str) -> Option<i32> {
        let name = name.to_ascii_lowercase();
        let rest = name.strip_suffix(&self.domain)?.strip_suffix('.')?;
        rest.strip_prefix(SNI_NODE_LABEL)?.parse::<i32>().ok().filter(|id| *id >= 0)
    }

    pub fn bind(&self) -> SocketAddr {
        self.bind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecurityProtocol;

    fn listener() -> ListenerConfig {
        ListenerConfig {
            name: "EXTERNAL".into(),
            bind: "127.0.0.1:9092".parse().unwrap(),
            advertised: Some("gw.example.com:9092".into()),
            security: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }

    fn addressing(mode: AddressingMode) -> AddressingConfig {
        AddressingConfig {
            listener: None,
            mode,
            first_port: (mode == AddressingMode::Port).then_some(19093),
            bind_host: None,
            advertised_host: None,
            advertised_first_port: None,
            node_id_base: 1,
            nodes_max: 3,
            domain: (mode == AddressingMode::Sni).then(|| "Kafka.Example.com".into()),
            advertised_port: None,
        }
    }

    #[test]
    fn a_port_per_node_within_the_range() {
        let a = ListenerAddressing::new(&listener(), &addressing(AddressingMode::Port));
        assert_eq!(a.advertised(1), Some(("gw.example.com".into(), 19093)));
        assert_eq!(a.advertised(3), Some(("gw.example.com".into(), 19095)));
        assert_eq!(a.advertised(4), None, "outside nodes_max");
        assert_eq!(a.advertised(0), None, "below node_id_base");
        let ports: Vec<_> = a.node_ports().into_iter().map(|(id, s)| (id, s.port())).collect();
        assert_eq!(ports, vec![(1, 19093), (2, 19094), (3, 19095)]);
    }

    #[test]
    fn advertised_ports_may_differ_from_bound_ones() {
        let mut c = addressing(AddressingMode::Port);
        c.advertised_first_port = Some(31000);
        c.advertised_host = Some("lb.example.com".into());
        let a = ListenerAddressing::new(&listener(), &c);
        assert_eq!(a.advertised(2), Some(("lb.example.com".into(), 31001)));
        assert_eq!(a.node_ports()[1].1.port(), 19094);
    }

    #[test]
    fn sni_names_pick_nodes() {
        let a = ListenerAddressing::new(&listener(), &addressing(AddressingMode::Sni));
        assert_eq!(a.advertised(7), Some(("broker-7.kafka.example.com".into(), 9092)));
        assert_eq!(a.node_for_server_name("broker-7.kafka.example.com"), Some(7));
        assert_eq!(a.node_for_server_name("BROKER-12.Kafka.Example.COM"), Some(12));
        assert_eq!(a.node_for_server_name("bootstrap.kafka.example.com"), None);
        assert_eq!(a.node_for_server_name("broker-7.other.com"), None);
        assert_eq!(a.node_for_server_name("broker-x.kafka.example.com"), None);
        assert!(a.node_ports().is_empty());
    }
}
