//! Codec layer: a request frame (size prefix already removed) in, an encoded
//! response frame (with its size prefix) out.
//!
//! It decodes the header, checks the API and version against the router's table,
//! decodes the body at that version, and encodes the response with the request's
//! correlation id and the response header version for that API and version.
//! ApiVersions at a version newer than ours gets Kafka's fallback: UNSUPPORTED_VERSION
//! in v0 format with our ranges, so the client can retry at a version we know.

use super::{BoxFuture, ConnInfo, Request, Response, StackError};
use crate::router::ApiTable;
use crate::security::Principal;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind, SaslAuthenticateRequest,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// api key (2) + api version (2) + correlation id (4): the least a header holds.
const HEADER_PREFIX_BYTES: usize = 8;

#[derive(Clone)]
pub struct CodecLayer {
    conn: Arc<ConnInfo>,
    table: Arc<ApiTable>,
}

impl CodecLayer {
    pub fn new(conn: Arc<ConnInfo>, table: Arc<ApiTable>) -> CodecLayer {
        CodecLayer { conn, table }
    }
}

impl<S> Layer<S> for CodecLayer {
    type Service = Codec<S>;
    fn layer(&self, inner: S) -> Codec<S> {
        Codec { inner, conn: self.conn.clone(), table: self.table.clone() }
    }
}

#[derive(Clone)]
pub struct Codec<S> {
    inner: S,
    conn: Arc<ConnInfo>,
    /// The APIs and versions this connection may use.
    table: Arc<ApiTable>,
}

/// A decoded frame, or the fallback answer that needs no handler.
pub enum Decoded {
    Request(Box<Request>),
    Immediate(Bytes),
}

/// Decodes one frame. Decoding runs under `catch_unwind`; allocation-failure
/// aborts are handled by `crate::alloc` (see there).
pub fn decode_frame(conn: &Arc<ConnInfo>, frame: Bytes) -> Result<Decoded, StackError> {
    decode_frame_for(conn, &ApiTable::broker_shared(), frame)
}

/// Decodes one frame against a connection's API table (the proxy's is narrower).
pub fn decode_frame_for(conn: &Arc<ConnInfo>, table: &ApiTable, frame: Bytes) -> Result<Decoded, StackError> {
    let received = std::time::Instant::now();
    if frame.len() < HEADER_PREFIX_BYTES {
        return Err(StackError::Malformed(format!("frame of {} bytes has no request header", frame.len())));
    }
    let mut prefix = &frame[..HEADER_PREFIX_BYTES];
    let key = prefix.get_i16();
    let version = prefix.get_i16();
    let correlation_id = prefix.get_i32();
    let api_key = ApiKey::try_from(key).map_err(|_| StackError::UnsupportedApi(key))?;
    let range = table.supported(api_key).ok_or(StackError::UnsupportedApi(key))?;
    if version < range.min || version > range.max {
        if api_key == ApiKey::ApiVersions {
            return Ok(Decoded::Immediate(api_versions_fallback(table, correlation_id)?));
        }
        return Err(StackError::UnsupportedVersion { api: api_key, version });
    }
    let mut buf = frame;
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let header = decode_request_header_from_buffer(&mut buf)?;
        let body = RequestKind::decode(api_key, &mut buf, version)?;
        anyhow::Ok((header, body))
    }));
    let (header, body) = match decoded {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(StackError::Malformed(format!("{api_key:?} v{version}: {e}"))),
        Err(_) => return Err(StackError::Malformed(format!("{api_key:?} v{version}: decoder panicked"))),
    };
    let principal = Arc::new(Principal::anonymous());
    Ok(Decoded::Request(Box::new(Request {
        conn: conn.clone(),
        header,
        api_key,
        api_version: version,
        body,
        principal,
        received,
    })))
}

