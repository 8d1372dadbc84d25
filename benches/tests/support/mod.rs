//! Test support: child processes that are killed when the test ends, and
//! their stdout read on a thread so every wait is bounded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process, killed and reaped on drop.
pub struct ChildGuard {
    child: Child,
    /// The child's stdout, one line per message.
    pub lines: mpsc::Receiver<String>,
}

impl ChildGuard {
    /// Starts `program` with `args` (logging at `warn`), stdout captured, stderr inherited.
    pub fn spawn(program: &str, args: &[&str]) -> ChildGuard {
        let mut child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildGuard { child, lines }
    }

    /// The next stdout line, or a panic after `within`.
    pub fn next_line(&self, within: Duration) -> String {
        self.lines
            .recv_timeout(within)
            .unwrap_or_else(|e| panic!("no output line within {within:?}: {e}"))
    }

    /// Waits for the child to exit on its own, at most `within`; true on success.
    pub fn exits_successfully_within(&mut self, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the child did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Already gone is fine: kill fails only then.
            if self.child.kill().is_ok() {
                self.child.wait().ok();
            }
        }
    }
}
