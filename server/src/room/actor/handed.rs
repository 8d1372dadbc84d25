//! A room's side of a live hand-off ([`crate::handoff`]).
//!
//! On the draining node, a [`Freeze`] stops the room between two ticks: it
//! answers with its [`Frozen`] state (the game's room blob, the tick, every
//! member with its entity, last applied input and snapshot version, each
//! member's snapshot handed to the writer first) and waits for the
//! [`Verdict`]. `Moved`: every connected member gets a Redirect with the
//! target's URL, the room id and a resume token, and the room ends
//! (announced as moved, not closed). `Stay`: it ticks on and closes at
//! shutdown like any room.
//!
//! On the receiving node, [`Room::adopt`] seats the members of a handed-over
//! room in held seats, registered under their existing resume keys, before
//! the room's first tick; the game is told each one dropped (the entity
//! stops where the source left it) and each arrives by resuming.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Member, Room};
use crate::clock;
use crate::handoff::HandedMember;
use crate::metrics::{self, OutKind};
use crate::net::kick::Kick;
use crate::net::wire::WireFrame;
use crate::persist::Snapshot;
use crate::resume::ResumeKey;
use crate::room::handle::MembershipId;
use crate::room::outbox;
use crate::room::snapshot::MemberSnapshot;

/// A request to freeze a room for a hand-off.
pub struct Freeze {
    /// Where the room sends its state once frozen.
    pub frozen: oneshot::Sender<Frozen>,
    /// Where the verdict comes from; a dropped sender means `Stay`.
    pub verdict: oneshot::Receiver<Verdict>,
}

/// A frozen room's state.
pub struct Frozen {
    /// The game's room blob; `None`: the game cannot be handed off.
    pub game: Option<Vec<u8>>,
    /// The last tick run.
    pub tick: u64,
    /// When it ran, Unix microseconds.
    pub last_tick_us: u64,
    /// Every member, connected or held.
    pub members: Vec<HandedMember>,
}

/// What becomes of a frozen room.
pub enum Verdict {
    /// Another node runs the room now: redirect the members there.
    Moved {
        /// The target's public WebSocket URL.
        url: Arc<str>,
        /// Resume token of each member, by resume key (node, session).
        tokens: HashMap<(String, u64), String>,
    },
    /// The hand-off failed: tick on.
    Stay,
}

impl Room {
    /// Freezes the room: every member's snapshot is handed to the writer,
    /// then the state goes to the hand-off, and the room waits for the
    /// verdict (see [`Room::run`]).
    pub(super) fn freeze(&mut self, freeze: Freeze) {
        if let Some(sink) = &self.settings.snapshots {
            let room_id = &self.handle.shared.id;
            for m in &mut self.members {
                m.snapshot
                    .capture(sink, &*self.game, m.entity, &m.player_id, room_id, false);
            }
        }
        let members = self
            .members
            .iter()
            .map(|m| {
                let mut handed = HandedMember {
                    player: m.player_id.to_string(),
                    name: m.name.to_string(),
                    guest: m.snapshot.guest(),
                    entity: m.entity,
                    last_seq: m.last_seq,
                    key_node: m.resume_key.node.to_string(),
                    key_session: m.resume_key.session,
                    snapshot_version: m.snapshot.version(),
                    captured_us: m.snapshot.captured_us(),
                    saved: None,
                };
                handed.set_saved(m.snapshot.last().map(|b| &b[..]));
                handed
            })
            .collect();
        let last_tick_us = match self.last_tick_us {
            0 => clock::now_micros(),
            us => us,
        };
        let frozen = Frozen {
            game: self.game.save_room(),
            tick: self.handle.shared.tick.load(Ordering::Relaxed),
            last_tick_us,
            members,
        };
        if freeze.frozen.send(frozen).is_err() {
            tracing::debug!(room = %self.handle.shared.id, "hand-off gone before the room froze");
            return;
        }
        self.frozen = Some(freeze.verdict);
    }

    /// Applies a hand-off's verdict; true when the room moved (it ends).
    pub(super) fn settle_hand_off(&mut self, verdict: Verdict) -> bool {
        let Verdict::Moved { url, tokens } = verdict else {
            tracing::info!(room = %self.handle.shared.id, "hand-off failed; the room ticks on");
            return false;
        };
        let room_id = self.handle.shared.id.clone();
        let mut redirected = 0;
        for m in &self.members {
            if m.away_until.is_some() {
                // No connection: its token's key is held on the target.
                continue;
            }
            let key = (m.resume_key.node.to_string(), m.resume_key.session);
            let token = tokens.get(&key).map_or("", String::as_str);
            let frame = self.enc.redirect_resume(&url, &room_id, token);
            let len = frame.len();
            if m.outbox.try_send(WireFrame::binary(frame)).is_ok() {
                redirected += 1;
                self.settings.metrics.sent(OutKind::Redirect, len, 1);
            }
        }
        metrics::handoff_members_redirected(redirected);
        self.handle.shared.moved.store(true, Ordering::Release);
        tracing::info!(room = %room_id, %url, redirected, "room handed off");
        true
    }

    /// Seats the members of a room handed over from another node, each in
    /// a held seat under its resume key, before the first tick; the game
    /// already holds their entities. `source_tick_us`: the source's last
    /// tick (the pause is measured from it).
    pub fn adopt(&mut self, members: Vec<(HandedMember, Option<Bytes>)>, source_tick_us: u64) {
        let grace = self.settings.resume.grace();
        let until = Instant::now() + grace;
        let room_id = self.handle.shared.id.clone();
        for (n, (handed, saved)) in members.into_iter().enumerate() {
            let player_id: Arc<str> = Arc::from(handed.player.as_str());
            let saved = saved.map(|state| Snapshot {
                player_id: player_id.clone(),
                room_id: room_id.clone(),
                version: handed.snapshot_version,
                captured_us: handed.captured_us,
                state,
                expires_us: None,
            });
            // A closed outbox: the seat is held until the member resumes.
            let (closed, _) = outbox(1);
            let member = Member {
                // Not a session of this node: replaced by the resume's.
                membership: MembershipId {
                    session: u64::MAX - n as u64,
                    generation: 0,
                },
                entity: handed.entity,
                player_id: player_id.clone(),
                name: Arc::from(handed.name.as_str()),
                outbox: closed,
                kick: Arc::new(Kick::default()),
                inputs_queued: Arc::new(AtomicU32::new(0)),
                last_seq: handed.last_seq,
                snapshot: MemberSnapshot::new(saved.as_ref(), None, handed.guest),
                resume_key: ResumeKey {
                    node: Arc::from(handed.key_node.as_str()),
                    session: handed.key_session,
                },
                away_until: Some(until),
                handed_in: true,
                // Set by the member's resume (its subprotocol).
                interest: false,
                held: None,
            };
            let resume = &self.settings.resume;
            resume.seat(
                member.resume_key.clone(),
                self.handle.clone(),
                player_id.clone(),
                member.kick.clone(),
            );
            resume.mark_away(&member.resume_key);
            // Held like any dropped seat: the entity stops until its
            // member is back (and its position is exactly the source's).
            self.game.player_dropped(member.entity);
            self.away += 1;
            metrics::seats_held(1.0);
            self.count_member(1);
            self.members.push(member);
            self.settings
                .presence
                .player_joined(&room_id, &player_id, self.members.len() as u32);
        }
        self.paused_since_us = Some(source_tick_us);
    }
}
