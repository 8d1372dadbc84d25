//! Reading what the kernel knows about a process and the machine: CPU time
//! (`/proc/<pid>/stat`), resident memory (`/proc/<pid>/status`), CPU time
//! of the whole machine by kind (`/proc/stat`), and the open-file limit
//! (`/proc/self/limits`). The parsers are pure functions over the file's
//! text so they are tested without a process.
//!
//! CPU time is `utime + stime` from `/proc/<pid>/stat`, which covers every
//! thread of the process (a thread's `/proc/<pid>/schedstat` would cover the
//! main thread only). It is counted in clock ticks of `CLK_TCK` per second,
//! read once from `getconf CLK_TCK` rather than assumed.

use std::process::Command;

use anyhow::{Context, bail};

/// Clock ticks per second of the CPU times in `/proc` (`getconf CLK_TCK`).
pub fn clock_ticks_per_second() -> anyhow::Result<u64> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("running `getconf CLK_TCK` (libc-bin) to read the clock tick rate")?;
    if !output.status.success() {
        bail!("`getconf CLK_TCK` failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let ticks: u64 = text
        .trim()
        .parse()
        .with_context(|| format!("`getconf CLK_TCK` printed {text:?}"))?;
    if ticks == 0 {
        bail!("`getconf CLK_TCK` printed 0");
    }
    Ok(ticks)
}

/// `utime + stime` of process `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_cpu_ticks(&text).with_context(|| format!("parsing {path}: {text:?}"))
}

/// `utime + stime` from the text of `/proc/<pid>/stat`.
///
/// The second field (`comm`) is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted from the **last** `)`:
/// after it come `state` (field 3) … `utime` (14) and `stime` (15).
pub fn parse_stat_cpu_ticks(text: &str) -> anyhow::Result<u64> {
    let (_, rest) = text
        .rsplit_once(')')
        .context("no `)` after the command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, index 11.
    let field = |index: usize, name: &str| -> anyhow::Result<u64> {
        let raw = fields
            .get(index)
            .with_context(|| format!("no {name} field"))?;
        raw.parse::<u64>()
            .with_context(|| format!("{name} is not a number: {raw:?}"))
    };
    Ok(field(11, "utime")? + field(12, "stime")?)
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&text, "VmRSS").with_context(|| format!("parsing {path}"))
}

/// A `kB` field of `/proc/<pid>/status` (e.g. `VmRSS:     4516 kB`).
pub fn parse_status_kib(text: &str, field: &str) -> anyhow::Result<u64> {
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name != field {
            continue;
        }
        let mut words = value.split_whitespace();
        let number = words
            .next()
            .with_context(|| format!("{field} has no value"))?;
        if let Some(unit) = words.next()
            && unit != "kB"
        {
            bail!("{field} is in {unit:?}, expected kB");
        }
        return number
            .parse()
            .with_context(|| format!("{field} is not a number: {number:?}"));
    }
    bail!("no {field} line (a kernel thread, or a process that has exited)")
}

/// CPU time of the machine from `/proc/stat`, in clock ticks: all cores
/// summed, and busy time per core.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineCpu {
    /// `user + nice + system`: time spent by processes (guest time is in `user`).
    pub tasks: u64,
    /// `irq + softirq` (tick-sampled unless the kernel has
    /// `CONFIG_IRQ_TIME_ACCOUNTING`). Loopback TCP receive processing runs
    /// as softirq on the **sending** core.
    pub interrupts: u64,
    /// `steal`: time the hypervisor gave to other guests.
    pub steal: u64,
    /// Time per core, `(cpu number, ticks)`, in which the core was **not**
    /// working for this machine: `idle + iowait + steal`. Busy time is wall
    /// time minus this. (These fields are measured precisely on a NO_HZ
    /// kernel; user and system are tick samples, which miss work done in
    /// bursts shorter than a tick.)
    pub cores: Vec<(usize, u64)>,
}

impl MachineCpu {
    /// Reads `/proc/stat`.
    pub fn read() -> anyhow::Result<MachineCpu> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        parse_machine_cpu(&text).context("parsing /proc/stat")
    }

    /// `idle + iowait + steal` ticks of core `cpu`.
    pub fn core_not_busy(&self, cpu: usize) -> Option<u64> {
        self.cores.iter().find(|(n, _)| *n == cpu).map(|(_, t)| *t)
    }
}

