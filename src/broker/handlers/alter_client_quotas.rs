//! AlterClientQuotas (KIP-546): set or remove quota values per entity, persisted in
//! the data directory; `validate_only` checks without changing anything. Each entry
//! gets its own error (INVALID_REQUEST for unknown entity types or keys, bad values,
//! or keys the config file defines), as in Kafka.

use super::{str_bytes, Local};
use crate::quota::{entity_from_wire, op_from_wire, Alteration, QuotaError};
use kafka_protocol::messages::alter_client_quotas_request::EntryData as RequestEntry;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

pub fn handle(ctx: &Local<'_>, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let parsed: Vec<Result<Alteration, QuotaError>> = req.entries.iter().map(alteration).collect();
    let valid: Vec<Alteration> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut applied = ctx.quotas.alter(&valid, req.validate_only).into_iter();
    let entries = req
        .entries
        .iter()
        .zip(parsed)
        .map(|(wire, p)| {
            let outcome = match p {
                Ok(_) => applied.next().expect("one result per valid alteration"),
                Err(e) => Err(e),
            };
            let entity = wire
                .entity
                .iter()
                .map(|e| {
                    EntityData::default()
                        .with_entity_type(e.entity_type.clone())
                        .with_entity_name(e.entity_name.clone())
                })
                .collect();
            let (code, message) = match outcome {
                Ok(()) => (0, None),
                Err(e) => (e.response_error().code(), Some(str_bytes(e.to_string()))),
            };
            EntryData::default().with_error_code(code).with_error_message(message).with_entity(entity)
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

fn alteration(e: &RequestEntry) -> Result<Alteration, QuotaError> {
    let components: Vec<(String, Option<String>)> =
        e.entity.iter().map(|c| (c.entity_type.to_string(), c.entity_name.as_ref().map(|n| n.to_string()))).collect();
    let entity = entity_from_wire(&components)?;
    let ops = e.ops.iter().map(|op| op_from_wire(&op.key, op.value, op.remove)).collect::<Result<Vec<_>, _>>()?;
    Ok(Alteration { entity, ops })
}
