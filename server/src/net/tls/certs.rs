//! The public listener's certificate: loaded from `--tls-cert` and
//! `--tls-key` at start, held in a [`LiveCert`] that every handshake asks
//! for the current one, and replaced by [`TlsCerts::reload`] (SIGHUP). A
//! reload that fails leaves the certificate in service untouched.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use metrics::counter;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::metrics as names;

/// Why the certificate or key could not be put in service.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("--tls-cert {path}: {message}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("--tls-key {path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The key is not one rustls can sign with, or does not belong to the
    /// certificate.
    #[error("--tls-key {key} does not fit --tls-cert {cert}: {source}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Cause.
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsSetupError {
    /// Stable label (logs).
    pub fn label(&self) -> &'static str {
        match self {
            TlsSetupError::Cert { .. } => "cert",
            TlsSetupError::Key { .. } => "key",
            TlsSetupError::Mismatch { .. } => "mismatch",
            TlsSetupError::Config(_) => "config",
        }
    }
}

/// The crypto provider of the server (and of the Rust client): `ring`.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its private key.
pub fn load(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsSetupError> {
    let cert_error = |message: String| TlsSetupError::Cert {
        path: cert.to_path_buf(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error(
            "no PEM certificate (BEGIN CERTIFICATE) in it".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::Key {
        path: key.to_path_buf(),
        message: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|source| TlsSetupError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    })
}

/// The certificate in service; every handshake takes the current one.
pub struct LiveCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl LiveCert {
    fn get(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, key: CertifiedKey) {
        let key = Arc::new(key);
        match self.current.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl fmt::Debug for LiveCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCert")
            .field("chain_len", &self.get().cert.len())
            .finish()
    }
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The public listener's TLS: the server configuration every shard's
/// acceptor shares, and the files it reloads from. A cheap `Arc` handle.
pub struct TlsCerts {
    config: Arc<ServerConfig>,
    live: Arc<LiveCert>,
    provider: Arc<CryptoProvider>,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsCerts {
    /// Loads `cert` and `key` and builds the server configuration (TLS 1.2
    /// and 1.3, HTTP/1.1 by ALPN, no client certificates).
    pub fn load(cert: &Path, key: &Path) -> Result<TlsCerts, TlsSetupError> {
        let provider = provider();
        let live = Arc::new(LiveCert {
            current: RwLock::new(Arc::new(load(cert, key, &provider)?)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(live.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsCerts {
            config: Arc::new(config),
            live,
            provider,
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }

    /// The configuration handshakes use (it always serves the live certificate).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// Re-reads the certificate and key files and puts them in service for
    /// new handshakes; open connections keep theirs. On failure the
    /// certificate in service stays. Counted either way.
    pub fn reload(&self) -> Result<(), TlsSetupError> {
        match load(&self.cert, &self.key, &self.provider) {
            Ok(key) => {
                self.live.set(key);
                counter!(names::TLS_RELOADS).increment(1);
                Ok(())
            }
            Err(e) => {
                counter!(names::TLS_RELOAD_FAILURES).increment(1);
                Err(e)
            }
        }
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}
