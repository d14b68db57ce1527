//! The security protocols a run compares (`--security`), where clients reach each one
//! and what they must set to speak it (an `Endpoint`), and the throwaway CA, server
//! certificate and SASL password that a broker started by the benchmark gets.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The user every SASL client of the benchmark authenticates as.
pub const SASL_USER: &str = "bench";

/// The one mechanism benchmarked: the strongest gregor offers, Kafka's usual choice.
pub const SASL_MECHANISM: &str = "SCRAM-SHA-512";

/// How long the generated certificates stay valid: a run lasts minutes.
const CERT_DAYS: &str = "2";

/// The server certificate's extensions: librdkafka checks the server's name
/// (`ssl.endpoint.identification.algorithm=https` by default) against the bootstrap
/// address, which is `127.0.0.1`.
const SERVER_EXTENSIONS: &str = "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
    basicConstraints=CA:FALSE\n\
    keyUsage=critical,digitalSignature,keyEncipherment\n\
    extendedKeyUsage=serverAuth\n";

/// Kafka's `security.protocol` values that the benchmark knows how to set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Plaintext,
    Ssl,
    SaslSsl,
}

impl Protocol {
    const ALL: [Protocol; 3] = [Protocol::Plaintext, Protocol::Ssl, Protocol::SaslSsl];

    /// `plaintext`, `ssl`, `sasl_ssl`: the flag's spelling, gregor's config value and the
    /// report's.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Plaintext => "plaintext",
            Protocol::Ssl => "ssl",
            Protocol::SaslSsl => "sasl_ssl",
        }
    }

    /// librdkafka's `security.protocol` (also the listener's name).
    pub fn kafka_name(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl => "SSL",
            Protocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        self != Protocol::Plaintext
    }

    /// `plaintext,ssl`: each name once, in the order given.
    pub fn parse_list(raw: &str) -> Result<Vec<Protocol>, String> {
        let mut list = Vec::new();
        for name in raw.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()) {
            let protocol = Protocol::ALL
                .into_iter()
                .find(|p| p.label() == name)
                .ok_or_else(|| format!("--security: `{name}` is none of plaintext, ssl, sasl_ssl"))?;
            if !list.contains(&protocol) {
                list.push(protocol);
            }
        }
        if list.is_empty() {
            return Err("--security needs at least one of plaintext, ssl, sasl_ssl".into());
        }
        Ok(list)
    }
}

/// Where clients connect for one protocol, and what every client of it must set.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub protocol: Protocol,
    pub bootstrap: String,
    /// librdkafka settings (`security.protocol`, CA, SASL credentials) that `base_config`
    /// gives every client, before the command line's own settings.
    pub settings: Vec<(String, String)>,
}

impl Endpoint {
    /// Clients of `protocol` at `bootstrap`. The CA and SASL credentials come from
    /// `secrets` when the benchmark started the broker; for a running broker given by
    /// address only `security.protocol` is known here, the rest comes from `--client-set`.
    pub fn new(protocol: Protocol, bootstrap: String, secrets: Option<&Secrets>) -> Endpoint {
        let mut settings = vec![setting("security.protocol", protocol.kafka_name())];
        settings.extend(secrets.map(|s| s.client_settings(protocol)).unwrap_or_default());
        Endpoint { protocol, bootstrap, settings }
    }
}

/// The files a broker's TLS and SASL listeners need, generated into its temp dir (and
/// removed with it).
pub struct Secrets {
    /// The throwaway CA the clients trust.
    pub ca: PathBuf,
    /// Server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`) and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The SASL user's password: the broker reads the file, the clients get the text.
    pub password_file: PathBuf,
    password: String,
}

impl Secrets {
    /// A fresh CA, a server certificate signed by it, and a random password, with the
    /// `openssl` command line (no certificate crate just for a benchmark).
    pub fn generate(dir: &Path) -> Result<Secrets, String> {
        // openssl runs inside `dir`, so every file name here is relative to it
        #[rustfmt::skip]
        let steps: [&[&str]; 3] = [
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", CERT_DAYS,
              "-subj", "/CN=gregor-bench CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-keyout", "ca.key", "-out", "ca.pem"],
            &["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
              "-keyout", "server.key", "-out", "server.csr"],
            &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-set_serial", "1", "-days", CERT_DAYS, "-extfile", "server.ext", "-out", "server.pem"],
        ];
        write(&dir.join("server.ext"), SERVER_EXTENSIONS)?;
        for args in steps {
            openssl(dir, args)?;
        }
        let secrets = Secrets {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            password_file: dir.join("bench.password"),
            password: random_hex(16)?,
        };
        write(&secrets.password_file, &format!("{}\n", secrets.password))?;
        Ok(secrets)
    }

    /// What a client of `protocol` needs besides the address and `security.protocol`.
    fn client_settings(&self, protocol: Protocol) -> Vec<(String, String)> {
        let mut settings = Vec::new();
        if protocol.uses_tls() {
            settings.push(setting("ssl.ca.location", &self.ca.display().to_string()));
        }
        if protocol == Protocol::SaslSsl {
            settings.push(setting("sasl.mechanisms", SASL_MECHANISM));
            settings.push(setting("sasl.username", SASL_USER));
            settings.push(setting("sasl.password", &self.password));
        }
        settings
    }
}

fn setting(key: &str, value: &str) -> (String, String) {
    (key.to_string(), value.to_string())
}

/// Runs `openssl args…` in `dir`; its chatter is kept for the error message only.
fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running `openssl` (needed for --security ssl and sasl_ssl): {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("`openssl {}` failed ({}):\n{stderr}", args.join(" "), out.status));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `bytes` random bytes from the kernel, as hex.
fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    let mut urandom = std::fs::File::open("/dev/urandom").map_err(|e| format!("opening /dev/urandom: {e}"))?;
    urandom.read_exact(&mut buf).map_err(|e| format!("reading /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
