//! An email made for the run or a preview: its block from the campaign's source, then, on the
//! rendering threads, [`compose`] and what the caller does with the email there (the run: the
//! redirect and the whole message), in one hop.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::threads::on_render_threads;
use super::Campaigns;
use crate::bookings::Booking;
use crate::compose::{city_name, compose, in_its_language, Composed, Make, Parts};
use crate::config::CampaignSettings;
use crate::deliver::OutgoingEmail;
use crate::due::{Due, Venue};
use crate::recommend::BlockSource;
use crate::render::RenderError;
use crate::report::EmailRecord;
use crate::why::{self, Facts};

/// Which email to make: a campaign's, for a booking placed at its venue, due as `due` at `now`.
pub(crate) struct Which<'a> {
    pub(crate) campaign: &'a CampaignSettings,
    pub(crate) booking: &'a Arc<Booking>,
    pub(crate) venue: &'a Venue,
    pub(crate) due: Due,
    pub(crate) now: DateTime<Utc>,
    /// Where the block comes from instead of the campaign's source (a snapshot case's pinned
    /// answer); `None` for the campaign's own.
    pub(crate) source: Option<&'a dyn BlockSource>,
}

impl Campaigns {
    /// The one-click unsubscribe link of a booking's emails from `campaign`, for campaigns that
    /// have one (the settings were checked to hold a URL and a secret then).
    fn unsubscribe_link(&self, campaign: &CampaignSettings, booking: &Booking) -> Option<String> {
        let (base, secret) = self
            .unsubscribe
            .as_ref()
            .filter(|_| campaign.wants_unsubscribe())?;
        Some(crate::unsubscribe::link(
            base,
            secret,
            &campaign.name,
            &booking.booking_id,
        ))
    }

    /// The trip's city as the catalog names it (its own name, not a translation), else as the
    /// booking does: how the marketer reading [`Composed::why`] knows it.
    fn city_in_english(&self, venue: &Venue, booking: &Booking) -> String {
        let catalog = self.catalog.as_deref();
        catalog
            .zip(venue.city)
            .and_then(|(c, id)| c.city(id))
            .map_or_else(|| booking.city.clone(), |c| c.name.clone())
    }

    /// Makes `campaign`'s email for `booking` at `now`: the block from the campaign's source, then
    /// on the rendering threads the email ([`compose`]) and `finish` of it, whose second value comes
    /// back beside it. The caller has already placed the booking (`venue`) to decide it is due.
    pub(crate) async fn make<T: Send + 'static>(
        &self,
        which: Which<'_>,
        make: Make,
        finish: impl FnOnce(OutgoingEmail) -> (OutgoingEmail, T) + Send + 'static,
    ) -> Result<(Composed, T), RenderError> {
        let Which {
            campaign,
            booking,
            venue,
            due,
            now,
            source,
        } = which;
        let source = source.unwrap_or_else(|| self.sources.of(campaign));
        let block = source.block(campaign, booking, venue, make.why).await;
        let (chosen, rules, engine_error) = (block.chosen, block.rules, block.engine_error);
        let (items, names_city, without_block) = match chosen {
            Ok(choice) => (choice.items, choice.city_known, None),
            Err(reason) => (Vec::new(), false, Some(reason)),
        };
        let why = match make.why {
            true => why::words(&Facts {
                campaign,
                provider: source.provider(),
                booking,
                city: &self.city_in_english(venue, booking),
                rules: &rules,
                items: &items,
                dropped: &block.dropped,
                fitted: block.fitted,
                without_block: without_block.as_deref(),
                engine_error: engine_error.as_ref().map(|(e, _)| e.as_str()),
            }),
            false => Vec::new(),
        };
        let record = EmailRecord {
            campaign: campaign.name.clone(),
            booking_id: booking.booking_id.clone(),
            to: booking.customer_email.to_string(),
            subject: String::new(),
            provider: source.provider(),
            items: items.iter().map(|r| r.product_id.clone()).collect(),
            item_titles: items.iter().map(|r| r.title.clone()).collect(),
            rules,
            without_block,
            engine_error: engine_error.as_ref().map(|(e, _)| e.clone()),
        };
        let parts = Parts {
            city: city_name(self.catalog.as_deref(), venue, booking),
            unsubscribe: self.unsubscribe_link(campaign, booking),
            campaign: self.campaign_arc(campaign),
            booking: in_its_language(self.catalog.as_deref(), booking),
            items,
            days_to_travel: due.days_to_travel,
            names_city,
            manage_url: self.settings.links.manage_link(&booking.booking_id),
            venue_tz: venue.timezone,
            from: self.settings.sender.from.clone(),
            now,
        };
        let renderer = Arc::clone(&self.renderer);
        let made = on_render_threads(move || {
            let (content, email) = compose(&renderer, parts, make)?;
            let (email, then) = finish(email);
            Ok::<_, RenderError>((content, email, then))
        })
        .await;
        let (content, email, then) = made??;
        let record = EmailRecord {
            subject: content.subject.clone(),
            ..record
        };
        let composed = Composed {
            email,
            content,
            record,
            engine_transient: engine_error.is_some_and(|(_, transient)| transient),
            why,
        };
        Ok((composed, then))
    }
}
