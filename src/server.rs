//! The process lifecycle: open the data directory (recovery), bind the admin
//! endpoint and the listeners, accept connections, run maintenance, and on
//! SIGTERM/SIGINT stop accepting, drain in-flight requests, flush, and record a
//! clean shutdown.
//!
//! Shutdown follows mini-redis: one broadcast (`watch`) tells every task to stop;
//! every connection task holds a sender clone, and the server waits for all of
//! them to be dropped.

use crate::admin::{self, Health};
use crate::broker::Broker;
use crate::config::Config;
use crate::config::SecurityProtocol;
use crate::metrics::Metrics;
use crate::middleware::{build_stack, ConnInfo, Core};
use crate::net::connection::{self, InFlight};
use crate::net::tls::TlsSource;
use crate::proxy::addressing::ListenerAddressing;
use crate::proxy::config::AddressingMode;
use crate::proxy::Proxy;
use crate::quota::QuotaManager;
use crate::router::ApiTable;
use crate::security::ssl_principal::{subject_dn, PrincipalMapper};
use crate::security::{Principal, Security};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

/// How often flush.ms and pending maintenance are checked.
const MAINTENANCE_TICK: Duration = Duration::from_secs(1);
/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Granularity of group timers (sessions, rebalance deadlines).
const GROUP_TICK: Duration = Duration::from_millis(100);
/// How often certificate files and the credential store (`gregor user`) are checked for changes.
const SECURITY_RELOAD_TICK: Duration = Duration::from_secs(1);
/// Proxy mode: requests one client connection may have in flight upstream (Kafka
/// clients pipeline: librdkafka up to 1,000,000 by default, the Java client 5).
const PROXY_IN_FLIGHT_MAX: usize = 64;
/// Broker requests unanswered per connection. Only one runs its ordered part at a
/// time and a produce's records are appended (and dropped) before it waits, so
/// what waits is little more than a response: enough for acks=all produces of
/// clients that pipeline (librdkafka, unless idempotent) to overlap their waits.
const BROKER_IN_FLIGHT_MAX: usize = 32;

/// A started server: its bound addresses and the handle that stops it.
pub struct RunningServer {
    /// The broker core; `None` in proxy mode.
    pub broker: Option<Arc<Broker>>,
    /// The gateway's view of the upstream; `None` in broker mode.
    pub proxy: Option<Arc<Proxy>>,
    /// Credentials and ACLs, as the handlers see them.
    pub security: Arc<Security>,
    /// Client quotas: `apply_config` takes a reloaded config's `quotas:`.
    pub quotas: Arc<QuotaManager>,
    /// (listener name, bound address), in config order.
    pub listeners: Vec<(String, SocketAddr)>,
    pub admin: SocketAddr,
    health: Arc<Health>,
    shutdown_tx: watch::Sender<bool>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
    drain: Duration,
}

/// Runs until SIGTERM/SIGINT, then shuts down cleanly.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let server = start(config).await?;
    wait_for_signal().await;
    server.shutdown().await
}

