use chrono::{NaiveDate, NaiveTime};

use super::{calendar, json_ld, Reservation, Start};
use crate::bookings::{Booking, Locale};

fn booking() -> Booking {
    let mut b = Booking::sample(Locale::En);
    b.travel_date = NaiveDate::from_ymd_opt(2026, 12, 11).unwrap_or_default();
    b.details.start_time = NaiveTime::from_hms_opt(9, 30, 0);
    b.details.venue_name = Some("Musei Vaticani".into());
    b.details.venue_address = Some("Viale Vaticano, 00165 Roma RM, Italy".into());
    b
}

fn reservation(b: &Booking) -> Reservation<'_> {
    Reservation {
        booking: b,
        venue_tz: chrono_tz::Europe::Rome,
        manage_url: Some("https://w.example/bookings/SAMPLE-1"),
        domain: "w.example",
    }
}

#[test]
fn the_start_is_the_venue_time_and_a_day_without_one() {
    let mut b = booking();
    let at = match reservation(&b).start() {
        Start::At(at) => at.to_rfc3339(),
        Start::Day(_) => String::new(),
    };
    assert_eq!(at, "2026-12-11T09:30:00+01:00");
    b.details.start_time = None;
    assert!(matches!(reservation(&b).start(), Start::Day(_)));
    assert!(calendar(&reservation(&b))
        .unwrap_or_default()
        .contains("DTSTART;VALUE=DATE:20261211\r\n"));
}

#[test]
fn the_calendar_is_a_published_event_in_utc() {
    let b = booking();
    let ics = calendar(&reservation(&b)).unwrap_or_default();
    for line in [
        "METHOD:PUBLISH\r\n",
        "UID:SAMPLE-1@w.example\r\n",
        "DTSTART:20261211T083000Z\r\n",
        "DTSTAMP:19700101T000000Z\r\n",
        "URL:https://w.example/bookings/SAMPLE-1\r\n",
    ] {
        assert!(ics.contains(line), "{line:?} missing in {ics}");
    }
    assert!(ics.contains("LOCATION:Musei Vaticani\\, Viale Vaticano\\, 00165 Roma RM\\, Italy"));
}

#[test]
fn no_title_closes_the_script_element() {
    let mut b = booking();
    b.product_title = "</script><script>alert(1)</script> & more".into();
    let json = json_ld(&reservation(&b));
    assert!(!json.contains('<') && !json.contains('>'), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(
        value["reservationFor"]["name"],
        "</script><script>alert(1)</script> & more"
    );
    assert_eq!(
        value["reservationFor"]["startDate"],
        "2026-12-11T09:30:00+01:00"
    );
}
