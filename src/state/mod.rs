//! The state database: what the people running the campaigns decided (which campaigns are paused,
//! with who paused them and when, in an audit list) and what the runs did (their history: instants,
//! counts, status and emails). It lives beside the send ledger: in its SQLite file (`state.path`)
//! or its PostgreSQL database (`state.url`, [`crate::ledger::PgLedger`]); [`crate::store`] opens it.
//!
//! Unlike the ledger, the state is opened without the runner lock: a console or `tripmail pause`
//! writes a pause while a runner sends, and the runner reads it at once ([`PauseWatch`]).
//!
//! This file holds the values the state speaks in and the [`StateStore`] trait, which both stores
//! implement: [`StateDb`] (`sqlite`, its schema in `schema`, the run history in `runs`) and the
//! PostgreSQL one, so that the runner does not know which it has.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ledger::LedgerError;
use crate::report::Report;

mod runs;
mod schema;
mod sqlite;
#[cfg(test)]
mod tests;
mod watch;

pub(crate) use runs::emails_of;
pub use runs::{RunCounts, RunOutcome, MAX_RUN_EMAILS};
pub use schema::SCHEMA_VERSION;
pub use sqlite::StateDb;
pub use watch::PauseWatch;

/// A campaign paused: nothing of it is produced, claimed or sent until it is resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    /// The campaign.
    pub campaign: String,
    /// Who paused it (the console's login name, `--by`, `$USER`).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What an audit entry records; shown and serialized as its [`Display`](fmt::Display) says it
/// (`paused`, `resumed`), stored as [`AuditAction::as_str`] (`pause`, `resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditAction {
    /// A campaign was paused.
    #[serde(rename = "paused")]
    Pause,
    /// A campaign was resumed.
    #[serde(rename = "resumed")]
    Resume,
}

impl AuditAction {
    /// As stored: `pause` or `resume`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Pause => "pause",
            AuditAction::Resume => "resume",
        }
    }

    /// The action [`AuditAction::as_str`] wrote, if `s` is one.
    pub fn parse(s: &str) -> Option<AuditAction> {
        match s {
            "pause" => Some(AuditAction::Pause),
            "resume" => Some(AuditAction::Resume),
            _ => None,
        }
    }
}

impl fmt::Display for AuditAction {
    /// As a sentence says it: `paused`, `resumed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuditAction::Pause => "paused",
            AuditAction::Resume => "resumed",
        })
    }
}

/// One change of a campaign's state, as the audit list keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub who: String,
    /// What.
    pub action: AuditAction,
    /// Which campaign.
    pub campaign: String,
}

/// Which front end ran: `tripmail run` once, or a runner's tick (`run --every`, the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A single run.
    Run,
    /// A runner's tick.
    Tick,
}

impl RunKind {
    /// As stored and shown: `run` or `tick`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Tick => "tick",
        }
    }

    /// The kind [`RunKind::as_str`] wrote, if `s` is one.
    pub fn parse(s: &str) -> Option<RunKind> {
        match s {
            "run" => Some(RunKind::Run),
            "tick" => Some(RunKind::Tick),
            _ => None,
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Going on (or its process died: see [`StateStore::end_abandoned_runs`]).
    Running,
    /// Over: every due email went through (some may have failed: see the counts).
    Done,
    /// It could not run (config, bookings, templates, the SMTP server down, the ledger broken).
    Failed,
    /// Asked to stop (a signal, the console), or its process ended mid-run.
    Stopped,
}

impl RunStatus {
    /// As stored and shown: `running`, `done`, `failed`, `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }

    /// The status [`RunStatus::as_str`] wrote, if `s` is one.
    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "running" => RunStatus::Running,
            "done" => RunStatus::Done,
            "failed" => RunStatus::Failed,
            "stopped" => RunStatus::Stopped,
            _ => return None,
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    /// Its number, increasing.
    pub id: i64,
    /// A run or a tick.
    pub kind: RunKind,
    /// The instant it ran for (`--now`, or the tick's).
    pub run_at: DateTime<Utc>,
    /// When it started (clock time).
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while it runs.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub status: RunStatus,
    /// What it did.
    pub counts: RunCounts,
    /// Why it failed or stopped.
    pub error: Option<String>,
}

/// One email of a run, as its history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunEmail {
    /// The campaign.
    pub campaign: String,
    /// The booking.
    pub booking_id: String,
    /// The recipient; empty when the report does not name it (a failed or deferred email).
    pub recipient: String,
    /// `sent`, `written` (files only), `failed`, `deferred`, `in-doubt`, `held-in-doubt`.
    pub outcome: String,
    /// The subject of a produced email, the reason or reply of the others.
    pub detail: Option<String>,
}

/// What the state database does, whatever the store: the pauses and their audit list, and the run
/// history. Object-safe (`Arc<dyn StateStore>`) and synchronous (a call may wait for the disk or
/// the network: the run makes few of them, none per email but [`PauseWatch`]'s reads, at most one a
/// [`PauseWatch::REFRESH`]).
pub trait StateStore: Send + Sync {
    /// Every campaign paused now, by name.
    fn pauses(&self) -> Result<Vec<Pause>, LedgerError>;
    /// The pause of `campaign`, if it is paused.
    fn is_paused(&self, campaign: &str) -> Result<Option<Pause>, LedgerError>;
    /// Pauses (`paused`) or resumes `campaign`, as `who` at `at`: `true` when that changed
    /// anything, and then (only) an audit entry is written with it.
    fn set_paused(
        &self,
        campaign: &str,
        paused: bool,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError>;
    /// The last `limit` audit entries, newest first.
    fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, LedgerError>;
    /// A run begins: its row, `running`, and its id.
    fn run_started(
        &self,
        kind: RunKind,
        run_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<i64, LedgerError>;
    /// A run ended: its status, counts, error and emails (the first [`MAX_RUN_EMAILS`]).
    fn run_finished(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        outcome: &RunOutcome<'_>,
    ) -> Result<(), LedgerError>;
    /// The last `limit` runs, newest first, without their emails.
    fn runs(&self, limit: usize) -> Result<Vec<RunRow>, LedgerError>;
    /// One run's emails counted per campaign and outcome (`sent`, `failed`, …), by campaign.
    fn run_outcomes(&self, id: i64) -> Result<Vec<(String, String, u64)>, LedgerError>;
    /// One run with its emails.
    fn run(&self, id: i64) -> Result<Option<(RunRow, Vec<RunEmail>)>, LedgerError>;
    /// Marks every run still `running` as `stopped` ("the process ended mid-run"), at `at`: for a
    /// runner that has just taken the ledger's lock, when no other runner can be running. The
    /// number of runs marked.
    fn end_abandoned_runs(&self, at: DateTime<Utc>) -> Result<usize, LedgerError>;
    /// Where the store is (for messages).
    fn path(&self) -> &Path;
}

/// The outcome of a run that produced a report: `stopped` when it was asked to stop
/// (`halted`), `failed` when it stopped before its end on its own (the server unavailable, the
/// ledger broken), else `done`.
pub fn outcome_of(report: &Report, halted: bool) -> RunOutcome<'_> {
    let (status, error) = match (&report.stopped, halted) {
        (Some(why), _) => (RunStatus::Failed, Some(why.clone())),
        (None, true) => (
            RunStatus::Stopped,
            Some("asked to stop: the emails not started are left for the next run".into()),
        ),
        (None, false) => (RunStatus::Done, None),
    };
    RunOutcome {
        status,
        error,
        report: Some(report),
    }
}
