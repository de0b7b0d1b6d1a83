//! The run history: a row per run or tick (kind, instants, status, counts, error) and its emails.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;

use super::schema::{parse_stamp, stamp};
use super::sqlite::{bad_text, limit_of};
use super::{RunEmail, RunKind, RunRow, RunStatus, StateDb};
use crate::ledger::LedgerError;
use crate::report::{FailedEmail, Report};

/// The emails of a run its history lists, at most (its counts are whole): a run of a million
/// emails keeps its first ten thousand, the ledger has them all.
pub const MAX_RUN_EMAILS: usize = 10_000;

/// What a run did, in numbers (as its report counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunCounts {
    /// Emails due.
    pub due: u64,
    /// Emails produced (made, written or sent).
    pub produced: u64,
    /// Emails the SMTP server accepted.
    pub sent: u64,
    /// Due emails an earlier run had sent.
    pub already_sent: u64,
    /// Emails that could not be produced or that the server refused for good.
    pub failed: u64,
    /// Emails whose temporary failures outlasted their tries (the next run tries again).
    pub deferred: u64,
    /// Emails the server may or may not have (in doubt, and held in doubt).
    pub in_doubt: u64,
    /// Emails held for the next tick (a recommendation API failed for them).
    pub held: u64,
    /// Input rows skipped, and due emails not sent on purpose (a reminder after a recent confirmation).
    pub skipped: u64,
    /// Due emails of paused campaigns, not produced.
    pub paused: u64,
    /// Due emails not started because the run was asked to stop.
    pub interrupted: u64,
    /// Due emails not tried because the run stopped on its own (server down, ledger broken).
    pub not_attempted: u64,
}

impl RunCounts {
    /// The counts of `report`.
    pub fn of(report: &Report) -> RunCounts {
        let len = |n: usize| n as u64;
        RunCounts {
            due: report.due,
            produced: report.rendered,
            sent: report.sent,
            already_sent: report.already_sent,
            failed: len(report.failed.len()),
            deferred: report.deferred,
            in_doubt: len(report.in_doubt.len() + report.held_in_doubt.len()),
            held: report.held,
            skipped: len(report.skipped_rows.len()) + report.skipped.values().sum::<u64>(),
            paused: report.paused.iter().map(|p| p.emails).sum(),
            interrupted: report.interrupted,
            not_attempted: report.not_attempted,
        }
    }

    /// In the order of the `runs` table's count columns.
    fn columns(&self) -> [i64; 12] {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        [
            n(self.due),
            n(self.produced),
            n(self.sent),
            n(self.already_sent),
            n(self.failed),
            n(self.deferred),
            n(self.in_doubt),
            n(self.held),
            n(self.skipped),
            n(self.paused),
            n(self.interrupted),
            n(self.not_attempted),
        ]
    }
}

/// The count columns of `runs`, in [`RunCounts::columns`]' order.
const COUNT_COLUMNS: &str = "due, produced, sent, already_sent, failed, deferred, in_doubt, held, \
                             skipped, paused, interrupted, not_attempted";

/// How a run ended, for [`StateDb::run_finished`]: its status and error, and its report when it
/// made one (the counts and emails come from it).
#[derive(Debug)]
pub struct RunOutcome<'a> {
    /// Done, failed or stopped.
    pub status: RunStatus,
    /// Why it failed or stopped.
    pub error: Option<String>,
    /// What it did, if it got as far as a report.
    pub report: Option<&'a Report>,
}

impl RunOutcome<'static> {
    /// A run that failed before it made a report (config, bookings, templates, SMTP settings).
    pub fn failed(error: String) -> RunOutcome<'static> {
        RunOutcome {
            status: RunStatus::Failed,
            error: Some(error),
            report: None,
        }
    }
}

impl StateDb {
    /// A run begins: its row, `running`, and its id.
    pub fn run_started(
        &self,
        kind: RunKind,
        run_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO runs (kind, run_at, started_at, status) VALUES (?1, ?2, ?3, 'running')",
                (kind.as_str(), stamp(run_at), stamp(started_at)),
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// A run ended: its status, error and counts, and its emails (the first [`MAX_RUN_EMAILS`]), in
    /// one transaction.
    pub fn run_finished(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        outcome: &RunOutcome<'_>,
    ) -> Result<(), LedgerError> {
        let counts = outcome.report.map(RunCounts::of).unwrap_or_default();
        let emails = outcome.report.map(emails_of).unwrap_or_default();
        self.write(|c| {
            let tx = c.transaction()?;
            let [a, b, cc, d, e, f, g, h, i, j, k, l] = counts.columns();
            tx.execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, error = ?4, due = ?5, produced = ?6, \
                 sent = ?7, already_sent = ?8, failed = ?9, deferred = ?10, in_doubt = ?11, \
                 held = ?12, skipped = ?13, paused = ?14, interrupted = ?15, not_attempted = ?16 \
                 WHERE id = ?1",
                rusqlite::params![
                    id,
                    stamp(finished_at),
                    outcome.status.as_str(),
                    outcome.error,
                    a, b, cc, d, e, f, g, h, i, j, k, l
                ],
            )?;
            insert_emails(&tx, id, &emails)?;
            tx.commit()
        })
    }

