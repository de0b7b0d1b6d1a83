//! `tripmail plan`: what each campaign will send in the coming days, per day and per locale, with the
//! first recipients. It reads the bookings and asks [`crate::due::next_send_on_ticks`] (the same rules
//! and windows `run` sends by) when each email goes, leaving out what the ledger says was sent or
//! failed already.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::bookings::{Booking, BookingReader, RowError};
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, Settings};
use crate::due::{due_span, next_send_on_ticks, Venue};
use crate::run::FatalError;
use crate::schedule::gap::place;

mod known;
mod timeline;

use known::{confirmations, done_in_ledger, paused_among};
pub use timeline::{timeline, BookingEmail, EmailState};

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The first instant planned.
    pub from: DateTime<Utc>,
    /// The end of the plan (not included).
    pub until: DateTime<Utc>,
    /// The runner's tick (`run --every`); `None` for a send at any instant.
    pub every: Option<std::time::Duration>,
    /// Only this campaign.
    pub campaign: Option<String>,
    /// The time zone whose dates the days are.
    pub days_in: Tz,
    /// How many recipients to list per day and campaign.
    pub recipients: usize,
}

/// The plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    /// The first instant planned (RFC 3339).
    pub from: String,
    /// The end of the plan, not included.
    pub until: String,
    /// The time zone of the days.
    pub days_in: String,
    /// The runner's tick planned for (`"5m"`), when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// One entry per day and campaign with something to send, by date then campaign.
    pub days: Vec<PlanDay>,
    /// Emails planned per campaign, every campaign planned listed.
    pub totals: BTreeMap<String, u64>,
    /// Campaigns with `enabled = false`.
    pub disabled: Vec<String>,
    /// Campaigns paused (`tripmail pause`, the console), with who paused them and when: nothing of
    /// them is planned (nor in `totals`).
    pub paused: Vec<crate::state::Pause>,
    /// Emails that would go in the period but the ledger says were sent (or refused for good) already.
    pub already_done: u64,
    /// Emails due in the period that will not go: the campaign does not send (dates, days, window)
    /// before they stop being due.
    pub will_not_send: Vec<Unsendable>,
    /// Reminders held back because the booking's confirmation goes (or went) less than their
    /// campaign's `min_hours_after_confirmation` before: moved to their next chance, or not sent.
    pub held_back: Vec<HeldBack>,
    /// Bookings rows that could not be read.
    pub skipped_rows: Vec<RowError>,
}

/// A reminder held back after a recent confirmation (`skipped:recent_confirmation`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeldBack {
    /// The campaign.
    pub campaign: String,
    /// The booking.
    pub booking_id: String,
    /// `skipped:recent_confirmation`.
    pub reason: String,
    /// When it would have gone (RFC 3339).
    pub planned_at: String,
    /// When the booking's confirmation goes or went.
    pub confirmation_at: String,
    /// Its next chance (the gap passed, still due, inside its schedule), counted on that day when
    /// it falls in the plan; `None`: its due window ends first, it is not sent.
    pub moved_to: Option<String>,
}

/// What one campaign sends on one day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanDay {
    /// The date (in `days_in`).
    pub date: NaiveDate,
    /// The campaign.
    pub campaign: String,
    /// How many emails.
    pub emails: u64,
    /// How many per locale.
    pub locales: BTreeMap<String, u64>,
    /// The first ones, by time then booking.
    pub first: Vec<PlannedEmail>,
}

/// One planned email.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlannedEmail {
    /// When it goes (RFC 3339, UTC).
    pub at: String,
    /// The booking.
    pub booking_id: String,
    /// The recipient.
    pub to: String,
    /// The email's locale.
    pub locale: String,
    /// The customer's time zone, in which the window is read.
    pub timezone: String,
    /// When it goes on the customer's clock (`2027-03-28 10:00`).
    pub local_time: String,
}

/// An email due in the period that will not go.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unsendable {
    /// The campaign.
    pub campaign: String,
    /// The booking.
    pub booking_id: String,
    /// When it stops being due (RFC 3339).
    pub due_until: String,
}

/// Builds the plan of `settings`' campaigns over the bookings file, leaving out the ledger's sent and
/// failed emails (`state.path`, when it exists).
pub fn plan(settings: &Settings, opts: &PlanOptions) -> Result<Plan, FatalError> {
    let reader = BookingReader::open(&settings.bookings.path)?;
    plan_of(settings, opts, reader)
}

