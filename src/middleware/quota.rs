//! Quota layer: records each request's usage against the sender's client quotas
//! and throttles as Kafka does (KIP-13, KIP-124, KIP-219).
//!
//! - Produce: the request's size against `producer_byte_rate`, and (unless acks=0)
//!   the handling time against `request_percentage`.
//! - Fetch: the handling time, then the response's size against
//!   `consumer_byte_rate`. A throttled Fetch is answered empty (the bytes are taken
//!   back from the rate), and a consumer never gets more in one response than its
//!   quota allows over the window (`max_bytes` is capped before the handler runs).
//! - Every other request: the handling time against `request_percentage`; the
//!   throttle for it is capped at one quota window.
//!
//! The throttle time is the larger of the byte-rate and request-time throttles. It
//! goes into the response's `throttle_time_ms` where the version has the field. For
//! versions whose clients throttle themselves (KIP-219) the response goes out at once
//! and the connection reads nothing more from the client for that long; for older
//! versions the response itself is held back that long. "Handling time" is the time
//! the inner service spends being polled — time on a worker thread, not time parked
//! in a Fetch long-poll — the closest thing to Kafka's request-thread time.
//! SaslHandshake and SaslAuthenticate are exempt: Kafka handles them before requests
//! reach its quota managers.

use super::{BoxFuture, ConnInfo, Request, Response, StackError};
use crate::quota::entity::{Client, QuotaType, Resolver};
use crate::quota::QuotaManager;
use kafka_protocol::messages::{ApiKey, FetchResponse, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

/// Per response kind: the first version with `throttle_time_ms`, and the first
/// version whose clients throttle themselves (Kafka's `shouldClientThrottle`;
/// `i16::MAX`: never, the broker delays the response).
macro_rules! throttle_table {
    ($($kind:ident $field:literal $client:expr),* $(,)?) => {
        /// (first version with the field, first client-throttled version), if any.
        pub fn throttle_versions(api: ApiKey) -> Option<(i16, i16)> {
            match api {
                $(ApiKey::$kind => Some(($field, $client)),)*
                _ => None,
            }
        }

        fn set_throttle_time_ms(resp: &mut ResponseKind, ms: i32) {
            match resp {
                $(ResponseKind::$kind(r) => r.throttle_time_ms = ms,)*
                _ => {}
            }
        }

        #[cfg(test)]
        fn default_response(api: ApiKey) -> Option<ResponseKind> {
            match api {
                $(ApiKey::$kind => Some(ResponseKind::$kind(Default::default())),)*
                _ => None,
            }
        }

        #[cfg(test)]
        fn throttle_time_ms(resp: &ResponseKind) -> i32 {
            match resp {
                $(ResponseKind::$kind(r) => r.throttle_time_ms,)*
                _ => 0,
            }
        }
    };
}

throttle_table! {
    Produce 1 6, Fetch 1 8, ListOffsets 2 3, Metadata 3 6, OffsetCommit 3 4, OffsetFetch 3 4,
    FindCoordinator 1 2, JoinGroup 2 3, Heartbeat 1 2, LeaveGroup 1 2, SyncGroup 1 2,
    DescribeGroups 1 2, ListGroups 1 2, ApiVersions 1 2, CreateTopics 2 3, DeleteTopics 1 2,
    InitProducerId 0 1, DescribeAcls 0 1, CreateAcls 0 1, DeleteAcls 0 1, DescribeConfigs 0 2,
    AlterConfigs 0 1, CreatePartitions 0 1, DeleteGroups 0 1, IncrementalAlterConfigs 0 0,
    OffsetDelete 0 0, DescribeUserScramCredentials 0 0, AlterUserScramCredentials 0 0,
    DescribeCluster 0 0, DescribeClientQuotas 0 i16::MAX, AlterClientQuotas 0 i16::MAX, OffsetForLeaderEpoch 2 3,
}

/// Whether a client of this API and version throttles itself after a response
/// with a throttle time (then the broker answers at once and mutes the channel).
pub fn client_throttles(api: ApiKey, version: i16) -> bool {
    throttle_versions(api).is_some_and(|(_, client)| version >= client)
}

#[derive(Clone)]
pub struct QuotaLayer {
    quotas: Arc<QuotaManager>,
}

impl QuotaLayer {
    pub fn new(quotas: Arc<QuotaManager>) -> QuotaLayer {
        QuotaLayer { quotas }
    }
}

impl<S> Layer<S> for QuotaLayer {
    type Service = Quota<S>;
    fn layer(&self, inner: S) -> Quota<S> {
        Quota { inner, quotas: self.quotas.clone() }
    }
}

#[derive(Clone)]
pub struct Quota<S> {
    inner: S,
    quotas: Arc<QuotaManager>,
}

/// What a request uses besides handling time.
enum Usage {
    Produce { request_bytes: f64, acks: i16 },
    Fetch,
    Other,
}

impl<S> Service<Request> for Quota<S>
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
        let resolver = self.quotas.resolver();
        if !resolver.any_enabled() || matches!(req.api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
            return self.inner.call(req);
        }
        let user = req.principal.name.clone();
        let client_id = req.header.client_id.as_deref().unwrap_or("").to_string();
        let usage = usage_of(&self.quotas, &resolver, &mut req, Client { user: &user, client_id: &client_id });
        let (api, version, conn) = (req.api_key, req.api_version, req.conn.clone());
        let quotas = self.quotas.clone();
        let busy = Busy { inner: self.inner.call(req), polled: Duration::ZERO };
        Box::pin(async move {
            let (result, polled) = busy.await;
            let mut resp = result?;
            let who = Client { user: &user, client_id: &client_id };
            let (throttle_ms, cause) = account(&quotas, &resolver, who, usage, polled, &mut resp, version);
            if throttle_ms > 0 {
                quotas.note_throttle(&resolver, cause, who, throttle_ms);
                throttle(api, version, &conn, &mut resp, throttle_ms).await;
            }
            Ok(resp)
        })
    }
}

