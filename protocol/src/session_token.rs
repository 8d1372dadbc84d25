//! Session tokens tickforge signs itself (guest sessions, `tickforge token
//! mint`, bots of `tickforge-swarm`), and the key file they are signed with.
//!
//! A token is a JWT. Its subject (`sub`) is the player id, `name` the display
//! name, `iss` is [`ISSUER`], and the header's `kid` names the key that
//! signed it. The key file (`--session-key-file`, written by `tickforge token
//! keygen`) is JSON with one or two keys; the first signs, every key
//! verifies, so a rotation is: add the new key first, deploy, wait for the
//! old tokens to expire, remove the old key.
//!
//! ```json
//! {"keys": [{"kid": "k-1a2b3c4d", "alg": "EdDSA", "private_key_pem": "-----BEGIN PRIVATE KEY-----\n…"},
//!           {"kid": "k-0f0e0d0c", "alg": "HS256", "secret": "<base64url, ≥ 32 bytes>"}]}
//! ```

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

/// `iss` of every token tickforge signs.
pub const ISSUER: &str = "tickforge";
/// Most keys a key file may hold: the signing key and one being rotated out.
pub const MAX_KEYS: usize = 2;
/// Shortest HMAC secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims of a session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Player id.
    pub sub: String,
    /// Display name shown to other players.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Expiry, seconds since the UNIX epoch.
    pub exp: u64,
    /// Issued at, seconds since the UNIX epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, seconds since the UNIX epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// A guest session from `POST /auth/guest` (refused when guest sessions
    /// are switched off).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
    /// Token kind: absent for identity tokens. A resume token
    /// ([`crate::resume_token`]) says `resume` and is never an identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

impl Claims {
    /// Claims for `player`, valid from now for `ttl`, issued by tickforge.
    pub fn new(player: impl Into<String>, name: Option<String>, ttl: Duration) -> Claims {
        let now = unix_now();
        Claims {
            sub: player.into(),
            name,
            iss: Some(ISSUER.to_string()),
            exp: now.saturating_add(ttl.as_secs()),
            iat: Some(now),
            nbf: None,
            guest: false,
            typ: None,
        }
    }
}

/// Seconds since the UNIX epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a key file could not be used or a token not signed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a valid key file.
    #[error("invalid session key file: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    kid: String,
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// One usable key: its id, algorithm and both halves.
pub struct SessionKey {
    /// Key id (the token header's `kid`).
    pub kid: String,
    /// The one algorithm this key signs and verifies with.
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// Verifies tokens signed with this key.
    pub decoding: DecodingKey,
}

/// The keys of a session key file: the first signs, all verify.
pub struct SessionKeys {
    keys: Vec<SessionKey>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SessionKeys").field("kids", &kids).finish()
    }
}

impl SessionKeys {
    /// Reads a key file.
    pub fn load(path: &Path) -> Result<SessionKeys, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SessionKeys::from_json(&text)
    }

    /// Parses a key file's contents.
    pub fn from_json(text: &str) -> Result<SessionKeys, KeyError> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyError::Invalid(e.to_string()))?;
        if file.keys.is_empty() || file.keys.len() > MAX_KEYS {
            return Err(KeyError::Invalid(format!(
                "a key file holds 1 to {MAX_KEYS} keys, this one {}",
                file.keys.len()
            )));
        }
        let keys = file
            .keys
            .iter()
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.len() == 2 && keys[0].kid == keys[1].kid {
            return Err(KeyError::Invalid("two keys share one kid".into()));
        }
        Ok(SessionKeys { keys })
    }

    /// A fresh Ed25519 key file (what `tickforge token keygen` prints).
    pub fn generate_ed25519_json() -> Result<String, KeyError> {
        let signing = SigningKey::generate(&mut OsRng);
        let pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        key_file_json(KeyEntry {
            kid: random_kid(),
            alg: "EdDSA".into(),
            private_key_pem: Some(pem.to_string()),
            secret: None,
        })
    }

    /// A fresh HMAC-SHA256 key file (`tickforge token keygen --hmac`).
    pub fn generate_hs256_json() -> Result<String, KeyError> {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        key_file_json(KeyEntry {
            kid: random_kid(),
            alg: "HS256".into(),
            private_key_pem: None,
            secret: Some(URL_SAFE_NO_PAD.encode(secret)),
        })
    }

    /// A random Ed25519 key that lives as long as the process.
    pub fn ephemeral() -> Result<SessionKeys, KeyError> {
        SessionKeys::from_json(&SessionKeys::generate_ed25519_json()?)
    }

    /// Signs `claims` with the first key.
    pub fn mint(&self, claims: &Claims) -> Result<String, KeyError> {
        self.sign(claims)
    }

    /// Signs any claims with the first key (the header names its `kid`).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let key = self.signing();
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// The key that signs.
    pub fn signing(&self) -> &SessionKey {
        &self.keys[0]
    }

    /// The key with id `kid`, if this file has it.
    pub fn get(&self, kid: &str) -> Option<&SessionKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Every key (the verifying set).
    pub fn keys(&self) -> &[SessionKey] {
        &self.keys
    }
}

