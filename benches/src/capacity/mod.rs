//! The capacity harness behind `src/bin/capacity.rs`: how many bots one
//! server core carries at SLO, for tickforge and for the baseline, measured
//! side by side in one run on a two-core machine (server on one core, swarm
//! on the other), next to the raw loopback write limit of that core.
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | flags; the server kinds and their command lines |
//! | [`steps`] | one step (server, swarm, sampling, figures) and the ladder of steps |
//! | [`sampler`] | the thread reading `/proc` and `/metrics` during a step |
//! | [`procstat`] | parsers for `/proc/<pid>/stat`, `/proc/<pid>/status`, `/proc/stat`, limits |
//! | [`prometheus_text`] | parser for `/metrics`; histogram bucket deltas and quantiles |
//! | [`swarm_report`] | the fields of `tickforge-swarm --json` the harness reads |
//! | [`slo`] | the SLO and the verdict on a step |
//! | [`raw`] | the `raw_writer` reference runs |
//! | [`summary`] | maxima, projections, ratios, targets |
//! | [`report`] | the result as data (`--json`) |
//! | [`tables`] | the result as Markdown (stdout, `--results`) |
//! | [`machine`] | CPU model, kernel, git revision, UTC dates |
//! | [`process`] | child processes killed on drop; `taskset`; bounded waits |
//! | [`http`] | a tiny blocking HTTP GET for `/healthz` and `/metrics` |
//! | [`interrupt`] | Ctrl-C / SIGTERM → stop, children killed |

pub mod cli;
pub mod http;
pub mod interrupt;
pub mod machine;
pub mod process;
pub mod procstat;
pub mod prometheus_text;
pub mod raw;
pub mod report;
pub mod sampler;
pub mod slo;
pub mod steps;
pub mod summary;
pub mod swarm_report;
pub mod tables;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use cli::{Identity, Options, ROOM_CAPACITY, TICK_HZ};
use interrupt::{Interrupt, Interrupted};
use machine::Machine;
use process::Guarded;
use report::{CapacityReport, Commands, RawRun, Settings};
use slo::Limits;
use steps::{Bins, Harness, TRIM_FRACTION};
use summary::Summary;

