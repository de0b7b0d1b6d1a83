//! The state database's schema, versioned: `PRAGMA user_version` is the number of migrations
//! applied, and opening the file for writing applies the ones it lacks, each in its own
//! transaction. A second store (PostgreSQL, issue 19) mirrors the same tables and numbers.
//!
//! The `sends` table is the ledger's (`ledger::sqlite`): migration 1 creates it too when the state
//! is opened first (`tripmail pause` before any send), so that the file is always a whole ledger.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

/// The schema version this build writes (`PRAGMA user_version`): the number of migrations.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// One step of the schema: what it adds, in SQL.
type Migration = fn(&Connection) -> rusqlite::Result<()>;

/// The migrations, in order; `MIGRATIONS[i]` takes the file from version `i` to `i + 1`.
const MIGRATIONS: [Migration; 1] = [v1_pauses_audit_runs];

/// Version 1: pauses, the audit list, the run history (and the ledger's `sends`, when missing).
fn v1_pauses_audit_runs(c: &Connection) -> rusqlite::Result<()> {
    crate::ledger::sqlite::create_sends(c)?;
    c.execute_batch(
        "
CREATE TABLE IF NOT EXISTS pauses (
    campaign   TEXT PRIMARY KEY NOT NULL,
    paused_by  TEXT NOT NULL,
    paused_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    who       TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('pause', 'resume')),
    campaign  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL CHECK (kind IN ('run', 'tick')),
    run_at         TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    status         TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'stopped')),
    due            INTEGER NOT NULL DEFAULT 0,
    produced       INTEGER NOT NULL DEFAULT 0,
    sent           INTEGER NOT NULL DEFAULT 0,
    already_sent   INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    deferred       INTEGER NOT NULL DEFAULT 0,
    in_doubt       INTEGER NOT NULL DEFAULT 0,
    held           INTEGER NOT NULL DEFAULT 0,
    skipped        INTEGER NOT NULL DEFAULT 0,
    paused         INTEGER NOT NULL DEFAULT 0,
    interrupted    INTEGER NOT NULL DEFAULT 0,
    not_attempted  INTEGER NOT NULL DEFAULT 0,
    error          TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS run_emails (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    campaign    TEXT NOT NULL,
    booking_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
",
    )
}

/// The file's schema version (0: a ledger of before the state, or a new file).
pub(super) fn version(c: &Connection) -> rusqlite::Result<u32> {
    c.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the migrations `c`'s file lacks. `Err(Ok(v))`: the file is of a newer version `v`,
/// written by a newer tripmail, and is left as it is.
pub(super) fn migrate(c: &mut Connection) -> Result<(), Result<u32, rusqlite::Error>> {
    loop {
        // Each step in an immediate transaction: two processes opening an old file at once
        // apply each step once (the second sees the version the first wrote).
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(Err)?;
        let v = version(&tx).map_err(Err)?;
        if v > SCHEMA_VERSION {
            return Err(Ok(v));
        }
        let Some(step) = MIGRATIONS.get(v as usize) else {
            return Ok(());
        };
        step(&tx).map_err(Err)?;
        tx.pragma_update(None, "user_version", v + 1).map_err(Err)?;
        tx.commit().map_err(Err)?;
    }
}

/// A time as the state stores it: RFC 3339, UTC, to the millisecond (as the ledger does).
pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time [`stamp`] wrote; an unreadable one (edited by hand) is a read error of its column.
pub(super) fn parse_stamp(s: &str, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into())
        })
}
