//! [`PauseWatch`]: the campaigns paused, as a run sees them while it goes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{Pause, StateStore};
use crate::ledger::LedgerError;

/// The campaigns paused, as a run sees them: read when it starts, and read again from the store,
/// at most once a [`PauseWatch::REFRESH`], when the run asks about a campaign (before producing an
/// email and again before claiming it). So a pause made during a run stops that campaign's claims
/// within about [`PauseWatch::REFRESH`] of it; a resume made during a run is not taken back into it
/// (the emails it skipped go at the next run). Cheap to ask: a read lock, and a store read at most
/// once a [`PauseWatch::REFRESH`] by one of the askers while the others use what was read.
pub struct PauseWatch {
    store: Option<Arc<dyn StateStore>>,
    /// Every campaign seen paused during the run: a campaign once paused stays so for the run.
    paused: RwLock<BTreeMap<String, Pause>>,
    /// When the store was last read, in milliseconds since `base`.
    read_ms: AtomicU64,
    base: Instant,
    /// Held by the one asker reading the store.
    reading: Mutex<()>,
}

impl PauseWatch {
    /// How old the pauses a run goes by may be.
    pub const REFRESH: Duration = Duration::from_millis(500);

    /// No campaign paused, and none will be (no state file; previews and test sends).
    pub fn none() -> PauseWatch {
        PauseWatch::fixed(Vec::new())
    }

    /// These pauses, and no others.
    pub fn fixed(pauses: Vec<Pause>) -> PauseWatch {
        PauseWatch {
            store: None,
            paused: RwLock::new(
                pauses
                    .into_iter()
                    .map(|p| (p.campaign.clone(), p))
                    .collect(),
            ),
            read_ms: AtomicU64::new(0),
            base: Instant::now(),
            reading: Mutex::new(()),
        }
    }

    /// The pauses of `store`, read now, then again as the run goes.
    pub fn watching(store: Arc<dyn StateStore>) -> Result<PauseWatch, LedgerError> {
        let watch = PauseWatch {
            store: None,
            ..PauseWatch::fixed(store.pauses()?)
        };
        Ok(PauseWatch {
            store: Some(store),
            ..watch
        })
    }

    /// The pause of `campaign`, if it is paused (or was, since the run began).
    pub fn get(&self, campaign: &str) -> Option<Pause> {
        self.refresh();
        let paused = self.paused.read().unwrap_or_else(|p| p.into_inner());
        paused.get(campaign).cloned()
    }

    /// Every campaign seen paused since the run began, by name.
    pub fn seen(&self) -> Vec<Pause> {
        let paused = self.paused.read().unwrap_or_else(|p| p.into_inner());
        paused.values().cloned().collect()
    }

    /// Reads the store again when what was read is older than [`PauseWatch::REFRESH`] and no other
    /// asker is reading it. A store that cannot be read leaves the pauses as they were (warned).
    fn refresh(&self) {
        let Some(store) = &self.store else {
            return;
        };
        let now = self.base.elapsed().as_millis() as u64;
        let refresh = Self::REFRESH.as_millis() as u64;
        if now.saturating_sub(self.read_ms.load(Ordering::Relaxed)) < refresh {
            return;
        }
        let Ok(_reading) = self.reading.try_lock() else {
            return;
        };
        self.read_ms.store(now, Ordering::Relaxed);
        match store.pauses() {
            Ok(pauses) => {
                let mut paused = self.paused.write().unwrap_or_else(|p| p.into_inner());
                for p in pauses {
                    paused.entry(p.campaign.clone()).or_insert(p);
                }
            }
            Err(e) => tracing::warn!("cannot read the paused campaigns again: {e}"),
        }
    }
}
