//! The Redis commands behind each step of the presence actor. Writes of one
//! step go in one transaction (MULTI/EXEC), so another node's snapshot never
//! sees half of a step.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fred::clients::{Client, Transaction};
use fred::prelude::{
    Error, Expiration, HashesInterface, KeysInterface, PubsubInterface, SetOptions, SetsInterface,
    TransactionInterface, Value,
};

use super::keys;
use crate::presence::change::{Body, Bulletin, Change, Stamped};
use crate::presence::view::{NodeState, PresenceView};

/// What the heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// The heartbeat key was ours and is refreshed.
    Alive,
    /// The key was gone (reaped, or Redis lost its data): claim again and
    /// republish.
    Lost,
    /// Another process holds this node id.
    Taken,
}

/// This node's Redis identity and the commands it sends.
pub struct Ops {
    client: Client,
    node: Arc<str>,
    token: String,
    url: Arc<str>,
    ttl_ms: i64,
}

impl Ops {
    /// Commands for `node` (instance `token`, reached at `url`), keys living `ttl_ms`.
    pub fn new(client: Client, node: Arc<str>, token: String, url: Arc<str>, ttl_ms: i64) -> Ops {
        Ops {
            client,
            node,
            token,
            url,
            ttl_ms,
        }
    }

    /// The client (connection state, events).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn expiry(&self) -> Option<Expiration> {
        Some(Expiration::PX(self.ttl_ms))
    }

    fn bulletin(&self, body: Body) -> Result<String, Error> {
        let bulletin = Bulletin {
            node: self.node.clone(),
            sent_us: crate::clock::now_micros(),
            body,
        };
        serde_json::to_string(&bulletin)
            .map_err(|e| Error::new(fred::error::ErrorKind::Parse, e.to_string()))
    }

    /// Takes this node id: true if the heartbeat key is now ours.
    pub async fn claim(&self) -> Result<bool, Error> {
        let value = keys::heartbeat_value(&self.token, &self.url);
        let key = keys::heartbeat(&self.node);
        let set: Option<String> = self
            .client
            .set(&key, value, self.expiry(), Some(SetOptions::NX), false)
            .await?;
        if set.is_none() {
            let holder: Option<String> = self.client.get(&key).await?;
            let ours = holder
                .as_deref()
                .and_then(keys::parse_heartbeat)
                .is_some_and(|(token, _)| token == self.token);
            if !ours {
                return Ok(false);
            }
        }
        let _: i64 = self.client.sadd(keys::NODES, &*self.node).await?;
        Ok(true)
    }

    /// Refreshes the heartbeat and the TTL of every key of this node.
    pub async fn heartbeat(&self, view: &PresenceView) -> Result<Beat, Error> {
        let value = keys::heartbeat_value(&self.token, &self.url);
        let previous: Option<String> = self
            .client
            .set(
                keys::heartbeat(&self.node),
                value,
                self.expiry(),
                Some(SetOptions::XX),
                true,
            )
            .await?;
        let Some(previous) = previous else {
            return Ok(Beat::Lost);
        };
        if keys::parse_heartbeat(&previous).is_none_or(|(token, _)| token != self.token) {
            return Ok(Beat::Taken);
        }
        let trx = self.client.multi();
        let _: () = trx
            .pexpire(keys::rooms(&self.node), self.ttl_ms, None)
            .await?;
        let _: () = trx
            .pexpire(keys::players(&self.node), self.ttl_ms, None)
            .await?;
        for (room, record) in view.rooms() {
            if record.node == self.node {
                let _: () = trx.pexpire(keys::owner(&room), self.ttl_ms, None).await?;
            }
        }
        let _: Value = trx.exec(true).await?;
        Ok(Beat::Alive)
    }

    /// Writes the current state of every key `changes` touched and publishes
    /// the changes. Returns the rooms whose ownership another node holds.
    pub async fn write(
        &self,
        view: &PresenceView,
        changes: Vec<Stamped>,
    ) -> Result<Vec<Arc<str>>, Error> {
        let mut rooms: HashSet<Arc<str>> = HashSet::new();
        let mut players: HashSet<(Arc<str>, Arc<str>)> = HashSet::new();
        let mut opened: Vec<Arc<str>> = Vec::new();
        for stamped in &changes {
            match &stamped.change {
                Change::RoomOpened { room, .. } => {
                    rooms.insert(room.clone());
                    opened.push(room.clone());
                }
                Change::RoomClosed { room } => {
                    rooms.insert(room.clone());
                }
                Change::PlayerJoined { room, player, .. }
                | Change::PlayerLeft { room, player, .. } => {
                    rooms.insert(room.clone());
                    players.insert((room.clone(), player.clone()));
                }
            }
        }
        let trx = self.client.multi();
        // Ownership first: the results of these SETs are the first replies.
        for room in &opened {
            let _: () = trx
                .set(
                    keys::owner(room),
                    &*self.node,
                    self.expiry(),
                    Some(SetOptions::NX),
                    false,
                )
                .await?;
        }
        self.queue_rooms(&trx, view, rooms).await?;
        self.queue_players(&trx, view, players).await?;
        let _: () = trx
            .pexpire(keys::rooms(&self.node), self.ttl_ms, None)
            .await?;
        let _: () = trx
            .pexpire(keys::players(&self.node), self.ttl_ms, None)
            .await?;
        let message = self.bulletin(Body::Changes { changes })?;
        let _: () = trx.publish(keys::CHANNEL, message).await?;
        let replies: Vec<Value> = trx.exec(true).await?;
        let contested = opened
            .into_iter()
            .zip(replies)
            .filter(|(_, reply)| reply.is_null())
            .map(|(room, _)| room)
            .collect();
        Ok(contested)
    }

    async fn queue_rooms(
        &self,
        trx: &Transaction,
        view: &PresenceView,
        rooms: HashSet<Arc<str>>,
    ) -> Result<(), Error> {
        let mut set = Vec::new();
        let mut gone = Vec::new();
        for room in rooms {
            match view.room(&room) {
                Some(record) if record.node == self.node => {
                    set.push((room.to_string(), keys::room_value(&record)))
                }
                _ => gone.push(room),
            }
        }
        if !set.is_empty() {
            let _: () = trx.hset(keys::rooms(&self.node), set).await?;
        }
        if !gone.is_empty() {
            let fields: Vec<String> = gone.iter().map(|r| r.to_string()).collect();
            let _: () = trx.hdel(keys::rooms(&self.node), fields).await?;
            let owners: Vec<String> = gone.iter().map(|r| keys::owner(r)).collect();
            let _: () = trx.del(owners).await?;
        }
        Ok(())
    }

    async fn queue_players(
        &self,
        trx: &Transaction,
        view: &PresenceView,
        players: HashSet<(Arc<str>, Arc<str>)>,
    ) -> Result<(), Error> {
        let mut set = Vec::new();
        let mut gone = Vec::new();
        for (room, player) in players {
            let field = keys::player_field(&room, &player);
            let here = view
                .placements(&player)
                .into_iter()
                .find(|p| p.node == self.node && p.room == room);
            match here {
                Some(p) => set.push((field, p.since_ms.to_string())),
                None => gone.push(field),
            }
        }
        if !set.is_empty() {
            let _: () = trx.hset(keys::players(&self.node), set).await?;
        }
        if !gone.is_empty() {
            let _: () = trx.hdel(keys::players(&self.node), gone).await?;
        }
        Ok(())
    }

    /// Rewrites this node's whole state and tells the others to read it.
    pub async fn republish(&self, view: &PresenceView) -> Result<(), Error> {
        let state = view.own_state();
        let trx = self.client.multi();
        let _: () = trx
            .del(vec![keys::rooms(&self.node), keys::players(&self.node)])
            .await?;
        if !state.rooms.is_empty() {
            let rooms: Vec<(String, String)> = state
                .rooms
                .iter()
                .map(|(id, r)| (id.to_string(), keys::room_value(r)))
                .collect();
            let _: () = trx.hset(keys::rooms(&self.node), rooms).await?;
            for (id, _) in &state.rooms {
                let _: () = trx
                    .set(keys::owner(id), &*self.node, self.expiry(), None, false)
                    .await?;
            }
        }
        if !state.players.is_empty() {
            let players: Vec<(String, String)> = state
                .players
                .iter()
                .map(|(player, p)| (keys::player_field(&p.room, player), p.since_ms.to_string()))
                .collect();
            let _: () = trx.hset(keys::players(&self.node), players).await?;
        }
        let _: () = trx
            .pexpire(keys::rooms(&self.node), self.ttl_ms, None)
            .await?;
        let _: () = trx
            .pexpire(keys::players(&self.node), self.ttl_ms, None)
            .await?;
        let _: () = trx.sadd(keys::NODES, &*self.node).await?;
        let _: () = trx
            .publish(keys::CHANNEL, self.bulletin(Body::Republished)?)
            .await?;
        let _: Value = trx.exec(true).await?;
        Ok(())
    }

    /// What `node` has published; `None` if its heartbeat is gone.
    pub async fn read_node(&self, node: &Arc<str>) -> Result<Option<NodeState>, Error> {
        let beat: Option<String> = self.client.get(keys::heartbeat(node)).await?;
        let Some(url) = beat
            .as_deref()
            .and_then(keys::parse_heartbeat)
            .map(|(_, url)| Arc::from(url))
        else {
            return Ok(None);
        };
        let rooms: HashMap<String, String> = self.client.hgetall(keys::rooms(node)).await?;
        let players: HashMap<String, String> = self.client.hgetall(keys::players(node)).await?;
        Ok(Some(NodeState {
            node: node.clone(),
            url,
            rooms: rooms
                .iter()
                .filter_map(|(id, value)| {
                    Some((Arc::from(id.as_str()), keys::parse_room(node, value)?))
                })
                .collect(),
            players: players
                .iter()
                .filter_map(|(field, since)| keys::parse_player(node, field, since))
                .collect(),
        }))
    }

    /// Every node listed in the cluster set, this one excluded.
    pub async fn other_nodes(&self) -> Result<Vec<Arc<str>>, Error> {
        let nodes: Vec<String> = self.client.smembers(keys::NODES).await?;
        Ok(nodes
            .into_iter()
            .filter(|n| *n != *self.node)
            .map(Arc::from)
            .collect())
    }

    /// A full snapshot of the other nodes, and the listed nodes whose
    /// heartbeat is gone.
    pub async fn snapshot(&self) -> Result<(Vec<NodeState>, Vec<Arc<str>>), Error> {
        let mut states = Vec::new();
        let mut dead = Vec::new();
        for node in self.other_nodes().await? {
            match self.read_node(&node).await? {
                Some(state) => states.push(state),
                None => dead.push(node),
            }
        }
        Ok((states, dead))
    }

    /// Listed nodes whose heartbeat expired.
    pub async fn expired_nodes(&self) -> Result<Vec<Arc<str>>, Error> {
        let mut dead = Vec::new();
        for node in self.other_nodes().await? {
            let alive: i64 = self.client.exists(keys::heartbeat(&node)).await?;
            if alive == 0 {
                dead.push(node);
            }
        }
        Ok(dead)
    }

    /// Removes an expired node's keys and announces it as gone.
    pub async fn reap(&self, node: &Arc<str>) -> Result<(), Error> {
        let rooms: Vec<String> = self.client.hkeys(keys::rooms(node)).await?;
        let trx = self.client.multi();
        let mut doomed = vec![keys::rooms(node), keys::players(node)];
        doomed.extend(rooms.iter().map(|r| keys::owner(r)));
        let _: () = trx.del(doomed).await?;
        let _: () = trx.srem(keys::NODES, &**node).await?;
        let gone = self.bulletin(Body::Gone { gone: node.clone() })?;
        let _: () = trx.publish(keys::CHANNEL, gone).await?;
        let _: Value = trx.exec(true).await?;
        Ok(())
    }

    /// Removes this node's keys at shutdown and announces it as gone.
    pub async fn goodbye(&self, view: &PresenceView) -> Result<(), Error> {
        let trx = self.client.multi();
        let mut doomed = vec![
            keys::heartbeat(&self.node),
            keys::rooms(&self.node),
            keys::players(&self.node),
        ];
        doomed.extend(
            view.rooms()
                .into_iter()
                .filter(|(_, r)| r.node == self.node)
                .map(|(id, _)| keys::owner(&id)),
        );
        let _: () = trx.del(doomed).await?;
        let _: () = trx.srem(keys::NODES, &*self.node).await?;
        let gone = self.bulletin(Body::Gone {
            gone: self.node.clone(),
        })?;
        let _: () = trx.publish(keys::CHANNEL, gone).await?;
        let _: Value = trx.exec(true).await?;
        Ok(())
    }
}
