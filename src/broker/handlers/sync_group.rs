//! SyncGroup: followers wait for the leader's assignment; everyone gets theirs.

use super::{str_bytes, Ctx};
use crate::broker::group::state::GroupError;
use crate::time::now_ms;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

pub async fn handle(ctx: &Ctx<'_>, req: SyncGroupRequest) -> SyncGroupResponse {
    let v = ctx.version;
    let instance = if v >= 3 { req.group_instance_id.as_deref() } else { None };
    let protocol = match (&req.protocol_type, &req.protocol_name) {
        (Some(t), Some(n)) if v >= 5 => Some((t.as_str(), n.as_str())),
        _ => None,
    };
    let assignments = req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
    let r = ctx
        .broker
        .groups
        .sync(ctx.broker, &req.group_id, &req.member_id, instance, req.generation_id, protocol, assignments, now_ms())
        .await;
    let resp =
        SyncGroupResponse::default().with_error_code(r.error.map_or(0, GroupError::code)).with_assignment(r.assignment);
    if v >= 5 {
        resp.with_protocol_type(r.protocol_type.map(str_bytes)).with_protocol_name(r.protocol_name.map(str_bytes))
    } else {
        resp
    }
}
