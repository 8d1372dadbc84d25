//! `raw_writer`: the physical limit probe for fan-out on this machine.
//!
//! It measures how many `--frame-bytes` frames **one thread** can write per
//! second to `--connections` loopback TCP sockets, round-robin, with plain
//! nonblocking `write` calls and no runtime, no WebSocket framing, no
//! encoding: the ceiling any game server's write path is under.
//!
//! The reader side runs in a **child process** (this same binary with
//! `--reader`): it listens on `127.0.0.1:0`, accepts the connections and
//! drains them with nonblocking reads until the writer closes them. The
//! writer connects, then writes round-robin for `--duration` seconds; a
//! socket whose send buffer is full (`WouldBlock`) is skipped for that
//! round, and a partial write resumes where it stopped on the next round, so
//! `writes` counts whole frames handed to the kernel.
//!
//! Pinning: `--writer-cpu` and `--reader-cpu` pin each side to one core
//! (`sched_setaffinity`). Without them both inherit the caller's CPU set,
//! so the usual form on a 2-core machine is
//!
//! ```sh
//! taskset -c 1 target/release/raw_writer --reader-cpu 0 --connections 1000 --frame-bytes 850 --duration 5
//! ```
//!
//! Output, one JSON line on stdout:
//! `{"connections":N,"frame_bytes":B,"writes":W,"seconds":S,"writes_per_s":R, ...}`
//! with also `write_calls` (syscalls), `would_block`, `partial_writes`,
//! `bytes_written`, `bytes_read` (what the reader received; equal to
//! `bytes_written` when all went well), `writer_cpu` and `reader_cpu`.
//! Each connection is one file descriptor on each side: raise `ulimit -n`
//! above `--connections` plus a few.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

/// How long the reader may take to start, and to drain after the run.
const READER_WAIT: Duration = Duration::from_secs(30);
/// Pause of the reader after a round in which no socket had data.
const READER_IDLE_PAUSE: Duration = Duration::from_micros(50);

#[derive(Debug, Parser)]
#[command(
    name = "raw_writer",
    about = "One thread writing fixed-size frames round-robin to N loopback TCP sockets: the physical limit probe"
)]
struct Args {
    /// Loopback TCP connections written round-robin.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Bytes per frame (one nonblocking write each).
    #[arg(long, default_value_t = 850, value_parser = clap::value_parser!(u32).range(1..))]
    frame_bytes: u32,
    /// Seconds of writing.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Pin the writing thread to this CPU.
    #[arg(long)]
    writer_cpu: Option<usize>,
    /// Pin the reader process to this CPU.
    #[arg(long)]
    reader_cpu: Option<usize>,
    /// Internal: run as the reader child process.
    #[arg(long, hide = true)]
    reader: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    connections: u32,
    frame_bytes: u32,
    writes: u64,
    seconds: f64,
    writes_per_s: f64,
    write_calls: u64,
    would_block: u64,
    partial_writes: u64,
    bytes_written: u64,
    bytes_read: Option<u64>,
    writer_cpu: Option<usize>,
    reader_cpu: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.reader {
        read_side(&args)
    } else {
        write_side(&args)
    }
}

fn pin(cpu: usize) -> anyhow::Result<()> {
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        bail!("could not pin to CPU {cpu}")
    }
}

// ---------------------------------------------------------------- reader (child)

fn read_side(args: &Args) -> anyhow::Result<()> {
    if let Some(cpu) = args.reader_cpu {
        pin(cpu)?;
    }
    let listener = listen(args.connections)?;
    let port = listener.local_addr()?.port();
    {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "port {port}")?;
        stdout.flush()?;
    }
    let mut sockets = Vec::with_capacity(args.connections as usize);
    while sockets.len() < args.connections as usize {
        let (socket, _) = listener.accept().context("accept")?;
        socket.set_nonblocking(true)?;
        sockets.push(Some(socket));
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes_read: u64 = 0;
    let mut open = sockets.len();
    while open > 0 {
        let mut progress = false;
        for slot in sockets.iter_mut() {
            let Some(socket) = slot else { continue };
            match socket.read(&mut buf) {
                Ok(0) => {
                    *slot = None;
                    open -= 1;
                    progress = true;
                }
                Ok(n) => {
                    bytes_read += n as u64;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("read"),
            }
        }
        if !progress {
            std::thread::sleep(READER_IDLE_PAUSE);
        }
    }
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "bytes_read {bytes_read}")?;
    stdout.flush()?;
    Ok(())
}

