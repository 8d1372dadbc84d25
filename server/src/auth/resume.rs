//! Resume tokens at the node: signing one for every Welcome, and checking
//! the one a Hello presents (signature, kind, expiry, subject, bans). Which
//! seat it takes back is the session's business ([`crate::resume`]).

use std::sync::Arc;

use tickforge_protocol::resume_token::{ResumeClaims, ResumeTokenError};
use tickforge_protocol::session_token::KeyError;

use super::refusal::AuthRefusal;
use super::{Auth, Identity, IdentityKind, name, verify};
use crate::net::close::Disconnect;
use crate::room::SessionId;

impl Auth {
    /// A resume token for session `session` of `identity` on `node`.
    pub fn mint_resume(
        &self,
        identity: &Identity,
        node: &str,
        session: SessionId,
    ) -> Result<String, KeyError> {
        let claims = ResumeClaims::new(
            &*identity.player_id,
            Some(identity.name.to_string()),
            identity.kind == IdentityKind::Guest,
            node,
            session,
        );
        self.session.mint_resume(&claims)
    }

    /// A resume token with `claims` (a hand-off's token for a member whose
    /// key another node issued).
    pub fn mint_resume_claims(&self, claims: &ResumeClaims) -> Result<String, KeyError> {
        self.session.mint_resume(claims)
    }

    /// The identity and claims a Hello with `resume_token` proves. With an
    /// identity `token` as well, the identity is that token's and both
    /// subjects must agree; without one, the resume token's claims are the
    /// identity (it is signed by the cluster's session key). Refusals close
    /// with 4003 (`auth_token_kind` for a token of the wrong kind), 4004
    /// for a banned player.
    pub fn identify_resume(
        &self,
        hello_player_id: &str,
        token: Option<&str>,
        resume_token: &str,
    ) -> Result<(Identity, ResumeClaims), Disconnect> {
        let claims = self
            .session
            .verify_resume(resume_token, self.skew_s)
            .map_err(|e| Disconnect::Unauthorized(refusal(e)))?;
        if claims.sub.len() > verify::MAX_PLAYER_ID_BYTES {
            return Err(Disconnect::Unauthorized(AuthRefusal::Malformed));
        }
        let identity = match token.filter(|t| !t.is_empty()) {
            Some(_) => {
                let identity = self.identify(hello_player_id, token)?;
                if *identity.player_id != *claims.sub {
                    return Err(Disconnect::Unauthorized(AuthRefusal::SubjectMismatch));
                }
                identity
            }
            None => {
                if !hello_player_id.is_empty() && hello_player_id != claims.sub {
                    return Err(Disconnect::Unauthorized(AuthRefusal::SubjectMismatch));
                }
                if claims.guest && !self.guest_enabled() {
                    return Err(Disconnect::Unauthorized(AuthRefusal::GuestDisabled));
                }
                if self.bans.is_banned(&claims.sub) {
                    return Err(Disconnect::Banned);
                }
                let display = claims
                    .name
                    .as_deref()
                    .and_then(name::sanitize)
                    .unwrap_or_else(|| name::anonymous(&claims.sub));
                Identity {
                    player_id: Arc::from(claims.sub.as_str()),
                    name: Arc::from(display),
                    kind: if claims.guest {
                        IdentityKind::Guest
                    } else {
                        IdentityKind::Session
                    },
                }
            }
        };
        Ok((identity, claims))
    }
}

/// The 4003 reason of a resume token's failed check.
fn refusal(error: ResumeTokenError) -> AuthRefusal {
    match error {
        ResumeTokenError::Malformed => AuthRefusal::Malformed,
        ResumeTokenError::UnknownKey => AuthRefusal::UnknownKey,
        ResumeTokenError::Algorithm => AuthRefusal::Algorithm,
        ResumeTokenError::Signature => AuthRefusal::Signature,
        ResumeTokenError::Expired => AuthRefusal::Expired,
        ResumeTokenError::Kind => AuthRefusal::TokenKind,
    }
}
