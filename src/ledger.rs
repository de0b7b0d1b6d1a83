//! The send ledger: a SQLite file recording, per (campaign, booking), the email's Message-ID and its
//! state, so that each booking gets each campaign's email at most once, across runs and crashes.
//!
//! A send goes `claimed` (written before the SMTP transaction starts) → `sent` (written as soon as the
//! server accepted it), or `failed` (a permanent rejection, not tried again) or `deferred` (temporary
//! failures ran out of tries; the next run tries again). Only one runner may hold the ledger at a time
//! (an OS lock on the database file itself, released by the kernel when the process dies, even by
//! `kill -9`), so a `claimed` row found when a run starts was left by a run that died mid-transaction:
//! the server may or may not have accepted it. The README's "Exactly once" section says what the runner
//! does about it.
//!
//! The lock is an `flock` on the file, not on a name: a symlink, another spelling of the path, a bind
//! mount or a hard link all lead to the same inode and so to the same lock. SQLite's own locks are
//! POSIX (`fcntl`) locks, which are separate from `flock` on Linux and which the kernel drops when the
//! process closes *any* descriptor of the file; so the descriptor holding our lock is opened before the
//! connection and closed after it (the field order of [`Ledger`]).
//!
//! A ledger that cannot be written (a full disk, an I/O error) stops claiming at once. A `sent` that
//! cannot be written is tried again a few times, first after deleting a small reserve file kept beside
//! the ledger (`<ledger>.reserve`) to free room for exactly this; when it still fails the send is
//! listed in `<ledger>.unrecorded.jsonl` (appended and synced), which the next [`Ledger::open`] records
//! as `sent` before anything is claimed, then removes. The list has a reserve of its own
//! (`<ledger>.reserve-list`), deleted just before the first line is written under the connection's
//! lock, so that SQLite's retries cannot take that room.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

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
    #[error("ledger {path} is in use by another tripmail run (locked: {lock}); two runners must not send from one ledger at once")]
    Busy {
        /// The ledger file, as given.
        path: PathBuf,
        /// The file the lock is on: the ledger with every symlink resolved.
        lock: PathBuf,
    },
    /// An earlier write failed in this run: nothing more is claimed.
    #[error("ledger {path}: an earlier write failed; no email is started after it")]
    Stopped {
        /// The ledger file.
        path: PathBuf,
    },
    /// A `sent` could be written neither to the ledger nor to the list of unrecorded sends.
    #[error("ledger {path}: cannot record a sent email ({sql}), nor list it in {list}: {io}")]
    Unrecorded {
        /// The ledger file.
        path: PathBuf,
        /// The list a rerun reads.
        list: PathBuf,
        /// Why the ledger write failed.
        sql: String,
        /// Why the list could not be written.
        io: String,
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

/// An email the server accepted whose `sent` the ledger could not take: listed for the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnrecordedSend {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// The email's Message-ID (as claimed), to find it in the mailbox.
    pub message_id: String,
    /// Recipient address (as claimed).
    pub recipient: String,
    /// The server's reply.
    pub reply: String,
    /// SMTP tries it took.
    pub attempts: u32,
    /// When the server accepted it (clock time).
    pub at: String,
}

/// Where [`Ledger::finish`] put the outcome.
#[derive(Debug)]
pub enum Recorded {
    /// In the ledger.
    InLedger,
    /// Not in the ledger (`error` says why) but in `list`, which the next [`Ledger::open`] records.
    Listed {
        /// The send.
        send: UnrecordedSend,
        /// The list file.
        list: PathBuf,
        /// Why the ledger did not take it.
        error: Box<LedgerError>,
    },
}

/// How many times a `sent` is tried again before it is listed instead.
const SENT_TRIES: u32 = 4;
/// The room kept beside the ledger for the writes that record sends once the disk is full.
const RESERVE_BYTES: usize = 128 * 1024;
/// The room kept for the list of unrecorded sends: about 50 lines.
const LIST_RESERVE_BYTES: usize = 16 * 1024;

/// The ledger, open for one runner.
pub struct Ledger {
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

/// The columns of [`ADDED_COLUMNS`] that `c`'s table lacks.
fn missing_columns(c: &Connection) -> rusqlite::Result<Vec<&'static str>> {
    let mut stmt = c.prepare("SELECT name FROM pragma_table_info('sends')")?;
    let have: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ADDED_COLUMNS
        .iter()
        .map(|(column, _)| *column)
        .filter(|column| !have.iter().any(|h| h == column))
        .collect())
}

