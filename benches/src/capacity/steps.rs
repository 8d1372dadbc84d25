//! One step and the ladder of steps.
//!
//! A step: a fresh server pinned to the server CPU; `/healthz`; its idle
//! RSS; the swarm pinned to the swarm CPU for `--step-secs` after its ramp;
//! a [`Sampler`] reading `/proc` (and, for tickforge, `/metrics` on its
//! admin listener) the whole time; then the swarm's report gives the
//! window, and the readings inside it (less [`TRIM_FRACTION`] at each end,
//! where bots are still settling or already reading late) give CPU, RSS and
//! tick figures. The step is judged against the SLO ([`slo::judge`]).
//!
//! The ladder runs the steps of one kind in ascending order and stops after
//! the first that is not a pass, unless `--keep-going`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use tickforge_server::metrics::{TICK_DURATION, TICK_LATENESS, TICKS_OVER_BUDGET};

use super::cli::{Options, ServerAddrs, ServerKind};
use super::interrupt::Interrupt;
use super::machine;
use super::process::{self, Guarded};
use super::report::{Ack, Cpu, StepResult, Ticks};
use super::sampler::{Intervals, Sampler, Samples};
use super::slo::{self, Breach, Limits, Observed, Verdict};
use super::swarm_report::SwarmReport;

/// Fraction of the swarm's window left out at each end.
pub const TRIM_FRACTION: f64 = 0.1;
/// How long a server may take to answer `/healthz`.
const HEALTHY_WITHIN: Duration = Duration::from_secs(15);
/// Pause after `/healthz` before the idle RSS is read.
const SETTLE: Duration = Duration::from_millis(500);
/// Pause between steps (sockets close, the machine calms down).
const BETWEEN_STEPS: Duration = Duration::from_secs(1);
/// Beyond ramp + window: the swarm's own settle grace (30 s), its
/// shutdown grace (5 s), its pre-flight and slack.
const SWARM_SLACK: Duration = Duration::from_secs(60);

/// The programs a run uses.
#[derive(Debug, Clone)]
pub struct Bins {
    /// tickforge server.
    pub tickforge: PathBuf,
    /// Baseline server.
    pub baseline: PathBuf,
    /// tickforge-swarm.
    pub swarm: PathBuf,
    /// raw_writer.
    pub raw_writer: PathBuf,
}

impl Bins {
    /// The binaries in `dir`; fails naming the first one missing.
    pub fn in_dir(dir: &Path) -> anyhow::Result<Bins> {
        let bin = |name: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            anyhow::ensure!(
                path.is_file(),
                "{} is missing: build it (drop --no-build) or point --bin-dir at it",
                path.display()
            );
            Ok(path)
        };
        Ok(Bins {
            tickforge: bin("tickforge")?,
            baseline: bin("baseline")?,
            swarm: bin("tickforge-swarm")?,
            raw_writer: bin("raw_writer")?,
        })
    }

    /// The server binary of `kind`.
    pub fn server(&self, kind: ServerKind) -> &Path {
        match kind {
            ServerKind::Tickforge => &self.tickforge,
            ServerKind::Baseline => &self.baseline,
        }
    }
}

/// What every step needs.
#[derive(Debug)]
pub struct Harness<'a> {
    /// Flags.
    pub options: &'a Options,
    /// Programs.
    pub bins: Bins,
    /// Reports and logs.
    pub out_dir: PathBuf,
    /// The session key tickforge verifies and the swarm signs bot tokens
    /// with; `None`: `--identity trust-hello`.
    pub session_key: Option<PathBuf>,
    /// Clock ticks per second of `/proc` CPU times.
    pub clk_tck: u64,
    /// The SLO.
    pub limits: Limits,
    /// Ctrl-C.
    pub interrupt: Interrupt,
}

