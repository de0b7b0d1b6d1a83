//! The seam between a run and the recommendation APIs: a [`BlockSource`] gives one email's
//! "Complete your trip" block, whichever API it asks, so that the run never names one. What every
//! source does alike lives here, once: no block without the customer's opt-in, an API failure
//! turned into the email's reason and the report's engine error, and the rules read off the choice
//! (what was excluded, too few items, a heading that cannot name the city).

use futures::future::BoxFuture;

use super::{CacheStats, EngineError};
use crate::bookings::Booking;
use crate::config::{CampaignSettings, Provider};
use crate::due::Venue;
use crate::heuristics::Choice;
use crate::why::Dropped;

/// One email's block, as its source chose it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Block {
    /// The items, or why there are none: `no_opt_in`, `too_few_items`, a reason of the source's
    /// own (`no_identity`, `bad_identity`) or the API's failure (`engine_timeout`, …).
    pub(crate) chosen: Result<Choice, String>,
    /// The rules that fired, in order, for the email's record.
    pub(crate) rules: Vec<String>,
    /// The API's failure as the report shows it (`"<provider>: <error>"`), and whether it may pass
    /// by itself ([`EngineError::is_transient`]): a runner may then hold the email for its next tick.
    pub(crate) engine_error: Option<(String, bool)>,
    /// The items left out and why, when the block was asked for with `explain` (else empty).
    pub(crate) dropped: Vec<Dropped>,
    /// How many items fitted (shown, or too few to show).
    pub(crate) fitted: usize,
}

/// Where one campaign's blocks come from: a recommendation API, its client (with the run's cache)
/// and the strategy that asks it and tailors its answers with the heuristics.
pub(crate) trait BlockSource: Send + Sync {
    /// The API asked, as the config, the report and engine errors name it.
    fn provider(&self) -> Provider;

    /// Asks the API for `booking`'s items and tailors them, adding the rules that fired to `rules`:
    /// `Ok(Err(reason))` when the source has no block for a reason of its own (no identity to ask
    /// with), `Err` when the API failed. With `explain`, the choice keeps each item it left out
    /// ([`Choice::dropped`]).
    fn tailor<'a>(
        &'a self,
        campaign: &'a CampaignSettings,
        booking: &'a Booking,
        venue: &'a Venue,
        rules: &'a mut Vec<String>,
        explain: bool,
    ) -> BoxFuture<'a, Result<Result<Choice, String>, EngineError>>;

    /// Requests made to the API and answers from the cache so far.
    fn stats(&self) -> CacheStats;

    /// The block of `campaign`'s email for `booking` (placed at `venue`): nothing without the
    /// customer's opt-in, else [`tailor`](BlockSource::tailor)'s choice, with the rules every
    /// source shares; with `explain`, each item left out and why.
    fn block<'a>(
        &'a self,
        campaign: &'a CampaignSettings,
        booking: &'a Booking,
        venue: &'a Venue,
        explain: bool,
    ) -> BoxFuture<'a, Block> {
        Box::pin(async move {
            let mut block = Block {
                chosen: Err(String::new()),
                rules: Vec::new(),
                engine_error: None,
                dropped: Vec::new(),
                fitted: 0,
            };
            block.chosen = choose(self, (campaign, booking, venue), &mut block, explain).await;
            block
        })
    }
}

/// Chooses the block's items, writing the rules, the engine's error and what was left out into
/// `block`; `Err` holds the reason there is no block.
async fn choose<S: BlockSource + ?Sized>(
    source: &S,
    (campaign, booking, venue): (&CampaignSettings, &Booking, &Venue),
    block: &mut Block,
    explain: bool,
) -> Result<Choice, String> {
    let (rules, engine_error) = (&mut block.rules, &mut block.engine_error);
    if !booking.marketing_opt_in {
        rules.push("no_opt_in".into());
        return Err("no_opt_in".into());
    }
    let provider = source.provider();
    let choice = source
        .tailor(campaign, booking, venue, rules, explain)
        .await;
    let mut choice = match choice {
        Ok(Ok(c)) => c,
        Ok(Err(reason)) => return Err(reason),
        Err(e) => {
            let reason = e.reason();
            tracing::warn!(booking = %booking.booking_id, product = booking.product_id, "engine ({}): {e}", provider.as_str());
            rules.push(format!("engine_error:{reason}"));
            *engine_error = Some((format!("{}: {e}", provider.as_str()), e.is_transient()));
            return Err(reason);
        }
    };
    block.dropped = std::mem::take(&mut choice.dropped);
    block.fitted = choice.items.len();
    judge(choice, &mut block.rules)
}

