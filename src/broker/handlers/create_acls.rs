//! CreateAcls: validates each binding as Kafka does (INVALID_REQUEST otherwise) and
//! adds the valid ones to the ACL store, which persists them before answering
//! (SECURITY_DISABLED without an authorizer).

use super::Local;
use crate::security::acl::{AclBinding, WireAcl};
use crate::security::acl_store::AclStoreError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;

pub fn handle(ctx: &Local<'_>, req: CreateAclsRequest) -> CreateAclsResponse {
    if let Err(e) = ctx.security.acls.check_enabled() {
        let results = req.creations.iter().map(|_| error_result(&e)).collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let parsed: Vec<_> = req
        .creations
        .iter()
        .map(|a| {
            AclBinding::from_wire(WireAcl {
                resource_type: a.resource_type,
                name: Some(&a.resource_name),
                pattern: a.resource_pattern_type,
                principal: Some(&a.principal),
                host: Some(&a.host),
                operation: a.operation,
                permission: a.permission_type,
            })
        })
        .collect();
    let valid: Vec<AclBinding> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut stored = ctx.security.acls.create(&valid).into_iter();
    let results = parsed
        .into_iter()
        .map(|p| {
            let outcome = match p {
                Ok(_) => stored.next().expect("one result per valid binding"),
                Err(e) => Err(e.into()),
            };
            match outcome {
                Ok(()) => AclCreationResult::default().with_error_message(None),
                Err(e) => {
                    tracing::info!(conn = ctx.conn.id, principal = %ctx.principal, error = %e, "CreateAcls refused a binding");
                    error_result(&e)
                }
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

fn error_result(e: &AclStoreError) -> AclCreationResult {
    AclCreationResult::default()
        .with_error_code(e.response_error().code())
        .with_error_message(Some(StrBytes::from_string(e.to_string())))
}