/// Adds the columns of [`ADDED_COLUMNS`] that `c`'s table lacks.
fn add_columns(c: &Connection) -> rusqlite::Result<()> {
    let missing = missing_columns(c)?;
    for (column, alter) in ADDED_COLUMNS {
        if missing.contains(&column) {
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
    /// runner lock on the database file; fails with [`LedgerError::Busy`] when another process
    /// holds it. Sends an earlier run listed as unrecorded are recorded as `sent` before it returns.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let open_err = |reason: String| LedgerError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        // An empty file is an empty SQLite database: create it to have something to lock.
        let lock = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| open_err(e.to_string()))?;
        let real = std::fs::canonicalize(path).map_err(|e| open_err(e.to_string()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LedgerError::Busy {
                    path: path.to_path_buf(),
                    lock: real,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(open_err(format!("cannot lock {}: {e}", real.display())))
            }
        }
        let conn = Connection::open(&real).map_err(|e| open_err(e.to_string()))?;
        let ledger = Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            _lock: Some(lock),
            real,
            broken: AtomicBool::new(false),
            recovered: Mutex::new(Vec::new()),
            mine: Mutex::new(HashSet::new()),
        };
        ledger.with(|c| {
            // WAL + FULL: a committed `sent` survives a crash of the process and of the machine.
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch(SCHEMA)?;
            add_columns(c)
        })?;
        *ledger.recovered.lock().unwrap_or_else(|p| p.into_inner()) = ledger.record_listed()?;
        ledger.keep_reserve();
        Ok(ledger)
    }

    /// Records as `sent` the sends an earlier run listed in [`Ledger::list_path`], then removes
    /// the list. Recording twice is harmless, so a list left by a crash here is simply read again.
    fn record_listed(&self) -> Result<Vec<UnrecordedSend>, LedgerError> {
        let list = self.list_path();
        let file = match File::open(&list) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.open_err(format!("cannot read {}: {e}", list.display()))),
        };
        let mut sends = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line =
                line.map_err(|e| self.open_err(format!("cannot read {}: {e}", list.display())))?;
            if line.trim().is_empty() {
                continue;
            }
            // A line cut short by a crash while it was written: that send was not listed whole,
            // and its `claimed` row stays in doubt.
            match serde_json::from_str::<UnrecordedSend>(&line) {
                Ok(send) => sends.push(send),
                Err(e) => tracing::warn!("{} line {}: ignored: {e}", list.display(), n + 1),
            }
        }
        self.with(|c| {
            let tx = c.transaction()?;
            for s in &sends {
                tx.execute(
                    "INSERT INTO sends (campaign, booking_id, message_id, recipient, state, reply, \
                     attempts, created_at, updated_at, run_at) \
                     VALUES (?1, ?2, ?3, ?4, 'sent', ?5, ?6, ?7, ?7, ?7) \
                     ON CONFLICT (campaign, booking_id) DO UPDATE SET state = 'sent', \
                     reply = excluded.reply, attempts = CASE WHEN state = 'sent' THEN attempts \
                     ELSE attempts + excluded.attempts END, \
                     updated_at = excluded.updated_at",
                    params![
                        s.campaign,
                        s.booking_id,
                        s.message_id,
                        s.recipient,
                        s.reply,
                        s.attempts,
                        s.at
                    ],
                )?;
            }
            tx.commit()
        })?;
        std::fs::remove_file(&list)
            .map_err(|e| self.open_err(format!("cannot remove {}: {e}", list.display())))?;
        Ok(sends)
    }

    fn open_err(&self, reason: String) -> LedgerError {
        LedgerError::Open {
            path: self.path.clone(),
            reason,
        }
    }

    /// Writes the reserve files when they are missing; without room for them the run goes on
    /// without.
    fn keep_reserve(&self) {
        for (suffix, bytes) in [
            (".reserve", RESERVE_BYTES),
            (".reserve-list", LIST_RESERVE_BYTES),
        ] {
            self.keep_reserve_file(suffix, bytes);
        }
    }

    fn keep_reserve_file(&self, suffix: &str, bytes: usize) {
        let reserve = self.sibling(suffix);
        if std::fs::metadata(&reserve).is_ok_and(|m| m.len() == bytes as u64) {
            return;
        }
        let written = File::create(&reserve).and_then(|mut f| {
            f.write_all(&vec![0u8; bytes])?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&reserve);
            tracing::warn!(
                "cannot keep {} (room to record sends on a full disk): {e}",
                reserve.display()
            );
        }
    }

    /// The ledger's path with every symlink resolved, plus `suffix`.
    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.real.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The list of sends the server accepted but the ledger could not record (JSON Lines), which
    /// the next [`Ledger::open`] records: `<ledger>.unrecorded.jsonl`, symlinks resolved.
    pub fn list_path(&self) -> PathBuf {
        self.sibling(".unrecorded.jsonl")
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
            real: path.to_path_buf(),
            broken: AtomicBool::new(false),
            recovered: Mutex::new(Vec::new()),
            mine: Mutex::new(HashSet::new()),
        };
        ledger.with(|c| c.busy_timeout(std::time::Duration::from_secs(10)))?;
        Ok(ledger)
    }

    /// Starts a new run on this ledger (a runner's next tick): a row left `claimed` by an earlier run
    /// (an email in doubt) is sent again, as a new process would.
    ///
    /// After a failed write, the run starts only when the ledger takes the sends listed as
    /// unrecorded (they are recorded first, as [`Ledger::open`] does); until then nothing is claimed.
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

    /// As [`Ledger::with`], for a write: a failure marks the ledger broken.
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

    /// Takes (campaign, booking) for sending, unless it is already done. Written and committed
    /// before the SMTP transaction starts. Refused ([`LedgerError::Stopped`]) once a write failed.
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
        if self.is_broken() {
            return Err(LedgerError::Stopped {
                path: self.path.clone(),
            });
        }
        let claim = self.write(|c| {
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
    /// the tries it took. A `sent` the ledger does not take is tried again (the first time after
    /// deleting the reserve file), then listed in [`Ledger::list_path`] for the next run
    /// ([`Recorded::Listed`]); an error then means it could not be listed either.
    pub fn finish(
        &self,
        campaign: &str,
        booking_id: &str,
        state: SendState,
        reply: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Recorded, LedgerError> {
        let update = || {
            self.write(|c| {
                c.execute(
                    "UPDATE sends SET state = ?3, reply = ?4, attempts = attempts + ?5, \
                     updated_at = ?6 WHERE campaign = ?1 AND booking_id = ?2 \
                     AND state = 'claimed'",
                    params![
                        campaign,
                        booking_id,
                        state.as_str(),
                        reply,
                        attempts,
                        stamp(at)
                    ],
                )
                .map(drop)
            })
        };
        let mut failed = match update() {
            Ok(()) => return Ok(Recorded::InLedger),
            Err(e) if state != SendState::Sent => return Err(e),
            Err(e) => e,
        };
        let _ = std::fs::remove_file(self.sibling(".reserve"));
        for n in 1..SENT_TRIES {
            match update() {
                Ok(()) => return Ok(Recorded::InLedger),
                Err(e) => failed = e,
            }
            std::thread::sleep(Duration::from_millis(50 << n));
        }
        // What was claimed, to list it whole (a read needs no room).
        let claimed = self
            .with(|c| {
                c.query_row(
                    "SELECT message_id, recipient FROM sends WHERE campaign = ?1 AND booking_id = ?2",
                    params![campaign, booking_id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        let send = UnrecordedSend {
            campaign: campaign.to_string(),
            booking_id: booking_id.to_string(),
            message_id: claimed.0,
            recipient: claimed.1,
            reply: reply.to_string(),
            attempts,
            at: stamp(at),
        };
        let list = self.list_path();
        match self.append_listed(&list, &send) {
            Ok(()) => Ok(Recorded::Listed {
                send,
                list,
                error: Box::new(failed),
            }),
            Err(e) => Err(LedgerError::Unrecorded {
                path: self.path.clone(),
                list,
                sql: failed.to_string(),
                io: e.to_string(),
            }),
        }
    }

    /// Appends one line to the list of unrecorded sends and syncs it (and, when it is new, its
    /// folder) to the disk.
    fn append_listed(&self, list: &Path, send: &UnrecordedSend) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(send).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let new = !list.exists();
        // One writer at a time: the connection's lock serialises appends with everything else, and
        // keeps SQLite off the room the list's reserve gives back.
        let _conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::fs::remove_file(self.sibling(".reserve-list"));
        let mut f = File::options().create(true).append(true).open(list)?;
        f.write_all(&line)?;
        f.sync_all()?;
        if let Some(dir) = list.parent().filter(|_| new) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
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
        self.write(|c| c.execute(sql, params![campaign, booking_id]).map(drop))
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
            // A ledger written by an older version, read before a run added the column, has none.
            let takeovers = match missing_columns(c)?.contains(&"takeovers") {
                true => "0",
                false => "takeovers",
            };
            let mut stmt = c.prepare(&format!(
                "SELECT campaign, booking_id, state, message_id, recipient, attempts, reply, \
                 updated_at, run_at, {takeovers} FROM sends WHERE ?1 IS NULL OR campaign = ?1 \
                 ORDER BY campaign, booking_id"
            ))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap()
    }

    #[test]
    fn a_ledger_of_an_older_version_is_read_as_it_is_and_gains_its_new_columns_when_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute(
                "INSERT INTO sends (campaign, booking_id, message_id, recipient, state, \
                 created_at, updated_at, run_at) VALUES ('c', 'B1', 'm', 'r', 'claimed', 'x', 'x', 'x')",
                [],
            )
            .unwrap();
        }
        let read = Ledger::open_read(&path).unwrap();
        let rows = read.entries(None).unwrap();
        assert_eq!((rows.len(), rows[0].takeovers), (1, 0));
        drop(read);
        let l = Ledger::open(&path).unwrap();
        let at = t("2026-12-10T09:00:00Z");
        assert_eq!(
            l.claim("c", "B1", "m", "r", at, at).unwrap(),
            Claim::InDoubt
        );
        assert_eq!(l.entries(None).unwrap()[0].takeovers, 1);
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
    fn a_sent_the_full_ledger_cannot_take_is_listed_and_recorded_by_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let now = t("2026-12-10T09:00:00Z");
        let l = Ledger::open(&path).unwrap();
        assert!(l.sibling(".reserve").exists());
        for b in ["B1", "B2"] {
            assert_eq!(
                l.claim("c", b, &format!("c.{b}@x"), "a@x", now, now)
                    .unwrap(),
                Claim::New
            );
        }
        l.fill_up().unwrap();
        // A reply long enough to need pages the ledger no longer has.
        let reply = format!("250 ok {}", "x".repeat(20_000));
        match l
            .finish("c", "B1", SendState::Sent, &reply, 1, now)
            .unwrap()
        {
            Recorded::Listed { send, list, .. } => {
                assert_eq!(list, l.list_path());
                assert_eq!(send.message_id, "c.B1@x");
            }
            other => panic!("expected Listed, got {other:?}"),
        }
        assert!(l.is_broken());
        assert!(!l.sibling(".reserve").exists(), "the reserve was given up");
        assert!(!l.sibling(".reserve-list").exists(), "and the list's");
        // Nothing more is claimed.
        assert!(matches!(
            l.claim("c", "B3", "c.B3@x", "a@x", now, now),
            Err(LedgerError::Stopped { .. })
        ));
        // A runner's next tick while the ledger is still full: the list stays, nothing is claimed.
        l.begin_run();
        assert!(l.is_broken());
        assert!(l.list_path().exists());
        drop(l);
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.take_recovered().len(), 1);
        assert!(l.take_recovered().is_empty());
        assert!(!l.list_path().exists());
        assert_eq!(l.state("c", "B1").unwrap(), Some(SendState::Sent));
        assert_eq!(l.state("c", "B2").unwrap(), Some(SendState::Claimed));
        assert_eq!(
            l.claim("c", "B1", "c.B1@x", "a@x", now, now).unwrap(),
            Claim::Done(SendState::Sent)
        );
    }

    #[test]
    fn one_lock_per_ledger_file_whatever_path_leads_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("real/ledger.sqlite");
        let first = Ledger::open(&path).unwrap();
        let alias = dir.path().join("alias.sqlite");
        std::os::unix::fs::symlink(&path, &alias).unwrap();
        let folder = dir.path().join("folder");
        std::os::unix::fs::symlink(dir.path().join("real"), &folder).unwrap();
        let linked = dir.path().join("hard.sqlite");
        std::fs::hard_link(&path, &linked).unwrap();
        for other in [alias, folder.join("ledger.sqlite"), linked] {
            match Ledger::open(&other) {
                Err(LedgerError::Busy { lock, .. }) => {
                    assert_eq!(lock, std::fs::canonicalize(&other).unwrap())
                }
                r => panic!(
                    "{}: expected Busy, got {:?}",
                    other.display(),
                    r.map(|_| ())
                ),
            }
        }
        drop(first);
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
