//! The hand-off transport over Redis, on connections of its own (a blocking
//! wait for a reply never holds up presence).
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tf:handoff:{room}` | string, TTL `--handoff-timeout` | the record, written by the source, taken by the target |
//! | `tf:handoff:reply:{room}` | list, TTL | the target's answer: `ok` or `refused {label}` |
//! | channel `tf:handoff:to:{node}` | pub/sub | room ids offered to `node` |
//!
//! The target takes the record and the room's ownership key in one script
//! ([`TAKE_OVER_SCRIPT`]), so a room has exactly one owner at any time.

use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::prelude::{
    Builder, ClientLike, Config as RedisConfig, Error, Expiration, KeysInterface, LuaInterface,
    PubsubInterface, ReconnectPolicy,
};
use fred::types::{ClusterHash, CustomCommand, Value};

use super::HandoffError;
use crate::presence::redis::keys;

/// Record key of `room`.
pub fn record_key(room: &str) -> String {
    format!("tf:handoff:{room}")
}

/// Reply list of `room`.
pub fn reply_key(room: &str) -> String {
    format!("tf:handoff:reply:{room}")
}

/// Channel of room offers to `node`.
pub fn channel(node: &str) -> String {
    format!("tf:handoff:to:{node}")
}

/// Room offers that may wait for the target's hand-off task (fred's
/// broadcast channel); past it offers are dropped, counted as
/// `tickforge_handoff_rooms_received_total{result="timeout"}`: their sources
/// time out and close those rooms as without a peer.
pub const OFFER_QUEUE: usize = 1024;

/// The answer a target pushes when the room runs there.
pub const OK: &str = "ok";

/// KEYS: record, ownership key. ARGV: source node, target node, ownership
/// TTL (ms). Takes the record and the ownership: 1 when done, 0 when the
/// record is gone (withdrawn or expired), -1 when a third node owns the room.
pub const TAKE_OVER_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] and owner ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
";

/// KEYS: reply list. ARGV: answer, TTL (ms).
const ANSWER_SCRIPT: &str = r"
redis.call('DEL', KEYS[1])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

fn transport(error: Error) -> HandoffError {
    tracing::warn!(%error, "hand-off: Redis command failed");
    HandoffError::Transport
}

/// A Redis connection for hand-offs.
pub struct Link {
    client: Client,
    timeout: Duration,
}

fn builder(redis_url: &str, timeout: Duration) -> Result<Builder, HandoffError> {
    let mut builder = Builder::from_config(RedisConfig::from_url(redis_url).map_err(transport)?);
    builder
        .with_performance_config(|p| {
            // A BLPOP waits up to two timeouts; commands get a margin on top.
            p.default_command_timeout = timeout * 3;
            p.broadcast_channel_capacity = OFFER_QUEUE;
        })
        .with_connection_config(|c| {
            c.connection_timeout = timeout;
            c.max_command_attempts = 1;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2000, 2));
    Ok(builder)
}

impl Link {
    /// Connects to `redis_url`; `timeout` is `--handoff-timeout`.
    pub async fn connect(redis_url: &str, timeout: Duration) -> Result<Link, HandoffError> {
        let client = builder(redis_url, timeout)?.build().map_err(transport)?;
        client.init().await.map_err(transport)?;
        Ok(Link { client, timeout })
    }

    /// A subscriber to the room offers sent to `node` (resubscribed after
    /// a reconnect).
    pub async fn subscribe(
        redis_url: &str,
        node: &str,
        timeout: Duration,
    ) -> Result<SubscriberClient, HandoffError> {
        let subscriber = builder(redis_url, timeout)?
            .build_subscriber_client()
            .map_err(transport)?;
        subscriber.init().await.map_err(transport)?;
        let _resubscribes = subscriber.manage_subscriptions();
        subscriber
            .subscribe(channel(node))
            .await
            .map_err(transport)?;
        Ok(subscriber)
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// Source: writes the record and offers the room to `target`. A target
    /// that does not listen is a refusal (the record is withdrawn).
    pub async fn offer(
        &self,
        room: &str,
        target: &str,
        record: Vec<u8>,
    ) -> Result<(), HandoffError> {
        let _: () = self.client.del(reply_key(room)).await.map_err(transport)?;
        let _: () = self
            .client
            .set(
                record_key(room),
                Value::Bytes(record.into()),
                Some(Expiration::PX(self.ttl_ms())),
                None,
                false,
            )
            .await
            .map_err(transport)?;
        let listeners: i64 = self
            .client
            .publish(channel(target), room)
            .await
            .map_err(transport)?;
        if listeners == 0 {
            self.withdraw(room).await?;
            return Err(HandoffError::Refused);
        }
        Ok(())
    }

    /// Source: the target's answer, waiting up to `wait`; `None` when none came.
    pub async fn reply(&self, room: &str, wait: Duration) -> Result<Option<String>, HandoffError> {
        let blpop = CustomCommand::new("BLPOP", ClusterHash::FirstKey, true);
        let args: Vec<Value> = vec![
            reply_key(room).into(),
            Value::Double(wait.as_secs_f64().max(0.01)),
        ];
        let popped: Option<(String, String)> =
            self.client.custom(blpop, args).await.map_err(transport)?;
        Ok(popped.map(|(_, answer)| answer))
    }

    /// Source: takes the record back; true when the target never took it.
    pub async fn withdraw(&self, room: &str) -> Result<bool, HandoffError> {
        let deleted: i64 = self.client.del(record_key(room)).await.map_err(transport)?;
        Ok(deleted == 1)
    }

    /// Target: the record offered for `room`, if it is still there.
    pub async fn fetch(&self, room: &str) -> Result<Option<Vec<u8>>, HandoffError> {
        let record: Option<Vec<u8>> = self.client.get(record_key(room)).await.map_err(transport)?;
        Ok(record)
    }

    /// Target: takes the record and the room's ownership from `source`
    /// ([`TAKE_OVER_SCRIPT`]); `owner_ttl_ms` is the presence TTL.
    pub async fn take_over(
        &self,
        room: &str,
        source: &str,
        target: &str,
        owner_ttl_ms: u64,
    ) -> Result<bool, HandoffError> {
        let keys = vec![record_key(room), keys::owner(room)];
        let args = vec![
            source.to_string(),
            target.to_string(),
            owner_ttl_ms.to_string(),
        ];
        let taken: i64 = self
            .client
            .eval(TAKE_OVER_SCRIPT, keys, args)
            .await
            .map_err(transport)?;
        Ok(taken == 1)
    }

    /// Target: answers the source.
    pub async fn answer(&self, room: &str, answer: &str) -> Result<(), HandoffError> {
        let _: i64 = self
            .client
            .eval(
                ANSWER_SCRIPT,
                vec![reply_key(room)],
                vec![answer.to_string(), self.ttl_ms().to_string()],
            )
            .await
            .map_err(transport)?;
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(&self) {
        if let Err(e) = self.client.quit().await {
            tracing::debug!(error = %e, "hand-off: closing the Redis connection");
        }
    }
}
