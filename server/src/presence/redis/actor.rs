//! The presence actor: one task on the presence thread that owns the Redis
//! connections. Each turn it handles one thing — a bulletin, a batch of this
//! node's changes, a heartbeat — and then catches up on whatever is pending
//! (claiming the node id, subscribing, republishing, resyncing). While Redis
//! is unreachable the node keeps serving; pending work waits for the
//! reconnect, and the view is marked degraded.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use fred::types::Message;
use metrics::{counter, gauge, histogram};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::ops::{Beat, Ops};
use super::{RedisPresence, keys};
use crate::metrics::{
    PRESENCE_ACCESS_DROPPED, PRESENCE_ACCESS_IN, PRESENCE_ACCESS_OUT, PRESENCE_CONNECTED,
    PRESENCE_EVENTS_IN, PRESENCE_EVENTS_OUT, PRESENCE_LATENCY, PRESENCE_NODES, PRESENCE_REAPED,
    PRESENCE_REDIS_ERRORS, PRESENCE_REPUBLISHES, PRESENCE_RESYNCS, REPUBLISH_COALESCED,
    REPUBLISH_CONNECT, REPUBLISH_DRAIN, REPUBLISH_LOST, RESYNC_LAGGED, RESYNC_RECONNECT,
    RESYNC_STARTUP,
};
use crate::presence::PresenceOptions;
use crate::presence::access::AccessAction;
use crate::presence::change::{Body, Bulletin, Change};

/// Most changes written in one transaction.
const MAX_BATCH: usize = 1024;

/// Redis operations, as labelled in `tickforge_presence_redis_errors_total`.
pub const OPS: [&str; 9] = [
    "claim",
    "subscribe",
    "heartbeat",
    "write",
    "republish",
    "resync",
    "reap",
    "decode",
    "goodbye",
];

/// The actor's state.
pub struct Actor {
    shared: Arc<RedisPresence>,
    ops: Ops,
    subscriber: SubscriberClient,
    timeout: Duration,
    beat_every: Duration,
    claimed: bool,
    subscribed: bool,
    republish: Option<&'static str>,
    resync: Option<&'static str>,
    taken_warned: bool,
    /// How this node's own bulletins start: `{"node":"<id>",`.
    own_prefix: String,
}

impl Actor {
    /// An actor for `shared`, talking through `client` and `subscriber`.
    pub fn new(
        shared: Arc<RedisPresence>,
        client: Client,
        subscriber: SubscriberClient,
        options: &PresenceOptions,
    ) -> Actor {
        let node = shared.view.own().clone();
        let url = shared.view.url(&node).unwrap_or_else(|| Arc::from(""));
        let token = format!("{:x}-{:x}", std::process::id(), crate::clock::now_micros());
        let ttl_ms = i64::try_from(options.presence_ttl_ms).unwrap_or(i64::MAX);
        Actor {
            shared,
            ops: Ops::new(client, node.clone(), token, url, ttl_ms),
            subscriber,
            timeout: Duration::from_millis(options.presence_timeout_ms),
            beat_every: Duration::from_millis(options.presence_ttl_ms / 4),
            claimed: false,
            subscribed: false,
            republish: Some(REPUBLISH_CONNECT),
            resync: Some(RESYNC_STARTUP),
            taken_warned: false,
            own_prefix: format!("{{\"node\":{},", serde_json::Value::from(&*node)),
        }
    }

