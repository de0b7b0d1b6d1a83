//! Where the run's work goes off the async threads: rendering on the rendering threads (rayon, one
//! per core), ledger calls on the store's lane or the blocking pool; and the words for a caught panic.

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
/// the disk): on the store's lane when it has one (SQLite), else on the blocking pool.
pub(super) async fn on_ledger<T: Send + 'static>(
    ledger: &Arc<dyn SendLedger>,
    key: (&str, &str),
    f: impl FnOnce(&dyn SendLedger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    call(ledger, key, false, f).await
}

/// [`on_ledger`] for a call that records the end of a send (its reply, or its release): on a lane,
/// it goes before the calls waiting for emails still being prepared, since a crash until it commits
/// leaves the email in doubt.
pub(super) async fn on_ledger_first<T: Send + 'static>(
    ledger: &Arc<dyn SendLedger>,
    key: (&str, &str),
    f: impl FnOnce(&dyn SendLedger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    call(ledger, key, true, f).await
}

async fn call<T: Send + 'static>(
    ledger: &Arc<dyn SendLedger>,
    (campaign, booking_id): (&str, &str),
    first: bool,
    f: impl FnOnce(&dyn SendLedger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    let shared = Arc::clone(ledger);
    let (campaign, booking_id) = (campaign.to_string(), booking_id.to_string());
    let call = move || f(&*shared, &campaign, &booking_id);
    let failed = || "it panicked, or the ledger's thread is gone".to_string();
    let done = match (ledger.lane(), first) {
        (Some(lane), true) => lane.run_first(call).await.ok_or_else(failed),
        (Some(lane), false) => lane.run(call).await.ok_or_else(failed),
        (None, _) => tokio::task::spawn_blocking(call)
            .await
            .map_err(|e| e.to_string()),
    };
    match done {
        Ok(r) => r.map_err(Stop::Ledger),
        Err(e) => Err(Stop::Ledger(LedgerError::Open {
            path: ledger.path().to_path_buf(),
            reason: format!("the ledger task failed: {e}"),
        })),
    }
}
