//! ApiVersions: the router's table, as the client asked for it.

use super::Local;
use crate::router;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

pub fn handle(_ctx: &Local<'_>, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    router::api_versions_response(0)
}