/// [`plan`] over bookings already read: a stream of rows, each a booking (owned or borrowed, as
/// [`crate::bookings::Loaded::rows`] gives them) or a row that could not be used.
pub fn plan_of<B: Borrow<Booking>>(
    settings: &Settings,
    opts: &PlanOptions,
    rows: impl IntoIterator<Item = Result<B, RowError>>,
) -> Result<Plan, FatalError> {
    let campaigns = campaigns_planned(settings, opts)?;
    let catalog = match &settings.engine.catalog {
        Some(path) => Some(Catalog::load(path)?),
        None => None,
    };
    let (done, sent_at) = done_in_ledger(&settings.state)?;
    let paused = paused_among(&settings.state, &campaigns)?;
    let no_ledger = settings.state.url.is_none() && !settings.state.path.exists();
    let mut tally = Tally {
        opts,
        plan: Plan::empty(opts, &campaigns).pausing(paused.clone()),
        done,
        days: BTreeMap::new(),
        seen: HashSet::new(),
    };
    for row in rows {
        let booking = match row {
            Ok(b) => b,
            Err(e) => {
                tally.plan.skipped_rows.push(e);
                continue;
            }
        };
        let booking = booking.borrow();
        let venue = Venue::of(booking, catalog.as_ref());
        let known = (&sent_at, &paused[..]);
        let confirmed = confirmations(settings, booking, &venue, opts, known, no_ledger);
        let sends =
            |c: &CampaignSettings| c.enabled && !paused.iter().any(|p| p.campaign == c.name);
        for (i, c) in campaigns.iter().enumerate().filter(|(_, c)| sends(c)) {
            tally.add(i, c, booking, &venue, &confirmed);
        }
    }
    Ok(tally.finish())
}

/// The campaigns asked for: `--campaign`'s, or all.
fn campaigns_planned<'a>(
    settings: &'a Settings,
    opts: &PlanOptions,
) -> Result<Vec<&'a CampaignSettings>, FatalError> {
    Ok(match &opts.campaign {
        Some(name) => vec![settings
            .campaign(name)
            .ok_or_else(|| FatalError::UnknownCampaign(name.clone()))?],
        None => settings.campaigns.iter().collect(),
    })
}

/// An instant as the plan writes it (`2026-12-10T09:00:00Z`).
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Plan {
    /// A plan of `campaigns` over the period with nothing in it yet.
    fn empty(opts: &PlanOptions, campaigns: &[&CampaignSettings]) -> Plan {
        Plan {
            from: stamp(opts.from),
            until: stamp(opts.until),
            days_in: opts.days_in.name().to_string(),
            every: opts
                .every
                .map(|d| humantime::format_duration(d).to_string()),
            days: Vec::new(),
            totals: campaigns
                .iter()
                .filter(|c| c.enabled)
                .map(|c| (c.name.clone(), 0))
                .collect(),
            disabled: campaigns
                .iter()
                .filter(|c| !c.enabled)
                .map(|c| c.name.clone())
                .collect(),
            paused: Vec::new(),
            already_done: 0,
            will_not_send: Vec::new(),
            held_back: Vec::new(),
            skipped_rows: Vec::new(),
        }
    }
}

/// What one campaign sends on one day, as the bookings are read.
#[derive(Default)]
struct Day {
    emails: u64,
    locales: BTreeMap<String, u64>,
    first: BinaryHeap<PlannedEmail>,
}

/// The plan as the bookings are read.
struct Tally<'a> {
    opts: &'a PlanOptions,
    plan: Plan,
    /// The ledger's sent and failed bookings, per campaign.
    done: HashMap<String, HashSet<String>>,
    days: BTreeMap<(NaiveDate, String), Day>,
    /// (campaign index, booking): a booking listed twice is sent once.
    seen: HashSet<(usize, String)>,
}

