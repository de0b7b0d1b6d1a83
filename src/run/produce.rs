//! One due email, from what the ledger says of it to what became of it ([`Produced`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;

use super::make::Which;
use super::send::One;
use super::threads::{bug, on_ledger};
use super::{Campaigns, Outputs, RunOptions};
use crate::bookings::Booking;
use crate::compose::Make;
use crate::config::{CampaignSettings, InDoubt};
use crate::deliver::{self, DeliveryError, OutgoingEmail};
use crate::dkim::DkimSigner;
use crate::due::{when, Due, Venue, When};
use crate::ledger::{LedgerError, SendState};
use crate::render::RenderError;
use crate::report::tally::Outcome;
use crate::report::{EmailRecord, FailedEmail, Unrecorded};

/// Why a run stops before its end.
pub(crate) enum Stop {
    Unavailable(String),
    Ledger(LedgerError),
}

/// What became of one due email.
pub(crate) enum Produced {
    Written(Box<EmailRecord>),
    Sent {
        record: Box<EmailRecord>,
        in_doubt: bool,
        /// Accepted by the server, but its `sent` is not in the ledger.
        unrecorded: Option<Unrecorded>,
    },
    AlreadyDone(SendState),
    Failed(String),
    Deferred {
        reply: String,
        stop: Option<Stop>,
    },
    InDoubt(String),
    /// Held for the runner's next tick (the API failed for it); nothing sent, the claim given up.
    Held,
    /// Claimed by an earlier run that may have handed it to the server, and its campaign holds such
    /// emails: not sent again, listed.
    HeldInDoubt,
    /// Not sent: the run was asked to stop.
    Interrupted,
    /// Not claimed nor sent: its campaign was paused while it was being made.
    Paused(crate::state::Pause),
    /// What became of it, and why the run stops after it.
    Halting(Box<Produced>, Stop),
}

impl Produced {
    pub(crate) fn into_outcome(self, campaign: &CampaignSettings, booking: &Booking) -> Outcome {
        let email = |reason: String| FailedEmail {
            campaign: campaign.name.clone(),
            booking_id: booking.booking_id.clone(),
            reason,
        };
        match self {
            Produced::Written(record) => Outcome::Done {
                record,
                sent: false,
                in_doubt: false,
                unrecorded: None,
            },
            Produced::Sent {
                record,
                in_doubt,
                unrecorded,
            } => Outcome::Done {
                record,
                sent: true,
                in_doubt,
                unrecorded,
            },
            Produced::AlreadyDone(state) => Outcome::AlreadyDone(state),
            Produced::Failed(reason) => Outcome::Failed(email(reason)),
            Produced::Deferred { reply, .. } => Outcome::Deferred(email(reply)),
            Produced::InDoubt(reply) => Outcome::InDoubt(email(reply)),
            Produced::Held => Outcome::Held,
            Produced::HeldInDoubt => Outcome::HeldInDoubt(email(
                "an earlier run claimed it and may have handed it to the server: held, not sent again"
                    .into(),
            )),
            Produced::Interrupted => Outcome::Interrupted,
            Produced::Paused(p) => Outcome::Paused(p),
            Produced::Halting(p, _) => p.into_outcome(campaign, booking),
        }
    }
}

impl Campaigns {
    /// What the ledger says before anything is made: an email sent (or refused for good) is not
    /// made again, and one an earlier run may have handed to the server is held when its campaign
    /// says so. It is claimed only when a connection is ready for it (see [`One::send`]).
    pub(super) async fn as_the_ledger_says(
        &self,
        campaign: &CampaignSettings,
        one: &One<'_>,
    ) -> Result<Option<Produced>, Stop> {
        let Some(ledger) = &one.ledger else {
            return Ok(None);
        };
        let mine = ledger.claimed_here(one.key.0, one.key.1);
        Ok(
            match on_ledger(ledger, one.key, |l, c, b| l.state(c, b)).await? {
                Some(done @ (SendState::Sent | SendState::Failed)) => {
                    Some(Produced::AlreadyDone(done))
                }
                Some(SendState::Claimed) if mine => Some(Produced::AlreadyDone(SendState::Claimed)),
                // Another runner sharing the ledger is sending it.
                Some(SendState::Claimed)
                    if on_ledger(ledger, one.key, |l, c, b| l.claim_is_live(c, b)).await? =>
                {
                    Some(Produced::AlreadyDone(SendState::Claimed))
                }
                Some(SendState::Claimed)
                    if campaign.in_doubt(&self.settings.smtp) == InDoubt::Hold =>
                {
                    Some(Produced::HeldInDoubt)
                }
                _ => None,
            },
        )
    }

