//! A gregor cluster: every node is a broker and a voter of the Raft quorum that
//! holds the cluster metadata (KRaft's combined mode), built on openraft.
//!
//! - `image`: the metadata (brokers, topics, partition leaders/epochs/ISRs) and the
//!   commands that change it — pure, applied in log order on every node.
//! - `store`: the Raft log and state machine on disk.
//! - `rpc`: the controller endpoint (Raft RPCs, heartbeats, proposals).
//! - `replication`: what a broker does with the image: opens its replicas, leads or
//!   follows them, fetches from leaders, and asks the controller for ISR changes.
//!
//! The active controller is the Raft leader. It tracks broker heartbeats in memory
//! and fences a broker that misses them for `broker.session.timeout.ms`; the fence
//! is a command, so leadership moves the same way on every node.

pub mod access;
pub mod image;
pub mod replication;
pub mod rpc;
#[cfg(test)]
mod sim;
pub mod store;

use crate::config::{BrokerConfig, ClusterConfig};
use access::{AccessChange, AccessImage};
use image::{Command, Endpoint, Image, Outcome};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

openraft::declare_raft_types!(
    /// openraft's types for the metadata quorum.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// How long a proposal may wait for a controller to exist and commit it.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the active controller checks heartbeats.
const CONTROLLER_TICK: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the active controller")]
    NotController(Option<u64>),
    #[error("no controller committed the change within {0:?}")]
    Timeout(Duration),
    #[error("metadata quorum: {0}")]
    Raft(String),
}

/// Parses `cluster.voters`: `id@host:port` each.
pub fn parse_voters(voters: &[String]) -> Result<BTreeMap<u64, String>, (usize, String)> {
    let mut out = BTreeMap::new();
    for (i, v) in voters.iter().enumerate() {
        let (id, addr) = v.split_once('@').ok_or((i, format!("'{v}' is not id@host:port")))?;
        let id: u64 = id.parse().map_err(|_| (i, format!("'{id}' is not a node id")))?;
        crate::config::parse_host_port(addr).map_err(|e| (i, e))?;
        if out.insert(id, addr.to_string()).is_some() {
            return Err((i, format!("node id {id} is listed twice")));
        }
    }
    Ok(out)
}

#[derive(Default)]
struct ControllerState {
    /// When this node last became the active controller.
    leading: bool,
    last_seen: HashMap<i32, Instant>,
    /// Commands already in flight, so that a burst of heartbeats proposes once.
    in_flight: HashSet<String>,
    last_rebalance: Option<Instant>,
}

pub struct Cluster {
    pub id: i32,
    pub raft: openraft::Raft<TypeConfig>,
    applied: Arc<store::Applied>,
    peers: HashMap<u64, tokio::sync::Mutex<rpc::Peer>>,
    /// New at every start: the controller fences a broker's previous life.
    incarnation: Uuid,
    heartbeat_interval: Duration,
    session_timeout: Duration,
    unclean_election: bool,
    rebalance_interval: Option<Duration>,
    controller: Mutex<ControllerState>,
    /// Set by controlled shutdown: heartbeats stop, so nothing re-registers us.
    stopping: std::sync::atomic::AtomicBool,
}

