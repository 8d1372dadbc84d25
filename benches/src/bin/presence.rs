//! `presence`: how fast cross-node presence moves over a real Redis.
//!
//! Starts a `redis-server` on a free loopback port, then for each rate in
//! `--rates` runs two child processes of this same binary: a **receiver**
//! (a presence backend of node `bench-recv`, applying what other nodes
//! publish to its view) and a **publisher** (node `bench-pub`, whose rooms
//! report `--rooms` room openings followed by join/leave changes at the
//! rate, open loop, for `--secs` seconds). Both run tickforge's own presence
//! code (`tickforge_server::presence::redis`) with a recorder that keeps the
//! publish → receive latency histogram exactly.
//!
//! Reported per rate: changes offered, published and applied, changes that
//! found the queue full (coalesced into a republish), applied changes per
//! second (first to last applied), publish → receive latency p50/p99/p99.9
//! per bulletin, and the CPU seconds of the publisher, the receiver and
//! redis-server. Usage:
//!
//! ```sh
//! cargo run --release -p tickforge-benches --bin presence -- --rates 25000,50000,100000,200000 --secs 5
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use tickforge_benches::probe::Probe;
use tickforge_server::metrics::{
    PRESENCE_EVENTS_IN, PRESENCE_EVENTS_OUT, PRESENCE_LATENCY, PRESENCE_QUEUE_FULL,
    PRESENCE_RESYNCS,
};
use tickforge_server::presence::{Health, PresenceHandle, PresenceOptions, redis};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    /// Start redis-server and run publisher/receiver pairs for every rate.
    Run,
    /// Publish changes (child process).
    Publish,
    /// Apply changes (child process).
    Receive,
}

#[derive(Debug, Parser)]
#[command(
    name = "presence",
    about = "Presence over a real Redis: latency, applied changes/s, CPU per process"
)]
struct Args {
    /// What this process does (`run` for the whole bench).
    #[arg(long, value_enum, default_value = "run")]
    role: Role,
    /// Changes per second offered by the publisher, one step each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "25000,50000,100000,200000"
    )]
    rates: Vec<u64>,
    /// Seconds of publishing per step.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Rooms the publisher opens before the join/leave changes.
    #[arg(long, default_value_t = 100)]
    rooms: u64,
    /// Redis URL (children).
    #[arg(long, default_value = "")]
    redis: String,
    /// Rate of this publisher (child).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Changes this receiver waits for (child).
    #[arg(long, default_value_t = 0)]
    expect: u64,
}

/// What the publisher reports.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    offered: u64,
    published: u64,
    queue_full: u64,
    seconds: f64,
    cpu_s: f64,
}

