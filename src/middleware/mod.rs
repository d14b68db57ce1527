//! The tower stack every request goes through. Its order is written in exactly
//! one place, [`build_stack`]:
//!
//! ```text
//! frame ─▶ codec ─▶ trace ─▶ tenant ─▶ metrics ─▶ authenticate ─▶ authorize ─▶ quota ─▶ backend
//! ```
//!
//! The backend is the router and its handlers (broker mode) or the forwarder to the
//! upstream cluster (proxy mode). The tenant layer (proxy virtual clusters) renames
//! first, so everything below sees upstream names.
//! Metrics come before authentication, so refused requests are counted too.
//! Authorization follows authentication: it checks the principal that layer sets.
//! Quotas follow authorization: denied requests are answered before they are
//! counted.

pub mod authenticate;
pub mod authorize;
pub mod codec;
pub mod metrics;
pub mod quota;
pub mod tenant;
pub mod trace;

use crate::broker::Broker;
use crate::config::{Config, SecurityProtocol};
use crate::proxy::forward::Forwarder;
use crate::proxy::Proxy;
use crate::quota::QuotaManager;
use crate::router::{ApiTable, Router};
use crate::security::{Principal, Security};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Who is on the other end of a connection.
#[derive(Debug)]
pub struct ConnInfo {
    /// Name of the listener the connection arrived on (Metadata advertises its address).
    pub listener: Arc<str>,
    pub peer: SocketAddr,
    /// Process-unique connection number, for logs.
    pub id: u64,
    /// The listener's security protocol: whether SASL must come first.
    pub security: SecurityProtocol,
    /// The principal a verified client certificate maps to (SSL listeners with mTLS).
    pub tls_principal: Option<Principal>,
    /// Proxy mode: the upstream broker the client addressed (by port or SNI name);
    /// `None` on a bootstrap address.
    pub target_node: Option<i32>,
    /// Set by a layer whose response must be the last one (a failed authentication):
    /// the connection writes it, then closes.
    close_after_response: AtomicBool,
    /// After SaslHandshake v0 the client sends bare SASL tokens (size-prefixed, no
    /// request header) until the exchange ends (KIP-43); the codec wraps them.
    raw_sasl_tokens: AtomicBool,
    /// The SASL principal once authenticated (for the connection's close log line).
    sasl_principal: std::sync::Mutex<Option<Arc<Principal>>>,
    /// Set by the quota layer (KIP-219): after writing the response, the connection
    /// reads nothing more from the client until then.
    muted_until: Mutex<Option<tokio::time::Instant>>,
    /// Broker connections: the request that holds the connection's turn (its number
    /// and the signal that ends it). Requests start in order, each once the previous
    /// one released its turn: at its end, or, for an acks=all produce, once its
    /// batches are appended, before it waits for the ISR (see `connection.rs`).
    turn: std::sync::Mutex<Option<(u64, tokio::sync::oneshot::Sender<()>)>>,
}

impl ConnInfo {
    pub fn new(listener: Arc<str>, peer: SocketAddr, id: u64) -> ConnInfo {
        ConnInfo {
            listener,
            peer,
            id,
            security: SecurityProtocol::Plaintext,
            tls_principal: None,
            target_node: None,
            close_after_response: AtomicBool::new(false),
            raw_sasl_tokens: AtomicBool::new(false),
            sasl_principal: std::sync::Mutex::new(None),
            muted_until: Mutex::new(None),
            turn: std::sync::Mutex::new(None),
        }
    }

