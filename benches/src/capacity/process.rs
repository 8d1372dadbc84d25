//! Child processes the harness owns: each one is a [`Guarded`] that kills
//! and reaps its process when dropped (on an error, a panic or Ctrl-C, see
//! [`crate::capacity::interrupt`]), so no server or swarm outlives a run.
//! Also: pinning with `taskset`, free loopback ports, and waits that are
//! always bounded and give up on Ctrl-C.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::interrupt::Interrupt;

/// How often a wait looks at its child.
const POLL: Duration = Duration::from_millis(50);

/// A child process killed and reaped on drop.
#[derive(Debug)]
pub struct Guarded {
    child: Child,
    name: String,
    command_line: String,
}

impl Guarded {
    /// Starts `command`, stdin closed; `name` labels errors.
    pub fn spawn(mut command: Command, name: &str) -> anyhow::Result<Guarded> {
        let command_line = command_line(&command);
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name}: {command_line}"))?;
        Ok(Guarded {
            child,
            name: name.to_string(),
            command_line,
        })
    }

    /// Process id (with `taskset`, the program's own: taskset execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// Exit status, if it has exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("waiting for {}", self.name))
    }

    /// Waits at most until `deadline` for the process to exit on its own;
    /// `None` when it is still running then. Ctrl-C ends the wait with an error.
    pub fn wait_until(
        &mut self,
        deadline: Instant,
        interrupt: &Interrupt,
    ) -> anyhow::Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            interrupt.check()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills the process (if still running) and reaps it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.kill_and_reap()
    }

    fn kill_and_reap(&mut self) -> anyhow::Result<()> {
        if self.try_wait()?.is_none() {
            // It may exit between the check and the kill: that is fine.
            if let Err(e) = self.child.kill()
                && self.try_wait()?.is_none()
            {
                return Err(e).with_context(|| format!("killing {}", self.name));
            }
            self.child
                .wait()
                .with_context(|| format!("reaping {}", self.name))?;
        }
        Ok(())
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Err(e) = self.kill_and_reap() {
            eprintln!("capacity: {e:#}");
        }
    }
}

/// `taskset -c <cpu> <program> <args…>`: the program pinned to one CPU from
/// its first instruction (taskset sets the affinity, then execs it).
pub fn pinned(cpu: usize, program: &Path, args: &[String]) -> Command {
    let mut command = Command::new("taskset");
    command
        .arg("-c")
        .arg(cpu.to_string())
        .arg(program)
        .args(args);
    command
}

/// Fails clearly unless `taskset` exists and can pin to each of `cpus`.
pub fn check_taskset(cpus: &[usize]) -> anyhow::Result<()> {
    for &cpu in cpus {
        let status = Command::new("taskset")
            .args(["-c", &cpu.to_string(), "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => bail!(
                "`taskset -c {cpu} true` failed ({s}): the harness needs CPUs {cpus:?} \
                 (one for the server, one for the swarm); see --server-cpu / --swarm-cpu"
            ),
            Err(e) => bail!(
                "`taskset` could not be run ({e}): the harness pins the server and the swarm \
                 with it; install util-linux (`apt-get install util-linux`)"
            ),
        }
    }
    Ok(())
}

/// Two loopback addresses with ports that were free a moment ago (both
/// bound at once, so they differ).
pub fn free_loopback_pair() -> anyhow::Result<(SocketAddr, SocketAddr)> {
    let bind =
        || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free loopback port");
    let (first, second) = (bind()?, bind()?);
    Ok((
        first.local_addr().context("reading the free port")?,
        second.local_addr().context("reading the free port")?,
    ))
}

/// A file for a child's stdout or stderr.
pub fn log_file(path: &Path) -> anyhow::Result<Stdio> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Stdio::from(file))
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// A command as a shell-like line (for the record and for error messages).
pub fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| {
            let part = part.to_string_lossy();
            if part.is_empty() || part.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", part.replace('\'', r"'\''"))
            } else {
                part.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_kills_its_process() {
        let mut sleep = Command::new("sleep");
        sleep.arg("60");
        let guard = match Guarded::spawn(sleep, "sleep") {
            Ok(g) => g,
            Err(e) => panic!("{e:#}"),
        };
        let pid = guard.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(guard);
        // Reaped, so the pid is gone (unless reused in between, which is unlikely).
        assert!(!Path::new(&format!("/proc/{pid}/stat")).exists());
    }

    #[test]
    fn a_wait_ends_at_its_deadline_or_at_exit() {
        let interrupt = Interrupt::default();
        let mut sleep = Command::new("sleep");
        sleep.arg("60");
        let mut guard = match Guarded::spawn(sleep, "sleep") {
            Ok(g) => g,
            Err(e) => panic!("{e:#}"),
        };
        let deadline = Instant::now() + Duration::from_millis(100);
        assert!(matches!(guard.wait_until(deadline, &interrupt), Ok(None)));
        let mut guard = match Guarded::spawn(Command::new("true"), "true") {
            Ok(g) => g,
            Err(e) => panic!("{e:#}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(matches!(guard.wait_until(deadline, &interrupt), Ok(Some(s)) if s.success()));
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "/tmp/a b/tickforge", "--log", "it's"]);
        assert_eq!(
            command_line(&c),
            r"taskset -c 0 '/tmp/a b/tickforge' --log 'it'\''s'"
        );
    }
}
