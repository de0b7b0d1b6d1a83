//! One booking's email at an instant, due or not, for `tripmail preview` (and a console).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::make::Which;
use super::{Campaigns, FatalError};
use crate::bookings::{Booking, BookingReader, Locale};
use crate::compose::{Composed, Make};
use crate::config::CampaignSettings;
use crate::due::{next_send, when, Due, When};
use crate::recommend::BlockSource;

impl Campaigns {
    /// Finds one booking by id and composes `campaign`'s email for it at an instant, whether or not
    /// it is due then: at `now`, or, with [`PreviewAt::AsOf`], when it goes on that date (the
    /// customer's). Says what the campaign does about it then, and at which instant it was composed.
    pub async fn preview(
        &self,
        booking_id: &str,
        campaign: &str,
        at: PreviewAt,
    ) -> Result<Preview, FatalError> {
        self.preview_in(booking_id, campaign, at, None).await
    }

    /// The campaign of the settings named `name`.
    fn campaign_named(&self, name: &str) -> Result<&CampaignSettings, FatalError> {
        self.settings
            .campaign(name)
            .ok_or_else(|| FatalError::UnknownCampaign(name.to_string()))
    }

    /// [`preview`](Campaigns::preview) in `language` instead of the booking's own, when given.
    pub async fn preview_in(
        &self,
        booking_id: &str,
        campaign: &str,
        at: PreviewAt,
        language: Option<&str>,
    ) -> Result<Preview, FatalError> {
        let campaign = self.campaign_named(campaign)?;
        let path = &self.settings.bookings.path;
        let mut found = None;
        let mut unreadable = 0;
        for row in BookingReader::open(path)? {
            match row {
                Ok(b) if b.booking_id == booking_id => {
                    found = Some(b);
                    break;
                }
                Ok(_) => {}
                Err(e) if e.reason.starts_with(&format!("booking {booking_id}: ")) => {
                    return Err(FatalError::UnreadableBooking(e))
                }
                Err(_) => unreadable += 1,
            }
        }
        let booking = found.ok_or_else(|| FatalError::UnknownBooking {
            file: path.display().to_string(),
            booking_id: booking_id.to_string(),
            unreadable,
        })?;
        self.preview_of(booking, &campaign.name, at, language).await
    }

    /// Composes `campaign`'s email for a booking already read (a console holds the file in
    /// memory), as [`preview`](Campaigns::preview) does, with why the block holds its items
    /// ([`Composed::why`]); in `language` instead of the booking's own when given (one of
    /// [`locales`](Campaigns::locales): `de`, `de-AT`, …).
    pub async fn preview_of(
        &self,
        booking: Booking,
        campaign: &str,
        at: PreviewAt,
        language: Option<&str>,
    ) -> Result<Preview, FatalError> {
        self.preview_from(booking, campaign, (at, language), None)
            .await
    }

    /// [`preview_of`](Campaigns::preview_of) with the block from `source` instead of the
    /// campaign's own, when given (a snapshot case's pinned answer).
    pub(crate) async fn preview_from(
        &self,
        booking: Booking,
        campaign: &str,
        (at, language): (PreviewAt, Option<&str>),
        source: Option<&dyn BlockSource>,
    ) -> Result<Preview, FatalError> {
        let campaign = self.campaign_named(campaign)?;
        let locale = match language {
            Some(asked) => Locale::parse(asked).ok_or_else(|| FatalError::UnknownLanguage {
                asked: asked.to_string(),
                known: self.locales().join(", "),
            })?,
            None => booking.locale,
        };
        let booking = Booking { locale, ..booking };
        let venue = self.venue(&booking);
        let now = match at {
            PreviewAt::Now(now) => now,
            PreviewAt::AsOf(date) => {
                // The send on that date when there is one, else the day's opening hour.
                let tz = venue.customer;
                let day_start = crate::schedule::ClockTime::START.on(date, tz);
                next_send(campaign, &booking, &venue, day_start)
                    .filter(|t| t.with_timezone(&tz).date_naive() == date)
                    .unwrap_or_else(|| campaign.daily_hours().0.on(date, tz))
            }
        };
        let d = Due::at(&booking, &venue, now);
        let booking = Arc::new(booking);
        let make = Make {
            why: true,
            ..Make::default()
        };
        let which = Which {
            campaign,
            booking: &booking,
            venue: &venue,
            due: d,
            now,
            source,
        };
        let (composed, ()) = self.make(which, make, |e| (e, ())).await?;
        Ok(Preview {
            composed,
            when: when(campaign, &booking, &venue, now),
            now,
        })
    }

    /// The languages the templates are written in (every email can be previewed in each), as
    /// `preview_of`'s `language` takes them.
    pub fn locales(&self) -> Vec<&'static str> {
        Locale::ALL.iter().map(|l| l.as_str()).collect()
    }
}

/// The instant a preview is composed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewAt {
    /// This instant.
    Now(DateTime<Utc>),
    /// When the email goes on this date of the customer's (its window's opening when it does not).
    AsOf(chrono::NaiveDate),
}

/// One booking's email, composed for a preview.
#[derive(Debug)]
pub struct Preview {
    /// The email.
    pub composed: Composed,
    /// What the campaign does about the booking at `now`.
    pub when: When,
    /// The instant it was composed at.
    pub now: DateTime<Utc>,
}
