//! The `--html` report: one self-contained page (inline CSS, inline SVG,
//! no scripts, nothing fetched) with the run's settings, SLO verdicts,
//! latency tables and the percentile spectrum of each latency plotted
//! HdrHistogram-style: x = percentile on a log scale of 1/(1−p) (50%,
//! 90%, 99%, 99.9% … equally spaced), y = latency in milliseconds.

use std::fmt::Write as _;
use std::path::Path;

use crate::report::{Point, Report, Summary};
use crate::table::{bytes, thousands};

/// Plot size, in SVG user units.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:780px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.8em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .7em;text-align:right;border-bottom:1px solid #eee}\
td:first-child,th:first-child{text-align:left}.ok{color:#17803d;font-weight:600}.bad{color:#c62828;font-weight:600}\
.note{color:#666;font-size:.9em}svg{background:#fafafa;border:1px solid #e5e5e5}\
svg text{font:11px system-ui,sans-serif;fill:#555}";

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// log10(1/(1−p)) for a percentile `p` (0–100), the x of a spectrum point.
pub fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).max(1e-12).log10()
}

/// The smallest "nice" number (1, 2, 2.5, 5 × 10^k) at or above `v`.
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn tick_label(n: f64) -> String {
    match n.round() as i64 {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        k => format!("99.{}%", "9".repeat((k - 2) as usize)).replace("99.%", "99%"),
    }
}

/// One percentile-spectrum chart as inline SVG.
pub fn spectrum_svg(title: &str, summary: &Summary, color: &str) -> String {
    let points: Vec<&Point> = summary
        .spectrum
        .iter()
        .filter(|p| p.percentile < 100.0)
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
        escape(title)
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">no samples</text></svg>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let x_max = points
        .iter()
        .map(|p| nines(p.percentile))
        .fold(3.0f64, f64::max)
        .ceil();
    let y_max = nice_ceiling(points.iter().map(|p| p.ms).fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |n: f64| LEFT + n / x_max * plot_w;
    let y = |ms: f64| TOP + plot_h - ms / y_max * plot_h;
    // Grid and y labels.
    for i in 0..=5 {
        let v = y_max * f64::from(i) / 5.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            trim_float(v),
            y = y(v),
        );
    }
    // x ticks: 50%, then every decade of nines.
    let mut ticks = vec![(nines(50.0), "50%".to_string())];
    ticks.extend((1..=x_max as i64).map(|k| (k as f64, tick_label(k as f64))));
    for (n, label) in ticks {
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#e3e3e3"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            x = x(n),
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0
    );
    let _ = write!(
        svg,
        r#"<text x="12" y="{}" text-anchor="middle" transform="rotate(-90 12 {})">ms</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let path: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(nines(p.percentile)), y(p.ms)))
        .collect();
    let _ = write!(
        svg,
        r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/></svg>"#,
        path.join(" ")
    );
    svg
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for c in cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    out.push_str("</tr>");
}

/// Renders the whole page.
pub fn render(report: &Report) -> String {
    let c = &report.config;
    let t = &report.timing;
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tickforge-swarm report</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        out,
        "<h1>tickforge-swarm: {} scenario, {} bots</h1><p class=\"note\">{} · version {} · {}</p>",
        escape(c.scenario),
        c.bots,
        escape(&c.url),
        escape(report.version),
        escape(t.window)
    );

    out.push_str("<h2>Settings</h2><table>");
    for (k, v) in [
        (
            "bots (measuring)",
            format!("{} ({})", c.bots, c.measuring_bots),
        ),
        ("sample", escape(&c.sample)),
        ("ramp", format!("{} bots/s", c.ramp_per_sec)),
        ("mode", escape(&c.mode)),
        ("inputs per bot", format!("{} /s", c.input_hz)),
        (
            "duration",
            format!(
                "{} ms requested, {:.2} s measured{}",
                c.duration_ms,
                t.measured_secs,
                if t.interrupted { " (interrupted)" } else { "" }
            ),
        ),
        ("ramp took", format!("{:.2} s", t.ramp_secs)),
        ("threads", c.threads.to_string()),
        ("seed", c.seed.to_string()),
    ] {
        row(&mut out, &[k.to_string(), v]);
    }
    out.push_str("</table>");

    if !report.slo.checks.is_empty() {
        let (class, word) = if report.slo.passed {
            ("ok", "passed")
        } else {
            ("bad", "breached")
        };
        let _ = write!(
            out,
            "<h2>SLO: <span class=\"{class}\">{word}</span></h2><table><tr><th>check</th><th>limit</th><th>measured</th><th></th></tr>"
        );
        for v in &report.slo.checks {
            let (class, word) = if v.ok {
                ("ok", "ok")
            } else {
                ("bad", "breached")
            };
            row(
                &mut out,
                &[
                    escape(&v.check),
                    escape(&v.limit),
                    escape(&v.actual),
                    format!("<span class=\"{class}\">{word}</span>"),
                ],
            );
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Latency (ms)</h2><table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th></tr>");
    let l = &report.latency;
    for (name, s) in [
        ("input → ack", &l.ack),
        ("state jitter", &l.jitter),
        ("connect", &l.connect),
        ("join", &l.join),
    ] {
        let mut cells = vec![name.to_string(), thousands(s.count)];
        cells.extend(
            [
                s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.p9999_ms, s.max_ms,
            ]
            .iter()
            .map(|v| format!("{v:.2}")),
        );
        row(&mut out, &cells);
    }
    out.push_str("</table>");

    for (title, s, color) in [
        (
            "Input → ack latency (from the scheduled send time)",
            &l.ack,
            "#1f6feb",
        ),
        (
            "State jitter: |inter-arrival − tick period|",
            &l.jitter,
            "#d9822b",
        ),
        ("Connect: TCP + upgrade + Welcome", &l.connect, "#6f42c1"),
        ("Join: JoinRoom → Joined", &l.join, "#2da44e"),
    ] {
        let _ = write!(
            out,
            "<h2>{}</h2>{}",
            escape(title),
            spectrum_svg(title, s, color)
        );
    }

    let w = &report.messages.window;
    out.push_str("<h2>Traffic in the window</h2><table><tr><th></th><th>messages</th><th>per second</th><th>bytes</th></tr>");
    row(
        &mut out,
        &[
            "in".into(),
            thousands(w.messages_in),
            format!("{:.0}", w.messages_in_per_sec),
            bytes(w.bytes_in),
        ],
    );
    row(
        &mut out,
        &[
            "out".into(),
            thousands(w.messages_out),
            format!("{:.0}", w.messages_out_per_sec),
            bytes(w.bytes_out),
        ],
    );
    row(
        &mut out,
        &[
            "states in".into(),
            thousands(w.states_in),
            format!("{:.0}", w.states_in as f64 / w.seconds.max(1e-9)),
            String::new(),
        ],
    );
    row(
        &mut out,
        &[
            "inputs out".into(),
            thousands(w.inputs_sent),
            format!("{:.0}", w.inputs_sent as f64 / w.seconds.max(1e-9)),
            String::new(),
        ],
    );
    out.push_str("</table>");

    let _ = write!(out, "<h2>Errors: {}</h2><table>", report.errors.total);
    for (kind, n) in report.errors.by_kind.iter().filter(|(_, n)| **n > 0) {
        row(&mut out, &[escape(kind), thousands(*n)]);
    }
    out.push_str("</table>");
    let _ = write!(
        out,
        "<h2>Disconnects: {}</h2><table>",
        report.disconnects.total
    );
    for d in &report.disconnects.by_reason {
        row(
            &mut out,
            &[d.code.to_string(), escape(&d.reason), thousands(d.count)],
        );
    }
    out.push_str("</table>");
    if !report.garbage.is_empty() {
        out.push_str("<h2>Garbage</h2><table><tr><th>kind</th><th>sent</th><th>documented code</th><th>closed with</th></tr>");
        for g in &report.garbage {
            let closes: Vec<String> = g
                .closes
                .iter()
                .map(|(code, n)| format!("{code} × {n}"))
                .collect();
            row(
                &mut out,
                &[
                    escape(g.kind),
                    thousands(g.sent),
                    g.expected_code.to_string(),
                    closes.join(", "),
                ],
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes the page to `path`.
pub fn write(report: &Report, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, render(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn percentiles_map_to_nines_and_ticks_are_labelled() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(tick_label(1.0), "90%");
        assert_eq!(tick_label(2.0), "99%");
        assert_eq!(tick_label(4.0), "99.99%");
    }

    #[test]
    fn nice_ceilings_round_up_to_1_2_2_5_5() {
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(21.0), 25.0);
        assert_eq!(nice_ceiling(33.0), 50.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
