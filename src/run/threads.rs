//! Where the run's work goes off the async threads: rendering on the rendering threads (rayon, one
//! per core), ledger calls beside or on the runtime's threads; and the words for a caught panic.

use std::sync::Arc;

use super::produce::Stop;
use crate::deliver::panic_message;
use crate::ledger::{LedgerError, SendLedger};
use crate::render::RenderError;

/// Runs CPU-bound work (rendering, building messages) on the rendering threads, one per core, off
/// the async runtime's threads; the caller's task waits without blocking them.
pub(crate) async fn on_render_threads<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RenderError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic (a bug, in a template engine or ours) fails this email only; uncaught, rayon
        // would abort the whole run.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        // The receiver is gone only when the run was dropped; nothing to tell then.
        let _ = tx.send(done);
    });
    match rx.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(panic)) => Err(RenderError::Bug(format!(
            "rendering this email failed unexpectedly (a bug; please report it): {}",
            panic_message(&*panic)
        ))),
        Err(_) => Err(RenderError::Template(
            "the rendering thread went away".into(),
        )),
    }
}

/// The reason recorded for an email whose `phase` panicked.
pub(super) fn bug(phase: &str, panic: &(dyn std::any::Any + Send)) -> String {
    format!(
        "{phase} this email failed unexpectedly (a bug; please report it): {}",
        panic_message(panic)
    )
}

/// Runs a ledger call on one send, (campaign, booking), off the async threads (a commit waits for
/// the disk).
pub(super) async fn on_ledger<T: Send + 'static>(
    ledger: &Arc<dyn SendLedger>,
    (campaign, booking_id): (&str, &str),
    f: impl FnOnce(&dyn SendLedger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    // On the runtime's own thread when it may block one (a commit without fsync takes
    // microseconds; a hop to the blocking pool and back costs more), else on the blocking pool.
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread
    {
        return tokio::task::block_in_place(|| f(&**ledger, campaign, booking_id))
            .map_err(Stop::Ledger);
    }
    on_ledger_aside(ledger, (campaign, booking_id), f).await
}

/// [`on_ledger`] on the blocking pool always, for a call that goes on beside other work of the
/// same task.
pub(super) async fn on_ledger_aside<T: Send + 'static>(
    ledger: &Arc<dyn SendLedger>,
    (campaign, booking_id): (&str, &str),
    f: impl FnOnce(&dyn SendLedger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    let shared = Arc::clone(ledger);
    let (campaign, booking_id) = (campaign.to_string(), booking_id.to_string());
    match tokio::task::spawn_blocking(move || f(&*shared, &campaign, &booking_id)).await {
        Ok(r) => r.map_err(Stop::Ledger),
        Err(e) => Err(Stop::Ledger(LedgerError::Open {
            path: ledger.path().to_path_buf(),
            reason: format!("the ledger task failed: {e}"),
        })),
    }
}