impl Harness<'_> {
    /// Runs the steps of `kind` in order, pushing each result to `results`
    /// as it completes; stops after the first step that is not a pass
    /// unless `--keep-going`. `after_step` runs after each step (the raw
    /// writer reference).
    pub fn run_kind(
        &self,
        kind: ServerKind,
        results: &mut Vec<StepResult>,
        mut after_step: impl FnMut(&StepResult) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for &bots in &self.options.steps {
            eprintln!("capacity: {} with {bots} bots …", kind.label());
            let step = self.run_step(kind, bots)?;
            eprintln!(
                "capacity: {} with {bots} bots: {}{}",
                kind.label(),
                step.verdict.label(),
                if step.breach_text.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", step.breach_text)
                }
            );
            let verdict = step.verdict;
            results.push(step);
            if let Some(step) = results.last() {
                after_step(step)?;
            }
            if verdict != Verdict::Pass && !self.options.keep_going {
                break;
            }
            self.interrupt.sleep(BETWEEN_STEPS)?;
        }
        Ok(())
    }

    /// One step (see the module docs). Failures of the server or the swarm
    /// become a [`Verdict::Failed`] step; Ctrl-C and harness errors are raised.
    pub fn run_step(&self, kind: ServerKind, bots: u32) -> anyhow::Result<StepResult> {
        let name = format!("{}-{bots}", kind.label());
        let server_log = self.out_dir.join(format!("{name}.server.log"));
        let swarm_log = self.out_dir.join(format!("{name}.swarm.log"));
        let swarm_json = self.out_dir.join(format!("{name}.swarm.json"));
        if swarm_json.exists() {
            std::fs::remove_file(&swarm_json)
                .with_context(|| format!("removing the old {}", swarm_json.display()))?;
        }

        let (addr, admin) = process::free_loopback_pair()?;
        let addrs = ServerAddrs {
            public: addr,
            admin,
        };
        let mut command = process::pinned(
            self.options.server_cpu,
            self.bins.server(kind),
            &kind.args(addrs, self.session_key.as_deref()),
        );
        without_tickforge_env(&mut command);
        command.envs(kind.env().iter().copied());
        command
            .stdout(process::log_file(&server_log)?)
            .stderr(process::log_file(&server_log.with_extension("err"))?);
        let mut server = Guarded::spawn(command, kind.label())?;
        let server_command = server.command_line().to_string();
        let failed =
            |why: String| failed_step(kind, bots, why, &server_command, &swarm_json, &self.limits);
        if let Err(e) = wait_healthy(addr, &mut server, &self.interrupt) {
            if e.is::<super::interrupt::Interrupted>() {
                return Err(e);
            }
            let log = process::tail(&server_log.with_extension("err"), 5);
            return Ok(failed(format!("{e:#}; log: {log}")));
        }
        self.interrupt.sleep(SETTLE)?;
        let idle_rss_kib = super::procstat::rss_kib(server.pid()).ok();

        let mut swarm_command = process::pinned(
            self.options.swarm_cpu,
            &self.bins.swarm,
            &self.swarm_args(addr, bots, &swarm_json),
        );
        without_tickforge_env(&mut swarm_command);
        swarm_command
            .stdout(process::log_file(&swarm_log)?)
            .stderr(process::log_file(&swarm_log.with_extension("err"))?);
        let mut swarm = Guarded::spawn(swarm_command, "tickforge-swarm")?;
        let sampler = Sampler::start(
            server.pid(),
            swarm.pid(),
            kind.metrics_addr(addrs),
            Intervals::for_window(self.options.step_duration()),
        )?;

        let limit = Duration::from_secs_f64(f64::from(bots) / f64::from(self.options.ramp))
            + self.options.step_duration()
            + SWARM_SLACK;
        let deadline = Instant::now() + limit;
        let mut server_exit = None;
        let swarm_exit = loop {
            if let Some(status) = swarm.try_wait()? {
                break Some(status);
            }
            if server_exit.is_none() {
                server_exit = server.try_wait()?;
            }
            self.interrupt.check()?;
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let samples = sampler.finish()?;
        if server_exit.is_none() {
            server_exit = server.try_wait()?;
        }
        let swarm_command = swarm.command_line().to_string();
        server.stop()?;
        swarm.stop()?;

        if let Some(status) = server_exit {
            return Ok(failed(format!(
                "the server exited during the step ({status}): {}",
                process::tail(&server_log.with_extension("err"), 5)
            )));
        }
        match swarm_exit {
            None => return Ok(failed(format!("the swarm did not finish within {limit:?}"))),
            // 0: ok; 1: an --slo check failed (none are passed); 2: unusable.
            Some(status) if !matches!(status.code(), Some(0 | 1)) => {
                return Ok(failed(format!(
                    "the swarm exited with {status}: {}",
                    process::tail(&swarm_log.with_extension("err"), 5)
                )));
            }
            Some(_) => {}
        }
        let report = match SwarmReport::read(&swarm_json) {
            Ok(r) => r,
            Err(e) => return Ok(failed(format!("{e:#}"))),
        };
        let mut step = measure(
            kind,
            bots,
            &report,
            &samples,
            idle_rss_kib,
            Placement {
                clk_tck: self.clk_tck,
                server_cpu: self.options.server_cpu,
                swarm_cpu: self.options.swarm_cpu,
            },
            &self.limits,
        );
        step.server_command = server_command;
        step.swarm_command = swarm_command;
        step.swarm_report = swarm_json;
        if report.timing.interrupted {
            self.interrupt.check()?;
        }
        if kind.has_tick_metrics() && step.ticks.is_none() {
            step.breach_text.push_str(&format!(
                "{}no tick figures ({} scrapes failed{})",
                if step.breach_text.is_empty() {
                    ""
                } else {
                    "; "
                },
                samples.metrics_failures,
                samples
                    .first_metrics_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        Ok(step)
    }

    fn swarm_args(&self, addr: SocketAddr, bots: u32, json: &Path) -> Vec<String> {
        let millis = self.options.step_duration().as_millis();
        let mut args = vec![
            "--url".into(),
            format!("ws://{addr}/ws"),
            "--bots".into(),
            bots.to_string(),
            "--ramp".into(),
            self.options.ramp.to_string(),
            "--duration".into(),
            if millis.is_multiple_of(1000) {
                format!("{}s", millis / 1000)
            } else {
                format!("{millis}ms")
            },
            "--input-hz".into(),
            self.options.input_hz.to_string(),
            "--mode".into(),
            "arena".into(),
            "--threads".into(),
            "1".into(),
            "--quiet".into(),
            "--json".into(),
            json.display().to_string(),
        ];
        if let Some(key) = &self.session_key {
            args.push("--token-key-file".into());
            args.push(key.display().to_string());
        }
        args
    }
}

/// Children get no `TICKFORGE_*` variables from the harness's environment:
/// their settings are the command line's and nothing else.
pub fn without_tickforge_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TICKFORGE_") {
            command.env_remove(key);
        }
    }
}

