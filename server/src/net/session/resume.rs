//! Session resume, the session's side: a Hello's resume token takes back
//! the seat its key names ([`crate::resume`]), and a session that drops
//! while seated leaves its seat held instead of leaving the room.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use tickforge_protocol::resume_token::ResumeClaims;

use super::Session;
use super::membership::Membership;
use crate::metrics;
use crate::net::close::Disconnect;
use crate::resume::ResumeKey;
use crate::room::{MembershipId, ResumeRequest, outbox};

/// What a resume token's seat turned out to be.
pub(super) enum SeatTaken {
    /// This node held it; the room is attaching this session to it.
    Here,
    /// Another node holds it: the client goes there with the same token.
    Elsewhere {
        /// That node's public URL.
        url: Arc<str>,
        /// The room.
        room_id: Arc<str>,
    },
    /// The room's control queue was full: the seat stays held.
    Busy,
    /// No node holds it (the grace ended, or the seat was left).
    None,
}

impl SeatTaken {
    /// `result` of `tickforge_resumes_total`.
    pub(super) fn result(&self) -> &'static str {
        match self {
            SeatTaken::Here => metrics::RESUME_RESUMED,
            SeatTaken::Elsewhere { .. } => metrics::RESUME_REDIRECTED,
            SeatTaken::Busy => metrics::RESUME_BUSY,
            SeatTaken::None => metrics::RESUME_EXPIRED,
        }
    }
}

impl Session {
    /// Takes the seat `claims` names: from this node's resume registry
    /// (then the room attaches this session and answers Joined), or, for a
    /// token of another node where presence places the player, a redirect.
    pub(super) fn take_seat(&mut self, claims: &ResumeClaims) -> SeatTaken {
        let node = self.node.clone();
        let key = ResumeKey {
            node: Arc::from(claims.node.as_str()),
            session: claims.sid,
        };
        if let Some(entry) = node.resume.take(&key, &claims.sub) {
            let (tx, rx) = outbox(node.config.session.outbox_frames);
            rx.attach_socket(self.direct.clone());
            let inputs_queued = Arc::new(AtomicU32::new(0));
            self.joins += 1;
            let id = MembershipId {
                session: self.id,
                generation: self.joins,
            };
            let request = ResumeRequest {
                key: key.clone(),
                player_id: Arc::from(claims.sub.as_str()),
                membership: id,
                outbox: tx,
                kick: self.kick.clone(),
                inputs_queued: inputs_queued.clone(),
                new_key: node.resume.own_key(self.id),
                interest: self.interest,
            };
            if entry.room.resume(request).is_err() {
                node.resume.restore(key, entry);
                return SeatTaken::Busy;
            }
            // The request is queued before the old session hears anything,
            // so its leave (if any) reaches the room after the resume and
            // no longer matches the seat.
            if let Some(old) = &entry.live {
                old.kick(Disconnect::Resumed);
                metrics::half_open_replaced();
            }
            let room_id = entry.room.info().id.clone();
            node.directory.seat_session(self.id, room_id);
            self.room = Some(Membership::new(entry.room, rx, inputs_queued, id));
            tracing::debug!(session = self.id, old = claims.sid, "seat resumed");
            return SeatTaken::Here;
        }
        let own = node.resume.own().clone();
        let view = node.presence.view();
        // A token of another node goes where presence places the player on
        // that node; one of this node, whose room was handed off in a
        // drain, goes where the room is now.
        let issued_here = *claims.node == *own;
        if let Some(placed) = view.placements(&claims.sub).into_iter().find(|p| {
            p.node != own && (*p.node == *claims.node || issued_here && node.drain.is_draining())
        }) && let Some(url) = view.url(&placed.node)
        {
            return SeatTaken::Elsewhere {
                url,
                room_id: placed.room,
            };
        }
        SeatTaken::None
    }

    /// The session ended with `cause`: a seated member leaves its room, or,
    /// when resume is on and the cause allows it (not LeaveRoom, a close
    /// with 1000, a kick, a ban, a newer login or shutdown), keeps its seat
    /// held for the grace.
    pub(super) fn end_membership(&mut self, cause: Disconnect) {
        let resume = self.node.resume.clone();
        let hold = resume.enabled() && cause.holds_seat() && !self.closed_normally;
        if !hold {
            self.leave_room();
            return;
        }
        let Some(membership) = self.room.take() else {
            return;
        };
        self.node.directory.unseat_session(self.id);
        if membership.outbox.is_closed() {
            return;
        }
        resume.mark_away(&resume.own_key(self.id));
        // The room sees the closed outbox at its next broadcast (within a
        // tick) and holds the seat.
        membership.close_for_resume();
    }
}