/// A loopback listener on a free port with a backlog for every connection.
fn listen(connections: u32) -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.listen(i32::try_from(connections.max(128)).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

// ---------------------------------------------------------------- writer (parent)

/// Kills and reaps the reader if the writer stops early.
struct ReaderProcess(Child);

impl Drop for ReaderProcess {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            if let Err(e) = self.0.kill() {
                eprintln!("raw_writer: could not kill the reader: {e}");
            }
            if let Err(e) = self.0.wait() {
                eprintln!("raw_writer: could not reap the reader: {e}");
            }
        }
    }
}

fn write_side(args: &Args) -> anyhow::Result<()> {
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration must be a positive number of seconds");
    }
    let mut command = Command::new(std::env::current_exe().context("locating this binary")?);
    command
        .args(["--reader", "--connections", &args.connections.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(cpu) = args.reader_cpu {
        command.args(["--reader-cpu", &cpu.to_string()]);
    }
    let mut reader = ReaderProcess(command.spawn().context("starting the reader")?);
    let lines = reader_lines(&mut reader.0)?;
    let port: u16 = expect_line(&lines, "port")?
        .parse()
        .context("reader's port")?;

    let mut streams = Vec::with_capacity(args.connections as usize);
    for i in 0..args.connections {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("connection {i} (is `ulimit -n` above --connections?)"))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        streams.push(stream);
    }
    if let Some(cpu) = args.writer_cpu {
        pin(cpu)?;
    }

    let frame = vec![0xA5u8; args.frame_bytes as usize];
    let run = write_round_robin(&mut streams, &frame, Duration::from_secs_f64(args.duration))?;
    drop(streams);

    let bytes_read = match expect_line(&lines, "bytes_read") {
        Ok(n) => n.parse().ok(),
        Err(e) => {
            eprintln!("raw_writer: {e:#}");
            None
        }
    };
    if bytes_read != Some(run.bytes_written) {
        eprintln!(
            "raw_writer: the reader received {bytes_read:?} bytes of {} written",
            run.bytes_written
        );
    }
    let report = Report {
        connections: args.connections,
        frame_bytes: args.frame_bytes,
        writes: run.writes,
        seconds: run.seconds,
        writes_per_s: run.writes as f64 / run.seconds,
        write_calls: run.write_calls,
        would_block: run.would_block,
        partial_writes: run.partial_writes,
        bytes_written: run.bytes_written,
        bytes_read,
        writer_cpu: args.writer_cpu,
        reader_cpu: args.reader_cpu,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The reader's stdout, line by line, read on a thread so waits can time out.
fn reader_lines(child: &mut Child) -> anyhow::Result<mpsc::Receiver<String>> {
    let stdout = child.stdout.take().context("reader stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// The value of the reader's next line, which must be `KEY VALUE`.
fn expect_line(lines: &mpsc::Receiver<String>, key: &str) -> anyhow::Result<String> {
    let line = lines
        .recv_timeout(READER_WAIT)
        .with_context(|| format!("no `{key}` line from the reader"))?;
    match line.split_once(' ') {
        Some((k, value)) if k == key => Ok(value.to_string()),
        _ => bail!("unexpected line from the reader: {line:?}"),
    }
}

/// What one run wrote.
struct Run {
    writes: u64,
    seconds: f64,
    write_calls: u64,
    would_block: u64,
    partial_writes: u64,
    bytes_written: u64,
}

/// Writes `frame` to each stream in turn until `duration` has passed.
fn write_round_robin(
    streams: &mut [TcpStream],
    frame: &[u8],
    duration: Duration,
) -> anyhow::Result<Run> {
    // Bytes of the current frame already written, per stream.
    let mut offsets = vec![0usize; streams.len()];
    let mut run = Run {
        writes: 0,
        seconds: 0.0,
        write_calls: 0,
        would_block: 0,
        partial_writes: 0,
        bytes_written: 0,
    };
    let started = Instant::now();
    let deadline = started + duration;
    loop {
        for (stream, offset) in streams.iter_mut().zip(offsets.iter_mut()) {
            run.write_calls += 1;
            match stream.write(&frame[*offset..]) {
                Ok(0) => bail!("a socket accepted no bytes"),
                Ok(n) => {
                    run.bytes_written += n as u64;
                    *offset += n;
                    if *offset == frame.len() {
                        *offset = 0;
                        run.writes += 1;
                    } else {
                        run.partial_writes += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => run.would_block += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("write"),
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    run.seconds = started.elapsed().as_secs_f64();
    Ok(run)
}