/// What the receiver reports.
#[derive(Debug, Serialize, Deserialize)]
struct Received {
    expected: u64,
    applied: u64,
    seconds: f64,
    applied_per_s: f64,
    bulletins: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    cpu_s: f64,
    /// Full resyncs after the first (a lagged subscription drops bulletins;
    /// the resync repairs the view but those changes are not counted as applied).
    resyncs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.role {
        Role::Run => run(&args),
        Role::Publish => runtime()?.block_on(publish(&args)),
        Role::Receive => runtime()?.block_on(receive(&args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// CPU seconds (user + system, all threads) of process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / 100.0)
}

fn options(url: &str) -> PresenceOptions {
    PresenceOptions {
        presence: url.to_string(),
        public_url: None,
        presence_ttl_ms: 10_000,
        presence_queue: 1 << 16,
        presence_channel: 4096,
        presence_timeout_ms: 2000,
    }
}

/// One presence node of this bench, recording its metrics in a probe.
struct BenchNode {
    probe: Probe,
    handle: PresenceHandle,
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl BenchNode {
    /// Starts node `name` on `redis` and waits until it is connected.
    async fn start(redis: &str, name: &str) -> anyhow::Result<BenchNode> {
        let probe = Probe::install(PRESENCE_LATENCY)?;
        let shutdown = CancellationToken::new();
        let url = format!("ws://127.0.0.1:1/{name}");
        let (handle, thread) = redis::start(
            &options(redis),
            redis,
            name,
            &url,
            Arc::new(NoPlayers),
            shutdown.clone(),
        )?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while handle.health() != Health::Connected {
            if Instant::now() > deadline {
                bail!("presence did not connect to Redis within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(BenchNode {
            probe,
            handle,
            shutdown,
            thread,
        })
    }

    /// Leaves the cluster and waits for the presence thread.
    fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if self.thread.join().is_err() {
            bail!("presence thread panicked");
        }
        Ok(())
    }
}

async fn publish(args: &Args) -> anyhow::Result<()> {
    let node = BenchNode::start(&args.redis, "bench-pub").await?;
    let (probe, handle) = (&node.probe, &node.handle);
    let cpu = cpu_seconds("self")?;
    let mode: Arc<str> = Arc::from("arena");
    let rooms: Vec<Arc<str>> = (0..args.rooms)
        .map(|r| Arc::from(format!("bench-pub-r-{r}")))
        .collect();
    for room in &rooms {
        handle.room_opened(room, &mode, 32, false);
    }
    let total = args.rate * args.secs;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut player: Arc<str> = Arc::from("");
    while sent < total {
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        while sent < due {
            let room = &rooms[((sent / 2) % args.rooms) as usize];
            if sent.is_multiple_of(2) {
                player = Arc::from(format!("p{}", sent / 2));
                handle.player_joined(room, &player, 1);
            } else {
                handle.player_left(room, &player, 0, 0);
            }
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let offered = total + args.rooms;
    let settle = Instant::now() + Duration::from_secs(10);
    while probe.counter(PRESENCE_EVENTS_OUT) < offered
        && probe.counter(PRESENCE_QUEUE_FULL) == 0
        && Instant::now() < settle
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = Published {
        offered,
        published: probe.counter(PRESENCE_EVENTS_OUT),
        queue_full: probe.counter(PRESENCE_QUEUE_FULL),
        seconds: started.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds("self")? - cpu,
    };
    node.stop()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn receive(args: &Args) -> anyhow::Result<()> {
    let node = BenchNode::start(&args.redis, "bench-recv").await?;
    let probe = &node.probe;
    println!("ready");
    std::io::stdout().flush()?;
    let cpu = cpu_seconds("self")?;
    let mut first = None;
    let mut last = Instant::now();
    let mut applied = 0;
    loop {
        let now = probe.counter(PRESENCE_EVENTS_IN);
        if now > applied {
            applied = now;
            last = Instant::now();
            first.get_or_insert(last);
        }
        if applied >= args.expect || (first.is_some() && last.elapsed() > Duration::from_secs(10)) {
            break;
        }
        if first.is_none() && last.elapsed() > Duration::from_secs(60) {
            bail!("nothing received within 60 s");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let seconds = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    let samples = probe.samples();
    let report = Received {
        expected: args.expect,
        applied,
        seconds,
        applied_per_s: if seconds > 0.0 {
            applied as f64 / seconds
        } else {
            0.0
        },
        bulletins: samples.len(),
        p50_us: samples.value_at_quantile(0.5),
        p99_us: samples.value_at_quantile(0.99),
        p999_us: samples.value_at_quantile(0.999),
        max_us: samples.max(),
        cpu_s: cpu_seconds("self")? - cpu,
        resyncs: probe.counter(PRESENCE_RESYNCS).saturating_sub(1),
    };
    node.stop()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// redis-server on a free port; killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> anyhow::Result<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server (Debian package redis-server)")?;
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server
            .command("PING")
            .map(|r| !r.starts_with("+PONG"))
            .unwrap_or(true)
        {
            if Instant::now() > deadline {
                bail!("redis-server did not answer PING");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn command(&self, command: &str) -> anyhow::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Err(e) = self
            .child
            .kill()
            .and_then(|()| self.child.wait().map(|_| ()))
        {
            eprintln!("stopping redis-server: {e}");
        }
    }
}

fn child(args: &[String]) -> anyhow::Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?)
}

fn last_line<T: for<'de> Deserialize<'de>>(child: Child) -> anyhow::Result<T> {
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("child failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().context("child printed nothing")?;
    Ok(serde_json::from_str(line)?)
}

fn run(args: &Args) -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let pid = redis.child.id().to_string();
    println!(
        "| offered/s | applied | queue full | resyncs | applied/s | bulletins | p50 µs | p99 µs | p99.9 µs | max µs | publisher CPU s | receiver CPU s | redis CPU s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &rate in &args.rates {
        redis.command("FLUSHALL")?;
        let expect = rate * args.secs + args.rooms;
        let mut receiver = child(&[
            "--role".into(),
            "receive".into(),
            "--redis".into(),
            url.clone(),
            "--expect".into(),
            expect.to_string(),
        ])?;
        let stdout = receiver.stdout.take().context("receiver stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        match lines.next() {
            Some(Ok(line)) if line == "ready" => {}
            other => bail!("receiver did not start: {other:?}"),
        }
        let redis_cpu = cpu_seconds(&pid)?;
        let publisher = child(&[
            "--role".into(),
            "publish".into(),
            "--redis".into(),
            url.clone(),
            "--rate".into(),
            rate.to_string(),
            "--secs".into(),
            args.secs.to_string(),
            "--rooms".into(),
            args.rooms.to_string(),
        ])?;
        let published: Published = last_line(publisher)?;
        let status = receiver.wait()?;
        if !status.success() {
            bail!("receiver failed: {status}");
        }
        let received: Received = serde_json::from_str(
            &lines
                .map_while(Result::ok)
                .last()
                .context("receiver printed nothing")?,
        )?;
        let redis_cpu = cpu_seconds(&pid)? - redis_cpu;
        println!(
            "| {rate} | {}/{} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            received.applied,
            received.expected,
            published.queue_full,
            received.resyncs,
            received.applied_per_s,
            received.bulletins,
            received.p50_us,
            received.p99_us,
            received.p999_us,
            received.max_us,
            published.cpu_s,
            received.cpu_s,
            redis_cpu
        );
        eprintln!(
            "{}",
            serde_json::json!({"rate": rate, "published": published, "received": received, "redis_cpu_s": redis_cpu})
        );
    }
    Ok(())
}

/// The bench's nodes seat no players: access-control actions have nothing to close.
struct NoPlayers;

impl tickforge_server::presence::AccessSink for NoPlayers {
    fn apply(&self, _action: &tickforge_server::presence::AccessAction) {}
}
