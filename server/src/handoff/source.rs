//! The draining node's side of a hand-off: after `--drain-delay`, each room
//! in turn is frozen, offered to the least-loaded node that is not draining
//! (the next one after a refusal), and either redirected there or left to
//! close as on a single node. See [`super`] for the protocol.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tickforge_protocol::resume_token::ResumeClaims;
use tokio::sync::oneshot;

use super::HandoffError;
use super::link::{Link, OK};
use super::record::{HandoffRecord, RECORD_VERSION};
use crate::clock;
use crate::metrics;
use crate::node::Node;
use crate::room::{Freeze, Frozen, RoomHandle, Verdict};

/// Nodes a room is offered to before its hand-off fails.
pub const MAX_TARGETS: usize = 2;

/// How often the drain looks whether the redirected clients have gone.
const LINGER_POLL: Duration = Duration::from_millis(20);

/// What became of one room.
enum Outcome {
    Moved,
    /// The room ended by itself meanwhile (empty): nothing to hand off.
    Gone,
}

/// Hands off every room of `node` (a drain with `--presence redis://…`);
/// rooms that cannot move are left to close at shutdown. Then waits, up to
/// `--handoff-timeout`, for the redirected clients to disconnect, so none of
/// them sees the shutdown's 1001.
pub async fn hand_off_all(node: &Arc<Node>) {
    let Some(redis_url) = node.config.presence.redis_url() else {
        return;
    };
    let rooms = node.directory.rooms();
    if rooms.is_empty() {
        return;
    }
    let timeout = node.config.drain.handoff_timeout;
    if node.presence.view().peers_taking_rooms().is_empty() {
        tracing::info!(
            rooms = rooms.len(),
            "drain: no node takes rooms; closing them here"
        );
        (0..rooms.len()).for_each(|_| metrics::handoff_room(HandoffError::NoTarget.label()));
        return;
    }
    let link = match Link::connect(redis_url, timeout).await {
        Ok(link) => link,
        Err(e) => {
            (0..rooms.len()).for_each(|_| metrics::handoff_room(e.label()));
            return;
        }
    };
    let mut moved = 0;
    // Targets that timed out or failed in transport are not asked again in
    // this drain: a dead peer costs at most one wait, not one per room.
    let mut unreachable = HashSet::new();
    for room in rooms {
        match hand_off(node, &link, &room, &mut unreachable).await {
            Ok(Outcome::Moved) => {
                moved += 1;
                metrics::handoff_room(metrics::HANDOFF_MOVED);
            }
            Ok(Outcome::Gone) => {}
            Err(e) => {
                tracing::warn!(room = %room.info().id, error = %e, "hand-off failed");
                metrics::handoff_room(e.label());
            }
        }
    }
    link.close().await;
    if moved > 0 {
        linger(node, timeout).await;
    }
}

/// Waits until the node has no connection left, or `limit`.
async fn linger(node: &Node, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let open: i64 = node.shards.iter().map(|s| s.metrics.connections()).sum();
        if open <= 0 {
            return;
        }
        tokio::time::sleep(LINGER_POLL).await;
    }
}

/// Freezes `room`, moves it, and tells it the verdict.
async fn hand_off(
    node: &Arc<Node>,
    link: &Link,
    room: &RoomHandle,
    unreachable: &mut HashSet<Arc<str>>,
) -> Result<Outcome, HandoffError> {
    let timeout = node.config.drain.handoff_timeout;
    let (frozen_tx, frozen_rx) = oneshot::channel();
    let (verdict_tx, verdict_rx) = oneshot::channel();
    room.freeze(Freeze {
        frozen: frozen_tx,
        verdict: verdict_rx,
    })
    .map_err(|_| HandoffError::Timeout)?;
    let frozen = match tokio::time::timeout(timeout, frozen_rx).await {
        Ok(Ok(frozen)) => frozen,
        Ok(Err(_)) => return Ok(Outcome::Gone),
        Err(_) => return Err(HandoffError::Timeout),
    };
    // Whatever happens below, a dropped `verdict_tx` tells the room to stay.
    let verdict = move_frozen(node, link, room, frozen, unreachable).await?;
    if verdict_tx.send(verdict).is_err() {
        tracing::warn!(room = %room.info().id, "room gone before its hand-off verdict");
    }
    Ok(Outcome::Moved)
}

