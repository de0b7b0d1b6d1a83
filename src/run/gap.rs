//! The run's side of [`crate::schedule::gap`]: when a reminder due now is held back because a
//! confirmation of the same booking went less than the campaign's `min_hours_after_confirmation`
//! before, or goes in this run. Decided for each booking before any of its emails starts, so the
//! outcome does not depend on which email of the booking finishes first.
//!
//! What counts as a confirmation that went, for each enabled confirmation campaign of the config
//! (one due now does not count while its campaign is paused: it does not go in this run):
//! - with a ledger: a `sent` row, at the `--now` of the run that sent it; a `claimed` row left by
//!   a dead run, at its claim (the server may have it); and one due now that is neither sent nor
//!   failed (it goes in this run, first). A `failed` one does not count, so a confirmation the
//!   server refused never holds the reminder past this run.
//! - without one (a dry run, files only, `--redirect-to`): one due now, and one whose first instant
//!   to go (the instant a runner would have sent it) is past.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::threads::on_ledger;
use super::Campaigns;
use crate::bookings::Booking;
use crate::config::{CampaignSettings, InDoubt, Trigger};
use crate::due::{due_span, next_send, when, Venue, When};
use crate::ledger::{SendLedger, SendState};
use crate::report::SkippedEmail;
use crate::schedule::gap::held_until;

impl Campaigns {
    /// `Some` when `campaign`'s email for `booking`, due at `now`, is a reminder held back by a
    /// recent confirmation: what the report says of it.
    pub(super) async fn held_back(
        &self,
        campaign: &CampaignSettings,
        booking: &Arc<Booking>,
        venue: &Venue,
        now: DateTime<Utc>,
        ledger: Option<&Arc<dyn SendLedger>>,
    ) -> Option<SkippedEmail> {
        let gap = campaign.gap_after_confirmation()?;
        if let Some(l) = ledger {
            let own = on_ledger(l, (&campaign.name, &booking.booking_id), |l, c, b| {
                l.state(c, b)
            });
            // Sent or refused already: the run counts it as such.
            if let Ok(Some(SendState::Sent | SendState::Failed)) = own.await {
                return None;
            }
        }
        let mut went = Vec::new();
        for c in self.confirmations() {
            went.extend(self.confirmed_at(c, booking, venue, now, ledger).await);
        }
        let until = held_until(gap, &went, now)?;
        let confirmation_at = went.iter().filter(|t| **t <= now).max().copied()?;
        Some(SkippedEmail {
            campaign: campaign.name.clone(),
            booking_id: booking.booking_id.clone(),
            reason: SkippedEmail::RECENT_CONFIRMATION.into(),
            confirmation_at: stamp(confirmation_at),
            goes_at: next_send(campaign, booking, venue, until).map(stamp),
        })
    }

    /// The enabled confirmation campaigns of the config, whichever the run covers.
    fn confirmations(&self) -> impl Iterator<Item = &CampaignSettings> {
        self.settings
            .campaigns
            .iter()
            .filter(|c| c.enabled && c.trigger == Trigger::Confirmation)
    }

    /// When confirmation `c` of `booking` went or goes, as far as the reminder is concerned.
    async fn confirmed_at(
        &self,
        c: &CampaignSettings,
        booking: &Arc<Booking>,
        venue: &Venue,
        now: DateTime<Utc>,
        ledger: Option<&Arc<dyn SendLedger>>,
    ) -> Vec<DateTime<Utc>> {
        let due_now = matches!(when(c, booking, venue, now), When::Send(_))
            && self.pauses.get(&c.name).is_none();
        let now_if_due = due_now.then_some(now);
        let Some(l) = ledger else {
            let first =
                due_span(c, booking, venue).and_then(|(s, _)| next_send(c, booking, venue, s));
            return now_if_due.into_iter().chain(first).collect();
        };
        let key = (c.name.as_str(), booking.booking_id.as_str());
        let mine = l.claimed_here(key.0, key.1);
        match on_ledger(l, key, |l, c, b| l.state_at(c, b)).await {
            Ok(Some((SendState::Sent, at))) => at.into_iter().collect(),
            Ok(Some((SendState::Failed, _))) => Vec::new(),
            Ok(Some((SendState::Claimed, at))) if !mine => {
                let resent = c.in_doubt(&self.settings.smtp) == InDoubt::Resend;
                at.into_iter()
                    .chain(now_if_due.filter(|_| resent))
                    .collect()
            }
            // Not sent yet, deferred, or claimed by this run: it goes in this run when due now.
            Ok(_) => now_if_due.into_iter().collect(),
            // The ledger cannot be read: the email's own send meets the same error.
            Err(_) => Vec::new(),
        }
    }
}

/// An instant as the report writes it.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
