//! A session's room membership: joining (seat, saved state, claim), the
//! membership itself (room handle, outbox, input budget, generation),
//! leaving, and the inputs it forwards to the room.
//!
//! Every join gets a new [`MembershipId`] generation, carried by its inputs
//! and its leave: inputs queued just before a leave are never applied to the
//! seat of a rejoin in the same tick.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use bytes::Bytes;
use tickforge_protocol::wire::{ErrorCode, Input, JoinRoom};

use super::{Session, Step, encode};
use crate::directory::JoinError;
use crate::metrics::{self, OutKind};
use crate::net::close::Disconnect;
use crate::node::JoinTarget;
use crate::persist::{LoadError, Loaded};
use crate::room::outbox::Queued;
use crate::room::{JoinRequest, MembershipId, OutboxReceiver, RoomHandle, Seat, outbox};

/// A join whose seat is reserved while the player's saved state loads.
pub(super) type Joining = Pin<Box<dyn Future<Output = (Seat, Result<Loaded, LoadError>)> + Send>>;

/// The room the session is in.
pub(super) struct Membership {
    room: RoomHandle,
    pub(super) outbox: OutboxReceiver,
    inputs_queued: Arc<AtomicU32>,
    id: MembershipId,
}

impl Membership {
    /// A membership in `room` through `outbox`.
    pub(super) fn new(
        room: RoomHandle,
        outbox: OutboxReceiver,
        inputs_queued: Arc<AtomicU32>,
        id: MembershipId,
    ) -> Membership {
        Membership {
            room,
            outbox,
            inputs_queued,
            id,
        }
    }

    /// The connection dropped: the room holds the seat for a resume.
    pub(super) fn close_for_resume(self) {
        self.outbox.close_for_resume();
    }
}

impl Session {
    pub(super) fn on_join(&mut self, join: JoinRoom<'_>) {
        if self.room.is_some() || self.joining.is_some() {
            return self.reply_error(ErrorCode::AlreadyInRoom, "leave the current room first");
        }
        let creates = self.limits.creates();
        let seat = match (join.room_id(), join.mode()) {
            (Some(room_id), _) => self.node.join_room(room_id),
            (None, Some(mode)) if join.private() => {
                self.node.create_private(mode, self.shard, creates)
            }
            (None, Some(mode)) => self.node.join_or_create(mode, self.shard, creates),
            (None, None) => Err(JoinError::NothingToJoin),
        };
        let seat = match seat {
            Ok(JoinTarget::Here(seat)) => seat,
            Ok(JoinTarget::Elsewhere { url, room_id }) => {
                tracing::debug!(session = self.id, %room_id, %url, "join redirected");
                let redirect = encode(|e| e.redirect(&url, &room_id));
                return self.reply(OutKind::Redirect, redirect);
            }
            Err(e) => {
                let code = match e {
                    JoinError::RoomNotFound => ErrorCode::RoomNotFound,
                    JoinError::RoomFull => ErrorCode::RoomFull,
                    JoinError::UnknownMode => ErrorCode::UnknownMode,
                    JoinError::NothingToJoin => ErrorCode::InvalidInput,
                    JoinError::Draining => ErrorCode::Draining,
                    JoinError::CreateRate | JoinError::TooManyRooms => ErrorCode::ServerBusy,
                };
                tracing::debug!(session = self.id, refused = e.label(), "join refused");
                return self.reply_error(code, &e.to_string());
            }
        };
        let Some(player_id) = self.player.clone() else {
            return;
        };
        // The seat is held while the player's saved state loads (the room
        // does not wait: it sees the join only once the state is here).
        let snapshots = self.node.snapshots.clone();
        let node = self.node.clone();
        self.joining_room = Some(seat.room().clone());
        self.joining = Some(Box::pin(async move {
            node.seated_elsewhere_released(&player_id).await;
            let at_least = node.presence.view().saved_version_elsewhere(&player_id);
            let loaded = snapshots.claim_and_load(player_id, at_least).await;
            (seat, loaded)
        }));
    }

