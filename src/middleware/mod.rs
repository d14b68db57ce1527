//! The tower stack every request goes through. Its order is written in exactly
//! one place, [`build_stack`]:
//!
//! ```text
//! frame ─▶ codec ─▶ trace ─▶ authorize ─▶ router ─▶ handler
//! ```
//!
//! Later layers slot in here too: metrics and authentication between trace and
//! authorize (authorization needs the authenticated principal), quotas after it.

pub mod authorize;
pub mod codec;
pub mod trace;

use crate::broker::Broker;
use crate::router::Router;
use crate::security::{Principal, Security};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Who is on the other end of a connection.
#[derive(Debug)]
pub struct ConnInfo {
    /// Name of the listener the connection arrived on (Metadata advertises its address).
    pub listener: Arc<str>,
    pub peer: SocketAddr,
    /// Process-unique connection number, for logs.
    pub id: u64,
}

/// A decoded request, with its connection.
pub struct Request {
    pub conn: Arc<ConnInfo>,
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub body: RequestKind,
    /// Who sends it: `User:ANONYMOUS` until the authentication layer says otherwise.
    pub principal: Arc<Principal>,
}

/// `None` means no response is sent (Produce with acks=0).
pub type Response = Option<ResponseKind>;

/// A failure that ends the connection (the protocol has no way to answer it).
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported API key {0}")]
    UnsupportedApi(i16),
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("cannot encode response: {0}")]
    Encode(String),
    #[error("handler failed: {0}")]
    Handler(String),
    /// A denial no response can carry (acks=0 Produce), or a request kind with no
    /// authorization rule: Kafka closes the connection.
    #[error("not authorized: {0}")]
    Denied(String),
}

/// Builds the per-connection service: frames in, encoded response frames out.
pub fn build_stack(
    broker: Arc<Broker>,
    security: Arc<Security>,
    conn: Arc<ConnInfo>,
) -> codec::Codec<trace::Trace<authorize::Authorize<Router>>> {
    let topics: Arc<dyn authorize::TopicDirectory> = broker.clone();
    tower::ServiceBuilder::new()
        .layer(codec::CodecLayer::new(conn))
        .layer(trace::TraceLayer)
        // authentication goes here: it sets the principal that authorization checks
        .layer(authorize::AuthorizeLayer::new(security.clone(), topics))
        .service(Router::new(broker, security))
}
