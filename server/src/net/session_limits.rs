//! Per-session rate limits and the node's room cap: the settings
//! ([`SessionLimitOptions`], flattened into [`crate::config::Config`]) and the
//! buckets one session carries ([`SessionLimits`]).
//!
//! Every frame a client sends costs one token of the all-frames bucket,
//! taken before the frame is verified (control frames too: a WebSocket ping
//! is a frame). Ping, and JoinRoom/LeaveRoom together, have small buckets
//! of their own, charged before verification from the message type read by
//! [`super::peek`]; a frame whose type cannot be read is charged to the
//! all-frames bucket only and then fails verification anyway. A frame over a
//! limit is refused — dropped unread (a refused JoinRoom/LeaveRoom gets an
//! `Error ServerBusy`) — and counted in `tickforge_frames_refused_total`.
//! A client that keeps exceeding a limit — `--rate-limit-strikes` refusals
//! within `--rate-limit-window-ms`, counted per bucket — is closed with
//! 1008 and the bucket's reason ([`crate::net::close::Disconnect`]).

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::close::Disconnect;
use super::rate::{Bucket, Limiter, Rate, StrikePolicy, Verdict};
use crate::metrics;

/// Per-session frame rates, room creation, the node's room cap.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct SessionLimitOptions {
    /// Frames (of any kind) one session may send per second, sustained;
    /// 0 turns the limit off.
    #[arg(long, env = "TICKFORGE_FRAMES_PER_SECOND", default_value_t = 200)]
    pub frames_per_second: u32,
    /// Frames one session may send at once above `--frames-per-second`.
    #[arg(long, env = "TICKFORGE_FRAMES_BURST", default_value_t = 400)]
    pub frames_burst: u32,
    /// Pings (the protocol's `Ping`) one session may send per second; 0: off.
    #[arg(long, env = "TICKFORGE_PINGS_PER_SECOND", default_value_t = 10)]
    pub pings_per_second: u32,
    /// Pings one session may send at once above `--pings-per-second`.
    #[arg(long, env = "TICKFORGE_PINGS_BURST", default_value_t = 20)]
    pub pings_burst: u32,
    /// JoinRoom and LeaveRoom frames (together) one session may send per
    /// second; 0: off.
    #[arg(long, env = "TICKFORGE_JOINS_PER_SECOND", default_value_t = 10)]
    pub joins_per_second: u32,
    /// JoinRoom and LeaveRoom frames one session may send at once above
    /// `--joins-per-second`.
    #[arg(long, env = "TICKFORGE_JOINS_BURST", default_value_t = 20)]
    pub joins_burst: u32,
    /// Refusals (of one bucket) within `--rate-limit-window-ms` that close
    /// the session with 1008.
    #[arg(long, env = "TICKFORGE_RATE_LIMIT_STRIKES", default_value_t = 50)]
    pub rate_limit_strikes: u32,
    /// The window `--rate-limit-strikes` are counted in, in milliseconds,
    /// from the first refusal of the window.
    #[arg(long, env = "TICKFORGE_RATE_LIMIT_WINDOW_MS", default_value_t = 10_000)]
    pub rate_limit_window_ms: u64,
    /// Rooms one session may create per minute (join-or-create that finds
    /// no free seat, or a private room); beyond it the join is refused with
    /// `ServerBusy`. 0: off.
    #[arg(long, env = "TICKFORGE_ROOM_CREATES_PER_MINUTE", default_value_t = 120)]
    pub room_creates_per_minute: u32,
    /// Rooms one session may create at once above `--room-creates-per-minute`.
    #[arg(long, env = "TICKFORGE_ROOM_CREATES_BURST", default_value_t = 20)]
    pub room_creates_burst: u32,
    /// Live rooms on this node; a join that would create one more is
    /// refused with `ServerBusy`. 0: no cap.
    #[arg(long, env = "TICKFORGE_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,
}

impl SessionLimitOptions {
    /// Checks ranges clap cannot express.
    pub fn problem(&self) -> Option<&'static str> {
        if self.rate_limit_strikes == 0 {
            return Some("rate_limit_strikes must be at least 1");
        }
        if self.rate_limit_window_ms == 0 {
            return Some("rate_limit_window_ms must be positive");
        }
        let bursts = [
            (self.frames_per_second, self.frames_burst),
            (self.pings_per_second, self.pings_burst),
            (self.joins_per_second, self.joins_burst),
            (self.room_creates_per_minute, self.room_creates_burst),
        ];
        if bursts.iter().any(|&(rate, burst)| rate > 0 && burst == 0) {
            return Some("a burst must be at least 1 when its rate is on");
        }
        None
    }

    fn strikes(&self) -> StrikePolicy {
        StrikePolicy {
            strikes: self.rate_limit_strikes,
            window: Duration::from_millis(self.rate_limit_window_ms),
        }
    }
}

