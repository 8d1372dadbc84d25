//! Hello: the identity is verified before anything else (the player is the
//! token's subject, or a resume token's while its seat is held), a newer
//! session of the same player replaces an older one, and Welcome carries a
//! fresh resume token bound to this session.

use std::sync::Arc;

use tickforge_protocol::encode::WelcomeResume;
use tickforge_protocol::wire::Hello;

use super::resume::SeatTaken;
use super::{Session, Step, encode};
use crate::auth::{AuthRefusal, Identity, IdentityKind};
use crate::clock;
use crate::metrics::{self, OutKind};
use crate::net::close::Disconnect;

impl Session {
    /// Verifies the Hello's identity; with a resume token, takes back the
    /// seat it names (or redirects to the node holding it). Then Welcome.
    pub(super) fn on_hello(&mut self, hello: Hello<'_>) -> Step {
        let node = self.node.clone();
        let auth = &node.auth;
        let resume_token = hello.resume_token().filter(|t| !t.is_empty());
        let identified = match resume_token {
            None => auth
                .identify(hello.player_id(), hello.token())
                .map(|identity| (identity, None)),
            Some(resume) => auth
                .identify_resume(hello.player_id(), hello.token(), resume)
                .map(|(identity, claims)| (identity, Some(claims))),
        };
        let (identity, claims) = match identified {
            Ok(identified) => identified,
            Err(cause) => {
                if resume_token.is_some() {
                    metrics::resume_result(metrics::RESUME_REFUSED);
                }
                return self.refuse_hello(cause);
            }
        };
        let mut seat = SeatTaken::None;
        if let Some(claims) = &claims {
            seat = self.take_seat(claims);
            let has_token = hello.token().is_some_and(|t| !t.is_empty());
            metrics::resume_result(seat.result());
            if matches!(seat, SeatTaken::None | SeatTaken::Busy) && !has_token {
                return self.refuse_hello(Disconnect::Unauthorized(AuthRefusal::ResumeExpired));
            }
        }
        metrics::auth_accepted(identity.kind);
        if matches!(seat, SeatTaken::None | SeatTaken::Busy) {
            // A login that does not take its seat back gives it up: the
            // newest login wins, as with a live session.
            node.resume.end_held(&identity.player_id);
        }
        let since_us = clock::now_micros();
        if auth
            .live
            .claim(&identity.player_id, self.id, &self.kick, since_us)
        {
            metrics::session_replaced();
            tracing::debug!(
                session = self.id,
                "an older session of this player was replaced"
            );
        }
        let presence = &node.presence;
        // A player sent to the node holding its seat must not close that
        // seat's session there as an older login.
        if presence.is_shared() && !matches!(seat, SeatTaken::Elsewhere { .. }) {
            // The node holding an older session of this player closes it.
            presence.access(crate::presence::AccessAction::Replace {
                player: identity.player_id.clone(),
                at_us: since_us,
            });
        }
        self.welcome(&identity, matches!(seat, SeatTaken::Here));
        self.player = Some(identity.player_id);
        self.name = identity.name;
        self.guest = identity.kind == IdentityKind::Guest;
        if let (SeatTaken::Elsewhere { url, room_id }, Some(resume)) = (&seat, resume_token) {
            tracing::debug!(session = self.id, %room_id, %url, "resume redirected");
            let redirect = encode(|e| e.redirect_resume(url, room_id, resume));
            self.reply(OutKind::Redirect, redirect);
        }
        Step::Continue
    }

    fn refuse_hello(&mut self, cause: Disconnect) -> Step {
        metrics::auth_refused(match cause {
            Disconnect::Banned => metrics::REFUSED_BANNED,
            other => other.label(),
        });
        tracing::debug!(session = self.id, refused = cause.label(), "hello refused");
        Step::Close(cause)
    }

    /// Welcome, with a resume token for this session when resume is on.
    fn welcome(&mut self, identity: &Identity, resumed: bool) {
        let resume = &self.node.resume;
        let token = if resume.enabled() {
            self.node
                .auth
                .mint_resume(identity, resume.own(), self.id)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "resume token not signed; this session cannot resume");
                    String::new()
                })
        } else {
            String::new()
        };
        let grace_ms = u32::try_from(resume.grace().as_millis()).unwrap_or(u32::MAX);
        let fields = WelcomeResume {
            token: &token,
            grace_ms,
            resumed,
        };
        let player: Arc<str> = identity.player_id.clone();
        let welcome = encode(|e| {
            e.welcome_resumable(
                self.id,
                &self.node.node_id,
                self.node.config.room.tick_rate,
                clock::now_micros(),
                &player,
                &identity.name,
                &fields,
            )
        });
        self.reply(OutKind::Welcome, welcome);
    }
}