/// Recovers the data directory, binds everything and starts serving.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    crate::alloc::check_overcommit();
    let config = Arc::new(config);
    let health = Arc::new(Health::default());
    let admin =
        TcpListener::bind(config.admin.bind).await.with_context(|| format!("admin.bind {}", config.admin.bind))?;
    let admin_addr = admin.local_addr()?;
    tracing::info!(addr = %admin_addr, "admin endpoint listening");
    tokio::spawn(admin::serve(admin, health.clone()));

    let core = match &config.proxy {
        Some(_) => Core::Proxy(Arc::new(Proxy::new(config.clone()).context("proxy")?)),
        None => {
            let cfg = config.clone();
            let broker =
                tokio::task::spawn_blocking(move || Broker::open(cfg)).await?.context("opening the data directory")?;
            Core::Broker(broker)
        }
    };
    let (broker, proxy) = match &core {
        Core::Broker(b) => (Some(b.clone()), None),
        Core::Proxy(p) => (None, Some(p.clone())),
    };

    let metrics = Arc::new(Metrics::new(config.admin.metrics));
    let security = Arc::new(Security::open(&config, metrics.clone()).context("loading users and ACLs")?);
    let quotas = Arc::new(QuotaManager::open(&config).context("loading client quotas")?);
    {
        let (broker, quotas) = (broker.clone(), quotas.clone());
        health.set_scrape(Box::new(move || {
            metrics.render(|g| {
                if let Some(broker) = &broker {
                    broker.observe_metrics(g);
                }
                for t in quotas.throttle_snapshot() {
                    g.quota_throttle(
                        t.quota_type,
                        &t.user,
                        &t.client_id,
                        t.throttle_time_ms_total,
                        t.throttled_responses_total,
                    );
                }
            })
        }));
    }

    let mapper =
        Arc::new(PrincipalMapper::parse(&config.broker.ssl_principal_mapping_rules).context("config key `broker`")?);
    let mut bound = Vec::new();
    let mut tls_sources = Vec::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let tls = match &l.tls {
            Some(t) => Some(Arc::new(TlsSource::load(t, format!("listeners[{i}].tls"))?)),
            None => None,
        };
        tls_sources.extend(tls.clone());
        let sock = TcpListener::bind(l.bind).await.with_context(|| format!("listeners[{i}].bind {}", l.bind))?;
        let addr = sock.local_addr()?;
        if let Some(b) = &broker {
            b.set_bound_address(&l.name, addr);
        }
        tracing::info!(listener = %l.name, %addr, security = ?l.security,
            advertised = l.advertised.as_deref().unwrap_or(""), "listening");
        let addressing = proxy.as_ref().map(|p| p.addressing(&l.name).clone());
        let sni = addressing.clone().filter(|a| a.mode == AddressingMode::Sni);
        let name: Arc<str> = Arc::from(l.name.as_str());
        let listener =
            ListenerCtx { name: name.clone(), security: l.security, tls: tls.clone(), target_node: None, sni };
        bound.push((listener, sock, addr));
        // proxy, port mode: a port per upstream node, with the listener's security
        for (node, bind) in addressing.map(|a| a.node_ports()).unwrap_or_default() {
            let sock = TcpListener::bind(bind)
                .await
                .with_context(|| format!("proxy.addressing for listener {}: node {node} port {bind}", l.name))?;
            let addr = sock.local_addr()?;
            let listener = ListenerCtx {
                name: name.clone(),
                security: l.security,
                tls: tls.clone(),
                target_node: Some(node),
                sni: None,
            };
            bound.push((listener, sock, addr));
        }
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(config.limits.connections_max as usize));
    let next_conn_id = Arc::new(AtomicU64::new(1));
    let mut listeners = Vec::new();
    for (listener, sock, addr) in bound {
        if listener.target_node.is_none() {
            listeners.push((listener.name.to_string(), addr));
        }
        let ctx = AcceptCtx {
            core: core.clone(),
            security: security.clone(),
            quotas: quotas.clone(),
            mapper: mapper.clone(),
            listener,
            permits: permits.clone(),
            next_conn_id: next_conn_id.clone(),
            shutdown: shutdown_rx.clone(),
            done: done_tx.clone(),
            frame_bytes_max: config.limits.frame_bytes_max,
            log_connections: config.log.connections,
        };
        tokio::spawn(accept_loop(sock, ctx));
    }
    if let Some(broker) = &broker {
        tokio::spawn(maintenance(broker.clone(), shutdown_rx.clone()));
        tokio::spawn(group_ticker(broker.clone(), shutdown_rx.clone()));
    }
    tokio::spawn(quota_reloader(quotas.clone(), shutdown_rx.clone()));
    let reloader =
        security_reloader(config.clone(), security.clone(), quotas.clone(), tls_sources, shutdown_rx.clone());
    tokio::spawn(reloader);
    match (&broker, &proxy) {
        (Some(broker), _) if config.cluster.is_some() => {
            let cluster = start_cluster(&config, broker, &listeners, &security, &quotas).await?;
            // ready once registered with the active controller and serving its image
            let (health, broker) = (health.clone(), broker.clone());
            tokio::spawn(async move {
                while !cluster.caught_up() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                health.set_ready(true);
                let cluster_id = broker.cluster_id();
                tracing::info!(node_id = cluster.id, %cluster_id, controller = ?cluster.controller_id(), "gregor is ready");
            });
        }
        (Some(broker), _) => {
            health.set_ready(true);
            tracing::info!(node_id = config.node_id, cluster_id = %broker.cluster_id(), "gregor is ready");
        }
        (None, Some(proxy)) => {
            tokio::spawn(proxy.clone().discover(shutdown_rx));
            // ready once the upstream has been reached: until then connections are refused
            let (proxy, health) = (proxy.clone(), health.clone());
            tokio::spawn(async move {
                proxy.wait_discovered().await;
                health.set_ready(true);
                tracing::info!(upstream_brokers = ?proxy.nodes(), "gregor gateway is ready");
            });
        }
        (None, None) => unreachable!("a broker or a proxy"),
    }
    let drain = Duration::from_millis(config.limits.shutdown_drain_ms);
    Ok(RunningServer {
        broker,
        proxy,
        security,
        quotas,
        listeners,
        admin: admin_addr,
        health,
        shutdown_tx,
        done_tx,
        done_rx,
        drain,
    })
}