/// Polls `/healthz` until it answers `ok`, the server exits, or
/// [`HEALTHY_WITHIN`] passes.
pub fn wait_healthy(
    addr: SocketAddr,
    server: &mut Guarded,
    interrupt: &Interrupt,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + HEALTHY_WITHIN;
    let mut last_error = None;
    while Instant::now() < deadline {
        interrupt.check()?;
        if let Some(status) = server.try_wait()? {
            anyhow::bail!("the server exited at start ({status})");
        }
        match super::http::get(addr, "/healthz", Duration::from_millis(500)) {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => last_error = Some(format!("answered {body:?}")),
            Err(e) => last_error = Some(format!("{e:#}")),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!(
        "no `ok` from http://{addr}/healthz within {HEALTHY_WITHIN:?} (last: {})",
        last_error.unwrap_or_default()
    )
}

/// A step that could not be measured.
fn failed_step(
    kind: ServerKind,
    bots: u32,
    why: String,
    server_command: &str,
    swarm_json: &Path,
    limits: &Limits,
) -> StepResult {
    let breaches = vec![Breach::Failed { why }];
    StepResult {
        kind,
        bots,
        verdict: Verdict::of(&breaches),
        breach_text: describe(&breaches, limits),
        breaches,
        cpu: None,
        server_us_per_bot_s: None,
        server_core_us_per_bot_s: None,
        idle_rss_kib: None,
        rss_kib: None,
        rss_per_bot_kib: None,
        deliveries_per_s: None,
        states_per_bot_s: None,
        deliveries_per_cpu_s: None,
        deliveries_per_core_s: None,
        frame_bytes: None,
        ack: None,
        errors: 0,
        error_detail: String::new(),
        disconnects: 0,
        disconnect_detail: String::new(),
        ticks: None,
        load_average: machine::load_average(),
        server_command: server_command.to_string(),
        swarm_command: String::new(),
        swarm_report: swarm_json.to_path_buf(),
    }
}

fn describe(breaches: &[Breach], limits: &Limits) -> String {
    breaches
        .iter()
        .map(|b| b.describe(limits))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Per-second rate of a counter between two readings, in % of one core.
fn pct(ticks_before: u64, ticks_after: u64, clk_tck: u64, seconds: f64) -> f64 {
    ticks_after.saturating_sub(ticks_before) as f64 / clk_tck as f64 / seconds * 100.0
}

/// Where the server and the swarm ran, and how `/proc` counts time.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// Clock ticks per second.
    pub clk_tck: u64,
    /// The server's CPU.
    pub server_cpu: usize,
    /// The swarm's CPU.
    pub swarm_cpu: usize,
}

/// The figures of a step from the swarm's report and the samples.
pub fn measure(
    kind: ServerKind,
    bots: u32,
    report: &SwarmReport,
    samples: &Samples,
    idle_rss_kib: Option<u64>,
    placement: Placement,
    limits: &Limits,
) -> StepResult {
    let (start, end) = report.timing.window();
    let trim = (end - start) * TRIM_FRACTION;
    let (from, to) = (start + trim, end - trim);

    let both =
        |r: &super::sampler::ProcReading| r.server_ticks.is_some() && r.swarm_ticks.is_some();
    let span = samples
        .proc_span(from, to, both)
        .or_else(|| samples.proc_span(start, end, both));
    let clk_tck = placement.clk_tck;
    let cpu = span.and_then(|s| {
        let seconds = s.last.at - s.first.at;
        let server = (s.first.server_ticks?, s.last.server_ticks?);
        let swarm = (s.first.swarm_ticks?, s.last.swarm_ticks?);
        let machine = s.first.machine.as_ref().zip(s.last.machine.as_ref());
        let rate = |a: u64, b: u64| pct(a, b, clk_tck, seconds);
        // Busy = wall time − (idle + iowait + steal), in % of the core.
        let core = |cpu: usize| {
            machine.and_then(|(a, b)| {
                let not_busy = rate(a.core_not_busy(cpu)?, b.core_not_busy(cpu)?);
                Some((100.0 - not_busy).clamp(0.0, 100.0))
            })
        };
        Some(Cpu {
            seconds,
            server_pct: rate(server.0, server.1),
            swarm_pct: rate(swarm.0, swarm.1),
            server_core_pct: core(placement.server_cpu),
            swarm_core_pct: core(placement.swarm_cpu),
            interrupts_pct: machine.map(|(a, b)| rate(a.interrupts, b.interrupts)),
            steal_pct: machine.map(|(a, b)| rate(a.steal, b.steal)),
        })
    });
    let rss_kib = span.and_then(|s| s.last.server_rss_kib);
    let rss_per_bot_kib = rss_kib
        .zip(idle_rss_kib)
        .map(|(rss, idle)| (rss as f64 - idle as f64) / f64::from(bots));

    let window = &report.messages.window;
    let deliveries_per_s = (window.seconds > 0.0).then(|| window.states_in as f64 / window.seconds);
    let states_per_bot_s = deliveries_per_s.map(|d| d / f64::from(bots));
    let frame_bytes =
        (window.messages_in > 0).then(|| window.bytes_in as f64 / window.messages_in as f64);
    let per_bot = |pct: f64| pct / 100.0 * 1e6 / f64::from(bots);
    let per_busy_second = |pct: f64| {
        deliveries_per_s
            .filter(|_| pct > 0.0)
            .map(|d| d / (pct / 100.0))
    };
    let server_us_per_bot_s = cpu.map(|c| per_bot(c.server_pct));
    let server_core_us_per_bot_s = cpu.and_then(|c| c.server_core_pct).map(per_bot);
    let deliveries_per_cpu_s = cpu.and_then(|c| per_busy_second(c.server_pct));
    let deliveries_per_core_s = cpu
        .and_then(|c| c.server_core_pct)
        .and_then(per_busy_second);

    let ticks = if kind.has_tick_metrics() {
        samples
            .metrics_span(from, to)
            .or_else(|| samples.metrics_span(start, end))
            .and_then(|s| {
                let duration = s
                    .last
                    .scrape
                    .buckets(TICK_DURATION)
                    .and_then(|b| b.since(&s.first.scrape.buckets(TICK_DURATION)?))
                    .ok()?;
                let lateness = s
                    .last
                    .scrape
                    .buckets(TICK_LATENESS)
                    .and_then(|b| b.since(&s.first.scrape.buckets(TICK_LATENESS)?))
                    .ok();
                Some(Ticks {
                    seconds: s.last.at - s.first.at,
                    ticks: duration.total(),
                    p99_ms: duration.quantile(0.99).map(|s| s * 1000.0),
                    lateness_p99_ms: lateness.and_then(|l| l.quantile(0.99)).map(|s| s * 1000.0),
                    over_budget: s.last.scrape.sum(TICKS_OVER_BUDGET)
                        - s.first.scrape.sum(TICKS_OVER_BUDGET),
                })
            })
    } else {
        None
    };

    let ack = &report.latency.ack;
    let observed = Observed {
        tick_p99_ms: ticks.and_then(|t| t.p99_ms),
        ack_samples: ack.count,
        ack_p99_ms: ack.p99_ms,
        errors: report.errors.total,
        disconnects: report.disconnects.total,
        states_per_bot_s,
        swarm_cpu_pct: cpu.map(|c| c.swarm_pct),
    };
    let mut breaches = slo::judge(limits, &observed);
    if report.bots.started != bots {
        breaches.push(Breach::Failed {
            why: format!("the swarm started {} bots, not {bots}", report.bots.started),
        });
    }
    StepResult {
        kind,
        bots,
        verdict: Verdict::of(&breaches),
        breach_text: describe(&breaches, limits),
        breaches,
        cpu,
        server_us_per_bot_s,
        server_core_us_per_bot_s,
        idle_rss_kib,
        rss_kib,
        rss_per_bot_kib,
        deliveries_per_s,
        states_per_bot_s,
        deliveries_per_cpu_s,
        deliveries_per_core_s,
        frame_bytes,
        ack: (ack.count > 0).then_some(Ack {
            measuring_bots: report.bots.measuring,
            count: ack.count,
            p50_ms: ack.p50_ms,
            p99_ms: ack.p99_ms,
            p999_ms: ack.p999_ms,
            max_ms: ack.max_ms,
        }),
        errors: report.errors.total,
        error_detail: report.error_summary(),
        disconnects: report.disconnects.total,
        disconnect_detail: report.disconnect_summary(),
        ticks,
        load_average: machine::load_average(),
        server_command: String::new(),
        swarm_command: String::new(),
        swarm_report: PathBuf::new(),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::capacity::procstat::MachineCpu;
    use crate::capacity::sampler::ProcReading;

    /// A swarm report whose 10 s window starts 2 s after `t0`.
    fn report(t0: f64, bots: u32) -> SwarmReport {
        let json = format!(
            r#"{{"timing": {{"started_at_unix_ms": {}, "ramp_secs": 2.0, "measured_secs": 10.0, "interrupted": false}},
                "bots": {{"started": {bots}, "measuring": 10}},
                "latency": {{"ack": {{"count": 1000, "p50_ms": 20.0, "p99_ms": 34.0, "p999_ms": 35.0, "max_ms": 36.0}}}},
                "messages": {{"window": {{"seconds": 10.0, "messages_in": {}, "bytes_in": {}, "states_in": {}}}}},
                "errors": {{"total": 0, "by_kind": {{}}}},
                "disconnects": {{"total": 0, "by_reason": []}}}}"#,
            (t0 * 1000.0) as u64,
            bots * 300,
            u64::from(bots) * 300 * 1150,
            bots * 300,
        );
        match serde_json::from_str(&json) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Readings every second for 15 s: the server uses 50% of a core, the
    /// swarm 20%, the server's core is 70% busy and RSS grows 10 KiB a second.
    fn samples(t0: f64) -> Samples {
        Samples {
            proc: (0..15u64)
                .map(|i| ProcReading {
                    at: t0 + i as f64,
                    server_ticks: Some(1000 + i * 50),
                    swarm_ticks: Some(i * 20),
                    server_rss_kib: Some(20_000 + i * 10),
                    machine: Some(MachineCpu {
                        tasks: i * 90,
                        interrupts: i * 10,
                        steal: 0,
                        cores: vec![(0, i * 30), (1, i * 70)],
                    }),
                })
                .collect(),
            ..Samples::default()
        }
    }

    #[test]
    fn cpu_rss_and_rates_come_from_the_readings_inside_the_trimmed_window() {
        let t0 = 1_800_000_000.0;
        let placement = Placement {
            clk_tck: 100,
            server_cpu: 0,
            swarm_cpu: 1,
        };
        let step = measure(
            ServerKind::Baseline,
            1000,
            &report(t0, 1000),
            &samples(t0),
            Some(10_000),
            placement,
            &Limits::default(),
        );
        let cpu = step.cpu.expect("cpu figures");
        // Window [t0+2, t0+12] less 1 s each end: readings at t0+3 … t0+11.
        assert!((cpu.seconds - 8.0).abs() < 1e-9, "{cpu:?}");
        assert!((cpu.server_pct - 50.0).abs() < 1e-9);
        assert!((cpu.swarm_pct - 20.0).abs() < 1e-9);
        assert_eq!(cpu.server_core_pct.map(f64::round), Some(70.0));
        assert_eq!(cpu.swarm_core_pct.map(f64::round), Some(30.0));
        // RSS at t0+11 = 20,110 KiB; minus 10,000 idle over 1000 bots.
        assert_eq!(step.rss_kib, Some(20_110));
        assert!((step.rss_per_bot_kib.unwrap_or(0.0) - 10.11).abs() < 1e-9);
        assert!((step.server_us_per_bot_s.unwrap_or(0.0) - 500.0).abs() < 1e-6);
        assert!((step.states_per_bot_s.unwrap_or(0.0) - 30.0).abs() < 1e-9);
        assert!((step.frame_bytes.unwrap_or(0.0) - 1150.0).abs() < 1e-9);
        assert_eq!(step.verdict, Verdict::Pass, "{}", step.breach_text);
        assert!(step.ticks.is_none());
    }
}