/// Offers the frozen room to the nodes that take rooms, in turn.
async fn move_frozen(
    node: &Arc<Node>,
    link: &Link,
    room: &RoomHandle,
    frozen: Frozen,
    unreachable: &mut HashSet<Arc<str>>,
) -> Result<Verdict, HandoffError> {
    let drain = &node.config.drain;
    let game = frozen.game.ok_or(HandoffError::Unsupported)?;
    let info = room.info();
    let mut record = HandoffRecord {
        version: RECORD_VERSION,
        room: info.id.to_string(),
        mode: info.mode.to_string(),
        source: node.node_id.clone(),
        target: String::new(),
        tick: frozen.tick,
        last_tick_us: frozen.last_tick_us,
        deadline_us: 0,
        game: String::new(),
        members: frozen.members,
    };
    record.set_game(&game);
    let mut failure = HandoffError::NoTarget;
    let peers = node.presence.view().peers_taking_rooms();
    let reachable: Vec<_> = peers
        .into_iter()
        .filter(|(n, _)| !unreachable.contains(n))
        .take(MAX_TARGETS)
        .collect();
    for (target, url) in reachable {
        record.target = target.to_string();
        let wait = u64::try_from(drain.handoff_timeout.as_micros()).unwrap_or(u64::MAX);
        record.deadline_us = clock::now_micros().saturating_add(wait);
        let bytes = record.encode(drain.handoff_max_bytes)?;
        match offer(link, &record.room, &target, bytes, drain.handoff_timeout).await {
            Ok(()) => {
                return Ok(Verdict::Moved {
                    url,
                    tokens: tokens(node, &record),
                });
            }
            Err(e) => {
                tracing::warn!(room = %record.room, %target, error = %e, "hand-off target did not take the room");
                if matches!(e, HandoffError::Timeout | HandoffError::Transport) {
                    unreachable.insert(target);
                }
                failure = e;
            }
        }
    }
    Err(failure)
}

/// Offers the record to `target` and waits for its answer.
async fn offer(
    link: &Link,
    room: &str,
    target: &str,
    record: Vec<u8>,
    timeout: Duration,
) -> Result<(), HandoffError> {
    link.offer(room, target, record).await?;
    let answer = match link.reply(room, timeout).await? {
        Some(answer) => answer,
        // Taken back before the target took it: a clean failure.
        None if link.withdraw(room).await? => return Err(HandoffError::Timeout),
        // The target took it and is finishing: one more timeout for its answer.
        None => link
            .reply(room, timeout)
            .await?
            .ok_or(HandoffError::Timeout)?,
    };
    if answer == OK {
        return Ok(());
    }
    let label = answer.strip_prefix("refused ").unwrap_or("refused");
    Err(HandoffError::from_label(label))
}

/// A resume token for every member's key, signed with the cluster's key.
fn tokens(node: &Node, record: &HandoffRecord) -> HashMap<(String, u64), String> {
    record
        .members
        .iter()
        .filter_map(|m| {
            let claims = ResumeClaims::new(
                m.player.as_str(),
                Some(m.name.clone()),
                m.guest,
                m.key_node.as_str(),
                m.key_session,
            );
            match node.auth.mint_resume_claims(&claims) {
                Ok(token) => Some(((m.key_node.clone(), m.key_session), token)),
                Err(e) => {
                    tracing::error!(error = %e, "resume token not signed; this member cannot follow its room");
                    None
                }
            }
        })
        .collect()
}
