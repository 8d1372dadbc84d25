//! A whole run: check the server is reachable, start the bots at the ramp
//! rate, open the measurement window once every bot has joined, stop
//! after `--duration`, wait for the bots to say goodbye, build the report.
//!
//! **Timing.** The measured duration starts when every bot has settled —
//! joined its first room (garbage: received its first Welcome) or failed
//! to — and lasts `--duration` (Ctrl-C ends it early). Ack latency, jitter
//! and the message rates cover that window only; connect and join times,
//! errors and disconnects cover the whole run, ramp included. The report
//! gives both durations.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::errors::CreationError;
use tickforge_protocol::session_token::{Claims, SessionKeys};
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bot::{Bot, CONNECT_TIMEOUT, Failure};
use crate::config::{Sample, SwarmConfig};
use crate::handshake::{HandshakeError, Target};
use crate::progress::Progress;
use crate::report::{Report, Timing};
use crate::scenario;
use crate::stats::Stats;

/// Longest wait for every bot to settle, beyond the ramp's own length.
pub const SETTLE_GRACE: Duration = Duration::from_secs(30);
/// Time the bots get to close their connections after the run.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why a run could not happen at all (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--url` is unusable.
    #[error(transparent)]
    Url(#[from] HandshakeError),
    /// The host did not resolve.
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, String),
    /// A first connection (connect, upgrade, Hello → Welcome) failed.
    #[error("cannot open a session with {url}: {why}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        why: String,
    },
    /// No bot managed to open a session.
    #[error("no bot could open a session with {0}")]
    NoSession(String),
    /// The session key file could not be used.
    #[error("--token-key-file: {0}")]
    TokenKey(String),
    /// The histograms could not be created.
    #[error("histograms: {0}")]
    Histogram(#[from] CreationError),
}

/// What every bot shares.
pub struct Shared {
    /// The run's settings.
    pub config: SwarmConfig,
    /// The server's address (resolved once).
    pub addr: SocketAddr,
    /// Host header and path of the upgrade request.
    pub target: Target,
    /// Measurements.
    pub stats: Stats,
    /// Prefix of every bot's player id (unique per run).
    pub run_id: String,
    /// The server's session key, when bots sign their own tokens.
    pub tokens: Option<SessionKeys>,
    /// Cancelled when the run ends (for waits; see [`Shared::stopping`]).
    pub stop: CancellationToken,
    stopping: AtomicBool,
    settled: AtomicU32,
    all_settled: Notify,
}

impl Shared {
    /// A token for bot `index` playing as `player_id`, if the run signs them.
    pub fn token_for(&self, player_id: &str, index: u32) -> Option<String> {
        let keys = self.tokens.as_ref()?;
        let ttl = self.config.duration + Duration::from_secs(3600);
        let claims = Claims::new(player_id, Some(format!("bot-{index}")), ttl);
        // Signing with a loaded key does not fail; if it ever did, the bot's
        // Hello would carry no token and its refusal would show in the report.
        keys.mint(&claims).ok()
    }

    /// Whether the run is ending: one relaxed load, cheap enough for every
    /// bot wake-up (a `CancellationToken` check takes a shared lock).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn stop_now(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.cancel();
    }

    /// One more bot has settled (see the module docs).
    pub fn settle(&self) {
        let settled = self.settled.fetch_add(1, Ordering::AcqRel) + 1;
        if settled >= self.config.bots {
            self.all_settled.notify_one();
        }
    }

    async fn wait_settled(&self) {
        while self.settled.load(Ordering::Acquire) < self.config.bots {
            self.all_settled.notified().await;
        }
    }
}

fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("swarm{:x}{:05x}", std::process::id(), nanos & 0xF_FFFF)
}