/// The values of one `cpu…` line:
/// `user nice system idle iowait irq softirq steal guest guest_nice`.
fn cpu_values(line: &str) -> anyhow::Result<Vec<u64>> {
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<u64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("not all numbers: {line:?}"))?;
    if values.len() < 8 {
        bail!("expected at least 8 values: {line:?}");
    }
    Ok(values)
}

/// The `cpu` and `cpuN` lines of `/proc/stat`.
pub fn parse_machine_cpu(text: &str) -> anyhow::Result<MachineCpu> {
    let mut machine = None;
    let mut cores = Vec::new();
    for line in text.lines() {
        let Some(label) = line.split_whitespace().next() else {
            continue;
        };
        let Some(suffix) = label.strip_prefix("cpu") else {
            continue;
        };
        let v = cpu_values(line)?;
        if suffix.is_empty() {
            machine = Some((v[0] + v[1] + v[2], v[5] + v[6], v[7]));
        } else {
            let cpu: usize = suffix
                .parse()
                .with_context(|| format!("bad cpu label {label:?}"))?;
            cores.push((cpu, v[3] + v[4] + v[7]));
        }
    }
    let (tasks, interrupts, steal) = machine.context("no aggregate `cpu` line")?;
    Ok(MachineCpu {
        tasks,
        interrupts,
        steal,
        cores,
    })
}

/// The soft limit on open files of this process (`None`: unlimited).
pub fn open_files_soft_limit() -> anyhow::Result<Option<u64>> {
    let text = std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    parse_open_files_soft_limit(&text).context("parsing /proc/self/limits")
}

/// The soft limit of the `Max open files` line of `/proc/<pid>/limits`.
pub fn parse_open_files_soft_limit(text: &str) -> anyhow::Result<Option<u64>> {
    const LINE: &str = "Max open files";
    let line = text
        .lines()
        .find(|l| l.starts_with(LINE))
        .with_context(|| format!("no `{LINE}` line"))?;
    let soft = line[LINE.len()..]
        .split_whitespace()
        .next()
        .with_context(|| format!("no soft limit in {line:?}"))?;
    if soft == "unlimited" {
        return Ok(None);
    }
    soft.parse()
        .map(Some)
        .with_context(|| format!("soft limit is not a number: {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (tick forge) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
        731 269 0 0 20 0 3 0 12345 123456789 1129 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0";

    #[test]
    fn cpu_ticks_are_utime_plus_stime_counted_after_the_last_parenthesis() {
        assert_eq!(parse_stat_cpu_ticks(STAT).ok(), Some(731 + 269));
    }

    #[test]
    fn a_truncated_stat_line_is_an_error_not_a_zero() {
        assert!(parse_stat_cpu_ticks("4242 (tickforge) S 1 2 3").is_err());
        assert!(parse_stat_cpu_ticks("no parenthesis here").is_err());
    }

    #[test]
    fn the_stat_of_this_process_parses() {
        let ticks = cpu_ticks(std::process::id());
        assert!(ticks.is_ok(), "{ticks:?}");
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\ttickforge\nVmPeak:\t  20000 kB\nVmRSS:\t    4516 kB\nThreads:\t2\n";
        assert_eq!(parse_status_kib(status, "VmRSS").ok(), Some(4516));
        assert!(parse_status_kib("Name:\tkthreadd\n", "VmRSS").is_err());
        assert!(rss_kib(std::process::id()).is_ok_and(|kib| kib > 0));
    }

    #[test]
    fn machine_cpu_splits_task_interrupt_and_steal_time_and_counts_idle_time_per_core() {
        let stat = "cpu  331169 620 66444 431184 3610 7 10160 495 0 0\n\
                    cpu0 165000 300 33000 215000 1800 3 5000 250 0 0\nintr 1 2 3\n";
        let cpu = parse_machine_cpu(stat).ok();
        assert_eq!(
            cpu,
            Some(MachineCpu {
                tasks: 331_169 + 620 + 66_444,
                interrupts: 7 + 10_160,
                steal: 495,
                cores: vec![(0, 215_000 + 1800 + 250)],
            })
        );
        assert_eq!(cpu.and_then(|c| c.core_not_busy(0)), Some(217_050));
    }

    #[test]
    fn the_open_file_soft_limit_is_the_first_number_of_its_line() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_soft_limit(limits).ok(), Some(Some(1024)));
        let unlimited = limits.replace("1024 ", "unlimited ");
        assert_eq!(parse_open_files_soft_limit(&unlimited).ok(), Some(None));
        assert!(open_files_soft_limit().is_ok());
    }
}
