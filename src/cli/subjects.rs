//! The subject lines `tripmail validate` warns about: per campaign and locale, the longest subject
//! over [`SUBJECT_MAX_CHARS`] characters on the sample booking and on the bookings file (the first
//! [`MAX_ROWS`] rows). A warning, not a failure: a long subject is cut off in the inbox list, but the
//! email is still right.

use std::collections::BTreeMap;

use crate::bookings::{Booking, BookingReader, Locale};
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::render::{Renderer, SUBJECT_MAX_CHARS};

/// Bookings read for the check, at most.
const MAX_ROWS: usize = 100_000;

/// One campaign and locale's longest subject over the limit, and how many were over.
pub(crate) struct LongSubject {
    pub campaign: String,
    pub locale: Locale,
    pub booking_id: String,
    pub subject: String,
    pub count: usize,
}

/// Every campaign × locale whose subjects go over [`SUBJECT_MAX_CHARS`] characters, on the sample
/// booking of each locale and the bookings of the file (rows that cannot be read are left to `run`).
pub(crate) fn long_subjects(
    settings: &Settings,
    renderer: &Renderer,
    catalog: Option<&Catalog>,
    reader: BookingReader,
) -> anyhow::Result<Vec<LongSubject>> {
    let bookings = Locale::ALL
        .into_iter()
        .map(Booking::sample)
        .chain(reader.take(MAX_ROWS).filter_map(Result::ok));
    let mut long: BTreeMap<(usize, Locale), LongSubject> = BTreeMap::new();
    for booking in bookings {
        let city = catalog
            .and_then(|c| c.city_named(&booking.city))
            .and_then(|c| c.names.get(booking.locale.as_str()))
            .map_or(booking.city.as_str(), String::as_str);
        for (i, campaign) in settings.campaigns.iter().enumerate() {
            let days = campaign.days_before.map_or(2, i64::from);
            let subject = renderer.subject_for(campaign, &booking, city, days)?;
            let chars = subject.chars().count();
            if chars <= SUBJECT_MAX_CHARS {
                continue;
            }
            let entry = long.entry((i, booking.locale)).or_insert(LongSubject {
                campaign: campaign.name.clone(),
                locale: booking.locale,
                booking_id: booking.booking_id.clone(),
                subject: subject.clone(),
                count: 0,
            });
            entry.count += 1;
            if chars > entry.subject.chars().count() {
                entry.booking_id = booking.booking_id.clone();
                entry.subject = subject;
            }
        }
    }
    Ok(long.into_values().collect())
}
