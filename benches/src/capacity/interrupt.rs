//! Ctrl-C and SIGTERM: a handler thread sets a flag, every wait of the
//! harness checks it and returns [`Interrupted`], and the error unwinds
//! through the [`Guarded`](super::process::Guarded) children, which kill
//! their processes as they drop. A second signal exits at once (status 130).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The error a wait returns after Ctrl-C or SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted (Ctrl-C or SIGTERM)")
    }
}

impl std::error::Error for Interrupted {}

/// A cheap handle on the "stop now" flag.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A flag set by SIGINT or SIGTERM, from a handler thread.
    pub fn install() -> anyhow::Result<Interrupt> {
        let interrupt = Interrupt::default();
        let flag = interrupt.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Register the handlers before returning, so no signal slips through
        // with the default disposition (which would leave children running).
        let (mut sigint, mut sigterm) = runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })?;
        std::thread::Builder::new()
            .name("capacity-signals".into())
            .spawn(move || {
                runtime.block_on(async {
                    loop {
                        tokio::select! {
                            _ = sigint.recv() => {}
                            _ = sigterm.recv() => {}
                        }
                        if flag.is_set() {
                            eprintln!("capacity: second signal, exiting now");
                            std::process::exit(130);
                        }
                        eprintln!("capacity: stopping (the children are being killed)");
                        flag.0.store(true, Ordering::SeqCst);
                    }
                });
            })?;
        Ok(interrupt)
    }

    /// Whether a signal arrived.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Interrupted)` once a signal arrived.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_set() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Sleeps `duration` in short slices, returning early on a signal.
    pub fn sleep(&self, duration: std::time::Duration) -> Result<(), Interrupted> {
        let end = std::time::Instant::now() + duration;
        loop {
            self.check()?;
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
        }
    }
}
