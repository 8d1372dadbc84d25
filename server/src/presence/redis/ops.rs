//! The Redis commands behind each step of the presence actor. Writes of one
//! step go in one transaction (MULTI/EXEC), so another node's snapshot never
//! sees half of a step.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fred::clients::{Client, Transaction};
use fred::prelude::{
    Error, Expiration, HashesInterface, KeysInterface, LuaInterface, PubsubInterface, SetOptions,
    SetsInterface, TransactionInterface, Value,
};

use super::keys;
use crate::presence::access::AccessAction;
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
    /// The heartbeat was ours, but the node was missing from the cluster set
    /// or some of its keys were gone (a reap that raced a re-claim, an
    /// eviction): republish.
    Repaired,
}

/// KEYS: heartbeat, rooms hash, players hash, node set, then the ownership
/// keys of the node's rooms. ARGV: "token ", heartbeat value, TTL ms, node
/// id, has rooms (0/1), has players (0/1). Returns 0 when the heartbeat is
/// gone, -1 when another process holds it, 2 when something had to be
/// repaired, else 1.
const HEARTBEAT_SCRIPT: &str = r"
local beat = redis.call('GET', KEYS[1])
if not beat then return 0 end
if string.sub(beat, 1, string.len(ARGV[1])) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local status = 1
if redis.call('PEXPIRE', KEYS[2], ARGV[3]) == 0 and ARGV[5] == '1' then status = 2 end
if redis.call('PEXPIRE', KEYS[3], ARGV[3]) == 0 and ARGV[6] == '1' then status = 2 end
for i = 5, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
if redis.call('SADD', KEYS[4], ARGV[4]) == 1 then status = 2 end
return status
";

/// KEYS: heartbeat, rooms hash, players hash, node set, channel name
/// (unused as a key). ARGV: node id, Gone bulletin. Removes the node's keys
/// and announces it gone only if its heartbeat is (still) absent; returns 1
/// if it did.
const REAP_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for _, room in ipairs(redis.call('HKEYS', KEYS[2])) do
  redis.call('DEL', 'tf:room:' .. room)
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', KEYS[5], ARGV[2])
return 1
";

/// This node's Redis identity and the commands it sends.
pub struct Ops {
    client: Client,
    node: Arc<str>,
    token: String,
    url: Arc<str>,
    ttl_ms: i64,
    /// The node drains: its heartbeat says so.
    pub(super) draining: bool,
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
            draining: false,
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
        let value = keys::heartbeat_value(&self.token, &self.url, self.draining);
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

