//! Shared support: request/response framing as a client does it, a blocking
//! client, an in-process server, the real binary as a child process, and record
//! batches.

use bytes::{Bytes, BytesMut};
use gregor::middleware::ConnInfo;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends one request of the given kind on a [`Client`] and returns the matching
/// typed response: `call!(client, Produce, 9, request)`.
#[macro_export]
macro_rules! call {
    ($client:expr, $kind:ident, $v:expr, $req:expr) => {
        match $client.call(
            kafka_protocol::messages::ApiKey::$kind,
            $v,
            kafka_protocol::messages::RequestKind::$kind($req),
        ) {
            kafka_protocol::messages::ResponseKind::$kind(r) => r,
            other => panic!("{} v{}: wrong response kind {other:?}", stringify!($kind), $v),
        }
    };
}

pub const CLIENT_ID: &str = "gregor-protocol-tests";
/// How long any single read waits before a test calls the server stuck.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A frame limit small enough to test "size prefix above the limit" cheaply.
pub const FRAME_BYTES_MAX: u32 = 8 * 1024 * 1024;

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The connection a frame decoded in-process pretends to come from.
pub fn test_conn() -> Arc<ConnInfo> {
    Arc::new(ConnInfo::new(Arc::from("PLAINTEXT"), "127.0.0.1:40000".parse().unwrap(), 1))
}

pub fn request_header(api: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(str_bytes(CLIENT_ID)))
}

/// A request frame as a client encodes it, without the size prefix.
pub fn request_frame(api: ApiKey, version: i16, correlation_id: i32, body: &RequestKind) -> Bytes {
    encode_request_frame(&request_header(api, version, correlation_id), body)
        .unwrap_or_else(|e| panic!("client-side encode of {api:?} v{version}: {e}"))
}

/// Header (at the header version the API and version call for) + body.
pub fn encode_request_frame(header: &RequestHeader, body: &RequestKind) -> anyhow::Result<Bytes> {
    let api = ApiKey::try_from(header.request_api_key).map_err(|_| anyhow::anyhow!("unknown api key"))?;
    let version = header.request_api_version;
    let mut buf = BytesMut::new();
    header.encode(&mut buf, api.request_header_version(version))?;
    body.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

pub fn with_size_prefix(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 4);
    out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
    out.extend_from_slice(frame);
    out
}

/// Decodes a response frame (no size prefix) at `version`: (correlation id, body).
/// Fails unless the body uses up the frame exactly.
pub fn decode_response(api: ApiKey, version: i16, frame: Bytes) -> anyhow::Result<(i32, ResponseKind)> {
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, api.response_header_version(version))?;
    let body = ResponseKind::decode(api, &mut buf, version)?;
    anyhow::ensure!(buf.is_empty(), "{} bytes left after the {api:?} v{version} response body", buf.len());
    Ok((header.correlation_id, body))
}

