//! Connections to the upstream cluster: dial (TCP, TLS), ApiVersions, the gateway's
//! own SASL login; then a [`Link`] that carries one client connection's requests to
//! one upstream broker, pipelined, and hands each response back to its request.

use super::config::{UpstreamConfig, UpstreamSaslConfig, UpstreamTlsConfig};
use crate::net::tls::ClientTlsPart;
use crate::security::sasl::Mechanism;
use crate::security::scram::{wipe, ScramMechanism};
use crate::security::scram_client::ScramClient;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes, VersionRange};
use rustls::pki_types::ServerName;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Largest upstream response frame accepted (Fetch responses are the big ones).
pub const UPSTREAM_FRAME_BYTES_MAX: usize = 512 * 1024 * 1024;
/// The gateway's own requests (login, discovery) go out under this client id.
const CLIENT_ID: &str = "gregor-proxy";
/// ApiVersions is first sent at this version; older brokers answer in v0.
const API_VERSIONS_FIRST: i16 = 3;
/// Read buffer of a link's upstream socket.
const READ_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream {addr}: {message}")]
    Io { addr: String, message: String },
    #[error("upstream {addr}: {message}")]
    Protocol { addr: String, message: String },
    #[error("upstream {addr}: SASL login failed: {message}")]
    Sasl { addr: String, message: String },
    #[error("upstream {addr}: timed out connecting and logging in")]
    Timeout { addr: String },
    #[error("config key `{key}`: {message}")]
    Config { key: String, message: String },
}

/// How the gateway reaches and logs in to every upstream broker.
pub struct UpstreamSecurity {
    tls: Option<(Arc<rustls::ClientConfig>, Option<String>)>,
    sasl: Option<(Mechanism, String, Vec<u8>)>,
    timeout: Duration,
}

impl Drop for UpstreamSecurity {
    fn drop(&mut self) {
        if let Some((_, _, password)) = &mut self.sasl {
            wipe(password);
        }
    }
}

impl UpstreamSecurity {
    /// No TLS, no SASL (a cluster's plaintext inter-broker listener).
    pub fn plaintext(timeout: Duration) -> UpstreamSecurity {
        UpstreamSecurity { tls: None, sasl: None, timeout }
    }

    pub fn from_config(c: &UpstreamConfig) -> Result<UpstreamSecurity, UpstreamError> {
        Self::from_parts("proxy.upstream", c.tls.as_ref(), c.sasl.as_ref(), Duration::from_millis(c.connect_timeout_ms))
    }

    /// TLS and SASL settings validated under the config section `at` (for errors).
    pub fn from_parts(
        at: &str,
        tls: Option<&UpstreamTlsConfig>,
        sasl: Option<&UpstreamSaslConfig>,
        timeout: Duration,
    ) -> Result<UpstreamSecurity, UpstreamError> {
        let tls = match tls {
            None => None,
            Some(t) => {
                let identity = t.cert.as_deref().zip(t.key.as_deref());
                let config = crate::net::tls::client_config(&t.ca, identity).map_err(|(part, message)| {
                    let key = match part {
                        ClientTlsPart::Ca => format!("{at}.tls.ca"),
                        ClientTlsPart::Cert => format!("{at}.tls.cert"),
                        ClientTlsPart::Key => format!("{at}.tls.key"),
                        ClientTlsPart::Protocols => format!("{at}.tls"),
                    };
                    UpstreamError::Config { key, message }
                })?;
                Some((config, t.server_name.clone()))
            }
        };
        let sasl = match sasl {
            None => None,
            Some(s) => {
                let password = match (&s.password_file, &s.password) {
                    (Some(path), _) => crate::security::credentials::read_password_file(path)
                        .map_err(|m| UpstreamError::Config { key: format!("{at}.sasl.password_file"), message: m })?,
                    (None, Some(p)) => p.as_bytes().to_vec(),
                    (None, None) => Vec::new(),
                };
                Some((s.mechanism, s.username.clone(), password))
            }
        };
        Ok(UpstreamSecurity { tls, sasl, timeout })
    }
}

pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A connection that is logged in and knows the broker's version ranges.
pub struct Connected {
    pub addr: String,
    pub io: Box<dyn Io>,
    /// The upstream broker's range per API key.
    pub versions: HashMap<i16, VersionRange>,
    next_correlation_id: i32,
}

/// Dials `addr` and logs in, all within the configured timeout.
pub async fn connect(addr: &str, security: &UpstreamSecurity) -> Result<Connected, UpstreamError> {
    match tokio::time::timeout(security.timeout, connect_inner(addr, security)).await {
        Ok(r) => r,
        Err(_) => Err(UpstreamError::Timeout { addr: addr.into() }),
    }
}

