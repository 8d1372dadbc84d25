//! The abusers, in process on one pinned thread with its own runtime:
//!
//! - **slowloris**: `--slowloris` sockets spread over several source
//!   addresses, each sending the start of a request head
//!   (`GET /ws HTTP/1.1`, one header) and then one more header line a
//!   second, never finishing; when the server closes one (its header
//!   timeout), it is opened again at once.
//! - **flood**: `--flood-rate` WebSocket upgrades a second from one source
//!   address; an upgrade that succeeds is held open without a `Hello` (up
//!   to `--flood-hold` at once) until the server closes it, the others are
//!   dropped as soon as the answer (or the close) arrives.
//!
//! Each records what it saw from the outside ([`AbuseReport`]); the server's
//! own refusal counters are read from `/metrics` by the harness.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

/// Time allowed for a connect or for an answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Time between two header lines of a slowloris socket.
const TRICKLE: Duration = Duration::from_secs(1);
/// Most flood attempts in flight (beyond the held ones) per attempt a second.
const FLOOD_IN_FLIGHT_PER_RATE: u64 = 2;

/// What the abusers do and to whom.
#[derive(Debug, Clone)]
pub struct AbuseOptions {
    /// The server's public listener.
    pub target: SocketAddr,
    /// Slowloris sockets.
    pub slowloris: u32,
    /// Their source addresses (sockets are spread round-robin).
    pub slowloris_sources: Vec<Ipv4Addr>,
    /// Flood upgrades per second.
    pub flood_rate: u32,
    /// Upgraded flood connections held at most.
    pub flood_hold: u32,
    /// The flood's source address.
    pub flood_source: Ipv4Addr,
    /// CPU to pin the abusers' thread to.
    pub cpu: Option<usize>,
}

/// What the abusers saw.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AbuseReport {
    /// Slowloris sockets opened.
    pub slowloris_opened: u64,
    /// Slowloris sockets the server closed.
    pub slowloris_closed: u64,
    /// Slowloris connects that failed.
    pub slowloris_connect_failed: u64,
    /// Longest a slowloris socket stayed open before the server closed it, ms.
    pub slowloris_longest_ms: u64,
    /// Flood upgrades attempted.
    pub flood_attempts: u64,
    /// Answered `101 Switching Protocols`.
    pub flood_upgraded: u64,
    /// Upgraded connections the server later closed (no `Hello`).
    pub flood_upgrades_closed: u64,
    /// Answered `503`.
    pub flood_refused_503: u64,
    /// Answered with another status.
    pub flood_other_status: u64,
    /// Closed without an answer.
    pub flood_closed_unanswered: u64,
    /// Connects that failed, or answers that did not come in time.
    pub flood_failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    slowloris_opened: AtomicU64,
    slowloris_closed: AtomicU64,
    slowloris_connect_failed: AtomicU64,
    slowloris_longest_ms: AtomicU64,
    flood_attempts: AtomicU64,
    flood_upgraded: AtomicU64,
    flood_upgrades_closed: AtomicU64,
    flood_refused_503: AtomicU64,
    flood_other_status: AtomicU64,
    flood_closed_unanswered: AtomicU64,
    flood_failed: AtomicU64,
    flood_held: AtomicU64,
    flood_in_flight: AtomicU64,
}

