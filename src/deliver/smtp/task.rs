//! A connection's exchanges run as tasks of their own, on the runtime's worker threads: a run drives
//! all of its emails from one task, and the socket work of every connection (writes, reads, replies
//! parsed) would otherwise be done on that one thread, the run's limit on loopback. The email's task
//! waits for the exchange; the ledger's claim stays in it.

use std::any::Any;
use std::future::Future;

use tokio::task::JoinHandle;

use super::judge::{Stage, TryError};

/// A panic in an exchange, to go on in the email's task (which catches a send's panics) once what
/// runs beside the exchange there (the claim) has ended.
pub(super) type Panic = Box<dyn Any + Send + 'static>;

/// An exchange on its own task. Dropping it (the email's send dropped) aborts the task, unless it
/// was let go: it stops at its next await (a step already being polled on another thread finishes
/// that poll first).
pub(super) struct Exchange<T> {
    task: JoinHandle<T>,
    abort_on_drop: bool,
}

impl<T: Send + 'static> Exchange<T> {
    pub(super) fn spawn(work: impl Future<Output = T> + Send + 'static) -> Exchange<T> {
        Exchange {
            task: tokio::spawn(work),
            abort_on_drop: true,
        }
    }

    /// Its end: `Err` with its panic; a task ended without finishing (the runtime shutting down)
    /// is a connection lost at `stage`.
    pub(super) async fn end(mut self, stage: Stage) -> Result<Result<T, TryError>, Panic> {
        match (&mut self.task).await {
            Ok(done) => Ok(Ok(done)),
            Err(e) if e.is_panic() => Err(e.into_panic()),
            Err(e) => Ok(Err(TryError::Lost(
                stage,
                format!("the connection's task ended: {e}"),
            ))),
        }
    }

    /// Lets it run to its end on its own (what is left of it concerns nobody waiting).
    pub(super) fn let_go(mut self) {
        self.abort_on_drop = false;
    }
}

impl<T> Drop for Exchange<T> {
    fn drop(&mut self) {
        if self.abort_on_drop {
            self.task.abort();
        }
    }
}
