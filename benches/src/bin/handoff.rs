//! `handoff`: how long a room pauses when a draining node hands it to
//! another node ([`tickforge_server::handoff`]).
//!
//! Each run starts a `redis-server` on a free loopback port and two
//! `tickforge` processes (nodes `bench-a` and `bench-b`, one shard each)
//! sharing it for presence; seats `--rooms` × `--players` players on node A
//! (arena rooms of `--players` seats), all moving with an input every
//! 50 ms; drains node A (`POST /admin/drain`, `--drain-delay 0s`); and waits
//! until every player has followed its room to node B and seen 10 States
//! there. Measured per run:
//!
//! - **server pause** per room: node B's `tickforge_handoff_pause_seconds`
//!   (source's last tick to the target's first tick);
//! - **member gap**: per player, the time between the last State received
//!   from node A and the first State from node B (Redirect, reconnect,
//!   Hello with the resume token, Joined, first State), and the same gap in
//!   ticks as the client reports it.
//!
//! Printed: each run, then the median over runs of each run's server
//! pause and of its member-gap p50 and p99. Usage (after `cargo build
//! --release -p tickforge-server -p tickforge-benches`):
//!
//! ```sh
//! target/release/handoff --runs 5 --rooms 1 --players 32
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use tickforge_protocol::arena_codec::{self, Move};
use tickforge_protocol::client::{Client, ConnectOptions, Event};
use tickforge_protocol::session_token::{Claims, SessionKeys};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(name = "handoff", about = "Hand-off pause of a drained node's rooms")]
struct Args {
    /// Runs (a fresh Redis and two fresh nodes each).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Rooms on the draining node.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Players per room (the room's capacity).
    #[arg(long, default_value_t = 32)]
    players: usize,
    /// Directory with the `tickforge` binary.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
}