/// Joins the metadata quorum and starts what a cluster member runs beside its
/// listeners: the controller endpoint, the replica manager, heartbeats and the
/// controller's duties (when it is the active one).
async fn start_cluster(
    config: &Config,
    broker: &Arc<Broker>,
    listeners: &[(String, std::net::SocketAddr)],
    security: &Arc<Security>,
    quotas: &Arc<QuotaManager>,
) -> anyhow::Result<Arc<crate::cluster::Cluster>> {
    use crate::cluster::image::Endpoint;
    let c = config.cluster.as_ref().expect("cluster config");
    let (cluster, endpoint) = crate::cluster::Cluster::start(config.node_id, c, &config.broker, &config.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("cluster: {e}"))?;
    if broker.cluster.set(cluster.clone()).is_err() {
        anyhow::bail!("the cluster was started twice");
    }
    tokio::spawn(crate::cluster::rpc::serve(endpoint, cluster.clone()));
    // users, ACLs and quotas set online: committed to and taken from the metadata log
    let log: Arc<dyn crate::cluster::access::AccessLog> = cluster.clone();
    security.credentials.attach(log.clone());
    security.acls.attach(log.clone());
    quotas.attach(log);
    let (credentials, security, quotas) = (security.credentials.clone(), security.clone(), quotas.clone());
    tokio::spawn(cluster.clone().follow_access(move |access| {
        credentials.sync(access);
        security.acls.sync(access);
        quotas.sync(access);
    }));
    let replication = crate::cluster::replication::Replication::new(cluster.clone(), broker.clone())?;
    tokio::spawn(replication.run());
    tokio::spawn(cluster.clone().controller_loop());
    let mut endpoints = Vec::new();
    for (name, bound) in listeners {
        let l = config.listeners.iter().find(|l| &l.name == name).expect("bound from the config");
        let (host, port) = match &l.advertised {
            Some(a) => crate::config::parse_host_port(a).map_err(anyhow::Error::msg)?,
            None => (bound.ip().to_string(), bound.port()),
        };
        endpoints.push(Endpoint { listener: name.clone(), host, port });
    }
    tokio::spawn(cluster.clone().heartbeat_loop(endpoints, config.broker.broker_rack.clone()));
    Ok(cluster)
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (bounded by
    /// `limits.shutdown_drain_ms`), flushes, and records a clean shutdown. A
    /// cluster member first hands its leaderships to other ISR members.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let RunningServer { broker, health, shutdown_tx, done_tx, mut done_rx, drain, .. } = self;
        health.set_ready(false);
        if let Some(cluster) = broker.as_ref().and_then(|b| b.cluster.get()) {
            cluster.controlled_shutdown().await;
        }
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        let _ = shutdown_tx.send(true);
        drop(done_tx);
        if tokio::time::timeout(drain, done_rx.recv()).await.is_err() {
            tracing::warn!(drain_ms = drain.as_millis() as u64, "drain deadline passed with connections still busy");
        }
        if let Some(broker) = broker {
            tokio::task::spawn_blocking(move || broker.shutdown()).await??;
        }
        Ok(())
    }
}

