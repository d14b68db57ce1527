//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use super::Ctx;
use crate::broker::group::state::GroupError;
use crate::time::now_ms;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

pub fn handle(ctx: &Ctx<'_>, req: HeartbeatRequest) -> HeartbeatResponse {
    let instance = if ctx.version >= 3 { req.group_instance_id.as_deref() } else { None };
    let r = ctx.broker.groups.heartbeat(&req.group_id, &req.member_id, instance, req.generation_id, now_ms());
    HeartbeatResponse::default().with_error_code(r.err().map_or(0, GroupError::code))
}
