//! `gregor topics|groups|cluster …`: an admin client for any Kafka-compatible cluster,
//! speaking the Kafka protocol itself (no Java tools needed).
//!
//! Reading order: `client` (one connection: TLS, SASL, ApiVersions, framing) →
//! `session` (brokers from Metadata, routing to controller/coordinator/leader) → one
//! file per command family (`topics`, `groups`, `cluster`) → `output` (tables, JSON).

pub mod client;
pub mod cluster;
pub mod error;
pub mod groups;
pub mod output;
pub mod parse;
pub mod session;
pub mod topics;

use crate::net::tls::ClientTlsPart;
use crate::security::credentials::{read_password_file, trim_newline};
use crate::security::sasl::Mechanism;
use clap::Args;
use client::{ConnectOptions, SaslLogin};
use error::AdminError;
use output::{Outcome, OutputFormat};
use session::Session;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Environment variable with the SASL password. Not `GREGOR_ADMIN_…`: `admin` is a
/// config section, so `serve` would read that as a config override.
pub const PASSWORD_ENV: &str = "GREGOR_CLI_PASSWORD";
/// Where CA bundles live on common systems, tried when `--ca-file` is not given.
const SYSTEM_CA_FILES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SecurityProtocol {
    #[default]
    #[value(name = "plaintext")]
    Plaintext,
    #[value(name = "ssl")]
    Ssl,
    #[value(name = "sasl_plaintext")]
    SaslPlaintext,
    #[value(name = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// How to reach the cluster; accepted after any admin subcommand.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Broker to bootstrap from (host:port); repeat or separate with commas.
    #[arg(
        long = "bootstrap-server",
        value_name = "HOST:PORT",
        env = "GREGOR_BOOTSTRAP_SERVER",
        default_value = "localhost:9092",
        global = true
    )]
    pub bootstrap_server: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub output: OutputFormat,
    /// Connect, read and write timeout, and the timeout sent in admin requests.
    #[arg(long, value_name = "MS", default_value_t = 30_000, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,
    /// plaintext, ssl, sasl_plaintext or sasl_ssl (as Kafka's security.protocol).
    #[arg(long, value_enum, ignore_case = true, default_value_t, global = true)]
    pub security_protocol: SecurityProtocol,
    /// PEM file with the CA certificates that sign the brokers' certificates
    /// (default: the system bundle).
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for brokers that require client certificates.
    #[arg(long, value_name = "FILE", global = true, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(long, value_name = "FILE", global = true, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, value_name = "MECHANISM", global = true, value_parser = parse_mechanism)]
    pub sasl_mechanism: Option<Mechanism>,
    /// SASL user name.
    #[arg(long, global = true)]
    pub username: Option<String>,
    /// File holding the SASL password (one trailing newline dropped); else the
    /// GREGOR_CLI_PASSWORD environment variable.
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,
}

