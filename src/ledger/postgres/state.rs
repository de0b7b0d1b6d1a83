//! The state in PostgreSQL, beside the sends: pauses and their audit list, and the run history, so
//! that a pause made anywhere (a console, `tripmail pause`) holds for every runner at once, and
//! every runner's ticks are in one history.

use std::path::Path;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use tokio_postgres::Row;

use super::{params, PgFail, PgLedger};
use crate::ledger::LedgerError;
use crate::state::{
    emails_of, AuditAction, AuditEntry, Pause, RunCounts, RunEmail, RunKind, RunOutcome, RunRow,
    RunStatus, StateStore, MAX_RUN_EMAILS,
};

/// How long a run may stay `running` in the history before another runner marks it stopped: no
/// tick lasts this long, so its process ended mid-run.
const ABANDONED_AFTER_HOURS: f64 = 6.0;

impl PgLedger {
    fn pauses_where(&self, campaign: Option<&str>) -> Result<Vec<Pause>, LedgerError> {
        // Read by a run on its async threads ([`crate::state::PauseWatch`]): never waited for.
        let rows = self.rows(
            "SELECT campaign, by_whom, at FROM tripmail_pauses \
             WHERE $1::text IS NULL OR campaign = $1 ORDER BY campaign",
            params![campaign.map(str::to_string)],
            false,
        )?;
        self.read(&rows, |r| {
            Ok(Pause {
                campaign: r.try_get(0)?,
                by: r.try_get(1)?,
                at: r.try_get(2)?,
            })
        })
    }

    /// Each row of `rows` read by `one`.
    fn read<T>(
        &self,
        rows: &[Row],
        one: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
    ) -> Result<Vec<T>, LedgerError> {
        rows.iter()
            .map(|r| one(r).map_err(|e| self.error(PgFail::from(e))))
            .collect()
    }
}

fn run_row(r: &Row) -> Result<RunRow, tokio_postgres::Error> {
    let kind: String = r.try_get(1)?;
    let status: String = r.try_get(5)?;
    let counts: Option<String> = r.try_get(7)?;
    Ok(RunRow {
        id: r.try_get(0)?,
        kind: RunKind::parse(&kind).unwrap_or(RunKind::Tick),
        run_at: r.try_get(2)?,
        started_at: r.try_get(3)?,
        finished_at: r.try_get(4)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        error: r.try_get(6)?,
        counts: counts
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
    })
}

const RUN_COLUMNS: &str = "id, kind, run_at, started_at, finished_at, status, error, counts";

