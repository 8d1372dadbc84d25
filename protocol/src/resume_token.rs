//! Resume tokens: what a client presents in `Hello.resume_token` to take
//! back the seat of a dropped connection.
//!
//! A resume token is a JWT signed with the cluster's session keys (the same
//! key file as [`crate::session_token`], so any node of the cluster checks
//! it). Its claims bind it to one player and one connection:
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | the player id |
//! | `typ` | always [`RESUME_TYP`]: never accepted as an identity token, and an identity token (no `typ`) is never accepted as a resume token |
//! | `node` | the node that issued it (and held the seat then) |
//! | `sid` | the session id on that node: with `node`, the *resume key* of the seat |
//! | `name`, `guest` | the display name and guest flag, so a resume needs no other token |
//! | `iss` | `tickforge` |
//! | `iat`, `exp` | issue time and issue + [`RESUME_TOKEN_TTL`] (24 h) |
//!
//! `exp` only bounds the token's life: a resume token is accepted exactly
//! while a node holds the seat its key names (`--resume-grace` after a
//! drop), and that is checked by the node, not by the token.

use std::time::Duration;

use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};

use crate::session_token::{ISSUER, KeyError, SessionKeys, unix_now};

/// `typ` of every resume token.
pub const RESUME_TYP: &str = "resume";
/// Lifetime written into `exp`; the real validity is "while the seat is held".
pub const RESUME_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Longest resume token accepted, in bytes.
pub const MAX_RESUME_TOKEN_BYTES: usize = 2048;

/// The claims of a resume token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeClaims {
    /// Player id.
    pub sub: String,
    /// Always [`RESUME_TYP`].
    pub typ: String,
    /// Id of the node that issued the token.
    pub node: String,
    /// Session id on that node.
    pub sid: u64,
    /// Display name of the player.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The player is a guest (saved state expires).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
    /// Issuer: [`ISSUER`].
    pub iss: String,
    /// Issued at, seconds since the UNIX epoch.
    pub iat: u64,
    /// Expiry, seconds since the UNIX epoch.
    pub exp: u64,
}

impl ResumeClaims {
    /// Claims for session `sid` of `player` on `node`, issued now.
    pub fn new(
        player: impl Into<String>,
        name: Option<String>,
        guest: bool,
        node: impl Into<String>,
        sid: u64,
    ) -> ResumeClaims {
        let now = unix_now();
        ResumeClaims {
            sub: player.into(),
            typ: RESUME_TYP.to_string(),
            node: node.into(),
            sid,
            name,
            guest,
            iss: ISSUER.to_string(),
            iat: now,
            exp: now.saturating_add(RESUME_TOKEN_TTL.as_secs()),
        }
    }
}

/// Why a resume token was refused. [`ResumeTokenError::label`] is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResumeTokenError {
    /// Not a JWT, or a claim is missing or malformed.
    #[error("malformed resume token")]
    Malformed,
    /// The `kid` names none of the session keys.
    #[error("unknown key")]
    UnknownKey,
    /// `alg` is not the key's one algorithm.
    #[error("wrong algorithm")]
    Algorithm,
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
    /// `exp` passed.
    #[error("expired")]
    Expired,
    /// Not a resume token (`typ` is not `resume`, or `iss` is not tickforge).
    #[error("not a resume token")]
    Kind,
}

impl ResumeTokenError {
    /// Stable label.
    pub fn label(self) -> &'static str {
        match self {
            ResumeTokenError::Malformed => "malformed",
            ResumeTokenError::UnknownKey => "unknown_key",
            ResumeTokenError::Algorithm => "algorithm",
            ResumeTokenError::Signature => "signature",
            ResumeTokenError::Expired => "expired",
            ResumeTokenError::Kind => "kind",
        }
    }
}

impl SessionKeys {
    /// Signs a resume token.
    pub fn mint_resume(&self, claims: &ResumeClaims) -> Result<String, KeyError> {
        self.sign(claims)
    }

    /// Checks a resume token: its key and signature, `exp` (with `skew_s`),
    /// `iss` and `typ`. Whether its seat is still held is the node's check.
    pub fn verify_resume(
        &self,
        token: &str,
        skew_s: u64,
    ) -> Result<ResumeClaims, ResumeTokenError> {
        if token.is_empty() || token.len() > MAX_RESUME_TOKEN_BYTES {
            return Err(ResumeTokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| ResumeTokenError::Malformed)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.get(kid))
            .ok_or(ResumeTokenError::UnknownKey)?;
        if header.alg != key.alg {
            return Err(ResumeTokenError::Algorithm);
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = skew_s;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<ResumeClaims>(token, &key.decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => ResumeTokenError::Signature,
                    ErrorKind::ExpiredSignature => ResumeTokenError::Expired,
                    // An identity token lacks `typ`, `node` and `sid`.
                    ErrorKind::Json(_) => ResumeTokenError::Kind,
                    _ => ResumeTokenError::Malformed,
                }
            })?
            .claims;
        if claims.typ != RESUME_TYP || claims.iss != ISSUER {
            return Err(ResumeTokenError::Kind);
        }
        if claims.sub.is_empty() {
            return Err(ResumeTokenError::Malformed);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::session_token::Claims;

    fn keys() -> SessionKeys {
        SessionKeys::ephemeral().unwrap()
    }

    #[test]
    fn a_resume_token_verifies_with_its_claims() {
        for json in [
            SessionKeys::generate_ed25519_json().unwrap(),
            SessionKeys::generate_hs256_json().unwrap(),
        ] {
            let keys = SessionKeys::from_json(&json).unwrap();
            let claims = ResumeClaims::new("alice", Some("Alice".into()), true, "node-a", 42);
            let token = keys.mint_resume(&claims).unwrap();
            assert_eq!(keys.verify_resume(&token, 0).unwrap(), claims);
        }
    }

    #[test]
    fn an_identity_token_is_not_a_resume_token() {
        let keys = keys();
        let identity = keys
            .mint(&Claims::new("alice", None, Duration::from_secs(60)))
            .unwrap();
        assert_eq!(
            keys.verify_resume(&identity, 0),
            Err(ResumeTokenError::Kind)
        );
        // Even one that carries every resume claim but another `typ`.
        let mut claims = ResumeClaims::new("alice", None, false, "n", 1);
        claims.typ = "identity".into();
        let token = keys.sign(&claims).unwrap();
        assert_eq!(keys.verify_resume(&token, 0), Err(ResumeTokenError::Kind));
    }

    #[test]
    fn a_token_of_another_key_or_a_changed_one_is_refused() {
        let token = keys()
            .mint_resume(&ResumeClaims::new("alice", None, false, "n", 1))
            .unwrap();
        assert_eq!(
            keys().verify_resume(&token, 0),
            Err(ResumeTokenError::UnknownKey)
        );
        let keys = keys();
        let token = keys
            .mint_resume(&ResumeClaims::new("alice", None, false, "n", 1))
            .unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let other = keys
            .mint_resume(&ResumeClaims::new("mallory", None, false, "n", 1))
            .unwrap();
        parts[1] = other.split('.').nth(1).unwrap().to_string();
        assert_eq!(
            keys.verify_resume(&parts.join("."), 0),
            Err(ResumeTokenError::Signature)
        );
        let mut old = ResumeClaims::new("alice", None, false, "n", 1);
        old.exp = 1;
        let token = keys.mint_resume(&old).unwrap();
        assert_eq!(
            keys.verify_resume(&token, 0),
            Err(ResumeTokenError::Expired)
        );
    }
}
