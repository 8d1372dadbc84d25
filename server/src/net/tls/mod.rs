//! Optional TLS on the public listener: `--tls-cert` and `--tls-key` (PEM),
//! rustls with the `ring` provider. With them `/ws` is `wss://` and `/play`
//! is `https://`; the admin listener stays plain (it is for loopback or a
//! private network). Behind an ingress or load balancer, TLS ends there
//! instead and these flags stay unset.
//!
//! | module | owns |
//! |---|---|
//! | [`certs`] | loading the certificate and key, the live certificate every handshake reads, reloading it |
//! | [`accept`] | one connection's handshake, with a deadline, in the connection's own task; the per-shard handshake slots |
//! | [`reload`] | the thread that reloads the certificate on SIGHUP |
//!
//! A handshake never blocks a shard's accept loop: each runs in its own task
//! on the shard's runtime, bounded by `--tls-handshake-timeout-ms` (default
//! 10 s, counted in `tickforge_tls_handshake_timeouts_total`), and only a
//! finished handshake is handed to the HTTP server. The connection then
//! stays on that shard, as a plain one would.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

pub mod accept;
pub mod certs;
pub mod reload;

pub use certs::{TlsCerts, TlsSetupError};

/// TLS settings of the public listener.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct TlsOptions {
    /// PEM certificate chain (leaf first) served on `--listen`, which then
    /// speaks only TLS (`wss://…/ws`, `https://…/play`); needs `--tls-key`.
    /// Re-read with the key on SIGHUP: new connections get the new
    /// certificate, open ones keep theirs, and if the new files do not load
    /// the node keeps the old ones and logs why. Behind an ingress or load
    /// balancer, TLS terminates at the ingress instead: leave this unset
    /// (and see `--trusted-proxies`).
    #[arg(long, env = "TICKFORGE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert`; needs
    /// `--tls-cert`. Re-read on SIGHUP.
    #[arg(long, env = "TICKFORGE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Time a client has to finish the TLS handshake after connecting, in
    /// milliseconds; slower ones are closed (and counted). Each handshake
    /// runs in its own task, so a slow one holds up no other connection.
    #[arg(
        long,
        env = "TICKFORGE_TLS_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub tls_handshake_timeout_ms: u64,
}

impl TlsOptions {
    /// The certificate and key files, when TLS is on.
    pub fn files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.tls_cert.as_ref().zip(self.tls_key.as_ref())
    }

    /// True when the public listener speaks TLS.
    pub fn enabled(&self) -> bool {
        self.files().is_some()
    }

    /// The handshake deadline as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms.max(1))
    }

    /// A problem clap cannot catch (a TOML file or the environment can set
    /// one file without the other), if any.
    pub fn problem(&self) -> Option<&'static str> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                Some("--tls-cert needs --tls-key (TICKFORGE_TLS_KEY): give both files, or neither")
            }
            (None, Some(_)) => {
                Some("--tls-key needs --tls-cert (TICKFORGE_TLS_CERT): give both files, or neither")
            }
            _ if self.tls_handshake_timeout_ms == 0 => {
                Some("--tls-handshake-timeout-ms must be positive")
            }
            _ => None,
        }
    }
}
