//! Kafka's ACL model: a principal on a host may (ALLOW) or may not (DENY) perform an
//! operation on a resource named literally or by prefix. Codes are Kafka's.

use serde::Deserialize;

/// What an ACL protects (Kafka's `ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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
        [
            ResourceType::Topic,
            ResourceType::Group,
            ResourceType::Cluster,
            ResourceType::TransactionalId,
            ResourceType::DelegationToken,
            ResourceType::User,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// How an ACL's resource name matches (Kafka's `PatternType`, bindings only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
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
}

/// Kafka's `AclOperation` (without UNKNOWN/ANY, which only filters use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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
}

/// ALLOW or DENY; DENY wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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
}
