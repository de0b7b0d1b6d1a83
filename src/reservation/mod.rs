//! The booking as a reservation other software reads: an `.ics` calendar event (RFC 5545) attached
//! to the email, and a schema.org `EventReservation` (JSON-LD) in its HTML, which Gmail shows as a
//! reservation card. Both are made from the same [`Reservation`], deterministically: the same
//! booking gives the same bytes at every run.

mod ics;
mod jsonld;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::bookings::Booking;

pub use ics::calendar;
pub use jsonld::{add_json_ld, json_ld};

/// When the visit starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At a time of day at the venue (the booking's `start_time`).
    At(DateTime<Tz>),
    /// Some time that day (no `start_time`): an all-day event.
    Day(NaiveDate),
}

/// What the calendar event and the JSON-LD are made of.
#[derive(Debug, Clone, Copy)]
pub struct Reservation<'a> {
    /// The booking.
    pub booking: &'a Booking,
    /// The venue's time zone.
    pub venue_tz: Tz,
    /// The manage-booking link, when the config has one.
    pub manage_url: Option<&'a str>,
    /// The sender's domain: the UID's right-hand side.
    pub domain: &'a str,
}

impl Reservation<'_> {
    /// When the visit starts: the travel date at `start_time` in the venue's time zone (a time
    /// that does not exist that night, clocks going forward, is read as the first instant after
    /// the gap, as send windows are), else the day.
    pub fn start(&self) -> Start {
        let b = self.booking;
        match b.details.start_time {
            Some(time) => {
                let utc =
                    crate::schedule::first_instant(self.venue_tz, b.travel_date.and_time(time));
                Start::At(utc.with_timezone(&self.venue_tz))
            }
            None => Start::Day(b.travel_date),
        }
    }

    /// The event's UID: stable per booking, `<booking_id>@<sender domain>`.
    pub fn uid(&self) -> String {
        format!("{}@{}", self.booking.booking_id, self.domain)
    }

    /// The place as one line: venue name and address, else the meeting point, else the city.
    pub fn location(&self) -> String {
        let d = &self.booking.details;
        let parts: Vec<&str> = match (&d.venue_name, &d.venue_address, &d.meeting_point) {
            (None, None, Some(m)) => vec![m.as_str()],
            (name, address, _) => name.iter().chain(address).map(String::as_str).collect(),
        };
        match parts.is_empty() {
            true => self.booking.city.clone(),
            false => parts.join(", "),
        }
    }

    /// The instant the event was made: when it was booked (the same at every run).
    pub fn stamp(&self) -> DateTime<Utc> {
        self.booking.booked_at.with_timezone(&Utc)
    }
}

#[cfg(test)]
mod tests;
