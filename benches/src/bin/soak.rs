//! `soak`: issue #12's soak in one command. A release `tickforge` pinned
//! to one core, honest `arena`, `churn` and `garbage` swarms on the other,
//! a phase without and a phase with a slowloris and a connection flood
//! from other loopback addresses; then the checks:
//!
//! ```sh
//! ulimit -n 65536
//! cargo run --release -p tickforge-benches --bin soak -- --phase-secs 1800 --warmup-secs 120 \
//!     --results benches/RESULTS.md
//! ```
//!
//! Exit status: 0 every check passed, 1 a check failed, 2 the soak could
//! not run, 130 interrupted (Ctrl-C kills the children). How it works:
//! `src/soak/mod.rs`.

use std::process::ExitCode;

use clap::Parser;

use tickforge_benches::capacity::interrupt::Interrupt;
use tickforge_benches::soak::cli::Options;

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> anyhow::Result<ExitCode> {
    let interrupt = Interrupt::install()?;
    let report = tickforge_benches::soak::run(options, &interrupt)?;
    let section = tickforge_benches::soak::tables::section(&report);
    print!("{section}");
    if let Some(path) = &options.json {
        report.write_json(path)?;
        eprintln!("soak: wrote {}", path.display());
    }
    if report.interrupted {
        eprintln!("soak: interrupted; partial results not appended to --results");
        return Ok(ExitCode::from(130));
    }
    if let Some(path) = &options.results {
        tickforge_benches::capacity::append_results(path, &section)?;
        eprintln!("soak: appended a section to {}", path.display());
    }
    for check in report.checks.iter().filter(|c| !c.passed) {
        eprintln!("soak: check `{}` failed: {}", check.name, check.detail);
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
