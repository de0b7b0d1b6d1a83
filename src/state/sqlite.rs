//! [`StateDb`]: the state in the SQLite file of the ledger, opened without the runner lock (WAL and a
//! busy timeout let it write beside a runner), and its pauses and audit list.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::schema::{self, parse_stamp, stamp, SCHEMA_VERSION};
use super::{AuditAction, AuditEntry, Pause, RunEmail, RunOutcome, RunRow, StateStore};
use super::{LedgerError, RunKind};

/// How long a write waits for another connection's (a runner's commit) before it fails.
const BUSY: Duration = Duration::from_secs(10);

/// The state database in SQLite: one connection, shared by the threads that hold it.
pub struct StateDb {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The file's schema version when opened: 0 for a read-only look at a ledger older than the
    /// state (then every read finds nothing and writes are refused).
    version: u32,
}

impl StateDb {
    /// Opens the state at `path` for reading and writing, creating the file, its folder and its
    /// tables when missing and applying the migrations an older file lacks. Takes no lock: a runner
    /// may be sending from the same file.
    pub fn open(path: &Path) -> Result<StateDb, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LedgerError::Open {
                path: path.to_path_buf(),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_err(path, e.to_string()))?;
        conn.busy_timeout(BUSY)
            .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .map_err(|source| sql_err(path, source))?;
        match schema::migrate(&mut conn) {
            Ok(()) => {}
            Err(Ok(v)) => return Err(newer(path, v)),
            Err(Err(source)) => return Err(sql_err(path, source)),
        }
        Ok(StateDb {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            version: SCHEMA_VERSION,
        })
    }

    /// Opens the state at `path` to read it, when the file exists (it is neither created nor
    /// changed: a dry run, a files-only run and `plan` read the pauses this way). A file older
    /// than the state reads as having none; writes through it are refused.
    pub fn open_if_exists(path: &Path) -> Result<Option<StateDb>, LedgerError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| open_err(path, e.to_string()))?;
        conn.busy_timeout(BUSY)
            .map_err(|source| sql_err(path, source))?;
        let version = schema::version(&conn).map_err(|source| sql_err(path, source))?;
        if version > SCHEMA_VERSION {
            return Err(newer(path, version));
        }
        Ok(Some(StateDb {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            version,
        }))
    }

    /// The state file, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file has the state's tables (a read-only look at an older ledger has not).
    pub(super) fn has_tables(&self) -> bool {
        self.version >= 1
    }

    /// Runs `f` on the connection; its SQL error is told with the file's path.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| sql_err(&self.path, source))
    }

    /// As [`StateDb::with`], for a write: refused on a file opened read-only before the state.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        if !self.has_tables() {
            return Err(open_err(
                &self.path,
                "opened to read, and older than the state tables: open it to write".into(),
            ));
        }
        self.with(f)
    }

    /// Every campaign paused now, by name.
    pub fn pauses(&self) -> Result<Vec<Pause>, LedgerError> {
        if !self.has_tables() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT campaign, paused_by, paused_at FROM pauses ORDER BY campaign",
            )?;
            let rows = stmt.query_map([], pause_of)?;
            rows.collect()
        })
    }

    /// The pause of `campaign`, if it is paused.
    pub fn is_paused(&self, campaign: &str) -> Result<Option<Pause>, LedgerError> {
        if !self.has_tables() {
            return Ok(None);
        }
        self.with(|c| {
            c.query_row(
                "SELECT campaign, paused_by, paused_at FROM pauses WHERE campaign = ?1",
                [campaign],
                pause_of,
            )
            .optional()
        })
    }

    /// Pauses (`paused`) or resumes `campaign` as `who` at `at`: `true` when that changed
    /// anything; then, in the same transaction, an audit entry is written.
    pub fn set_paused(
        &self,
        campaign: &str,
        paused: bool,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let changed = match paused {
                true => tx.execute(
                    "INSERT INTO pauses (campaign, paused_by, paused_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (campaign) DO NOTHING",
                    (campaign, who, stamp(at)),
                )?,
                false => tx.execute("DELETE FROM pauses WHERE campaign = ?1", [campaign])?,
            };
            if changed > 0 {
                let action = match paused {
                    true => AuditAction::Pause,
                    false => AuditAction::Resume,
                };
                tx.execute(
                    "INSERT INTO audit (at, who, action, campaign) VALUES (?1, ?2, ?3, ?4)",
                    (stamp(at), who, action.as_str(), campaign),
                )?;
            }
            tx.commit()?;
            Ok(changed > 0)
        })
    }

    /// The last `limit` audit entries, newest first (in the order they were written).
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, LedgerError> {
        if !self.has_tables() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, who, action, campaign FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit_of(limit)], |r| {
                let action: String = r.get(2)?;
                Ok(AuditEntry {
                    at: parse_stamp(&r.get::<_, String>(0)?, 0)?,
                    who: r.get(1)?,
                    action: AuditAction::parse(&action).ok_or_else(|| bad_text(2, &action))?,
                    campaign: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }
}

/// A row of `pauses`.
fn pause_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pause> {
    Ok(Pause {
        campaign: r.get(0)?,
        by: r.get(1)?,
        at: parse_stamp(&r.get::<_, String>(2)?, 2)?,
    })
}

/// A `LIMIT` of `n` rows (SQLite's integers are signed).
pub(super) fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A text column holding a value this build does not know.
pub(super) fn bad_text(column: usize, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unknown value {value:?}").into(),
    )
}

fn open_err(path: &Path, reason: String) -> LedgerError {
    LedgerError::Open {
        path: path.to_path_buf(),
        reason,
    }
}

fn sql_err(path: &Path, source: rusqlite::Error) -> LedgerError {
    LedgerError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

fn newer(path: &Path, v: u32) -> LedgerError {
    open_err(
        path,
        format!(
            "its state schema is version {v}, newer than this tripmail's ({SCHEMA_VERSION}): use the tripmail that wrote it"
        ),
    )
}

impl StateStore for StateDb {
    fn pauses(&self) -> Result<Vec<Pause>, LedgerError> {
        StateDb::pauses(self)
    }
    fn is_paused(&self, campaign: &str) -> Result<Option<Pause>, LedgerError> {
        StateDb::is_paused(self, campaign)
    }
    fn set_paused(
        &self,
        campaign: &str,
        paused: bool,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        StateDb::set_paused(self, campaign, paused, who, at)
    }
    fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, LedgerError> {
        StateDb::audit(self, limit)
    }
    fn run_started(
        &self,
        kind: RunKind,
        run_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        StateDb::run_started(self, kind, run_at, started_at)
    }
    fn run_finished(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        outcome: &RunOutcome<'_>,
    ) -> Result<(), LedgerError> {
        StateDb::run_finished(self, id, finished_at, outcome)
    }
    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, LedgerError> {
        StateDb::runs(self, limit)
    }
    fn run(&self, id: i64) -> Result<Option<(RunRow, Vec<RunEmail>)>, LedgerError> {
        StateDb::run(self, id)
    }
    fn run_outcomes(&self, id: i64) -> Result<Vec<(String, String, u64)>, LedgerError> {
        StateDb::run_outcomes(self, id)
    }
    fn end_abandoned_runs(&self, at: DateTime<Utc>) -> Result<usize, LedgerError> {
        StateDb::end_abandoned_runs(self, at)
    }
    fn path(&self) -> &Path {
        StateDb::path(self)
    }
}
