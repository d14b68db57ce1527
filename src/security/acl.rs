//! Kafka's ACL model: a principal on a host may (ALLOW) or may not (DENY) perform an
//! operation on a resource named literally or by prefix; bindings and the filters
//! that select them (DescribeAcls, DeleteAcls). Codes are Kafka's.

use serde::{Deserialize, Serialize};

/// The only name a CLUSTER resource has (Kafka's `kafka-cluster`).
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A LITERAL resource name that matches every resource of its type; as a host, every host.
pub const WILDCARD: &str = "*";
/// The principal that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Kafka's wire codes for the filter-only values (ANY, MATCH); bindings never carry them.
const CODE_ANY: i8 = 1;
const CODE_MATCH: i8 = 2;

/// What an ACL protects (Kafka's `ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

impl ResourceType {
    pub const EVERY: [ResourceType; 6] = [
        ResourceType::Topic,
        ResourceType::Group,
        ResourceType::Cluster,
        ResourceType::TransactionalId,
        ResourceType::DelegationToken,
        ResourceType::User,
    ];

    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
            ResourceType::DelegationToken => 6,
            ResourceType::User => 7,
        }
    }

    pub fn from_code(code: i8) -> Option<ResourceType> {
        ResourceType::EVERY.into_iter().find(|r| r.code() == code)
    }

    /// Kafka's name, as operators read it in logs and tools.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Topic => "TOPIC",
            ResourceType::Group => "GROUP",
            ResourceType::Cluster => "CLUSTER",
            ResourceType::TransactionalId => "TRANSACTIONAL_ID",
            ResourceType::DelegationToken => "DELEGATION_TOKEN",
            ResourceType::User => "USER",
        }
    }

    /// The operations that mean something on this type (Kafka's `supportedOperations`):
    /// what an authorized-operations bitfield may contain.
    pub fn supported_operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ResourceType::Topic => &[Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs],
            ResourceType::Group => &[Read, Describe, Delete],
            ResourceType::Cluster => {
                &[Create, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe]
            }
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// How an ACL's resource name matches (Kafka's `PatternType`, bindings only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternType {
    /// The exact name, or `*` for every resource of the type.
    #[default]
    Literal,
    /// Every name starting with the pattern.
    Prefixed,
}

impl PatternType {
    pub fn code(self) -> i8 {
        match self {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }

    pub fn from_code(code: i8) -> Option<PatternType> {
        match code {
            3 => Some(PatternType::Literal),
            4 => Some(PatternType::Prefixed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PatternType::Literal => "LITERAL",
            PatternType::Prefixed => "PREFIXED",
        }
    }
}

/// Kafka's `AclOperation` (without UNKNOWN/ANY, which only filters use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

impl Operation {
    pub const EVERY: [Operation; 13] = [
        Operation::All,
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Delete,
        Operation::Alter,
        Operation::Describe,
        Operation::ClusterAction,
        Operation::DescribeConfigs,
        Operation::AlterConfigs,
        Operation::IdempotentWrite,
        Operation::CreateTokens,
        Operation::DescribeTokens,
    ];

    pub fn code(self) -> i8 {
        Operation::EVERY.iter().position(|o| *o == self).expect("listed") as i8 + 2
    }

    pub fn from_code(code: i8) -> Option<Operation> {
        usize::try_from(code - 2).ok().and_then(|i| Operation::EVERY.get(i).copied())
    }

    /// Kafka's name, as operators read it in logs and tools.
    pub fn name(self) -> &'static str {
        match self {
            Operation::All => "ALL",
            Operation::Read => "READ",
            Operation::Write => "WRITE",
            Operation::Create => "CREATE",
            Operation::Delete => "DELETE",
            Operation::Alter => "ALTER",
            Operation::Describe => "DESCRIBE",
            Operation::ClusterAction => "CLUSTER_ACTION",
            Operation::DescribeConfigs => "DESCRIBE_CONFIGS",
            Operation::AlterConfigs => "ALTER_CONFIGS",
            Operation::IdempotentWrite => "IDEMPOTENT_WRITE",
            Operation::CreateTokens => "CREATE_TOKENS",
            Operation::DescribeTokens => "DESCRIBE_TOKENS",
        }
    }

    /// Whether an ALLOW of `self` grants `wanted`. Kafka's implications: ALL grants
    /// everything; READ, WRITE, DELETE and ALTER each grant DESCRIBE; ALTER_CONFIGS
    /// grants DESCRIBE_CONFIGS. A DENY never implies: it denies its own operation, or
    /// everything when it is ALL.
    pub fn allow_implies(self, wanted: Operation) -> bool {
        use Operation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }

    /// The bit this operation sets in an authorized-operations field (bit n = code n).
    pub fn bit(self) -> i32 {
        1 << self.code()
    }
}

/// ALLOW or DENY; DENY wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Deny,
    Allow,
}

