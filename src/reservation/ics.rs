//! The `.ics` attachment: one VEVENT in a `METHOD:PUBLISH` calendar (an event to add, not an
//! invitation to answer), written by the `icalendar` crate (escaping and line folding).

use std::fmt::Write as _;

use icalendar::{Calendar, Component, EventLike};

use super::{Reservation, Start};

/// The calendar file of `r`'s booking, CRLF line endings; `None` if it cannot be written.
pub fn calendar(r: &Reservation<'_>) -> Option<String> {
    let b = r.booking;
    let mut event = icalendar::Event::new();
    event
        .uid(&r.uid())
        .timestamp(r.stamp())
        .summary(&b.product_title)
        .location(&r.location())
        .description(&description(r));
    match r.start() {
        Start::At(at) => event.starts(at.with_timezone(&chrono::Utc)),
        Start::Day(day) => event.starts(day),
    };
    if let Some(url) = r.manage_url {
        event.url(url);
    }
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//tripmail//booking//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .push(event.done());
    let mut text = String::new();
    write!(text, "{calendar}").ok()?;
    Some(text)
}

/// A short description: the booking reference, and the meeting point when there is one.
fn description(r: &Reservation<'_>) -> String {
    let b = r.booking;
    let mut text = format!("{} ({})", b.product_title, b.booking_id);
    if let Some(m) = &b.details.meeting_point {
        text.push_str(&format!("\n{m}"));
    }
    if let Some(url) = r.manage_url {
        text.push_str(&format!("\n{url}"));
    }
    text
}
