//! Tenant layer (virtual clusters): a client that belongs to a tenant (by the
//! listener it arrived on, or by its principal) names topics, groups and
//! transactional ids in its own namespace; below this layer every name is the
//! upstream's, under the tenant's prefix, and responses are mapped back with other
//! tenants' resources filtered out (`proxy::tenant` does the renaming).
//!
//! It sits before metrics, authentication and ACLs, so those see upstream names:
//! per-topic series do not mix two tenants' `orders`, and ACLs name the prefixed
//! resources. The tenant is looked up per request, from the connection: a SASL
//! principal is known once authentication has finished.
//!
//! Topic ids are not names: a request naming another tenant's topic id (or one the
//! gateway has not seen) has that id replaced by the nil id, which the upstream
//! answers UNKNOWN_TOPIC_ID, so one tenant cannot reach another's topic by id.

use super::authorize::TopicDirectory;
use super::{BoxFuture, Request, Response, StackError};
use crate::proxy::tenant::Tenant;
use crate::security::Principal;
use kafka_protocol::messages::RequestKind;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};
use uuid::Uuid;

/// Who a tenant is.
#[derive(Debug, Clone)]
pub enum Member {
    Listener(String),
    Principal(Principal),
}

/// The configured virtual clusters, in config order (the first match wins).
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    rules: Vec<(Member, Tenant)>,
}

impl Tenants {
    pub fn new(rules: Vec<(Member, Tenant)>) -> Tenants {
        Tenants { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn of(&self, listener: &str, principal: &Principal) -> Option<&Tenant> {
        self.rules.iter().find_map(|(m, t)| match m {
            Member::Listener(l) if l == listener => Some(t),
            Member::Principal(p) if p == principal => Some(t),
            _ => None,
        })
    }
}

#[derive(Clone)]
pub struct TenantLayer {
    tenants: Arc<Tenants>,
    topics: Arc<dyn TopicDirectory>,
}

impl TenantLayer {
    pub fn new(tenants: Arc<Tenants>, topics: Arc<dyn TopicDirectory>) -> TenantLayer {
        TenantLayer { tenants, topics }
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;
    fn layer(&self, inner: S) -> TenantService<S> {
        TenantService { inner, tenants: self.tenants.clone(), topics: self.topics.clone() }
    }
}

#[derive(Clone)]
pub struct TenantService<S> {
    inner: S,
    tenants: Arc<Tenants>,
    topics: Arc<dyn TopicDirectory>,
}

impl<S> Service<Request> for TenantService<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = BoxFuture<Result<Response, StackError>>>,
{
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if self.tenants.is_empty() || !Tenant::covers(req.api_key) {
            // the gateway's own APIs (ApiVersions, SASL, ACL/user/quota admin)
            return self.inner.call(req);
        }
        let principal = req.conn.principal();
        let Some(tenant) = self.tenants.of(&req.conn.listener, &principal).cloned() else {
            return self.inner.call(req);
        };
        let topics = self.topics.clone();
        fence_topic_ids(&mut req.body, |id| topics.topic_name(id).is_some_and(|n| tenant.client_name(&n).is_some()));
        tenant.request_to_upstream(&mut req.body);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if let Some(body) = resp.as_mut() {
                tenant.response_to_client(body);
            }
            Ok(resp)
        })
    }
}

/// Replaces every topic id `ours` refuses with the nil id.
fn fence_topic_ids(body: &mut RequestKind, ours: impl Fn(Uuid) -> bool) {
    let fence = |id: &mut Uuid| {
        if !id.is_nil() && !ours(*id) {
            *id = Uuid::nil();
        }
    };
    match body {
        RequestKind::Fetch(r) => {
            r.topics.iter_mut().for_each(|t| fence(&mut t.topic_id));
            r.forgotten_topics_data.iter_mut().for_each(|t| fence(&mut t.topic_id));
        }
        RequestKind::Produce(r) => r.topic_data.iter_mut().for_each(|t| fence(&mut t.topic_id)),
        RequestKind::DeleteTopics(r) => r.topics.iter_mut().for_each(|t| fence(&mut t.topic_id)),
        RequestKind::Metadata(r) => r.topics.iter_mut().flatten().for_each(|t| fence(&mut t.topic_id)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::fetch_request::FetchTopic;
    use kafka_protocol::messages::{DeleteTopicsRequest, FetchRequest};

    #[test]
    fn foreign_and_unknown_topic_ids_are_fenced() {
        let (mine, theirs, unknown) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let tenant = Tenant::new("a.");
        let directory = |id: Uuid| match id.as_u128() {
            1 => Some("a.orders".to_string()),
            2 => Some("b.orders".to_string()),
            _ => None,
        };
        let ours = |id: Uuid| directory(id).is_some_and(|n| tenant.client_name(&n).is_some());
        let mut fetch = RequestKind::Fetch(FetchRequest::default().with_topics(vec![
            FetchTopic::default().with_topic_id(mine),
            FetchTopic::default().with_topic_id(theirs),
            FetchTopic::default().with_topic_id(unknown),
        ]));
        fence_topic_ids(&mut fetch, ours);
        let RequestKind::Fetch(f) = fetch else { unreachable!() };
        let ids: Vec<Uuid> = f.topics.iter().map(|t| t.topic_id).collect();
        assert_eq!(ids, vec![mine, Uuid::nil(), Uuid::nil()]);

        let mut delete = RequestKind::DeleteTopics(
            DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_topic_id(theirs)]),
        );
        fence_topic_ids(&mut delete, ours);
        let RequestKind::DeleteTopics(d) = delete else { unreachable!() };
        assert!(d.topics[0].topic_id.is_nil(), "another tenant's topic cannot be deleted by id");
    }

    #[test]
    fn the_first_matching_rule_names_the_tenant() {
        let alice = Principal::user("alice".to_string());
        let tenants = Tenants::new(vec![
            (Member::Listener("TENANT_A".into()), Tenant::new("a.")),
            (Member::Principal(alice.clone()), Tenant::new("b.")),
        ]);
        assert_eq!(tenants.of("TENANT_A", &alice).map(|t| t.prefix()), Some("a."));
        assert_eq!(tenants.of("OTHER", &alice).map(|t| t.prefix()), Some("b."));
        assert!(tenants.of("OTHER", &Principal::anonymous()).is_none());
    }
}
