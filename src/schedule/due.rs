//! Which campaign emails a booking is due for at an instant `now`, and when each may go. Dates of the
//! due rules are the venue's: "today" in Sydney is not "today" in New York. Send windows and days are
//! read in the customer's time zone ([`crate::schedule`]).
//!
//! Everything that decides a send goes through [`next_send`]: `run` sends at `now` what
//! `next_send(now)` says may go at `now`, and `plan` lists what it says will go in the coming days.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{tick_at_or_after, ClockTime, Span};
use crate::bookings::{Booking, Status};
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, Trigger};

/// Where the visit takes place, as far as dates and seasons are concerned, and where its customer
/// reads the email.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Venue {
    /// Degrees, south negative; `None` when neither the booking nor the catalog knows the city.
    pub latitude: Option<f64>,
    /// The venue's time zone: the catalog city's, else the booking's, else UTC.
    pub timezone: Tz,
    /// The customer's time zone, in which send windows are read: the booking's `timezone`, else the
    /// venue's.
    pub customer: Tz,
    /// The catalog's id of the city, when the catalog knows it.
    pub city: Option<u64>,
}

impl Venue {
    /// The booking's own latitude, else the catalog city's; the catalog city's time zone, else the
    /// booking's, else UTC.
    pub fn of(booking: &Booking, catalog: Option<&Catalog>) -> Venue {
        let city = catalog.and_then(|c| c.city_named(&booking.city));
        let timezone = city
            .map(|c| c.timezone)
            .or(booking.timezone)
            .unwrap_or(Tz::UTC);
        Venue {
            latitude: booking.latitude.or(city.map(|c| c.latitude)),
            timezone,
            customer: booking.timezone.unwrap_or(timezone),
            city: city.map(|c| c.id),
        }
    }

    /// The venue's date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.timezone).date_naive()
    }

    /// The first instant of the venue's `date`.
    fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        ClockTime::START.on(date, self.timezone)
    }
}

/// A campaign email that is due, with what the templates need to know about timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Whole days from the venue's today to the travel date (0 = today).
    pub days_to_travel: i64,
}

impl Due {
    /// The timing of `booking`'s emails at `now`, due or not.
    pub fn at(booking: &Booking, venue: &Venue, now: DateTime<Utc>) -> Due {
        Due {
            days_to_travel: (booking.travel_date - venue.today(now)).num_days(),
        }
    }
}

/// When `campaign`'s due rule holds for `booking`, whatever the window: from the first instant to
/// before the second.
///
/// - confirmation: from `booked_at` for `lookback_hours`, and not past the travel date;
/// - reminder: the `days_before` venue days before the travel date.
pub fn due_span(campaign: &CampaignSettings, booking: &Booking, venue: &Venue) -> Option<Span> {
    if booking.status != Status::Confirmed {
        return None;
    }
    let travel = booking.travel_date;
    let (from, until) = match campaign.trigger {
        Trigger::Confirmation => {
            let hours = i64::from(campaign.lookback_hours.unwrap_or(0));
            let booked = booking.booked_at.with_timezone(&Utc);
            let after_travel = venue.start_of(travel.succ_opt()?);
            let lookback = booked
                .checked_add_signed(chrono::Duration::hours(hours))
                .unwrap_or(after_travel);
            (booked, lookback.min(after_travel))
        }
        Trigger::Reminder => {
            let days = u64::from(campaign.days_before.unwrap_or(0));
            let first = travel.checked_sub_days(chrono::Days::new(days))?;
            (venue.start_of(first), venue.start_of(travel))
        }
    };
    (from < until).then_some((from, until))
}

/// Whether `campaign`'s due rule holds for `booking` at `now`, whatever the window.
pub fn due(
    campaign: &CampaignSettings,
    booking: &Booking,
    venue: &Venue,
    now: DateTime<Utc>,
) -> Option<Due> {
    let (from, until) = due_span(campaign, booking, venue)?;
    (from <= now && now < until).then(|| Due::at(booking, venue, now))
}

/// The first instant at or after `from` at which `campaign`'s email for `booking` may go: due, the
/// campaign enabled, and inside its dates, days and window in the customer's time zone. `None` when
/// there is none (not due again, or due only when the campaign does not send).
pub fn next_send(
    campaign: &CampaignSettings,
    booking: &Booking,
    venue: &Venue,
    from: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let span = sending_span(campaign, booking, venue)?;
    send_in(campaign, venue, span, from)
}

/// The due span of an enabled campaign.
fn sending_span(campaign: &CampaignSettings, booking: &Booking, venue: &Venue) -> Option<Span> {
    campaign
        .enabled
        .then(|| due_span(campaign, booking, venue))
        .flatten()
}

/// The first instant at or after `from`, inside the due `span`, at which the campaign sends.
fn send_in(
    campaign: &CampaignSettings,
    venue: &Venue,
    (start, until): Span,
    from: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let t = from.max(start);
    if t >= until {
        return None;
    }
    let (open, _) = campaign.open_span(venue.customer, t, until)?;
    Some(t.max(open))
}

/// As [`next_send`], for a runner that ticks every `every` (multiples since the Unix epoch): the
/// first tick at which the email may go. `None` for `every`: any instant.
pub fn next_send_on_ticks(
    campaign: &CampaignSettings,
    booking: &Booking,
    venue: &Venue,
    from: DateTime<Utc>,
    every: Option<std::time::Duration>,
) -> Option<DateTime<Utc>> {
    let span = sending_span(campaign, booking, venue)?;
    let mut t = send_in(campaign, venue, span, from)?;
    let Some(every) = every else {
        return Some(t);
    };
    loop {
        let tick = tick_at_or_after(t, every);
        match send_in(campaign, venue, span, tick) {
            Some(next) if next == tick => return Some(tick),
            // The window closed (or the email stopped being due) before the tick: the next chance.
            Some(next) => t = next,
            None => return None,
        }
    }
}

/// What a campaign does about a booking at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Not due (not yet, not any more, never), or the campaign is disabled.
    NotDue,
    /// Due and inside the window: send now.
    Send(Due),
    /// Due, but outside the campaign's dates, days or window: it goes at this instant.
    Waiting(DateTime<Utc>),
    /// Due, but the campaign does not send again before it stops being due.
    Closed,
}

/// What `campaign` does about `booking` at `now`, by [`next_send`].
pub fn when(
    campaign: &CampaignSettings,
    booking: &Booking,
    venue: &Venue,
    now: DateTime<Utc>,
) -> When {
    let Some(span) = sending_span(campaign, booking, venue).filter(|(a, b)| *a <= now && now < *b)
    else {
        return When::NotDue;
    };
    let d = Due::at(booking, venue, now);
    match send_in(campaign, venue, span, now) {
        Some(t) if t == now => When::Send(d),
        Some(t) => When::Waiting(t),
        None => When::Closed,
    }
}

#[cfg(test)]
mod tests;
