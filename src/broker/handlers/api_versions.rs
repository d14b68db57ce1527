//! ApiVersions: the router's table, as the client asked for it.

use super::Ctx;
use crate::router;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

pub fn handle(_ctx: &Ctx<'_>, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    router::api_versions_response(0)
}