    /// Refreshes the heartbeat — only if it still holds this process's
    /// token — and the TTL of every key of this node, and puts the node back
    /// in the cluster set if it was removed. Reports keys found missing;
    /// with `settled` false (changes still wait to be written) a missing
    /// hash is expected and not reported.
    pub async fn heartbeat(&self, view: &PresenceView, settled: bool) -> Result<Beat, Error> {
        let state = view.own_state();
        let value = keys::heartbeat_value(&self.token, &self.url, self.draining);
        let owners: Vec<String> = state.rooms.iter().map(|(id, _)| keys::owner(id)).collect();
        let mut keys_arg = vec![
            keys::heartbeat(&self.node),
            keys::rooms(&self.node),
            keys::players(&self.node),
            keys::NODES.to_string(),
        ];
        keys_arg.extend(owners);
        let args = vec![
            format!("{} ", self.token),
            value,
            self.ttl_ms.to_string(),
            self.node.to_string(),
            u8::from(settled && !state.rooms.is_empty()).to_string(),
            u8::from(settled && !state.players.is_empty()).to_string(),
        ];
        let status: i64 = self.client.eval(HEARTBEAT_SCRIPT, keys_arg, args).await?;
        Ok(match status {
            1 => Beat::Alive,
            2 => Beat::Repaired,
            -1 => Beat::Taken,
            _ => Beat::Lost,
        })
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
        let mut moved: HashSet<Arc<str>> = HashSet::new();
        for stamped in &changes {
            match &stamped.change {
                Change::RoomOpened { room, .. } => {
                    rooms.insert(room.clone());
                    opened.push(room.clone());
                }
                Change::RoomClosed { room, moved: to } => {
                    rooms.insert(room.clone());
                    if *to {
                        moved.insert(room.clone());
                    }
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
        self.queue_rooms(&trx, view, rooms, &moved).await?;
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
        let mut contested = Vec::new();
        for (room, reply) in opened.into_iter().zip(replies) {
            if !reply.is_null() {
                continue;
            }
            // A room handed over to this node is owned by it already.
            let owner: Option<String> = self.client.get(keys::owner(&room)).await?;
            if owner.as_deref() != Some(&*self.node) {
                contested.push(room);
            }
        }
        Ok(contested)
    }

    async fn queue_rooms(
        &self,
        trx: &Transaction,
        view: &PresenceView,
        rooms: HashSet<Arc<str>>,
        moved: &HashSet<Arc<str>>,
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
            // A room handed to another node keeps its ownership key: the
            // target took it over atomically.
            let owners: Vec<String> = gone
                .iter()
                .filter(|r| !moved.contains(*r))
                .map(|r| keys::owner(r))
                .collect();
            if !owners.is_empty() {
                let _: () = trx.del(owners).await?;
            }
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
        let draining = beat.as_deref().is_some_and(keys::heartbeat_draining);
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
            draining,
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

    /// Removes an expired node's keys and announces it as gone, unless its
    /// heartbeat came back meanwhile. True if it was reaped.
    pub async fn reap(&self, node: &Arc<str>) -> Result<bool, Error> {
        let gone = self.bulletin(Body::Gone { gone: node.clone() })?;
        let keys_arg = vec![
            keys::heartbeat(node),
            keys::rooms(node),
            keys::players(node),
            keys::NODES.to_string(),
            keys::CHANNEL.to_string(),
        ];
        let reaped: i64 = self
            .client
            .eval(REAP_SCRIPT, keys_arg, vec![node.to_string(), gone])
            .await?;
        Ok(reaped == 1)
    }

    /// Publishes this node's access-control actions; bans and unbans are
    /// also written to the cluster's ban hash (expired bans are dropped
    /// from it when they are read).
    pub async fn publish_access(&self, actions: Vec<AccessAction>) -> Result<(), Error> {
        let trx = self.client.multi();
        for action in &actions {
            match action {
                AccessAction::Ban { player, until_ms } => {
                    let _: () = trx
                        .hset(keys::BANS, (&**player, until_ms.to_string()))
                        .await?;
                }
                AccessAction::Unban { player } => {
                    let _: () = trx.hdel(keys::BANS, &**player).await?;
                }
                AccessAction::Replace { .. } | AccessAction::Kick { .. } => {}
            }
        }
        let message = self.bulletin(Body::Access { actions })?;
        let _: () = trx.publish(keys::CHANNEL, message).await?;
        let _: Value = trx.exec(true).await?;
        Ok(())
    }

    /// Every ban of the cluster still in force at `now_ms`; expired ones
    /// are removed from the hash.
    pub async fn bans(&self, now_ms: u64) -> Result<Vec<AccessAction>, Error> {
        let all: HashMap<String, String> = self.client.hgetall(keys::BANS).await?;
        let mut bans = Vec::with_capacity(all.len());
        let mut expired = Vec::new();
        for (player, until) in all {
            match until.parse::<u64>() {
                Ok(until_ms) if until_ms > now_ms => bans.push(AccessAction::Ban {
                    player: Arc::from(player),
                    until_ms,
                }),
                _ => expired.push(player),
            }
        }
        if !expired.is_empty() {
            let _: () = self.client.hdel(keys::BANS, expired).await?;
        }
        Ok(bans)
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
