//! The gregor child process under test: finding the binary, writing its config (one
//! listener per security protocol compared) and TLS/SASL files into a temp dir, waiting
//! for `/readyz`, and killing it (and removing the dir) on drop.

use crate::security::{Endpoint, Protocol, Secrets, SASL_MECHANISM, SASL_USER};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long a fresh broker may take to report ready.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running gregor. Dropping it kills the process, also while a panic unwinds.
pub struct Broker {
    child: Child,
    dir: PathBuf,
    /// One per protocol, in the order asked for.
    pub endpoints: Vec<Endpoint>,
}

impl Broker {
    /// Starts `bin` with a listener per protocol on free loopback ports and waits until
    /// it is ready.
    pub fn start(bin: &Path, protocols: &[Protocol]) -> Result<Broker, String> {
        let dir = temp_dir()?;
        let (config, endpoints, admin_port) = match prepare(&dir, protocols) {
            Ok(prepared) => prepared,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let stderr = std::fs::File::create(dir.join("gregor.stderr")).map_err(|e| format!("broker log file: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--config").arg(&config).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        // every `GREGOR_…` variable is a config override for the broker (GREGOR_BIN
        // would become an unknown key `bin`), so none of ours may leak into it
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("GREGOR_")) {
            cmd.env_remove(name);
        }
        let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let mut broker = Broker { child, dir, endpoints };
        broker.wait_ready(admin_port)?;
        Ok(broker)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the broker wrote to stderr (it runs at log level `warn`).
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("gregor.stderr")).unwrap_or_default()
    }

    fn wait_ready(&mut self, admin_port: u16) -> Result<(), String> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("gregor exited before it was ready ({status}):\n{}", self.stderr_text()));
            }
            if http_status(admin_port, "/readyz").ok() == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("gregor not ready after {READY_DEADLINE:?}:\n{}", self.stderr_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GREGOR_BIN`, else `gregor` in the profile directory this benchmark was built into
/// (`target/release/deps/throughput-…` → `target/release/gregor`; cargo runs benches
/// from the package directory, so a relative `target/release` would miss).
pub fn locate_binary() -> Result<PathBuf, String> {
    if let Ok(bin) = std::env::var("GREGOR_BIN") {
        let bin = PathBuf::from(bin);
        return bin.is_file().then_some(bin.clone()).ok_or(format!("GREGOR_BIN={} is not a file", bin.display()));
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating this benchmark: {e}"))?;
    let mut candidates: Vec<PathBuf> = exe.ancestors().nth(2).map(|d| d.join("gregor")).into_iter().collect();
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/gregor"));
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "no gregor binary: run `cargo build --release` first, or set GREGOR_BIN, \
         or pass `-- --bootstrap host:port` for a running broker"
            .to_string()
    })
}

/// `bin` relative to the workspace when it lies inside it: reports get pasted into
/// files, and this machine's paths mean nothing elsewhere.
pub fn display_path(bin: &Path) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (bin, workspace) = (bin.canonicalize(), workspace.canonicalize());
    match (&bin, &workspace) {
        (Ok(b), Ok(w)) => b.strip_prefix(w).unwrap_or(b).display().to_string(),
        _ => "gregor".to_string(),
    }
}

/// `gregor --version`, for the report.
pub fn version(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Sources newer than the binary mean the numbers describe older code: say so.
pub fn staleness_warning(bin: &Path) -> Option<String> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let newest = newest_mtime(&src)?;
    (newest > built).then(|| {
        format!("{} is older than the newest file in src/: rebuild with `cargo build --release`", display_path(bin))
    })
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() { newest_mtime(&path) } else { entry.metadata().and_then(|m| m.modified()).ok() };
        newest = newest.max(t);
    }
    newest
}

/// Writes the TLS/SASL files (when a protocol needs them) and the config into `dir`:
/// (config path, the endpoints clients use, admin port).
fn prepare(dir: &Path, protocols: &[Protocol]) -> Result<(PathBuf, Vec<Endpoint>, u16), String> {
    // the dir will hold a private key and a password: only this user may read it
    restrict(dir)?;
    let secrets = protocols.iter().any(|p| p.uses_tls()).then(|| Secrets::generate(dir)).transpose()?;
    let mut listeners = Vec::new();
    for &protocol in protocols {
        listeners.push((protocol, free_port()?));
    }
    let admin_port = free_port()?;
    let config = dir.join("gregor.yaml");
    let yaml = config_yaml(dir, &listeners, secrets.as_ref(), admin_port);
    std::fs::write(&config, yaml).map_err(|e| format!("writing {config:?}: {e}"))?;
    let endpoints = listeners
        .iter()
        .map(|&(protocol, port)| Endpoint::new(protocol, format!("127.0.0.1:{port}"), secrets.as_ref()))
        .collect();
    Ok((config, endpoints, admin_port))
}

fn config_yaml(dir: &Path, listeners: &[(Protocol, u16)], secrets: Option<&Secrets>, admin_port: u16) -> String {
    let mut yaml = format!("node_id: 1\ndata_dir: {}\nlisteners:\n", dir.join("data").display());
    for &(protocol, port) in listeners {
        yaml += &format!(
            "  - {{ name: {}, bind: 127.0.0.1:{port}, advertised: 127.0.0.1:{port}, security: {}",
            protocol.kafka_name(),
            protocol.label()
        );
        if let (true, Some(s)) = (protocol.uses_tls(), secrets) {
            yaml += &format!(", tls: {{ cert: {}, key: {} }}", s.cert.display(), s.key.display());
        }
        if protocol == Protocol::SaslSsl {
            yaml += &format!(", sasl: {{ mechanisms: [{SASL_MECHANISM}] }}");
        }
        yaml += " }\n";
    }
    if let (true, Some(s)) = (listeners.iter().any(|(p, _)| *p == Protocol::SaslSsl), secrets) {
        yaml += &format!("users: [{{ name: {SASL_USER}, password_file: {} }}]\n", s.password_file.display());
    }
    yaml + &format!("admin: {{ bind: 127.0.0.1:{admin_port} }}\nlog: {{ level: warn }}\n")
}

#[cfg(unix)]
fn restrict(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| format!("chmod {dir:?}: {e}"))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> Result<(), String> {
    Ok(())
}

fn temp_dir() -> Result<PathBuf, String> {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("gregor-bench-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {dir:?}: {e}"))?;
    Ok(dir)
}

/// A port the kernel just handed out; it is free again once the listener drops.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// The status code of a plain `GET` (the admin endpoint speaks minimal HTTP/1.1).
fn http_status(port: u16, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let status = std::str::from_utf8(&head[9..12]).ok().and_then(|s| s.parse().ok());
    status.ok_or_else(|| std::io::Error::other("malformed HTTP status line"))
}