/// The build the harness runs first (unless `--no-build`).
pub const BUILD_ARGS: [&str; 11] = [
    "build",
    "--release",
    "-p",
    "tickforge-server",
    "--bin",
    "tickforge",
    "-p",
    "tickforge-swarm",
    "-p",
    "tickforge-benches",
    "--bins",
];
/// Longest build allowed.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);
/// File descriptors needed beyond one per bot (listeners, logs, pipes).
const FD_HEADROOM: u64 = 100;

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Runs the whole harness. On Ctrl-C the steps done so far are returned,
/// marked interrupted.
pub fn run(options: &Options, interrupt: &Interrupt) -> anyhow::Result<CapacityReport> {
    options.validate()?;
    let workspace = workspace_root();
    let clk_tck = procstat::clock_ticks_per_second()?;
    process::check_taskset(&[options.server_cpu, options.swarm_cpu])?;
    check_fd_limit(options)?;

    let mut commands = Commands {
        harness: harness_command_line(),
        ..Commands::default()
    };
    if !options.no_build {
        commands.build = Some(build(&workspace, interrupt)?);
    }
    let bin_dir = match &options.bin_dir {
        Some(dir) => dir.clone(),
        None => default_bin_dir()?,
    };
    let bins = Bins::in_dir(&bin_dir)?;
    let out_dir = match &options.out_dir {
        Some(dir) => dir.clone(),
        None => bin_dir.parent().unwrap_or(&bin_dir).join("capacity"),
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    eprintln!(
        "capacity: binaries from {}, reports and logs in {}",
        bin_dir.display(),
        out_dir.display()
    );

    let machine = Machine::probe(&workspace, clk_tck);
    let started_utc = machine::utc_now();
    // With `--identity session` (the default) tickforge verifies a token per
    // bot, signed by the swarm with this run's session key.
    let session_key = match options.identity {
        Identity::Session => {
            let path = out_dir.join("session-key.json");
            std::fs::write(
                &path,
                tickforge_protocol::session_token::SessionKeys::generate_ed25519_json()?,
            )?;
            Some(path)
        }
        Identity::TrustHello => None,
    };
    let harness = Harness {
        options,
        bins,
        session_key,
        out_dir,
        clk_tck,
        limits: Limits::default(),
        interrupt: interrupt.clone(),
    };
    let mut steps = Vec::new();
    let mut raw: Vec<RawRun> = Vec::new();
    let mut outcome = Ok(());
    for &kind in &options.kinds {
        outcome = harness.run_kind(kind, &mut steps, |step| {
            if commands.servers.iter().all(|(k, _)| *k != kind) {
                commands.servers.push((kind, step.server_command.clone()));
            }
            if commands.swarm.is_none() && !step.swarm_command.is_empty() {
                commands.swarm = Some(step.swarm_command.clone());
            }
            if options.no_raw || raw.iter().any(|r| r.connections == step.bots) {
                return Ok(());
            }
            let run = raw_reference(&harness, step)?;
            if let Some(e) = &run.error {
                eprintln!(
                    "capacity: raw_writer with {} connections failed: {e}",
                    step.bots
                );
            }
            commands
                .raw_writer
                .get_or_insert_with(|| run.command.clone());
            raw.push(run);
            Ok(())
        });
        if outcome.is_err() {
            break;
        }
    }
    let interrupted = match outcome {
        Ok(()) => false,
        Err(e) if e.is::<Interrupted>() => true,
        Err(e) => return Err(e),
    };
    raw.sort_by_key(|r| r.connections);
    let summary = Summary::of(&options.kinds, &steps, &raw);
    Ok(CapacityReport {
        tool: "capacity",
        started_utc,
        finished_utc: machine::utc_now(),
        interrupted,
        machine,
        settings: Settings {
            steps: options.steps.clone(),
            step_secs: options.step_secs,
            ramp: options.ramp,
            input_hz: options.input_hz,
            room_capacity: ROOM_CAPACITY,
            tick_hz: TICK_HZ,
            server_cpu: options.server_cpu,
            swarm_cpu: options.swarm_cpu,
            raw_secs: options.raw_secs,
            trim_fraction: TRIM_FRACTION,
            keep_going: options.keep_going,
            identity: options.identity,
        },
        limits: harness.limits,
        commands,
        steps,
        raw,
        summary,
    })
}

/// The raw writer for the bot count of `step`, with its State frame size.
fn raw_reference(harness: &Harness<'_>, step: &report::StepResult) -> anyhow::Result<RawRun> {
    let frame_bytes = step
        .frame_bytes
        .map_or(raw::DEFAULT_FRAME_BYTES, |b| b.round().max(1.0) as u32);
    eprintln!(
        "capacity: raw_writer, {} connections, {frame_bytes} B frames …",
        step.bots
    );
    let log = harness.out_dir.join(format!("raw-{}.log", step.bots));
    raw::run(
        &harness.bins.raw_writer,
        raw::RawSetup {
            writer_cpu: harness.options.server_cpu,
            reader_cpu: harness.options.swarm_cpu,
            secs: harness.options.raw_secs,
        },
        step.bots,
        frame_bytes,
        &log,
        &harness.interrupt,
    )
}

/// Appends the Markdown section to `path`.
pub fn append_results(path: &Path, section: &str) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let gap = if existing.is_empty() || existing.ends_with("\n\n") {
        ""
    } else if existing.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    write!(file, "{gap}{section}").with_context(|| format!("appending to {}", path.display()))
}

/// `cargo run --release -p tickforge-benches --bin capacity -- <args>`.
fn harness_command_line() -> String {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut command = Command::new("cargo");
    command.args([
        "run",
        "--release",
        "-p",
        "tickforge-benches",
        "--bin",
        "capacity",
    ]);
    if !args.is_empty() {
        command.arg("--").args(args);
    }
    process::command_line(&command)
}

/// Builds the release binaries; returns the command line.
pub fn build(workspace: &Path, interrupt: &Interrupt) -> anyhow::Result<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(BUILD_ARGS).current_dir(workspace);
    let line = format!("cargo {}", BUILD_ARGS.join(" "));
    eprintln!("capacity: {line}");
    let mut child = Guarded::spawn(command, "cargo build")?;
    match child.wait_until(Instant::now() + BUILD_LIMIT, interrupt)? {
        Some(status) if status.success() => Ok(line),
        Some(status) => bail!("`{line}` failed ({status})"),
        None => bail!("`{line}` took longer than {BUILD_LIMIT:?}"),
    }
}

/// `target/release`: this binary's directory when it is a release build,
/// else the `release` directory next to it.
pub fn default_bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let dir = exe.parent().context("this binary has no directory")?;
    if dir.file_name().is_some_and(|n| n == "release") {
        Ok(dir.to_path_buf())
    } else {
        Ok(dir.parent().unwrap_or(dir).join("release"))
    }
}

/// Fails unless the open-file soft limit covers the largest step: the
/// server and the swarm each hold one socket per bot, and they inherit
/// this process's limits.
fn check_fd_limit(options: &Options) -> anyhow::Result<()> {
    let largest = options.steps.iter().copied().max().unwrap_or(0);
    let needed = u64::from(largest) + FD_HEADROOM;
    match procstat::open_files_soft_limit()? {
        Some(limit) if limit < needed => bail!(
            "the open-file limit is {limit}, the largest step needs {needed} \
             ({largest} sockets + {FD_HEADROOM}) in the server and in the swarm, which inherit it: \
             run `ulimit -n 65536` (or at least {needed}) in this shell first"
        ),
        _ => Ok(()),
    }
}
