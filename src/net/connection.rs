//! One client connection: read a frame, run it through the stack, write the
//! response, in request order (Kafka's contract).
//!
//! The broker starts a connection's requests one at a time, in order, as Kafka
//! does (appends from one producer connection must not race, and the stack reads
//! connection state such as SASL progress when a request starts): the next starts
//! when the previous one releases the connection's turn. Most release it when they
//! end; an acks=all produce releases it once appended, so that the next request's
//! appends overlap its wait for the ISR (as Redpanda does) instead of queueing
//! behind it: with small batches that wait, not the work, bounds a connection.
//! Responses are still written in request order. The proxy keeps up to a bound of
//! requests in flight: its stack hands each to the upstream in call order.

use super::frame::{read_frame, FrameError};
use crate::middleware::ConnInfo;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tower::{Service, ServiceExt};

/// Read buffer per connection: large enough to take a produce batch in few reads.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How a connection's requests overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlight {
    /// One at a time.
    One,
    /// Up to this many unanswered, each started once the previous released the
    /// connection's turn (`ConnInfo::release_current_turn`).
    Ordered(usize),
    /// Up to this many at once.
    Any(usize),
}

/// Serves one connection until the client leaves, a protocol error closes it, or
/// shutdown is signalled (the in-flight request still completes).
pub async fn serve<IO, S>(
    io: IO,
    mut svc: S,
    frame_bytes_max: u32,
    in_flight: InFlight,
    mut shutdown: watch::Receiver<bool>,
    conn: &Arc<ConnInfo>,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Bytes, Response = Option<Bytes>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: std::fmt::Display + Send + 'static,
{
    match in_flight {
        InFlight::One => {}
        InFlight::Ordered(max) => return serve_pipelined(io, svc, frame_bytes_max, max, true, shutdown, conn).await,
        InFlight::Any(max) => return serve_pipelined(io, svc, frame_bytes_max, max, false, shutdown, conn).await,
    }
    let conn_id = conn.id;
    let (r, mut w) = tokio::io::split(io);
    let mut r = BufReader::with_capacity(READ_BUFFER_BYTES, r);
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            f = read_frame(&mut r, frame_bytes_max) => f,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(FrameError::BadSize { size, max }) => {
                log_bad_size(conn, size, max);
                break;
            }
            Err(e) => {
                tracing::debug!(conn = conn_id, error = %e, "connection read ended");
                break;
            }
        };
        let result = match svc.ready().await {
            Ok(svc) => svc.call(frame).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(bytes)) => {
                // TLS keeps what the socket did not take in its own buffer until a flush
                // (a no-op on plain TCP): without it a large response could sit there
                // while the client waits for it
                if let Err(e) = async {
                    w.write_all(&bytes).await?;
                    w.flush().await
                }
                .await
                {
                    tracing::debug!(conn = conn_id, error = %e, "write failed");
                    break;
                }
                if conn.should_close() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(conn = conn_id, error = %e, "closing connection");
                break;
            }
        }
        // a quota throttle (KIP-219): the response went out; the next request waits
        if let Some(until) = conn.take_mute() {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }
    let _ = w.shutdown().await;
}

