//! The ACL decision, with Kafka's semantics: super users always pass, DENY wins over
//! ALLOW, `User:*` and host `*` are wildcards, a LITERAL `*` names every resource, a
//! PREFIXED pattern names every resource starting with it, ALLOWs imply lesser
//! operations, and a resource no ACL names at all follows
//! `allow.everyone.if.no.acl.found`. An [`Authorizer`] is an immutable index built
//! from one set of bindings; the store swaps in a new one when ACLs change.

use super::acl::{AclBinding, Operation, PatternType, Permission, ResourceType, WILDCARD, WILDCARD_PRINCIPAL};
use super::Principal;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

/// The settings a decision depends on besides the bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// `authorizer: acl`; without it every request is allowed (Kafka with no authorizer).
    pub enforcing: bool,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
    /// `super_users`, parsed.
    pub super_users: Vec<Principal>,
}

/// Who an entry applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalMatch {
    Everyone,
    One(Principal),
}

/// From where an entry applies. Hosts that parse as IP addresses compare as
/// addresses, so `::1` and `0:0:0:0:0:0:0:1` are the same client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Anywhere,
    Ip(IpAddr),
    /// Not an address (e.g. created online with a hostname): matched as text.
    Text(String),
}

#[derive(Debug, Clone)]
struct Entry {
    who: PrincipalMatch,
    from: HostMatch,
    operation: Operation,
    permission: Permission,
}

impl Entry {
    fn new(b: &AclBinding) -> Entry {
        let who = if b.principal == WILDCARD_PRINCIPAL {
            PrincipalMatch::Everyone
        } else {
            // bindings are validated before they reach an index
            PrincipalMatch::One(Principal::parse(&b.principal).unwrap_or_else(|_| Principal::user(b.principal.clone())))
        };
        let from = match b.host.parse::<IpAddr>() {
            _ if b.host == WILDCARD => HostMatch::Anywhere,
            Ok(ip) => HostMatch::Ip(ip),
            Err(_) => HostMatch::Text(b.host.clone()),
        };
        Entry { who, from, operation: b.operation, permission: b.permission }
    }

    fn applies_to(&self, principal: &Principal, host: IpAddr) -> bool {
        let who = match &self.who {
            PrincipalMatch::Everyone => true,
            PrincipalMatch::One(p) => p == principal,
        };
        let from = match &self.from {
            HostMatch::Anywhere => true,
            HostMatch::Ip(ip) => *ip == host,
            HostMatch::Text(t) => *t == host.to_string(),
        };
        who && from
    }
}

/// The entries of one resource type: by literal name (`*` included), and by prefix
/// with the set of prefix lengths, so a check looks up only prefixes that exist.
#[derive(Debug, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: HashMap<String, Vec<Entry>>,
    prefix_lens: BTreeSet<usize>,
}

impl TypeIndex {
    /// Every entry whose pattern names `name`: the literal name, the literal wildcard
    /// and each prefix of it that has entries.
    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let literal = self.literal.get(name).into_iter().flatten();
        let wildcard = (name != WILDCARD).then(|| self.literal.get(WILDCARD)).flatten().into_iter().flatten();
        let prefixed = self
            .prefix_lens
            .iter()
            .take_while(move |&&n| n <= name.len())
            .filter_map(move |&n| name.get(..n).and_then(|p| self.prefixed.get(p)))
            .flatten();
        literal.chain(wildcard).chain(prefixed)
    }
}

/// ACL decisions over one immutable set of bindings.
#[derive(Debug, Default)]
pub struct Authorizer {
    settings: AuthorizerSettings,
    super_users: HashSet<Principal>,
    by_type: HashMap<ResourceType, TypeIndex>,
    bindings_total: usize,
}