async fn connect_inner(addr: &str, security: &UpstreamSecurity) -> Result<Connected, UpstreamError> {
    let io_error = |e: std::io::Error| UpstreamError::Io { addr: addr.into(), message: e.to_string() };
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(io_error)?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match &security.tls {
        None => Box::new(tcp),
        Some((config, server_name)) => {
            let host = server_name.clone().unwrap_or_else(|| host_of(addr).to_string());
            let name = ServerName::try_from(host)
                .map_err(|e| UpstreamError::Protocol { addr: addr.into(), message: format!("TLS server name: {e}") })?;
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            Box::new(connector.connect(name, tcp).await.map_err(io_error)?)
        }
    };
    let mut conn = Connected { addr: addr.into(), io, versions: HashMap::new(), next_correlation_id: 1 };
    conn.negotiate_versions().await?;
    if let Some((mechanism, user, password)) = &security.sasl {
        conn.login(*mechanism, user, password).await?;
    }
    Ok(conn)
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']')
}

impl Connected {
    /// The highest version of `R` both the upstream and kafka-protocol speak.
    pub fn version_of<R: Request>(&self) -> Option<i16> {
        let both = self.versions.get(&R::KEY)?.intersect(&R::VERSIONS);
        (!both.is_empty()).then_some(both.max)
    }

    /// One request and its response, for the gateway's own use (no pipelining).
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response, UpstreamError> {
        let mut body = self.exchange(version, request).await?;
        R::Response::decode(&mut body, version).map_err(|e| self.protocol(format!("{} v{version}: {e}", R::KEY)))
    }

    async fn exchange<R: Request>(&mut self, version: i16, request: &R) -> Result<Bytes, UpstreamError> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| self.protocol("unknown API key"))?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header.encode(&mut frame, api.request_header_version(version)).map_err(|e| self.protocol(e))?;
        request.encode(&mut frame, version).map_err(|e| self.protocol(e))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        let addr = self.addr.clone();
        let io_error = |e: std::io::Error| UpstreamError::Io { addr: addr.clone(), message: e.to_string() };
        self.io.write_all(&frame).await.map_err(io_error)?;
        self.io.flush().await.map_err(io_error)?;
        let mut body = read_frame(&mut self.io).await.map_err(|m| self.protocol(m))?;
        let header =
            ResponseHeader::decode(&mut body, api.response_header_version(version)).map_err(|e| self.protocol(e))?;
        if header.correlation_id != correlation_id {
            return Err(self.protocol(format!("correlation id {}, expected {correlation_id}", header.correlation_id)));
        }
        Ok(body)
    }

    async fn negotiate_versions(&mut self) -> Result<(), UpstreamError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("gregor-proxy"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let body = self.exchange(API_VERSIONS_FIRST, &request).await?;
        let unsupported = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
        let version = if body.clone().try_get_i16().unwrap_or(0) == unsupported { 0 } else { API_VERSIONS_FIRST };
        let response = ApiVersionsResponse::decode(&mut body.clone(), version).map_err(|e| self.protocol(e))?;
        if response.error_code != 0 && response.error_code != unsupported {
            return Err(self.protocol(format!("ApiVersions error {}", response.error_code)));
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, VersionRange { min: k.min_version, max: k.max_version }))
            .collect();
        Ok(())
    }

    async fn login(&mut self, mechanism: Mechanism, user: &str, password: &[u8]) -> Result<(), UpstreamError> {
        let sasl = |addr: &str, m: String| UpstreamError::Sasl { addr: addr.into(), message: m };
        let version = self.version_of::<SaslHandshakeRequest>().filter(|v| *v >= 1);
        let version = version.ok_or_else(|| sasl(&self.addr, "the upstream does not speak SaslHandshake v1".into()))?;
        let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism.name()));
        let response: SaslHandshakeResponse = self.send(version, &request).await?;
        if response.error_code != 0 {
            let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(sasl(
                &self.addr,
                format!("{} is not enabled (the upstream offers {enabled:?})", mechanism.name()),
            ));
        }
        match ScramMechanism::from_mechanism(mechanism) {
            None => {
                let mut token = Vec::with_capacity(user.len() * 2 + password.len() + 2);
                token.push(0);
                token.extend_from_slice(user.as_bytes());
                token.push(0);
                token.extend_from_slice(password);
                let result = self.sasl_round(token.clone()).await;
                wipe(&mut token);
                result.map(drop)
            }
            Some(scram) => {
                let mut client = ScramClient::new(scram, user, password);
                let server_first = self.sasl_round(client.client_first()).await?;
                let client_final = client.client_final(&server_first).map_err(|e| sasl(&self.addr, e.message))?;
                let server_final = self.sasl_round(client_final).await?;
                client.verify_server_final(&server_final).map_err(|e| sasl(&self.addr, e.message))
            }
        }
    }

    async fn sasl_round(&mut self, token: Vec<u8>) -> Result<Bytes, UpstreamError> {
        let version = self.version_of::<SaslAuthenticateRequest>().unwrap_or(0);
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let response: SaslAuthenticateResponse = self.send(version, &request).await?;
        if response.error_code != 0 {
            let message = response.error_message.map(|m| m.to_string()).unwrap_or_default();
            return Err(UpstreamError::Sasl {
                addr: self.addr.clone(),
                message: format!("error {}: {message}", response.error_code),
            });
        }
        Ok(response.auth_bytes)
    }

    fn protocol(&self, m: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::Protocol { addr: self.addr.clone(), message: m.to_string() }
    }
}

