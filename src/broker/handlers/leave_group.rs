//! LeaveGroup: one member (v0–2) or a batch by member or instance id (v3+).

use super::Ctx;
use crate::broker::group::state::GroupError;
use crate::time::now_ms;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

pub fn handle(ctx: &Ctx<'_>, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let now = now_ms();
    if ctx.version < 3 {
        let r = ctx.broker.groups.leave(ctx.broker, &req.group_id, &[(req.member_id.to_string(), None)], now);
        let code = r.into_iter().next().and_then(Result::err).map_or(0, GroupError::code);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members: Vec<(String, Option<String>)> = req
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
        .collect();
    let results = ctx.broker.groups.leave(ctx.broker, &req.group_id, &members, now);
    let responses = req
        .members
        .iter()
        .zip(results)
        .map(|(m, r)| {
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_group_instance_id(m.group_instance_id.clone())
                .with_error_code(r.err().map_or(0, GroupError::code))
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}
