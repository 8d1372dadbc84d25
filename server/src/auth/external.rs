//! Keys for JWTs that tickforge does not sign: from the game's own login
//! service (an HS256 shared secret) or an identity provider (a PEM public
//! key, or a JWKS document chosen by `kid`). Each key allows exactly one
//! algorithm; a token whose `alg` differs is refused, which rules out
//! algorithm confusion (an HS256 token "signed" with an RSA public key).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::options::{AuthOptions, PublicKeyAlg};
use super::refusal::AuthRefusal;

/// Shortest HS256 secret accepted from the login service, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// A token with an unknown `kid` re-reads the JWKS at most this often.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(10);

/// One verifying key and the only algorithm it accepts.
#[derive(Clone)]
pub struct ExternalKey {
    /// The algorithm tokens must name.
    pub alg: Algorithm,
    /// The key.
    pub decoding: DecodingKey,
}

/// Why the configured keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A key did not parse.
    #[error("{0}")]
    Invalid(String),
}

/// JWKS keys by `kid`, re-read from their file.
struct Jwks {
    path: PathBuf,
    refresh: Duration,
    keys: RwLock<Arc<Vec<(String, ExternalKey)>>>,
    loaded_at: Mutex<Instant>,
}

/// Every third-party key the node accepts.
#[derive(Default)]
pub struct ExternalKeys {
    /// Keys without a `kid` (the shared secret, the PEM key): tried for
    /// tokens whose `kid` is absent or unknown.
    anonymous: Vec<ExternalKey>,
    jwks: Option<Jwks>,
}

impl ExternalKeys {
    /// Loads the keys `options` names.
    pub fn load(options: &AuthOptions) -> Result<ExternalKeys, KeyLoadError> {
        let mut anonymous = Vec::new();
        let secret = match (&options.jwt_secret_file, &options.jwt_secret) {
            (Some(path), _) => Some(read(path)?.trim_end().as_bytes().to_vec()),
            (None, Some(secret)) => Some(secret.as_bytes().to_vec()),
            (None, None) => None,
        };
        if let Some(secret) = secret {
            if secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(KeyLoadError::Invalid(format!(
                    "the JWT secret must be at least {MIN_JWT_SECRET_BYTES} bytes"
                )));
            }
            anonymous.push(ExternalKey {
                alg: Algorithm::HS256,
                decoding: DecodingKey::from_secret(&secret),
            });
        }
        if let Some(path) = &options.jwt_public_key_file {
            let pem = read(path)?;
            let invalid = |e: jsonwebtoken::errors::Error| {
                KeyLoadError::Invalid(format!("{}: {e}", path.display()))
            };
            let (alg, decoding) = match options.jwt_public_key_alg {
                PublicKeyAlg::EdDSA => (Algorithm::EdDSA, DecodingKey::from_ed_pem(pem.as_bytes())),
                PublicKeyAlg::RS256 => {
                    (Algorithm::RS256, DecodingKey::from_rsa_pem(pem.as_bytes()))
                }
                PublicKeyAlg::ES256 => (Algorithm::ES256, DecodingKey::from_ec_pem(pem.as_bytes())),
            };
            anonymous.push(ExternalKey {
                alg,
                decoding: decoding.map_err(invalid)?,
            });
        }
        let jwks = match &options.jwks_file {
            Some(path) => Some(Jwks {
                path: path.clone(),
                refresh: Duration::from_secs(options.jwks_refresh_s.max(1)),
                keys: RwLock::new(Arc::new(read_jwks(path)?)),
                loaded_at: Mutex::new(Instant::now()),
            }),
            None => None,
        };
        Ok(ExternalKeys { anonymous, jwks })
    }

    /// True when no third-party key is configured.
    pub fn is_empty(&self) -> bool {
        self.anonymous.is_empty() && self.jwks.is_none()
    }

    /// The key a token with `kid` and `alg` is checked against: the JWKS key
    /// with that `kid`, else a key without a `kid` that allows `alg`.
    /// Refused: `UnknownKey` when the token names a `kid` no key has (and no
    /// key without a `kid` allows its algorithm, or none is configured),
    /// `Algorithm` when it names none and no key allows its algorithm.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<ExternalKey, AuthRefusal> {
        if let (Some(kid), Some(jwks)) = (kid, &self.jwks) {
            jwks.refresh_if_due(false);
            if let Some(key) = jwks.get(kid) {
                return Ok(key);
            }
            if jwks.refresh_if_due(true)
                && let Some(key) = jwks.get(kid)
            {
                return Ok(key);
            }
        }
        if let Some(key) = self.anonymous.iter().find(|k| k.alg == alg) {
            return Ok(key.clone());
        }
        if kid.is_some() || self.is_empty() {
            Err(AuthRefusal::UnknownKey)
        } else {
            Err(AuthRefusal::Algorithm)
        }
    }
}

impl Jwks {
    fn get(&self, kid: &str) -> Option<ExternalKey> {
        let keys = match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        keys.iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key.clone())
    }

    /// Re-reads the file when the refresh period passed (or, for an unknown
    /// `kid`, when the last read is older than [`UNKNOWN_KID_RELOAD`]).
    /// Returns whether it re-read. A file that no longer parses keeps the
    /// previous keys (logged).
    fn refresh_if_due(&self, unknown_kid: bool) -> bool {
        let Ok(mut loaded_at) = self.loaded_at.try_lock() else {
            return false;
        };
        let due = if unknown_kid {
            UNKNOWN_KID_RELOAD
        } else {
            self.refresh
        };
        if loaded_at.elapsed() < due {
            return false;
        }
        *loaded_at = Instant::now();
        match read_jwks(&self.path) {
            Ok(keys) => {
                if let Ok(mut current) = self.keys.write() {
                    *current = Arc::new(keys);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS not reloaded; keeping the previous keys");
                false
            }
        }
    }
}

fn read(path: &Path) -> Result<String, KeyLoadError> {
    std::fs::read_to_string(path).map_err(|source| KeyLoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The keys of a JWKS file that carry a `kid` and a usable algorithm.
fn read_jwks(path: &Path) -> Result<Vec<(String, ExternalKey)>, KeyLoadError> {
    let set: JwkSet = serde_json::from_str(&read(path)?)
        .map_err(|e| KeyLoadError::Invalid(format!("{}: {e}", path.display())))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!(path = %path.display(), "JWKS key without kid ignored");
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
