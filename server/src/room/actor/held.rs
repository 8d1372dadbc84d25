//! Held seats: a member whose connection dropped keeps its seat, entity
//! and presence placement for `--resume-grace`. While held, the member has
//! no outbox (it is skipped by every broadcast), the game has been told
//! ([`crate::game::Game::player_dropped`]) and the other members see it as
//! away. A resume ([`ResumeRequest`]) attaches a new session's outbox to
//! the seat; a grace that ends without one is an ordinary leave.
//!
//! The resume registry ([`crate::resume`]) decides races between the two:
//! the room ends a held seat only after removing its registry entry
//! itself; a resume that removed it first has its request in the control
//! queue, and the room waits for it.

use tickforge_protocol::encode::PlayerEntry;
use tickforge_protocol::wire::ErrorCode;
use tokio::time::Instant;

use super::{Audience, Member, Room};
use crate::metrics::{self, OutKind};
use crate::net::close::Disconnect;
use crate::net::wire::WireFrame;
use crate::resume::ResumeKey;
use crate::room::handle::{MembershipId, ResumeRequest};

impl Room {
    /// Whether a member whose outbox closed keeps its seat: resume is on
    /// and its session closed for a resume, or a resume already took its
    /// registry entry (the old session was half-open; the resume's request
    /// follows in the control queue).
    pub(super) fn holds_after_close(&self, member: &Member) -> bool {
        let resume = &self.settings.resume;
        resume.enabled()
            && (member.outbox.closed_for_resume() || !resume.contains(&member.resume_key))
    }

    /// Marks member `i` as away from now; it is announced once settled.
    pub(super) fn begin_hold(&mut self, i: usize) {
        let grace = self.settings.resume.grace();
        let member = &mut self.members[i];
        if member.away_until.is_some() {
            return;
        }
        member.away_until = Some(Instant::now() + grace);
        self.away += 1;
        metrics::seats_held(1.0);
        self.dropped.push(member.membership);
    }

    /// Tells the game and the other members that a held member is away.
    pub(super) fn settle_dropped(&mut self, membership: MembershipId) {
        let Some(member) = self
            .members
            .iter()
            .find(|m| m.membership == membership && m.away_until.is_some())
        else {
            // Resumed (or gone) before it was announced.
            return;
        };
        let entity = member.entity;
        self.settings.resume.mark_away(&member.resume_key);
        tracing::debug!(room = %self.handle.shared.id, entity, "seat held for a resume");
        let away = self.enc.player_away(
            PlayerEntry {
                entity_id: entity,
                name: &member.name,
            },
            true,
        );
        self.game.player_dropped(entity);
        self.broadcast(OutKind::PlayerAway, &away, Audience::All);
    }

    /// Ends the held seats whose grace is over (ordinary leaves), unless a
    /// resume took the seat first.
    pub(super) fn expire_held(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.members.len() {
            let member = &self.members[i];
            let over = member.away_until.is_some_and(|until| until <= now);
            if over && self.settings.resume.release(&member.resume_key) {
                metrics::grace_expired();
                let member = self.members.swap_remove(i);
                self.removed.push(member);
            } else {
                i += 1;
            }
        }
        self.settle_removed();
    }

    /// A newer login, a kick or a ban ends the held seat `key` at once
    /// (the registry entry is already gone): an ordinary leave.
    pub(super) fn end_hold(&mut self, key: &ResumeKey) {
        if let Some(i) = self
            .members
            .iter()
            .position(|m| m.resume_key == *key && m.away_until.is_some())
        {
            let member = self.members.swap_remove(i);
            self.removed.push(member);
        }
    }

    /// A resuming session takes the seat its token names: the new outbox,
    /// kick and membership replace the old ones; it gets Joined (resumed,
    /// full state, the last applied input sequence), the others PlayerAway
    /// (back). A still-connected old session is closed at once.
    pub(super) fn resume_member(&mut self, request: ResumeRequest) {
        let Some(i) = self
            .members
            .iter()
            .position(|m| m.resume_key == request.key && m.player_id == request.player_id)
        else {
            let gone = self
                .enc
                .error(ErrorCode::RoomNotFound, "the held seat is gone");
            if request.outbox.try_send(WireFrame::binary(gone)).is_err() {
                tracing::debug!("resuming session gone before its refusal");
            }
            // Dropping the request's outbox tells the session the room let go.
            return;
        };
        let member = &mut self.members[i];
        if std::mem::take(&mut member.handed_in) {
            metrics::handoff_member_arrived();
        }
        let was_away = member.away_until.take().is_some();
        if was_away {
            self.away -= 1;
            metrics::seats_held(-1.0);
        } else {
            member.kick.kick(Disconnect::Resumed);
        }
        member.membership = request.membership;
        member.outbox = request.outbox;
        member.kick = request.kick;
        member.inputs_queued = request.inputs_queued;
        member.resume_key = request.new_key;
        member.interest = request.interest && self.replication.is_some();
        member.held = None;
        let (entity, last_seq) = (member.entity, member.last_seq);
        self.settings.resume.seat(
            member.resume_key.clone(),
            self.handle.clone(),
            member.player_id.clone(),
            member.kick.clone(),
        );
        tracing::debug!(room = %self.handle.shared.id, entity, "seat resumed");
        self.send_joined(entity, request.membership.session, Some(last_seq));
        if was_away && let Some(member) = self.members.iter().find(|m| m.entity == entity) {
            let back = self.enc.player_away(
                PlayerEntry {
                    entity_id: entity,
                    name: &member.name,
                },
                false,
            );
            self.broadcast(
                OutKind::PlayerAway,
                &back,
                Audience::AllBut(request.membership.session),
            );
        }
    }
}
