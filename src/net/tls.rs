//! TLS for a listener: a rustls server config built from PEM files, rebuilt when
//! the files change or on SIGHUP. New handshakes use the newest config; open
//! connections keep the one they started with, so a reload drops nobody.

use crate::config::{ClientAuth, TlsConfig};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: cannot read {path}: {message}")]
    Pem { key: String, path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Config { key: String, message: String },
}

/// What identifies a version of the files: a change to any of them triggers a reload.
type Stamp = Vec<Option<(SystemTime, u64)>>;

/// A listener's TLS settings and the config built from their current files.
pub struct TlsSource {
    settings: TlsConfig,
    /// Config key prefix for errors, e.g. `listeners[1].tls`.
    key: String,
    current: RwLock<(Arc<ServerConfig>, Stamp)>,
}

impl TlsSource {
    pub fn load(settings: &TlsConfig, key: String) -> Result<TlsSource, TlsError> {
        let stamp = stamp(settings);
        let config = build(settings, &key)?;
        Ok(TlsSource { settings: settings.clone(), key, current: RwLock::new((config, stamp)) })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().expect("tls lock").0.clone())
    }

    /// Rebuilds the config if any file changed (`force`: regardless). A broken new
    /// file keeps the old config serving and reports the error.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let now = stamp(&self.settings);
        if !force && self.current.read().expect("tls lock").1 == now {
            return Ok(false);
        }
        let config = build(&self.settings, &self.key)?;
        *self.current.write().expect("tls lock") = (config, now);
        Ok(true)
    }
}

fn stamp(s: &TlsConfig) -> Stamp {
    let files = [Some(&s.cert), Some(&s.key), s.client_ca.as_ref()];
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f.as_ref()?).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(s: &TlsConfig, key: &str) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(&s.cert, &format!("{key}.cert"))?;
    let private = PrivateKeyDer::from_pem_file(&s.key).map_err(|e| pem_error(&format!("{key}.key"), &s.key, e))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config { key: key.into(), message: e.to_string() })?;
    let builder = match (s.client_auth, &s.client_ca) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let ca_key = format!("{key}.client_ca");
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca, &ca_key)? {
                roots.add(c).map_err(|e| TlsError::Config { key: ca_key.clone(), message: e.to_string() })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier.build().map_err(|e| TlsError::Config { key: ca_key, message: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(certs, private).map_err(|e| TlsError::Config {
        key: format!("{key}.cert"),
        message: format!("certificate and key do not form a usable pair: {e}"),
    })?;
    Ok(Arc::new(config))
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(key, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem { key: key.into(), path: path.into(), message: "no CERTIFICATE in the file".into() });
    }
    Ok(certs)
}

// the pem error names the problem (missing file, no key section) and never the bytes
fn pem_error(key: &str, path: &Path, e: rustls_pki_types::pem::Error) -> TlsError {
    TlsError::Pem { key: key.into(), path: path.into(), message: e.to_string() }
}

/// The file (or setting) a client TLS configuration problem is about, so that each
/// caller can name it its own way (a CLI flag, a config key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTlsPart {
    Ca,
    Cert,
    Key,
    Protocols,
}

/// A rustls client configuration for connections gregor opens itself (the admin CLI,
/// the proxy's upstream): trust `ca`, and present `identity` (certificate chain and
/// key, PEM) when given.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, (ClientTlsPart, String)> {
    let certs = |path: &Path, part| -> Result<Vec<CertificateDer<'static>>, (ClientTlsPart, String)> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| (part, format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err((part, format!("{}: no CERTIFICATE in the file", path.display())));
        }
        Ok(certs)
    };
    let mut roots = RootCertStore::empty();
    for cert in certs(ca, ClientTlsPart::Ca)? {
        roots.add(cert).map_err(|e| (ClientTlsPart::Ca, format!("{}: {e}", ca.display())))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| (ClientTlsPart::Protocols, e.to_string()))?
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = certs(cert, ClientTlsPart::Cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| (ClientTlsPart::Key, format!("{}: {e}", key.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| (ClientTlsPart::Cert, e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
