//! The soak behind `src/bin/soak.rs` (issue #12 item 8): one `tickforge`
//! server pinned to one core runs through two phases of the same length,
//! with the same honest swarms on the other core: `arena` (honest players:
//! their ack latency is compared), `churn` and `garbage`, all from
//! 127.0.0.1; in the second phase a slowloris and a connection flood from
//! other loopback addresses run beside them. After each phase everyone
//! leaves and the server must return to zero rooms, seats, sessions and
//! connections, and to its starting descriptor count.
//!
//! **Per-IP limits stay on** (the server's defaults unless the flags say
//! otherwise) because they are what the flood meets: the flood comes from
//! 127.0.0.2 and crosses `--max-connections-per-ip` and the handshake rate;
//! the slowloris spreads over 127.0.0.3 upwards so that each address stays
//! under the per-IP cap and the header timeout is what closes it; the
//! honest swarms share 127.0.0.1 and are sized to stay well under both
//! limits ([`cli::Options::validate`] refuses counts that would not).
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | flags; the server's command line |
//! | [`abuse`] | the slowloris and the flood, in process |
//! | [`watch`] | RSS and descriptors (`procfs`), gauges and tick buckets (`/metrics`) over time |
//! | [`report`] | figures per phase; the checks and their verdicts (`--json`) |
//! | [`tables`] | the result as Markdown (stdout, `--results`) |
//!
//! Child processes, Ctrl-C, `/healthz`, `/metrics` parsing and the swarm's
//! report come from the capacity harness ([`crate::capacity`]).

pub mod abuse;
pub mod cli;
pub mod report;
pub mod tables;
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tickforge_server::metrics::{
    CONNECTIONS_REFUSED, DISCONNECTS, FRAMES_REFUSED, HTTP_TIMEOUTS, JOINS_REFUSED,
};

use crate::capacity::interrupt::{Interrupt, Interrupted};
use crate::capacity::machine::{self, Machine};
use crate::capacity::process::{self, Guarded};
use crate::capacity::prometheus_text::Scrape;
use crate::capacity::steps::{self, TRIM_FRACTION};
use crate::capacity::swarm_report::SwarmReport;
use crate::capacity::{self as capacity, procstat};
use abuse::{AbuseOptions, Abusers};
use cli::Options;
use report::{Commands, Phase, Settled, SoakReport, SwarmFigures};
use watch::{Gauges, Resources, Watcher};

/// The abusers' head start before the swarms connect.
const ABUSE_HEAD_START: Duration = Duration::from_secs(2);
/// Beyond ramp + phase: the swarm's settle grace (30 s), its goodbyes and slack.
const SWARM_SLACK: Duration = Duration::from_secs(60);
/// Descriptors the server and this process need beyond the sockets.
const FD_HEADROOM: u64 = 200;
/// Labelled counters whose change over a phase is reported, and their label.
const REFUSAL_SERIES: [(&str, &str); 5] = [
    (CONNECTIONS_REFUSED, "reason"),
    (HTTP_TIMEOUTS, "kind"),
    (FRAMES_REFUSED, "reason"),
    (JOINS_REFUSED, "reason"),
    (DISCONNECTS, "cause"),
];

/// The three honest swarms: scenario, bots, inputs (or cycles) per second.
fn swarms(options: &Options) -> [(&'static str, u32, u32); 3] {
    [
        ("arena", options.arena_bots, options.input_hz),
        ("churn", options.churn_bots, options.input_hz),
        ("garbage", options.garbage_bots, options.garbage_hz),
    ]
}

/// What every phase needs.
struct Run<'a> {
    options: &'a Options,
    interrupt: &'a Interrupt,
    swarm_bin: PathBuf,
    session_key: PathBuf,
    out_dir: PathBuf,
    public: SocketAddr,
    admin: SocketAddr,
    start_fds: Option<u64>,
}

