//! `snapshot_writes`: how many player snapshots per second the write-behind
//! writer makes durable in a snapshot store, measured through the same
//! hand-over the rooms use ([`WriteBehindHandle::offer`]).
//!
//! It offers `--players` snapshots (one per distinct player, so nothing
//! coalesces away) at `--rate` per second (0: as fast as possible), then
//! stops the writer, which flushes everything before it returns, and
//! reports snapshots written per second, with the CPU time the process
//! given by `--db-pid` (the database) used meanwhile.
//!
//! ```sh
//! ops/cassandra/start.sh
//! cargo run --release -p tickforge-benches --bin snapshot_writes -- \
//!     --snapshots scylla://127.0.0.1:9042/tickforge_bench --players 200000 \
//!     --db-pid "$(cat ops/cassandra/target/node/cassandra.pid)"
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use tickforge_protocol::arena_codec::{Saved, encode_save};
use tickforge_server::persist::{Persistence, Snapshot, SnapshotOptions};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(about = "Snapshots per second into a snapshot store")]
struct Args {
    /// Distinct players (one snapshot each).
    #[arg(long, default_value_t = 200_000)]
    players: u64,
    /// Snapshots offered per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Process whose CPU time to report (the database), if any.
    #[arg(long)]
    db_pid: Option<u32>,
    /// The store and pipeline settings (as for `tickforge`).
    #[command(flatten)]
    snapshots: SnapshotOptions,
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shutdown = CancellationToken::new();
    let persistence =
        Persistence::start(&args.snapshots, shutdown.clone(), Duration::from_secs(600))
            .context("starting the snapshot writer")?;
    let handle = persistence.handle().clone();
    let state = Bytes::from(encode_save(Saved {
        x: 123.5,
        y: 456.25,
        distance: 7890.0,
    }));
    let room: Arc<str> = Arc::from("bench-room");
    let run = std::process::id();
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let db_before = args.db_pid.and_then(cpu_ticks);
    let own_before = cpu_ticks(std::process::id());
    let started = Instant::now();
    for i in 0..args.players {
        if args.rate > 0 {
            let due = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        handle.offer(Snapshot {
            player_id: Arc::from(format!("bench-{run}-{i}")),
            room_id: room.clone(),
            version: 1,
            captured_us: 1_700_000_000_000_000 + i,
            state: state.clone(),
            expires_us: None,
        });
    }
    let offered = started.elapsed();
    shutdown.cancel();
    persistence.finish();
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64();
    let spill = args.snapshots.spill_path();
    let spilled = tickforge_server::persist::spill::read(&spill)
        .ok()
        .flatten()
        .map_or(0, |rows| rows.len());
    println!("store              {}", args.snapshots.snapshots);
    println!("snapshots          {}", args.players);
    println!("offered in         {:.2} s", offered.as_secs_f64());
    println!("all durable in     {secs:.2} s");
    println!(
        "throughput         {:.0} snapshots/s",
        args.players as f64 / secs
    );
    println!("spilled (not written) {spilled}");
    if let (Some(pid), Some(before), Some(after)) =
        (args.db_pid, db_before, args.db_pid.and_then(cpu_ticks))
    {
        let cpu = (after - before) as f64 / ticks_per_sec;
        println!(
            "database pid {pid}  {cpu:.1} CPU-s = {:.0}% of one core",
            100.0 * cpu / secs
        );
    }
    if let (Some(before), Some(after)) = (own_before, cpu_ticks(std::process::id())) {
        let cpu = (after - before) as f64 / ticks_per_sec;
        println!(
            "writer process     {cpu:.1} CPU-s = {:.0}% of one core",
            100.0 * cpu / secs
        );
    }
    Ok(())
}
