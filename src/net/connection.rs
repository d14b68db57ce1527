//! One client connection: read a frame, run it through the stack, write the
//! response, in request order (Kafka's contract). Pipelined requests wait in the
//! socket buffer and the read buffer, as they do while a quota throttle mutes the
//! connection.

use super::frame::{read_frame, FrameError};
use crate::middleware::ConnInfo;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tower::{Service, ServiceExt};

/// Read buffer per connection: large enough to take a produce batch in few reads.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serves one connection until the client leaves, a protocol error closes it, or
/// shutdown is signalled (the in-flight request still completes).
pub async fn serve<IO, S>(
    io: IO,
    mut svc: S,
    frame_bytes_max: u32,
    mut shutdown: watch::Receiver<bool>,
    conn: &ConnInfo,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: Service<Bytes, Response = Option<Bytes>>,
    S::Error: std::fmt::Display,
{
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
                if looks_like_tls_hello(size) {
                    tracing::warn!(conn = conn_id, peer = %conn.peer, listener = %conn.listener,
                        "closing connection: a TLS handshake arrived on a listener without TLS");
                } else {
                    tracing::warn!(conn = conn_id, size, max, "closing connection: frame size out of bounds");
                }
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

/// A TLS record header (content type 0x14..=0x17, version 3.x) read as a size prefix.
fn looks_like_tls_hello(size: i64) -> bool {
    (0x14..=0x17).contains(&(size >> 24)) && (size >> 16) & 0xff == 0x03
}