/// Reads what the request carries (and caps a Fetch's size at what the quota allows).
fn usage_of(quotas: &QuotaManager, resolver: &Resolver, req: &mut Request, who: Client<'_>) -> Usage {
    let version = req.api_version;
    match &mut req.body {
        RequestKind::Produce(p) => {
            let header_version = req.api_key.request_header_version(version);
            let header_bytes = req.header.compute_size(header_version).unwrap_or(0);
            let body_bytes = p.compute_size(version).unwrap_or(0);
            Usage::Produce { request_bytes: (header_bytes + body_bytes) as f64, acks: p.acks }
        }
        RequestKind::Fetch(f) => {
            if let Some(max) = quotas.fetch_bytes_max(resolver, who) {
                f.max_bytes = f.max_bytes.min(max);
            }
            Usage::Fetch
        }
        _ => Usage::Other,
    }
}

/// Records the request's usage; returns the throttle time and the quota type that
/// caused it (for the counters). A throttled Fetch's answer becomes an empty one.
fn account(
    quotas: &QuotaManager,
    r: &Resolver,
    who: Client<'_>,
    usage: Usage,
    polled: Duration,
    resp: &mut Response,
    version: i16,
) -> (i64, QuotaType) {
    let now = quotas.now_ms();
    // Kafka's unit: percent of one thread, per second of the window
    let thread_percent = polled.as_nanos() as f64 * 100.0 / 1e9;
    let worst = |bytes_ms: i64, t: QuotaType, request_ms: i64| {
        if bytes_ms > request_ms {
            (bytes_ms, t)
        } else {
            (request_ms, QuotaType::Request)
        }
    };
    match usage {
        Usage::Produce { request_bytes, acks } => {
            let bytes_ms = quotas.record(r, QuotaType::Produce, who, request_bytes, now);
            let request_ms = if acks == 0 { 0 } else { quotas.record(r, QuotaType::Request, who, thread_percent, now) };
            worst(bytes_ms, QuotaType::Produce, request_ms)
        }
        Usage::Fetch => {
            let request_ms = quotas.record(r, QuotaType::Request, who, thread_percent, now);
            let size = fetch_response_bytes(resp, version);
            let bytes_ms = quotas.record(r, QuotaType::Fetch, who, size, now);
            if bytes_ms.max(request_ms) > 0 {
                quotas.unrecord(r, QuotaType::Fetch, who, size, now);
                if resp.is_some() {
                    // fetch sessions are declined (session id 0): nothing else to keep
                    *resp = Some(ResponseKind::Fetch(FetchResponse::default()));
                }
            }
            worst(bytes_ms, QuotaType::Fetch, request_ms)
        }
        Usage::Other => (quotas.record(r, QuotaType::Request, who, thread_percent, now), QuotaType::Request),
    }
}

