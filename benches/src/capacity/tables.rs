//! The report as Markdown: a dated section with the machine and the exact
//! commands, one table per kind, the raw-writer table, the tickforge vs
//! baseline ratios and the targets. The same text is printed at the end of
//! a run and appended to `--results`.

use super::cli::ServerKind;
use super::report::{CapacityReport, StepResult};
use super::summary::{self, Comparison};

/// The whole section.
pub fn section(report: &CapacityReport) -> String {
    let mut out = String::new();
    let r = report;
    let m = &r.machine;
    let s = &r.settings;
    let date = r.started_utc.split(' ').next().unwrap_or_default();
    line(
        &mut out,
        &format!("## Capacity: one server core, tickforge vs baseline ({date})"),
    );
    line(&mut out, "");
    line(
        &mut out,
        "Written by the capacity harness (`benches/src/bin/capacity.rs`). Each step starts a fresh \
         server pinned to one core and a `tickforge-swarm` pinned to the other, and measures the \
         swarm's window only; the raw writer is the loopback write limit of the same core.",
    );
    line(&mut out, "");
    let time = |t: &str| t.split(' ').nth(1).unwrap_or_default().to_string();
    line(
        &mut out,
        &format!(
            "- Date: {date}, {}–{} UTC{}.",
            time(&r.started_utc),
            time(&r.finished_utc),
            if r.interrupted {
                " (interrupted: partial results)"
            } else {
                ""
            }
        ),
    );
    line(
        &mut out,
        &format!(
            "- Machine: `{}`, {} CPUs, {}, kernel {}; CLK_TCK {}; load average at start {}.",
            m.cpu_model, m.cpus, m.os, m.kernel, m.clk_tck, m.load_average_at_start
        ),
    );
    line(&mut out, &format!("- Code: {}; {}.", m.git, m.rustc));
    line(
        &mut out,
        &format!(
            "- Set-up: server on CPU {}, swarm on CPU {} (`taskset`); rooms of {} (mode `arena`) at {} Hz; \
             {} inputs/s per bot; ramp {} bots/s; {} s measured per step. Process CPU (utime+stime \
             from `/proc/<pid>/stat`, all threads), core busy time (wall time − idle − iowait − steal \
             of that core in `/proc/stat`; the tick-sampled user/system fields miss bursty work) and \
             RSS (`VmRSS`) are read every 250 ms. On loopback the receiving socket's TCP work runs as \
             softirq on the **sending** core: the server's core also does the bots' receive \
             processing (charged to the server process when it runs in its context, to ksoftirqd \
             otherwise; core busy counts both). The figures use \
             the readings inside the swarm's window less {:.0}% at each end; RSS per connection is \
             (RSS at the end of that span − the server's RSS before the swarm started) ÷ bots. Tick \
             figures come from the delta of two `/metrics` scrapes in the same span. Identity: {}.",
            s.server_cpu,
            s.swarm_cpu,
            s.room_capacity,
            s.tick_hz,
            s.input_hz,
            s.ramp,
            s.step_secs,
            s.trim_fraction * 100.0,
            match s.identity {
                super::cli::Identity::Session =>
                    "every bot signs an Ed25519 session token, tickforge verifies it at Hello (`--identity session`)",
                super::cli::Identity::TrustHello =>
                    "no tokens, tickforge believes Hello (`--identity trust-hello`)",
            }
        ),
    );
    line(
        &mut out,
        &format!("- SLO per step: {}.", r.limits.describe()),
    );
    line(
        &mut out,
        if s.keep_going {
            "- Every step was run (`--keep-going`)."
        } else {
            "- A kind stops at its first step that is not a pass; that step is listed."
        },
    );
    line(&mut out, "- Commands:");
    line(&mut out, "");
    line(&mut out, "  ```sh");
    line(&mut out, &format!("  {}", r.commands.harness));
    line(&mut out, "  ```");
    line(&mut out, "");
    line(
        &mut out,
        "  which ran (first step of each; later steps differ in bot count, port and file names):",
    );
    line(&mut out, "");
    line(&mut out, "  ```sh");
    if let Some(build) = &r.commands.build {
        line(&mut out, &format!("  {build}"));
    }
    for (_, server) in &r.commands.servers {
        line(&mut out, &format!("  {server}"));
    }
    if let Some(swarm) = &r.commands.swarm {
        line(&mut out, &format!("  {swarm}"));
    }
    if let Some(raw) = &r.commands.raw_writer {
        line(&mut out, &format!("  {raw}"));
    }
    line(&mut out, "  ```");
    line(&mut out, "");

    for kind in r.maxima_kinds() {
        kind_table(&mut out, r, kind);
    }
    raw_table(&mut out, r);
    ratio_table(&mut out, r);
    targets_table(&mut out, r);
    out
}

