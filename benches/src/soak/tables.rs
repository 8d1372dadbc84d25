//! The soak's result as a Markdown section for `RESULTS.md`: the machine
//! and the commands, one column per phase, what the abusers met, and the
//! checks with their verdicts.

use std::fmt::Write;

use super::report::{Phase, SoakReport};

/// The whole section.
pub fn section(report: &SoakReport) -> String {
    let mut s = String::new();
    let m = &report.machine;
    let o = &report.options;
    let verdict = if report.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        s,
        "## Soak — {} UTC ({verdict}{})\n",
        report.started_utc,
        if report.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "{} ({} CPUs), {}, {}; git {}; load average {} at start, {} at end; finished {} UTC.\n",
        m.cpu_model,
        m.cpus,
        m.kernel,
        m.rustc,
        m.git,
        m.load_average_at_start,
        report.load_average_at_end,
        report.finished_utc
    );
    let _ = writeln!(
        s,
        "Two phases of {} s each, server pinned to CPU {}, swarms and abusers to CPU {}: \
         {} `arena` + {} `churn` bots at {} inputs/s and {} `garbage` bots at {} cycles/s, from 127.0.0.1; \
         in the abuse phase also a slowloris of {} sockets over {} addresses (127.0.0.3…) and a flood of \
         {} upgrades/s (holding ≤ {}) from 127.0.0.2. Per-IP limits: {} connections, {} handshakes/s (burst {}); \
         header timeout {} ms, handshake timeout {} ms. RSS drift: mean of {} s after a {} s warm-up vs the last {} s.\n",
        o.phase_secs,
        o.server_cpu,
        o.client_cpu,
        o.arena_bots,
        o.churn_bots,
        o.input_hz,
        o.garbage_bots,
        o.garbage_hz,
        o.slowloris,
        o.slowloris_addrs,
        o.flood_rate,
        o.flood_hold,
        o.max_connections_per_ip,
        o.handshakes_per_ip_per_s,
        o.handshake_burst,
        o.http_header_timeout_ms,
        o.handshake_timeout_ms,
        o.rss_window_secs,
        o.warmup_secs,
        o.rss_window_secs,
    );
    let _ = writeln!(s, "```sh\n{}\n```\n", report.commands.harness);
    let _ = writeln!(s, "Server: `{}`\n", report.commands.server);
    phase_table(&mut s, report);
    abuse_table(&mut s, &report.phases);
    refusal_table(&mut s, &report.phases);
    let _ = writeln!(s, "| check | verdict | figures |\n|---|---|---|");
    for c in &report.checks {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            c.name,
            if c.passed { "pass" } else { "**fail**" },
            c.detail
        );
    }
    s.push('\n');
    s
}

fn phase_table(s: &mut String, report: &SoakReport) {
    let phases = &report.phases;
    let _ = write!(s, "| | idle at start |");
    for p in phases {
        let _ = write!(s, " {} |", p.name);
    }
    let _ = write!(s, "\n|---|---|");
    for _ in phases {
        s.push_str("---|");
    }
    s.push('\n');
    let start = &report.start;
    let mut row = |label: &str, first: String, cell: &dyn Fn(&Phase) -> String| {
        let _ = write!(s, "| {label} | {first} |");
        for p in phases {
            let _ = write!(s, " {} |", cell(p));
        }
        s.push('\n');
    };
    let kib = |v: Option<f64>| v.map_or("–".into(), |k| format!("{:.1} MiB", k / 1024.0));
    row(
        "RSS after warm-up",
        kib(start.rss_kib.map(|k| k as f64)),
        &|p| kib(p.rss_after_warmup_kib),
    );
    row("RSS at the end", String::new(), &|p| kib(p.rss_end_kib));
    row("RSS drift", String::new(), &|p| {
        p.rss_drift_pct.map_or("–".into(), |d| format!("{d:+.2}%"))
    });
    row("RSS peak", String::new(), &|p| {
        kib(p.rss_peak_kib.map(|k| k as f64))
    });
    row("RSS after everyone left", String::new(), &|p| {
        kib(p.after.resources.rss_kib.map(|k| k as f64))
    });
    let n = |v: Option<u64>| v.map_or("–".into(), |v| v.to_string());
    row("descriptors (peak)", n(start.fds), &|p| n(p.fds_peak));
    row("descriptors after everyone left", n(start.fds), &|p| {
        n(p.after.resources.fds)
    });
    row(
        "rooms / seats / sessions / connections after",
        "0 / 0 / 0 / 0".into(),
        &|p| {
            p.after.gauges.map_or("–".into(), |g| {
                format!(
                    "{} / {} / {} / {} (in {:.1} s)",
                    g.rooms, g.seats, g.sessions, g.public_connections, p.after.seconds
                )
            })
        },
    );
    row("arena ack p50 / p99", String::new(), &|p| {
        format!(
            "{:.1} / {:.1} ms ({} samples)",
            p.arena.ack_p50_ms, p.arena.ack_p99_ms, p.arena.ack_count
        )
    });
    row("server tick p99", String::new(), &|p| {
        p.tick_p99_ms.map_or("–".into(), |t| format!("{:.3} ms", t))
    });
    row("arena States per bot per second", String::new(), &|p| {
        p.arena
            .states_per_bot_s
            .map_or("–".into(), |v| format!("{v:.1}"))
    });
    for (label, pick) in [
        ("arena errors / disconnects", 0usize),
        ("churn errors / disconnects", 1),
    ] {
        row(label, String::new(), &|p| {
            let f = if pick == 0 { &p.arena } else { &p.churn };
            let detail = [f.error_detail.as_str(), f.disconnect_detail.as_str()]
                .iter()
                .filter(|d| !d.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "{} / {}{}",
                f.errors,
                f.disconnects,
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            )
        });
    }
    row("garbage closes", String::new(), &|p| {
        p.garbage.disconnect_detail.clone()
    });
    s.push('\n');
}

fn abuse_table(s: &mut String, phases: &[Phase]) {
    for p in phases {
        let Some(a) = p.abuse else { continue };
        let _ = writeln!(
            s,
            "Abusers ({}): slowloris opened {} sockets, the server closed {} (longest open {} ms, {} connects failed); \
             flood attempted {} upgrades: {} × 503, {} closed unanswered, {} other statuses, {} upgraded \
             ({} of them later closed by the server), {} failed.\n",
            p.name,
            a.slowloris_opened,
            a.slowloris_closed,
            a.slowloris_longest_ms,
            a.slowloris_connect_failed,
            a.flood_attempts,
            a.flood_refused_503,
            a.flood_closed_unanswered,
            a.flood_other_status,
            a.flood_upgraded,
            a.flood_upgrades_closed,
            a.flood_failed,
        );
    }
}

fn refusal_table(s: &mut String, phases: &[Phase]) {
    let mut series: Vec<&str> = phases
        .iter()
        .flat_map(|p| p.refusals.iter().map(|(k, _)| k.as_str()))
        .collect();
    series.sort_unstable();
    series.dedup();
    if series.is_empty() {
        return;
    }
    let _ = write!(s, "| counted by the server |");
    for p in phases {
        let _ = write!(s, " {} |", p.name);
    }
    let _ = write!(s, "\n|---|");
    for _ in phases {
        s.push_str("---|");
    }
    s.push('\n');
    for name in series {
        let _ = write!(s, "| `{name}` |");
        for p in phases {
            // `+ 0.0` turns the empty sum's -0 into 0.
            let _ = write!(s, " {:.0} |", p.refused(name) + 0.0);
        }
        s.push('\n');
    }
    s.push('\n');
}