    /// Runs until `shutdown`, then removes this node's keys (within the
    /// command timeout) and closes the connections.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let _connection = self.ops.client().connect();
        let _subscription = self.subscriber.connect();
        let mut bulletins = self.subscriber.message_rx();
        let mut reconnects = self.ops.client().reconnect_rx();
        let mut resubscribes = self.subscriber.reconnect_rx();
        let mut beat = tokio::time::interval(self.beat_every);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        gauge!(PRESENCE_NODES).set(1.0);
        let (mut first_connect, mut first_subscribe) = (true, true);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                // First, so that a busy node never lets its heartbeat lapse.
                _ = beat.tick() => self.heartbeat().await,
                bulletin = bulletins.recv() => match bulletin {
                    Ok(message) => self.on_bulletin(message).await,
                    Err(RecvError::Lagged(lost)) => {
                        tracing::warn!(lost, "presence subscription lagged; resyncing");
                        self.resync = Some(RESYNC_LAGGED);
                    }
                    Err(RecvError::Closed) => break,
                },
                // fred reports every connection, the first one too; the
                // start-up work (claim, subscribe, republish, resync) is
                // already pending for that one.
                Ok(_) = reconnects.recv() => {
                    if !std::mem::replace(&mut first_connect, false) {
                        tracing::info!("presence reconnected to Redis");
                        self.claimed = false;
                        self.republish = Some(REPUBLISH_CONNECT);
                        self.resync.get_or_insert(RESYNC_RECONNECT);
                    }
                }
                Ok(_) = resubscribes.recv() => {
                    if !std::mem::replace(&mut first_subscribe, false) {
                        self.subscribed = false;
                        self.resync.get_or_insert(RESYNC_RECONNECT);
                    }
                }
                () = self.shared.wake.notified() => {
                    if self.shared.draining.load(Ordering::Acquire) && !self.ops.draining {
                        // The heartbeat carries the flag; the republish
                        // makes the other nodes read it now.
                        self.ops.draining = true;
                        self.heartbeat().await;
                        self.republish.get_or_insert(REPUBLISH_DRAIN);
                    }
                    self.write_changes().await;
                    self.write_access().await;
                }
            }
            self.catch_up().await;
        }
        self.goodbye().await;
    }

    fn failed(&mut self, op: &'static str, error: &fred::error::Error) {
        tracing::warn!(op, %error, "presence: Redis operation failed");
        counter!(PRESENCE_REDIS_ERRORS, "op" => op).increment(1);
        self.set_connected(false);
    }

    fn set_connected(&self, connected: bool) {
        self.shared.connected.store(connected, Ordering::Release);
        gauge!(PRESENCE_CONNECTED).set(if connected { 1.0 } else { 0.0 });
    }

    fn reachable(&self) -> bool {
        self.ops.client().is_connected() && self.subscriber.is_connected()
    }

    /// Claims, subscribes, republishes and resyncs, as far as needed and possible.
    async fn catch_up(&mut self) {
        if self.claimed && self.subscribed && self.republish.is_none() && self.resync.is_none() {
            if self.shared.connected.load(Ordering::Acquire) || !self.reachable() {
                return;
            }
            // Back after a failure: whatever happened meanwhile, start over.
            self.claimed = false;
            self.republish = Some(REPUBLISH_CONNECT);
            self.resync = Some(RESYNC_RECONNECT);
        }
        self.set_connected(false);
        if !self.reachable() {
            return;
        }
        if !self.claimed {
            match self.ops.claim().await {
                Ok(true) => {
                    self.claimed = true;
                    self.taken_warned = false;
                }
                Ok(false) => {
                    if !self.taken_warned {
                        tracing::error!(node = %self.shared.view.own(), "presence: another process holds this node id; waiting for its heartbeat to expire");
                        self.taken_warned = true;
                    }
                    return;
                }
                Err(e) => return self.failed("claim", &e),
            }
        }
        if !self.subscribed {
            // Subscribe before the snapshot, so no bulletin falls in between.
            if let Err(e) = self.subscriber.subscribe(keys::CHANNEL).await {
                return self.failed("subscribe", &e);
            }
            self.subscribed = true;
            self.resync.get_or_insert(RESYNC_RECONNECT);
        }
        if let Some(reason) = self.republish {
            // Changes still queued are part of the state written now.
            while self.shared.queue.pop().is_some() {}
            if let Err(e) = self.ops.republish(&self.shared.view).await {
                return self.failed("republish", &e);
            }
            counter!(PRESENCE_REPUBLISHES, "reason" => reason).increment(1);
            self.republish = None;
        }
        if let Some(reason) = self.resync {
            match self.ops.snapshot().await {
                Ok((states, dead)) => {
                    self.shared.view.replace_all(states);
                    match self.ops.bans(crate::clock::now_micros() / 1000).await {
                        Ok(bans) => bans.iter().for_each(|ban| self.shared.sink.apply(ban)),
                        Err(e) => return self.failed("resync", &e),
                    }
                    counter!(PRESENCE_RESYNCS, "reason" => reason).increment(1);
                    self.resync = None;
                    for node in dead {
                        self.reap(&node).await;
                    }
                }
                Err(e) => return self.failed("resync", &e),
            }
        }
        gauge!(PRESENCE_NODES).set(self.shared.view.nodes().len() as f64);
        self.set_connected(true);
    }

    /// Publishes this node's queued access-control actions (they wait while
    /// Redis is unreachable; a failed publish drops them, counted).
    async fn write_access(&mut self) {
        if !self.claimed || !self.shared.connected.load(Ordering::Acquire) {
            return;
        }
        let mut actions = Vec::new();
        while actions.len() < MAX_BATCH {
            match self.shared.access.pop() {
                Some(action) => actions.push(action),
                None => break,
            }
        }
        if actions.is_empty() {
            return;
        }
        if !self.shared.access.is_empty() {
            self.shared.wake.notify_one();
        }
        let labels: Vec<&'static str> = actions.iter().map(AccessAction::label).collect();
        let count = actions.len() as u64;
        match tokio::time::timeout(self.timeout, self.ops.publish_access(actions)).await {
            Ok(Ok(())) => {
                for label in labels {
                    counter!(PRESENCE_ACCESS_OUT, "action" => label).increment(1);
                }
            }
            Ok(Err(e)) => {
                counter!(PRESENCE_ACCESS_DROPPED).increment(count);
                self.failed("write", &e);
            }
            Err(_) => {
                counter!(PRESENCE_ACCESS_DROPPED).increment(count);
                counter!(PRESENCE_REDIS_ERRORS, "op" => "write").increment(1);
                self.set_connected(false);
            }
        }
    }

    /// Writes queued changes of this node (or leaves them to a republish).
    async fn write_changes(&mut self) {
        if self.shared.overflowed.swap(false, Ordering::AcqRel) {
            self.republish.get_or_insert(REPUBLISH_COALESCED);
        }
        let mut batch = Vec::new();
        while batch.len() < MAX_BATCH {
            match self.shared.queue.pop() {
                Some(change) => batch.push(change),
                None => break,
            }
        }
        if batch.is_empty() {
            return;
        }
        if !self.shared.queue.is_empty() {
            self.shared.wake.notify_one();
        }
        if self.republish.is_some() || !self.claimed {
            // The republish writes the whole state, these changes included.
            return;
        }
        let mut written = Tally::default();
        for stamped in &batch {
            written.add(stamped.change.label());
        }
        match tokio::time::timeout(self.timeout, self.ops.write(&self.shared.view, batch)).await {
            Ok(Ok(contested)) => {
                written.count(PRESENCE_EVENTS_OUT);
                for room in contested {
                    tracing::error!(%room, "presence: room id already owned by another node");
                    counter!(PRESENCE_REDIS_ERRORS, "op" => "write").increment(1);
                }
            }
            Ok(Err(e)) => {
                self.failed("write", &e);
                self.republish = Some(REPUBLISH_CONNECT);
            }
            Err(_) => {
                counter!(PRESENCE_REDIS_ERRORS, "op" => "write").increment(1);
                self.set_connected(false);
                self.republish = Some(REPUBLISH_CONNECT);
            }
        }
    }

    async fn heartbeat(&mut self) {
        if !self.reachable() {
            // Reconnecting: the reconnect event schedules the republish and resync.
            self.set_connected(false);
        }
        // The heartbeat needs only the command connection: keep the node
        // alive while just the subscription is down.
        if !self.claimed || !self.ops.client().is_connected() {
            return;
        }
        let settled = self.shared.queue.is_empty() && self.republish.is_none();
        match self.ops.heartbeat(&self.shared.view, settled).await {
            Ok(Beat::Alive) => {}
            Ok(Beat::Repaired) => {
                tracing::warn!("presence: some of this node's keys were gone; republishing");
                self.republish = Some(REPUBLISH_LOST);
            }
            Ok(Beat::Lost) => {
                tracing::warn!(
                    "presence: this node's heartbeat was gone; claiming and republishing"
                );
                self.claimed = false;
                self.republish = Some(REPUBLISH_LOST);
            }
            Ok(Beat::Taken) => {
                tracing::error!("presence: another process holds this node id");
                self.claimed = false;
                self.republish = Some(REPUBLISH_LOST);
            }
            Err(e) => return self.failed("heartbeat", &e),
        }
        if self.subscribed
            && let Err(e) = self.subscriber.ping::<()>(None).await
        {
            self.subscribed = false;
            self.failed("subscribe", &e);
        }
        match self.ops.expired_nodes().await {
            Ok(dead) => {
                for node in dead {
                    self.reap(&node).await;
                }
            }
            Err(e) => self.failed("reap", &e),
        }
    }

    async fn reap(&mut self, node: &Arc<str>) {
        match self.ops.reap(node).await {
            Ok(true) => {
                tracing::info!(%node, "presence: reaped a node whose heartbeat expired");
                counter!(PRESENCE_REAPED).increment(1);
                self.shared.view.remove_node(node);
                gauge!(PRESENCE_NODES).set(self.shared.view.nodes().len() as f64);
            }
            Ok(false) => tracing::debug!(%node, "presence: node came back before it was reaped"),
            Err(e) => self.failed("reap", &e),
        }
    }

    async fn on_bulletin(&mut self, message: Message) {
        // This node's own bulletins come back too; skip them undecoded (the
        // sender is serialized first).
        if message
            .value
            .as_bytes()
            .is_some_and(|b| b.starts_with(self.own_prefix.as_bytes()))
        {
            return;
        }
        let bulletin: Bulletin = match message.value.as_bytes().map(serde_json::from_slice) {
            Some(Ok(b)) => b,
            _ => {
                counter!(PRESENCE_REDIS_ERRORS, "op" => "decode").increment(1);
                tracing::warn!(channel = %message.channel, "presence: unreadable bulletin ignored");
                return;
            }
        };
        let own = self.shared.view.own().clone();
        if bulletin.node != own {
            let latency_us = crate::clock::now_micros().saturating_sub(bulletin.sent_us);
            histogram!(PRESENCE_LATENCY).record(latency_us as f64 / 1e6);
        }
        match bulletin.body {
            Body::Gone { gone } if gone == own => {
                if bulletin.node != own {
                    // Another node reaped us (we were silent too long).
                    self.claimed = false;
                    self.republish = Some(REPUBLISH_LOST);
                }
            }
            _ if bulletin.node == own => {}
            Body::Changes { changes } => {
                let mut applied = Tally::default();
                for stamped in &changes {
                    self.shared.view.apply(&bulletin.node, stamped);
                    applied.add(stamped.change.label());
                }
                applied.count(PRESENCE_EVENTS_IN);
            }
            Body::Republished => match self.ops.read_node(&bulletin.node).await {
                Ok(Some(state)) => self.shared.view.replace_node(state),
                Ok(None) => self.shared.view.remove_node(&bulletin.node),
                Err(e) => {
                    self.failed("resync", &e);
                    self.resync.get_or_insert(RESYNC_RECONNECT);
                }
            },
            Body::Gone { gone } => self.shared.view.remove_node(&gone),
            Body::Access { actions } => {
                for action in &actions {
                    self.shared.sink.apply(action);
                    counter!(PRESENCE_ACCESS_IN, "action" => action.label()).increment(1);
                }
            }
        }
        gauge!(PRESENCE_NODES).set(self.shared.view.nodes().len() as f64);
    }

    /// Leaves the cluster and closes the connections, all within one
    /// command timeout.
    async fn goodbye(&mut self) {
        let leave = async {
            if self.claimed && self.reachable() {
                match self.ops.goodbye(&self.shared.view).await {
                    Ok(()) => tracing::info!("presence: left the cluster"),
                    Err(e) => {
                        tracing::warn!(error = %e, "presence: leaving the cluster failed");
                        counter!(PRESENCE_REDIS_ERRORS, "op" => "goodbye").increment(1);
                    }
                }
            }
            let (a, b) = tokio::join!(self.subscriber.quit(), self.ops.client().quit());
            if let Err(e) = a.and(b) {
                tracing::debug!(error = %e, "presence: closing the Redis connections");
            }
        };
        if tokio::time::timeout(self.timeout, leave).await.is_err() {
            counter!(PRESENCE_REDIS_ERRORS, "op" => "goodbye").increment(1);
            tracing::warn!("presence: leaving the cluster timed out");
        }
        self.set_connected(false);
    }
}

/// Changes counted by kind, added to a counter once per batch.
#[derive(Default)]
struct Tally([u64; Change::LABELS.len()]);

impl Tally {
    fn add(&mut self, kind: &'static str) {
        if let Some(i) = Change::LABELS.iter().position(|k| *k == kind) {
            self.0[i] += 1;
        }
    }

    fn count(&self, metric: &'static str) {
        for (kind, n) in Change::LABELS.iter().zip(self.0) {
            if n > 0 {
                counter!(metric, "kind" => *kind).increment(n);
            }
        }
    }
}