/// The buckets a session checks its client's frames against.
pub struct SessionLimits {
    policy: StrikePolicy,
    frames: Limiter,
    pings: Limiter,
    joins: Limiter,
    creates: Bucket,
}

/// Which per-kind bucket a frame is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// Ping.
    Ping,
    /// JoinRoom or LeaveRoom.
    JoinLeave,
    /// Anything else (the all-frames bucket only).
    Other,
}

/// A frame over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// `reason` label of `tickforge_frames_refused_total`.
    pub reason: &'static str,
    /// `Some`: the client keeps exceeding it; close with this cause.
    pub close: Option<Disconnect>,
}

impl SessionLimits {
    /// Full buckets as of `now`.
    pub fn new(options: &SessionLimitOptions, now: Instant) -> SessionLimits {
        SessionLimits {
            policy: options.strikes(),
            frames: Limiter::new(
                Rate::per_second(options.frames_per_second, options.frames_burst),
                now,
            ),
            pings: Limiter::new(
                Rate::per_second(options.pings_per_second, options.pings_burst),
                now,
            ),
            joins: Limiter::new(
                Rate::per_second(options.joins_per_second, options.joins_burst),
                now,
            ),
            creates: Bucket::new(
                Rate::per_minute(options.room_creates_per_minute, options.room_creates_burst),
                now,
            ),
        }
    }

    /// Charges one inbound frame of `class` at `now`.
    pub fn admit(&mut self, class: FrameClass, now: Instant) -> Result<(), Refused> {
        let refused = |verdict, reason, cause| match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Refuse => Err(Refused {
                reason,
                close: None,
            }),
            Verdict::Close => Err(Refused {
                reason,
                close: Some(cause),
            }),
        };
        let verdict = self.frames.check(now, self.policy);
        refused(verdict, metrics::REFUSED_FRAME_RATE, Disconnect::FrameRate)?;
        match class {
            FrameClass::Ping => refused(
                self.pings.check(now, self.policy),
                metrics::REFUSED_PING_RATE,
                Disconnect::PingRate,
            ),
            FrameClass::JoinLeave => refused(
                self.joins.check(now, self.policy),
                metrics::REFUSED_JOIN_RATE,
                Disconnect::JoinRate,
            ),
            FrameClass::Other => Ok(()),
        }
    }

    /// The session's allowance of room creations.
    pub fn creates(&mut self) -> &mut Bucket {
        &mut self.creates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_limit_has_a_flag_and_a_file_key() {
        let dir = std::env::temp_dir().join(format!("tickforge-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("tickforge.toml");
        std::fs::write(
            &path,
            "frames_per_second = 7\npings_burst = 3\njoins_per_second = 0\n\
             rate_limit_strikes = 4\nroom_creates_per_minute = 9\nmax_rooms = 11\n\
             snapshot_loads_max = 5\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = path.to_string_lossy().to_string();
        let c = Config::load_from(["tickforge", "--config", &p, "--max-rooms", "12"])
            .unwrap_or_else(|e| panic!("{e}"));
        let l = &c.session_limits;
        assert_eq!(
            (l.frames_per_second, l.pings_burst, l.joins_per_second),
            (7, 3, 0)
        );
        assert_eq!((l.rate_limit_strikes, l.room_creates_per_minute), (4, 9));
        assert_eq!(l.max_rooms, 12, "the flag wins over the file");
        assert_eq!(c.snapshots.snapshot_loads_max, 5);
        assert!(Config::load_from(["tickforge", "--rate-limit-strikes", "0"]).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_session_is_refused_then_closed_by_the_bucket_it_keeps_exceeding() {
        let mut options = Config::defaults().session_limits;
        options.pings_per_second = 1;
        options.pings_burst = 1;
        options.rate_limit_strikes = 2;
        let now = Instant::now();
        let mut limits = SessionLimits::new(&options, now);
        assert_eq!(limits.admit(FrameClass::Ping, now), Ok(()));
        let refused = limits.admit(FrameClass::Ping, now);
        assert_eq!(
            refused.map_err(|r| (r.reason, r.close)),
            Err((metrics::REFUSED_PING_RATE, None))
        );
        assert_eq!(
            limits.admit(FrameClass::Other, now),
            Ok(()),
            "other frames pass"
        );
        let closed = limits.admit(FrameClass::Ping, now);
        assert_eq!(closed.map_err(|r| r.close), Err(Some(Disconnect::PingRate)));
    }
}
