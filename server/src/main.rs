//! The `tickforge` binary: parse configuration, set up logging, run a node
//! until SIGINT or SIGTERM (or `POST /admin/drain`), drain for
//! `--drain-delay`, then shut down within the deadline. A second signal
//! during the drain shuts down at once.

use std::process::ExitCode;

use tickforge_protocol::session_token::{Claims, SessionKeys};
use tickforge_server::config::{Command, Config, ConfigError, LogOptions, TokenCommand};
use tickforge_server::shutdown::DrainCause;
use tickforge_server::{GameRegistry, Server, shutdown};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(config) => config,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("tickforge: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Token(command)) = &config.command {
        return token(&config, command);
    }
    init_tracing(&config.log);
    if config.command == Some(Command::Migrate) {
        return match tickforge_server::persist::migrate(&config.snapshots) {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tickforge migrate: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let server = match Server::start(config, GameRegistry::default()) {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run_until_stopped(&server)),
        Err(e) => tracing::error!(error = %e, "no signal runtime; shutting down"),
    }
    server.shutdown();
    server.wait();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Waits for a signal or an operator's drain, lets the drain run its
/// course, and returns when the node shuts down (or a second signal asks
/// for it at once).
async fn run_until_stopped(server: &Server) {
    let node = server.node();
    tokio::select! {
        _ = shutdown::signal() => {
            server.drain(DrainCause::Signal);
        }
        _ = node.drain.begun() => {}
        _ = node.shutdown.cancelled() => return,
    }
    tokio::select! {
        _ = shutdown::signal() => tracing::warn!("second signal during the drain: shutting down now"),
        _ = node.shutdown.cancelled() => {}
    }
}

/// `tickforge token keygen|mint`: prints a key file or a token on stdout.
fn token(config: &Config, command: &TokenCommand) -> ExitCode {
    let printed = match command {
        TokenCommand::Keygen { hmac: false } => SessionKeys::generate_ed25519_json(),
        TokenCommand::Keygen { hmac: true } => SessionKeys::generate_hs256_json(),
        TokenCommand::Mint { player, ttl, name } => {
            let Some(path) = &config.auth.session_key_file else {
                eprintln!(
                    "tickforge token mint: --session-key-file (or TICKFORGE_SESSION_KEY_FILE) is required"
                );
                return ExitCode::from(2);
            };
            SessionKeys::load(path)
                .and_then(|keys| keys.mint(&Claims::new(player.clone(), name.clone(), *ttl)))
        }
    };
    match printed {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tickforge token: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(options: &LogOptions) {
    let filter = EnvFilter::try_new(&options.log).unwrap_or_else(|e| {
        eprintln!("tickforge: bad --log filter ({e}); using info");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if options.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
