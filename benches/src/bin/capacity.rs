//! `capacity`: how many bots one server core carries at SLO, tickforge vs
//! the baseline, next to the raw loopback write limit, in one command:
//!
//! ```sh
//! cargo run --release -p tickforge-benches --bin capacity -- --results benches/RESULTS.md
//! ```
//!
//! It builds the release binaries (unless `--no-build`), then for each
//! server kind steps the bot count up (`--steps`), each step with a fresh
//! server pinned to one core and `tickforge-swarm` pinned to the other,
//! stops a kind at its first SLO breach, runs `raw_writer` for each bot
//! count, and prints Markdown tables: per kind, raw writes, tickforge vs
//! baseline, and the project's targets. `--results FILE` appends them as a
//! dated section, `--json FILE` writes everything as JSON.
//!
//! Needs two CPUs, `taskset` (util-linux), `getconf`, and an open-file
//! limit above the largest step (`ulimit -n 65536`). Ctrl-C stops the run,
//! kills the children and prints what was measured. How it measures, module
//! by module: `src/capacity/mod.rs`.

use std::process::ExitCode;

use clap::Parser;

use tickforge_benches::capacity::cli::Options;
use tickforge_benches::capacity::interrupt::Interrupt;

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capacity: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> anyhow::Result<ExitCode> {
    let interrupt = Interrupt::install()?;
    let report = tickforge_benches::capacity::run(options, &interrupt)?;
    let section = tickforge_benches::capacity::tables::section(&report);
    print!("{section}");
    if let Some(path) = &options.json {
        report.write_json(path)?;
        eprintln!("capacity: wrote {}", path.display());
    }
    if report.interrupted {
        eprintln!("capacity: interrupted; partial results not appended to --results");
        return Ok(ExitCode::from(130));
    }
    if let Some(path) = &options.results {
        tickforge_benches::capacity::append_results(path, &section)?;
        eprintln!("capacity: appended a section to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