    /// The saved state of a join arrived (or not in time, or too many loads
    /// were in progress: the join is refused and the seat given back).
    pub(super) fn on_loaded(&mut self, seat: Seat, loaded: Result<Loaded, LoadError>) -> Step {
        self.joining = None;
        self.joining_room = None;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::debug!(
                    session = self.id,
                    refused = e.label(),
                    "saved state not loaded; join refused"
                );
                if e == LoadError::Busy {
                    metrics::join_refused(metrics::JOIN_REFUSED_STORE_LOADS);
                }
                self.reply_error(
                    ErrorCode::ServerBusy,
                    "saved player state unavailable; try again",
                );
                return Step::Continue;
            }
        };
        let Some(player_id) = self.player.clone() else {
            return Step::Continue;
        };
        let (tx, rx) = outbox(self.node.config.session.outbox_frames);
        rx.attach_socket(self.direct.clone());
        let inputs_queued = Arc::new(AtomicU32::new(0));
        self.joins += 1;
        let id = MembershipId {
            session: self.id,
            generation: self.joins,
        };
        let joined = seat.join(JoinRequest {
            membership: id,
            name: self.name.clone(),
            player_id,
            outbox: tx,
            kick: self.kick.clone(),
            inputs_queued: inputs_queued.clone(),
            saved: loaded.snapshot,
            claim: Some(loaded.claim),
            guest: self.guest,
            resume_key: self.node.resume.own_key(self.id),
            interest: self.interest,
        });
        match joined {
            Ok(room) => {
                self.node
                    .directory
                    .seat_session(self.id, room.info().id.clone());
                self.room = Some(Membership {
                    room,
                    outbox: rx,
                    inputs_queued,
                    id,
                });
            }
            Err(e) => self.reply_error(ErrorCode::ServerBusy, &e.to_string()),
        }
        Step::Continue
    }

    pub(super) fn on_leave(&mut self) {
        match self.leave_room() {
            Some(room_id) => {
                let left = encode(|e| e.left(&room_id));
                self.reply(OutKind::Left, left);
            }
            None => self.reply_error(ErrorCode::NotInRoom, "not in a room"),
        }
    }

    /// Leaves the current room, if any; frames still queued from it are dropped.
    pub(super) fn leave_room(&mut self) -> Option<Arc<str>> {
        let membership = self.room.take()?;
        // A closed outbox means the room already removed us (and freed the seat).
        if !membership.outbox.is_closed() {
            membership.room.leave(membership.id);
        }
        self.node.directory.unseat_session(self.id);
        Some(membership.room.info().id.clone())
    }

    /// The room let go of the session (it closed); the session stays open.
    pub(super) fn room_closed(&mut self) {
        self.room = None;
        self.node.directory.unseat_session(self.id);
        self.reply_error(ErrorCode::ServerBusy, "the room closed");
    }

    pub(super) fn on_input(&mut self, input: Input<'_>, frame: &Bytes) -> Step {
        let payload = input.payload().map(|p| p.bytes()).unwrap_or_default();
        let Some(membership) = &self.room else {
            if let Some(room) = &self.joining_room
                && room.validate_input(payload).is_err()
            {
                return Step::Close(Disconnect::BadInput);
            }
            self.metrics.input_dropped(metrics::DROP_NOT_IN_ROOM);
            return Step::Continue;
        };
        // Verified once, by the room's game when it applies the input (a
        // malformed one closes the session through its kick).
        let payload = if payload.is_empty() {
            Bytes::new()
        } else {
            frame.slice_ref(payload)
        };
        if let Err(refused) = membership.room.send_input(
            membership.id,
            input.seq(),
            payload,
            &membership.inputs_queued,
        ) {
            self.metrics.input_dropped(refused.label());
        }
        Step::Continue
    }
}

/// The seat and saved state of a join in progress, or never.
pub(super) async fn next_loaded(
    joining: &mut Option<Joining>,
) -> (Seat, Result<Loaded, LoadError>) {
    match joining {
        Some(load) => load.await,
        None => std::future::pending().await,
    }
}

/// The next frame from the room, or never when not in a room.
pub(super) async fn next_outbound(room: &mut Option<Membership>) -> Option<Queued> {
    match room {
        Some(m) => m.outbox.recv().await,
        None => std::future::pending().await,
    }
}
