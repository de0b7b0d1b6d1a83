//! The report's tally: what became of each due email ([`Outcome`]), counted into the [`Report`].

use crate::bookings::RowError;
use crate::ledger::SendState;
use crate::report::{EmailRecord, FailedEmail, Report, SkippedEmail, Unrecorded};

/// One unit of the report.
pub(crate) enum Outcome {
    Skipped(RowError),
    Done {
        record: Box<EmailRecord>,
        sent: bool,
        in_doubt: bool,
        unrecorded: Option<Unrecorded>,
    },
    AlreadyDone(SendState),
    Failed(FailedEmail),
    Deferred(FailedEmail),
    InDoubt(FailedEmail),
    HeldInDoubt(FailedEmail),
    NotAttempted,
    Held,
    Interrupted,
    Waiting,
    Closed,
    /// Not sent on purpose (a reminder after a recent confirmation).
    SkippedEmail(SkippedEmail),
    /// Not produced: its campaign is paused.
    Paused(crate::state::Pause),
    /// Nothing to count: sent (or refused for good) by an earlier run.
    Settled,
}

impl Report {
    pub(crate) fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Skipped(e) => {
                tracing::warn!("skipped {e}");
                self.skipped_rows.push(e);
            }
            Outcome::Failed(f) => {
                tracing::warn!("{} / {}: {}", f.campaign, f.booking_id, f.reason);
                self.due += 1;
                self.failed.push(f);
            }
            Outcome::Deferred(f) => {
                tracing::warn!("{} / {}: deferred: {}", f.campaign, f.booking_id, f.reason);
                self.due += 1;
                self.deferred += 1;
                self.deferred_emails.push(f);
            }
            Outcome::InDoubt(f) => {
                tracing::warn!("{} / {}: in doubt: {}", f.campaign, f.booking_id, f.reason);
                self.due += 1;
                self.in_doubt.push(f);
            }
            Outcome::AlreadyDone(state) => {
                self.due += 1;
                match state {
                    SendState::Failed => self.previously_failed += 1,
                    // Claimed: the same booking earlier in this run's input; sent (or being sent) once.
                    _ => self.already_sent += 1,
                }
            }
            Outcome::NotAttempted => {
                self.due += 1;
                self.not_attempted += 1;
            }
            Outcome::Held => {
                self.due += 1;
                self.held += 1;
            }
            Outcome::HeldInDoubt(f) => {
                self.due += 1;
                self.held_in_doubt.push(f);
            }
            Outcome::Interrupted => {
                self.due += 1;
                self.interrupted += 1;
            }
            Outcome::Waiting => self.waiting += 1,
            Outcome::Closed => self.closed += 1,
            Outcome::SkippedEmail(s) => {
                *self.skipped.entry(s.reason.clone()).or_default() += 1;
                if self.skipped_emails.len() < SkippedEmail::LISTED {
                    self.skipped_emails.push(s);
                }
            }
            Outcome::Settled => {}
            Outcome::Paused(pause) => self.add_paused(&pause),
            Outcome::Done {
                record,
                sent,
                in_doubt,
                unrecorded,
            } => self.add_done(record, sent, in_doubt, unrecorded),
        }
    }

    /// A due email of a paused campaign, counted in its entry (added when the pause is new to the run).
    pub(crate) fn add_paused(&mut self, pause: &crate::state::Pause) {
        match self
            .paused
            .iter_mut()
            .find(|p| p.campaign == pause.campaign)
        {
            Some(entry) => entry.emails += 1,
            None => self.paused.push(crate::report::PausedCampaign {
                emails: 1,
                ..crate::report::PausedCampaign::of(pause)
            }),
        }
    }

    /// An email made (and sent, when `sent`).
    fn add_done(
        &mut self,
        record: Box<EmailRecord>,
        sent: bool,
        in_doubt: bool,
        unrecorded: Option<Unrecorded>,
    ) {
        if let Some(u) = unrecorded {
            tracing::warn!(
                "{} / {}: sent, but not recorded in the ledger: {}",
                u.send.campaign,
                u.send.booking_id,
                u.error
            );
            self.unrecorded.push(u);
        }
        self.due += 1;
        self.rendered += 1;
        self.sent += u64::from(sent);
        self.resent_in_doubt += u64::from(in_doubt);
        match &record.without_block {
            None => self.with_block += 1,
            Some(reason) => *self.without_block.entry(reason.clone()).or_default() += 1,
        }
        if let Some(e) = &record.engine_error {
            *self.engine_errors.entry(e.clone()).or_default() += 1;
        }
        if matches!(
            record.without_block.as_deref(),
            Some("engine_http_401" | "engine_http_403")
        ) {
            self.engine_refused += 1;
        }
        self.emails.push(*record);
    }
}
