//! One file per Kafka API: typed request in, core calls, typed response out.

pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_user_scram_credentials;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

use crate::broker::error::BrokerError;
use crate::broker::Broker;
use crate::config::parse_host_port;
use crate::middleware::ConnInfo;
use crate::quota::QuotaManager;
use crate::security::{Principal, Security};
use kafka_protocol::protocol::StrBytes;

/// What every handler gets besides its request: the broker, and what a gateway
/// handler gets too (through `Deref`).
pub struct Ctx<'a> {
    pub broker: &'a Broker,
    pub local: Local<'a>,
}

/// What the handlers of gateway-owned state need (ApiVersions, SASL, ACLs, SCRAM
/// users, client quotas): they serve the proxy as they serve the broker.
pub struct Local<'a> {
    /// Credentials and ACLs (the SCRAM and ACL admin APIs manage them).
    pub security: &'a Security,
    /// Client quotas (the quota admin APIs manage them).
    pub quotas: &'a QuotaManager,
    pub conn: &'a ConnInfo,
    /// The authenticated sender.
    pub principal: &'a Principal,
    /// The request's API version.
    pub version: i16,
    /// The request header's client id ("" when absent).
    pub client_id: &'a str,
}

impl<'a> std::ops::Deref for Ctx<'a> {
    type Target = Local<'a>;
    fn deref(&self) -> &Local<'a> {
        &self.local
    }
}

impl Ctx<'_> {
    /// host:port that clients of this connection's listener should use for this node.
    pub fn advertised(&self) -> (String, u16) {
        let listeners = &self.broker.config.listeners;
        let l = listeners.iter().find(|l| *l.name == *self.conn.listener).unwrap_or(&listeners[0]);
        let bound = self.broker.bound_address(&l.name).unwrap_or(l.bind);
        let fallback = || (bound.ip().to_string(), bound.port());
        match &l.advertised {
            Some(a) => parse_host_port(a).unwrap_or_else(|_| fallback()),
            None => fallback(),
        }
    }
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Error code and optional message for a result.
pub fn error_parts<T>(r: &Result<T, BrokerError>) -> (i16, Option<StrBytes>) {
    match r {
        Ok(_) => (0, None),
        Err(e) => (e.code(), Some(str_bytes(e.message()))),
    }
}

/// Leader-epoch fencing as Kafka does it: -1 skips the check.
pub fn check_leader_epoch(requested: i32, current: i32) -> Result<(), kafka_protocol::error::ResponseError> {
    use kafka_protocol::error::ResponseError;
    if requested == -1 || requested == current {
        Ok(())
    } else if requested < current {
        Err(ResponseError::FencedLeaderEpoch)
    } else {
        Err(ResponseError::UnknownLeaderEpoch)
    }
}
