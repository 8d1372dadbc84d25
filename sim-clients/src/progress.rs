//! The live progress bar on stderr: bots connected, messages per second
//! each way, ack p99 so far, errors. Hidden with `--quiet` or when stderr
//! is not a terminal; redrawn twice a second by one task.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use crate::duration::format_ms;
use crate::swarm::Shared;

/// Redraw interval.
pub const REFRESH: Duration = Duration::from_millis(500);

/// The progress bar (possibly hidden).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Starts the bar and its refresh task (nothing when hidden).
    pub fn start(shared: Arc<Shared>) -> Progress {
        let visible = !shared.config.quiet && std::io::stderr().is_terminal();
        if !visible {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(
            Some(u64::from(shared.config.bots)),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} [{bar:20}] {pos}/{len} connected  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        tokio::spawn(refresh(shared, bar.clone()));
        Progress { bar }
    }

    /// Clears the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

fn rate(n: u64, secs: f64) -> String {
    let per_sec = n as f64 / secs.max(1e-9);
    if per_sec >= 10_000.0 {
        format!("{:.1}k", per_sec / 1000.0)
    } else {
        format!("{per_sec:.0}")
    }
}

async fn refresh(shared: Arc<Shared>, bar: ProgressBar) {
    let stats = &shared.stats;
    let mut ticker = tokio::time::interval(REFRESH);
    let mut last = (Instant::now(), stats.counts());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.stop.cancelled() => return,
        }
        let now = (Instant::now(), stats.counts());
        let secs = now.0.duration_since(last.0).as_secs_f64();
        let delta = now.1.since(&last.1);
        last = now;
        let ack = stats
            .ack_quantile_so_far(0.99)
            .map_or_else(|| "-".to_string(), |us| format_ms(us as f64 / 1000.0));
        let errors: u64 = stats.errors().iter().map(|(_, n)| n).sum();
        let phase = if stats.recording() {
            "measuring"
        } else {
            "ramping"
        };
        bar.set_position(stats.connected.load(Ordering::Relaxed).max(0) as u64);
        bar.set_message(format!(
            "{phase}  in {} msg/s  out {} msg/s  ack p99 {ack}  errors {errors}",
            rate(delta.messages_in, secs),
            rate(delta.messages_out, secs),
        ));
    }
}
