//! Trace layer: one `tracing` span per request, and a debug line with its latency.

use super::{BoxFuture, Request, Response, StackError};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;

#[derive(Clone, Copy)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
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
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let result = fut.await;
                tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, ok = result.is_ok(), "handled");
                result
            }
            .instrument(span),
        )
    }
}