/// What a connection needs to know about the listener it arrived on.
struct ListenerCtx {
    name: Arc<str>,
    security: SecurityProtocol,
    tls: Option<Arc<TlsSource>>,
    /// Proxy, port mode: the upstream node this port stands for.
    target_node: Option<i32>,
    /// Proxy, SNI mode: the TLS server name picks the upstream node.
    sni: Option<ListenerAddressing>,
}

struct AcceptCtx {
    core: Core,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
    /// ssl.principal.mapping.rules, for client certificates.
    mapper: Arc<PrincipalMapper>,
    listener: ListenerCtx,
    permits: Arc<Semaphore>,
    next_conn_id: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
    /// Held by every connection task; the server waits until all are dropped.
    done: mpsc::Sender<()>,
    frame_bytes_max: u32,
    /// `log.connections`: an info line per connection opened and closed.
    log_connections: bool,
}

async fn accept_loop(sock: TcpListener, ctx: AcceptCtx) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = sock.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // e.g. EMFILE: back off instead of spinning
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = ctx.permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached (limits.connections_max); closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let id = ctx.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let mut conn = ConnInfo::new(ctx.listener.name.clone(), peer, id);
        conn.security = ctx.listener.security;
        conn.target_node = ctx.listener.target_node;
        let (core, security, mapper) = (ctx.core.clone(), ctx.security.clone(), ctx.mapper.clone());
        let quotas = ctx.quotas.clone();
        let tls = ctx.listener.tls.as_ref().map(|t| t.acceptor());
        let sni = ctx.listener.sni.clone();
        let (shutdown, done, max) = (ctx.shutdown.clone(), ctx.done.clone(), ctx.frame_bytes_max);
        let log_connections = ctx.log_connections;
        tokio::spawn(async move {
            let opened = std::time::Instant::now();
            let listener = conn.listener.clone();
            security.metrics.connection_opened(&listener);
            if log_connections {
                tracing::info!(conn = id, client = %peer, %listener, "connection opened");
            } else {
                tracing::debug!(conn = id, client = %peer, %listener, "connection opened");
            }
            let metrics = security.metrics.clone();
            let served = Served { core, security, quotas, shutdown, frame_bytes_max: max };
            let principal = match tls {
                None => served.serve(stream, Arc::new(conn)).await,
                Some(acceptor) => match tls_handshake(acceptor, stream, &conn, &mapper, &served.security).await {
                    Some((stream, principal)) => {
                        conn.tls_principal = principal;
                        if let (Some(sni), Some(name)) = (&sni, stream.get_ref().1.server_name()) {
                            conn.target_node = sni.node_for_server_name(name);
                        }
                        served.serve(stream, Arc::new(conn)).await
                    }
                    None => None,
                },
            };
            metrics.connection_closed(&listener);
            let principal = principal.map(|p| p.to_string()).unwrap_or_else(|| "(no TLS session)".into());
            let duration_ms = opened.elapsed().as_millis() as u64;
            if log_connections {
                tracing::info!(conn = id, client = %peer, %listener, %principal, duration_ms, "connection closed");
            } else {
                tracing::debug!(conn = id, client = %peer, %listener, %principal, duration_ms, "connection closed");
            }
            drop(permit);
            drop(done);
        });
    }
}

/// What serving one accepted connection needs.
struct Served {
    core: Core,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
    shutdown: watch::Receiver<bool>,
    frame_bytes_max: u32,
}

impl Served {
    /// Runs the connection's stack until it ends; its principal, for the close log.
    /// A gateway that has not reached the upstream yet closes the connection at once
    /// (it cannot say which versions it speaks), as a broker still starting would.
    async fn serve<IO>(self, io: IO, conn: Arc<ConnInfo>) -> Option<Principal>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (table, in_flight) = match &self.core {
            Core::Broker(_) => (ApiTable::broker_shared(), InFlight::Ordered(BROKER_IN_FLIGHT_MAX)),
            Core::Proxy(p) => match p.table() {
                Some(t) => (t, InFlight::Any(PROXY_IN_FLIGHT_MAX)),
                None => {
                    tracing::debug!(conn = conn.id, "closing: the upstream cluster has not been reached yet");
                    return Some(conn.principal());
                }
            },
        };
        let svc = build_stack(&self.core, self.security, self.quotas, conn.clone(), table);
        connection::serve(io, svc, self.frame_bytes_max, in_flight, self.shutdown, &conn).await;
        Some(conn.principal())
    }
}