/// Reads one size-prefixed frame; the size is checked before anything is allocated.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Bytes, String> {
    let size = r.read_i32().await.map_err(|e| e.to_string())?;
    if size < 0 || size as usize > UPSTREAM_FRAME_BYTES_MAX {
        return Err(format!("response size {size} outside 0..={UPSTREAM_FRAME_BYTES_MAX}"));
    }
    let mut body = vec![0u8; size as usize];
    r.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    Ok(Bytes::from(body))
}

/// A request on its way up: the encoded frame, and where its response goes (none
/// for Produce with acks=0, which the upstream does not answer).
struct Outgoing {
    frame: Bytes,
    reply: Option<(i32, oneshot::Sender<Bytes>)>,
}

/// One client connection's path to one upstream broker. Requests are written in
/// the order [`Link::send`] is called, and responses come back in that order, as
/// Kafka guarantees per connection: correlation ids pass through unchanged.
pub struct Link {
    tx: mpsc::UnboundedSender<Outgoing>,
}

/// Why a forwarded request got no response: the client connection closes, as it
/// would have if it had been connected to the broker directly.
#[derive(Debug, thiserror::Error)]
#[error("the upstream connection closed")]
pub struct LinkClosed;

impl Link {
    /// Starts connecting to `addr` (resolved by `target` once the task runs); requests
    /// sent meanwhile wait in order.
    pub fn open(
        target: impl std::future::Future<Output = Result<String, UpstreamError>> + Send + 'static,
        security: Arc<UpstreamSecurity>,
        conn_id: u64,
    ) -> Link {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let connected = match target.await {
                Ok(addr) => connect(&addr, &security).await,
                Err(e) => Err(e),
            };
            match connected {
                Ok(c) => {
                    tracing::debug!(conn = conn_id, upstream = %c.addr, "upstream link open");
                    if let Err(e) = run_link(c, rx).await {
                        tracing::debug!(conn = conn_id, error = %e, "upstream link ended");
                    }
                }
                Err(e) => tracing::warn!(conn = conn_id, error = %e, "cannot reach the upstream broker"),
            }
        });
        Link { tx }
    }

    /// Queues a frame; the receiver gets the response frame (header included), or
    /// an error when the link dies first.
    pub fn send(
        &self,
        frame: Bytes,
        correlation_id: i32,
        expects_response: bool,
    ) -> Result<Option<oneshot::Receiver<Bytes>>, LinkClosed> {
        let (reply, rx) = if expects_response {
            let (tx, rx) = oneshot::channel();
            (Some((correlation_id, tx)), Some(rx))
        } else {
            (None, None)
        };
        self.tx.send(Outgoing { frame, reply }).map_err(|_| LinkClosed)?;
        Ok(rx)
    }
}

type Pending = Arc<Mutex<VecDeque<(i32, oneshot::Sender<Bytes>)>>>;

/// Writes requests and reads responses until either side ends; then every waiting
/// request is dropped, which its client connection sees as the link closing.
async fn run_link(c: Connected, mut rx: mpsc::UnboundedReceiver<Outgoing>) -> Result<(), String> {
    let Connected { io, .. } = c;
    let (r, mut w) = tokio::io::split(io);
    let pending: Pending = Arc::default();
    let reader = {
        let pending = pending.clone();
        async move {
            let mut r = BufReader::with_capacity(READ_BUFFER_BYTES, r);
            loop {
                let frame = read_frame(&mut r).await?;
                let correlation_id = frame.clone().try_get_i32().map_err(|_| "a response without a header")?;
                let next = pending.lock().expect("pending lock").pop_front();
                match next {
                    Some((expected, reply)) if expected == correlation_id => {
                        let _ = reply.send(frame);
                    }
                    Some((expected, _)) => {
                        return Err(format!("response correlation id {correlation_id}, expected {expected}"))
                    }
                    None => return Err(format!("an unrequested response (correlation id {correlation_id})")),
                }
            }
        }
    };
    let writer = async move {
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            // take whatever else is queued, then flush once
            while let Some(out) = next {
                if let Some(reply) = out.reply {
                    pending.lock().expect("pending lock").push_back(reply);
                }
                w.write_all(&out.frame).await.map_err(|e| e.to_string())?;
                next = rx.try_recv().ok();
            }
            w.flush().await.map_err(|e| e.to_string())?;
        }
        let _ = w.shutdown().await;
        Ok::<(), String>(())
    };
    tokio::select! {
        r = reader => r,
        w = writer => w,
    }
}
