//! DeleteGroups: removes empty groups and their committed offsets.

use super::Ctx;
use crate::time::now_ms;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

pub fn handle(ctx: &Ctx<'_>, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = req
        .groups_names
        .iter()
        .map(|g| {
            let code = ctx.broker.groups.delete(ctx.broker, g, now_ms()).err().map_or(0, |e| e.code());
            DeletableGroupResult::default().with_group_id(g.clone()).with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