    /// The last `limit` runs, newest first, without their emails.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, LedgerError> {
        if !self.has_tables() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let sql = format!(
                "SELECT id, kind, run_at, started_at, finished_at, status, error, {COUNT_COLUMNS} \
                 FROM runs ORDER BY id DESC LIMIT ?1"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([limit_of(limit)], run_row)?;
            rows.collect()
        })
    }

    /// One run with its emails, in the order the run ended them.
    pub fn run(&self, id: i64) -> Result<Option<(RunRow, Vec<RunEmail>)>, LedgerError> {
        if !self.has_tables() {
            return Ok(None);
        }
        self.with(|c| {
            let sql = format!(
                "SELECT id, kind, run_at, started_at, finished_at, status, error, {COUNT_COLUMNS} \
                 FROM runs WHERE id = ?1"
            );
            let Some(row) = c.query_row(&sql, [id], run_row).optional()? else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(
                "SELECT campaign, booking_id, recipient, outcome, detail FROM run_emails \
                 WHERE run_id = ?1 ORDER BY seq",
            )?;
            let emails = stmt.query_map([id], |r| {
                Ok(RunEmail {
                    campaign: r.get(0)?,
                    booking_id: r.get(1)?,
                    recipient: r.get(2)?,
                    outcome: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?;
            Ok(Some((row, emails.collect::<rusqlite::Result<_>>()?)))
        })
    }

    /// How many emails of run `id` had each outcome, per campaign: `(campaign, outcome, emails)`,
    /// by campaign then outcome (counted by the database, not read one by one).
    pub fn run_outcomes(&self, id: i64) -> Result<Vec<(String, String, u64)>, LedgerError> {
        if !self.has_tables() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT campaign, outcome, count(*) FROM run_emails WHERE run_id = ?1 \
                 GROUP BY campaign, outcome ORDER BY campaign, outcome",
            )?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Marks every run still `running` as `stopped` ("the process ended mid-run"), at `at`. Call it
    /// only holding the ledger's runner lock: then no other runner is running, and a `running` row
    /// is one whose process died. The number of runs marked.
    pub fn end_abandoned_runs(&self, at: DateTime<Utc>) -> Result<usize, LedgerError> {
        self.write(|c| {
            c.execute(
                "UPDATE runs SET status = 'stopped', finished_at = ?1, \
                 error = 'the process ended mid-run' WHERE status = 'running'",
                [stamp(at)],
            )
        })
    }
}

/// A row of `runs`, as `runs` and `run` select it.
fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let kind: String = r.get(1)?;
    let status: String = r.get(5)?;
    let finished: Option<String> = r.get(4)?;
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(RunRow {
        id: r.get(0)?,
        kind: RunKind::parse(&kind).ok_or_else(|| bad_text(1, &kind))?,
        run_at: parse_stamp(&r.get::<_, String>(2)?, 2)?,
        started_at: parse_stamp(&r.get::<_, String>(3)?, 3)?,
        finished_at: finished.map(|f| parse_stamp(&f, 4)).transpose()?,
        status: RunStatus::parse(&status).ok_or_else(|| bad_text(5, &status))?,
        error: r.get(6)?,
        counts: RunCounts {
            due: n(7)?,
            produced: n(8)?,
            sent: n(9)?,
            already_sent: n(10)?,
            failed: n(11)?,
            deferred: n(12)?,
            in_doubt: n(13)?,
            held: n(14)?,
            skipped: n(15)?,
            paused: n(16)?,
            interrupted: n(17)?,
            not_attempted: n(18)?,
        },
    })
}

/// The emails of `report` a run's history lists: those failed, deferred, in doubt and held in
/// doubt, then those produced (sent, or written); the first [`MAX_RUN_EMAILS`].
pub(crate) fn emails_of(report: &Report) -> Vec<RunEmail> {
    let produced = match report.smtp.is_some() && report.redirected_to.is_none() {
        true => "sent",
        false => "written",
    };
    let mut emails = Vec::new();
    let others: [(&str, &[FailedEmail]); 4] = [
        ("failed", &report.failed),
        ("deferred", &report.deferred_emails),
        ("in-doubt", &report.in_doubt),
        ("held-in-doubt", &report.held_in_doubt),
    ];
    for (outcome, list) in others {
        for f in list {
            emails.push(RunEmail {
                campaign: f.campaign.clone(),
                booking_id: f.booking_id.clone(),
                recipient: String::new(),
                outcome: outcome.into(),
                detail: Some(f.reason.clone()),
            });
        }
    }
    let room = MAX_RUN_EMAILS.saturating_sub(emails.len());
    let records = report
        .emails
        .iter()
        .map(|r| r.take(room).collect::<Result<Vec<_>, _>>());
    let records = match records.and_then(|r| r) {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(
                "the run's history lists no produced email: cannot read its records: {e}"
            );
            Vec::new()
        }
    };
    for record in records {
        emails.push(RunEmail {
            campaign: record.campaign,
            booking_id: record.booking_id,
            recipient: record.to,
            outcome: produced.into(),
            detail: Some(record.subject),
        });
    }
    emails.truncate(MAX_RUN_EMAILS);
    emails
}

fn insert_emails(tx: &Transaction<'_>, id: i64, emails: &[RunEmail]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO run_emails (run_id, seq, campaign, booking_id, recipient, outcome, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (seq, e) in emails.iter().enumerate() {
        stmt.execute(rusqlite::params![
            id,
            seq as i64,
            e.campaign,
            e.booking_id,
            e.recipient,
            e.outcome,
            e.detail
        ])?;
    }
    Ok(())
}
