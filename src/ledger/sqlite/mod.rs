//! The SQLite ledger: one database file, held by one runner at a time through an OS lock on it
//! (see `lock`), read by anyone.
//!
//! Split by concern: `schema` (the table and its migrations), `lock` (the runner lock),
//! `sends` (claim, finish, release and the reads), `unrecorded` (the reserve files and the list of
//! sends a full disk kept out of the ledger). This file holds the store itself: opening it, the
//! connection, and the [`SendLedger`](crate::ledger::SendLedger) implementation.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rusqlite::Connection;

use super::{LedgerError, UnrecordedSend};

mod lock;
mod schema;
mod sends;
mod unrecorded;

/// The ledger, open for one runner.
pub struct SqliteLedger {
    path: PathBuf,
    /// Declared before `_lock`, so dropped (closed) first: closing the lock's descriptor while the
    /// connection is open would drop SQLite's POSIX locks on the same file.
    conn: Mutex<Connection>,
    /// An `flock` on the database file, held while the ledger is open for sending; the OS drops it
    /// with the process.
    _lock: Option<File>,
    /// The ledger with its symlinks resolved: the lock's file, and the base of the reserve and list.
    real: PathBuf,
    /// Set by the first failed write: from then on nothing is claimed.
    broken: AtomicBool,
    /// Sends listed by an earlier run and recorded as `sent` when this ledger was opened (or when
    /// a runner's tick found it writable again).
    recovered: Mutex<Vec<UnrecordedSend>>,
    /// What this runner claimed: a `claimed` row among these is this run's own (a booking listed
    /// twice in the input), not a dead run's.
    mine: Mutex<HashSet<(String, String)>>,
    /// The run's calls, on a thread of their own (started at the first).
    lane: std::sync::OnceLock<Option<super::Lane>>,
}

impl SqliteLedger {
    /// Opens (creating it and its folder when missing) the ledger at `path` for sending, taking the
    /// runner lock on the database file; fails with [`LedgerError::Busy`] when another process
    /// holds it. Sends an earlier run listed as unrecorded are recorded as `sent` before it returns.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let open_err = |reason: String| LedgerError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let (lock, real) = lock::lock(path)?;
        let conn = Connection::open(&real).map_err(|e| open_err(e.to_string()))?;
        let ledger = SqliteLedger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            _lock: Some(lock),
            real,
            broken: AtomicBool::new(false),
            recovered: Mutex::new(Vec::new()),
            mine: Mutex::new(HashSet::new()),
            lane: std::sync::OnceLock::new(),
        };
        ledger.with(|c| {
            // WAL + NORMAL: a commit survives a crash of the process; a power loss may undo the last
            // ones (the README, "Exactly once", says what follows).
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch(schema::SCHEMA)?;
            schema::add_columns(c)
        })?;
        *ledger.recovered.lock().unwrap_or_else(|p| p.into_inner()) = ledger.record_listed()?;
        ledger.keep_reserve();
        Ok(ledger)
    }

    fn open_err(&self, reason: String) -> LedgerError {
        LedgerError::Open {
            path: self.path.clone(),
            reason,
        }
    }

    /// Sends an earlier run listed as unrecorded and recorded as `sent` since the last call (when
    /// the ledger was opened, or when a runner's tick found it writable again).
    pub fn take_recovered(&self) -> Vec<UnrecordedSend> {
        std::mem::take(&mut *self.recovered.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Caps the database at its present size (SQLite's `max_page_count`, for this connection
    /// only): a write that needs another page fails as on a full disk. For tests of a full ledger.
    pub fn fill_up(&self) -> Result<(), LedgerError> {
        self.with(|c| {
            let pages: u64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            c.pragma_update(None, "max_page_count", pages)
        })
    }

    /// Whether a write failed in this run (then nothing more is claimed).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Opens an existing ledger to read it (no lock: a run may be going on).
    pub fn open_read(path: &Path) -> Result<SqliteLedger, LedgerError> {
        if !path.exists() {
            return Err(LedgerError::Open {
                path: path.to_path_buf(),
                reason: "no such file (nothing has been sent with this state path yet)".into(),
            });
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| LedgerError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let ledger = SqliteLedger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            _lock: None,
            real: path.to_path_buf(),
            broken: AtomicBool::new(false),
            recovered: Mutex::new(Vec::new()),
            mine: Mutex::new(HashSet::new()),
            lane: std::sync::OnceLock::new(),
        };
        ledger.with(|c| c.busy_timeout(std::time::Duration::from_secs(10)))?;
        Ok(ledger)
    }

    /// Starts a new run on this ledger (a runner's next tick): a row left `claimed` by an earlier run
    /// (an email in doubt) is sent again, as a new process would.
    ///
    /// After a failed write, the run starts only when the ledger takes the sends listed as
    /// unrecorded (they are recorded first, as [`SqliteLedger::open`] does); until then nothing is claimed.
    pub fn begin_run(&self) {
        self.mine.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if !self.is_broken() {
            return;
        }
        match self.record_listed() {
            Ok(sends) => {
                self.recovered
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(sends);
                self.keep_reserve();
                self.broken.store(false, Ordering::SeqCst);
            }
            Err(e) => tracing::warn!("{e}; nothing is sent until it is"),
        }
    }

    /// Whether this run claimed (campaign, booking) (the booking is in the input twice), as opposed
    /// to a dead run.
    pub fn claimed_here(&self, campaign: &str, booking_id: &str) -> bool {
        self.mine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(campaign.to_string(), booking_id.to_string()))
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| LedgerError::Sql {
            path: self.path.clone(),
            source,
        })
    }

    /// As [`SqliteLedger::with`], for a write: a failure marks the ledger broken.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let written = self.with(f);
        if written.is_err() {
            self.broken.store(true, Ordering::SeqCst);
        }
        written
    }
}

/// Creates the `sends` table in `c` when missing and adds the columns it lacks: for the state
/// database, which shares the file and creates it when it is opened first.
pub(crate) fn create_sends(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(schema::SCHEMA)?;
    schema::add_columns(c)
}

/// A UTC time from RFC 3339, for tests.
#[cfg(test)]
pub(crate) fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap()
}
