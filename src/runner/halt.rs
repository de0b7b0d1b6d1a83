//! The stop request ([`Halt`]) and the signals that make it ([`watch_signals`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A request to stop: a run finishes the emails in flight and starts no more; a runner ends after
/// its tick. Cheap to clone; every clone is the same request.
#[derive(Debug, Clone, Default)]
pub struct Halt {
    flag: Arc<AtomicBool>,
    pub(super) notify: Arc<tokio::sync::Notify>,
}

impl Halt {
    /// A request not made yet.
    pub fn new() -> Halt {
        Halt::default()
    }

    /// Asks the run (or the runner's wait between ticks) to stop.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Waits until the stop is requested (at once when it was already).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag the run and the SMTP transport read.
    pub(super) fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }
}

/// What [`watch_signals`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalSeen {
    /// The first SIGINT or SIGTERM (named): the stop is requested.
    First(&'static str),
    /// Another one after it: for the front end to act on (the command line ends at once).
    Again(&'static str),
}

/// Watches SIGINT and SIGTERM: the first requests `halt`, then each is told to `seen` (the ledger
/// stays consistent even if the front end ends the process at the second: see the README).
pub fn watch_signals(halt: &Halt, seen: impl Fn(SignalSeen) + Send + 'static) {
    let halt = halt.clone();
    tokio::spawn(async move {
        let Some(name) = next_signal().await else {
            return;
        };
        halt.request();
        seen(SignalSeen::First(name));
        if let Some(name) = next_signal().await {
            seen(SignalSeen::Again(name));
        }
    });
}

/// The next SIGINT or SIGTERM; `None` when they cannot be watched.
pub(crate) async fn next_signal() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok()?;
        let mut int = signal(SignalKind::interrupt()).ok()?;
        tokio::select! {
            _ = int.recv() => Some("SIGINT"),
            _ = term.recv() => Some("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
    }
}
