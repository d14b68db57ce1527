//! `gregor cluster describe`: DescribeCluster where the broker has it (Kafka 2.8+),
//! else what Metadata says: cluster id, controller, brokers.

use super::error::{AdminError, ClientError, KafkaError};
use super::output::{or_dash, print, Outcome, Report, Table};
use super::session::Session;
use super::ConnectArgs;
use clap::Subcommand;
use kafka_protocol::messages::DescribeClusterRequest;
use serde::Serialize;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Cluster id, controller and brokers (host, port, rack).
    Describe,
}

#[derive(Debug, Serialize)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    /// -1 when the cluster names none.
    pub controller_id: i32,
    pub brokers: Vec<BrokerDescription>,
}

#[derive(Debug, Serialize)]
pub struct BrokerDescription {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl Report for ClusterDescription {
    fn tables(&self) -> Vec<Table> {
        let title = format!("Cluster: {}  Controller: {}", or_dash(self.cluster_id.as_ref()), self.controller_id);
        let mut t = Table::new(&["NODE", "HOST", "PORT", "RACK", "ROLE"]).titled(title);
        for b in &self.brokers {
            let role = if b.node_id == self.controller_id { "controller" } else { "" };
            t.row(vec![
                b.node_id.to_string(),
                b.host.clone(),
                b.port.to_string(),
                or_dash(b.rack.as_ref()),
                role.into(),
            ]);
        }
        vec![t]
    }
}

pub fn run(
    command: ClusterCommand,
    session: &mut Session,
    args: &ConnectArgs,
    out: &mut dyn Write,
) -> Result<Outcome, AdminError> {
    match command {
        ClusterCommand::Describe => {
            let report = describe(session)?;
            print(&report, args.output, out)?;
            Ok(Outcome { failures: Vec::new() })
        }
    }
}

fn describe(session: &mut Session) -> Result<ClusterDescription, AdminError> {
    let conn = session.any();
    if conn.version_of::<DescribeClusterRequest>().is_some() {
        let response = conn.send(&DescribeClusterRequest::default())?;
        if response.error_code != 0 {
            let error = KafkaError::new(response.error_code, response.error_message.map(|m| m.to_string()));
            return Err(ClientError::Kafka { what: "DescribeCluster".into(), error }.into());
        }
        let mut brokers: Vec<BrokerDescription> = response
            .brokers
            .iter()
            .map(|b| BrokerDescription {
                node_id: *b.broker_id,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        brokers.sort_by_key(|b| b.node_id);
        return Ok(ClusterDescription {
            cluster_id: Some(response.cluster_id.to_string()),
            controller_id: *response.controller_id,
            brokers,
        });
    }
    session.metadata(Some(&[]))?;
    let brokers = session
        .brokers
        .iter()
        .map(|(id, b)| BrokerDescription { node_id: *id, host: b.host.clone(), port: b.port, rack: b.rack.clone() })
        .collect();
    Ok(ClusterDescription { cluster_id: session.cluster_id.clone(), controller_id: session.controller_id, brokers })
}
