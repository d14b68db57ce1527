//! DescribeGroups: state, protocol and members (with their metadata and
//! assignment once the group is stable). Authorized operations are the
//! authorization layer's to fill.

use super::{str_bytes, Ctx};
use crate::broker::group::state::GroupState;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

pub fn handle(ctx: &Ctx<'_>, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let v = ctx.version;
    let groups = req
        .groups
        .iter()
        .map(|id| {
            let g = DescribedGroup::default().with_group_id(id.clone());
            let d = match ctx.broker.groups.describe(id) {
                Ok(d) => d,
                Err(e) => return g.with_error_code(e.code()),
            };
            let Some(d) = d else {
                // unknown groups: Dead with no error before v6, GROUP_ID_NOT_FOUND after
                let g = g.with_group_state(str_bytes(GroupState::Dead.name()));
                return if v >= 6 { g.with_error_code(ResponseError::GroupIdNotFound.code()) } else { g };
            };
            let stable = d.state == GroupState::Stable;
            let members = d
                .members
                .iter()
                .map(|m| {
                    let dm = DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.id.clone()))
                        .with_client_id(str_bytes(m.client_id.clone()))
                        .with_client_host(str_bytes(m.client_host.clone()));
                    let dm = if stable {
                        let meta = m
                            .protocols
                            .iter()
                            .find(|(n, _)| *n == d.protocol)
                            .map(|(_, b)| b.clone())
                            .unwrap_or_default();
                        dm.with_member_metadata(meta).with_member_assignment(m.assignment.clone())
                    } else {
                        dm
                    };
                    if v >= 4 {
                        dm.with_group_instance_id(m.instance_id.clone().map(str_bytes))
                    } else {
                        dm
                    }
                })
                .collect();
            g.with_group_state(str_bytes(d.state.name()))
                .with_protocol_type(str_bytes(d.protocol_type))
                .with_protocol_data(str_bytes(d.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
