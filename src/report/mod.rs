//! The run's record: `report.json` (machine-readable) and `index.html` (one row per email, for review).
//!
//! This file holds the [`Report`] (what a run counts) and how it is written; `records` keeps the
//! produced emails' records without holding them all in memory, and `index` writes the review page.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::bookings::RowError;
use crate::deliver::write_atomically;

mod index;
mod records;
pub(crate) mod tally;

pub use records::{EmailLog, EmailRecord};

/// An email that was due but could not be produced.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedEmail {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// What went wrong.
    pub reason: String,
}

/// A due email not sent, on purpose (`skipped:recent_confirmation`): not a failure, not in doubt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedEmail {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// Why: `skipped:recent_confirmation`.
    pub reason: String,
    /// When the booking's confirmation went, or goes in this run (RFC 3339).
    pub confirmation_at: String,
    /// The first instant a later run may send it (the gap passed, still due and inside its
    /// campaign's schedule); `None` when its due window ends first: it will not be sent.
    pub goes_at: Option<String>,
}

impl SkippedEmail {
    /// The reason of a reminder held back after a recent confirmation.
    pub const RECENT_CONFIRMATION: &'static str = "skipped:recent_confirmation";
    /// How many skipped emails the report lists (`skipped` counts them all).
    pub const LISTED: usize = 1_000;
}

/// An email the SMTP server accepted whose `sent` the ledger could not take (a full disk, an I/O
/// error).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unrecorded {
    /// The send.
    #[serde(flatten)]
    pub send: crate::ledger::UnrecordedSend,
    /// The list the next run records it from before sending anything (`<ledger>.unrecorded.jsonl`);
    /// absent when that could not be written either: then a rerun sends it again unless it is
    /// recorded by hand first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_in: Option<String>,
    /// Why the ledger did not take it.
    pub error: String,
}

/// A campaign paused during a run (at its start, or while it went): its due emails were neither
/// produced nor claimed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PausedCampaign {
    /// The campaign.
    pub campaign: String,
    /// Who paused it.
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// Its due emails the run left for after the resume.
    pub emails: u64,
}

impl PausedCampaign {
    /// The entry of `pause`, no email counted yet.
    pub fn of(pause: &crate::state::Pause) -> PausedCampaign {
        PausedCampaign {
            campaign: pause.campaign.clone(),
            by: pause.by.clone(),
            at: pause.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            emails: 0,
        }
    }
}

