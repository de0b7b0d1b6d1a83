//! The due rules on cases: venue dates, lookbacks, windows in the customer's zone, daylight-saving
//! nights and runner ticks.

use super::*;
use crate::bookings::Locale;
use crate::config::SortBy;

fn booking(travel: &str, booked: &str) -> Booking {
    Booking {
        booking_id: "B1".into(),
        customer_email: "a@example.com".parse().unwrap(),
        customer_first_name: "A".into(),
        locale: Locale::En,
        product_id: 1,
        product_title: "T".into(),
        city: "Sydney".into(),
        travel_date: travel.parse().unwrap(),
        booked_at: DateTime::parse_from_rfc3339(booked).unwrap(),
        adults: 1,
        children: 0,
        status: Status::Confirmed,
        marketing_opt_in: true,
        latitude: None,
        timezone: None,
        other_product_ids: vec![],
        customer_id: None,
        customer_phone: None,
        contact_id: None,
        web_id: None,
        details: Default::default(),
    }
}

fn campaign(trigger: Trigger) -> CampaignSettings {
    CampaignSettings {
        name: trigger.as_str().into(),
        trigger,
        lookback_hours: (trigger == Trigger::Confirmation).then_some(48),
        days_before: (trigger == Trigger::Reminder).then_some(3),
        sort_by: SortBy::Commission,
        items: 3,
        template: None,
        list_unsubscribe: None,
        provider: None,
        data_source_id: None,
        enabled: true,
        starts_on: None,
        ends_on: None,
        send_window: None,
        send_days: None,
        send_at: None,
        transactional: None,
        in_doubt: None,
        min_hours_after_confirmation: None,
    }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn venue(tz: Tz) -> Venue {
    Venue {
        latitude: None,
        timezone: tz,
        customer: tz,
        city: None,
    }
}

#[test]
fn reminder_is_due_three_days_before_in_venue_time() {
    let b = booking("2026-12-13", "2026-11-01T10:00:00Z");
    let c = campaign(Trigger::Reminder);
    // 2026-12-09T14:00Z is already 10 December in Sydney (UTC+11): three days to go.
    let now = at("2026-12-09T14:00:00Z");
    assert_eq!(
        due(&c, &b, &venue(chrono_tz::Australia::Sydney), now),
        Some(Due { days_to_travel: 3 })
    );
    // ...but still 9 December in New York: four days, not yet due.
    assert_eq!(due(&c, &b, &venue(chrono_tz::America::New_York), now), None);
}

#[test]
fn reminder_is_not_sent_on_the_travel_day() {
    let b = booking("2026-12-10", "2026-11-01T10:00:00Z");
    assert_eq!(
        due(
            &campaign(Trigger::Reminder),
            &b,
            &venue(Tz::UTC),
            at("2026-12-10T08:00:00Z")
        ),
        None
    );
}

#[test]
fn confirmation_is_due_within_the_lookback() {
    let c = campaign(Trigger::Confirmation);
    let now = at("2026-12-10T09:00:00Z");
    let v = venue(Tz::UTC);
    assert!(due(&c, &booking("2027-07-01", "2026-12-08T09:00:01Z"), &v, now).is_some());
    assert!(due(&c, &booking("2027-07-01", "2026-12-08T09:00:00Z"), &v, now).is_none());
    // A booking stamped after `now` is not due yet.
    assert!(due(&c, &booking("2027-07-01", "2026-12-10T09:00:01Z"), &v, now).is_none());
}

#[test]
fn confirmation_for_a_visit_today_is_due_but_not_for_a_past_one() {
    let c = campaign(Trigger::Confirmation);
    let now = at("2026-12-10T09:00:00Z");
    let v = venue(Tz::UTC);
    assert_eq!(
        due(&c, &booking("2026-12-10", "2026-12-10T08:00:00Z"), &v, now),
        Some(Due { days_to_travel: 0 })
    );
    assert!(due(&c, &booking("2026-12-09", "2026-12-10T08:00:00Z"), &v, now).is_none());
}

#[test]
fn cancelled_bookings_get_nothing() {
    let mut b = booking("2026-12-12", "2026-12-09T10:00:00Z");
    b.status = Status::Cancelled;
    let now = at("2026-12-10T09:00:00Z");
    for t in [Trigger::Confirmation, Trigger::Reminder] {
        assert!(due(&campaign(t), &b, &venue(Tz::UTC), now).is_none());
    }
}

#[test]
fn venue_comes_from_the_catalog_city_and_the_customer_zone_from_the_booking() {
    let catalog = Catalog::from_json(r#"{"cities":[{"id":1,"name":"Sydney","country":"AU","latitude":-33.87,"timezone":"Australia/Sydney"}],"tags":[],"products":[]}"#).unwrap();
    let mut b = booking("2026-12-12", "2026-12-09T10:00:00Z");
    b.city = "SYDNEY".into();
    let sydney = chrono_tz::Australia::Sydney;
    assert_eq!(
        Venue::of(&b, Some(&catalog)),
        Venue {
            latitude: Some(-33.87),
            timezone: sydney,
            customer: sydney,
            city: Some(1),
        }
    );
    // A customer in Perth booking in Sydney: Sydney dates, Perth hours.
    b.timezone = Some(chrono_tz::Australia::Perth);
    let v = Venue::of(&b, Some(&catalog));
    assert_eq!(
        (v.timezone, v.customer),
        (sydney, chrono_tz::Australia::Perth)
    );
    // A city nobody knows: the booking's zone for both, else UTC.
    b.city = "Atlantis".into();
    let v = Venue::of(&b, Some(&catalog));
    assert_eq!(
        (v.latitude, v.timezone),
        (None, chrono_tz::Australia::Perth)
    );
    b.timezone = None;
    assert_eq!(
        Venue::of(&b, Some(&catalog)),
        Venue {
            latitude: None,
            timezone: Tz::UTC,
            customer: Tz::UTC,
            city: None,
        }
    );
}

fn windowed(trigger: Trigger, window: &str) -> CampaignSettings {
    CampaignSettings {
        send_window: Some(window.to_string().try_into().unwrap()),
        ..campaign(trigger)
    }
}

#[test]
fn a_confirmation_booked_at_night_waits_for_the_window_unless_transactional() {
    let paris = venue(chrono_tz::Europe::Paris);
    // Booked at 23:30 in Paris (22:30 UTC).
    let b = booking("2027-07-01", "2026-12-09T23:30:00+01:00");
    let booked = at("2026-12-09T22:30:00Z");
    let c = windowed(Trigger::Confirmation, "09:00-20:00");
    assert_eq!(
        when(&c, &b, &paris, booked),
        When::Waiting(at("2026-12-10T08:00:00Z"))
    );
    assert_eq!(
        next_send(&c, &b, &paris, booked),
        Some(at("2026-12-10T08:00:00Z"))
    );
    assert!(matches!(
        when(&c, &b, &paris, at("2026-12-10T08:00:00Z")),
        When::Send(_)
    ));
    assert!(matches!(
        when(&c, &b, &paris, at("2026-12-10T19:00:00Z")),
        When::Waiting(_)
    ));
    let t = CampaignSettings {
        transactional: Some(true),
        send_days: Some(vec!["mon".to_string()].try_into().unwrap()),
        ..c
    };
    assert!(matches!(when(&t, &b, &paris, booked), When::Send(_)));
}

#[test]
fn the_window_is_read_in_the_customer_zone_not_the_venue_one() {
    // A New Yorker's reminder for a trip to Rome: Rome dates, New York hours.
    let v = Venue {
        latitude: None,
        timezone: chrono_tz::Europe::Rome,
        customer: chrono_tz::America::New_York,
        city: None,
    };
    let c = windowed(Trigger::Reminder, "09:00-17:00");
    let b = booking("2026-12-13", "2026-11-01T10:00:00Z");
    // Due from 10 December 00:00 in Rome (9 December 23:00 UTC, 18:00 in New York, closed);
    // New York opens at 09:00, 14:00 UTC.
    assert_eq!(
        next_send(&c, &b, &v, at("2026-12-09T00:00:00Z")),
        Some(at("2026-12-10T14:00:00Z"))
    );
    // With the window to 20:00, it goes at once.
    let c = windowed(Trigger::Reminder, "09:00-20:00");
    assert_eq!(
        next_send(&c, &b, &v, at("2026-12-09T00:00:00Z")),
        Some(at("2026-12-09T23:00:00Z"))
    );
}

#[test]
fn send_at_days_and_dates_move_a_reminder() {
    let rome = venue(chrono_tz::Europe::Rome);
    // Travel Saturday 12 December: due from Wednesday 9 December in Rome.
    let b = booking("2026-12-12", "2026-11-01T10:00:00Z");
    let mut c = CampaignSettings {
        send_at: Some("10:00".to_string().try_into().unwrap()),
        ..windowed(Trigger::Reminder, "09:00-20:00")
    };
    let from = at("2026-12-01T00:00:00Z");
    assert_eq!(
        next_send(&c, &b, &rome, from),
        Some(at("2026-12-09T09:00:00Z"))
    );
    // Missed at 10:00 (the runner was down): later the same day, inside the window.
    assert_eq!(
        next_send(&c, &b, &rome, at("2026-12-09T15:00:00Z")),
        Some(at("2026-12-09T15:00:00Z"))
    );
    // ...but after the window, the next day at 10:00.
    assert_eq!(
        next_send(&c, &b, &rome, at("2026-12-09T19:00:00Z")),
        Some(at("2026-12-10T09:00:00Z"))
    );
    c.send_days = Some(
        vec!["fri".to_string(), "sat".to_string()]
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        next_send(&c, &b, &rome, from),
        Some(at("2026-12-11T09:00:00Z"))
    );
    c.starts_on = Some("2026-12-12".parse().unwrap());
    // Saturday is the travel day: no longer due.
    assert_eq!(next_send(&c, &b, &rome, from), None);
    assert_eq!(
        when(&c, &b, &rome, at("2026-12-10T09:00:00Z")),
        When::Closed
    );
    c.starts_on = None;
    c.ends_on = Some("2026-12-10".parse().unwrap());
    assert_eq!(next_send(&c, &b, &rome, from), None);
    c.ends_on = None;
    c.enabled = false;
    assert_eq!(next_send(&c, &b, &rome, from), None);
    assert_eq!(
        when(&c, &b, &rome, at("2026-12-11T09:00:00Z")),
        When::NotDue
    );
}

#[test]
fn daylight_saving_days_neither_skip_nor_double_a_send() {
    // Travel Wednesday 31 March 2027 in Paris; due from Sunday 28 March, the spring-forward
    // day, at 02:30, a time that does not exist that night: it goes at 03:00 CEST.
    let paris = venue(chrono_tz::Europe::Paris);
    let c = CampaignSettings {
        send_at: Some("02:30".to_string().try_into().unwrap()),
        ..windowed(Trigger::Reminder, "02:00-04:00")
    };
    let b = booking("2027-03-31", "2027-01-01T10:00:00Z");
    let first = next_send(&c, &b, &paris, at("2027-03-27T00:00:00Z"));
    assert_eq!(first, Some(at("2027-03-28T01:00:00Z")));
    // The window that night is one hour long (03:00 to 04:00 CEST).
    assert!(matches!(
        when(&c, &b, &paris, at("2027-03-28T01:59:00Z")),
        When::Send(_)
    ));
    assert!(matches!(
        when(&c, &b, &paris, at("2027-03-28T02:00:00Z")),
        When::Waiting(_)
    ));
    // Sydney, Sunday 4 April 2027, clocks go back at 03:00: 02:30 happens twice; the first.
    let sydney = venue(chrono_tz::Australia::Sydney);
    let b = booking("2027-04-07", "2027-01-01T10:00:00Z");
    assert_eq!(
        next_send(&c, &b, &sydney, at("2027-04-01T00:00:00Z")),
        Some(at("2027-04-03T15:30:00Z"))
    );
    // The window holds both passes of 02:00-03:00 and the hour to 04:00: three hours.
    assert!(matches!(
        when(&c, &b, &sydney, at("2027-04-03T17:59:00Z")),
        When::Send(_)
    ));
    assert!(matches!(
        when(&c, &b, &sydney, at("2027-04-03T18:00:00Z")),
        When::Waiting(_)
    ));
}

#[test]
fn on_ticks_the_send_waits_for_the_first_tick_inside_the_window() {
    let c = windowed(Trigger::Confirmation, "09:00-20:00");
    let v = venue(chrono_tz::Australia::Adelaide); // UTC+10:30 in December
    let b = booking("2027-07-01", "2026-12-10T09:10:00+10:30");
    let hour = Some(std::time::Duration::from_secs(3600));
    // Due at 22:40 UTC, open from 22:30 UTC: the 23:00 tick.
    assert_eq!(
        next_send_on_ticks(&c, &b, &v, at("2026-12-09T00:00:00Z"), hour),
        Some(at("2026-12-09T23:00:00Z"))
    );
    // Booked at 19:50 local (09:20 UTC): it could go at once, but the next tick (10:00 UTC) is
    // 20:30 local, closed; 09:00 local the next day is 22:30 UTC, and its tick 23:00 UTC.
    let late = booking("2027-07-01", "2026-12-10T19:50:00+10:30");
    assert_eq!(
        next_send_on_ticks(&c, &late, &v, at("2026-12-09T00:00:00Z"), None),
        Some(at("2026-12-10T09:20:00Z"))
    );
    assert_eq!(
        next_send_on_ticks(&c, &late, &v, at("2026-12-09T00:00:00Z"), hour),
        Some(at("2026-12-10T23:00:00Z"))
    );
}