/// A child process killed on drop.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Err(e) = self.0.kill() {
            eprintln!("handoff: kill: {e}");
        }
        if let Err(e) = self.0.wait() {
            eprintln!("handoff: wait: {e}");
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `method path` over HTTP/1.1; (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("an HTTP status")?;
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// One series of an admin listener's `/metrics`.
async fn metric(admin: SocketAddr, series: &str) -> anyhow::Result<f64> {
    let (_, body) = http(admin, "GET", "/metrics").await?;
    Ok(body
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0))
}

struct Node {
    _child: Guarded,
    public: SocketAddr,
    admin: SocketAddr,
}

async fn start_node(
    tickforge: &Path,
    id: &str,
    redis: &str,
    dir: &Path,
    key: &Path,
    players: usize,
) -> anyhow::Result<Node> {
    let public: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let data = dir.join(id);
    let child = Command::new(tickforge)
        .args(["--node-id", id, "--presence", redis])
        .args([
            "--listen",
            &public.to_string(),
            "--admin-listen",
            &admin.to_string(),
        ])
        .args([
            "--shards",
            "1",
            "--pin-cores",
            "false",
            "--drain-delay",
            "0s",
        ])
        .args(["--mode", &format!("arena,game=arena,capacity={players}")])
        .args(["--allow-node-local-snapshots", "--log", "warn"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--session-key-file")
        .arg(key)
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", tickforge.display()))?;
    let node = Node {
        _child: Guarded(child),
        public,
        admin,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, body)) = http(public, "GET", "/readyz").await
            && body.contains("presence: connected")
        {
            return Ok(node);
        }
        if Instant::now() > deadline {
            bail!("{id} not ready within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one player saw: the gap around the move.
struct Gap {
    wall: Duration,
    ticks: u64,
}

async fn play(url: String, player: String, token: String, index: usize) -> anyhow::Result<Gap> {
    let options = ConnectOptions {
        timeout: Duration::from_secs(20),
        player_id: player,
        ..ConnectOptions::token(token)
    };
    let mut client = Client::connect(&url, options).await?;
    let joined = client.join_or_create("arena").await?;
    let entity = joined.entity_id;
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let mv = [(20, 10), (-20, 10), (10, -20), (-10, -20)][index % 4];
    let input = arena_codec::encode_input(
        &mut fbb,
        Move {
            x: mv.0,
            y: mv.1,
            buttons: 0,
        },
    )
    .to_vec();
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut last_state_at = Instant::now();
    let mut moved: Option<(Duration, u64)> = None;
    let mut first_after: Option<Duration> = None;
    let mut states_after = 0;
    let mut next_input = Instant::now();
    while states_after < 10 {
        if Instant::now() > give_up {
            bail!("player {index} (entity {entity}): no move within 60 s");
        }
        if Instant::now() >= next_input {
            client.send_input(&input).await?;
            next_input = Instant::now() + Duration::from_millis(50);
        }
        // Never cancelled: a moved room's Redirect is followed inside.
        match client.next_event().await? {
            Event::State(_) if moved.is_none() => last_state_at = Instant::now(),
            Event::State(_) => {
                states_after += 1;
                first_after.get_or_insert_with(|| last_state_at.elapsed());
            }
            Event::Resumed {
                moved: true,
                gap_ticks,
                ..
            } => moved = Some((last_state_at.elapsed(), gap_ticks)),
            _ => {}
        }
    }
    let (_, ticks) = moved.context("moved")?;
    Ok(Gap {
        wall: first_after.context("a State after the move")?,
        ticks,
    })
}

/// One run: (server pause per room, member gaps).
async fn run(args: &Args, tickforge: &Path, n: usize) -> anyhow::Result<(Vec<f64>, Vec<Gap>)> {
    let dir = std::env::temp_dir().join(format!("tickforge-handoff-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key = dir.join("session-key.json");
    std::fs::write(
        &key,
        tickforge_protocol::session_token::SessionKeys::generate_ed25519_json()?,
    )?;
    let redis_port = free_port()?;
    let _redis = Guarded(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .context("redis-server")?,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let redis = format!("redis://127.0.0.1:{redis_port}/0");
    let a = start_node(tickforge, "bench-a", &redis, &dir, &key, args.players).await?;
    let b = start_node(tickforge, "bench-b", &redis, &dir, &key, args.players).await?;
    let url = format!("ws://{}/ws", a.public);
    // Seat everybody on A first (B creates nothing: its view may not list A's rooms yet).
    let total = args.rooms * args.players;
    let keys = SessionKeys::load(&key)?;
    let mut players = Vec::with_capacity(total);
    for i in 0..total {
        let player = format!("bench-{n}-{i}");
        let claims = Claims::new(&player, Some(player.clone()), Duration::from_secs(3600));
        let token = keys.mint(&claims)?;
        players.push(tokio::spawn(play(url.clone(), player, token, i)));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(a.admin, "tickforge_players{shard=\"0\"}").await? < total as f64 {
        if Instant::now() > deadline {
            bail!("players not seated on node A within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = http(a.admin, "POST", "/admin/drain").await?;
    if status != 200 {
        bail!("drain: {status} {body}");
    }
    let gaps: Vec<Gap> = futures_util::stream::iter(players)
        .then(|p| async move { p.await? })
        .collect::<Vec<anyhow::Result<Gap>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let rooms = metric(b.admin, "tickforge_handoff_pause_seconds_count").await?;
    let sum = metric(b.admin, "tickforge_handoff_pause_seconds_sum").await?;
    if rooms as usize != args.rooms {
        bail!("node B restored {rooms} rooms, expected {}", args.rooms);
    }
    drop((a, b));
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("handoff: removing {}: {e}", dir.display());
    }
    // The mean pause per room (one room: exactly its pause).
    Ok((vec![sum / rooms * 1000.0], gaps))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tickforge = args.bin_dir.join("tickforge");
    if !tickforge.exists() {
        bail!(
            "{} not found: build it with cargo build --release -p tickforge-server",
            tickforge.display()
        );
    }
    println!(
        "hand-off pause: {} run(s), {} room(s) x {} players, 2 nodes + redis on loopback",
        args.runs, args.rooms, args.players
    );
    println!(
        "| run | server pause ms (mean per room) | member gap p50 ms | member gap p99 ms | gap ticks p50 | gap ticks max |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let (mut pauses, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=args.runs {
        let (pause, gaps) = run(&args, &tickforge, n).await?;
        let mut wall: Vec<f64> = gaps.iter().map(|g| g.wall.as_secs_f64() * 1000.0).collect();
        wall.sort_by(f64::total_cmp);
        let mut ticks: Vec<f64> = gaps.iter().map(|g| g.ticks as f64).collect();
        ticks.sort_by(f64::total_cmp);
        let pause = pause.iter().sum::<f64>() / pause.len().max(1) as f64;
        let (p50, p99) = (percentile(&wall, 0.5), percentile(&wall, 0.99));
        println!(
            "| {n} | {pause:.1} | {p50:.1} | {p99:.1} | {:.0} | {:.0} |",
            percentile(&ticks, 0.5),
            percentile(&ticks, 1.0)
        );
        pauses.push(pause);
        p50s.push(p50);
        p99s.push(p99);
    }
    println!(
        "median of {} runs: server pause {:.1} ms, member gap p50 {:.1} ms, p99 {:.1} ms",
        args.runs,
        median(pauses),
        median(p50s),
        median(p99s)
    );
    Ok(())
}