impl Counters {
    fn report(&self) -> AbuseReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AbuseReport {
            slowloris_opened: get(&self.slowloris_opened),
            slowloris_closed: get(&self.slowloris_closed),
            slowloris_connect_failed: get(&self.slowloris_connect_failed),
            slowloris_longest_ms: get(&self.slowloris_longest_ms),
            flood_attempts: get(&self.flood_attempts),
            flood_upgraded: get(&self.flood_upgraded),
            flood_upgrades_closed: get(&self.flood_upgrades_closed),
            flood_refused_503: get(&self.flood_refused_503),
            flood_other_status: get(&self.flood_other_status),
            flood_closed_unanswered: get(&self.flood_closed_unanswered),
            flood_failed: get(&self.flood_failed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The running abusers; [`Abusers::finish`] stops them.
#[derive(Debug)]
pub struct Abusers {
    stop: CancellationToken,
    counters: Arc<Counters>,
    thread: JoinHandle<()>,
}

impl Abusers {
    /// Starts both abusers on a thread of their own.
    pub fn start(options: AbuseOptions) -> anyhow::Result<Abusers> {
        let stop = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the abusers' runtime")?;
        let (token, shared) = (stop.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name("soak-abusers".into())
            .spawn(move || {
                if let Some(cpu) = options.cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                }
                runtime.block_on(abuse(options, token, shared));
            })
            .context("starting the abusers' thread")?;
        Ok(Abusers {
            stop,
            counters,
            thread,
        })
    }

    /// What the abusers saw so far.
    pub fn report(&self) -> AbuseReport {
        self.counters.report()
    }

    /// Stops them (every socket closes) and returns what they saw.
    pub fn finish(self) -> anyhow::Result<AbuseReport> {
        self.stop.cancel();
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the abusers' thread panicked"))?;
        Ok(self.counters.report())
    }
}

async fn abuse(options: AbuseOptions, stop: CancellationToken, counters: Arc<Counters>) {
    let tasks = tokio_util::task::TaskTracker::new();
    let sources = options.slowloris_sources.clone();
    for i in 0..options.slowloris {
        let source = sources[i as usize % sources.len().max(1)];
        // Spread the first connects over a second.
        let delay = Duration::from_secs_f64(f64::from(i) / f64::from(options.slowloris.max(1)));
        tasks.spawn(slowloris_socket(
            source,
            options.target,
            delay,
            stop.clone(),
            counters.clone(),
        ));
    }
    if options.flood_rate > 0 {
        tasks.spawn(flood(options.clone(), stop.clone(), counters.clone()));
    }
    tasks.close();
    tasks.wait().await;
}

/// A socket bound to `source` connected to `target`, within [`IO_TIMEOUT`].
async fn connect_from(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    match tokio::time::timeout(IO_TIMEOUT, socket.connect(target)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// One slowloris slot: open, trickle header lines until the server closes
/// the socket, open again; until `stop`.
async fn slowloris_socket(
    source: Ipv4Addr,
    target: SocketAddr,
    delay: Duration,
    stop: CancellationToken,
    counters: Arc<Counters>,
) {
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep(delay) => {}
    }
    let mut line = 0u64;
    while !stop.is_cancelled() {
        let mut stream = match connect_from(source, target).await {
            Ok(s) => s,
            Err(_) => {
                bump(&counters.slowloris_connect_failed);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                }
            }
        };
        bump(&counters.slowloris_opened);
        let opened = Instant::now();
        let head = format!("GET /ws HTTP/1.1\r\nHost: {target}\r\n");
        let mut closed = stream.write_all(head.as_bytes()).await.is_err();
        let mut buf = [0u8; 512];
        while !closed {
            tokio::select! {
                () = stop.cancelled() => return,
                read = stream.read(&mut buf) => {
                    // An answer (408) or the close: either way the server ended it.
                    if matches!(read, Ok(0) | Err(_)) {
                        closed = true;
                    }
                }
                () = tokio::time::sleep(TRICKLE) => {
                    line += 1;
                    let header = format!("X-Slow-{line}: {line}\r\n");
                    closed = stream.write_all(header.as_bytes()).await.is_err();
                }
            }
        }
        bump(&counters.slowloris_closed);
        let lived = u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        counters
            .slowloris_longest_ms
            .fetch_max(lived, Ordering::Relaxed);
    }
}

/// The flood: `flood_rate` attempts a second until `stop`.
async fn flood(options: AbuseOptions, stop: CancellationToken, counters: Arc<Counters>) {
    let tasks = tokio_util::task::TaskTracker::new();
    let mut ticks =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(options.flood_rate)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let in_flight_cap = u64::from(options.flood_rate) * FLOOD_IN_FLIGHT_PER_RATE;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if counters.flood_in_flight.load(Ordering::Relaxed) >= in_flight_cap {
            continue;
        }
        bump(&counters.flood_attempts);
        counters.flood_in_flight.fetch_add(1, Ordering::Relaxed);
        let (stop, counters) = (stop.clone(), counters.clone());
        let (source, target, hold) = (
            options.flood_source,
            options.target,
            u64::from(options.flood_hold),
        );
        tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = flood_attempt(source, target, hold, &counters) => {}
            }
            counters.flood_in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    tasks.close();
    tasks.wait().await;
}

/// Outcome of one upgrade request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Status(u16),
    Closed,
    Failed,
}

/// One flood upgrade: connect, ask, classify; hold a `101` until the
/// server closes it (or drop it when `hold` are held already).
async fn flood_attempt(source: Ipv4Addr, target: SocketAddr, hold: u64, counters: &Counters) {
    let Ok(mut stream) = connect_from(source, target).await else {
        bump(&counters.flood_failed);
        return;
    };
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: c29ha2luZy10aGUtc2VydmVy\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: tickforge.v1\r\n\r\n"
    );
    let answer = match tokio::time::timeout(IO_TIMEOUT, ask(&mut stream, request.as_bytes())).await
    {
        Ok(answer) => answer,
        Err(_) => Answer::Failed,
    };
    match answer {
        Answer::Status(101) => {
            bump(&counters.flood_upgraded);
            if counters.flood_held.fetch_add(1, Ordering::Relaxed) < hold {
                // Held without a Hello: the server's handshake timeout ends it.
                let mut buf = [0u8; 256];
                let _ended = stream.read(&mut buf).await;
                bump(&counters.flood_upgrades_closed);
            }
            counters.flood_held.fetch_sub(1, Ordering::Relaxed);
        }
        Answer::Status(503) => bump(&counters.flood_refused_503),
        Answer::Status(_) => bump(&counters.flood_other_status),
        Answer::Closed => bump(&counters.flood_closed_unanswered),
        Answer::Failed => bump(&counters.flood_failed),
    }
}

/// Sends `request` and reads the answer's head.
async fn ask(stream: &mut TcpStream, request: &[u8]) -> Answer {
    if stream.write_all(request).await.is_err() {
        return Answer::Closed;
    }
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) if head.is_empty() => return Answer::Closed,
            Ok(0) | Err(_) => return status_of(&head).map_or(Answer::Failed, Answer::Status),
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > 8192 {
            return status_of(&head).map_or(Answer::Failed, Answer::Status);
        }
    }
}

/// The status code of a response head.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_from_the_first_line_of_a_head() {
        assert_eq!(
            status_of(b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\r\n"),
            Some(503)
        );
        assert_eq!(
            status_of(b"HTTP/1.1 101 Switching Protocols\r\n"),
            Some(101)
        );
        assert_eq!(status_of(b"garbage"), None);
    }

    #[tokio::test]
    async fn the_slowloris_is_reopened_after_the_server_closes_it() {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let target = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        // A server that closes every connection after 100 ms.
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    drop(socket);
                });
            }
        });
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(slowloris_socket(
            Ipv4Addr::LOCALHOST,
            target,
            Duration::ZERO,
            stop.clone(),
            counters.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(450)).await;
        stop.cancel();
        assert!(task.await.is_ok());
        let report = counters.report();
        assert!(report.slowloris_closed >= 2, "{report:?}");
        assert!(report.slowloris_opened >= report.slowloris_closed);
    }
}
