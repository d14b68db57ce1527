//! DeleteAcls: removes the online bindings each filter matches. Bindings defined in
//! the config file are listed among the matches with an error (they can only be
//! removed from the file); a malformed filter is INVALID_REQUEST, as in Kafka, and
//! without an authorizer every filter is SECURITY_DISABLED.

use super::Local;
use crate::security::acl::{AclBindingFilter, WireAcl};
use crate::security::acl_store::AclStoreError;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;

pub fn handle(ctx: &Local<'_>, req: DeleteAclsRequest) -> DeleteAclsResponse {
    if let Err(e) = ctx.security.acls.check_enabled() {
        return DeleteAclsResponse::default()
            .with_filter_results(req.filters.iter().map(|_| error_result(&e)).collect());
    }
    let parsed: Vec<_> = req
        .filters
        .iter()
        .map(|f| {
            AclBindingFilter::from_wire(WireAcl {
                resource_type: f.resource_type_filter,
                name: f.resource_name_filter.as_deref(),
                pattern: f.pattern_type_filter,
                principal: f.principal_filter.as_deref(),
                host: f.host_filter.as_deref(),
                operation: f.operation,
                permission: f.permission_type,
            })
        })
        .collect();
    let valid: Vec<AclBindingFilter> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut deleted = ctx.security.acls.delete(&valid).into_iter();
    let results = parsed
        .into_iter()
        .map(|p| match p {
            Err(e) => error_result(&e.into()),
            Ok(_) => {
                let matches = deleted.next().expect("one result per valid filter");
                let matching = matches
                    .into_iter()
                    .map(|(b, outcome)| {
                        let m = DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(StrBytes::from_string(b.name))
                            .with_pattern_type(b.pattern.code())
                            .with_principal(StrBytes::from_string(b.principal))
                            .with_host(StrBytes::from_string(b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code());
                        match outcome {
                            Ok(()) => m.with_error_message(None),
                            Err(e) => m
                                .with_error_code(e.response_error().code())
                                .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                        }
                    })
                    .collect();
                DeleteAclsFilterResult::default().with_error_message(None).with_matching_acls(matching)
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

fn error_result(e: &AclStoreError) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(e.response_error().code())
        .with_error_message(Some(StrBytes::from_string(e.to_string())))
}