/// A blocking Kafka client connection, enough to drive one request at a time or
/// pipeline several.
pub struct Client {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream, next_correlation_id: 1 }
    }

    /// Sends one request; returns its correlation id.
    pub fn send(&mut self, api: ApiKey, version: i16, body: &RequestKind) -> i32 {
        let cid = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = request_frame(api, version, cid, body);
        self.send_raw(&with_size_prefix(&frame));
        cid
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Reads the next response and decodes it as `api` at `version`.
    pub fn recv(&mut self, api: ApiKey, version: i16) -> (i32, ResponseKind) {
        let frame = self
            .read_frame()
            .unwrap_or_else(|e| panic!("{api:?} v{version}: reading the response: {e}"))
            .unwrap_or_else(|| panic!("{api:?} v{version}: the broker closed the connection instead of answering"));
        decode_response(api, version, Bytes::from(frame))
            .unwrap_or_else(|e| panic!("{api:?} v{version}: decoding the response: {e}"))
    }

    /// One request, one response; the correlation id must be echoed.
    pub fn call(&mut self, api: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
        let cid = self.send(api, version, &body);
        let (echoed, resp) = self.recv(api, version);
        assert_eq!(echoed, cid, "{api:?} v{version}: correlation id not echoed");
        resp
    }

    /// The next frame's body, or `None` on a clean close between frames.
    pub fn read_frame(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut size = [0u8; 4];
        match self.stream.read_exact(&mut size) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let n = i32::from_be_bytes(size);
        assert!((0..64 << 20).contains(&n), "response size {n} is implausible");
        let mut body = vec![0u8; n as usize];
        self.stream.read_exact(&mut body)?;
        Ok(Some(body))
    }

    /// What the broker did with what was sent: answered (with a frame), or closed.
    pub fn outcome(&mut self) -> Outcome {
        match self.read_frame() {
            Ok(Some(_)) => Outcome::Answered,
            Ok(None) => Outcome::Closed,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Outcome::Closed,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Outcome::Silent
            }
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }

    /// Asserts that nothing arrives for `d` (without consuming anything).
    pub fn assert_silent_for(&mut self, d: Duration, what: &str) {
        self.stream.set_read_timeout(Some(d)).unwrap();
        let mut probe = [0u8; 1];
        match self.stream.peek(&mut probe) {
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            other => panic!("{what}: expected silence for {d:?}, got {other:?}"),
        }
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    }

    pub fn set_read_timeout(&mut self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// A response frame arrived.
    Answered,
    Closed,
    /// Neither within the read timeout.
    Silent,
}

fn config_yaml(data_dir: &Path, bind: &str, admin: &str) -> String {
    format!(
        "node_id: 1\n\
         data_dir: {data}\n\
         listeners:\n  - name: PLAINTEXT\n    bind: {bind}\n    security: plaintext\n\
         admin:\n  bind: {admin}\n\
         limits:\n  frame_bytes_max: {FRAME_BYTES_MAX}\n  shutdown_drain_ms: 2000\n\
         log:\n  level: warn\n\
         broker:\n  group.initial.rebalance.delay.ms: 0\n",
        data = data_dir.display()
    )
}

/// `base` with the top-level keys of `extra` (YAML) merged in.
fn with_extra(base: String, extra: &str) -> String {
    if extra.trim().is_empty() {
        return base;
    }
    let mut merged: serde_norway::Value = serde_norway::from_str(&base).expect("base test config");
    let extra: serde_norway::Value = serde_norway::from_str(extra).expect("extra test config is YAML");
    merge_yaml(&mut merged, extra);
    serde_norway::to_string(&merged).expect("test config")
}

/// Deep merge: mappings merge key by key (so an extra `broker:` adds to the base's),
/// anything else replaces.
fn merge_yaml(base: &mut serde_norway::Value, extra: serde_norway::Value) {
    match (base, extra) {
        (serde_norway::Value::Mapping(b), serde_norway::Value::Mapping(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(existing) => merge_yaml(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, e) => *b = e,
    }
}

/// A server running inside the test process, on ephemeral ports.
pub struct InProcessServer {
    runtime: tokio::runtime::Runtime,
    server: Option<gregor::server::RunningServer>,
    pub addr: SocketAddr,
    /// (name, bound address) of every listener, in config order.
    pub listeners: Vec<(String, SocketAddr)>,
    data: tempfile::TempDir,
    /// The config it runs with, for a restart on the same data directory.
    yaml: String,
}

impl InProcessServer {
    pub fn start() -> InProcessServer {
        InProcessServer::start_with("")
    }

    /// With more top-level config (YAML) merged into the test defaults, e.g. `users:`
    /// or `authorizer:`; a mapping such as `broker:` merges key by key.
    pub fn start_with(extra_yaml: &str) -> InProcessServer {
        InProcessServer::start_custom(|yaml| with_extra(yaml, extra_yaml))
    }

    /// With the test defaults' YAML rewritten by `edit` (e.g. more listeners).
    pub fn start_custom(edit: impl FnOnce(String) -> String) -> InProcessServer {
        let data = tempfile::tempdir().unwrap();
        let yaml = edit(config_yaml(data.path(), "127.0.0.1:0", "127.0.0.1:0"));
        InProcessServer::run(data, yaml)
    }

    fn run(data: tempfile::TempDir, yaml: String) -> InProcessServer {
        let config = gregor::config::Config::from_yaml(&yaml, std::iter::empty()).expect("test config");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let server = runtime.block_on(gregor::server::start(config)).expect("server start");
        let addr = server.listeners[0].1;
        let listeners = server.listeners.clone();
        InProcessServer { runtime, server: Some(server), addr, listeners, data, yaml }
    }

    /// Shuts down cleanly and starts again on the same data directory and config
    /// (ports bound to 0 change: connect again).
    pub fn restart(mut self) -> InProcessServer {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown()).expect("clean shutdown");
        }
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
        let yaml = std::mem::take(&mut self.yaml);
        drop(self);
        InProcessServer::run(data, yaml)
    }

    pub fn cluster_id(&self) -> String {
        self.broker().cluster_id()
    }

    /// The broker core, to check what a request did (or did not) change.
    pub fn broker(&self) -> &std::sync::Arc<gregor::broker::Broker> {
        self.server.as_ref().unwrap().broker.as_ref().expect("a broker, not a proxy")
    }

    /// The server's credentials and ACLs, to check what the admin APIs changed.
    pub fn security(&self) -> std::sync::Arc<gregor::security::Security> {
        self.server.as_ref().unwrap().security.clone()
    }

    /// The server's client quotas, to read the throttle counters.
    pub fn quotas(&self) -> std::sync::Arc<gregor::quota::QuotaManager> {
        self.server.as_ref().unwrap().quotas.clone()
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.runtime.block_on(s.shutdown());
        }
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real `gregor` binary (with its global allocator), killed on drop.
pub struct BinaryServer {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl BinaryServer {
    pub fn start() -> BinaryServer {
        let mut last_error = String::new();
        // a port picked by bind-and-drop may be taken again before the child binds it
        for _ in 0..3 {
            match BinaryServer::try_start() {
                Ok(s) => return s,
                Err(e) => last_error = e,
            }
        }
        panic!("gregor binary did not become ready: {last_error}");
    }

    fn try_start() -> Result<BinaryServer, String> {
        let dir = tempfile::tempdir().unwrap();
        let (port, admin_port) = (free_port(), free_port());
        let yaml =
            config_yaml(&dir.path().join("data"), &format!("127.0.0.1:{port}"), &format!("127.0.0.1:{admin_port}"));
        let config = dir.path().join("gregor.yaml");
        std::fs::write(&config, yaml).unwrap();
        let log = std::fs::File::create(dir.path().join("gregor.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gregor"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut server = BinaryServer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _dir: dir };
        let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !server.is_alive() {
                return Err(format!("exited early: {}", server.log()));
            }
            if http_status(admin, "/readyz") == Some(200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("/readyz not 200 within 20 s: {}", server.log()))
    }

    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// The child's stderr so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("gregor.log")).unwrap_or_default()
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = String::new();
    s.read_to_string(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// One record of a test batch.
pub struct TestRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub timestamp_ms: i64,
}

/// A magic-v2 record batch as a non-idempotent producer writes it.
pub fn record_batch(records: &[TestRecord<'_>], compression: Compression) -> Bytes {
    encode_batch(records, compression, None)
}

/// Who wrote a batch, for the idempotent producer: (producer id, epoch, base sequence).
pub type ProducerStamp = (i64, i16, i32);

/// A batch of `n` small records from an idempotent producer.
pub fn idempotent_batch(n: usize, stamp: ProducerStamp) -> Bytes {
    let values: Vec<String> = (0..n).map(|i| format!("idem-{}-{i}", stamp.2)).collect();
    let recs: Vec<TestRecord> =
        values.iter().map(|v| TestRecord { key: None, value: v.as_bytes(), timestamp_ms: 1_600_000_000_000 }).collect();
    encode_batch(&recs, Compression::None, Some(stamp))
}

fn encode_batch(records: &[TestRecord<'_>], compression: Compression, stamp: Option<ProducerStamp>) -> Bytes {
    // offset - sequence must stay constant within one batch; without a producer the
    // batch's base sequence then comes out as -1 (no sequence)
    let (producer_id, producer_epoch, base_sequence) = stamp.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: r.timestamp_ms,
            key: r.key.map(Bytes::copy_from_slice),
            value: Some(Bytes::copy_from_slice(r.value)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression })
        .expect("record batch encode");
    buf.freeze()
}

/// A small uncompressed batch of `n` records with values `v0`, `v1`, ….
pub fn simple_batch(n: usize, first_timestamp_ms: i64) -> Bytes {
    let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let recs: Vec<TestRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| TestRecord { key: Some(b"k"), value: v.as_bytes(), timestamp_ms: first_timestamp_ms + i as i64 })
        .collect();
    record_batch(&recs, Compression::None)
}
