//! Trace layer: one `tracing` span per request, a debug line with its latency, and
//! a warn line for a slow request (`log.slow_request_ms`).

use super::{BoxFuture, Request, Response, StackError};
use kafka_protocol::messages::{ApiKey, RequestKind};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};
use tracing::Instrument;

#[derive(Clone, Copy)]
pub struct TraceLayer {
    /// `None`: never log slow requests.
    slow: Option<Duration>,
}

impl TraceLayer {
    /// `slow_request_ms` = 0 turns the slow-request log off.
    pub fn new(slow_request_ms: u64) -> TraceLayer {
        TraceLayer { slow: (slow_request_ms > 0).then(|| Duration::from_millis(slow_request_ms)) }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner, slow: self.slow }
    }
}

#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
    slow: Option<Duration>,
}

/// How long a request may wait by design before it counts as slow: a Fetch's long
/// poll; JoinGroup and SyncGroup wait for the other members (never slow).
fn designed_wait(req: &Request) -> Option<Duration> {
    match (&req.body, req.api_key) {
        (RequestKind::Fetch(f), _) => Some(Duration::from_millis(f.max_wait_ms.max(0) as u64)),
        (_, ApiKey::JoinGroup | ApiKey::SyncGroup) => None,
        _ => Some(Duration::ZERO),
    }
}

impl<S> Service<Request> for Trace<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = BoxFuture<Result<Response, StackError>>>,
{
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let span = tracing::debug_span!(
            "request",
            api = ?req.api_key,
            version = req.api_version,
            correlation_id = req.header.correlation_id,
            conn = req.conn.id,
        );
        let threshold = self.slow.and_then(|slow| designed_wait(&req).map(|wait| slow + wait));
        let slow_ctx = threshold.map(|t| {
            // a shared buffer, not a copy: this runs for every request
            let client_id = req.header.client_id.clone();
            (t, req.api_key, req.api_version, req.header.correlation_id, client_id, req.conn.clone())
        });
        let started = req.received;
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let result = fut.await;
                let elapsed = started.elapsed();
                tracing::debug!(elapsed_us = elapsed.as_micros() as u64, ok = result.is_ok(), "handled");
                if let Some((threshold, api, version, correlation_id, client_id, conn)) = slow_ctx {
                    if elapsed > threshold {
                        let client_id = client_id.as_deref().unwrap_or("");
                        tracing::warn!(api = ?api, version, correlation_id, %client_id, conn = conn.id,
                            client = %conn.peer, principal = %conn.principal(), listener = %conn.listener,
                            elapsed_ms = elapsed.as_millis() as u64, threshold_ms = threshold.as_millis() as u64,
                            "slow request");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}
