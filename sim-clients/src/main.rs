//! The `tickforge-swarm` binary: parse flags, run the swarm on a runtime
//! of `--threads` threads, print the table, write `--json` / `--html`,
//! and exit 0 (ok), 1 (an SLO check failed) or 2 (usage error, or the run
//! could not connect).

use std::process::ExitCode;

use clap::Parser;
use tickforge_swarm::{SwarmConfig, html, run};

/// Exit status for usage errors and runs that could not happen.
const EXIT_UNUSABLE: u8 = 2;

fn main() -> ExitCode {
    // clap exits with 2 on a usage error.
    let config = SwarmConfig::parse();
    let runtime = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(config.threads))
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tickforge-swarm: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let json = config.json.clone();
    let html_path = config.html.clone();
    let report = match runtime.block_on(run(config)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("tickforge-swarm: {e}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    // Bots still closing are cancelled with the runtime.
    drop(runtime);
    print!("{}", report.table());
    if let Some(path) = json
        && let Err(e) = report.write_json(&path)
    {
        eprintln!("tickforge-swarm: cannot write {}: {e}", path.display());
        return ExitCode::from(EXIT_UNUSABLE);
    }
    if let Some(path) = html_path
        && let Err(e) = html::write(&report, &path)
    {
        eprintln!("tickforge-swarm: cannot write {}: {e}", path.display());
        return ExitCode::from(EXIT_UNUSABLE);
    }
    for check in report.slo.checks.iter().filter(|c| !c.ok) {
        eprintln!("tickforge-swarm: SLO breached: {check}");
    }
    ExitCode::from(report.exit_code())
}