/// Encodes a response frame: size prefix, header, body.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, StackError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api_key.response_header_version(version);
    let mut out = BytesMut::with_capacity(capacity_hint(body));
    out.put_i32(0);
    header.encode(&mut out, header_version).map_err(|e| StackError::Encode(e.to_string()))?;
    body.encode(&mut out, version).map_err(|e| StackError::Encode(format!("{api_key:?} v{version}: {e}")))?;
    let size = (out.len() - 4) as i32;
    out[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

/// Room for the encoded response: Fetch responses carry megabytes of records, and
/// growing the buffer by doubling copied them several times over.
fn capacity_hint(body: &ResponseKind) -> usize {
    const FIXED_BYTES: usize = 256;
    const PER_PARTITION_BYTES: usize = 64;
    match body {
        ResponseKind::Fetch(f) => {
            let partitions = f.responses.iter().flat_map(|t| &t.partitions);
            FIXED_BYTES
                + partitions.map(|p| PER_PARTITION_BYTES + p.records.as_ref().map_or(0, |r| r.len())).sum::<usize>()
        }
        _ => FIXED_BYTES,
    }
}

impl<S> Codec<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = BoxFuture<Result<Response, StackError>>>,
{
    /// A bare SASL token after SaslHandshake v0: handled as a SaslAuthenticate, and
    /// answered bare (size prefix, token). A failure closes the connection without an
    /// answer: v0 has no way to carry an error.
    fn call_raw_sasl(&mut self, frame: Bytes) -> BoxFuture<Result<Option<Bytes>, StackError>> {
        let req = Request {
            conn: self.conn.clone(),
            header: RequestHeader::default().with_request_api_key(ApiKey::SaslAuthenticate as i16),
            api_key: ApiKey::SaslAuthenticate,
            api_version: 0,
            body: RequestKind::SaslAuthenticate(SaslAuthenticateRequest::default().with_auth_bytes(frame)),
            principal: Arc::new(Principal::anonymous()),
            received: std::time::Instant::now(),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match fut.await? {
                Some(ResponseKind::SaslAuthenticate(r)) if r.error_code == 0 => {
                    let mut out = BytesMut::with_capacity(4 + r.auth_bytes.len());
                    out.put_i32(r.auth_bytes.len() as i32);
                    out.extend_from_slice(&r.auth_bytes);
                    Ok(Some(out.freeze()))
                }
                Some(ResponseKind::SaslAuthenticate(r)) => Err(StackError::Unauthenticated(
                    r.error_message.map(|m| m.to_string()).unwrap_or_else(|| "SASL authentication failed".into()),
                )),
                _ => Err(StackError::Handler("a bare SASL token got no SASL answer".into())),
            }
        })
    }
}

fn api_versions_fallback(table: &ApiTable, correlation_id: i32) -> Result<Bytes, StackError> {
    let body = table.api_versions_response(ResponseError::UnsupportedVersion.code());
    encode_response(ApiKey::ApiVersions, 0, correlation_id, &ResponseKind::ApiVersions(body))
}

impl<S> Service<Bytes> for Codec<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = BoxFuture<Result<Response, StackError>>>,
{
    type Response = Option<Bytes>;
    type Error = StackError;
    type Future = BoxFuture<Result<Option<Bytes>, StackError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, frame: Bytes) -> Self::Future {
        if self.conn.raw_sasl_tokens() {
            return self.call_raw_sasl(frame);
        }
        let req = match decode_frame_for(&self.conn, &self.table, frame) {
            Ok(Decoded::Request(r)) => r,
            Ok(Decoded::Immediate(bytes)) => return Box::pin(async move { Ok(Some(bytes)) }),
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let (api_key, version, correlation_id) = (req.api_key, req.api_version, req.header.correlation_id);
        let fut = self.inner.call(*req);
        Box::pin(async move {
            match fut.await? {
                Some(body) => Ok(Some(encode_response(api_key, version, correlation_id, &body)?)),
                None => Ok(None),
            }
        })
    }
}