async fn finish_run(
    pool: Pool,
    id: i64,
    finished_at: DateTime<Utc>,
    status: &'static str,
    error: Option<String>,
    counts: String,
    emails: Vec<RunEmail>,
) -> Result<(), PgFail> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "UPDATE tripmail_runs SET finished_at = $2, status = $3, error = $4, counts = $5 \
         WHERE id = $1",
        &[&id, &finished_at, &status, &error, &counts],
    )
    .await?;
    tx.execute("DELETE FROM tripmail_run_emails WHERE run_id = $1", &[&id])
        .await?;
    let insert = tx
        .prepare(
            "INSERT INTO tripmail_run_emails (run_id, seq, campaign, booking_id, recipient, \
             outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for (seq, e) in emails.iter().take(MAX_RUN_EMAILS).enumerate() {
        let seq = seq as i32;
        tx.execute(
            &insert,
            &[
                &id,
                &seq,
                &e.campaign,
                &e.booking_id,
                &e.recipient,
                &e.outcome,
                &e.detail,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl StateStore for PgLedger {
    fn pauses(&self) -> Result<Vec<Pause>, LedgerError> {
        self.pauses_where(None)
    }

    fn is_paused(&self, campaign: &str) -> Result<Option<Pause>, LedgerError> {
        Ok(self.pauses_where(Some(campaign))?.into_iter().next())
    }

    fn set_paused(
        &self,
        campaign: &str,
        paused: bool,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let (c, w) = (campaign.to_string(), who.to_string());
        self.with_wait(|pool| {
            let (c, w) = (c.clone(), w.clone());
            async move {
                let mut client = pool.get().await?;
                let tx = client.transaction().await?;
                let changed = match paused {
                    true => {
                        tx.execute(
                            "INSERT INTO tripmail_pauses (campaign, by_whom, at) \
                             VALUES ($1, $2, $3) ON CONFLICT (campaign) DO NOTHING",
                            &[&c, &w, &at],
                        )
                        .await?
                    }
                    false => {
                        tx.execute("DELETE FROM tripmail_pauses WHERE campaign = $1", &[&c])
                            .await?
                    }
                };
                if changed > 0 {
                    let action = match paused {
                        true => AuditAction::Pause,
                        false => AuditAction::Resume,
                    };
                    tx.execute(
                        "INSERT INTO tripmail_audit (at, who, action, campaign) \
                         VALUES ($1, $2, $3, $4)",
                        &[&at, &w, &action.as_str(), &c],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(changed > 0)
            }
        })
    }

    fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, LedgerError> {
        let rows = self.rows(
            "SELECT at, who, action, campaign FROM tripmail_audit ORDER BY id DESC LIMIT $1",
            params![i64::try_from(limit).unwrap_or(i64::MAX)],
            true,
        )?;
        let read = self.read(&rows, |r| {
            let action: String = r.try_get(2)?;
            let Some(action) = AuditAction::parse(&action) else {
                return Ok(None);
            };
            Ok(Some(AuditEntry {
                at: r.try_get(0)?,
                who: r.try_get(1)?,
                action,
                campaign: r.try_get(3)?,
            }))
        });
        // AuditAction::parse's None: an action this version does not know, left out.
        Ok(read?.into_iter().flatten().collect())
    }

    fn run_started(
        &self,
        kind: RunKind,
        run_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        // Once: an INSERT tried again after a lost answer would make two rows.
        let rows = self.rows(
            "INSERT INTO tripmail_runs (kind, run_at, started_at, status, runner) \
             VALUES ($1, $2, $3, 'running', $4) RETURNING id",
            params![kind.as_str(), run_at, started_at, self.runner.clone()],
            false,
        )?;
        let ids = self.read(&rows, |r| r.try_get::<_, i64>(0))?;
        ids.first()
            .copied()
            .ok_or_else(|| self.error(PgFail::Other("no run id".into())))
    }

    fn run_finished(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        outcome: &RunOutcome<'_>,
    ) -> Result<(), LedgerError> {
        let counts = outcome.report.map(RunCounts::of).unwrap_or_default();
        let counts = serde_json::to_string(&counts).unwrap_or_default();
        let emails = outcome.report.map(emails_of).unwrap_or_default();
        let (status, error) = (outcome.status.as_str(), outcome.error.clone());
        self.with_wait(|pool| {
            finish_run(
                pool,
                id,
                finished_at,
                status,
                error.clone(),
                counts.clone(),
                emails.clone(),
            )
        })
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, LedgerError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM tripmail_runs ORDER BY id DESC LIMIT $1");
        let rows = self.rows(
            &sql,
            params![i64::try_from(limit).unwrap_or(i64::MAX)],
            true,
        )?;
        self.read(&rows, run_row)
    }

    fn run(&self, id: i64) -> Result<Option<(RunRow, Vec<RunEmail>)>, LedgerError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM tripmail_runs WHERE id = $1");
        let Some(row) = self
            .read(&self.rows(&sql, params![id], true)?, run_row)?
            .pop()
        else {
            return Ok(None);
        };
        let rows = self.rows(
            "SELECT campaign, booking_id, recipient, outcome, detail \
             FROM tripmail_run_emails WHERE run_id = $1 ORDER BY seq",
            params![id],
            true,
        )?;
        let emails = self.read(&rows, |r| {
            Ok(RunEmail {
                campaign: r.try_get(0)?,
                booking_id: r.try_get(1)?,
                recipient: r.try_get(2)?,
                outcome: r.try_get(3)?,
                detail: r.try_get(4)?,
            })
        })?;
        Ok(Some((row, emails)))
    }

    fn run_outcomes(&self, id: i64) -> Result<Vec<(String, String, u64)>, LedgerError> {
        let rows = self.rows(
            "SELECT campaign, outcome, count(*) FROM tripmail_run_emails \
             WHERE run_id = $1 GROUP BY campaign, outcome ORDER BY campaign, outcome",
            params![id],
            true,
        )?;
        self.read(&rows, |r| {
            let n: i64 = r.try_get(2)?;
            Ok((r.try_get(0)?, r.try_get(1)?, n.max(0) as u64))
        })
    }

    fn end_abandoned_runs(&self, at: DateTime<Utc>) -> Result<usize, LedgerError> {
        // Other runners may be running now: only a run older than any tick is marked.
        let ended = self.rows(
            "UPDATE tripmail_runs SET status = 'stopped', finished_at = $1, \
             error = 'the process ended mid-run' WHERE status = 'running' \
             AND started_at < now() - make_interval(hours => $2::float8::int) RETURNING id",
            params![at, ABANDONED_AFTER_HOURS],
            true,
        )?;
        Ok(ended.len())
    }

    fn path(&self) -> &Path {
        PgLedger::path(self)
    }
}
