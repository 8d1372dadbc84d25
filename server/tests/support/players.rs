//! Players for the snapshot tests, over real WebSocket clients: they join,
//! wander (a new direction every 100 ms), halt (and record the position
//! the server acknowledged), and leave. What they saw last is what the
//! store must hold.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tickforge_protocol::arena_codec;
use tickforge_protocol::client::{Client, ConnectOptions};
use tickforge_server::persist::{Snapshot, SnapshotStore};
use tokio::time::Instant;

use super::{arena_input, next_state, position};

const WAIT: Duration = Duration::from_secs(20);

/// One connected, seated player.
pub struct Player {
    pub id: String,
    pub client: Client,
    pub entity: u32,
    pub room: String,
    index: usize,
}

/// Where a player stopped, as the server reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stopped {
    pub x: f32,
    pub y: f32,
}

/// Connects `count` players `{prefix}-{i}` and joins each to an arena room.
pub async fn join(url: &str, prefix: &str, count: usize) -> Vec<Player> {
    let players = (0..count)
        .map(|index| {
            let id = format!("{prefix}-{index}");
            let options = super::player_options(&id);
            (id, options)
        })
        .collect();
    join_each(url, players).await
}

/// Connects each `(player id, options)` and joins it to an arena room.
pub async fn join_each(url: &str, players: Vec<(String, ConnectOptions)>) -> Vec<Player> {
    let url = url.to_string();
    let mut players: Vec<Player> = futures_util::stream::iter(players.into_iter().enumerate())
        .map(|(index, (id, mut options))| {
            let url = url.clone();
            async move {
                options.timeout = WAIT;
                let mut client = Client::connect(&url, options).await.expect("connects");
                let joined = client.join_or_create("arena").await.expect("joins");
                Player {
                    id,
                    client,
                    entity: joined.entity_id,
                    room: joined.room_id,
                    index,
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    players.sort_by_key(|p| p.index);
    players
}

fn direction(index: usize, step: usize) -> (i8, i8) {
    let x = ((index * 7 + step * 13) % 255) as i32 - 127;
    let y = ((index * 11 + step * 5 + 64) % 255) as i32 - 127;
    (x as i8, y as i8)
}

impl Player {
    /// Moves in a new direction every 100 ms for `time`, reading everything.
    async fn wander(mut self, time: Duration) -> Player {
        let until = Instant::now() + time;
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let mut step = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if Instant::now() >= until {
                        return self;
                    }
                    step += 1;
                    let (x, y) = direction(self.index, step);
                    self.client.send_input(&arena_input(x, y)).await.expect("input sent");
                }
                event = self.client.next_event() => {
                    event.unwrap_or_else(|e| panic!("{} lost its connection: {e}", self.id));
                }
            }
        }
    }

    /// Stops moving; returns the position of the first State that applied
    /// the stop (the player stays there). A stop the server dropped (a full
    /// input queue under load is counted, not an error) is sent again after
    /// 20 States without its ack; the whole wait is bounded by `WAIT`.
    async fn halt(mut self) -> (Player, Stopped) {
        let give_up = Instant::now() + WAIT;
        loop {
            let seq = self
                .client
                .send_input(&arena_input(0, 0))
                .await
                .expect("stop sent");
            for _ in 0..20 {
                assert!(
                    Instant::now() < give_up,
                    "{}: no stop acknowledged within {WAIT:?}",
                    self.id
                );
                let state = next_state(&mut self.client, WAIT).await;
                if state.ack_for(self.entity).is_some_and(|ack| ack >= seq) {
                    let (x, y) = position(&state.state, self.entity).expect("own entity in state");
                    return (self, Stopped { x, y });
                }
            }
        }
    }
}

/// Every player wanders for `time`, concurrently.
pub async fn wander(players: Vec<Player>, time: Duration) -> Vec<Player> {
    let tasks: Vec<_> = players
        .into_iter()
        .map(|p| tokio::spawn(p.wander(time)))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("player task"));
    }
    out
}

/// Every player stops; returns them with where they stopped.
pub async fn halt(players: Vec<Player>) -> Vec<(Player, Stopped)> {
    let tasks: Vec<_> = players
        .into_iter()
        .map(|p| tokio::spawn(p.halt()))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("player task"));
    }
    out
}

/// Every player leaves its room and disconnects.
pub async fn leave(players: Vec<(Player, Stopped)>) -> Vec<(String, Stopped)> {
    let tasks: Vec<_> = players
        .into_iter()
        .map(|(mut p, stopped)| {
            tokio::spawn(async move {
                p.client.leave().await.expect("leaves");
                p.client.close().await.ok();
                (p.id, stopped)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("player task"));
    }
    out
}

/// The saved arena position in a snapshot.
pub fn saved_position(snapshot: &Snapshot) -> (f32, f32) {
    let saved = arena_codec::decode_save(&snapshot.state).expect("an ArenaSave");
    (saved.x, saved.y)
}

/// Asserts that `store` holds, for every player, exactly the snapshot of
/// where they stopped (the last one taken: they left after stopping).
pub async fn assert_store_holds_latest<S: SnapshotStore>(
    store: &S,
    expected: &[(String, Stopped)],
) {
    let mut wrong = Vec::new();
    for (player, stopped) in expected {
        match store.load(Arc::from(player.as_str())).await.expect("load") {
            // Version 1 is a player who never moved (its inputs all fell on
            // late ticks): a leave writes only a changed state.
            Some(s) if saved_position(&s) == (stopped.x, stopped.y) && s.version >= 1 => {}
            other => wrong.push(format!(
                "{player}: expected ({}, {}), stored {:?}",
                stopped.x,
                stopped.y,
                other.map(|s| (saved_position(&s), s.version))
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} players lack their latest snapshot, e.g. {:?}",
        wrong.len(),
        expected.len(),
        &wrong[..wrong.len().min(5)]
    );
}

/// A fresh player id prefix for this process and moment.
pub fn run_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Snapshots in the spill file of data directory `dir`.
pub fn spill_count(dir: &std::path::Path) -> usize {
    tickforge_server::persist::spill::read(&dir.join("snapshots.spill"))
        .expect("spill file readable")
        .map_or(0, |rows| rows.len())
}

/// `count` players join `server`, wander for 3 s, stop and leave; checks
/// that they made many updates (20 captured snapshots per player or more) and returns where each one stopped.
pub async fn many_updates_then_leave(
    server: &super::TestServer,
    prefix: &str,
    count: usize,
) -> Vec<(String, Stopped)> {
    let captured_before = server.metric("tickforge_snapshots_captured_total").await;
    let joined = join(&server.url(), prefix, count).await;
    let moved = wander(joined, Duration::from_secs(3)).await;
    let stopped = halt(moved).await;
    let left = leave(stopped).await;
    let captured = server.metric("tickforge_snapshots_captured_total").await - captured_before;
    assert!(
        captured >= 20.0 * count as f64,
        "many updates per player: {captured} snapshots captured"
    );
    left
}
