//! DescribeClientQuotas (KIP-546): the quota entities (config and online) that match
//! the filter, with their effective values. A bad filter is a top-level error
//! (INVALID_REQUEST, or UNSUPPORTED_VERSION for an unknown entity type), as in Kafka.

use super::{str_bytes, Local};
use crate::quota::filter_from_wire;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

pub fn handle(ctx: &Local<'_>, req: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    let components: Vec<(String, i8, Option<String>)> = req
        .components
        .iter()
        .map(|c| (c.entity_type.to_string(), c.match_type, c._match.as_ref().map(|m| m.to_string())))
        .collect();
    let filter = match filter_from_wire(&components) {
        Ok(f) => f,
        Err(e) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(e.response_error().code())
                .with_error_message(Some(str_bytes(e.to_string())))
                .with_entries(None);
        }
    };
    let entries = ctx
        .quotas
        .describe(&filter, req.strict)
        .into_iter()
        .map(|(entity, values)| {
            let entity = entity
                .components()
                .into_iter()
                .map(|(kind, name)| {
                    EntityData::default().with_entity_type(str_bytes(kind)).with_entity_name(name.map(str_bytes))
                })
                .collect();
            let values = values
                .iter()
                .map(|(t, v)| ValueData::default().with_key(str_bytes(t.config_key())).with_value(v))
                .collect();
            EntryData::default().with_entity(entity).with_values(values)
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}