impl Permission {
    pub fn code(self) -> i8 {
        match self {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }

    pub fn from_code(code: i8) -> Option<Permission> {
        match code {
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Permission::Deny => "DENY",
            Permission::Allow => "ALLOW",
        }
    }
}

/// Why an ACL or an ACL filter is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("{0}")]
    Invalid(String),
}

impl AclError {
    /// Kafka answers malformed ACLs and filters with `INVALID_REQUEST`.
    pub fn response_error(&self) -> kafka_protocol::error::ResponseError {
        match self {
            AclError::Invalid(_) => kafka_protocol::error::ResponseError::InvalidRequest,
        }
    }
}

fn invalid(message: impl Into<String>) -> AclError {
    AclError::Invalid(message.into())
}

/// One ACL: Kafka's `AclBinding` (a resource pattern and an access-control entry).
/// The principal and host are kept as written, as Kafka keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern: PatternType,
    /// `User:alice`, or `User:*` for every principal.
    pub principal: String,
    /// A client IP address, or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// The raw wire fields of a binding or a filter (CreateAcls, DescribeAcls,
/// DeleteAcls): codes, and strings that filters may leave null.
#[derive(Debug, Clone, Copy)]
pub struct WireAcl<'a> {
    pub resource_type: i8,
    pub name: Option<&'a str>,
    pub pattern: i8,
    pub principal: Option<&'a str>,
    pub host: Option<&'a str>,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// A binding from CreateAcls fields, with Kafka's validation.
    pub fn from_wire(w: WireAcl<'_>) -> Result<AclBinding, AclError> {
        let resource_type = ResourceType::from_code(w.resource_type)
            .ok_or_else(|| invalid(format!("Invalid resourceType {}", w.resource_type)))?;
        let pattern =
            PatternType::from_code(w.pattern).ok_or_else(|| invalid(format!("Invalid patternType {}", w.pattern)))?;
        let operation =
            Operation::from_code(w.operation).ok_or_else(|| invalid(format!("Invalid operation {}", w.operation)))?;
        let permission = Permission::from_code(w.permission)
            .ok_or_else(|| invalid(format!("Invalid permissionType {}", w.permission)))?;
        let b = AclBinding {
            resource_type,
            name: w.name.unwrap_or_default().to_string(),
            pattern,
            principal: w.principal.unwrap_or_default().to_string(),
            host: w.host.unwrap_or_default().to_string(),
            operation,
            permission,
        };
        b.validate()?;
        Ok(b)
    }

    /// The bindings one config rule stands for (one per operation).
    pub fn from_config(c: &crate::config::AclConfig) -> Result<Vec<AclBinding>, AclError> {
        c.operations
            .iter()
            .map(|&operation| {
                let b = AclBinding {
                    resource_type: c.resource.kind,
                    name: c.resource.name.clone(),
                    pattern: c.resource.pattern,
                    principal: c.principal.clone(),
                    host: c.host.clone(),
                    operation,
                    permission: c.permission,
                };
                b.validate().map(|()| b)
            })
            .collect()
    }

    /// Kafka's rules for a binding that may be stored.
    pub fn validate(&self) -> Result<(), AclError> {
        if self.name.is_empty() {
            return Err(invalid("Resource name should not be empty"));
        }
        if self.resource_type == ResourceType::Cluster && self.name != CLUSTER_NAME {
            return Err(invalid(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}")));
        }
        if !self.principal.contains(':') {
            return Err(invalid(format!(
                "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
                self.principal
            )));
        }
        crate::security::Principal::parse(&self.principal).map_err(invalid)?;
        if self.host.is_empty() {
            return Err(invalid("Host should not be empty (use * for every host)"));
        }
        Ok(())
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} from {} on {}:{}:{}",
            self.principal,
            self.permission.name(),
            self.operation.name(),
            self.host,
            self.resource_type.name(),
            self.pattern.name(),
            self.name
        )
    }
}

/// How a filter matches resource names (Kafka's `PatternType` in filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Any pattern type; with a name, that exact name.
    Any,
    /// Every binding that applies to a resource of that name: the literal name, the
    /// literal wildcard, and the prefixes of the name.
    Match,
    Literal,
    Prefixed,
}