fn parse_mechanism(s: &str) -> Result<Mechanism, String> {
    Mechanism::from_name(&s.to_ascii_uppercase())
        .ok_or_else(|| format!("`{s}` is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))
}

impl ConnectArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The timeout to put in requests that carry one (CreateTopics, …).
    pub fn request_timeout_ms(&self) -> i32 {
        i32::try_from(self.timeout_ms).unwrap_or(i32::MAX)
    }

    /// Checks the flags against each other and reads the key material they name.
    pub fn connect_options(&self, env_password: Option<String>) -> Result<ConnectOptions, AdminError> {
        let protocol = self.security_protocol;
        let tls = if protocol.tls() {
            Some(self.tls_config()?)
        } else {
            if self.ca_file.is_some() || self.cert_file.is_some() {
                return Err(usage("--ca-file/--cert-file need --security-protocol ssl or sasl_ssl"));
            }
            None
        };
        let sasl = if protocol.sasl() {
            let mechanism =
                self.sasl_mechanism.ok_or_else(|| usage("--security-protocol sasl_… needs --sasl-mechanism"))?;
            let username = self.username.clone().ok_or_else(|| usage("SASL needs --username"))?;
            let mut password = match (&self.password_file, env_password) {
                (Some(path), _) => read_password_file(path).map_err(|e| usage(&format!("--password-file: {e}")))?,
                (None, Some(p)) => p.into_bytes(),
                (None, None) => return Err(usage(&format!("SASL needs --password-file or {PASSWORD_ENV}"))),
            };
            trim_newline(&mut password);
            Some(SaslLogin { mechanism, username, password })
        } else {
            if self.sasl_mechanism.is_some() || self.username.is_some() || self.password_file.is_some() {
                return Err(usage(
                    "--sasl-mechanism/--username/--password-file need --security-protocol sasl_plaintext or sasl_ssl",
                ));
            }
            None
        };
        Ok(ConnectOptions { timeout: self.timeout(), tls, sasl })
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, AdminError> {
        let ca_file = match &self.ca_file {
            Some(p) => p.clone(),
            None => SYSTEM_CA_FILES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .ok_or_else(|| usage("no system CA bundle found: give --ca-file"))?,
        };
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            _ => None,
        };
        crate::net::tls::client_config(&ca_file, identity).map_err(|(part, message)| {
            let flag = match part {
                ClientTlsPart::Ca => "--ca-file",
                ClientTlsPart::Cert => "--cert-file",
                ClientTlsPart::Key => "--key-file",
                ClientTlsPart::Protocols => "TLS:",
            };
            usage(&format!("{flag} {message}"))
        })
    }
}

fn usage(message: &str) -> AdminError {
    AdminError::Usage(message.to_string())
}

/// Connects as `args` say (the password from `env_password` unless a file is given).
pub fn connect(args: &ConnectArgs, env_password: Option<String>) -> Result<Session, AdminError> {
    let bootstrap = parse::bootstrap_list(&args.bootstrap_server).map_err(AdminError::Usage)?;
    let options = args.connect_options(env_password)?;
    Ok(Session::connect(&bootstrap, options)?)
}

/// What the binary dispatches: one admin command family with the connection flags.
pub enum AdminCommand {
    Topics(topics::TopicsCommand),
    Groups(groups::GroupsCommand),
    Cluster(cluster::ClusterCommand),
}

/// Runs one admin command, printing its report to `out`.
pub fn run(
    command: AdminCommand,
    args: &ConnectArgs,
    env_password: Option<String>,
    out: &mut dyn Write,
) -> Result<Outcome, AdminError> {
    let mut session = connect(args, env_password)?;
    match command {
        AdminCommand::Topics(c) => topics::run(c, &mut session, args, out),
        AdminCommand::Groups(c) => groups::run(c, &mut session, args, out),
        AdminCommand::Cluster(c) => cluster::run(c, &mut session, args, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        conn: ConnectArgs,
    }

    fn parse(args: &[&str]) -> ConnectArgs {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap().conn
    }

    #[test]
    fn flags_must_agree() {
        let plain = parse(&[]);
        assert_eq!(plain.bootstrap_server, vec!["localhost:9092"]);
        assert!(plain.connect_options(None).unwrap().sasl.is_none());
        let no_mech = parse(&["--security-protocol", "SASL_PLAINTEXT", "--username", "u"]);
        assert!(no_mech.connect_options(Some("p".into())).unwrap_err().to_string().contains("--sasl-mechanism"));
        let no_pw = parse(&["--security-protocol", "sasl_plaintext", "--sasl-mechanism", "plain", "--username", "u"]);
        assert!(no_pw.connect_options(None).unwrap_err().to_string().contains(PASSWORD_ENV));
        let login = no_pw.connect_options(Some("pw\n".into())).unwrap().sasl.unwrap();
        assert_eq!(
            (login.mechanism, login.username.as_str(), &login.password[..]),
            (Mechanism::Plain, "u", &b"pw"[..])
        );
        let stray = parse(&["--username", "u"]);
        assert!(stray.connect_options(None).is_err());
        let missing_ca = parse(&["--security-protocol", "ssl", "--ca-file", "/nonexistent/ca.pem"]);
        assert!(missing_ca.connect_options(None).unwrap_err().to_string().contains("--ca-file"));
    }
}