/// A TLS handshake bounded in time, and the principal of a verified client
/// certificate. `None` when the connection must close.
async fn tls_handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    conn: &ConnInfo,
    mapper: &PrincipalMapper,
    security: &Security,
) -> Option<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, Option<Principal>)> {
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        // a bare TCP connect-and-close (port probes, load balancer health checks)
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!(conn = conn.id, peer = %conn.peer, "connection closed before the TLS handshake");
            return None;
        }
        Ok(Err(e)) => {
            tracing::warn!(conn = conn.id, peer = %conn.peer, listener = %conn.listener, error = %e,
                "TLS handshake failed");
            security.audit_authentication(conn, "SSL", None, Err(&format!("TLS handshake failed: {e}")));
            return None;
        }
        Err(_) => {
            tracing::warn!(conn = conn.id, peer = %conn.peer, "TLS handshake timed out");
            return None;
        }
    };
    let Some(cert) = stream.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
        return Some((stream, None));
    };
    let mapped = subject_dn(cert.as_ref()).and_then(|dn| mapper.map(&dn));
    match mapped {
        Ok(name) => {
            let principal = Principal::user(name);
            security.audit_authentication(conn, "SSL", Some(&principal), Ok(()));
            Some((stream, Some(principal)))
        }
        Err(e) => {
            tracing::warn!(conn = conn.id, peer = %conn.peer, error = %e, "client certificate has no principal");
            security.audit_authentication(conn, "SSL", None, Err(&e.to_string()));
            None
        }
    }
}

async fn maintenance(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let retention_every = Duration::from_millis(broker.config.broker.log_retention_check_interval_ms as u64);
    let mut last_retention = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(MAINTENANCE_TICK);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let retention = last_retention.elapsed() >= retention_every;
        if retention {
            last_retention = tokio::time::Instant::now();
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.tick(retention)).await;
    }
}

/// Drives group timers: session expiry, rebalance and initial-delay deadlines.
async fn group_ticker(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let expire_every = Duration::from_millis(broker.config.broker.offsets_retention_check_interval_ms as u64);
    let mut last_expiry = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(GROUP_TICK);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let expire = last_expiry.elapsed() >= expire_every;
        if expire {
            last_expiry = tokio::time::Instant::now();
        }
        broker.groups.tick(&broker, crate::time::now_ms(), expire);
    }
}

/// Re-reads what may change under a running server: certificate files, the
/// credential store and the ACL file, when they change and on SIGHUP; on SIGHUP also
/// the config file's users, super users, ACLs and authorizer. A broken file keeps the
/// previous state in force and is reported once, not every tick.
async fn security_reloader(
    config: Arc<Config>,
    security: Arc<Security>,
    quotas: Arc<QuotaManager>,
    tls: Vec<Arc<TlsSource>>,
    mut shutdown: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    let mut tick = tokio::time::interval(SECURITY_RELOAD_TICK);
    let mut last_errors: Vec<Option<String>> = vec![None; tls.len() + 2];
    loop {
        let forced = tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => false,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP received: re-reading the config file, certificates, the credential store and the ACL file");
                true
            }
        };
        if forced {
            let (config, security, quotas) = (config.clone(), security.clone(), quotas.clone());
            match tokio::task::spawn_blocking(move || reload_config(&config, &security, &quotas)).await {
                Ok(Ok(summary)) => tracing::info!("{summary}"),
                Ok(Err(e)) => tracing::warn!(
                    error = format!("{e:#}"),
                    "config not reloaded; the previous users, ACLs and quotas stay in force"
                ),
                Err(_) => {}
            }
        }
        let (store, sources, shared) = (security.credentials.clone(), tls.clone(), security.clone());
        let Ok(results) = tokio::task::spawn_blocking(move || {
            let mut results: Vec<Result<bool, String>> =
                sources.iter().map(|t| t.reload(forced).map_err(|e| e.to_string())).collect();
            results.push(store.reload_if_changed().map_err(|e| e.to_string()));
            results.push(shared.acls.reload_if_changed().map_err(|e| e.to_string()));
            results
        })
        .await
        else {
            continue;
        };
        for (i, result) in results.into_iter().enumerate() {
            let what = match i.checked_sub(tls.len()) {
                None => "TLS certificates",
                Some(0) => "credential store",
                Some(_) => "ACL file",
            };
            match result {
                Ok(changed) => {
                    if changed {
                        tracing::info!("{what} reloaded");
                    }
                    last_errors[i] = None;
                }
                Err(message) => {
                    if last_errors[i].as_deref() != Some(message.as_str()) {
                        tracing::warn!(error = %message, "{what} not reloaded; the previous ones stay in force");
                    }
                    last_errors[i] = Some(message);
                }
            }
        }
    }
}

