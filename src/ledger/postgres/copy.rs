//! `tripmail ledger --copy-to postgres://…`: an existing SQLite ledger moved into PostgreSQL, so
//! that nothing already sent is sent again after the move. Rows are copied as they are (an email
//! claimed by a run that died stays in doubt, its lease over), pauses and the audit list with them;
//! a row the database has already is left as it is, so the copy can be run again.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::{PgFail, PgLedger};
use crate::ledger::{Entry, LedgerError};
use crate::state::{AuditEntry, Pause};

/// What a copy did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Sends written.
    pub sends: u64,
    /// Sends the database had as claimed or deferred that the SQLite ledger has as sent or failed:
    /// brought up to date (so that they are not sent again).
    pub settled: u64,
    /// Sends the database had already (left as they were).
    pub already: u64,
    /// Pauses written.
    pub pauses: u64,
    /// Audit entries written.
    pub audit: u64,
}

fn instant(s: &str) -> Result<DateTime<Utc>, PgFail> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| PgFail::Other(format!("an instant of the SQLite ledger, {s:?}: {e}")))
}

async fn copy_all(
    pool: Pool,
    sends: Vec<Entry>,
    pauses: Vec<Pause>,
    audit: Vec<AuditEntry>,
) -> Result<Copied, PgFail> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // A row already there is left, unless it is not known done there and is here (sent, failed):
    // then the SQLite ledger's word wins. `xmax = 0`: the row was inserted, not updated.
    let insert = tx
        .prepare(
            "INSERT INTO tripmail_sends AS s (campaign, booking_id, message_id, recipient, state, \
             attempts, reply, created_at, updated_at, run_at, takeovers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) \
             ON CONFLICT (campaign, booking_id) DO UPDATE SET state = EXCLUDED.state, \
             reply = EXCLUDED.reply, attempts = EXCLUDED.attempts, \
             updated_at = EXCLUDED.updated_at, runner = NULL, lease_until = NULL, token = NULL \
             WHERE s.state IN ('claimed', 'deferred') AND EXCLUDED.state IN ('sent', 'failed') \
             RETURNING (xmax = 0)",
        )
        .await?;
    let mut copied = Copied::default();
    for e in &sends {
        let (updated, run_at) = (instant(&e.updated_at)?, instant(&e.run_at)?);
        let attempts = i32::try_from(e.attempts).unwrap_or(i32::MAX);
        let takeovers = i32::try_from(e.takeovers).unwrap_or(i32::MAX);
        let row = tx
            .query_opt(
                &insert,
                &[
                    &e.campaign,
                    &e.booking_id,
                    &e.message_id,
                    &e.recipient,
                    &e.state.as_str(),
                    &attempts,
                    &e.reply,
                    &updated,
                    &run_at,
                    &takeovers,
                ],
            )
            .await?;
        match row.map(|r| r.try_get::<_, bool>(0)).transpose()? {
            None => copied.already += 1,
            Some(true) => copied.sends += 1,
            Some(false) => copied.settled += 1,
        }
    }
    for p in &pauses {
        copied.pauses += tx
            .execute(
                "INSERT INTO tripmail_pauses (campaign, by_whom, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (campaign) DO NOTHING",
                &[&p.campaign, &p.by, &p.at],
            )
            .await?;
    }
    // Oldest first, so that the ids keep their order; an entry already there is not doubled.
    for a in audit.iter().rev() {
        copied.audit += tx
            .execute(
                "INSERT INTO tripmail_audit (at, who, action, campaign) \
                 SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM tripmail_audit \
                 WHERE at = $1 AND who = $2 AND action = $3 AND campaign = $4)",
                &[&a.at, &a.who, &a.action.as_str(), &a.campaign],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(copied)
}

/// The longest a copy may take (one transaction, a round trip per row).
const COPY_WITHIN: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl PgLedger {
    /// Copies `sends`, `pauses` and `audit` (newest first, as [`crate::state::StateStore::audit`]
    /// gives them) in one transaction: all or nothing.
    pub fn copy_in(
        &self,
        sends: Vec<Entry>,
        pauses: Vec<Pause>,
        audit: Vec<AuditEntry>,
    ) -> Result<Copied, LedgerError> {
        let pool = self.pool.clone();
        self.call_for(copy_all(pool, sends, pauses, audit), COPY_WITHIN)
            .map_err(|f| self.error(f))
    }
}