/// The file written beside the report when some sends could not be recorded in the ledger.
pub const UNRECORDED_FILE: &str = "unrecorded-sends.json";

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The instant the run was made for.
    pub now: String,
    /// Emails due.
    pub due: u64,
    /// Emails produced.
    pub rendered: u64,
    /// Emails with a "Complete your trip" block.
    pub with_block: u64,
    /// Emails without one, counted by reason.
    pub without_block: BTreeMap<String, u64>,
    /// Input rows that were skipped.
    pub skipped_rows: Vec<RowError>,
    /// Requests made to the recommendation engine.
    pub engine_requests: u64,
    /// Queries answered from the per-run cache.
    pub cache_hits: u64,
    /// Each distinct failure of a recommendation API (`<provider>: <error>`), with the number of
    /// emails it left without a block.
    pub engine_errors: BTreeMap<String, u64>,
    /// Emails left without a block because the API refused the credentials (HTTP 401 or 403): a
    /// configuration problem, which makes the run's exit code 1.
    pub engine_refused: u64,
    /// Due emails that could not be produced, or that the SMTP server rejected for good.
    pub failed: Vec<FailedEmail>,
    /// The SMTP server emails went to (without credentials); absent when nothing was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
    /// The address every email went to instead of its customer (a sandbox preview or test send).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirected_to: Option<String>,
    /// Emails the SMTP server accepted.
    pub sent: u64,
    /// Tries made again after a temporary SMTP failure.
    pub retried: u64,
    /// Due emails the ledger says were sent by an earlier run: not sent again.
    pub already_sent: u64,
    /// Due emails an earlier run had rejected for good: not tried again (`tripmail ledger` lists them).
    pub previously_failed: u64,
    /// Emails whose temporary failures outlasted their tries: the next run tries them again.
    pub deferred: u64,
    /// The deferred emails, each with the last reply: printed at the end of the run.
    pub deferred_emails: Vec<FailedEmail>,
    /// Emails whose connection was lost after the whole message was sent, before the server's reply:
    /// the server may have them. Left claimed; the next run sends them again (README, "Exactly once").
    pub in_doubt: Vec<FailedEmail>,
    /// Emails a run that died mid-send had claimed, taken over from it and sent again (their
    /// campaign's `in_doubt` is `resend`; see the README, "Exactly once").
    pub resent_in_doubt: u64,
    /// Emails a run that died mid-send had claimed, not sent again (their campaign's `in_doubt` is
    /// `hold`): `tripmail ledger --only in-doubt` lists them until they are resent or closed.
    pub held_in_doubt: Vec<FailedEmail>,
    /// Due emails not tried because the run stopped early.
    pub not_attempted: u64,
    /// Due emails held for the runner's next tick because a recommendation API failed for them (a
    /// timeout, no connection, 429 or 5xx): nothing was sent; they go at the next tick.
    pub held: u64,
    /// Due emails not started because a signal (SIGINT, SIGTERM) stopped the run; left for the next
    /// run. Not a problem: the emails in flight were finished and recorded.
    pub interrupted: u64,
    /// Emails due but outside their campaign's dates, days or send window at `now`: they go later.
    pub waiting: u64,
    /// Emails due but that their campaign will not send before they stop being due (its dates,
    /// days or window leave no time).
    pub closed: u64,
    /// Due emails not sent on purpose, counted by reason (`skipped:recent_confirmation`: a reminder
    /// whose booking's confirmation went less than `min_hours_after_confirmation` before, or goes
    /// in this run). Not counted in `due`; a later run may send them.
    pub skipped: BTreeMap<String, u64>,
    /// The first [`SkippedEmail::LISTED`] of them, each with when it may go.
    pub skipped_emails: Vec<SkippedEmail>,
    /// Campaigns paused (`tripmail pause`, the console), at the run's start or during it: their due
    /// emails were not produced (not counted in `due`). Absent when none was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<PausedCampaign>,
    /// Why the run stopped before the end, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Emails the server accepted (counted in `sent`) whose `sent` the ledger could not take; also
    /// written to `unrecorded-sends.json` beside the report.
    pub unrecorded: Vec<Unrecorded>,
    /// Every produced email.
    pub emails: EmailLog,
}

impl Report {
    /// Whether anything went wrong: skipped rows, failed or deferred emails, a stopped run (exit code 1).
    pub fn has_problems(&self) -> bool {
        !self.skipped_rows.is_empty()
            || !self.failed.is_empty()
            || self.deferred > 0
            || !self.in_doubt.is_empty()
            || !self.held_in_doubt.is_empty()
            || self.not_attempted > 0
            || self.stopped.is_some()
            || !self.unrecorded.is_empty()
            || self.engine_refused > 0
    }

    /// Writes `report.json` and `index.html` into `dir`, straight to the files (no copy of the whole
    /// report in memory), each through a temporary file renamed over it (never through a symlink).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        self.write_json(&dir.join("report.json"))?;
        write_atomically(&dir.join("index.html"), |w| self.write_index(w))
    }

    /// Writes the JSON report alone, at `path`, through a temporary file renamed over it; and,
    /// when some sends could not be recorded in the ledger, [`UNRECORDED_FILE`] beside it.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        if !self.unrecorded.is_empty() {
            let beside = dir.unwrap_or(Path::new(".")).join(UNRECORDED_FILE);
            write_atomically(&beside, |w| {
                serde_json::to_writer_pretty(w, &self.unrecorded).map_err(std::io::Error::other)
            })?;
        }
        write_atomically(path, |w| {
            serde_json::to_writer_pretty(w, self).map_err(std::io::Error::other)
        })
    }
}
