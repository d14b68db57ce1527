//! The proxy's backend service, one per client connection: the gateway's own APIs
//! (ApiVersions, SASL, ACL/SCRAM/quota admin) are answered here by the same
//! handlers the broker uses; every other request is re-encoded (the layers above
//! may have narrowed it) and forwarded on the connection's upstream link, with the
//! client's correlation id, at the client's version. Responses come back decoded so
//! the layers above can read them (errors, bytes, throttles), with broker addresses
//! rewritten to the gateway's.

use super::rewrite::rewrite_addresses;
use super::upstream::Link;
use super::{Proxy, LOCAL_APIS};
use crate::broker::handlers::{self, Local};
use crate::middleware::{BoxFuture, ConnInfo, Request, Response, StackError};
use crate::quota::QuotaManager;
use crate::router::ApiTable;
use crate::security::Security;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

pub struct Forwarder {
    proxy: Arc<Proxy>,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
    conn: Arc<ConnInfo>,
    /// What this connection negotiated (ApiVersions answers from it).
    table: Arc<ApiTable>,
    /// Opened at the first forwarded request, to the broker the client addressed.
    link: Option<Link>,
}

impl Forwarder {
    pub fn new(
        proxy: Arc<Proxy>,
        security: Arc<Security>,
        quotas: Arc<QuotaManager>,
        conn: Arc<ConnInfo>,
        table: Arc<ApiTable>,
    ) -> Forwarder {
        Forwarder { proxy, security, quotas, conn, table, link: None }
    }

    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.security.metrics.clone()
    }

    fn forward(&mut self, req: Request) -> BoxFuture<Result<Response, StackError>> {
        let (api, version, correlation_id) = (req.api_key, req.api_version, req.header.correlation_id);
        // the upstream does not answer acks=0 produce; neither does the gateway
        let expects_response = !matches!(&req.body, RequestKind::Produce(p) if p.acks == 0);
        let frame = match encode_request(&req) {
            Ok(f) => f,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let link = self.link.get_or_insert_with(|| {
            let target = self.proxy.clone().target(self.conn.target_node);
            Link::open(target, self.proxy.security.clone(), self.conn.id)
        });
        let reply = link.send(frame, correlation_id, expects_response);
        let (proxy, listener) = (self.proxy.clone(), self.conn.listener.clone());
        Box::pin(async move {
            let closed = || StackError::Upstream("the upstream connection closed".into());
            let Some(reply) = reply.map_err(|_| closed())? else { return Ok(None) };
            let frame = reply.await.map_err(|_| closed())?;
            let mut resp = decode_response(api, version, frame)?;
            if let ResponseKind::Metadata(m) = &resp {
                proxy.observe_metadata(m);
            }
            rewrite_addresses(&mut resp, proxy.addressing(&listener));
            Ok(Some(resp))
        })
    }

    fn local(&self, req: Request) -> BoxFuture<Result<Response, StackError>> {
        let (security, quotas, table) = (self.security.clone(), self.quotas.clone(), self.table.clone());
        Box::pin(async move {
            let client_id = req.header.client_id.as_deref().unwrap_or("");
            let ctx = Local {
                security: &security,
                quotas: &quotas,
                conn: &req.conn,
                principal: &req.principal,
                version: req.api_version,
                client_id,
            };
            let resp = match req.body {
                RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(table.api_versions_response(0)),
                RequestKind::SaslHandshake(r) => ResponseKind::SaslHandshake(handlers::sasl_handshake::handle(&ctx, r)),
                RequestKind::SaslAuthenticate(r) => {
                    ResponseKind::SaslAuthenticate(handlers::sasl_authenticate::handle(&ctx, r))
                }
                RequestKind::DescribeAcls(r) => ResponseKind::DescribeAcls(handlers::describe_acls::handle(&ctx, r)),
                RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(handlers::create_acls::handle(&ctx, r)),
                RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(handlers::delete_acls::handle(&ctx, r)),
                RequestKind::DescribeUserScramCredentials(r) => ResponseKind::DescribeUserScramCredentials(
                    handlers::describe_user_scram_credentials::handle(&ctx, r),
                ),
                RequestKind::AlterUserScramCredentials(r) => ResponseKind::AlterUserScramCredentials(
                    handlers::alter_user_scram_credentials::handle(&ctx, r).await,
                ),
                RequestKind::DescribeClientQuotas(r) => {
                    ResponseKind::DescribeClientQuotas(handlers::describe_client_quotas::handle(&ctx, r))
                }
                RequestKind::AlterClientQuotas(r) => {
                    ResponseKind::AlterClientQuotas(handlers::alter_client_quotas::handle(&ctx, r))
                }
                _ => return Err(StackError::Handler(format!("{:?} is not answered by the gateway", req.api_key))),
            };
            Ok(Some(resp))
        })
    }
}

/// The request as the upstream gets it: the client's header (correlation id, client
/// id) and the body as the layers above left it, at the client's version.
fn encode_request(req: &Request) -> Result<Bytes, StackError> {
    let (api, version) = (req.api_key, req.api_version);
    let encode_error = |e: anyhow::Error| StackError::Encode(format!("{api:?} v{version} for the upstream: {e}"));
    let mut out = BytesMut::with_capacity(request_capacity_hint(&req.body));
    out.put_i32(0);
    req.header.encode(&mut out, api.request_header_version(version)).map_err(encode_error)?;
    req.body.encode(&mut out, version).map_err(encode_error)?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

/// Produce requests carry the records: size the buffer once.
fn request_capacity_hint(body: &RequestKind) -> usize {
    const FIXED_BYTES: usize = 256;
    match body {
        RequestKind::Produce(p) => {
            let partitions = p.topic_data.iter().flat_map(|t| &t.partition_data);
            FIXED_BYTES + partitions.map(|p| 64 + p.records.as_ref().map_or(0, |r| r.len())).sum::<usize>()
        }
        _ => FIXED_BYTES,
    }
}

/// Decodes an upstream response frame (header included) at the request's version.
/// The decoder runs under `catch_unwind`, as the request decoder does.
fn decode_response(api: ApiKey, version: i16, mut frame: Bytes) -> Result<ResponseKind, StackError> {
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
        ResponseHeader::decode(&mut frame, api.response_header_version(version))?;
        ResponseKind::decode(api, &mut frame, version)
    }));
    match decoded {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(StackError::Upstream(format!("undecodable {api:?} v{version} response: {e}"))),
        Err(_) => Err(StackError::Upstream(format!("{api:?} v{version} response decoder panicked"))),
    }
}

impl Service<Request> for Forwarder {
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        Poll::Ready(Ok(()))
    }

    /// Forwarding happens here, not in the returned future: requests reach the
    /// upstream in the order they were called, which pipelining relies on.
    fn call(&mut self, req: Request) -> Self::Future {
        if LOCAL_APIS.contains(&req.api_key) {
            self.local(req)
        } else {
            self.forward(req)
        }
    }
}
