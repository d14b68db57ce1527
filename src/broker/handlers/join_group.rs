//! JoinGroup: parks until the group's rebalance completes (long poll), then
//! answers with the generation, the chosen protocol and, for the leader, the members.

use super::{str_bytes, Ctx};
use crate::broker::group::state::{GroupError, JoinRequest};
use crate::time::now_ms;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
// before v7 the protocol name is not nullable: an empty string stands for none
use kafka_protocol::protocol::StrBytes;

pub async fn handle(ctx: &Ctx<'_>, req: JoinGroupRequest) -> JoinGroupResponse {
    let v = ctx.version;
    if req.group_id.is_empty() {
        return JoinGroupResponse::default()
            .with_error_code(kafka_protocol::error::ResponseError::InvalidGroupId.code())
            .with_generation_id(-1);
    }
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: if v >= 5 { req.group_instance_id.as_ref().map(|s| s.to_string()) } else { None },
        client_id: ctx.client_id.to_string(),
        client_host: format!("/{}", ctx.conn.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout
        rebalance_timeout_ms: if v >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect(),
        require_known_member_id: v >= 4,
    };
    let r = ctx.broker.groups.join(&req.group_id, join, now_ms()).await;
    let members = r
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let m = JoinGroupResponseMember::default().with_member_id(str_bytes(id)).with_metadata(metadata);
            if v >= 5 {
                m.with_group_instance_id(instance.map(str_bytes))
            } else {
                m
            }
        })
        .collect();
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error.map_or(0, GroupError::code))
        .with_generation_id(r.generation_id)
        .with_protocol_name(r.protocol_name.map(str_bytes).or_else(|| (v < 7).then(StrBytes::new)))
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_members(members);
    if v >= 7 {
        resp = resp.with_protocol_type(r.protocol_type.map(str_bytes));
    }
    resp
}