/// Kafka's `AclBindingFilter`: `None` means ANY (or null on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: Option<ResourceType>,
    pub name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclBindingFilter {
    /// Matches every binding.
    pub fn any() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: None,
            name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    /// A filter from DescribeAcls/DeleteAcls fields; UNKNOWN codes are refused.
    pub fn from_wire(w: WireAcl<'_>) -> Result<AclBindingFilter, AclError> {
        let resource_type = match w.resource_type {
            CODE_ANY => None,
            c => Some(ResourceType::from_code(c).ok_or_else(|| invalid(format!("Invalid resourceType {c}")))?),
        };
        let pattern = match (w.pattern, PatternType::from_code(w.pattern)) {
            (CODE_ANY, _) => PatternFilter::Any,
            (CODE_MATCH, _) => PatternFilter::Match,
            (_, Some(PatternType::Literal)) => PatternFilter::Literal,
            (_, Some(PatternType::Prefixed)) => PatternFilter::Prefixed,
            (c, None) => return Err(invalid(format!("Invalid patternType {c}"))),
        };
        let operation = match w.operation {
            CODE_ANY => None,
            c => Some(Operation::from_code(c).ok_or_else(|| invalid(format!("Invalid operation {c}")))?),
        };
        let permission = match w.permission {
            CODE_ANY => None,
            c => Some(Permission::from_code(c).ok_or_else(|| invalid(format!("Invalid permissionType {c}")))?),
        };
        Ok(AclBindingFilter {
            resource_type,
            name: w.name.map(str::to_string),
            pattern,
            principal: w.principal.map(str::to_string),
            host: w.host.map(str::to_string),
            operation,
            permission,
        })
    }

    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_resource(b)
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && self.operation.is_none_or(|o| o == b.operation)
            && self.permission.is_none_or(|p| p == b.permission)
    }

    fn matches_resource(&self, b: &AclBinding) -> bool {
        if self.resource_type.is_some_and(|t| t != b.resource_type) {
            return false;
        }
        let pattern_ok = match self.pattern {
            PatternFilter::Any | PatternFilter::Match => true,
            PatternFilter::Literal => b.pattern == PatternType::Literal,
            PatternFilter::Prefixed => b.pattern == PatternType::Prefixed,
        };
        let Some(name) = self.name.as_ref().filter(|_| pattern_ok) else { return pattern_ok };
        match (self.pattern, b.pattern) {
            (PatternFilter::Match, PatternType::Literal) => *name == b.name || b.name == WILDCARD,
            (PatternFilter::Match, PatternType::Prefixed) => name.starts_with(&b.name),
            _ => *name == b.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(Operation::All.code(), 2);
        assert_eq!(Operation::Describe.code(), 8);
        assert_eq!(Operation::IdempotentWrite.code(), 12);
        assert_eq!(Operation::DescribeTokens.code(), 14);
        for op in Operation::EVERY {
            assert_eq!(Operation::from_code(op.code()), Some(op));
        }
        assert_eq!(Operation::from_code(1), None);
        assert_eq!(Operation::from_code(15), None);
        assert_eq!(ResourceType::from_code(4), Some(ResourceType::Cluster));
        assert_eq!(ResourceType::from_code(1), None);
        assert_eq!(PatternType::from_code(4), Some(PatternType::Prefixed));
        assert_eq!(Permission::from_code(2), Some(Permission::Deny));
    }

    fn binding(rt: ResourceType, name: &str, pattern: PatternType) -> AclBinding {
        AclBinding {
            resource_type: rt,
            name: name.into(),
            pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        }
    }

    fn wire<'a>(rt: i8, name: Option<&'a str>, pattern: i8, principal: Option<&'a str>) -> WireAcl<'a> {
        WireAcl { resource_type: rt, name, pattern, principal, host: Some("*"), operation: 3, permission: 3 }
    }

    #[test]
    fn implied_operations_follow_kafka() {
        use Operation::*;
        for op in [Read, Write, Delete, Alter] {
            assert!(op.allow_implies(Describe), "{op:?}");
            assert!(!Describe.allow_implies(op), "{op:?}");
        }
        assert!(AlterConfigs.allow_implies(DescribeConfigs));
        assert!(!DescribeConfigs.allow_implies(AlterConfigs));
        assert!(!Create.allow_implies(Describe));
        assert!(!IdempotentWrite.allow_implies(Write));
        for op in Operation::EVERY {
            assert!(All.allow_implies(op));
            assert!(op.allow_implies(op));
        }
        assert_eq!(Describe.bit(), 1 << 8);
    }

    #[test]
    fn wire_bindings_are_validated_as_kafka_does() {
        let ok = AclBinding::from_wire(wire(2, Some("t"), 3, Some("User:alice"))).unwrap();
        assert_eq!(ok, binding(ResourceType::Topic, "t", PatternType::Literal));
        // ANY, MATCH and UNKNOWN belong to filters only
        for (rt, pt) in [(1, 3), (0, 3), (2, 1), (2, 2), (2, 0)] {
            assert!(AclBinding::from_wire(wire(rt, Some("t"), pt, Some("User:alice"))).is_err(), "{rt} {pt}");
        }
        let bad_op = WireAcl { operation: 1, ..wire(2, Some("t"), 3, Some("User:alice")) };
        assert!(AclBinding::from_wire(bad_op).is_err());
        let bad_perm = WireAcl { permission: 1, ..wire(2, Some("t"), 3, Some("User:alice")) };
        assert!(AclBinding::from_wire(bad_perm).is_err());
        assert!(AclBinding::from_wire(wire(2, Some(""), 3, Some("User:alice"))).is_err());
        assert!(AclBinding::from_wire(wire(2, Some("t"), 3, Some("alice"))).is_err());
        assert!(AclBinding::from_wire(wire(2, Some("t"), 3, None)).is_err());
        let e = AclBinding::from_wire(wire(4, Some("other"), 3, Some("User:alice"))).unwrap_err();
        assert!(e.to_string().contains(CLUSTER_NAME), "{e}");
        assert_eq!(e.response_error(), kafka_protocol::error::ResponseError::InvalidRequest);
        assert!(AclBinding::from_wire(wire(4, Some(CLUSTER_NAME), 3, Some("User:alice"))).is_ok());
    }

    #[test]
    fn filters_follow_kafka_semantics() {
        let lit = binding(ResourceType::Topic, "orders", PatternType::Literal);
        let star = binding(ResourceType::Topic, "*", PatternType::Literal);
        let pre = binding(ResourceType::Topic, "ord", PatternType::Prefixed);
        let group = binding(ResourceType::Group, "orders", PatternType::Literal);
        let all = [&lit, &star, &pre, &group];
        let f = |rt, name: Option<&str>, pt| AclBindingFilter::from_wire(wire(rt, name, pt, None)).unwrap();
        let hits = |f: &AclBindingFilter| all.iter().filter(|b| f.matches(b)).count();
        assert_eq!(hits(&AclBindingFilter::any()), 4);
        assert_eq!(hits(&f(1, None, 1)), 4);
        assert_eq!(hits(&f(2, None, 1)), 3);
        // ANY with a name: that exact name, whatever the pattern type
        assert_eq!(hits(&f(2, Some("orders"), 1)), 1);
        assert_eq!(hits(&f(2, Some("ord"), 1)), 1);
        // MATCH: everything that applies to the resource `orders`
        assert_eq!(hits(&f(2, Some("orders"), 2)), 3);
        assert_eq!(hits(&f(2, Some("other"), 2)), 1);
        assert_eq!(hits(&f(2, None, 3)), 2);
        assert_eq!(hits(&f(2, None, 4)), 1);
        assert_eq!(hits(&f(2, Some("orders"), 4)), 0);
        assert_eq!(hits(&f(2, Some("ord"), 4)), 1);
        let by_principal = AclBindingFilter { principal: Some("User:bob".into()), ..AclBindingFilter::any() };
        assert_eq!(hits(&by_principal), 0);
        let by_host = AclBindingFilter { host: Some("*".into()), ..AclBindingFilter::any() };
        assert_eq!(hits(&by_host), 4);
        let by_op = AclBindingFilter { operation: Some(Operation::Write), ..AclBindingFilter::any() };
        assert_eq!(hits(&by_op), 0);
        let by_perm = AclBindingFilter { permission: Some(Permission::Allow), ..AclBindingFilter::any() };
        assert_eq!(hits(&by_perm), 4);
        assert!(AclBindingFilter::from_wire(wire(0, None, 1, None)).is_err());
        assert!(AclBindingFilter::from_wire(wire(2, None, 0, None)).is_err());
    }

    #[test]
    fn supported_operations_are_kafkas() {
        let bits = |rt: ResourceType| rt.supported_operations().iter().fold(0, |a, o| a | o.bit());
        assert_eq!(bits(ResourceType::Group), (1 << 3) | (1 << 6) | (1 << 8));
        assert_eq!(ResourceType::Topic.supported_operations().len(), 8);
        assert!(!ResourceType::Cluster.supported_operations().contains(&Operation::Read));
        assert_eq!(ResourceType::from_code(7), Some(ResourceType::User));
    }
}
