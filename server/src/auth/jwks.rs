//! A JWKS document (an identity provider's public keys, chosen by `kid`),
//! read from a file (`--jwks-file`) or fetched over HTTP(S) (`--jwks-url`).
//!
//! Both are refreshed every `--jwks-refresh-s`, and when a token names a
//! `kid` the set does not hold (at most once per [`UNKNOWN_KID_REFRESH`]),
//! so a provider's key rotation is picked up without a restart. A file is
//! re-read inline (it is small and local); a URL is fetched by its own
//! thread ([`Jwks::run_fetcher`]) and verification never waits for the
//! network: until the new keys arrive, a token with the new `kid` is
//! refused with `auth_unknown_key` and the client retries. A document that
//! fails to load keeps the previous keys (logged and counted).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use metrics::counter;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::external::{ExternalKey, KeyLoadError, read};
use crate::metrics::JWKS_REFRESHES;

/// A token with an unknown `kid` triggers a refresh at most this often.
pub const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(10);
/// Longest wait for the JWKS URL to answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

enum Source {
    File(PathBuf),
    Url(String),
}

/// The keys of one JWKS document.
pub struct Jwks {
    source: Source,
    refresh: Duration,
    keys: RwLock<Arc<Vec<(String, ExternalKey)>>>,
    /// File: when it was last read. URL: when a fetch was last requested
    /// for an unknown `kid`.
    last: Mutex<Instant>,
    wanted: Notify,
}

impl Jwks {
    /// Keys read from `path` now (an unreadable file fails the start).
    pub fn from_file(path: PathBuf, refresh: Duration) -> Result<Jwks, KeyLoadError> {
        let keys = parse(&read(&path)?, &path.display().to_string())?;
        Ok(Jwks {
            source: Source::File(path),
            refresh,
            keys: RwLock::new(Arc::new(keys)),
            last: Mutex::new(Instant::now()),
            wanted: Notify::new(),
        })
    }

    /// Keys fetched from `url` by [`Jwks::run_fetcher`]; empty until the
    /// first fetch succeeds.
    pub fn from_url(url: String, refresh: Duration) -> Jwks {
        Jwks {
            source: Source::Url(url),
            refresh,
            keys: RwLock::new(Arc::new(Vec::new())),
            last: Mutex::new(Instant::now() - UNKNOWN_KID_REFRESH),
            wanted: Notify::new(),
        }
    }

    /// True when the keys come from a URL (a fetcher thread must run).
    pub fn is_url(&self) -> bool {
        matches!(self.source, Source::Url(_))
    }

    /// The key with `kid`.
    pub fn get(&self, kid: &str) -> Option<ExternalKey> {
        let keys = match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        keys.iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key.clone())
    }

    /// Refreshes when due: a file is re-read here (returns true when it
    /// was); a URL fetch is requested from the fetcher (returns false: the
    /// keys arrive later).
    pub fn refresh_if_due(&self, unknown_kid: bool) -> bool {
        let Ok(mut last) = self.last.try_lock() else {
            return false;
        };
        match &self.source {
            Source::File(path) => {
                let due = if unknown_kid {
                    UNKNOWN_KID_REFRESH
                } else {
                    self.refresh
                };
                if last.elapsed() < due {
                    return false;
                }
                *last = Instant::now();
                let loaded = read(path).and_then(|text| parse(&text, &path.display().to_string()));
                self.install(loaded)
            }
            Source::Url(_) => {
                if unknown_kid && last.elapsed() >= UNKNOWN_KID_REFRESH {
                    *last = Instant::now();
                    self.wanted.notify_one();
                }
                false
            }
        }
    }

    /// Fetches the URL now, then every `--jwks-refresh-s` and whenever a
    /// token names an unknown `kid`, until `shutdown`. Nothing to do for a
    /// file.
    pub async fn run_fetcher(self: Arc<Self>, shutdown: CancellationToken) {
        let Source::Url(url) = &self.source else {
            return;
        };
        let client = match reqwest::Client::builder().timeout(FETCH_TIMEOUT).build() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "JWKS: no HTTP client; keys will not be fetched");
                return;
            }
        };
        loop {
            let fetched = fetch(&client, url).await;
            self.install(fetched);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.refresh) => {}
                _ = self.wanted.notified() => {}
            }
        }
    }

    /// Replaces the keys with `loaded`, or keeps them (logged); counted.
    fn install(&self, loaded: Result<Vec<(String, ExternalKey)>, KeyLoadError>) -> bool {
        match loaded {
            Ok(keys) => {
                counter!(JWKS_REFRESHES, "result" => "ok").increment(1);
                tracing::debug!(keys = keys.len(), "JWKS loaded");
                match self.keys.write() {
                    Ok(mut current) => *current = Arc::new(keys),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
                }
                true
            }
            Err(e) => {
                counter!(JWKS_REFRESHES, "result" => "error").increment(1);
                tracing::warn!(error = %e, "JWKS not loaded; keeping the previous keys");
                false
            }
        }
    }
}

/// One GET of the document, bounded in time and size.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> Result<Vec<(String, ExternalKey)>, KeyLoadError> {
    let invalid = |m: String| KeyLoadError::Invalid(format!("{url}: {m}"));
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| invalid(e.to_string()))?;
    if !response.status().is_success() {
        return Err(invalid(format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| invalid(e.to_string()))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(invalid(format!("document over {MAX_DOCUMENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|e| invalid(e.to_string()))?;
    parse(&text, url)
}

/// The keys of a JWKS document that carry a `kid` and a usable algorithm.
pub fn parse(text: &str, origin: &str) -> Result<Vec<(String, ExternalKey)>, KeyLoadError> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| KeyLoadError::Invalid(format!("{origin}: {e}")))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!(%origin, "JWKS key without kid ignored");
            continue;
        };
        let Some(alg) = jwk_algorithm(jwk) else {
            tracing::warn!(%kid, "JWKS key with no usable algorithm ignored");
            continue;
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(decoding) => keys.push((kid, ExternalKey { alg, decoding })),
            Err(e) => tracing::warn!(%kid, error = %e, "JWKS key ignored"),
        }
    }
    Ok(keys)
}

/// The algorithm a JWK allows: its `alg`, else the one its key type implies.
fn jwk_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        return match alg {
            KeyAlgorithm::HS256 => Some(Algorithm::HS256),
            KeyAlgorithm::RS256 => Some(Algorithm::RS256),
            KeyAlgorithm::ES256 => Some(Algorithm::ES256),
            KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        _ => None,
    }
}