/// The encoded size of a Fetch response (header and body), as Kafka counts it.
fn fetch_response_bytes(resp: &Response, version: i16) -> f64 {
    let Some(ResponseKind::Fetch(f)) = resp else { return 0.0 };
    let header = ResponseHeader::default().compute_size(ApiKey::Fetch.response_header_version(version)).unwrap_or(4);
    (header + f.compute_size(version).unwrap_or(0)) as f64
}

/// Puts the throttle time into the response and mutes the connection, or holds the
/// response back for clients that do not throttle themselves.
async fn throttle(api: ApiKey, version: i16, conn: &ConnInfo, resp: &mut Response, throttle_ms: i64) {
    let ms = throttle_ms.clamp(0, i32::MAX as i64);
    if let Some(body) = resp.as_mut() {
        if throttle_versions(api).is_some_and(|(field, _)| version >= field) {
            set_throttle_time_ms(body, ms as i32);
        }
    }
    let wait = Duration::from_millis(ms as u64);
    if resp.is_none() || client_throttles(api, version) {
        conn.mute_for(wait);
    } else {
        tokio::time::sleep(wait).await;
    }
}

/// The inner future, timed while it is being polled.
struct Busy {
    inner: BoxFuture<Result<Response, StackError>>,
    polled: Duration,
}

impl Future for Busy {
    type Output = (Result<Response, StackError>, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let start = Instant::now();
        let r = self.inner.as_mut().poll(cx);
        self.polled += start.elapsed();
        r.map(|out| (out, self.polled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::ROUTES;
    use bytes::BytesMut;

    /// The table is exact: for every routed API and version, a throttle time set on
    /// a response survives encoding and decoding exactly where the table says the
    /// version has the field (elsewhere the crate drops it or refuses to encode).
    #[test]
    fn the_throttle_field_table_matches_the_protocol_crate() {
        for &(api, min, max) in ROUTES {
            let Some((field, _)) = throttle_versions(api) else {
                assert!(matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate), "{api:?} missing");
                continue;
            };
            for v in min..=max {
                let mut resp = default_response(api).unwrap();
                set_throttle_time_ms(&mut resp, 5);
                let mut buf = BytesMut::new();
                let carried = resp.encode(&mut buf, v).is_ok()
                    && throttle_time_ms(&ResponseKind::decode(api, &mut buf.freeze(), v).unwrap()) == 5;
                assert_eq!(carried, v >= field, "{api:?} v{v}: field from v{field}");
            }
        }
    }

    #[test]
    fn kip_219_versions() {
        assert!(!client_throttles(ApiKey::Produce, 5));
        assert!(client_throttles(ApiKey::Produce, 6));
        assert!(!client_throttles(ApiKey::Fetch, 7));
        assert!(client_throttles(ApiKey::Fetch, 8));
        assert!(!client_throttles(ApiKey::DescribeClientQuotas, 1));
        assert!(!client_throttles(ApiKey::SaslAuthenticate, 2));
    }
}