/// SIGHUP: the config file's users, super users, ACLs, authorizer and quotas take
/// effect without a restart. Everything is validated before anything is applied (the
/// config load checks quotas; users, whose password files are read, go first); other
/// keys take effect at the next start, which the summary says when they changed.
fn reload_config(running: &Config, security: &Security, quotas: &QuotaManager) -> anyhow::Result<String> {
    let Some(path) = &running.source else {
        return Ok("config: running on the embedded default, nothing to reload".into());
    };
    let fresh = Config::load(Some(path), std::env::vars())?;
    security.acls.check_config(&fresh).context("acls")?;
    let users = security.credentials.apply_config(&fresh).context("users")?;
    security.acls.apply_config(&fresh).context("acls")?;
    quotas.apply_config(&fresh.quotas).context("quotas")?;
    let restart_only = restart_only_changes(running, &fresh);
    let mut summary = format!(
        "config reloaded from {}: {users} config users, {} config ACLs, authorizer {:?}, {} config quotas",
        path.display(),
        fresh.acls.len(),
        fresh.authorizer,
        fresh.quotas.len()
    );
    if !restart_only.is_empty() {
        summary += &format!("; changed keys that take effect at restart: {}", restart_only.join(", "));
    }
    Ok(summary)
}

/// Top-level config sections that differ and are read only at start.
fn restart_only_changes(running: &Config, fresh: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, a: String, b: String| {
        if a != b {
            changed.push(name);
        }
    };
    check("node_id", format!("{:?}", running.node_id), format!("{:?}", fresh.node_id));
    check("data_dir", format!("{:?}", running.data_dir), format!("{:?}", fresh.data_dir));
    check("listeners", format!("{:?}", running.listeners), format!("{:?}", fresh.listeners));
    check("admin", format!("{:?}", running.admin), format!("{:?}", fresh.admin));
    check("limits", format!("{:?}", running.limits), format!("{:?}", fresh.limits));
    check("log", format!("{:?}", running.log), format!("{:?}", fresh.log));
    check("broker", format!("{:?}", running.broker), format!("{:?}", fresh.broker));
    check("proxy", format!("{:?}", running.proxy), format!("{:?}", fresh.proxy));
    changed
}

/// Re-reads the online quota file (`gregor-quotas.json`) when it changes and on
/// SIGHUP, as the ACL file is; a broken file keeps the previous quotas and is
/// reported once.
async fn quota_reloader(quotas: Arc<QuotaManager>, mut shutdown: watch::Receiver<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    let mut tick = tokio::time::interval(SECURITY_RELOAD_TICK);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
            _ = hangup.recv() => {}
        }
        let q = quotas.clone();
        let Ok(result) = tokio::task::spawn_blocking(move || q.reload_if_changed()).await else { continue };
        match result {
            Ok(_) => last_error = None,
            Err(e) => {
                let message = e.to_string();
                if last_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!(error = %message, "quota file not reloaded; the previous quotas stay in force");
                }
                last_error = Some(message);
            }
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
