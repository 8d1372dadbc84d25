//! The receiving node's side of a hand-off: a task on its own thread that
//! listens for rooms offered to this node, checks each record, takes the
//! room's ownership atomically, starts the room with every member in a held
//! seat, and answers the source. See [`super`] for the protocol.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::EventInterface;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::HandoffError;
use super::link::{Link, OK};
use super::record::{HandedMember, HandoffRecord};
use crate::clock;
use crate::game::{Game, Mode};
use crate::metrics;
use crate::node::Node;

/// Wait between attempts to reach Redis.
const RETRY: Duration = Duration::from_secs(1);

/// A record that passed every check: ready to run here.
pub struct Checked {
    /// The mode (configured on this node).
    pub mode: Mode,
    /// The game, restored from the room blob.
    pub game: Box<dyn Game>,
    /// The members, with their saved states.
    pub members: Vec<(HandedMember, Option<Bytes>)>,
}

/// Listens for rooms offered to `node` until `shutdown`.
pub async fn run(node: Arc<Node>, redis_url: String, shutdown: CancellationToken) {
    let timeout = node.config.drain.handoff_timeout;
    let connected = async {
        loop {
            let link = Link::connect(&redis_url, timeout).await;
            let offers = Link::subscribe(&redis_url, &node.node_id, timeout).await;
            match (link, offers) {
                (Ok(link), Ok(offers)) => return (link, offers),
                _ => tokio::time::sleep(RETRY).await,
            }
        }
    };
    let (link, subscriber) = tokio::select! {
        _ = shutdown.cancelled() => return,
        pair = connected => pair,
    };
    let mut offers = subscriber.message_rx();
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            message = offers.recv() => message,
        };
        match message {
            Ok(message) => {
                let Some(room) = message.value.as_string() else {
                    continue;
                };
                receive(&node, &link, &room).await;
            }
            // Policy: drop. The sources time out and close those rooms
            // themselves.
            Err(RecvError::Lagged(lost)) => {
                tracing::warn!(lost, "hand-off offers lost");
                (0..lost).for_each(|_| metrics::handoff_received(HandoffError::Timeout.label()));
            }
            Err(RecvError::Closed) => break,
        }
    }
    link.close().await;
    if let Err(e) = fred::prelude::ClientLike::quit(&subscriber).await {
        tracing::debug!(error = %e, "hand-off: closing the subscription");
    }
}

/// Takes `room` if its record passes, and answers the source either way.
async fn receive(node: &Arc<Node>, link: &Link, room: &str) {
    let (answer, label) = match take(node, link, room).await {
        Ok(()) => (OK.to_string(), metrics::HANDOFF_RESTORED),
        Err(e) => {
            tracing::warn!(%room, error = %e, "hand-off refused");
            (format!("refused {}", e.label()), e.label())
        }
    };
    metrics::handoff_received(label);
    if let Err(e) = link.answer(room, &answer).await {
        tracing::warn!(%room, error = %e, "hand-off answer not sent; the source times out");
    }
}

async fn take(node: &Arc<Node>, link: &Link, room: &str) -> Result<(), HandoffError> {
    let max = node.config.drain.handoff_max_bytes;
    let bytes = link.fetch(room).await?.ok_or(HandoffError::Timeout)?;
    let record = HandoffRecord::decode(&bytes, max)?;
    if record.room != room || record.target != node.node_id {
        return Err(HandoffError::BadRecord);
    }
    let checked = check(node, &record)?;
    if !node.reserve_room_slot() {
        return Err(HandoffError::Refused);
    }
    let ttl = node.config.presence.presence_ttl_ms;
    match link
        .take_over(room, &record.source, &node.node_id, ttl)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            node.release_room_slot();
            return Err(HandoffError::Timeout);
        }
        Err(e) => {
            node.release_room_slot();
            return Err(e);
        }
    }
    node.start_restored(Arc::from(room), &record, checked);
    Ok(())
}

/// Every check a record must pass before the room is taken: in time,
/// resume on here, a mode configured here, members that fit, a game blob
/// and saved states that restore.
pub fn check(node: &Node, record: &HandoffRecord) -> Result<Checked, HandoffError> {
    if clock::now_micros() > record.deadline_us {
        return Err(HandoffError::Timeout);
    }
    if !node.resume.enabled() || node.drain.is_draining() || node.shutdown.is_cancelled() {
        return Err(HandoffError::Refused);
    }
    let mode = node
        .modes
        .get(&record.mode)
        .cloned()
        .ok_or(HandoffError::Refused)?;
    if record.members.len() > usize::from(mode.params.capacity) {
        return Err(HandoffError::Refused);
    }
    let mut game = (mode.kind.create)(mode.params);
    game.restore_room(&record.game_bytes()?)
        .map_err(|_| HandoffError::BadRecord)?;
    let members = record
        .members
        .iter()
        .map(|m| Ok((m.clone(), m.saved_bytes()?.map(Bytes::from))))
        .collect::<Result<Vec<_>, HandoffError>>()?;
    Ok(Checked {
        mode,
        game,
        members,
    })
}