/// Runs the swarm described by `config` (on the current tokio runtime)
/// and returns its report.
pub async fn run(config: SwarmConfig) -> Result<Report, RunError> {
    let target = Target {
        interest: config.interest,
        ..Target::parse(&config.url)?
    };
    let addr = tokio::net::lookup_host(&target.dial)
        .await
        .map_err(|e| RunError::Resolve(target.dial.clone(), e.to_string()))?
        .next()
        .ok_or_else(|| RunError::Resolve(target.dial.clone(), "no address".into()))?;
    let shared = Arc::new(Shared {
        stats: Stats::new(usize::from(config.threads))?,
        addr,
        target,
        run_id: run_id(),
        tokens: match &config.token_key_file {
            Some(path) => {
                Some(SessionKeys::load(path).map_err(|e| RunError::TokenKey(e.to_string()))?)
            }
            None => None,
        },
        stop: CancellationToken::new(),
        stopping: AtomicBool::new(false),
        settled: AtomicU32::new(0),
        all_settled: Notify::new(),
        config,
    });
    preflight(&shared).await?;
    let probe_sessions = shared.stats.sessions.load(Ordering::Relaxed);

    let started_at = SystemTime::now();
    let started = Instant::now();
    let progress = Progress::start(shared.clone());
    let tracker = TaskTracker::new();
    tracker.spawn(ramp(shared.clone(), tracker.clone()));

    let bots = f64::from(shared.config.bots);
    let ramp_secs = if shared.config.ramp > 0.0 {
        bots / shared.config.ramp
    } else {
        0.0
    };
    let settle_limit = Duration::from_secs_f64(ramp_secs) + SETTLE_GRACE;
    let interrupted = tokio::select! {
        _ = tokio::time::timeout(settle_limit, shared.wait_settled()) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    let ramp_took = started.elapsed();

    shared.stats.set_recording(true);
    let window_start = Instant::now();
    let before = shared.stats.counts();
    if !interrupted {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.duration) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    shared.stats.set_recording(false);
    let measured = window_start.elapsed();
    let window = shared.stats.counts().since(&before);

    shared.stop_now();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        eprintln!("tickforge-swarm: some bots had not finished closing after {SHUTDOWN_GRACE:?}");
    }
    progress.finish();
    let total = started.elapsed();

    if shared.stats.sessions.load(Ordering::Relaxed) == probe_sessions {
        return Err(RunError::NoSession(shared.config.url.clone()));
    }
    let timing = Timing {
        started_at,
        ramp: ramp_took,
        measured,
        total,
        interrupted,
    };
    Ok(Report::build(&shared, timing, window)?)
}

/// One session before the swarm starts: fails the run early (exit 2)
/// when the server is not there. Its traffic and connect time count in
/// the whole-run figures like any other session's.
async fn preflight(shared: &Arc<Shared>) -> Result<(), RunError> {
    let mut probe = Bot::probe(shared.clone());
    let unreachable = |why: String| RunError::Unreachable {
        url: shared.config.url.clone(),
        why,
    };
    let opened = tokio::time::timeout(CONNECT_TIMEOUT * 2, probe.open()).await;
    match opened {
        Ok(Ok(session)) => {
            probe.goodbye(session).await;
            Ok(())
        }
        Ok(Err(Failure::Error(kind))) => Err(unreachable(kind.label().to_string())),
        Ok(Err(Failure::Ended(end))) => Err(unreachable(format!(
            "closed with {} {}",
            end.code(),
            end.reason()
        ))),
        Ok(Err(Failure::Stopped)) => Err(unreachable("stopped".into())),
        Err(_) => Err(unreachable("timed out".into())),
    }
}

/// Spawns the bots, `--ramp` per second (all at once for 0).
async fn ramp(shared: Arc<Shared>, tracker: TaskTracker) {
    let bots = shared.config.bots;
    let measuring = shared.config.measuring();
    let mut ticker = (shared.config.ramp > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / shared.config.ramp));
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    for index in 0..bots {
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                _ = shared.stop.cancelled() => return,
            }
        }
        if shared.stopping() {
            return;
        }
        let bot = Bot::new(
            index,
            Sample::is_measuring(index, measuring, bots),
            shared.clone(),
        );
        tracker.spawn(scenario::run(bot));
    }
}
