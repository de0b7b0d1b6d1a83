//! Where the send ledger and the state live, chosen by `[state]`: a SQLite file (`state.path`,
//! one runner at a time, held by a lock) or a PostgreSQL database (`state.url`, several runners,
//! each email claimed by one of them for a lease). Every front end opens them here, so that each
//! works on either.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::StateSettings;
use crate::ledger::{Ledger, LedgerError, PgLedger, SendLedger};
use crate::state::{StateDb, StateStore};

/// The ledger a runner sends with, and the state beside it.
pub type Held = (Arc<dyn SendLedger>, Arc<dyn StateStore>);

/// Opens the ledger for sending and the state beside it. SQLite: the runner lock is taken
/// ([`LedgerError::Busy`] when another runner holds it), and runs a dead process left `running`
/// are marked `stopped` at `at`. PostgreSQL: one connection pool serves both; other runners may
/// be running, so only runs older than any tick are marked.
pub fn open_for_sending(state: &StateSettings, at: DateTime<Utc>) -> Result<Held, LedgerError> {
    let (ledger, store): Held = match state.url {
        Some(_) => {
            let pg = Arc::new(PgLedger::open(state)?);
            (pg.clone(), pg)
        }
        None => (
            Arc::new(Ledger::open(&state.path)?),
            Arc::new(StateDb::open(&state.path)?),
        ),
    };
    let ended = store.end_abandoned_runs(at)?;
    if ended > 0 {
        tracing::warn!("{ended} runs left running by a process that ended are marked stopped");
    }
    Ok((ledger, store))
}

/// The state, created when missing (a pause written before anything was sent).
pub fn open_state(state: &StateSettings) -> Result<Arc<dyn StateStore>, LedgerError> {
    Ok(match state.url {
        Some(_) => Arc::new(PgLedger::open(state)?),
        None => Arc::new(StateDb::open(&state.path)?),
    })
}

/// The state when it exists (a SQLite file is not created to be read).
pub fn open_state_if_exists(
    state: &StateSettings,
) -> Result<Option<Arc<dyn StateStore>>, LedgerError> {
    Ok(match state.url {
        Some(_) => Some(Arc::new(PgLedger::open(state)?)),
        None => StateDb::open_if_exists(&state.path)?.map(|db| Arc::new(db) as Arc<dyn StateStore>),
    })
}

/// The ledger to read, when it exists (no lock: a run may be going on).
pub fn open_read(state: &StateSettings) -> Result<Option<Arc<dyn SendLedger>>, LedgerError> {
    Ok(match state.url {
        Some(_) => Some(Arc::new(PgLedger::open(state)?)),
        None if !state.path.exists() => None,
        None => Some(Arc::new(Ledger::open_read(&state.path)?)),
    })
}

/// The ledger to settle emails in doubt by hand: SQLite takes the runner lock (refused while a run
/// holds it); PostgreSQL settles only claims whose lease ran out.
pub fn open_to_settle(state: &StateSettings) -> Result<Arc<dyn SendLedger>, LedgerError> {
    Ok(match state.url {
        Some(_) => Arc::new(PgLedger::open(state)?),
        None => Arc::new(Ledger::open(&state.path)?),
    })
}