    /// Request `n` takes the connection's turn; the receiver fires when it is released.
    pub fn take_turn(&self, n: u64) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.turn.lock().unwrap_or_else(|e| e.into_inner()) = Some((n, tx));
        rx
    }

    /// Ends request `n`'s turn (a no-op once it ended): the next request may start.
    pub fn release_turn(&self, n: u64) {
        let mut turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        if turn.as_ref().is_some_and(|(held, _)| *held == n) {
            let (_, tx) = turn.take().expect("checked");
            let _ = tx.send(());
        }
    }

    /// Ends the turn of the request running now (the only one that can call this
    /// before its turn ends): what must happen in request order is done.
    pub fn release_current_turn(&self) {
        if let Some((_, tx)) = self.turn.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }

    pub fn set_principal(&self, principal: Arc<Principal>) {
        *self.sasl_principal.lock().unwrap_or_else(|e| e.into_inner()) = Some(principal);
    }

    /// Who the connection is: its SASL principal, else its certificate's, else
    /// `User:ANONYMOUS`.
    pub fn principal(&self) -> Principal {
        let sasl = self.sasl_principal.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match (sasl, &self.tls_principal) {
            (Some(p), _) => (*p).clone(),
            (None, Some(p)) => p.clone(),
            (None, None) => Principal::anonymous(),
        }
    }

    pub fn set_raw_sasl_tokens(&self, on: bool) {
        self.raw_sasl_tokens.store(on, Ordering::Relaxed);
    }

    pub fn raw_sasl_tokens(&self) -> bool {
        self.raw_sasl_tokens.load(Ordering::Relaxed)
    }

    pub fn close_after_response(&self) {
        self.close_after_response.store(true, Ordering::Relaxed);
    }

    pub fn should_close(&self) -> bool {
        self.close_after_response.load(Ordering::Relaxed)
    }

    /// Mutes the channel for `d` from now (a quota throttle); a later deadline wins.
    pub fn mute_for(&self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        let mut m = self.muted_until.lock().expect("mute lock");
        *m = Some(m.map_or(until, |old| old.max(until)));
    }

    /// The end of a pending mute, taken (the connection waits for it once).
    pub fn take_mute(&self) -> Option<tokio::time::Instant> {
        self.muted_until.lock().expect("mute lock").take()
    }
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
    /// When the frame arrived (the codec's start): latencies are measured from here.
    pub received: std::time::Instant,
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
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// A denial no response can carry (acks=0 Produce), or a request kind with no
    /// authorization rule: Kafka closes the connection.
    #[error("not authorized: {0}")]
    Denied(String),
    /// Proxy mode: the upstream link failed; the client sees the connection close,
    /// as it would had it been connected to that broker.
    #[error("upstream: {0}")]
    Upstream(String),
}

pub type Stack = codec::Codec<
    trace::Trace<
        tenant::TenantService<
            metrics::MetricsService<authenticate::Authenticate<authorize::Authorize<quota::Quota<Backend>>>>,
        >,
    >,
>;

/// What answers requests: the broker core, or the upstream cluster (proxy mode).
#[derive(Clone)]
pub enum Core {
    Broker(Arc<Broker>),
    Proxy(Arc<Proxy>),
}

impl Core {
    pub fn config(&self) -> &Arc<Config> {
        match self {
            Core::Broker(b) => &b.config,
            Core::Proxy(p) => &p.config,
        }
    }

    fn tenants(&self) -> Arc<tenant::Tenants> {
        match self {
            Core::Broker(_) => Arc::default(),
            Core::Proxy(p) => p.tenants.clone(),
        }
    }

    fn topics(&self) -> Arc<dyn authorize::TopicDirectory> {
        match self {
            Core::Broker(b) => b.clone(),
            Core::Proxy(p) => p.clone(),
        }
    }
}

/// The innermost service of a connection's stack.
pub enum Backend {
    Broker(Router),
    Proxy(Forwarder),
}

impl tower::Service<Request> for Backend {
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), StackError>> {
        match self {
            Backend::Broker(r) => r.poll_ready(cx),
            Backend::Proxy(f) => f.poll_ready(cx),
        }
    }

    /// Also splits the request's time into before its backend and in it (metrics).
    fn call(&mut self, req: Request) -> Self::Future {
        let (api, received, started) = (req.api_key, req.received, std::time::Instant::now());
        let (fut, metrics) = match self {
            Backend::Broker(r) => (r.call(req), r.metrics()),
            Backend::Proxy(f) => (f.call(req), f.metrics()),
        };
        Box::pin(async move {
            let result = fut.await;
            metrics.observe_phases(api, started.saturating_duration_since(received), started.elapsed());
            result
        })
    }
}

/// Builds the per-connection service: frames in, encoded response frames out.
/// `table` is what the connection may ask for (the proxy's follows the upstream).
pub fn build_stack(
    core: &Core,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
    conn: Arc<ConnInfo>,
    table: Arc<ApiTable>,
) -> Stack {
    let config = core.config();
    let sasl = config.listeners.iter().find(|l| *l.name == *conn.listener).and_then(|l| l.sasl.as_ref());
    let authenticate = authenticate::AuthenticateLayer::new(security.clone(), conn.clone(), sasl);
    let topics = core.topics();
    let backend = match core {
        Core::Broker(b) => Backend::Broker(Router::new(b.clone(), security.clone(), quotas.clone())),
        Core::Proxy(p) => {
            Backend::Proxy(Forwarder::new(p.clone(), security.clone(), quotas.clone(), conn.clone(), table.clone()))
        }
    };
    tower::ServiceBuilder::new()
        .layer(codec::CodecLayer::new(conn, table))
        .layer(trace::TraceLayer::new(config.log.slow_request_ms))
        .layer(tenant::TenantLayer::new(core.tenants(), topics.clone()))
        .layer(metrics::MetricsLayer::new(security.metrics.clone(), topics.clone()))
        .layer(authenticate)
        .layer(authorize::AuthorizeLayer::new(security.clone(), topics))
        .layer(quota::QuotaLayer::new(quotas.clone()))
        .service(backend)
}
