//! The cross-sell API as a block source: keyed by product, its answers carry no tags, so the
//! heuristics' preferences are asked for with tag filters (one request per filter the booking's
//! tailoring needs, each cached per product), and the customer's held products are excluded
//! locally unless that left too few items from a full page, when the API is asked again without
//! them.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::embedded::MAX_ITEMS;
use super::{BlockSource, CacheStats, Cached, EngineError, Recommendation};
use crate::bookings::Booking;
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, HeuristicsSettings, Provider};
use crate::due::Venue;
use crate::fit::Trip;
use crate::heuristics::{self, Answers, Choice, Tailoring};

mod client;

pub use client::{ClientOptions, CrossSellClient, Query};

/// The answers for one tailoring: unfiltered (or family-tagged), season-tagged, adults-only.
type Asked = (
    Arc<[Recommendation]>,
    Option<Arc<[Recommendation]>>,
    Option<Arc<[Recommendation]>>,
);

/// The cross-sell strategy over its cached client.
pub(crate) struct CrossSell {
    client: Cached<CrossSellClient>,
    /// Whether queries carry the booking's language (the client sends it).
    sends_language: bool,
    heuristics: HeuristicsSettings,
    catalog: Option<Arc<Catalog>>,
}

impl CrossSell {
    /// Asks `client` (cached for the run), tailoring with `heuristics`; the catalog, when there is
    /// one, places items and held products.
    pub(crate) fn new(
        client: CrossSellClient,
        heuristics: HeuristicsSettings,
        catalog: Option<Arc<Catalog>>,
    ) -> CrossSell {
        CrossSell {
            sends_language: client.sends_language(),
            client: Cached::new(client),
            heuristics,
            catalog,
        }
    }

    async fn ask(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        tags: &[u64],
        exclude: &[u64],
    ) -> Result<Arc<[Recommendation]>, EngineError> {
        self.client
            .get(&Query {
                product_id: booking.product_id,
                sort_by: campaign.sort_by,
                tag_ids: tags.to_vec(),
                exclude_ids: exclude.to_vec(),
                lang: self.sends_language.then(|| booking.locale.as_str()),
            })
            .await
    }

    /// The three answers a tailoring may need, asked at once.
    async fn ask_all(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        plan: &Tailoring,
        exclude: &[u64],
    ) -> Result<Asked, EngineError> {
        let fetch = |tags: Option<Vec<u64>>| {
            let exclude = exclude.to_vec();
            async move {
                match tags {
                    Some(t) => self.ask(campaign, booking, &t, &exclude).await.map(Some),
                    None => Ok(None),
                }
            }
        };
        let base = async {
            let tags = plan.family.clone().unwrap_or_default();
            self.ask(campaign, booking, &tags, exclude).await
        };
        let (base, preferred, adults_only) = futures::join!(
            base,
            fetch(plan.preferred.clone()),
            fetch(plan.adults_only.clone()),
        );
        Ok((base?, preferred?, adults_only?))
    }

    /// One request per tag filter the tailoring needs, cached per product.
    async fn choose(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        venue: &Venue,
        rules: &mut Vec<String>,
        explain: bool,
    ) -> Result<Result<Choice, String>, EngineError> {
        let plan = heuristics::plan(booking, venue.latitude, &self.heuristics);
        rules.extend(plan.rules.iter().cloned());
        let trip = Trip::of(booking, self.catalog.as_deref());
        let mut exclude: Vec<u64> = Vec::new();
        loop {
            let (base, preferred, adults_only) =
                self.ask_all(campaign, booking, &plan, &exclude).await?;
            let choice = heuristics::choose_explained(
                booking,
                &trip,
                &plan,
                Answers {
                    base: &base,
                    preferred: preferred.as_deref(),
                    adults_only: adults_only.as_deref(),
                },
                campaign.items,
                explain,
            );
            if exclude.is_empty() && asks_again(&choice, campaign.items, base.len()) {
                exclude = booking.other_product_ids.clone();
                exclude.push(booking.product_id);
                exclude.sort_unstable();
                exclude.dedup();
                rules.push("requery:exclude_held".into());
                continue;
            }
            return Ok(Ok(choice));
        }
    }
}

/// Whether to ask again without the held products. Per-customer exclusions are applied locally so
/// that they do not defeat the cache; the engine is asked with them only when they left too few
/// items and its answer was full (a page: more may lie beyond it). A shorter answer already has one
/// product of every experience the engine has for the query; asking again without the held
/// products could only bring back another variant of an experience the customer holds, which the
/// block should not offer.
fn asks_again(choice: &Choice, wanted: usize, answered: usize) -> bool {
    choice.dropped_held + choice.dropped_same_experience > 0
        && choice.items.len() < wanted
        && answered >= MAX_ITEMS
}

impl BlockSource for CrossSell {
    fn provider(&self) -> Provider {
        Provider::Tiqets
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
