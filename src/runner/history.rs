//! What a [`Job`] keeps in the state database: each tick's row in the run history, and the
//! pauses it goes by.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Job, TickError};
use crate::ledger::LedgerError;
use crate::report::Report;
use crate::state::{outcome_of, PauseWatch, RunKind, RunOutcome};

impl Job {
    /// The history's row of a run beginning, if the job keeps a history (a failure to write it
    /// is warned and does not stop the run).
    pub(super) fn history_begins(&self, kind: RunKind, now: DateTime<Utc>) -> Option<i64> {
        let state = self.state.as_ref()?;
        match state.run_started(kind, now, (self.clock)()) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!("the run's history: {e}");
                None
            }
        }
    }

    /// The campaigns paused as a tick starts, watched as it goes: from the state, or from
    /// `[state]` when it exists (read only).
    pub(super) fn pauses(&self) -> Result<PauseWatch, LedgerError> {
        let store = match &self.state {
            Some(state) => Some(Arc::clone(state)),
            None => crate::store::open_state_if_exists(&self.settings.state)?,
        };
        match store {
            Some(store) => PauseWatch::watching(store),
            None => Ok(PauseWatch::none()),
        }
    }

    /// The history's row of a run ended, if it has one (a failure to write it is warned).
    pub(super) fn history_ends(&self, id: Option<i64>, ticked: &Result<Report, TickError>) {
        let Some((state, id)) = self.state.as_ref().zip(id) else {
            return;
        };
        let outcome = match ticked {
            Ok(report) => outcome_of(report, self.halt.is_requested() && report.interrupted > 0),
            Err(e) => RunOutcome::failed(super::with_causes(e)),
        };
        if let Err(e) = state.run_finished(id, (self.clock)(), &outcome) {
            tracing::warn!("the run's history: {e}");
        }
    }
}
