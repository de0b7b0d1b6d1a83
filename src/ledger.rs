//! The send ledger: a SQLite file recording, per (campaign, booking), the email's Message-ID and its
//! state, so that each booking gets each campaign's email at most once, across runs and crashes.
//!
//! A send goes `claimed` (written before the SMTP transaction starts) → `sent` (written as soon as the
//! server accepted it), or `failed` (a permanent rejection, not tried again) or `deferred` (temporary
//! failures ran out of tries; the next run tries again). Only one runner may hold the ledger at a time
//! (an OS lock on `<path>.lock`, released by the kernel when the process dies, even by `kill -9`), so a
//! `claimed` row found when a run starts was left by a run that died mid-transaction: the server may or
//! may not have accepted it. The README's "Exactly once" section says what the runner does about it.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A ledger that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file, its folder or its lock could not be opened.
    #[error("ledger {path} (state.path or --state): {reason}")]
    Open {
        /// The ledger file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another runner holds the ledger.
    #[error("ledger {path} is in use by another tripmail run (lock {lock}); two runners must not send from one ledger at once")]
    Busy {
        /// The ledger file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A read or write failed.
    #[error("ledger {path}: {source}")]
    Sql {
        /// The ledger file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

/// Where a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendState {
    /// A run took it and was sending it (or died doing so).
    Claimed,
    /// The server accepted it.
    Sent,
    /// The server rejected it for good; not tried again.
    Failed,
    /// Temporary failures ran out of tries; the next run tries again.
    Deferred,
}

impl SendState {
    fn as_str(self) -> &'static str {
        match self {
            SendState::Claimed => "claimed",
            SendState::Sent => "sent",
            SendState::Failed => "failed",
            SendState::Deferred => "deferred",
        }
    }

    fn parse(s: &str) -> Option<SendState> {
        Some(match s {
            "claimed" => SendState::Claimed,
            "sent" => SendState::Sent,
            "failed" => SendState::Failed,
            "deferred" => SendState::Deferred,
            _ => return None,
        })
    }
}

impl fmt::Display for SendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Ledger::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time: claimed now, send it.
    New,
    /// Deferred by an earlier run: claimed again, send it.
    Retry,
    /// Claimed by a run that died mid-send: claimed again, send it (see the README).
    InDoubt,
    /// Already done (sent or failed), or claimed by this very run (the booking is in the input
    /// twice): do not send.
    Done(SendState),
}

/// One row, for `tripmail ledger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// State.
    pub state: SendState,
    /// The email's Message-ID.
    pub message_id: String,
    /// Recipient address.
    pub recipient: String,
    /// SMTP tries so far.
    pub attempts: u32,
    /// The server's last reply, or the last error.
    pub reply: Option<String>,
    /// When the state was written (clock time).
    pub updated_at: String,
    /// The `--now` of the run that wrote it.
    pub run_at: String,
    /// Times a run took it over from one that died while it was claimed (and sent it again).
    pub takeovers: u32,
}