impl Tally<'_> {
    /// One booking for the `i`th campaign, `c`; `confirmed`: when its confirmations go or went.
    fn add(
        &mut self,
        i: usize,
        c: &CampaignSettings,
        booking: &Booking,
        venue: &Venue,
        confirmed: &[DateTime<Utc>],
    ) {
        let opts = self.opts;
        let at = next_send_on_ticks(c, booking, venue, opts.from, opts.every)
            .filter(|t| *t < opts.until);
        let done = &self.done;
        let is_done = || {
            done.get(&c.name)
                .is_some_and(|d| d.contains(&booking.booking_id))
        };
        let Some(at) = at else {
            // Due in the period, yet never sent.
            if let Some((start, end)) = due_span(c, booking, venue) {
                if start < opts.until
                    && end > opts.from
                    && !is_done()
                    && self.seen.insert((i, booking.booking_id.clone()))
                {
                    self.plan.will_not_send.push(Unsendable {
                        campaign: c.name.clone(),
                        booking_id: booking.booking_id.clone(),
                        due_until: stamp(end),
                    });
                }
            }
            return;
        };
        if !self.seen.insert((i, booking.booking_id.clone())) {
            return;
        }
        if is_done() {
            self.plan.already_done += 1;
            return;
        }
        let Some(gap) = c.gap_after_confirmation() else {
            return self.count(at, c, booking, venue);
        };
        let next = |u| next_send_on_ticks(c, booking, venue, u, opts.every);
        let placed = place(gap, confirmed, at, next);
        if placed != Some(at) {
            let confirmation = confirmed.iter().filter(|t| **t <= at).max();
            self.plan.held_back.push(HeldBack {
                campaign: c.name.clone(),
                booking_id: booking.booking_id.clone(),
                reason: crate::report::SkippedEmail::RECENT_CONFIRMATION.into(),
                planned_at: stamp(at),
                confirmation_at: confirmation.copied().map(stamp).unwrap_or_default(),
                moved_to: placed.map(stamp),
            });
        }
        if let Some(at) = placed.filter(|t| *t < opts.until) {
            self.count(at, c, booking, venue);
        }
    }

    /// An email planned at `at`.
    fn count(&mut self, at: DateTime<Utc>, c: &CampaignSettings, booking: &Booking, venue: &Venue) {
        let date = at.with_timezone(&self.opts.days_in).date_naive();
        let day = self.days.entry((date, c.name.clone())).or_default();
        day.emails += 1;
        *day.locales
            .entry(booking.locale.as_str().to_string())
            .or_default() += 1;
        *self.plan.totals.entry(c.name.clone()).or_default() += 1;
        if self.opts.recipients > 0 {
            day.first.push(PlannedEmail {
                at: stamp(at),
                booking_id: booking.booking_id.clone(),
                to: booking.customer_email.to_string(),
                locale: booking.locale.as_str().to_string(),
                timezone: venue.customer.name().to_string(),
                local_time: at
                    .with_timezone(&venue.customer)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            });
            // Keep the earliest: the heap's top is the latest kept.
            if day.first.len() > self.opts.recipients {
                day.first.pop();
            }
        }
    }

    /// The plan, its days in order.
    fn finish(self) -> Plan {
        let mut plan = self.plan;
        plan.days = self
            .days
            .into_iter()
            .map(|((date, campaign), d)| PlanDay {
                date,
                campaign,
                emails: d.emails,
                locales: d.locales,
                first: d.first.into_sorted_vec(),
            })
            .collect();
        plan
    }
}

/// When a campaign sends, in words, as the plan's reader sees it (`window 09:00-20:00, at 10:00, on
/// mon tue wed thu fri`, `transactional: as soon as due, any hour`, `disabled`, then its dates), in
/// the customer's time zone.
pub fn schedule_in_words(c: &CampaignSettings) -> String {
    let mut rules = Vec::new();
    if !c.enabled {
        rules.push("disabled".to_string());
    } else if c.is_transactional() {
        rules.push("transactional: as soon as due, any hour".to_string());
    } else {
        if let Some(w) = c.send_window {
            rules.push(format!("window {w}"));
        }
        if let Some(at) = c.send_at {
            rules.push(format!("at {at}"));
        }
        if let Some(days) = c.send_days {
            rules.push(format!("on {days}"));
        }
        if rules.is_empty() {
            rules.push("any hour".to_string());
        }
    }
    if let Some(d) = c.starts_on {
        rules.push(format!("from {d}"));
    }
    if let Some(d) = c.ends_on {
        rules.push(format!("until {d}"));
    }
    rules.join(", ")
}
