//! What every librdkafka client of the benchmark shares: base config (address and
//! security settings of its endpoint) and command-line overrides, a context that surfaces librdkafka's own warnings, topic creation and
//! deletion, the metadata warm-up, and a tiny `block_on`.

use crate::security::Endpoint;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Request timeout for admin calls and metadata.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Client-level errors and warnings from librdkafka, printed to stderr (they are how a
/// broker-side problem shows up first) and kept so the report can mention them.
#[derive(Default)]
pub struct ClientLog {
    pub role: &'static str,
    warnings: AtomicU64,
    first: Mutex<Option<String>>,
}

impl ClientLog {
    pub fn new(role: &'static str) -> ClientLog {
        ClientLog { role, ..Default::default() }
    }

    /// `None` when librdkafka had nothing to complain about; otherwise the count and the
    /// first complaint (a run with client warnings is not a clean measurement).
    pub fn summary(&self) -> Option<String> {
        let count = self.warnings.load(Ordering::Relaxed);
        let first = self.first.lock().unwrap().clone().unwrap_or_default();
        (count > 0).then(|| format!("{count} librdkafka {} warnings, first: {first}", self.role))
    }

    fn note(&self, text: String) {
        eprintln!("  [librdkafka {}] {text}", self.role);
        self.warnings.fetch_add(1, Ordering::Relaxed);
        self.first.lock().unwrap().get_or_insert(text);
    }
}

impl ClientContext for ClientLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // syslog order: Emerg = 0 … Warning = 4 … Debug = 7
        if (level as i32) <= RDKafkaLogLevel::Warning as i32 {
            self.note(format!("{level:?} {fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note(format!("error {error}: {reason}"));
    }
}

/// Assign-only consumers need no rebalance callbacks: the defaults do.
impl ConsumerContext for ClientLog {}

/// `--client-set` / `--producer-set` / `--consumer-set` pairs, fixed once at start-up (a global so the
/// many places that build clients need not thread them through).
static OVERRIDES: OnceLock<Overrides> = OnceLock::new();

/// Extra librdkafka settings from the command line, applied last.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Every client, admin included (e.g. CA and credentials of a `--bootstrap` broker).
    pub client: Vec<(String, String)>,
    pub producer: Vec<(String, String)>,
    pub consumer: Vec<(String, String)>,
}

pub fn set_overrides(overrides: Overrides) {
    let _ = OVERRIDES.set(overrides);
}

/// `--replication-factor` of the topics cases create, fixed once at start-up.
static REPLICATION_FACTOR: OnceLock<i32> = OnceLock::new();

pub fn set_replication_factor(rf: i32) {
    let _ = REPLICATION_FACTOR.set(rf);
}

/// Settings common to all clients: where to connect, how to secure and authenticate
/// the connection (the endpoint's settings), then `--client-set`.
pub fn base_config(endpoint: &Endpoint) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &endpoint.bootstrap).set("client.id", "gregor-bench");
    let overrides = OVERRIDES.get_or_init(Overrides::default);
    for (key, value) in endpoint.settings.iter().chain(&overrides.client) {
        config.set(key, value);
    }
    config
}

/// Applies the command line's producer (or consumer) overrides to `config`.
pub fn with_overrides(mut config: ClientConfig, producer: bool) -> ClientConfig {
    let overrides = OVERRIDES.get_or_init(Overrides::default);
    for (key, value) in if producer { &overrides.producer } else { &overrides.consumer } {
        config.set(key, value);
    }
    config
}

/// Creates `name` with `partitions` partitions and waits for the broker's answer.
pub fn create_topic(endpoint: &Endpoint, name: &str, partitions: i32) -> Result<(), String> {
    let rf = *REPLICATION_FACTOR.get_or_init(|| 1);
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    let results = block_on(admin(endpoint)?.create_topics(&[topic], &admin_options()))
        .map_err(|e| format!("CreateTopics {name}: {e}"))?;
    for result in results {
        result.map_err(|(topic, code)| format!("CreateTopics {topic}: broker answered {code:?} ({code})"))?;
    }
    Ok(())
}

/// Deletes topics a case is done with, so disk use and page cache stay at one case's worth.
pub fn delete_topics(endpoint: &Endpoint, names: &[&str]) -> Result<(), String> {
    let results = block_on(admin(endpoint)?.delete_topics(names, &admin_options()))
        .map_err(|e| format!("DeleteTopics {names:?}: {e}"))?;
    for result in results {
        result.map_err(|(topic, code)| format!("DeleteTopics {topic}: broker answered {code:?} ({code})"))?;
    }
    Ok(())
}

fn admin(endpoint: &Endpoint) -> Result<AdminClient<ClientLog>, String> {
    base_config(endpoint).create_with_context(ClientLog::new("admin")).map_err(|e| format!("admin client: {e}"))
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT)).operation_timeout(Some(ADMIN_TIMEOUT))
}

/// Waits until `client` sees `topic` with `partitions` partitions, all with a leader,
/// and has a connection to each leader, so the timed part of a run includes neither the
/// first metadata round trips nor connection setup.
pub fn warm_up<C: ClientContext>(client: &Client<C>, topic: &str, partitions: i32) -> Result<(), String> {
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    loop {
        let metadata =
            client.fetch_metadata(Some(topic), ADMIN_TIMEOUT).map_err(|e| format!("Metadata {topic}: {e}"))?;
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        let state = match found {
            None => "absent".to_string(),
            Some(t) if t.error().is_some() => format!("error {:?}", t.error()),
            Some(t) if t.partitions().len() != partitions as usize => format!("{} partitions", t.partitions().len()),
            Some(t) if t.partitions().iter().any(|p| p.leader() < 0) => "a partition without leader".to_string(),
            Some(_) => return connect_leaders(client, topic, partitions),
        };
        if Instant::now() > deadline {
            return Err(format!("Metadata {topic}: wanted {partitions} partitions with leaders, broker says {state}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// librdkafka talks to the broker it learns from Metadata over a connection of its own
/// (not the bootstrap one), opened when first needed: for a timed producer that is its
/// first batch, which then waits for the TCP, TLS and SASL handshakes (tens of ms with
/// SCRAM, measured as the whole of the latency run's p99). ListOffsets goes to each
/// partition's leader, so asking for the watermarks opens those connections now. In
/// a cluster a leader may not have applied a topic the controller just created:
/// it answers UNKNOWN_TOPIC_OR_PARTITION for a moment, and this asks again, as
/// Kafka clients do.
fn connect_leaders<C: ClientContext>(client: &Client<C>, topic: &str, partitions: i32) -> Result<(), String> {
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    for p in 0..partitions {
        while let Err(e) = client.fetch_watermarks(topic, p, ADMIN_TIMEOUT) {
            if Instant::now() > deadline {
                return Err(format!("ListOffsets {topic}/{p}: {e}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// librdkafka's admin client completes its futures from its own thread, so parking
/// this one until woken is all the executor needed (no async runtime dependency).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// The librdkafka version linked in, e.g. `2.12.1`.
pub fn librdkafka_version() -> String {
    rdkafka::util::get_rdkafka_version().1
}
