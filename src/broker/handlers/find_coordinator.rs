//! FindCoordinator: this node coordinates every group. Transaction coordinators
//! do not exist yet, so transactional keys get a clear error.

use super::{str_bytes, Ctx};
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
            KEY_TYPE_GROUP if ctx.broker.cluster.get().is_some() => c
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                .with_error_message(Some(str_bytes("consumer groups are not available in a multi-node cluster yet"))),
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
