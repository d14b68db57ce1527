//! One client connection to a Kafka broker, blocking: TCP (optionally TLS), the SASL
//! login, ApiVersions negotiation, and typed request/response pairs matched by
//! correlation id. Each request goes out at the highest version both this client
//! (kafka-protocol's range for the message) and the broker support.

use super::error::{ClientError, KafkaError};
use crate::security::sasl::Mechanism;
use crate::security::scram::{wipe, ScramMechanism};
use crate::security::scram_client::ScramClient;
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes, VersionRange};
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Largest response frame accepted; a bigger size prefix means a confused peer.
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// ApiVersions is first sent at this version; brokers that know less answer in v0.
const API_VERSIONS_FIRST: i16 = 3;
const CLIENT_ID: &str = "gregor-cli";

/// How to reach and log in to every broker of the cluster.
#[derive(Debug)]
pub struct ConnectOptions {
    /// Socket connect, read and write timeout.
    pub timeout: Duration,
    /// TLS client configuration for `ssl` and `sasl_ssl`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// SASL login for `sasl_plaintext` and `sasl_ssl`.
    pub sasl: Option<SaslLogin>,
}

pub struct SaslLogin {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: Vec<u8>,
}

// the password never reaches a log or a panic message
impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin").field("mechanism", &self.mechanism).field("username", &self.username).finish()
    }
}

impl Drop for SaslLogin {
    fn drop(&mut self) {
        wipe(&mut self.password);
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// An open, authenticated connection that knows the broker's version ranges.
pub struct Connection {
    /// host:port as dialled, for messages.
    addr: String,
    stream: Box<dyn Stream>,
    /// The broker's advertised range per API key.
    versions: HashMap<i16, VersionRange>,
    next_correlation_id: i32,
}

impl Connection {
    /// Connects, negotiates versions and logs in as `options` say.
    pub fn open(addr: &str, options: &ConnectOptions) -> Result<Connection, ClientError> {
        let tcp = dial(addr, options.timeout)?;
        let stream: Box<dyn Stream> = match &options.tls {
            Some(config) => Box::new(tls_stream(addr, tcp, config.clone())?),
            None => Box::new(tcp),
        };
        let mut conn = Connection { addr: addr.to_string(), stream, versions: HashMap::new(), next_correlation_id: 1 };
        conn.negotiate_versions()?;
        if let Some(login) = &options.sasl {
            conn.authenticate(login)?;
        }
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The highest version of `R` both sides speak, if any.
    pub fn version_of<R: Request>(&self) -> Option<i16> {
        let theirs = self.versions.get(&R::KEY)?;
        let both = theirs.intersect(&R::VERSIONS);
        (!both.is_empty()).then_some(both.max)
    }

    /// Like [`version_of`](Self::version_of), but an error naming the API when none.
    pub fn version<R: Request>(&self) -> Result<i16, ClientError> {
        self.version_of::<R>()
            .ok_or_else(|| ClientError::Unsupported { addr: self.addr.clone(), api: api_name(R::KEY) })
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub fn send<R: Request>(&mut self, request: &R) -> Result<R::Response, ClientError> {
        let version = self.version::<R>()?;
        self.send_at(version, request)
    }

    /// Sends `request` at `version` (which the caller built it for).
    pub fn send_at<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response, ClientError> {
        let mut body = self.exchange::<R>(version, request)?;
        let response = R::Response::decode(&mut body, version).map_err(|e| self.protocol(R::KEY, version, e))?;
        Ok(response)
    }

    /// Writes the request and returns the response body after its header.
    fn exchange<R: Request>(&mut self, version: i16, request: &R) -> Result<Bytes, ClientError> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| self.protocol(R::KEY, version, "unknown API key"))?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        header
            .encode(&mut frame, api.request_header_version(version))
            .map_err(|e| self.protocol(R::KEY, version, e))?;
        request.encode(&mut frame, version).map_err(|e| self.protocol(R::KEY, version, e))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&frame).and_then(|()| self.stream.flush()).map_err(|e| self.io(e))?;
        let mut body = self.read_frame()?;
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version))
            .map_err(|e| self.protocol(R::KEY, version, e))?;
        if header.correlation_id != correlation_id {
            let got = header.correlation_id;
            return Err(self.protocol(R::KEY, version, format!("correlation id {got}, expected {correlation_id}")));
        }
        Ok(body)
    }

    fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(|e| self.io(e))?;
        let size = i32::from_be_bytes(size);
        if size < 0 || size as usize > RESPONSE_BYTES_MAX {
            return Err(ClientError::Protocol {
                addr: self.addr.clone(),
                message: format!("response size {size} outside 0..={RESPONSE_BYTES_MAX}"),
            });
        }
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).map_err(|e| self.io(e))?;
        Ok(Bytes::from(body))
    }

    /// ApiVersions at v3; a broker that knows less answers UNSUPPORTED_VERSION in the v0
    /// format with its ranges, which is all we need.
    fn negotiate_versions(&mut self) -> Result<(), ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("gregor-cli"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let body = self.exchange(API_VERSIONS_FIRST, &request)?;
        let error_code = body.clone().try_get_i16().unwrap_or(0);
        let unsupported = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
        let version = if error_code == unsupported { 0 } else { API_VERSIONS_FIRST };
        let response = ApiVersionsResponse::decode(&mut body.clone(), version)
            .map_err(|e| self.protocol(ApiKey::ApiVersions as i16, version, e))?;
        if response.error_code != 0 && response.error_code != unsupported {
            return Err(ClientError::Kafka {
                what: format!("ApiVersions from {}", self.addr),
                error: KafkaError::new(response.error_code, None),
            });
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, VersionRange { min: k.min_version, max: k.max_version }))
            .collect();
        if self.versions.is_empty() {
            return Err(ClientError::Protocol {
                addr: self.addr.clone(),
                message: "ApiVersions listed no APIs".into(),
            });
        }
        Ok(())
    }

    /// SaslHandshake v1+ then SaslAuthenticate rounds (KIP-152).
    fn authenticate(&mut self, login: &SaslLogin) -> Result<(), ClientError> {
        let mechanism = login.mechanism.name();
        let handshake_version = self.version::<SaslHandshakeRequest>()?;
        if handshake_version < 1 {
            return Err(self.sasl("the broker only speaks SaslHandshake v0 (raw tokens), which is not supported"));
        }
        let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let response: SaslHandshakeResponse = self.send_at(handshake_version, &request)?;
        if response.error_code != 0 {
            let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(self.sasl(&format!(
                "{} (the listener enables: {})",
                KafkaError::new(response.error_code, None),
                enabled.join(", ")
            )));
        }
        match ScramMechanism::from_mechanism(login.mechanism) {
            None => {
                let mut token = Vec::with_capacity(login.username.len() * 2 + login.password.len() + 2);
                token.push(0);
                token.extend_from_slice(login.username.as_bytes());
                token.push(0);
                token.extend_from_slice(&login.password);
                let result = self.sasl_round(token.clone());
                wipe(&mut token);
                result.map(drop)
            }
            Some(scram) => {
                let mut client = ScramClient::new(scram, &login.username, &login.password);
                let server_first = self.sasl_round(client.client_first())?;
                let client_final = client.client_final(&server_first).map_err(|e| self.sasl(&e.message))?;
                let server_final = self.sasl_round(client_final)?;
                client.verify_server_final(&server_final).map_err(|e| self.sasl(&e.message))
            }
        }
    }

    fn sasl_round(&mut self, token: Vec<u8>) -> Result<Bytes, ClientError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let response: SaslAuthenticateResponse = self.send(&request)?;
        if response.error_code != 0 {
            let error = KafkaError::new(response.error_code, response.error_message.map(|m| m.to_string()));
            return Err(self.sasl(&error.to_string()));
        }
        Ok(response.auth_bytes)
    }

    fn sasl(&self, message: &str) -> ClientError {
        ClientError::Sasl { addr: self.addr.clone(), message: message.to_string() }
    }

    fn io(&self, e: std::io::Error) -> ClientError {
        let message = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "the broker closed the connection".to_string(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timed out waiting for the broker".into(),
            _ => io_message(&e),
        };
        ClientError::Io { addr: self.addr.clone(), message }
    }

    fn protocol(&self, key: i16, version: i16, e: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol { addr: self.addr.clone(), message: format!("{} v{version}: {e}", api_name(key)) }
    }
}

