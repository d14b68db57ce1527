//! FindCoordinator: a single node coordinates every group; in a cluster a group's
//! coordinator is the leader of its `__consumer_offsets` partition (created on
//! first use). Transaction coordinators do not exist yet, so transactional keys
//! get a clear error.

use super::{str_bytes, Ctx};
use crate::broker::group::{records::partition_for, OFFSETS_TOPIC};
use crate::cluster::Cluster;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(ctx: &Ctx<'_>, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let (host, port) = ctx.advertised();
    let me = ctx.broker.node_id();
    let lookup = |key: &StrBytes| -> Coordinator {
        let c = Coordinator::default().with_key(key.clone());
        match req.key_type {
            KEY_TYPE_GROUP if ctx.broker.cluster.get().is_some() => {
                let cluster = ctx.broker.cluster.get().expect("checked");
                match group_coordinator(ctx, cluster, key) {
                    Ok((id, host, port)) => c.with_node_id(BrokerId(id)).with_host(str_bytes(host)).with_port(port),
                    Err(message) => c
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                        .with_error_message(Some(str_bytes(message))),
                }
            }
            KEY_TYPE_GROUP => c.with_node_id(BrokerId(me)).with_host(str_bytes(host.clone())).with_port(port as i32),
            KEY_TYPE_TRANSACTION => c
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes("transactions are not supported by this broker"))),
            other => c
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes(format!("unknown coordinator key type {other}")))),
        }
    };
    if ctx.version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(req.coordinator_keys.iter().map(lookup).collect());
    }
    let c = lookup(&req.key);
    let r = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    if ctx.version >= 1 {
        r.with_error_message(c.error_message)
    } else {
        r
    }
}

/// The leader of the group's offsets partition, on the listener the client used.
fn group_coordinator(ctx: &Ctx<'_>, cluster: &Cluster, group: &str) -> Result<(i32, String, i32), String> {
    let partitions = ctx.broker.config.broker.offsets_topic_num_partitions;
    ctx.broker
        .offsets_topic(partitions)
        .map_err(|e| format!("{OFFSETS_TOPIC} cannot be created yet: {}", e.message()))?;
    let image = cluster.image();
    let topic = image.topics.get(OFFSETS_TOPIC).ok_or_else(|| format!("{OFFSETS_TOPIC} is not in the metadata yet"))?;
    if topic.partitions.is_empty() {
        return Err(format!("{OFFSETS_TOPIC} has no partitions"));
    }
    let index = partition_for(group, topic.partitions.len() as i32);
    let leader = topic.partitions[index as usize].leader;
    let endpoint = image
        .brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .and_then(|b| b.endpoint(&ctx.conn.listener))
        .ok_or_else(|| format!("{OFFSETS_TOPIC} partition {index} has no leader reachable on this listener"))?;
    Ok((leader, endpoint.host.clone(), endpoint.port as i32))
}
