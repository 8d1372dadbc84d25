//! The raw loopback write reference: `raw_writer` (src/bin/raw_writer.rs)
//! with as many connections as the step had bots and frames the size of
//! that step's State, writer on the server's core and reader on the
//! swarm's. Its writes per second are the ceiling of any server's fan-out
//! on this machine; a bot at 30 Hz costs the server one such write per tick.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::interrupt::Interrupt;
use super::process::{self, Guarded};
use super::report::RawRun;

/// Frame size when a step measured none: a 32-player arena State (≈ 1,144 B
/// encoded, plus WebSocket framing).
pub const DEFAULT_FRAME_BYTES: u32 = 1150;

/// What raw_writer prints (subset).
#[derive(Debug, Deserialize)]
struct Printed {
    writes_per_s: f64,
    would_block: u64,
}

/// Where and how long to run it.
#[derive(Debug, Clone, Copy)]
pub struct RawSetup {
    /// The writer's CPU (the server's).
    pub writer_cpu: usize,
    /// The reader's CPU (the swarm's).
    pub reader_cpu: usize,
    /// Seconds of writing.
    pub secs: f64,
}

/// Runs `raw_writer` once; a failure is recorded in the result, not raised,
/// except Ctrl-C.
pub fn run(
    binary: &Path,
    setup: RawSetup,
    connections: u32,
    frame_bytes: u32,
    log: &Path,
    interrupt: &Interrupt,
) -> anyhow::Result<RawRun> {
    let args: Vec<String> = [
        "--connections".to_string(),
        connections.to_string(),
        "--frame-bytes".into(),
        frame_bytes.to_string(),
        "--duration".into(),
        setup.secs.to_string(),
        "--writer-cpu".into(),
        setup.writer_cpu.to_string(),
        "--reader-cpu".into(),
        setup.reader_cpu.to_string(),
    ]
    .into();
    let mut command = process::pinned(setup.writer_cpu, binary, &args);
    let stdout_path = log.with_extension("json");
    command
        .stdout(process::log_file(&stdout_path)?)
        .stderr(process::log_file(log)?);
    let mut run = RawRun {
        connections,
        frame_bytes,
        writes_per_s: None,
        would_block: None,
        error: None,
        command: process::command_line(&command),
    };
    let outcome = (|| -> anyhow::Result<Printed> {
        let mut child = Guarded::spawn(command, "raw_writer")?;
        // Connecting and draining take time too: allow generously.
        let limit = Duration::from_secs_f64(setup.secs)
            + Duration::from_secs(60)
            + Duration::from_millis(u64::from(connections) * 5);
        let status = child.wait_until(Instant::now() + limit, interrupt)?;
        match status {
            None => bail!("did not finish within {limit:?}"),
            Some(s) if !s.success() => bail!("exited with {s}: {}", process::tail(log, 5)),
            Some(_) => {}
        }
        let text = std::fs::read_to_string(&stdout_path)
            .with_context(|| format!("reading {}", stdout_path.display()))?;
        let line = text.lines().last().context("no output")?;
        serde_json::from_str(line).with_context(|| format!("parsing {line:?}"))
    })();
    match outcome {
        Ok(printed) => {
            run.writes_per_s = Some(printed.writes_per_s);
            run.would_block = Some(printed.would_block);
        }
        Err(e) if e.is::<super::interrupt::Interrupted>() => return Err(e),
        Err(e) => run.error = Some(format!("{e:#}")),
    }
    Ok(run)
}