/// The API's name as Kafka spells it in its docs (`CreateTopics`).
pub fn api_name(key: i16) -> String {
    ApiKey::try_from(key).map(|k| format!("{k:?}")).unwrap_or_else(|_| format!("API {key}"))
}

/// An io error's text without the `(os error N)` suffix.
fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn dial(addr: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    let fail = |message: String| ClientError::Connect { addr: addr.to_string(), message };
    let resolved: Vec<_> = addr.to_socket_addrs().map_err(|e| fail(io_message(&e)))?.collect();
    let mut last = None;
    for socket_addr in resolved {
        match TcpStream::connect_timeout(&socket_addr, timeout) {
            Ok(tcp) => {
                let setup = tcp
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| tcp.set_write_timeout(Some(timeout)))
                    .and_then(|()| tcp.set_nodelay(true));
                setup.map_err(|e| fail(io_message(&e)))?;
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(fail(last.map_or_else(|| "the name resolves to no address".to_string(), |e| io_message(&e))))
}

fn tls_stream(
    addr: &str,
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, ClientError> {
    let host = super::parse::split_host_port(addr).map(|(h, _)| h).unwrap_or(addr);
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| ClientError::Connect { addr: addr.to_string(), message: format!("TLS server name: {e}") })?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| ClientError::Connect { addr: addr.to_string(), message: format!("TLS: {e}") })?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    // finish the handshake here so that certificate problems read as connect errors
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).map_err(|e| ClientError::Connect {
            addr: addr.to_string(),
            message: format!("TLS handshake: {}", io_message(&e)),
        })?;
    }
    Ok(stream)
}