impl Authorizer {
    pub fn new<'a>(settings: AuthorizerSettings, bindings: impl IntoIterator<Item = &'a AclBinding>) -> Authorizer {
        let mut by_type: HashMap<ResourceType, TypeIndex> = HashMap::new();
        let mut bindings_total = 0;
        for b in bindings {
            let index = by_type.entry(b.resource_type).or_default();
            let list = match b.pattern {
                PatternType::Literal => index.literal.entry(b.name.clone()).or_default(),
                PatternType::Prefixed => {
                    index.prefix_lens.insert(b.name.len());
                    index.prefixed.entry(b.name.clone()).or_default()
                }
            };
            list.push(Entry::new(b));
            bindings_total += 1;
        }
        let super_users = settings.super_users.iter().cloned().collect();
        Authorizer { settings, super_users, by_type, bindings_total }
    }

    /// An authorizer that allows everything (`authorizer: none`).
    pub fn allow_all() -> Authorizer {
        Authorizer::default()
    }

    /// Whether decisions can deny anything at all.
    pub fn enforcing(&self) -> bool {
        self.settings.enforcing
    }

    pub fn bindings_total(&self) -> usize {
        self.bindings_total
    }

    fn passes_without_acls(&self, principal: &Principal) -> bool {
        !self.settings.enforcing || self.super_users.contains(principal)
    }

    /// May `principal`, connected from `host`, perform `op` on the named resource?
    pub fn authorize(
        &self,
        principal: &Principal,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.passes_without_acls(principal) {
            return true;
        }
        let Some(index) = self.by_type.get(&resource_type) else {
            return self.settings.allow_if_no_acl;
        };
        let mut any_acl = false;
        let mut allowed = false;
        for e in index.matching(name) {
            any_acl = true;
            if !e.applies_to(principal, host) {
                continue;
            }
            match e.permission {
                Permission::Deny if e.operation == op || e.operation == Operation::All => return false,
                Permission::Deny => {}
                Permission::Allow => allowed |= e.operation.allow_implies(op),
            }
        }
        if any_acl {
            allowed
        } else {
            self.settings.allow_if_no_acl
        }
    }

    /// May `principal` perform `op` on at least one resource of the type (KIP-679's
    /// `authorizeByResourceType`: an idempotent producer may initialise with WRITE on
    /// any topic)? Implied operations do not count here, as in Kafka.
    pub fn authorize_any(
        &self,
        principal: &Principal,
        host: IpAddr,
        op: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.passes_without_acls(principal) {
            return true;
        }
        let index = self.by_type.get(&resource_type);
        let relevant =
            |e: &&Entry| e.applies_to(principal, host) && (e.operation == op || e.operation == Operation::All);
        let deny_wildcard = index
            .and_then(|i| i.literal.get(WILDCARD))
            .is_some_and(|es| es.iter().filter(relevant).any(|e| e.permission == Permission::Deny));
        if deny_wildcard {
            return false;
        }
        if self.settings.allow_if_no_acl {
            return true;
        }
        let Some(index) = index else { return false };
        let names = |map: &'_ HashMap<String, Vec<Entry>>, permission: Permission| -> HashSet<String> {
            map.iter()
                .filter(|(_, es)| es.iter().filter(relevant).any(|e| e.permission == permission))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let (deny_literal, deny_prefix) =
            (names(&index.literal, Permission::Deny), names(&index.prefixed, Permission::Deny));
        let dominated = |name: &str| (0..=name.len()).any(|n| name.get(..n).is_some_and(|p| deny_prefix.contains(p)));
        let literal_ok = names(&index.literal, Permission::Allow)
            .iter()
            .any(|n| n == WILDCARD || (!deny_literal.contains(n) && !dominated(n)));
        literal_ok || names(&index.prefixed, Permission::Allow).iter().any(|n| !dominated(n))
    }

    /// Kafka's authorized-operations bitfield: the supported operations of the type
    /// that `principal` may perform on the resource.
    pub fn authorized_operations(
        &self,
        principal: &Principal,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        resource_type
            .supported_operations()
            .iter()
            .filter(|&&op| self.authorize(principal, host, op, resource_type, name))
            .fold(0, |bits, op| bits | op.bit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::CLUSTER_NAME;
    use Operation::*;
    use ResourceType::*;

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const OTHER_HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn acl(
        principal: &str,
        rt: ResourceType,
        name: &str,
        pattern: PatternType,
        op: Operation,
        perm: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            name: name.into(),
            pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: perm,
        }
    }

    fn allow(principal: &str, rt: ResourceType, name: &str, op: Operation) -> AclBinding {
        acl(principal, rt, name, PatternType::Literal, op, Permission::Allow)
    }

    fn deny(principal: &str, rt: ResourceType, name: &str, op: Operation) -> AclBinding {
        acl(principal, rt, name, PatternType::Literal, op, Permission::Deny)
    }

    fn enforcing() -> AuthorizerSettings {
        AuthorizerSettings { enforcing: true, ..Default::default() }
    }

    fn authz(bindings: &[AclBinding]) -> Authorizer {
        Authorizer::new(enforcing(), bindings)
    }

    fn alice() -> Principal {
        Principal::user("alice")
    }

    fn can(a: &Authorizer, p: &Principal, op: Operation, rt: ResourceType, name: &str) -> bool {
        a.authorize(p, HOST, op, rt, name)
    }

    #[test]
    fn no_authorizer_allows_everything() {
        let a = Authorizer::new(AuthorizerSettings::default(), &[deny("User:*", Topic, "*", All)]);
        assert!(!a.enforcing());
        assert!(can(&a, &alice(), Write, Topic, "t"));
        assert!(a.authorize_any(&alice(), HOST, Write, Topic));
        assert_eq!(a.authorized_operations(&alice(), HOST, Group, "g"), (1 << 3) | (1 << 6) | (1 << 8));
        assert!(can(&Authorizer::allow_all(), &alice(), Alter, Cluster, CLUSTER_NAME));
    }

    #[test]
    fn literal_names_match_exactly() {
        let a = authz(&[allow("User:alice", Topic, "orders", Read)]);
        assert!(can(&a, &alice(), Read, Topic, "orders"));
        assert!(!can(&a, &alice(), Read, Topic, "orders2"));
        assert!(!can(&a, &alice(), Read, Topic, "order"));
        assert!(!can(&a, &alice(), Write, Topic, "orders"));
        assert!(!can(&a, &alice(), Read, Group, "orders"), "types are separate");
        assert!(!can(&a, &Principal::user("bob"), Read, Topic, "orders"));
    }

    #[test]
    fn wildcards_match_every_name_and_principal() {
        let a = authz(&[allow("User:*", Topic, "*", Read)]);
        assert!(can(&a, &alice(), Read, Topic, "anything"));
        assert!(can(&a, &Principal::user("bob"), Read, Topic, "x"));
        assert!(can(&a, &Principal::anonymous(), Read, Topic, "*"));
        assert!(!can(&a, &alice(), Write, Topic, "anything"));
        // `*` is a wildcard only in LITERAL patterns: a PREFIXED `*` names `*`-prefixed names
        let p = authz(&[acl("User:alice", Topic, "*", PatternType::Prefixed, Read, Permission::Allow)]);
        assert!(!can(&p, &alice(), Read, Topic, "orders"));
        assert!(can(&p, &alice(), Read, Topic, "*x"));
    }

    #[test]
    fn prefixes_match_names_that_start_with_them() {
        let a = authz(&[
            acl("User:alice", Topic, "orders-", PatternType::Prefixed, Write, Permission::Allow),
            acl("User:alice", Topic, "o", PatternType::Prefixed, Read, Permission::Allow),
        ]);
        assert!(can(&a, &alice(), Write, Topic, "orders-eu"));
        assert!(can(&a, &alice(), Write, Topic, "orders-"));
        assert!(!can(&a, &alice(), Write, Topic, "orders"));
        assert!(!can(&a, &alice(), Write, Topic, "payments-eu"));
        assert!(can(&a, &alice(), Read, Topic, "orders"));
        assert!(can(&a, &alice(), Read, Topic, "o"));
        assert!(!can(&a, &alice(), Read, Topic, ""));
        // names with multi-byte characters: prefix lengths that split a character are skipped
        let u = authz(&[acl("User:alice", Topic, "é", PatternType::Prefixed, Read, Permission::Allow)]);
        assert!(can(&u, &alice(), Read, Topic, "été"));
        assert!(!can(&u, &alice(), Read, Topic, "e"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let a = authz(&[
            allow("User:alice", Topic, "*", All),
            deny("User:alice", Topic, "secret", Read),
            acl("User:*", Topic, "private-", PatternType::Prefixed, Write, Permission::Deny),
        ]);
        assert!(can(&a, &alice(), Read, Topic, "public"));
        assert!(!can(&a, &alice(), Read, Topic, "secret"));
        assert!(can(&a, &alice(), Write, Topic, "secret"), "the deny names READ only");
        assert!(can(&a, &alice(), Describe, Topic, "secret"), "a deny does not imply");
        assert!(!can(&a, &alice(), Write, Topic, "private-x"));
        assert!(can(&a, &alice(), Read, Topic, "private-x"));
    }

    #[test]
    fn deny_all_denies_every_operation() {
        let a = authz(&[allow("User:alice", Topic, "t", All), deny("User:alice", Topic, "t", All)]);
        for op in Topic.supported_operations() {
            assert!(!can(&a, &alice(), *op, Topic, "t"), "{op:?}");
        }
        assert_eq!(a.authorized_operations(&alice(), HOST, Topic, "t"), 0);
    }

    #[test]
    fn allows_imply_describe_and_describe_configs() {
        for op in [Read, Write, Delete, Alter] {
            let a = authz(&[allow("User:alice", Topic, "t", op)]);
            assert!(can(&a, &alice(), Describe, Topic, "t"), "{op:?}");
            assert!(!can(&a, &alice(), DescribeConfigs, Topic, "t"), "{op:?}");
        }
        let a = authz(&[allow("User:alice", Topic, "t", AlterConfigs)]);
        assert!(can(&a, &alice(), DescribeConfigs, Topic, "t"));
        assert!(!can(&a, &alice(), Describe, Topic, "t"));
        let a = authz(&[allow("User:alice", Topic, "t", Create)]);
        assert!(!can(&a, &alice(), Describe, Topic, "t"));
        let a = authz(&[allow("User:alice", Topic, "t", All)]);
        assert_eq!(
            a.authorized_operations(&alice(), HOST, Topic, "t"),
            Topic.supported_operations().iter().fold(0, |b, o| b | o.bit())
        );
        let a = authz(&[allow("User:alice", Topic, "t", Read)]);
        assert_eq!(a.authorized_operations(&alice(), HOST, Topic, "t"), Read.bit() | Describe.bit());
    }

    #[test]
    fn super_users_pass_every_check() {
        let settings = AuthorizerSettings { super_users: vec![Principal::user("admin")], ..enforcing() };
        let a = Authorizer::new(settings, &[deny("User:*", Topic, "*", All)]);
        assert!(can(&a, &Principal::user("admin"), Write, Topic, "t"));
        assert!(can(&a, &Principal::user("admin"), Alter, Cluster, CLUSTER_NAME));
        assert!(a.authorize_any(&Principal::user("admin"), HOST, Write, Topic));
        assert!(!can(&a, &alice(), Write, Topic, "t"));
    }

    #[test]
    fn hosts_match_by_address_or_wildcard() {
        let mut b = allow("User:alice", Topic, "t", Read);
        b.host = "10.0.0.1".into();
        let mut d = deny("User:alice", Topic, "t", Write);
        d.host = "10.0.0.2".into();
        let w = allow("User:alice", Topic, "t", Write);
        let a = authz(&[b, d, w]);
        assert!(a.authorize(&alice(), HOST, Read, Topic, "t"));
        assert!(!a.authorize(&alice(), OTHER_HOST, Read, Topic, "t"));
        assert!(a.authorize(&alice(), HOST, Write, Topic, "t"));
        assert!(!a.authorize(&alice(), OTHER_HOST, Write, Topic, "t"));
        let mut v6 = allow("User:alice", Topic, "t", Read);
        v6.host = "0:0:0:0:0:0:0:1".into();
        let a = authz(&[v6]);
        assert!(a.authorize(&alice(), "::1".parse().unwrap(), Read, Topic, "t"));
    }

    #[test]
    fn no_acl_found_follows_the_setting() {
        let bindings = [allow("User:bob", Topic, "bobs", Read)];
        let closed = authz(&bindings);
        let open = Authorizer::new(AuthorizerSettings { allow_if_no_acl: true, ..enforcing() }, &bindings);
        // nobody names `free`: the setting decides
        assert!(!can(&closed, &alice(), Read, Topic, "free"));
        assert!(can(&open, &alice(), Read, Topic, "free"));
        assert!(!can(&closed, &alice(), Read, Group, "g"), "no ACL of the type at all");
        assert!(can(&open, &alice(), Read, Group, "g"));
        // an ACL for someone else names `bobs`: no longer "no ACL found"
        assert!(!can(&open, &alice(), Read, Topic, "bobs"));
        assert!(can(&open, &Principal::user("bob"), Read, Topic, "bobs"));
    }

    #[test]
    fn authorize_any_follows_kip_679() {
        let p = |bs: &[AclBinding]| authz(bs).authorize_any(&alice(), HOST, Write, Topic);
        assert!(!p(&[]));
        assert!(p(&[allow("User:alice", Topic, "t", Write)]));
        assert!(p(&[allow("User:alice", Topic, "t", All)]));
        assert!(!p(&[allow("User:alice", Topic, "t", Read)]));
        assert!(!p(&[allow("User:bob", Topic, "t", Write)]));
        assert!(!p(&[allow("User:alice", Topic, "t", Write), deny("User:alice", Topic, "t", Write)]));
        assert!(p(&[allow("User:alice", Topic, "t", Write), deny("User:alice", Topic, "u", Write)]));
        let pre = |n: &str, perm| acl("User:alice", Topic, n, PatternType::Prefixed, Write, perm);
        assert!(!p(&[allow("User:alice", Topic, "tx", Write), pre("t", Permission::Deny)]));
        assert!(!p(&[pre("tx", Permission::Allow), pre("t", Permission::Deny)]));
        assert!(p(&[pre("t", Permission::Allow), pre("tx", Permission::Deny)]));
        assert!(p(&[allow("User:*", Topic, "*", Write)]));
        assert!(!p(&[allow("User:alice", Topic, "t", Write), deny("User:*", Topic, "*", Write)]));
        let open = Authorizer::new(AuthorizerSettings { allow_if_no_acl: true, ..enforcing() }, &[]);
        assert!(open.authorize_any(&alice(), HOST, Write, Topic));
    }

    #[test]
    fn checks_do_not_scan_unrelated_bindings() {
        let many: Vec<AclBinding> = (0..10_000).map(|i| allow("User:bob", Topic, &format!("t{i}"), Read)).collect();
        let a = authz(&many);
        assert_eq!(a.bindings_total(), 10_000);
        let index = &a.by_type[&Topic];
        assert_eq!(index.matching("t42").count(), 1);
        assert_eq!(index.matching("nope").count(), 0);
    }
}