impl CapacityReport {
    /// Kinds in the order they ran.
    fn maxima_kinds(&self) -> Vec<ServerKind> {
        self.summary.maxima.iter().map(|m| m.kind).collect()
    }
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// Columns of a kind's table (one per field of [`step_row`]).
const KIND_HEADER: &str = "| bots | server CPU % | server core busy % | swarm CPU % | swarm core busy % | server µs per bot·s | server RSS MiB | RSS per conn KiB | States/s | States per bot·s | ack p50 ms | ack p99 ms | ack p99.9 ms | tick p99 ms | ticks over budget | verdict |";
/// Alignment row of a kind's table.
const KIND_ALIGN: &str =
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|";

fn kind_table(out: &mut String, r: &CapacityReport, kind: ServerKind) {
    line(out, &format!("### {}", kind.label()));
    line(out, "");
    line(out, KIND_HEADER);
    line(out, KIND_ALIGN);
    for s in r.steps_of(kind) {
        line(out, &step_row(s));
    }
    line(out, "");
    if let Some(max) = r.summary.maxima.iter().find(|m| m.kind == kind) {
        line(out, &format!("Maximum at SLO: **{}**.", max.describe()));
        if let Some(because) = &max.stopped_because {
            line(out, &format!("First step not passed: {because}."));
        }
    }
    if !kind.has_tick_metrics() {
        line(
            out,
            "The baseline exports no tick metric: its tick-work SLO is not checked (n/a); only the \
             swarm-side limits apply to it.",
        );
    }
    let failures: Vec<String> = r
        .steps_of(kind)
        .filter(|s| s.errors > 0 || s.disconnects > 0)
        .map(|s| {
            format!(
                "{} bots: errors [{}], disconnects [{}]",
                s.bots, s.error_detail, s.disconnect_detail
            )
        })
        .collect();
    if !failures.is_empty() {
        line(
            out,
            &format!("Errors and disconnects: {}.", failures.join("; ")),
        );
    }
    line(out, "");
}

fn step_row(s: &StepResult) -> String {
    let cpu = s.cpu;
    let ack = s.ack;
    let tick = match (s.kind.has_tick_metrics(), s.ticks) {
        (false, _) => "n/a".to_string(),
        (true, Some(t)) => opt(t.p99_ms, 3),
        (true, None) => "–".to_string(),
    };
    let over = match (s.kind.has_tick_metrics(), s.ticks) {
        (false, _) => "n/a".to_string(),
        (true, Some(t)) => thousands(t.over_budget),
        (true, None) => "–".to_string(),
    };
    let verdict = if s.breach_text.is_empty() {
        s.verdict.label().to_string()
    } else {
        format!("{}: {}", s.verdict.label(), s.breach_text)
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.bots,
        opt(cpu.map(|c| c.server_pct), 1),
        opt(cpu.and_then(|c| c.server_core_pct), 1),
        opt(cpu.map(|c| c.swarm_pct), 1),
        opt(cpu.and_then(|c| c.swarm_core_pct), 1),
        opt(s.server_us_per_bot_s, 1),
        opt(s.rss_kib.map(|k| k as f64 / 1024.0), 1),
        opt(s.rss_per_bot_kib, 2),
        s.deliveries_per_s.map_or_else(|| "–".into(), thousands),
        opt(s.states_per_bot_s, 2),
        opt(ack.map(|a| a.p50_ms), 1),
        opt(ack.map(|a| a.p99_ms), 1),
        opt(ack.map(|a| a.p999_ms), 1),
        tick,
        over,
        verdict.replace('|', "/"),
    )
}

fn raw_table(out: &mut String, r: &CapacityReport) {
    if r.raw.is_empty() {
        line(out, "Raw writer: not run (`--no-raw`).");
        line(out, "");
        return;
    }
    line(out, "### Raw loopback writes (the limit)");
    line(out, "");
    line(
        out,
        "`raw_writer`: one thread on the server's core writing frames of the step's State size \
         round-robin to as many loopback sockets as the step had bots, reader on the swarm's core. A \
         bot at 30 Hz costs the server one such write per tick, so `raw ÷ 30` is the bot count at \
         which plain writes alone would fill the core. \"÷ raw\" is the step's State deliveries per \
         second over raw writes per second; \"per core-s ÷ raw\" first divides the deliveries by \
         the busy fraction of the server's core: deliveries per second of a fully busy core if the \
         cost stayed linear, the fair comparison below the server's limit. Like the server, the \
         raw writer's core also runs the loopback receive processing of what it writes.",
    );
    line(out, "");
    line(
        out,
        "| bots | frame B | raw writes/s | raw ÷ 30 | tickforge States/s | tickforge ÷ raw | tickforge per core-s ÷ raw | baseline States/s | baseline ÷ raw | baseline per core-s ÷ raw |",
    );
    line(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for raw in &r.raw {
        let step = |kind: ServerKind| r.steps_of(kind).find(|s| s.bots == raw.connections);
        let of = |kind: ServerKind| step(kind).and_then(|s| s.deliveries_per_s);
        let per_core = |kind: ServerKind| step(kind).and_then(|s| s.deliveries_per_core_s);
        let fraction = |d: Option<f64>| {
            d.zip(raw.writes_per_s)
                .map_or_else(|| "–".into(), |(d, w)| format!("{:.1}%", d / w * 100.0))
        };
        let writes = match (raw.writes_per_s, &raw.error) {
            (Some(w), _) => thousands(w),
            (None, Some(e)) => format!("failed: {}", e.replace('|', "/")),
            (None, None) => "–".into(),
        };
        let (t, b) = (of(ServerKind::Tickforge), of(ServerKind::Baseline));
        line(
            out,
            &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                raw.connections,
                raw.frame_bytes,
                writes,
                raw.writes_per_s
                    .map_or_else(|| "–".into(), |w| thousands(w / 30.0)),
                t.map_or_else(|| "–".into(), thousands),
                fraction(t),
                fraction(per_core(ServerKind::Tickforge)),
                b.map_or_else(|| "–".into(), thousands),
                fraction(b),
                fraction(per_core(ServerKind::Baseline)),
            ),
        );
    }
    line(out, "");
}

fn ratio_table(out: &mut String, r: &CapacityReport) {
    let s = &r.summary;
    let max_of = |k: ServerKind| s.maxima.iter().find(|m| m.kind == k);
    let (Some(t), Some(b)) = (max_of(ServerKind::Tickforge), max_of(ServerKind::Baseline)) else {
        return;
    };
    line(out, "### tickforge vs baseline");
    line(out, "");
    line(out, "| | tickforge | baseline | tickforge ÷ baseline |");
    line(out, "|---|---:|---:|---:|");
    let est = |m: &summary::KindMax| {
        let value = m
            .best_estimate()
            .map_or_else(|| "< first step".into(), |b| b.to_string());
        if m.swarm_limited && m.projection.is_some() {
            format!("{value} (projection)")
        } else if m.stopped_at.is_none() {
            format!("≥ {value}")
        } else {
            value
        }
    };
    line(
        out,
        &format!(
            "| max bots at SLO | {} | {} | {} |",
            est(t),
            est(b),
            s.max_ratio
                .map_or_else(|| "–".into(), |x| format!("{x:.2}×"))
        ),
    );
    let row = |out: &mut String, label: &str, c: Option<Comparison>, digits: usize| {
        let Some(c) = c else { return };
        line(
            out,
            &format!(
                "| {} | {} | {} | {} |",
                label.replace("{bots}", &c.bots.to_string()),
                opt(c.tickforge, digits),
                opt(c.baseline, digits),
                c.ratio().map_or_else(|| "–".into(), |x| format!("{x:.2}×"))
            ),
        );
    };
    row(
        out,
        "State deliveries per server process CPU-second at {bots} bots (higher is better)",
        s.deliveries_per_cpu_s,
        0,
    );
    row(
        out,
        "State deliveries per busy second of the server's core at {bots} bots (higher is better)",
        s.deliveries_per_core_s,
        0,
    );
    row(
        out,
        "server RSS per connection at {bots} bots, KiB (lower is better)",
        s.rss_per_bot_kib,
        2,
    );
    if s.common_step.is_none() {
        line(out, "| (no bot count passed by both) | | | |");
    }
    line(out, "");
    line(
        out,
        "The maximum is the largest step that passed; the true limit lies between it and the next \
         step. \"Projection\" marks a maximum extrapolated from server CPU per bot because the swarm's \
         core, not the server, ran out first.",
    );
    line(out, "");
}

fn targets_table(out: &mut String, r: &CapacityReport) {
    line(out, "### Targets");
    line(out, "");
    line(out, "| target | measured | reached |");
    line(out, "|---|---|---|");
    for t in &r.summary.targets {
        line(
            out,
            &format!(
                "| {} | {} | {} |",
                t.wanted,
                t.measured.replace('|', "/"),
                match t.reached {
                    Some(true) => "**yes**",
                    Some(false) => "**no**",
                    None => "not measured",
                }
            ),
        );
    }
    line(out, "");
}

/// A number with `digits` decimals, or `–`.
fn opt(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if digits == 0 => thousands(v),
        Some(v) => format!("{v:.digits$}"),
        None => "–".into(),
    }
}

/// A rounded number with thousands separators: `59,993`.
pub fn thousands(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{}", rounded.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_row_has_as_many_columns_as_the_header() {
        use crate::capacity::report::test_step;
        use crate::capacity::slo::Verdict;
        let columns = |s: &str| s.matches('|').count();
        assert_eq!(columns(KIND_HEADER), columns(KIND_ALIGN));
        for kind in [ServerKind::Tickforge, ServerKind::Baseline] {
            let row = step_row(&test_step(kind, 500, Verdict::Breach, 400.0));
            assert_eq!(columns(&row), columns(KIND_HEADER), "{row}");
        }
    }

    #[test]
    fn thousands_are_separated_with_commas() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(59_993.2), "59,993");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(-1500.0), "-1,500");
    }
}