impl Cluster {
    /// Opens the metadata log, starts the Raft member and the controller endpoint.
    pub async fn start(
        node_id: i32,
        config: &ClusterConfig,
        broker: &BrokerConfig,
        data_dir: &std::path::Path,
    ) -> Result<(Arc<Cluster>, tokio::net::TcpListener), String> {
        let voters = parse_voters(&config.voters).map_err(|(i, e)| format!("cluster.voters[{i}]: {e}"))?;
        let me = node_id as u64;
        let my_addr = voters.get(&me).ok_or_else(|| format!("cluster.voters does not list this node ({node_id})"))?;
        let bind = match config.controller_bind {
            Some(b) => b,
            None => {
                let (host, port) = crate::config::parse_host_port(my_addr)?;
                let ip = host.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                std::net::SocketAddr::new(ip, port)
            }
        };
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| format!("cluster.controller_bind: cannot bind {bind}: {e}"))?;
        let dir = data_dir.join(store::DIR);
        let log = store::LogStore::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (index, _) = tokio::sync::watch::channel(0);
        let applied = Arc::new(store::Applied { image: Default::default(), index });
        let sm = store::StateMachine::open(&dir, applied.clone()).map_err(|e| format!("{}: {e}", dir.display()))?;
        let raft_config = openraft::Config {
            cluster_name: "gregor".into(),
            heartbeat_interval: 150,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| e.to_string())?;
        let raft = openraft::Raft::new(me, Arc::new(raft_config), rpc::Network { voters: voters.clone() }, log, sm)
            .await
            .map_err(|e| format!("metadata quorum: {e}"))?;
        if !raft.is_initialized().await.map_err(|e| e.to_string())? {
            let members: BTreeMap<u64, openraft::BasicNode> =
                voters.iter().map(|(id, addr)| (*id, openraft::BasicNode::new(addr))).collect();
            // every voter proposes the same membership; the ones that lose just follow
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "metadata quorum already initialised");
            }
        }
        let peers = voters
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, addr)| (*id, tokio::sync::Mutex::new(rpc::Peer::new(addr.clone()))))
            .collect();
        let cluster = Arc::new(Cluster {
            id: node_id,
            raft,
            applied,
            peers,
            incarnation: Uuid::new_v4(),
            heartbeat_interval: Duration::from_millis(broker.broker_heartbeat_interval_ms),
            session_timeout: Duration::from_millis(broker.broker_session_timeout_ms),
            unclean_election: broker.unclean_leader_election_enable,
            rebalance_interval: broker
                .auto_leader_rebalance_enable
                .then(|| Duration::from_secs(broker.leader_imbalance_check_interval_seconds)),
            controller: Mutex::new(ControllerState::default()),
            stopping: Default::default(),
        });
        tracing::info!(node = node_id, %bind, voters = voters.len(), "metadata quorum member started");
        Ok((cluster, listener))
    }

    /// The metadata as applied on this node.
    pub fn image(&self) -> Arc<Image> {
        self.applied.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes whenever a command is applied here.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied.index.subscribe()
    }

    /// The active controller, as this node knows it.
    pub fn controller_id(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(|l| l as i32)
    }

    fn is_controller(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(self.id as u64) && m.state == openraft::ServerState::Leader
    }

    /// Whether this node has applied everything the quorum committed (as far as it
    /// knows) and registered itself: `/readyz`.
    pub fn caught_up(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        let image = self.image();
        let registered = image.brokers.get(&self.id).is_some_and(|b| !b.fenced && b.incarnation == self.incarnation);
        m.current_leader.is_some() && registered && image.cluster_id.is_some()
    }

    /// Commits `cmd` on this node, which must be the active controller.
    async fn propose_here(&self, cmd: Command) -> Result<(u64, Outcome), ProposeError> {
        match self.raft.client_write(cmd).await {
            Ok(r) => Ok((r.log_id.index, r.data)),
            Err(e) => match e.forward_to_leader::<openraft::BasicNode>() {
                Some(f) => Err(ProposeError::NotController(f.leader_id)),
                None => Err(ProposeError::Raft(e.to_string())),
            },
        }
    }

    /// Commits `cmd` through the active controller, wherever it is, and returns once
    /// this node has applied it.
    pub async fn propose(&self, cmd: Command) -> Result<Outcome, ProposeError> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            let attempt = match self.controller_id() {
                Some(l) if l == self.id => self.propose_here(cmd.clone()).await,
                Some(l) => self.propose_remote(l as u64, &cmd).await,
                None => Err(ProposeError::NotController(None)),
            };
            match attempt {
                Ok((index, outcome)) => {
                    self.wait_applied(index, deadline).await?;
                    return Ok(outcome);
                }
                Err(ProposeError::NotController(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(ProposeError::NotController(_)) => return Err(ProposeError::Timeout(PROPOSE_TIMEOUT)),
                Err(e) => return Err(e),
            }
        }
    }

    async fn propose_remote(&self, leader: u64, cmd: &Command) -> Result<(u64, Outcome), ProposeError> {
        let Some(peer) = self.peers.get(&leader) else { return Err(ProposeError::NotController(None)) };
        let resp = peer.lock().await.call(&rpc::Request::Propose(cmd.clone()), PROPOSE_TIMEOUT).await;
        match resp {
            Ok(rpc::Response::Proposed { index, outcome }) => Ok((index, outcome)),
            Ok(rpc::Response::NotController { leader }) => Err(ProposeError::NotController(leader)),
            Ok(rpc::Response::Failed(e)) => Err(ProposeError::Raft(e)),
            Ok(_) => Err(ProposeError::Raft("unexpected controller response".into())),
            // the controller may have moved: look again
            Err(_) => Err(ProposeError::NotController(None)),
        }
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ProposeError> {
        let mut rx = self.subscribe();
        let done =
            tokio::time::timeout_at(deadline.into(), rx.wait_for(|i| *i >= index)).await.is_ok_and(|r| r.is_ok());
        if done {
            Ok(())
        } else {
            Err(ProposeError::Timeout(PROPOSE_TIMEOUT))
        }
    }

    /// The active controller's side of a heartbeat: records liveness, and registers
    /// (unfences) the broker when its registration is missing, stale or fenced.
    pub async fn on_heartbeat(
        self: &Arc<Self>,
        id: i32,
        incarnation: Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    ) -> Result<(), Option<u64>> {
        if !self.is_controller() {
            return Err(self.controller_id().map(|l| l as u64));
        }
        let image = self.image();
        let current = image.brokers.get(&id);
        let stale = current
            .is_none_or(|b| b.fenced || b.incarnation != incarnation || b.endpoints != endpoints || b.rack != rack);
        let key = format!("register-{id}");
        {
            let mut c = self.controller.lock().unwrap_or_else(|e| e.into_inner());
            c.last_seen.insert(id, Instant::now());
            if !stale || !c.in_flight.insert(key.clone()) {
                return Ok(());
            }
        }
        let cmd = Command::RegisterBroker { id, incarnation, endpoints, rack };
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.propose_here(cmd).await {
                tracing::debug!(broker = id, error = %e, "registration not committed");
            }
            this.controller.lock().unwrap_or_else(|e| e.into_inner()).in_flight.remove(&key);
        });
        Ok(())
    }

    /// Sends this broker's heartbeat to the active controller, forever.
    pub async fn heartbeat_loop(self: Arc<Self>, endpoints: Vec<Endpoint>, rack: Option<String>) {
        let mut tick = tokio::time::interval(self.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let Some(leader) = self.controller_id() else { continue };
            if leader == self.id {
                let _ = self.on_heartbeat(self.id, self.incarnation, endpoints.clone(), rack.clone()).await;
                continue;
            }
            let Some(peer) = self.peers.get(&(leader as u64)) else { continue };
            let req = rpc::Request::Heartbeat {
                id: self.id,
                incarnation: self.incarnation,
                endpoints: endpoints.clone(),
                rack: rack.clone(),
            };
            if let Err(e) = peer.lock().await.call(&req, self.heartbeat_interval * 4).await {
                tracing::debug!(controller = leader, error = %e, "heartbeat failed");
            }
        }
    }

    /// The active controller's duties: fence brokers that stopped heartbeating, and
    /// move leadership back to preferred replicas.
    pub async fn controller_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(CONTROLLER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let leading = self.is_controller();
            let image = self.image();
            let mut proposals = Vec::new();
            {
                let mut c = self.controller.lock().unwrap_or_else(|e| e.into_inner());
                if !leading {
                    c.leading = false;
                    continue;
                }
                let now = Instant::now();
                if !c.leading {
                    // a new controller gives every broker a full session to reach it
                    c.leading = true;
                    c.last_seen = image.brokers.keys().map(|id| (*id, now)).collect();
                    c.last_rebalance = Some(now);
                }
                if image.cluster_id.is_none() && c.in_flight.insert("init-cluster".into()) {
                    proposals.push(("init-cluster".into(), Command::InitCluster { id: Uuid::new_v4() }));
                }
                for b in image.live_brokers() {
                    let seen = c.last_seen.get(&b.id).copied().unwrap_or(now);
                    if now.duration_since(seen) > self.session_timeout && b.id != self.id {
                        let key = format!("fence-{}", b.id);
                        if c.in_flight.insert(key.clone()) {
                            tracing::warn!(broker = b.id, "broker missed its heartbeats: fencing it");
                            proposals.push((key, Command::FenceBroker { id: b.id, unclean: self.unclean_election }));
                        }
                    }
                }
                if let Some(every) = self.rebalance_interval {
                    if c.last_rebalance.is_none_or(|t| now.duration_since(t) >= every) {
                        c.last_rebalance = Some(now);
                        for (name, t) in &image.topics {
                            for (i, p) in t.partitions.iter().enumerate() {
                                let preferred = p.replicas[0];
                                if p.leader != preferred && p.isr.contains(&preferred) && image.is_live(preferred) {
                                    let cmd = Command::ElectPreferred { topic: name.clone(), partition: i as i32 };
                                    proposals.push((format!("elect-{name}-{i}"), cmd));
                                }
                            }
                        }
                    }
                }
            }
            for (key, cmd) in proposals {
                let this = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = this.propose_here(cmd).await {
                        tracing::debug!(error = %e, "controller proposal not committed");
                    }
                    this.controller.lock().unwrap_or_else(|e| e.into_inner()).in_flight.remove(&key);
                });
            }
        }
    }

    /// Controlled shutdown: this broker's leaderships move to other ISR members
    /// before it stops serving.
    pub async fn controlled_shutdown(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        let cmd = Command::FenceBroker { id: self.id, unclean: false };
        match tokio::time::timeout(Duration::from_secs(10), self.propose(cmd)).await {
            Ok(Ok(_)) => tracing::info!("controlled shutdown: leaderships moved away"),
            Ok(Err(e)) => tracing::warn!(error = %e, "controlled shutdown: could not move leaderships"),
            Err(_) => tracing::warn!("controlled shutdown: timed out moving leaderships"),
        }
    }

    /// `propose` for the broker's synchronous metadata paths (admin APIs and topic
    /// auto-creation, all rare). Needs the multi-threaded runtime.
    pub fn propose_blocking(&self, cmd: Command) -> Result<Outcome, ProposeError> {
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| handle.block_on(self.propose(cmd)))
    }

    pub fn incarnation(&self) -> Uuid {
        self.incarnation
    }

    /// A fresh block of producer ids for this broker, from the metadata log: the
    /// first id of `[first, first + PRODUCER_ID_BLOCK)`. Blocks (it waits for the quorum).
    pub fn allocate_producer_ids(&self) -> Result<i64, ProposeError> {
        match self.propose_blocking(Command::AllocateProducerIds { broker: self.id })? {
            Outcome::ProducerIds { first } => Ok(first),
            other => Err(ProposeError::Raft(format!("producer-id block not allocated: {other:?}"))),
        }
    }

    /// Hands the users, ACLs and quotas to `take` now and whenever an applied command
    /// changes them, forever.
    pub async fn follow_access(self: Arc<Self>, take: impl Fn(&AccessImage) + Send + 'static) {
        let mut applied = self.subscribe();
        let mut last: Option<Arc<AccessImage>> = None;
        loop {
            let access = self.image().access.clone();
            if last.as_ref().is_none_or(|l| !Arc::ptr_eq(l, &access)) {
                take(&access);
                last = Some(access);
            }
            if applied.changed().await.is_err() {
                return;
            }
        }
    }
}

impl access::AccessLog for Cluster {
    fn commit(&self, change: AccessChange) -> Result<Arc<AccessImage>, String> {
        match self.propose_blocking(Command::Access(change)) {
            Ok(Outcome::Applied | Outcome::ProducerIds { .. }) => Ok(self.image().access.clone()),
            Ok(Outcome::Rejected(why)) => Err(why.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}