    /// One due email: claim it in the ledger, compose it, write it, send it, record the outcome.
    /// `Err` stops the run (the ledger cannot be written).
    pub(super) async fn produce(
        &self,
        campaign: &CampaignSettings,
        booking: &Arc<Booking>,
        venue: &Venue,
        d: Due,
        opts: &RunOptions,
        out: &Outputs<'_>,
    ) -> Result<Produced, Stop> {
        let one = One {
            ledger: out.send.as_ref().and_then(|s| s.ledger.clone()),
            key: (campaign.name.as_str(), booking.booking_id.as_str()),
            message_id: OutgoingEmail::message_id_for(
                &campaign.name,
                &booking.booking_id,
                &self.settings.sender.from,
            ),
            recipient: booking.customer_email.to_string(),
            opts,
            pauses: &self.pauses,
        };
        if let Some(done) = self.as_the_ledger_says(campaign, &one).await? {
            return Ok(done);
        }
        let finish = finish(opts, out, self.settings.dkim_signer());
        let make = Make {
            straight: opts.straight,
            lean: true,
            why: false,
        };
        let which = Which {
            campaign,
            booking,
            venue,
            due: d,
            now: opts.now,
            source: None,
        };
        let making = self.make(which, make, finish);
        let (composed, mime) = match AssertUnwindSafe(making).catch_unwind().await {
            Ok(Ok(c)) => c,
            Ok(Err(RenderError::Bug(why))) => return one.give_up(why).await,
            Err(panic) => return one.give_up(bug("composing", &*panic)).await,
            Ok(Err(e)) => return Ok(Produced::Failed(e.to_string())),
        };
        // A message that cannot be built would fail the same way at every run: failed for good.
        let mime = match mime.transpose() {
            Ok(mime) => mime,
            Err(e) => return one.give_up(e.to_string()).await,
        };
        // A runner can try the block again at its next tick, if the email may still go then.
        let may_wait = |ticks: [DateTime<Utc>; 2]| {
            !campaign.is_transactional()
                && ticks
                    .iter()
                    .all(|t| matches!(when(campaign, booking, venue, *t), When::Send(_)))
        };
        if composed.engine_transient && opts.next_ticks.is_some_and(may_wait) {
            return Ok(Produced::Held);
        }
        // A dry run: produced to the last byte, then dropped. No outputs: nowhere to deliver it.
        let (false, Some(mime)) = (opts.dry_run, mime) else {
            return Ok(Produced::Written(Box::new(composed.record)));
        };
        one.deliver(composed, mime, out).await
    }
}

/// What the run does with an email on the rendering threads, right after it is composed: redirected
/// when the run is a preview, then its whole message built and DKIM-signed (`t=` the run's instant),
/// once, for every way it goes out (none when there is nowhere to deliver it).
fn finish(
    opts: &RunOptions,
    out: &Outputs<'_>,
    dkim: Option<Arc<DkimSigner>>,
) -> impl FnOnce(OutgoingEmail) -> (OutgoingEmail, Option<Result<Vec<u8>, DeliveryError>>) + Send + 'static
{
    let redirect = opts.redirect_to.clone().filter(|_| !opts.dry_run);
    let needs_message = opts.dry_run || out.files.is_some() || out.send.is_some();
    let straight = opts.straight;
    let now = opts.now;
    move |email: OutgoingEmail| {
        let email = match &redirect {
            Some(to) => email.redirected(to),
            None => email,
        };
        let mime = needs_message.then(|| {
            let mime = match straight {
                true => email.to_mime_straight(),
                false => email.to_mime(),
            };
            deliver::signed(mime, dkim.as_deref(), now)
        });
        (email, mime)
    }
}
