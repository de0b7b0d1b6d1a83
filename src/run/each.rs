//! The run over the bookings file: every campaign's due emails, produced a bounded number at a time,
//! in input order, each counted in the report as it ends; a stop (the server unavailable, the ledger
//! broken) ends the starting of emails.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::SecondsFormat;
use futures::StreamExt;

use super::produce::{Produced, Stop};
use super::threads::{on_ledger, on_render_threads};
use super::{check_identity_column, Campaigns, FatalError, Outputs, RunOptions};
use crate::bookings::{Booking, BookingReader, RowError};
use crate::config::CampaignSettings;
use crate::due::{when, Due, Venue, When};
use crate::ledger::{SendLedger, SendState};
use crate::report::tally::Outcome;
use crate::report::{EmailLog, PausedCampaign, Report};
use crate::state::Pause;

/// One unit of a run's work, in input order.
enum Work<'c> {
    Skip(RowError),
    Email(&'c CampaignSettings, Arc<Booking>, Venue, Due),
    /// Waiting or closed, unless the ledger says it was sent already.
    Later(Outcome, &'c CampaignSettings, Arc<Booking>),
    /// Due, but not sent on purpose (a reminder after a recent confirmation).
    SkipEmail(crate::report::SkippedEmail),
    /// Due, but its campaign is paused.
    Paused(crate::state::Pause),
}

/// Why the run stops starting emails, once it must: the server found unavailable, or the ledger
/// cannot be written. The first reason is kept.
#[derive(Default)]
struct FirstStop(std::sync::Mutex<Option<Stop>>);

impl FirstStop {
    fn is_set(&self) -> bool {
        self.0.lock().map(|s| s.is_some()).unwrap_or(true)
    }

    fn set(&self, why: Stop) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.get_or_insert(why);
    }

    /// The reason, as the report says it.
    fn reason(self) -> Option<String> {
        match self.0.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Stop::Ledger(e)) => Some(format!("the ledger cannot be written: {e}")),
            Some(Stop::Unavailable(why)) => Some(why),
            None => None,
        }
    }
}

impl Campaigns {
    /// Runs every campaign over the bookings file at `opts.now`: each due email is produced, written
    /// to `out.files` when given, and sent through `out.send` when given, exactly once per the ledger.
    pub async fn run(&self, opts: &RunOptions, out: &Outputs<'_>) -> Result<Report, FatalError> {
        let campaigns = self.campaigns_of(opts)?;
        self.check_templates(&campaigns).await?;
        let reader = BookingReader::open(&self.settings.bookings.path)?;
        check_identity_column(&self.settings, &reader)?;
        let ledger = out.send.as_ref().and_then(|s| s.ledger.clone());
        let work = futures::stream::iter(reader)
            .then(|row| self.work_of(row, &campaigns, opts.now, ledger.as_ref()))
            .flat_map(futures::stream::iter);
        let halt = FirstStop::default();
        let mut outcomes = Box::pin(work)
            .map(|w| self.one(w, opts, out, &halt))
            .buffered(opts.parallel.max(1));
        let mut report = Report {
            emails: match opts.keep_records {
                true => EmailLog::default(),
                false => EmailLog::counting(),
            },
            now: opts.now.to_rfc3339_opts(SecondsFormat::Secs, true),
            smtp: out.send.as_ref().map(|s| s.transport.name().to_string()),
            redirected_to: opts.redirect_to.as_ref().map(|m| m.email.to_string()),
            paused: self.paused_at_start(&campaigns),
            ..Report::default()
        };
        while let Some(outcome) = outcomes.next().await {
            report.add(outcome);
            if let Some(progress) = out.progress {
                progress(&report);
            }
        }
        drop(outcomes);
        if let Err(e) = report.emails.flush() {
            tracing::warn!("cannot write the report's records to a temporary file: {e}");
        }
        if let Some(send) = &out.send {
            report.retried = send.transport.retries();
            send.transport.close().await;
        }
        let stats = self.engine_stats();
        report.engine_requests = stats.requests;
        report.cache_hits = stats.hits;
        report.stopped = halt.reason();
        Ok(report)
    }

    /// The report's entries of the campaigns of the run paused as it starts (none counted yet).
    fn paused_at_start(&self, campaigns: &[&CampaignSettings]) -> Vec<PausedCampaign> {
        let covered = |p: &Pause| campaigns.iter().any(|c| c.name == p.campaign);
        let seen = self.pauses.seen();
        seen.iter()
            .filter(|p| covered(p))
            .map(PausedCampaign::of)
            .collect()
    }