/// The rules read off a choice, and whether it makes a block (two items at least).
fn judge(choice: Choice, rules: &mut Vec<String>) -> Result<Choice, String> {
    if choice.dropped_out_of_stock > 0 {
        rules.push("excluded:out_of_stock".into());
    }
    if choice.dropped_held > 0 {
        rules.push("excluded:held".into());
    }
    if choice.dropped_adults_only > 0 {
        rules.push("excluded:adults_only".into());
    }
    if choice.dropped_same_experience > 0 {
        rules.push("excluded:same_experience".into());
    }
    if choice.dropped_other_city > 0 {
        rules.push("excluded:other_city".into());
    }
    if choice.items.len() < 2 {
        rules.push("too_few_items".into());
        return Err("too_few_items".into());
    }
    if !choice.city_known {
        rules.push("heading:city_unknown".into());
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    //! The shared rules against a scripted source: no socket, no engine.
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::bookings::Locale;

    /// A source that answers what it is told, and counts how often it was asked.
    struct Scripted {
        answer: Result<Result<Choice, String>, EngineError>,
        rules: Vec<&'static str>,
        asked: AtomicUsize,
    }

    impl Scripted {
        fn new(answer: Result<Result<Choice, String>, EngineError>) -> Scripted {
            Scripted {
                answer,
                rules: vec!["season:winter"],
                asked: AtomicUsize::new(0),
            }
        }
    }

    impl BlockSource for Scripted {
        fn provider(&self) -> Provider {
            Provider::Tiqets
        }

        fn tailor<'a>(
            &'a self,
            _campaign: &'a CampaignSettings,
            _booking: &'a Booking,
            _venue: &'a Venue,
            rules: &'a mut Vec<String>,
            _explain: bool,
        ) -> BoxFuture<'a, Result<Result<Choice, String>, EngineError>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            rules.extend(self.rules.iter().map(|r| r.to_string()));
            Box::pin(std::future::ready(self.answer.clone()))
        }

        fn stats(&self) -> CacheStats {
            CacheStats::default()
        }
    }

    fn campaign() -> CampaignSettings {
        serde_json::from_value(serde_json::json!({"name": "c", "trigger": "confirmation"}))
            .expect("a campaign")
    }

    fn booking(opt_in: bool) -> Booking {
        Booking {
            marketing_opt_in: opt_in,
            ..Booking::sample(Locale::En)
        }
    }

    fn venue() -> Venue {
        Venue {
            latitude: None,
            timezone: chrono_tz::UTC,
            customer: chrono_tz::UTC,
            city: None,
        }
    }

    fn choice(items: usize, city_known: bool) -> Choice {
        Choice {
            items: (0..items as u64)
                .map(crate::heuristics::tests::rec)
                .collect(),
            dropped_held: 0,
            dropped_adults_only: 0,
            dropped_out_of_stock: 0,
            dropped_other_city: 0,
            dropped_same_experience: 0,
            city_known,
            dropped: Vec::new(),
        }
    }

    async fn block_of(source: &Scripted, opt_in: bool) -> Block {
        source
            .block(&campaign(), &booking(opt_in), &venue(), false)
            .await
    }

    #[tokio::test]
    async fn without_the_opt_in_the_source_is_not_asked() {
        let source = Scripted::new(Ok(Ok(choice(3, true))));
        let b = block_of(&source, false).await;
        assert_eq!(b.chosen, Err("no_opt_in".to_string()));
        assert_eq!(b.rules, vec!["no_opt_in"]);
        assert_eq!(b.engine_error, None);
        assert_eq!(source.asked.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_api_failure_is_the_reason_and_the_engine_error_says_the_provider() {
        let busy = EngineError::Status {
            status: 503,
            body: "busy".into(),
        };
        let b = block_of(&Scripted::new(Err(busy)), true).await;
        assert_eq!(b.chosen, Err("engine_http_503".to_string()));
        assert_eq!(
            b.rules,
            vec!["season:winter", "engine_error:engine_http_503"]
        );
        assert_eq!(
            b.engine_error,
            Some(("tiqets: HTTP 503: busy".to_string(), true))
        );
        let refused = EngineError::Status {
            status: 403,
            body: "no".into(),
        };
        let b = block_of(&Scripted::new(Err(refused)), true).await;
        assert_eq!(b.engine_error.map(|(_, transient)| transient), Some(false));
    }

    #[tokio::test]
    async fn a_reason_of_the_sources_own_is_kept_as_it_is() {
        let b = block_of(&Scripted::new(Ok(Err("no_identity".into()))), true).await;
        assert_eq!(b.chosen, Err("no_identity".to_string()));
        assert_eq!(b.rules, vec!["season:winter"]);
        assert_eq!(b.engine_error, None);
    }

    #[tokio::test]
    async fn what_was_excluded_is_said_in_order_and_one_item_is_too_few() {
        let mut one = choice(1, true);
        one.dropped_other_city = 1;
        one.dropped_out_of_stock = 2;
        one.dropped_held = 1;
        let b = block_of(&Scripted::new(Ok(Ok(one))), true).await;
        assert_eq!(b.chosen, Err("too_few_items".to_string()));
        assert_eq!(
            b.rules,
            vec![
                "season:winter",
                "excluded:out_of_stock",
                "excluded:held",
                "excluded:other_city",
                "too_few_items"
            ]
        );
    }

    #[tokio::test]
    async fn two_items_make_a_block_whose_heading_names_the_city_only_when_known() {
        let b = block_of(&Scripted::new(Ok(Ok(choice(2, false)))), true).await;
        assert_eq!(b.chosen, Ok(choice(2, false)));
        assert_eq!(b.rules, vec!["season:winter", "heading:city_unknown"]);
        let b = block_of(&Scripted::new(Ok(Ok(choice(2, true)))), true).await;
        assert_eq!(b.rules, vec!["season:winter"]);
    }
}
