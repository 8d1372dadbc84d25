//! A bench room and the join request of one bench member (the room-tick
//! benches tick a room in place and seat their players directly, without
//! sessions).

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use std::time::Duration;

use tickforge_server::game::Mode;
use tickforge_server::metrics::ShardMetrics;
use tickforge_server::net::kick::Kick;
use tickforge_server::presence::PresenceHandle;
use tickforge_server::resume::{ResumeKey, ResumeRegistry};
use tickforge_server::room::{
    JoinRequest, MembershipId, OutboxSender, Room, RoomHandle, RoomSettings,
};

/// A room of `mode` on shard 0 with local presence, no snapshots and no
/// creator waiting: tick it with [`Room::tick`].
pub fn bench_room(mode: &Mode) -> (Room, RoomHandle) {
    let (handle, creator) = RoomHandle::create(Arc::from("bench"), mode, 0, 4, false);
    drop(creator);
    let settings = RoomSettings {
        empty_grace: Duration::from_secs(60),
        metrics: Arc::new(ShardMetrics::new(0, Duration::from_millis(1))),
        presence: PresenceHandle::local("bench", "ws://127.0.0.1/ws"),
        snapshots: None,
        resume: Arc::new(ResumeRegistry::new("bench", Duration::from_secs(15))),
    };
    let room = Room::new(handle.clone(), (mode.kind.create)(mode.params), settings);
    (room, handle)
}

/// Seat `session` (its only membership) with `outbox`; `interest`: the
/// member speaks `tickforge.v2`.
pub fn join_request(
    session: u64,
    outbox: OutboxSender,
    inputs_queued: Arc<AtomicU32>,
    interest: bool,
) -> JoinRequest {
    JoinRequest {
        membership: MembershipId {
            session,
            generation: 1,
        },
        player_id: Arc::from(format!("p{session}")),
        name: Arc::from(format!("P{session}")),
        outbox,
        kick: Arc::new(Kick::default()),
        inputs_queued,
        saved: None,
        claim: None,
        guest: false,
        resume_key: ResumeKey {
            node: Arc::from("bench"),
            session,
        },
        interest,
    }
}
