//! The controller endpoint: Raft's own RPCs between voters, and the brokers'
//! heartbeats and metadata proposals to the active controller. One TCP listener per
//! node (its entry in `cluster.voters`); frames are `[len u32][json]`, one
//! response per request, in order.

use super::image::{Command, Endpoint, Outcome};
use super::{Cluster, TypeConfig};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on one frame: a snapshot of a large image fits, a hostile length does not.
const FRAME_BYTES_MAX: usize = 256 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

type NodeId = u64;

#[derive(Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// Broker → active controller, every `broker.heartbeat.interval.ms`.
    Heartbeat {
        id: i32,
        incarnation: uuid::Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// Any node → active controller: a metadata change to commit.
    Propose(Command),
}

#[derive(Serialize, Deserialize)]
pub enum Response {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    HeartbeatAck,
    /// Committed at `index` with this outcome.
    Proposed {
        index: u64,
        outcome: Outcome,
    },
    /// This node is not the active controller; `leader` is, when known.
    NotController {
        leader: Option<NodeId>,
    },
    Failed(String),
}

async fn write_frame<T: Serialize>(s: &mut TcpStream, v: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    s.write_all(&buf).await
}

async fn read_frame<T: for<'de> Deserialize<'de>>(s: &mut TcpStream) -> std::io::Result<T> {
    let len = s.read_u32().await? as usize;
    if len > FRAME_BYTES_MAX {
        return Err(std::io::Error::other(format!("controller frame of {len} bytes is over the limit")));
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// Serves the controller endpoint until the process ends.
pub async fn serve(listener: TcpListener, cluster: Arc<Cluster>) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "controller endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let cluster = cluster.clone();
        tokio::spawn(async move {
            loop {
                let req: Request = match read_frame(&mut stream).await {
                    Ok(r) => r,
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::UnexpectedEof {
                            tracing::debug!(%peer, error = %e, "controller connection closed");
                        }
                        return;
                    }
                };
                let resp = handle(&cluster, req).await;
                if write_frame(&mut stream, &resp).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn handle(cluster: &Arc<Cluster>, req: Request) -> Response {
    match req {
        Request::Append(r) => Response::Append(cluster.raft.append_entries(r).await),
        Request::Vote(r) => Response::Vote(cluster.raft.vote(r).await),
        Request::Snapshot(r) => Response::Snapshot(cluster.raft.install_snapshot(r).await),
        Request::Heartbeat { id, incarnation, endpoints, rack } => {
            match cluster.on_heartbeat(id, incarnation, endpoints, rack).await {
                Ok(()) => Response::HeartbeatAck,
                Err(leader) => Response::NotController { leader },
            }
        }
        Request::Propose(cmd) => match cluster.propose_here(cmd).await {
            Ok((index, outcome)) => Response::Proposed { index, outcome },
            Err(super::ProposeError::NotController(leader)) => Response::NotController { leader },
            Err(e) => Response::Failed(e.to_string()),
        },
    }
}

/// One persistent connection to a peer's controller endpoint, redialled on failure.
pub struct Peer {
    addr: String,
    stream: Option<TcpStream>,
}

impl Peer {
    pub fn new(addr: String) -> Peer {
        Peer { addr, stream: None }
    }

    pub async fn call(&mut self, req: &Request, timeout: Duration) -> std::io::Result<Response> {
        let r = tokio::time::timeout(timeout, self.call_inner(req)).await;
        let r =
            r.unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "controller RPC timed out")));
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn call_inner(&mut self, req: &Request) -> std::io::Result<Response> {
        if self.stream.is_none() {
            let s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().expect("connected above");
        write_frame(s, req).await?;
        read_frame(s).await
    }
}

/// Builds openraft's per-peer clients. A voter is reached where this node's
/// `cluster.voters` says, as Kafka reaches `controller.quorum.voters`, not at the
/// address the membership recorded when the quorum was formed (another node's
/// view: behind NAT or a relay the two differ).
pub struct Network {
    pub voters: std::collections::BTreeMap<NodeId, String>,
}

pub struct PeerNetwork {
    target: NodeId,
    peer: Peer,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerNetwork {
        let addr = self.voters.get(&target).unwrap_or(&node.addr);
        PeerNetwork { target, peer: Peer::new(addr.clone()) }
    }
}

type RpcResult<T, E = openraft::error::Infallible> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerNetwork {
    async fn call(&mut self, req: Request, option: &RPCOption) -> Result<Response, Unreachable> {
        self.peer.call(&req, option.hard_ttl()).await.map_err(|e| Unreachable::new(&e))
    }
}

fn unexpected<E: std::error::Error>(what: &str) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(format!("unexpected response to {what}"))))
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.call(Request::Append(rpc), &option).await? {
            Response::Append(Ok(r)) => Ok(r),
            Response::Append(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected("append")),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.call(Request::Snapshot(rpc), &option).await? {
            Response::Snapshot(Ok(r)) => Ok(r),
            Response::Snapshot(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected("install_snapshot")),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> RpcResult<VoteResponse<NodeId>> {
        match self.call(Request::Vote(rpc), &option).await? {
            Response::Vote(Ok(r)) => Ok(r),
            Response::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected("vote")),
        }
    }
}
