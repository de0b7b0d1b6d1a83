//! One booking's emails, campaign by campaign: what the ledger says of each (sent, failed,
//! deferred, claimed: when, the server's reply), else when it goes (in UTC and on the customer's
//! clock), or why it does not, in words. The instants come from the rules `plan` and `run` use
//! ([`next_send_on_ticks`], a reminder held back after a recent confirmation by [`place`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::known::{confirmations, SentAt};
use super::PlanOptions;
use crate::bookings::{Booking, Status};
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, Settings};
use crate::due::{due_span, next_send_on_ticks, Venue};
use crate::ledger::{Entry, SendState};
use crate::schedule::gap::place;

/// Where one email of a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmailState {
    /// The ledger: the server accepted it.
    Sent,
    /// The ledger: refused for good.
    Failed,
    /// The ledger: temporary failures ran out of tries; the next run tries again.
    Deferred,
    /// The ledger: a run took it and was sending it (or died doing so).
    Claimed,
    /// It goes at [`BookingEmail::at`].
    Planned,
    /// It does not go in the period looked at: [`BookingEmail::reason`] says why.
    NotPlanned,
}

impl EmailState {
    /// `sent`, `failed`, `deferred`, `claimed`, `planned` or `not-planned`.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailState::Sent => "sent",
            EmailState::Failed => "failed",
            EmailState::Deferred => "deferred",
            EmailState::Claimed => "claimed",
            EmailState::Planned => "planned",
            EmailState::NotPlanned => "not-planned",
        }
    }
}

/// One campaign's email for one booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookingEmail {
    /// The campaign.
    pub campaign: String,
    /// Where it stands.
    pub state: EmailState,
    /// When: the ledger's last write of it, or when it is planned to go.
    pub at: Option<DateTime<Utc>>,
    /// The same instant on the customer's clock (`2026-12-10 10:00`).
    pub local_time: Option<String>,
    /// The customer's time zone (`Europe/Rome`).
    pub timezone: String,
    /// The server's last reply, or the last error (from the ledger).
    pub reply: Option<String>,
    /// Why it is not planned, in words.
    pub reason: Option<String>,
}

/// `booking`'s email from every campaign of `settings`, at `now`, looking `horizon_days` ahead:
/// the ledger's word when `ledger` (its entries, any booking's) has one, else the next send, at
/// the runner's ticks when `every` is given. `catalog` places the venue as a run does.
pub fn timeline(
    settings: &Settings,
    catalog: Option<&Catalog>,
    booking: &Booking,
    ledger: Option<&[Entry]>,
    now: DateTime<Utc>,
    horizon_days: u32,
    every: Option<std::time::Duration>,
) -> Vec<BookingEmail> {
    let venue = Venue::of(booking, catalog);
    let mine: Vec<&Entry> = ledger
        .unwrap_or_default()
        .iter()
        .filter(|e| e.booking_id == booking.booking_id)
        .collect();
    let opts = PlanOptions {
        from: now,
        until: now + Duration::days(i64::from(horizon_days)),
        every,
        campaign: None,
        days_in: venue.customer,
        recipients: 0,
    };
    let sent_at: SentAt = mine
        .iter()
        .filter(|e| e.state == SendState::Sent)
        .map(|e| {
            let at = DateTime::parse_from_rfc3339(&e.run_at).ok();
            let key = (e.campaign.clone(), e.booking_id.clone());
            (key, at.map(|t| t.with_timezone(&Utc)))
        })
        .collect();
    // Pauses are the caller's to show: a paused campaign's email is planned as if it ran.
    let confirmed = confirmations(
        settings,
        booking,
        &venue,
        &opts,
        (&sent_at, &[]),
        ledger.is_none(),
    );
    settings
        .campaigns
        .iter()
        .map(|c| match mine.iter().find(|e| e.campaign == c.name) {
            Some(e) => from_ledger(e, &venue),
            None => planned(c, booking, &venue, &opts, &confirmed),
        })
        .collect()
}