fn key_file_json(entry: KeyEntry) -> Result<String, KeyError> {
    serde_json::to_string_pretty(&KeyFile { keys: vec![entry] })
        .map_err(|e| KeyError::Invalid(e.to_string()))
}

fn random_kid() -> String {
    let mut id = [0u8; 6];
    OsRng.fill_bytes(&mut id);
    format!("k-{}", URL_SAFE_NO_PAD.encode(id))
}

fn parse_entry(entry: &KeyEntry) -> Result<SessionKey, KeyError> {
    let invalid = |m: String| KeyError::Invalid(format!("key `{}`: {m}", entry.kid));
    if entry.kid.is_empty() || entry.kid.len() > 64 {
        return Err(invalid("kid must be 1..=64 bytes".into()));
    }
    match (entry.alg.as_str(), &entry.private_key_pem, &entry.secret) {
        ("EdDSA", Some(pem), None) => {
            let signing =
                SigningKey::from_pkcs8_pem(pem).map_err(|e| invalid(format!("Ed25519: {e}")))?;
            let public = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
            Ok(SessionKey {
                kid: entry.kid.clone(),
                alg: Algorithm::EdDSA,
                encoding: EncodingKey::from_ed_pem(pem.as_bytes())
                    .map_err(|e| invalid(format!("Ed25519: {e}")))?,
                decoding: DecodingKey::from_ed_components(&public)
                    .map_err(|e| invalid(format!("Ed25519: {e}")))?,
            })
        }
        ("HS256", None, Some(secret)) => {
            let bytes = URL_SAFE_NO_PAD
                .decode(secret.trim_end_matches('='))
                .map_err(|e| invalid(format!("secret is not base64url: {e}")))?;
            if bytes.len() < MIN_SECRET_BYTES {
                return Err(invalid(format!(
                    "secret must be at least {MIN_SECRET_BYTES} bytes"
                )));
            }
            Ok(SessionKey {
                kid: entry.kid.clone(),
                alg: Algorithm::HS256,
                encoding: EncodingKey::from_secret(&bytes),
                decoding: DecodingKey::from_secret(&bytes),
            })
        }
        (alg, _, _) => Err(invalid(format!(
            "expected alg EdDSA with private_key_pem, or HS256 with secret (got {alg})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jsonwebtoken::Validation;

    fn verify(keys: &SessionKeys, token: &str) -> Claims {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let key = keys.get(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[ISSUER]);
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn generated_keys_sign_tokens_they_verify() {
        for json in [
            SessionKeys::generate_ed25519_json().unwrap(),
            SessionKeys::generate_hs256_json().unwrap(),
        ] {
            let keys = SessionKeys::from_json(&json).unwrap();
            let claims = Claims::new("alice", Some("Alice".into()), Duration::from_secs(60));
            let token = keys.mint(&claims).unwrap();
            assert_eq!(verify(&keys, &token), claims);
        }
    }

    #[test]
    fn a_rotation_file_signs_with_the_first_and_verifies_with_both() {
        let old = SessionKeys::from_json(&SessionKeys::generate_hs256_json().unwrap()).unwrap();
        let new_json = SessionKeys::generate_ed25519_json().unwrap();
        let old_json = SessionKeys::generate_hs256_json().unwrap();
        let entry =
            |j: &str| serde_json::from_str::<serde_json::Value>(j).unwrap()["keys"][0].clone();
        let both = serde_json::json!({ "keys": [entry(&new_json), entry(&old_json)] }).to_string();
        let keys = SessionKeys::from_json(&both).unwrap();
        assert_eq!(keys.signing().alg, Algorithm::EdDSA);
        assert_eq!(keys.keys().len(), 2);
        // A file of an unrelated key does not know this one's kid.
        let token = keys
            .mint(&Claims::new("bob", None, Duration::from_secs(5)))
            .unwrap();
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        assert!(old.get(&kid).is_none());
    }

    #[test]
    fn bad_key_files_are_refused_with_a_reason() {
        for bad in [
            "{}",
            r#"{"keys": []}"#,
            r#"{"keys": [{"kid": "a", "alg": "HS256", "secret": "c2hvcnQ"}]}"#,
            r#"{"keys": [{"kid": "a", "alg": "RS256", "secret": "x"}]}"#,
            r#"{"keys": [{"kid": "a", "alg": "EdDSA", "private_key_pem": "nope"}]}"#,
        ] {
            assert!(SessionKeys::from_json(bad).is_err(), "{bad}");
        }
    }
}
