//! The run's block sources, built once from the settings: a client for each API some campaign asks
//! (pointed at the in-process engine when its `base_url` is `embedded`), each with the run's cache,
//! shared by every campaign that asks that API.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::contact::Contact;
use super::cross_sell::CrossSell;
use super::embedded::Embedded;
use super::{
    BlockSource, CacheStats, ClientOptions, ContactClient, ContactOptions, CrossSellClient,
    EngineError, ItemFormat, Limits, SourceError,
};
use crate::bookings::Booking;
use crate::catalog::Catalog;
use crate::config::{CampaignSettings, EngineSettings, Provider, Secret, Settings, YespoSettings};
use crate::due::Venue;
use crate::heuristics::Choice;

/// Each campaign's block source (one per API, shared by the campaigns that ask it), and the
/// in-process engine they may ask (stopped when dropped).
pub(crate) struct BlockSources {
    /// `engine`, for each campaign's provider.
    engine: EngineSettings,
    cross_sell: Box<dyn BlockSource>,
    contact: Box<dyn BlockSource>,
    /// Kept running while the sources live.
    _embedded: Option<Embedded>,
}

impl BlockSources {
    /// The source of `campaign`'s blocks.
    pub(crate) fn of(&self, campaign: &CampaignSettings) -> &dyn BlockSource {
        match campaign.provider(&self.engine) {
            Provider::Tiqets => &*self.cross_sell,
            Provider::Yespo => &*self.contact,
        }
    }

    /// Requests made and cache hits so far, over every API.
    pub(crate) fn stats(&self) -> CacheStats {
        let a = self.cross_sell.stats();
        let b = self.contact.stats();
        CacheStats {
            requests: a.requests + b.requests,
            hits: a.hits + b.hits,
        }
    }
}

/// Builds the sources `settings`' campaigns ask, starting the in-process engine (on `catalog`) if
/// one of them is `embedded`.
pub(crate) async fn sources(
    settings: &Settings,
    catalog: Option<Arc<Catalog>>,
) -> Result<BlockSources, SourceError> {
    let e = &settings.engine;
    let yespo_settings = e.yespo.clone().filter(|_| settings.uses(Provider::Yespo));
    let cross_sell_wanted = settings.uses(Provider::Tiqets);
    // One in-process server answers both APIs, for whichever of them is `embedded`.
    let embedded_wanted = (cross_sell_wanted && e.is_embedded())
        || yespo_settings
            .as_ref()
            .is_some_and(YespoSettings::is_embedded);
    let embedded = match embedded_wanted {
        true => Some(Embedded::start(catalog.clone(), e.api_key.clone()).await?),
        false => None,
    };
    let cross_sell: Box<dyn BlockSource> = match cross_sell_wanted {
        true => Box::new(cross_sell(settings, embedded.as_ref(), catalog.clone())?),
        false => Box::new(Unavailable {
            provider: Provider::Tiqets,
            why: "no cross-sell client (no campaign has provider tiqets)",
        }),
    };
    let contact: Box<dyn BlockSource> = match yespo_settings {
        Some(y) => Box::new(contact(e, y, embedded.as_ref(), catalog)?),
        None => Box::new(Unavailable {
            provider: Provider::Yespo,
            why: "no contact-recommendations client ([engine.yespo] is missing)",
        }),
    };
    Ok(BlockSources {
        engine: e.clone(),
        cross_sell,
        contact,
        _embedded: embedded,
    })
}

/// The cross-sell source of `settings`.
fn cross_sell(
    settings: &Settings,
    embedded: Option<&Embedded>,
    catalog: Option<Arc<Catalog>>,
) -> Result<CrossSell, SourceError> {
    let e = &settings.engine;
    let (base_url, api_key) = reach(embedded, e.is_embedded(), &e.base_url, &e.api_key);
    let client = CrossSellClient::new(ClientOptions {
        base_url,
        api_key,
        limits: limits(e, e.is_embedded()),
        list_format: e.list_format,
        language_param: e.language_param.clone(),
    })
    .map_err(engine_err)?;
    Ok(CrossSell::new(client, settings.heuristics.clone(), catalog))
}

/// The contact-recommendations source of `y`.
fn contact(
    e: &EngineSettings,
    y: YespoSettings,
    embedded: Option<&Embedded>,
    catalog: Option<Arc<Catalog>>,
) -> Result<Contact, SourceError> {
    let (base_url, api_key) = reach(embedded, y.is_embedded(), &y.base_url, &y.api_key);
    let client = ContactClient::new(ContactOptions {
        base_url,
        username: y.username.clone(),
        api_key,
        limits: limits(e, y.is_embedded()),
        list_format: y.list_format,
        items: ItemFormat {
            currency: y.currency.clone(),
            currency_field: y.currency_field.clone(),
            image_field: y.image_field.clone(),
            city_field: y.city_field.clone(),
            tags: y.tags.clone(),
        },
    })
    .map_err(engine_err)?;
    Ok(Contact::new(client, y, catalog))
}

/// Where an API is asked, and with which key: the in-process engine when it is `embedded`, else
/// its configured URL and key.
fn reach(
    embedded: Option<&Embedded>,
    is_embedded: bool,
    base_url: &str,
    api_key: &Option<Secret>,
) -> (String, Option<Secret>) {
    match (embedded, is_embedded) {
        (Some(engine), true) => (engine.url.clone(), Some(engine.key.clone())),
        _ => (base_url.to_string(), api_key.clone()),
    }
}

/// The client limits of `[engine]`. The rate limit protects a partner's API quota; the in-process
/// engine has none.
fn limits(e: &EngineSettings, is_embedded: bool) -> Limits {
    Limits {
        timeout: Duration::from_millis(e.timeout_ms),
        max_concurrency: e.max_concurrency,
        requests_per_second: (!is_embedded).then_some(e.requests_per_second),
        attempts: e.attempts,
        retry_base: Duration::from_millis(e.retry_base_ms),
        max_answer_bytes: e.max_answer_bytes,
        ..Limits::default()
    }
}

fn engine_err(err: EngineError) -> SourceError {
    SourceError::Engine(err.to_string())
}

/// The source of an API no campaign of the settings asks: every ask fails, saying so.
struct Unavailable {
    provider: Provider,
    why: &'static str,
}

impl BlockSource for Unavailable {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn tailor<'a>(
        &'a self,
        _campaign: &'a CampaignSettings,
        _booking: &'a Booking,
        _venue: &'a Venue,
        _rules: &'a mut Vec<String>,
        _explain: bool,
    ) -> BoxFuture<'a, Result<Result<Choice, String>, EngineError>> {
        Box::pin(std::future::ready(Err(EngineError::Unreachable(
            self.why.into(),
        ))))
    }

    fn stats(&self) -> CacheStats {
        CacheStats::default()
    }
}