    /// The campaigns a run covers: the one asked for, or all.
    fn campaigns_of(&self, opts: &RunOptions) -> Result<Vec<&CampaignSettings>, FatalError> {
        Ok(match &opts.campaign {
            Some(name) => vec![self
                .settings
                .campaign(name)
                .ok_or_else(|| FatalError::UnknownCampaign(name.clone()))?],
            None => self.settings.campaigns.iter().collect(),
        })
    }

    /// What one row of the bookings file gives the run: its emails due at `now`, those waiting,
    /// closed or held back after a recent confirmation, or the row's error. Decided for all of the
    /// booking's emails before any of them starts.
    async fn work_of<'c>(
        &self,
        row: Result<Booking, RowError>,
        campaigns: &[&'c CampaignSettings],
        now: chrono::DateTime<chrono::Utc>,
        ledger: Option<&Arc<dyn SendLedger>>,
    ) -> Vec<Work<'c>> {
        let booking = match row {
            Err(e) => return vec![Work::Skip(e)],
            Ok(booking) => booking,
        };
        let venue = self.venue(&booking);
        let booking = Arc::new(booking);
        let mut work = Vec::new();
        for c in campaigns {
            let due = when(c, &booking, &venue, now);
            let paused = matches!(due, When::Send(_))
                .then(|| self.pauses.get(&c.name))
                .flatten();
            if let Some(p) = paused {
                work.push(Work::Paused(p));
                continue;
            }
            work.push(match due {
                When::NotDue => continue,
                When::Send(d) => match self.held_back(c, &booking, &venue, now, ledger).await {
                    Some(skipped) => Work::SkipEmail(skipped),
                    None => Work::Email(c, booking.clone(), venue, d),
                },
                When::Waiting(_) => Work::Later(Outcome::Waiting, c, booking.clone()),
                When::Closed => Work::Later(Outcome::Closed, c, booking.clone()),
            });
        }
        work
    }

    /// One unit of work, to its outcome; a stop it meets is set on `halt`.
    async fn one(
        &self,
        w: Work<'_>,
        opts: &RunOptions,
        out: &Outputs<'_>,
        halt: &FirstStop,
    ) -> Outcome {
        let (campaign, booking, venue, d) = match w {
            Work::Skip(e) => return Outcome::Skipped(e),
            Work::SkipEmail(s) => return Outcome::SkippedEmail(s),
            Work::Paused(p) => return Outcome::Paused(p),
            Work::Later(o, c, b) => return self.unless_done(o, c, &b, out).await,
            Work::Email(c, b, v, d) => (c, b, v, d),
        };
        if halt.is_set() {
            return Outcome::NotAttempted;
        }
        // Paused while the run went: not made, not claimed.
        if let Some(p) = self.pauses.get(&campaign.name) {
            return Outcome::Paused(p);
        }
        if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
        {
            return Outcome::Interrupted;
        }
        match self.produce(campaign, &booking, &venue, d, opts, out).await {
            Err(why) => {
                halt.set(why);
                Outcome::NotAttempted
            }
            Ok(Produced::Halting(produced, why)) => {
                halt.set(why);
                produced.into_outcome(campaign, &booking)
            }
            Ok(mut produced) => {
                if let Produced::Deferred { stop, .. } = &mut produced {
                    if let Some(why) = stop.take() {
                        halt.set(why);
                    }
                }
                produced.into_outcome(campaign, &booking)
            }
        }
    }

    /// Renders `campaigns` in every locale on a sample booking, as `tripmail validate` does, so
    /// that a broken template or translation stops the run before its first email (exit 2) instead
    /// of failing every email of one campaign or locale after others went out.
    pub(super) async fn check_templates(
        &self,
        campaigns: &[&CampaignSettings],
    ) -> Result<(), FatalError> {
        let renderer = Arc::clone(&self.renderer);
        let catalog = self.catalog.clone();
        let campaigns: Vec<_> = campaigns.iter().map(|c| self.campaign_arc(c)).collect();
        let checked = on_render_threads(move || {
            renderer.check(campaigns.iter().map(|c| &**c), catalog.as_deref())
        })
        .await;
        checked??;
        Ok(())
    }

    /// `outcome` (waiting, closed), or nothing when the ledger says the email was sent (or refused
    /// for good) already.
    pub(super) async fn unless_done(
        &self,
        outcome: Outcome,
        campaign: &CampaignSettings,
        booking: &Booking,
        out: &Outputs<'_>,
    ) -> Outcome {
        let Some(ledger) = out.send.as_ref().and_then(|s| s.ledger.clone()) else {
            return outcome;
        };
        let key = (campaign.name.as_str(), booking.booking_id.as_str());
        match on_ledger(&ledger, key, |l, c, b| l.state(c, b)).await {
            Ok(Some(SendState::Sent | SendState::Failed)) => Outcome::Settled,
            _ => outcome,
        }
    }
}
