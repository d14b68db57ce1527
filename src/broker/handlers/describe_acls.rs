//! DescribeAcls: the bindings (from the config and created online) that match the
//! filter, grouped by resource pattern as Kafka answers. Without an authorizer the
//! ACL APIs answer SECURITY_DISABLED, as in Kafka.

use super::Local;
use crate::security::acl::{AclBindingFilter, WireAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

pub fn handle(ctx: &Local<'_>, req: DescribeAclsRequest) -> DescribeAclsResponse {
    if let Err(e) = ctx.security.acls.check_enabled() {
        return DescribeAclsResponse::default()
            .with_error_code(e.response_error().code())
            .with_error_message(Some(StrBytes::from_string(e.to_string())));
    }
    let filter = AclBindingFilter::from_wire(WireAcl {
        resource_type: req.resource_type_filter,
        name: req.resource_name_filter.as_deref(),
        pattern: req.pattern_type_filter,
        principal: req.principal_filter.as_deref(),
        host: req.host_filter.as_deref(),
        operation: req.operation,
        permission: req.permission_type,
    });
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            return DescribeAclsResponse::default()
                .with_error_code(e.response_error().code())
                .with_error_message(Some(StrBytes::from_string(e.to_string())))
        }
    };
    // the store answers in (type, name, pattern, …) order: consecutive bindings of
    // one resource become one entry
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for b in ctx.security.acls.describe(&filter) {
        let acl = AclDescription::default()
            .with_principal(StrBytes::from_string(b.principal))
            .with_host(StrBytes::from_string(b.host))
            .with_operation(b.operation.code())
            .with_permission_type(b.permission.code());
        let same = resources.last().is_some_and(|r| {
            r.resource_type == b.resource_type.code()
                && r.resource_name.as_str() == b.name
                && r.pattern_type == b.pattern.code()
        });
        if same {
            resources.last_mut().expect("checked").acls.push(acl);
        } else {
            resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(b.resource_type.code())
                    .with_resource_name(StrBytes::from_string(b.name))
                    .with_pattern_type(b.pattern.code())
                    .with_acls(vec![acl]),
            );
        }
    }
    DescribeAclsResponse::default().with_error_message(None).with_resources(resources)
}