/// Reads frames on a task of its own (a frame half read must not be lost when the
/// loop turns to a finished response), keeps up to `in_flight_max` requests in
/// flight, and writes responses in request order. `ordered`: a request starts
/// only once the previous one released the connection's turn.
async fn serve_pipelined<IO, S>(
    io: IO,
    mut svc: S,
    frame_bytes_max: u32,
    in_flight_max: usize,
    ordered: bool,
    mut shutdown: watch::Receiver<bool>,
    conn: &Arc<ConnInfo>,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Bytes, Response = Option<Bytes>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: std::fmt::Display + Send + 'static,
{
    let conn_id = conn.id;
    let (r, mut w) = tokio::io::split(io);
    let (frames_tx, mut frames) = mpsc::channel::<Result<Bytes, FrameError>>(1);
    let reader = tokio::spawn(async move {
        let mut r = BufReader::with_capacity(READ_BUFFER_BYTES, r);
        loop {
            let frame = read_frame(&mut r, frame_bytes_max).await;
            let end = !matches!(frame, Ok(Some(_)));
            let sent = match frame {
                Ok(Some(f)) => frames_tx.send(Ok(f)).await,
                Ok(None) => return,
                Err(e) => frames_tx.send(Err(e)).await,
            };
            if end || sent.is_err() {
                return;
            }
        }
    });
    // each response is awaited on a task so later ones progress meanwhile
    let mut in_flight: VecDeque<tokio::task::JoinHandle<Result<Option<Bytes>, String>>> = VecDeque::new();
    let mut reading = true;
    let mut muted_until: Option<tokio::time::Instant> = None;
    // ordered: the turn of the request started last, until released
    let mut turn: Option<tokio::sync::oneshot::Receiver<()>> = None;
    let mut started: u64 = 0;
    loop {
        if !reading && in_flight.is_empty() {
            break;
        }
        let may_read = reading && in_flight.len() < in_flight_max && muted_until.is_none() && turn.is_none();
        tokio::select! {
            biased;
            _ = shutdown.changed(), if reading => { reading = false; }
            done = async { in_flight.front_mut().expect("non-empty").await }, if !in_flight.is_empty() => {
                in_flight.pop_front();
                match done {
                    Ok(Ok(Some(bytes))) => {
                        if let Err(e) = async { w.write_all(&bytes).await?; w.flush().await }.await {
                            tracing::debug!(conn = conn_id, error = %e, "write failed");
                            break;
                        }
                        if conn.should_close() {
                            break;
                        }
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(conn = conn_id, error = %e, "closing connection");
                        break;
                    }
                    Err(_) => break,
                }
                if let Some(until) = conn.take_mute() {
                    muted_until = Some(until);
                }
            }
            _ = async { tokio::time::sleep_until(muted_until.expect("muted")).await }, if muted_until.is_some() => {
                muted_until = None;
            }
            _ = async { turn.as_mut().expect("a turn").await }, if turn.is_some() => {
                turn = None;
            }
            frame = frames.recv(), if may_read => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(FrameError::BadSize { size, max })) => {
                        // closed once the responses due are written
                        log_bad_size(conn, size, max);
                        reading = false;
                        continue;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(conn = conn_id, error = %e, "connection read ended");
                        reading = false;
                        continue;
                    }
                    None => { reading = false; continue; }
                };
                started += 1;
                let n = started;
                if ordered {
                    turn = Some(conn.take_turn(n));
                }
                let fut = match svc.ready().await {
                    Ok(svc) => svc.call(frame),
                    Err(e) => {
                        tracing::warn!(conn = conn_id, error = %e, "closing connection");
                        break;
                    }
                };
                let c = conn.clone();
                in_flight.push_back(tokio::spawn(async move {
                    let result = fut.await.map_err(|e| e.to_string());
                    c.release_turn(n);
                    result
                }));
            }
        }
    }
    reader.abort();
    for t in in_flight {
        t.abort();
    }
    let _ = w.shutdown().await;
}

fn log_bad_size(conn: &ConnInfo, size: i64, max: u32) {
    if looks_like_tls_hello(size) {
        tracing::warn!(conn = conn.id, peer = %conn.peer, listener = %conn.listener,
            "closing connection: a TLS handshake arrived on a listener without TLS");
    } else {
        tracing::warn!(conn = conn.id, size, max, "closing connection: frame size out of bounds");
    }
}

/// A TLS record header (content type 0x14..=0x17, version 3.x) read as a size prefix.
fn looks_like_tls_hello(size: i64) -> bool {
    (0x14..=0x17).contains(&(size >> 24)) && (size >> 16) & 0xff == 0x03
}