/// The ledger, open for one runner.
pub struct Ledger {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Held while the ledger is open for sending; the OS drops it with the process.
    _lock: Option<File>,
    /// What this runner claimed: a `claimed` row among these is this run's own (a booking listed
    /// twice in the input), not a dead run's.
    mine: Mutex<HashSet<(String, String)>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sends (
    campaign    TEXT NOT NULL,
    booking_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'sent', 'failed', 'deferred')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    reply       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    run_at      TEXT NOT NULL,
    PRIMARY KEY (campaign, booking_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sends_state ON sends (state);
";

/// Columns added since the first schema, each with its `ALTER TABLE`, applied to a ledger that
/// lacks them.
const ADDED_COLUMNS: [(&str, &str); 1] = [(
    "takeovers",
    "ALTER TABLE sends ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0",
)];

/// Adds the columns of [`ADDED_COLUMNS`] that `c`'s table lacks.
fn add_columns(c: &Connection) -> rusqlite::Result<()> {
    let mut stmt = c.prepare("SELECT name FROM pragma_table_info('sends')")?;
    let have: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (column, alter) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == column) {
            c.execute_batch(alter)?;
        }
    }
    Ok(())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Ledger {
    /// Opens (creating it and its folder when missing) the ledger at `path` for sending, taking the
    /// runner lock; fails with [`LedgerError::Busy`] when another process holds it.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let open_err = |reason: String| LedgerError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock_path = lock_path(path);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| open_err(format!("cannot open {}: {e}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LedgerError::Busy {
                    path: path.to_path_buf(),
                    lock: lock_path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(open_err(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )))
            }
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        let ledger = Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            _lock: Some(lock),
            mine: Mutex::new(HashSet::new()),
        };
        ledger.with(|c| {
            // WAL + FULL: a committed `sent` survives a crash of the process and of the machine.
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch(SCHEMA)?;
            add_columns(c)
        })?;
        Ok(ledger)
    }

    /// Opens an existing ledger to read it (no lock: a run may be going on).
    pub fn open_read(path: &Path) -> Result<Ledger, LedgerError> {
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
        let ledger = Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            _lock: None,
            mine: Mutex::new(HashSet::new()),
        };
        ledger.with(|c| c.busy_timeout(std::time::Duration::from_secs(10)))?;
        Ok(ledger)
    }

    /// Starts a new run on this ledger (a runner's next tick): a row left `claimed` by an earlier run
    /// (an email in doubt) is sent again, as a new process would.
    pub fn begin_run(&self) {
        self.mine.lock().unwrap_or_else(|p| p.into_inner()).clear();
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

    /// Takes (campaign, booking) for sending, unless it is already done. Written and committed
    /// before the SMTP transaction starts.
    pub fn claim(
        &self,
        campaign: &str,
        booking_id: &str,
        message_id: &str,
        recipient: &str,
        run_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Claim, LedgerError> {
        let key = (campaign.to_string(), booking_id.to_string());
        let mut mine = self.mine.lock().unwrap_or_else(|p| p.into_inner());
        let ours = mine.contains(&key);
        let claim = self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: Option<String> = tx
                .query_row(
                    "SELECT state FROM sends WHERE campaign = ?1 AND booking_id = ?2",
                    params![campaign, booking_id],
                    |r| r.get(0),
                )
                .optional()?;
            let claim = match found.as_deref().map(SendState::parse) {
                None => {
                    tx.execute(
                        "INSERT INTO sends (campaign, booking_id, message_id, recipient, state, \
                         created_at, updated_at, run_at) VALUES (?1, ?2, ?3, ?4, 'claimed', ?5, ?5, ?6)",
                        params![campaign, booking_id, message_id, recipient, stamp(at), stamp(run_at)],
                    )?;
                    Claim::New
                }
                Some(Some(done @ (SendState::Sent | SendState::Failed))) => Claim::Done(done),
                Some(Some(SendState::Claimed)) if ours => Claim::Done(SendState::Claimed),
                Some(previous) => {
                    let takeover = i64::from(previous == Some(SendState::Claimed));
                    tx.execute(
                        "UPDATE sends SET state = 'claimed', message_id = ?3, recipient = ?4, \
                         updated_at = ?5, run_at = ?6, takeovers = takeovers + ?7 \
                         WHERE campaign = ?1 AND booking_id = ?2",
                        params![
                            campaign,
                            booking_id,
                            message_id,
                            recipient,
                            stamp(at),
                            stamp(run_at),
                            takeover
                        ],
                    )?;
                    if previous == Some(SendState::Deferred) {
                        Claim::Retry
                    } else {
                        Claim::InDoubt
                    }
                }
            };
            tx.commit()?;
            Ok(claim)
        })?;
        if !matches!(claim, Claim::Done(_)) {
            mine.insert(key);
        }
        Ok(claim)
    }

    /// Records the end of a claimed send: `sent`, `failed` or `deferred`, with the server's reply and
    /// the tries it took.
    pub fn finish(
        &self,
        campaign: &str,
        booking_id: &str,
        state: SendState,
        reply: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE sends SET state = ?3, reply = ?4, attempts = attempts + ?5, updated_at = ?6 \
                 WHERE campaign = ?1 AND booking_id = ?2",
                params![campaign, booking_id, state.as_str(), reply, attempts, stamp(at)],
            )
            .map(drop)
        })
    }

    /// Settles an email in doubt (left `claimed` by a run that died) by hand, after checking the
    /// mailbox: `deferred` to send it again at the next run, or `sent` to close it. `false` when the
    /// email is not in doubt (no such row, or another state).
    pub fn settle_in_doubt(
        &self,
        campaign: &str,
        booking_id: &str,
        to: SendState,
        reply: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE sends SET state = ?3, reply = ?4, updated_at = ?5 \
                 WHERE campaign = ?1 AND booking_id = ?2 AND state = 'claimed'",
                params![campaign, booking_id, to.as_str(), reply, stamp(at)],
            )
            .map(|n| n == 1)
        })
    }

    /// Gives up a claim under which nothing was sent (the email could not be produced, was held, or
    /// the run was asked to stop), putting back what `claim` found: no row for a new one, `deferred`
    /// for a retry; a claim found in doubt stays in doubt.
    pub fn release(
        &self,
        campaign: &str,
        booking_id: &str,
        claimed: Claim,
    ) -> Result<(), LedgerError> {
        let sql = match claimed {
            Claim::New => {
                "DELETE FROM sends WHERE campaign = ?1 AND booking_id = ?2 AND state = 'claimed'"
            }
            Claim::Retry => {
                "UPDATE sends SET state = 'deferred' WHERE campaign = ?1 AND booking_id = ?2 \
                 AND state = 'claimed'"
            }
            Claim::InDoubt | Claim::Done(_) => return Ok(()),
        };
        self.with(|c| c.execute(sql, params![campaign, booking_id]).map(drop))
    }

    /// The state of one send, if the ledger knows it.
    pub fn state(
        &self,
        campaign: &str,
        booking_id: &str,
    ) -> Result<Option<SendState>, LedgerError> {
        self.with(|c| {
            c.query_row(
                "SELECT state FROM sends WHERE campaign = ?1 AND booking_id = ?2",
                params![campaign, booking_id],
                |r| r.get::<_, String>(0),
            )
            .optional()
        })
        .map(|s| s.as_deref().and_then(SendState::parse))
    }

    /// Every row, or one campaign's, ordered by campaign then booking.
    pub fn entries(&self, campaign: Option<&str>) -> Result<Vec<Entry>, LedgerError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT campaign, booking_id, state, message_id, recipient, attempts, reply, \
                 updated_at, run_at, takeovers FROM sends WHERE ?1 IS NULL OR campaign = ?1 \
                 ORDER BY campaign, booking_id",
            )?;
            let rows = stmt.query_map(params![campaign], |r| {
                let state: String = r.get(2)?;
                Ok(Entry {
                    campaign: r.get(0)?,
                    booking_id: r.get(1)?,
                    state: SendState::parse(&state).unwrap_or(SendState::Claimed),
                    message_id: r.get(3)?,
                    recipient: r.get(4)?,
                    attempts: r.get(5)?,
                    reply: r.get(6)?,
                    updated_at: r.get(7)?,
                    run_at: r.get(8)?,
                    takeovers: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap()
    }

    #[test]
    fn a_send_is_claimed_once_and_done_stays_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/ledger.sqlite");
        let now = t("2026-12-10T09:00:00Z");
        let l = Ledger::open(&path).unwrap();
        let claim = |l: &Ledger| l.claim("c", "B1", "c.B1@x", "a@x", now, now).unwrap();
        assert_eq!(claim(&l), Claim::New);
        l.finish("c", "B1", SendState::Sent, "250 ok", 1, now)
            .unwrap();
        assert_eq!(claim(&l), Claim::Done(SendState::Sent));
        assert_eq!(
            l.claim("c", "B2", "c.B2@x", "b@x", now, now).unwrap(),
            Claim::New
        );
        l.finish("c", "B2", SendState::Deferred, "451 later", 3, now)
            .unwrap();
        assert_eq!(
            l.claim("c", "B2", "c.B2@x", "b@x", now, now).unwrap(),
            Claim::Retry
        );
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        // The same booking twice in one run: the second is not sent.
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::Done(SendState::Claimed)
        );
        drop(l);
        // A claim left by a runner that is gone is in doubt for the next one.
        let l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::InDoubt
        );
        // Given up: it stays in doubt (the next run sends it again).
        l.release("c", "B3", Claim::InDoubt).unwrap();
        assert_eq!(l.state("c", "B3").unwrap(), Some(SendState::Claimed));
        // A new claim given up leaves no row; a retry given up is deferred again.
        assert_eq!(
            l.claim("c", "B4", "c.B4@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        l.release("c", "B4", Claim::New).unwrap();
        assert_eq!(l.state("c", "B4").unwrap(), None);
        assert_eq!(
            l.claim("c", "B5", "c.B5@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        l.finish("c", "B5", SendState::Deferred, "451 later", 1, now)
            .unwrap();
        l.begin_run();
        assert_eq!(
            l.claim("c", "B5", "c.B5@x", "c@x", now, now).unwrap(),
            Claim::Retry
        );
        l.release("c", "B5", Claim::Retry).unwrap();
        assert_eq!(l.state("c", "B5").unwrap(), Some(SendState::Deferred));
        let entries = l.entries(Some("c")).unwrap();
        let rows: Vec<(&str, SendState)> = entries
            .iter()
            .map(|e| (e.booking_id.as_str(), e.state))
            .collect();
        assert_eq!(
            rows,
            [
                ("B1", SendState::Sent),
                ("B2", SendState::Claimed),
                ("B3", SendState::Claimed),
                ("B5", SendState::Deferred)
            ]
        );
        assert_eq!(entries[0].reply.as_deref(), Some("250 ok"));
        assert_eq!(entries[1].attempts, 3);
    }

    #[test]
    fn a_second_runner_is_refused_while_the_first_holds_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let first = Ledger::open(&path).unwrap();
        match Ledger::open(&path) {
            Err(LedgerError::Busy { .. }) => {}
            other => panic!("expected Busy, got {:?}", other.map(|_| ())),
        }
        // Readers are not refused.
        assert!(Ledger::open_read(&path)
            .unwrap()
            .entries(None)
            .unwrap()
            .is_empty());
        drop(first);
        assert!(Ledger::open(&path).is_ok());
    }
}
