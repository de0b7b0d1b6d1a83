//! The contact-recommendations API as a block source: keyed by customer, so one request per
//! customer (and products, data source), identified by a column of the booking; its items say what
//! they are (`tags_*` fields), so the heuristics split one answer instead of asking with tag
//! filters. A booking that cannot identify its customer gets no block, and a bookings file whose
//! header lacks the identifying column is refused before the first email.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{BlockSource, CacheStats, Cached, EngineError};
use crate::bookings::Booking;
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, CategoryFrom, IdentifyBy, Provider, YespoSettings};
use crate::due::Venue;
use crate::fit::Trip;
use crate::heuristics::{self, Choice};

mod client;
mod identity;
mod items;

pub use client::{ContactClient, ContactOptions, ContactQuery};
pub use identity::check_identity_column;
pub use items::{parse_items, ItemFormat};

/// The contact-recommendations strategy over its cached client.
pub(crate) struct Contact {
    client: Cached<ContactClient>,
    settings: YespoSettings,
    catalog: Option<Arc<Catalog>>,
}

impl Contact {
    /// Asks `client` (cached for the run) as `settings` say; the catalog, when there is one, places
    /// items and held products.
    pub(crate) fn new(
        client: ContactClient,
        settings: YespoSettings,
        catalog: Option<Arc<Catalog>>,
    ) -> Contact {
        Contact {
            client: Cached::new(client),
            settings,
            catalog,
        }
    }

    /// One request per customer (and products, data source); the heuristics read the items'
    /// `tags_*` fields instead of asking with a tag filter.
    async fn choose(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        venue: &Venue,
        rules: &mut Vec<String>,
        explain: bool,
    ) -> Result<Result<Choice, String>, EngineError> {
        let query = match self.query(campaign, booking) {
            Ok(query) => query,
            Err((rule, reason)) => {
                rules.push(rule);
                return Ok(Err(reason.into()));
            }
        };
        let items = self.client.get(&query).await?;
        let split = heuristics::split(booking, venue.latitude, &items);
        rules.extend(split.tailoring.rules.iter().cloned());
        Ok(Ok(heuristics::choose_explained(
            booking,
            &Trip::of(booking, self.catalog.as_deref()),
            &split.tailoring,
            split.answers(),
            campaign.items,
            explain,
        )))
    }

    /// What to ask for `booking`, or the rule and reason why it cannot be asked for (no identity,
    /// or one the API would refuse).
    fn query(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
    ) -> Result<ContactQuery, (String, &'static str)> {
        let y = &self.settings;
        let Some(identity) = booking.identity(y.identify_by) else {
            return Err((
                format!("no_identity:{}", y.identify_by.field()),
                "no_identity",
            ));
        };
        // The API's contactId is a Long; anything else would be refused for every such booking.
        if y.identify_by == IdentifyBy::ContactId && identity.parse::<i64>().is_err() {
            return Err(("bad_identity:contact_id".into(), "bad_identity"));
        }
        let mut products = vec![booking.product_id];
        for p in &booking.other_product_ids {
            if !products.contains(p) {
                products.push(*p);
            }
        }
        Ok(ContactQuery {
            data_source_id: campaign.data_source_id.unwrap_or(y.data_source_id),
            identify_by: y.identify_by,
            identity,
            products,
            category: y.category.map(|c| match c {
                CategoryFrom::City => booking.city.clone(),
            }),
        })
    }
}

impl BlockSource for Contact {
    fn provider(&self) -> Provider {
        Provider::Yespo
    }

    fn tailor<'a>(
        &'a self,
        campaign: &'a CampaignSettings,
        booking: &'a Booking,
        venue: &'a Venue,
        rules: &'a mut Vec<String>,
        explain: bool,
    ) -> BoxFuture<'a, Result<Result<Choice, String>, EngineError>> {
        Box::pin(self.choose(campaign, booking, venue, rules, explain))
    }

    fn stats(&self) -> CacheStats {
        self.client.stats()
    }
}
