//! The final table printed on stdout: settings, latency percentiles,
//! window traffic, errors, disconnects, garbage outcomes, SLO verdicts.

use std::fmt;

use tickforge_protocol::client::{RATE_LIMIT_CODE, RATE_LIMIT_REASONS};

use crate::report::Report;

impl Report {
    /// The final table for stdout.
    pub fn table(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let t = &self.timing;
        writeln!(
            out,
            "tickforge-swarm {}: {} scenario, {} bots ({} measuring), mode {}, {} inputs/s per bot",
            self.version, c.scenario, c.bots, c.measuring_bots, c.mode, c.input_hz
        )?;
        writeln!(
            out,
            "{} · seed {} · {} thread(s) · ramp {:.2} s · measured {:.2} s{} · total {:.2} s",
            c.url,
            c.seed,
            c.threads,
            t.ramp_secs,
            t.measured_secs,
            if t.interrupted { " (interrupted)" } else { "" },
            t.total_secs
        )?;
        writeln!(
            out,
            "(the measured window starts once every bot has joined)"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<18}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        )?;
        for (name, s) in [
            ("input -> ack", &self.latency.ack),
            ("state jitter", &self.latency.jitter),
            ("connect", &self.latency.connect),
            ("join", &self.latency.join),
        ] {
            writeln!(
                out,
                "  {:<16}{:>9}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                name, s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.p9999_ms, s.max_ms
            )?;
        }
        writeln!(out)?;
        let w = &self.messages.window;
        writeln!(out, "traffic in the window ({:.2} s)", w.seconds)?;
        writeln!(
            out,
            "  in   {:>12} msgs ({:>10.0}/s) {:>10}   states {} ({:.1}/s per bot)   {}/s per bot",
            thousands(w.messages_in),
            w.messages_in_per_sec,
            bytes(w.bytes_in),
            thousands(w.states_in),
            w.states_in as f64 / w.seconds.max(1e-9) / f64::from(c.bots.max(1)),
            bytes(w.bytes_in_per_bot_per_sec as u64),
        )?;
        writeln!(
            out,
            "  out  {:>12} msgs ({:>10.0}/s) {:>10}   inputs {}",
            thousands(w.messages_out),
            w.messages_out_per_sec,
            bytes(w.bytes_out),
            thousands(w.inputs_sent),
        )?;
        writeln!(
            out,
            "sessions opened {}, joins {}, inputs never acked {}",
            self.bots.sessions_opened, self.bots.joins, self.bots.inputs_unacked
        )?;
        let r = &self.resume;
        if r.drops > 0 || r.resumes > 0 || r.failed > 0 {
            writeln!(
                out,
                "resumes         {} ({} provoked drops), {} failed; gap p50 {} / p99 {} / max {} ticks",
                r.resumes, r.drops, r.failed, r.gap_ticks.p50, r.gap_ticks.p99, r.gap_ticks.max
            )?;
        }
        if r.redirects_followed > 0 {
            writeln!(
                out,
                "redirects       {} followed to another node",
                r.redirects_followed
            )?;
        }
        let errors: Vec<String> = self
            .errors
            .by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(out, "errors          {}", none_or(&errors))?;
        let closes: Vec<String> = self
            .disconnects
            .by_reason
            .iter()
            .map(|c| format!("{} {} x{}", c.code, c.reason, c.count))
            .collect();
        writeln!(out, "disconnects     {}", none_or(&closes))?;
        let rate_limited: u64 = self
            .disconnects
            .by_reason
            .iter()
            .filter(|c| {
                c.code == RATE_LIMIT_CODE && RATE_LIMIT_REASONS.contains(&c.reason.as_str())
            })
            .map(|c| c.count)
            .sum();
        if rate_limited > 0 {
            writeln!(
                out,
                "rate limited    {rate_limited} sessions closed by the server's per-session rate \
                 limits (1008): lower --input-hz, or raise the server's --frames-per-second / \
                 --pings-per-second / --joins-per-second"
            )?;
        }
        for g in &self.garbage {
            let codes: Vec<String> = g
                .closes
                .iter()
                .map(|(code, n)| format!("{code} x{n}"))
                .collect();
            writeln!(
                out,
                "garbage         {:<16} sent {:>6}  closed with {} (documented: {})",
                g.kind,
                g.sent,
                none_or(&codes),
                g.expected_code
            )?;
        }
        if self.bots.slow_still_open > 0 {
            writeln!(
                out,
                "slow bots still connected at the end: {}",
                self.bots.slow_still_open
            )?;
        }
        if !self.slo.checks.is_empty() {
            let verdict = if self.slo.passed {
                "passed"
            } else {
                "BREACHED"
            };
            writeln!(out, "SLO             {verdict}")?;
            for check in &self.slo.checks {
                writeln!(out, "  {check}")?;
            }
        }
        Ok(())
    }
}

fn none_or(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A byte count with a binary-prefixed unit.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", n / (1024.0 * 1024.0 * 1024.0))
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