impl crate::run::Campaigns {
    /// [`timeline`] with the run's settings and catalog.
    pub fn timeline(
        &self,
        booking: &Booking,
        ledger: Option<&[Entry]>,
        now: DateTime<Utc>,
        horizon_days: u32,
        every: Option<std::time::Duration>,
    ) -> Vec<BookingEmail> {
        let catalog = self.catalog.as_deref();
        timeline(
            &self.settings,
            catalog,
            booking,
            ledger,
            now,
            horizon_days,
            every,
        )
    }
}

/// An instant on the customer's clock.
fn local(at: DateTime<Utc>, venue: &Venue) -> String {
    at.with_timezone(&venue.customer)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn email(c: &str, venue: &Venue, state: EmailState, at: Option<DateTime<Utc>>) -> BookingEmail {
    BookingEmail {
        campaign: c.to_string(),
        state,
        at,
        local_time: at.map(|t| local(t, venue)),
        timezone: venue.customer.name().to_string(),
        reply: None,
        reason: None,
    }
}

fn from_ledger(e: &Entry, venue: &Venue) -> BookingEmail {
    let state = match e.state {
        SendState::Sent => EmailState::Sent,
        SendState::Failed => EmailState::Failed,
        SendState::Deferred => EmailState::Deferred,
        SendState::Claimed => EmailState::Claimed,
    };
    let at = DateTime::parse_from_rfc3339(&e.updated_at)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    BookingEmail {
        reply: e.reply.clone(),
        ..email(&e.campaign, venue, state, at)
    }
}

/// When `c`'s email goes, as the plan places it, or why it does not.
fn planned(
    c: &CampaignSettings,
    booking: &Booking,
    venue: &Venue,
    opts: &PlanOptions,
    confirmed: &[DateTime<Utc>],
) -> BookingEmail {
    let not = |reason: String, at: Option<DateTime<Utc>>| BookingEmail {
        reason: Some(reason),
        ..email(&c.name, venue, EmailState::NotPlanned, at)
    };
    if booking.status == Status::Cancelled {
        return not("the booking is cancelled".into(), None);
    }
    if !c.enabled {
        return not("the campaign is disabled".into(), None);
    }
    let Some((start, end)) = due_span(c, booking, venue) else {
        return not("never due for this booking".into(), None);
    };
    if end <= opts.from {
        let until = local(end, venue);
        return not(
            format!("already past: it was due until {until} and was not sent"),
            None,
        );
    }
    let next = |t| next_send_on_ticks(c, booking, venue, t, opts.every);
    let Some(first) = next(opts.from) else {
        return not(outside(c, venue, start, end), None);
    };
    let at = match c.gap_after_confirmation() {
        Some(gap) => match place(gap, confirmed, first, next) {
            Some(at) => at,
            None => {
                let hours = gap.num_hours();
                return not(format!("held back: the booking's confirmation goes less than {hours} hours before, and the reminder is not due after that"), None);
            }
        },
        None => first,
    };
    if at >= opts.until {
        let days = (opts.until - opts.from).num_days();
        return not(format!("goes after the next {days} days"), Some(at));
    }
    email(&c.name, venue, EmailState::Planned, Some(at))
}

/// Why a due email never goes: the campaign's dates, else its days and window.
fn outside(
    c: &CampaignSettings,
    venue: &Venue,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let (from, until) = (local(start, venue), local(end, venue));
    let dates = match (c.starts_on, c.ends_on) {
        (Some(s), Some(e)) => format!(" (it sends from {s} until {e})"),
        (Some(s), None) => format!(" (it sends from {s})"),
        (None, Some(e)) => format!(" (it sends until {e})"),
        (None, None) => String::new(),
    };
    format!("due from {from} until {until}, outside the campaign's dates, days or window{dates}")
}

#[cfg(test)]
mod tests {
    //! On the shipped fixtures at their instant, as the integration tests run them.
    use super::*;
    use crate::bookings::Loaded;

    const NOW: &str = "2026-12-10T09:00:00Z";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn of(booking_id: &str, ledger: Option<&[Entry]>, horizon_days: u32) -> Vec<BookingEmail> {
        let settings =
            Settings::from_toml(&std::fs::read_to_string("fixtures/campaign.toml").unwrap())
                .unwrap();
        let catalog = Catalog::load(std::path::Path::new("fixtures/catalog.json")).unwrap();
        let loaded = Loaded::load(&settings.bookings.path).unwrap();
        let booking = loaded.by_id(booking_id).unwrap();
        timeline(
            &settings,
            Some(&catalog),
            booking,
            ledger,
            at(NOW),
            horizon_days,
            None,
        )
    }

    fn states(t: &[BookingEmail]) -> Vec<(&str, &str)> {
        t.iter()
            .map(|e| (e.campaign.as_str(), e.state.as_str()))
            .collect()
    }

    #[test]
    fn a_past_confirmation_is_not_planned_and_a_due_reminder_goes_now_on_the_customers_clock() {
        let t = of("WT-100001", None, 14);
        assert_eq!(
            states(&t),
            [("confirmation", "not-planned"), ("reminder", "planned")]
        );
        let reason = t[0].reason.as_deref().unwrap();
        assert!(
            reason.starts_with("already past: it was due until 2026-10-30 20:42"),
            "{reason}"
        );
        assert_eq!(t[1].at, Some(at(NOW)));
        assert_eq!(t[1].local_time.as_deref(), Some("2026-12-10 10:00"));
        assert_eq!(t[1].timezone, "Europe/Rome");
    }

    #[test]
    fn a_reminder_waits_a_day_after_its_confirmation_as_the_plan_places_it() {
        let t = of("WT-100031", None, 14);
        assert_eq!(
            states(&t),
            [("confirmation", "planned"), ("reminder", "planned")]
        );
        assert_eq!(t[0].at, Some(at(NOW)));
        assert_eq!(t[1].at, Some(at("2026-12-11T09:00:00Z")));
        assert_eq!(t[1].local_time.as_deref(), Some("2026-12-11 04:00"));
        assert_eq!(t[1].timezone, "America/New_York");
    }

    #[test]
    fn a_cancelled_booking_has_nothing_planned_and_says_why() {
        let t = of("WT-100035", None, 14);
        assert!(t.iter().all(|e| e.state == EmailState::NotPlanned));
        assert!(t
            .iter()
            .all(|e| e.reason.as_deref() == Some("the booking is cancelled")));
    }

    #[test]
    fn beyond_the_horizon_it_is_not_planned_but_its_instant_is_told() {
        let t = of("WT-100015", None, 14);
        assert_eq!(t[1].state, EmailState::NotPlanned);
        assert_eq!(t[1].reason.as_deref(), Some("goes after the next 14 days"));
        assert_eq!(t[1].at, Some(at("2027-07-11T00:00:00+02:00")));
    }

    #[test]
    fn the_ledgers_word_comes_first_with_the_servers_reply() {
        let sent = Entry {
            campaign: "reminder".into(),
            booking_id: "WT-100001".into(),
            state: SendState::Sent,
            message_id: "<m@x>".into(),
            recipient: "zoe.hartley@example.com".into(),
            attempts: 1,
            reply: Some("250 OK queued".into()),
            updated_at: "2026-12-10T09:00:02Z".into(),
            run_at: NOW.into(),
            takeovers: 0,
        };
        let other = Entry {
            booking_id: "WT-100002".into(),
            state: SendState::Failed,
            ..sent.clone()
        };
        let t = of("WT-100001", Some(&[other, sent]), 14);
        assert_eq!(
            states(&t),
            [("confirmation", "not-planned"), ("reminder", "sent")]
        );
        assert_eq!(t[1].reply.as_deref(), Some("250 OK queued"));
        assert_eq!(t[1].at, Some(at("2026-12-10T09:00:02Z")));
        assert_eq!(t[1].local_time.as_deref(), Some("2026-12-10 10:00"));
    }
}
