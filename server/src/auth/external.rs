//! Keys for JWTs that tickforge does not sign: from the game's own login
//! service (an HS256 shared secret) or an identity provider (a PEM public
//! key, or a JWKS document chosen by `kid`: [`super::jwks`]). Each key allows exactly one
//! algorithm; a token whose `alg` differs is refused, which rules out
//! algorithm confusion (an HS256 token "signed" with an RSA public key).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwks::Jwks;
use super::options::{AuthOptions, PublicKeyAlg};
use super::refusal::AuthRefusal;

/// Shortest HS256 secret accepted from the login service, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

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

/// Every third-party key the node accepts.
#[derive(Default)]
pub struct ExternalKeys {
    /// Keys without a `kid` (the shared secret, the PEM key): tried for
    /// tokens whose `kid` is absent or unknown.
    anonymous: Vec<ExternalKey>,
    jwks: Option<Arc<Jwks>>,
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
        let refresh = Duration::from_secs(options.jwks_refresh_s.max(1));
        let jwks = match (&options.jwks_file, &options.jwks_url) {
            (Some(path), _) => Some(Arc::new(Jwks::from_file(path.clone(), refresh)?)),
            (None, Some(url)) => Some(Arc::new(Jwks::from_url(url.clone(), refresh))),
            (None, None) => None,
        };
        Ok(ExternalKeys { anonymous, jwks })
    }

    /// The JWKS document, when one is configured (its URL fetcher runs on
    /// a thread of its own: [`Jwks::run_fetcher`]).
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.jwks.as_ref()
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

/// A file's contents.
pub(super) fn read(path: &Path) -> Result<String, KeyLoadError> {
    std::fs::read_to_string(path).map_err(|source| KeyLoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}
