//! Checking a session token: shape, algorithm, key, signature, then the
//! claims (`exp`, `nbf`, `iat` with the allowed skew; `iss`; `aud` when
//! configured), then the subject. The first failed check is the refusal.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tickforge_protocol::resume_token::RESUME_TYP;
use tickforge_protocol::session_token::{Claims, ISSUER, unix_now};

use super::refusal::AuthRefusal;
use super::{Auth, Identity, IdentityKind, name};

/// Longest token accepted, in bytes (a JWT with a few claims is ~300).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Longest player id (token subject), in bytes.
pub const MAX_PLAYER_ID_BYTES: usize = 128;

/// The header fields read before choosing a key.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl Auth {
    /// Verifies `token` and returns the identity it proves.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthRefusal> {
        if token.is_empty() {
            return Err(AuthRefusal::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthRefusal::Malformed);
        }
        let header = read_header(token)?;
        let alg = Algorithm::from_str(&header.alg).map_err(|_| AuthRefusal::Algorithm)?;
        let kid = header.kid.as_deref();
        let (kind, key_alg, key) = match kid.and_then(|k| self.session.get(k)) {
            Some(own) => (IdentityKind::Session, own.alg, own.decoding.clone()),
            None => {
                let key = self.external.find(kid, alg)?;
                (IdentityKind::Jwt, key.alg, key.decoding)
            }
        };
        if key_alg != alg {
            return Err(AuthRefusal::Algorithm);
        }
        let claims = self.check(token, kind, alg, &key)?;
        if claims.typ.as_deref() == Some(RESUME_TYP) {
            // A resume token proves a seat, never an identity on its own.
            return Err(AuthRefusal::TokenKind);
        }
        let kind = match (kind, claims.guest) {
            (IdentityKind::Session, true) if !self.guest_enabled() => {
                return Err(AuthRefusal::GuestDisabled);
            }
            (IdentityKind::Session, true) => IdentityKind::Guest,
            (kind, _) => kind,
        };
        if claims.sub.is_empty() || claims.sub.len() > MAX_PLAYER_ID_BYTES {
            return Err(AuthRefusal::Malformed);
        }
        let display = claims
            .name
            .as_deref()
            .and_then(name::sanitize)
            .unwrap_or_else(|| name::anonymous(&claims.sub));
        Ok(Identity {
            player_id: Arc::from(claims.sub),
            name: Arc::from(display),
            kind,
        })
    }

    fn check(
        &self,
        token: &str,
        kind: IdentityKind,
        alg: Algorithm,
        key: &DecodingKey,
    ) -> Result<Claims, AuthRefusal> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.skew_s;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        match kind {
            IdentityKind::Session | IdentityKind::Guest | IdentityKind::TrustHello => {
                validation.set_issuer(&[ISSUER]);
                validation.validate_aud = false;
            }
            IdentityKind::Jwt => {
                match &self.audience {
                    Some(aud) => validation.set_audience(&[aud]),
                    None => validation.validate_aud = false,
                }
                if let Some(iss) = &self.issuer {
                    validation.set_issuer(&[iss]);
                }
            }
        }
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| AuthRefusal::from_jwt(&e))?
            .claims;
        if claims
            .iat
            .is_some_and(|iat| iat > unix_now().saturating_add(self.skew_s))
        {
            return Err(AuthRefusal::NotYetValid);
        }
        Ok(claims)
    }
}

/// The JOSE header, read without trusting anything: `alg: none` (in any
/// spelling) is refused here, before a key is chosen.
fn read_header(token: &str) -> Result<RawHeader, AuthRefusal> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthRefusal::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthRefusal::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&bytes).map_err(|_| AuthRefusal::Malformed)?;
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(AuthRefusal::Algorithm);
    }
    Ok(header)
}
