//! Facts about the machine and the code for the record: CPU model, cores,
//! kernel, clock tick rate, git revision, load average, and UTC dates
//! (computed from the system clock, no date crate).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The machine and the code a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os: String,
    /// Clock ticks per second of `/proc` CPU times.
    pub clk_tck: u64,
    /// `git rev-parse --short HEAD`, plus ` + uncommitted changes` when dirty.
    pub git: String,
    /// `rustc --version` of the toolchain on PATH.
    pub rustc: String,
    /// `/proc/loadavg` (first three) when the run started.
    pub load_average_at_start: String,
}

impl Machine {
    /// Reads it all; what cannot be read says `unknown`.
    pub fn probe(workspace: &Path, clk_tck: u64) -> Machine {
        Machine {
            cpu_model: cpu_model().unwrap_or_else(|| "unknown".into()),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            os: os_name().unwrap_or_else(|| "unknown".into()),
            clk_tck,
            git: git_revision(workspace).unwrap_or_else(|| "unknown".into()),
            rustc: output_of(Command::new("rustc").arg("--version"))
                .unwrap_or_else(|| "unknown".into()),
            load_average_at_start: load_average(),
        }
    }
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    let text = read_trimmed("/proc/loadavg");
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "model name")
        .map(|(_, v)| v.trim().to_string())
}

fn os_name() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

fn output_of(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn git_revision(workspace: &Path) -> Option<String> {
    let head = output_of(Command::new("git").arg("-C").arg(workspace).args([
        "rev-parse",
        "--short",
        "HEAD",
    ]))?;
    let dirty = output_of(
        Command::new("git")
            .arg("-C")
            .arg(workspace)
            .args(["status", "--porcelain"]),
    )
    .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{head} + uncommitted changes")
    } else {
        head
    })
}

/// `YYYY-MM-DD HH:MM` UTC of a time in seconds since the UNIX epoch.
pub fn utc(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// `YYYY-MM-DD HH:MM` UTC now.
pub fn utc_now() -> String {
    utc(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        // 2026-11-27 16:48:06 UTC (a commit date of this repository).
        assert_eq!(utc(1_795_798_086), "2026-11-27 16:48");
        // A leap day.
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34");
    }
}