/// Runs the soak; on Ctrl-C the phases done so far are returned, marked
/// interrupted.
pub fn run(options: &Options, interrupt: &Interrupt) -> anyhow::Result<SoakReport> {
    options.validate()?;
    let workspace = capacity::workspace_root();
    process::check_taskset(&[options.server_cpu, options.client_cpu])?;
    check_fd_limit(options)?;
    let mut commands = Commands {
        harness: harness_command_line(),
        ..Commands::default()
    };
    if !options.no_build {
        commands.build = Some(capacity::build(&workspace, interrupt)?);
    }
    let bin_dir = match &options.bin_dir {
        Some(dir) => dir.clone(),
        None => capacity::default_bin_dir()?,
    };
    let tickforge = existing(&bin_dir, "tickforge")?;
    let swarm_bin = existing(&bin_dir, "tickforge-swarm")?;
    let out_dir = match &options.out_dir {
        Some(dir) => dir.clone(),
        None => bin_dir.parent().unwrap_or(&bin_dir).join("soak"),
    };
    let data_dir = out_dir.join("data");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("removing the old {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let session_key = out_dir.join("session-key.json");
    std::fs::write(
        &session_key,
        tickforge_protocol::session_token::SessionKeys::generate_ed25519_json()?,
    )?;
    eprintln!(
        "soak: binaries from {}, reports and logs in {}",
        bin_dir.display(),
        out_dir.display()
    );
    let clk_tck = procstat::clock_ticks_per_second()?;
    let machine = Machine::probe(&workspace, clk_tck);
    let started_utc = machine::utc_now();

    let (public, admin) = process::free_loopback_pair()?;
    let mut command = process::pinned(
        options.server_cpu,
        &tickforge,
        &options.server_args(public, admin, &data_dir, &session_key),
    );
    steps::without_tickforge_env(&mut command);
    let server_log = out_dir.join("server.log");
    command
        .stdout(process::log_file(&server_log)?)
        .stderr(process::log_file(&server_log.with_extension("err"))?);
    let mut server = Guarded::spawn(command, "tickforge")?;
    commands.server = server.command_line().to_string();
    steps::wait_healthy(public, &mut server, interrupt).with_context(|| {
        format!(
            "tickforge did not start: {}",
            process::tail(&server_log.with_extension("err"), 5)
        )
    })?;
    interrupt.sleep(Duration::from_secs(1))?;
    let start = Resources::of(server.pid());
    eprintln!(
        "soak: server idle at {} KiB RSS, {} descriptors",
        start.rss_kib.unwrap_or(0),
        start.fds.unwrap_or(0)
    );
    let watcher = Watcher::start(
        server.pid(),
        admin,
        Duration::from_secs_f64(options.sample_secs),
    )?;
    let run = Run {
        options,
        interrupt,
        swarm_bin,
        session_key,
        out_dir,
        public,
        admin,
        start_fds: start.fds,
    };
    let mut phases = Vec::new();
    let mut interrupted = false;
    for (name, abusers) in [("baseline", false), ("abuse", true)] {
        eprintln!(
            "soak: phase `{name}` ({} s{}) …",
            options.phase_secs,
            if abusers { ", with the abusers" } else { "" }
        );
        match run.phase(name, abusers, &mut server, &mut commands) {
            Ok(phase) => phases.push(phase),
            Err(e) if e.is::<Interrupted>() => {
                interrupted = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let readings = watcher.finish()?;
    server.stop()?;
    for phase in &mut phases {
        figures(phase, &readings, options);
    }
    let checks = report::checks(options, &start, &phases);
    Ok(SoakReport {
        tool: "soak",
        started_utc,
        finished_utc: machine::utc_now(),
        interrupted,
        machine,
        load_average_at_end: machine::load_average(),
        commands,
        options: options.clone(),
        start,
        phases,
        checks,
    })
}

impl Run<'_> {
    /// One phase: (abusers,) swarms to their end, abusers stopped, the
    /// server watched until it has settled.
    fn phase(
        &self,
        name: &'static str,
        with_abusers: bool,
        server: &mut Guarded,
        commands: &mut Commands,
    ) -> anyhow::Result<Phase> {
        let options = self.options;
        let before = watch::scrape(self.admin).context("scraping /metrics before the phase")?;
        let abusers = if with_abusers {
            let abusers = Abusers::start(AbuseOptions {
                target: self.public,
                slowloris: options.slowloris,
                slowloris_sources: options.slowloris_sources(),
                flood_rate: options.flood_rate,
                flood_hold: options.flood_hold,
                flood_source: options.flood_source(),
                cpu: Some(options.client_cpu),
            })?;
            self.interrupt.sleep(ABUSE_HEAD_START)?;
            Some(abusers)
        } else {
            None
        };
        let mut children = Vec::new();
        for (scenario, bots, hz) in swarms(options) {
            let json = self.out_dir.join(format!("{name}-{scenario}.json"));
            if json.exists() {
                std::fs::remove_file(&json)?;
            }
            let log = self.out_dir.join(format!("{name}-{scenario}.log"));
            let mut command = process::pinned(
                options.client_cpu,
                &self.swarm_bin,
                &self.swarm_args(scenario, bots, hz, &json),
            );
            steps::without_tickforge_env(&mut command);
            command
                .stdout(process::log_file(&log)?)
                .stderr(process::log_file(&log.with_extension("err"))?);
            children.push((scenario, bots, json, Guarded::spawn(command, scenario)?));
        }
        commands.swarms = children
            .iter()
            .map(|(_, _, _, c)| c.command_line().to_string())
            .collect();
        let ramp = Duration::from_secs_f64(f64::from(options.arena_bots) / f64::from(options.ramp));
        let deadline = Instant::now() + ramp + options.phase() + SWARM_SLACK;
        let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
        loop {
            for (status, (_, _, _, child)) in statuses.iter_mut().zip(children.iter_mut()) {
                if status.is_none() {
                    *status = child.try_wait()?;
                }
            }
            if statuses.iter().all(Option::is_some) || Instant::now() >= deadline {
                break;
            }
            if let Some(status) = server.try_wait()? {
                bail!("the server exited during phase `{name}` ({status})");
            }
            self.interrupt.check()?;
            std::thread::sleep(Duration::from_millis(100));
        }
        let left_at = Instant::now();
        let abuse = abusers.map(Abusers::finish).transpose()?;
        let mut figures = Vec::new();
        for ((scenario, bots, json, child), status) in children.into_iter().zip(statuses) {
            child.stop()?;
            let report = SwarmReport::read(&json).ok();
            figures.push(SwarmFigures::of(
                scenario,
                bots,
                status.and_then(|s| s.code()),
                report.as_ref(),
            ));
        }
        let after = self.settle(server.pid(), left_at)?;
        let scraped = watch::scrape(self.admin).context("scraping /metrics after the phase")?;
        eprintln!(
            "soak: phase `{name}` done; settled in {:.1} s: {:?}, {} descriptors",
            after.seconds,
            after.gauges.unwrap_or_default(),
            after.resources.fds.unwrap_or(0)
        );
        let mut figures = figures.into_iter();
        let (arena, churn, garbage) = (
            figures.next().unwrap_or_default(),
            figures.next().unwrap_or_default(),
            figures.next().unwrap_or_default(),
        );
        let window = SwarmReport::read(&self.out_dir.join(format!("{name}-arena.json")))
            .map(|r| r.timing.window())
            .unwrap_or_default();
        Ok(Phase {
            name,
            abusers: with_abusers,
            window,
            arena,
            churn,
            garbage,
            refusals: refusals(&before, &scraped),
            abuse,
            after,
            ..Phase::default()
        })
    }

    /// Waits until rooms, seats, sessions and connections are zero and
    /// the descriptors are back within the tolerance (or `--settle-secs`).
    fn settle(&self, pid: u32, since: Instant) -> anyhow::Result<Settled> {
        let limit = since + Duration::from_secs_f64(self.options.settle_secs);
        loop {
            let gauges = watch::scrape(self.admin).ok().map(|s| Gauges::of(&s));
            let resources = Resources::of(pid);
            let fds_back = self
                .start_fds
                .zip(resources.fds)
                .is_some_and(|(start, now)| now <= start + self.options.fd_tolerance);
            let settled = gauges.is_some_and(|g| g.all_zero()) && fds_back;
            if settled || Instant::now() >= limit {
                return Ok(Settled {
                    gauges,
                    resources,
                    seconds: since.elapsed().as_secs_f64(),
                    settled,
                });
            }
            self.interrupt.sleep(Duration::from_millis(250))?;
        }
    }

    fn swarm_args(&self, scenario: &str, bots: u32, hz: u32, json: &Path) -> Vec<String> {
        let millis = self.options.phase().as_millis();
        [
            "--url",
            &format!("ws://{}/ws", self.public),
            "--scenario",
            scenario,
            "--bots",
            &bots.to_string(),
            "--ramp",
            &self.options.ramp.to_string(),
            "--input-hz",
            &hz.to_string(),
            "--duration",
            &format!("{millis}ms"),
            "--mode",
            "arena",
            "--threads",
            "1",
            "--quiet",
            "--json",
            &json.display().to_string(),
            "--token-key-file",
            &self.session_key.display().to_string(),
        ]
        .into_iter()
        .map(String::from)
        .chain(
            (scenario == "arena")
                .then(|| ["--sample".to_string(), self.options.arena_sample.clone()])
                .into_iter()
                .flatten(),
        )
        .collect()
    }
}

/// Fills in the figures that come from the watcher's readings.
fn figures(phase: &mut Phase, readings: &[watch::Reading], options: &Options) {
    let (start, end) = phase.window;
    if end <= start {
        return;
    }
    let trim = (end - start) * TRIM_FRACTION;
    phase.tick_p99_ms = watch::tick_p99_ms(readings, start + trim, end - trim);
    let warm = start + options.warmup_secs;
    phase.rss_after_warmup_kib = watch::mean_rss(readings, warm, warm + options.rss_window_secs);
    phase.rss_end_kib = watch::mean_rss(readings, end - options.rss_window_secs, end);
    phase.rss_drift_pct = phase
        .rss_after_warmup_kib
        .zip(phase.rss_end_kib)
        .filter(|(w, _)| *w > 0.0)
        .map(|(w, e)| (e - w) / w * 100.0);
    phase.rss_peak_kib = watch::peak(readings, start, end, |r| r.resources.rss_kib);
    phase.fds_peak = watch::peak(readings, start, end, |r| r.resources.fds);
    let mut next = start;
    for r in readings.iter().filter(|r| r.at >= start && r.at <= end) {
        if let Some(kib) = r.resources.rss_kib
            && r.at >= next
        {
            phase.rss_series.push(((r.at - start).round(), kib));
            next = r.at + report::RSS_SERIES_STEP_SECS;
        }
    }
}

/// The change of every labelled refusal, timeout and disconnect counter
/// between two scrapes, as `metric{label}`, non-zero only.
pub fn refusals(before: &Scrape, after: &Scrape) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (metric, label) in REFUSAL_SERIES {
        let mut values: Vec<String> = after
            .samples
            .iter()
            .filter(|s| s.name == metric)
            .filter_map(|s| s.label(label).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        for value in values {
            let sum = |scrape: &Scrape| -> f64 {
                scrape
                    .samples
                    .iter()
                    .filter(|s| s.name == metric && s.label(label) == Some(value.as_str()))
                    .map(|s| s.value)
                    .sum()
            };
            let delta = sum(after) - sum(before);
            if delta != 0.0 {
                out.push((format!("{metric}{{{value}}}"), delta));
            }
        }
    }
    out
}

fn existing(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: build it (drop --no-build) or point --bin-dir at it",
        path.display()
    );
    Ok(path)
}

/// Fails unless the open-file limit covers every socket: the server and
/// the swarms inherit it, and this process holds the abusers' sockets.
fn check_fd_limit(options: &Options) -> anyhow::Result<()> {
    let honest = u64::from(options.arena_bots + options.churn_bots + options.garbage_bots);
    let abusers = u64::from(options.slowloris)
        + 2 * u64::from(options.flood_rate)
        + u64::from(options.flood_hold);
    let needed = honest + abusers + FD_HEADROOM;
    match procstat::open_files_soft_limit()? {
        Some(limit) if limit < needed => bail!(
            "the open-file limit is {limit}; the soak needs about {needed} \
             ({honest} bots, {abusers} abuser sockets, {FD_HEADROOM} more): run `ulimit -n 65536` first"
        ),
        _ => Ok(()),
    }
}

/// `cargo run --release -p tickforge-benches --bin soak -- <args>`.
fn harness_command_line() -> String {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut command = std::process::Command::new("cargo");
    command.args([
        "run",
        "--release",
        "-p",
        "tickforge-benches",
        "--bin",
        "soak",
    ]);
    if !args.is_empty() {
        command.arg("--").args(args);
    }
    process::command_line(&command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_changes_of_each_label_between_two_scrapes() {
        let parse = |t: &str| match Scrape::parse(t) {
            Ok(s) => s,
            Err(e) => panic!("{e:#}"),
        };
        let before = parse(
            "tickforge_connections_refused_total{reason=\"per_ip\"} 2\n\
             tickforge_connections_refused_total{reason=\"max_connections\"} 0\n\
             tickforge_http_timeouts_total{kind=\"header\"} 5\n",
        );
        let after = parse(
            "tickforge_connections_refused_total{reason=\"per_ip\"} 12\n\
             tickforge_connections_refused_total{reason=\"max_connections\"} 0\n\
             tickforge_http_timeouts_total{kind=\"header\"} 9\n\
             tickforge_disconnects_total{cause=\"bad_frame\"} 3\n",
        );
        assert_eq!(
            refusals(&before, &after),
            vec![
                (
                    "tickforge_connections_refused_total{per_ip}".to_string(),
                    10.0
                ),
                ("tickforge_http_timeouts_total{header}".to_string(), 4.0),
                ("tickforge_disconnects_total{bad_frame}".to_string(), 3.0),
            ]
        );
    }
}
