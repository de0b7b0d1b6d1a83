//! Which campaign emails a booking is due for at an instant `now`. Dates are compared in the venue's
//! time zone: "today" in Sydney is not "today" in New York.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::bookings::{Booking, Status};
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, Trigger};

/// Where the visit takes place, as far as dates and seasons are concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Venue {
    /// Degrees, south negative; `None` when neither the booking nor the catalog knows the city.
    pub latitude: Option<f64>,
    /// The venue's time zone; UTC when nobody knows the city.
    pub timezone: Tz,
}

impl Venue {
    /// The booking's own latitude and time zone, else those of the catalog city of the same name,
    /// else no latitude and UTC.
    pub fn of(booking: &Booking, catalog: Option<&Catalog>) -> Venue {
        let city = catalog.and_then(|c| c.city_named(&booking.city));
        Venue {
            latitude: booking.latitude.or(city.map(|c| c.latitude)),
            timezone: booking
                .timezone
                .or(city.map(|c| c.timezone))
                .unwrap_or(Tz::UTC),
        }
    }

    /// The venue's date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.timezone).date_naive()
    }
}

/// A campaign email that is due, with what the templates need to know about timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Whole days from the venue's today to the travel date (0 = today).
    pub days_to_travel: i64,
}

/// Whether `campaign`'s email is due for `booking` at `now`.
pub fn due(
    campaign: &CampaignSettings,
    booking: &Booking,
    venue: &Venue,
    now: DateTime<Utc>,
) -> Option<Due> {
    if booking.status != Status::Confirmed {
        return None;
    }
    let days_to_travel = (booking.travel_date - venue.today(now)).num_days();
    if days_to_travel < 0 {
        return None;
    }
    let is_due = match campaign.trigger {
        Trigger::Confirmation => {
            let hours = i64::from(campaign.lookback_hours.unwrap_or(0));
            let booked = booking.booked_at.with_timezone(&Utc);
            booked <= now && now - booked < chrono::Duration::hours(hours)
        }
        Trigger::Reminder => {
            let days = i64::from(campaign.days_before.unwrap_or(0));
            (1..=days).contains(&days_to_travel)
        }
    };
    is_due.then_some(Due { days_to_travel })
}

#[cfg(test)]
mod tests {
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
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn venue(tz: Tz) -> Venue {
        Venue {
            latitude: None,
            timezone: tz,
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
    fn venue_comes_from_the_catalog_city_unless_the_booking_says() {
        let catalog = Catalog::from_json(r#"{"cities":[{"id":1,"name":"Sydney","country":"AU","latitude":-33.87,"timezone":"Australia/Sydney"}],"tags":[],"products":[]}"#).unwrap();
        let mut b = booking("2026-12-12", "2026-12-09T10:00:00Z");
        b.city = "SYDNEY".into();
        assert_eq!(
            Venue::of(&b, Some(&catalog)),
            Venue {
                latitude: Some(-33.87),
                timezone: chrono_tz::Australia::Sydney
            }
        );
        b.timezone = Some(chrono_tz::Australia::Perth);
        assert_eq!(
            Venue::of(&b, Some(&catalog)).timezone,
            chrono_tz::Australia::Perth
        );
        b.city = "Atlantis".into();
        b.timezone = None;
        assert_eq!(
            Venue::of(&b, Some(&catalog)),
            Venue {
                latitude: None,
                timezone: Tz::UTC
            }
        );
    }
}
