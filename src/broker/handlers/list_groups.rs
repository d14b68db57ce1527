//! ListGroups: every group, filtered by state (v4+) and type (v5+).

use super::{str_bytes, Ctx};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

/// The only group type gregor runs (KIP-848's "consumer" groups are not offered).
const GROUP_TYPE_CLASSIC: &str = "classic";

pub fn handle(ctx: &Ctx<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let v = ctx.version;
    let wants_state =
        |s: &str| req.states_filter.is_empty() || req.states_filter.iter().any(|f| f.eq_ignore_ascii_case(s));
    let wants_type =
        req.types_filter.is_empty() || req.types_filter.iter().any(|t| t.eq_ignore_ascii_case(GROUP_TYPE_CLASSIC));
    let groups = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| v < 4 || wants_state(state.name()))
        .filter(|_| v < 5 || wants_type)
        .map(|(id, protocol_type, state)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(id)))
                .with_protocol_type(str_bytes(protocol_type));
            let g = if v >= 4 { g.with_group_state(str_bytes(state.name())) } else { g };
            if v >= 5 {
                g.with_group_type(str_bytes(GROUP_TYPE_CLASSIC))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
