//! The `sends` table: its schema, the columns added since the first version (applied to an older
//! ledger when a run opens it), and how times are stored.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

pub(super) const SCHEMA: &str = "
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
pub(super) fn missing_columns(c: &Connection) -> rusqlite::Result<Vec<&'static str>> {
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
pub(super) fn add_columns(c: &Connection) -> rusqlite::Result<()> {
    let missing = missing_columns(c)?;
    for (column, alter) in ADDED_COLUMNS {
        if missing.contains(&column) {
            c.execute_batch(alter)?;
        }
    }
    Ok(())
}

/// A time as the ledger stores it: RFC 3339, UTC, to the millisecond.
pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::sqlite::{t, SqliteLedger};
    use crate::ledger::{Claim, SendLedger};

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
        let read = SqliteLedger::open_read(&path).unwrap();
        let rows = read.entries(None).unwrap();
        assert_eq!((rows.len(), rows[0].takeovers), (1, 0));
        drop(read);
        let l = SqliteLedger::open(&path).unwrap();
        let at = t("2026-12-10T09:00:00Z");
        assert_eq!(
            l.claim("c", "B1", "m", "r", at, at).unwrap(),
            Claim::InDoubt
        );
        assert_eq!(l.entries(None).unwrap()[0].takeovers, 1);
    }
}
