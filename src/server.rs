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
use crate::middleware::{build_stack, ConnInfo};
use crate::net::connection;
use crate::security::Security;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

/// How often flush.ms and pending maintenance are checked.
const MAINTENANCE_TICK: Duration = Duration::from_secs(1);
/// Granularity of group timers (sessions, rebalance deadlines).
const GROUP_TICK: Duration = Duration::from_millis(100);
/// How often the credential store file is checked for changes (`gregor user`).
const SECURITY_RELOAD_TICK: Duration = Duration::from_secs(1);

/// A started server: its bound addresses and the handle that stops it.
pub struct RunningServer {
    pub broker: Arc<Broker>,
    /// Credentials and ACLs, as the handlers see them.
    pub security: Arc<Security>,
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

    let cfg = config.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(cfg)).await?.context("opening the data directory")?;

    let security = Arc::new(Security::open(&config).context("loading users and ACLs")?);

    let mut bound = Vec::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let sock = TcpListener::bind(l.bind).await.with_context(|| format!("listeners[{i}].bind {}", l.bind))?;
        let addr = sock.local_addr()?;
        broker.set_bound_address(&l.name, addr);
        tracing::info!(listener = %l.name, %addr, advertised = l.advertised.as_deref().unwrap_or(""), "listening");
        bound.push((Arc::<str>::from(l.name.as_str()), sock, addr));
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(config.limits.connections_max as usize));
    let next_conn_id = Arc::new(AtomicU64::new(1));
    let mut listeners = Vec::new();
    for (name, sock, addr) in bound {
        listeners.push((name.to_string(), addr));
        let ctx = AcceptCtx {
            broker: broker.clone(),
            security: security.clone(),
            listener: name,
            permits: permits.clone(),
            next_conn_id: next_conn_id.clone(),
            shutdown: shutdown_rx.clone(),
            done: done_tx.clone(),
            frame_bytes_max: config.limits.frame_bytes_max,
        };
        tokio::spawn(accept_loop(sock, ctx));
    }
    tokio::spawn(maintenance(broker.clone(), shutdown_rx.clone()));
    tokio::spawn(group_ticker(broker.clone(), shutdown_rx.clone()));
    tokio::spawn(security_reloader(security.clone(), shutdown_rx));
    health.set_ready(true);
    tracing::info!(node_id = config.node_id, cluster_id = %broker.cluster_id, "gregor is ready");
    let drain = Duration::from_millis(config.limits.shutdown_drain_ms);
    Ok(RunningServer { broker, security, listeners, admin: admin_addr, health, shutdown_tx, done_tx, done_rx, drain })
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (bounded by
    /// `limits.shutdown_drain_ms`), flushes, and records a clean shutdown.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let RunningServer { broker, health, shutdown_tx, done_tx, mut done_rx, drain, .. } = self;
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        health.set_ready(false);
        let _ = shutdown_tx.send(true);
        drop(done_tx);
        if tokio::time::timeout(drain, done_rx.recv()).await.is_err() {
            tracing::warn!(drain_ms = drain.as_millis() as u64, "drain deadline passed with connections still busy");
        }
        tokio::task::spawn_blocking(move || broker.shutdown()).await??;
        Ok(())
    }
}

struct AcceptCtx {
    broker: Arc<Broker>,
    security: Arc<Security>,
    listener: Arc<str>,
    permits: Arc<Semaphore>,
    next_conn_id: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
    /// Held by every connection task; the server waits until all are dropped.
    done: mpsc::Sender<()>,
    frame_bytes_max: u32,
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
        let conn = Arc::new(ConnInfo { listener: ctx.listener.clone(), peer, id });
        let svc = build_stack(ctx.broker.clone(), ctx.security.clone(), conn);
        let (shutdown, done, max) = (ctx.shutdown.clone(), ctx.done.clone(), ctx.frame_bytes_max);
        tokio::spawn(async move {
            tracing::debug!(conn = id, %peer, "connection opened");
            connection::serve(stream, svc, max, shutdown, id).await;
            tracing::debug!(conn = id, %peer, "connection closed");
            drop(permit);
            drop(done);
        });
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

/// Re-reads the credential store when its file changes (checked every second) and on
/// SIGHUP, so that `gregor user add` reaches a running broker.
async fn security_reloader(security: Arc<Security>, mut shutdown: watch::Receiver<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    let mut tick = tokio::time::interval(SECURITY_RELOAD_TICK);
    // a broken file would otherwise be reported every second
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
            _ = hangup.recv() => tracing::info!("SIGHUP received: re-reading the credential store"),
        }
        let store = security.credentials.clone();
        let Ok(reloaded) = tokio::task::spawn_blocking(move || store.reload_if_changed()).await else { continue };
        match reloaded {
            Ok(changed) => {
                if changed {
                    tracing::info!("credential store reloaded");
                }
                last_error = None;
            }
            Err(e) => {
                let message = e.to_string();
                if last_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!(error = %message, "credential store not reloaded; the previous users stay in force");
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
