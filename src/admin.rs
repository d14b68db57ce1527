//! The admin HTTP endpoint: `/healthz` (the process is alive), `/readyz` (recovery
//! finished, listeners bound) and `/metrics` (Prometheus text format). A deliberately
//! small HTTP/1.1 responder: GET only, one request per connection, bounded request
//! size and time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest HTTP request head we read.
const REQUEST_BYTES_MAX: usize = 8 * 1024;
/// A client has this long to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Renders the metrics exposition; `None` when metrics are off.
pub type Scrape = Box<dyn Fn() -> Option<String> + Send + Sync>;

/// Liveness, readiness and the metrics source, shared by the server and the admin
/// endpoint (which starts before recovery, so the source is set later).
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    scrape: OnceLock<Scrape>,
}

impl Health {
    pub fn set_scrape(&self, scrape: Scrape) {
        let _ = self.scrape.set(scrape);
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

pub async fn serve(listener: TcpListener, health: Arc<Health>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let health = health.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &health)).await;
        });
    }
}

/// Prometheus' text exposition format, version 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn answer(mut stream: TcpStream, health: &Arc<Health>) -> std::io::Result<()> {
    let mut buf = vec![0u8; REQUEST_BYTES_MAX];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && !buf[..len].windows(2).any(|w| w == b"\n\n") {
        if len == buf.len() {
            return respond(&mut stream, 431, "request too large\n").await;
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/healthz") => respond(&mut stream, 200, "ok\n").await,
        ("GET", "/readyz") if health.is_ready() => respond(&mut stream, 200, "ready\n").await,
        ("GET", "/readyz") => respond(&mut stream, 503, "not ready\n").await,
        ("GET", "/metrics") => {
            let scrape = health.scrape.get();
            // rendering reads every partition's state: off the async workers
            let text = match scrape {
                Some(_) => {
                    let h = health.clone();
                    tokio::task::spawn_blocking(move || h.scrape.get().and_then(|s| s())).await.ok().flatten()
                }
                None => None,
            };
            match (scrape, text) {
                (Some(_), Some(text)) => respond_typed(&mut stream, 200, METRICS_CONTENT_TYPE, &text).await,
                (Some(_), None) => respond(&mut stream, 404, "metrics are off (admin.metrics: false)\n").await,
                (None, _) => respond(&mut stream, 503, "starting\n").await,
            }
        }
        ("GET", _) => respond(&mut stream, 404, "not found\n").await,
        _ => respond(&mut stream, 405, "method not allowed\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    respond_typed(stream, status, "text/plain; charset=utf-8", body).await
}

async fn respond_typed(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(msg.as_bytes()).await?;
    stream.shutdown().await
}
