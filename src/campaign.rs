//! A campaign run, in phases: start (settings → catalog, templates, engine) → read due bookings →
//! choose items → render → deliver, with the report kept as it goes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;

use crate::bookings::{Booking, BookingReader, BookingsError, RowError};
use crate::catalog::{Catalog, CatalogError};
use crate::config::{CampaignSettings, Secret, Settings};
use crate::deliver::{Delivery, OutgoingEmail};
use crate::due::{due, Due, Venue};
use crate::heuristics::{self, Answers};
use crate::recommend::{
    engine, Cached, ClientOptions, CrossSellClient, EngineError, Query, Recommendation,
};
use crate::render::{EmailContent, EmailInput, RenderError, Renderer};
use crate::report::{EmailRecord, FailedEmail, Report};

/// Why nothing could be produced (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// The catalog cannot be used.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The bookings cannot be read.
    #[error(transparent)]
    Bookings(#[from] BookingsError),
    /// Templates or translations cannot be used.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The embedded engine cannot start, or the client cannot be built.
    #[error("engine: {0}")]
    Engine(String),
    /// A campaign asked for on the command line does not exist.
    #[error("no campaign named {0:?} in the config")]
    UnknownCampaign(String),
    /// A booking asked for does not exist.
    #[error("{file}: no booking {booking_id:?} ({unreadable} rows could not be read: `tripmail run` lists them)")]
    UnknownBooking {
        /// The bookings file.
        file: String,
        /// The id asked for.
        booking_id: String,
        /// Rows that could not be read, one of which may be it.
        unreadable: usize,
    },
}

/// The API key the in-process engine and its client share when none is configured.
const EMBEDDED_KEY: &str = "embedded";

/// What every email of a run shares: settings, catalog, templates, and the cached engine client.
pub struct Campaigns {
    settings: Settings,
    catalog: Option<Arc<Catalog>>,
    renderer: Renderer,
    source: Cached<CrossSellClient>,
    engine: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Campaigns {
    fn drop(&mut self) {
        if let Some(engine) = &self.engine {
            engine.abort();
        }
    }
}

/// One email, composed.
#[derive(Debug, Clone)]
pub struct Composed {
    /// Ready to deliver.
    pub email: OutgoingEmail,
    /// Its content, MJML included.
    pub content: EmailContent,
    /// Its line in the report.
    pub record: EmailRecord,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The instant the run is made for.
    pub now: DateTime<Utc>,
    /// Only this campaign.
    pub campaign: Option<String>,
    /// Emails composed at once.
    pub parallel: usize,
}

impl Campaigns {
    /// Loads the catalog and templates and starts the engine (in-process when `embedded`).
    pub async fn start(settings: Settings) -> Result<Campaigns, FatalError> {
        let catalog = match &settings.engine.catalog {
            Some(path) => Some(Arc::new(Catalog::load(path)?)),
            None => None,
        };
        let renderer = Renderer::new(&settings)?;
        let e = &settings.engine;
        let (base_url, api_key, rps, engine) = if e.is_embedded() {
            let catalog = catalog.clone().ok_or_else(|| {
                FatalError::Engine("the embedded engine needs engine.catalog".into())
            })?;
            let key = e
                .api_key
                .clone()
                .unwrap_or_else(|| Secret::new(EMBEDDED_KEY));
            let (addr, handle) =
                engine::spawn(catalog, Some(key.clone()))
                    .await
                    .map_err(|err| {
                        FatalError::Engine(format!("cannot start the embedded engine: {err}"))
                    })?;
            // The rate limit protects a partner's API quota; the in-process engine has none.
            (format!("http://{addr}"), Some(key), None, Some(handle))
        } else {
            (
                e.base_url.clone(),
                e.api_key.clone(),
                Some(e.requests_per_second),
                None,
            )
        };
        let client = CrossSellClient::new(ClientOptions {
            base_url,
            api_key,
            timeout: Duration::from_millis(e.timeout_ms),
            max_concurrency: e.max_concurrency,
            requests_per_second: rps,
            list_format: e.list_format,
        })
        .map_err(|err| FatalError::Engine(err.to_string()))?;
        Ok(Campaigns {
            settings,
            catalog,
            renderer,
            source: Cached::new(client),
            engine,
        })
    }

    /// The venue of a booking.
    pub fn venue(&self, booking: &Booking) -> Venue {
        Venue::of(booking, self.catalog.as_deref())
    }

    async fn ask(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        tags: &[u64],
        exclude: &[u64],
    ) -> Result<Arc<[Recommendation]>, EngineError> {
        self.source
            .get(&Query {
                product_id: booking.product_id,
                sort_by: campaign.sort_by,
                tag_ids: tags.to_vec(),
                exclude_ids: exclude.to_vec(),
            })
            .await
    }

    /// Chooses the block's items; `Err` holds the reason there is no block.
    async fn choose(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        venue: &Venue,
        rules: &mut Vec<String>,
    ) -> Result<Vec<Recommendation>, String> {
        if !booking.marketing_opt_in {
            rules.push("no_opt_in".into());
            return Err("no_opt_in".into());
        }
        let plan = heuristics::plan(booking, venue.latitude, &self.settings.heuristics);
        rules.extend(plan.rules.iter().cloned());
        let mut exclude: Vec<u64> = Vec::new();
        loop {
            let fetch = |tags: Option<Vec<u64>>| {
                let exclude = exclude.clone();
                async move {
                    match tags {
                        Some(t) => self.ask(campaign, booking, &t, &exclude).await.map(Some),
                        None => Ok(None),
                    }
                }
            };
            let base = async {
                let tags = plan.family.clone().unwrap_or_default();
                self.ask(campaign, booking, &tags, &exclude).await
            };
            let (base, preferred, adults_only) = futures::join!(
                base,
                fetch(plan.preferred.clone()),
                fetch(plan.adults_only.clone()),
            );
            let failed = |e: EngineError, rules: &mut Vec<String>| {
                let reason = e.reason();
                tracing::warn!(booking = %booking.booking_id, product = booking.product_id, "engine: {e}");
                rules.push(format!("engine_error:{reason}"));
                reason
            };
            let (base, preferred, adults_only) = match (base, preferred, adults_only) {
                (Ok(b), Ok(p), Ok(a)) => (b, p, a),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err(failed(e, rules)),
            };
            let choice = heuristics::choose(
                booking,
                &plan,
                Answers {
                    base: &base,
                    preferred: preferred.as_deref(),
                    adults_only: adults_only.as_deref(),
                },
                campaign.items,
            );
            // Per-customer exclusions are applied locally so that they do not defeat the cache; the
            // engine is asked with them only when they left too few items.
            if choice.dropped_held > 0 && choice.items.len() < campaign.items && exclude.is_empty()
            {
                exclude = booking.other_product_ids.clone();
                exclude.push(booking.product_id);
                exclude.sort_unstable();
                exclude.dedup();
                rules.push("requery:exclude_held".into());
                continue;
            }
            if choice.dropped_held > 0 {
                rules.push("excluded:held".into());
            }
            if choice.dropped_adults_only > 0 {
                rules.push("excluded:adults_only".into());
            }
            if choice.items.len() < 2 {
                rules.push("too_few_items".into());
                return Err("too_few_items".into());
            }
            return Ok(choice.items);
        }
    }

    /// Composes `campaign`'s email for `booking` at `now`: choose items, render, address. The
    /// caller has already placed the booking (`venue`) to decide it is due.
    pub async fn compose(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        venue: &Venue,
        due: Due,
        now: DateTime<Utc>,
    ) -> Result<Composed, RenderError> {
        let mut rules = Vec::new();
        let chosen = self.choose(campaign, booking, venue, &mut rules).await;
        let items = chosen.as_deref().unwrap_or(&[]);
        let city = self
            .catalog
            .as_deref()
            .and_then(|c| c.city_named(&booking.city))
            .and_then(|c| c.names.get(booking.locale.as_str()))
            .map_or(booking.city.as_str(), String::as_str);
        let content = self.renderer.render(EmailInput {
            campaign,
            booking,
            items,
            days_to_travel: due.days_to_travel,
            city,
        })?;
        let from = self.settings.sender.from.clone();
        let to = lettre::message::Mailbox::new(
            Some(booking.customer_first_name.clone()),
            booking.customer_email.clone(),
        );
        let email = OutgoingEmail {
            campaign: campaign.name.clone(),
            booking_id: booking.booking_id.clone(),
            message_id: OutgoingEmail::message_id_for(&campaign.name, &booking.booking_id, &from),
            from,
            to,
            subject: content.subject.clone(),
            date: now,
            html: content.html.clone(),
            text: content.text.clone(),
        };
        let record = EmailRecord {
            campaign: campaign.name.clone(),
            booking_id: booking.booking_id.clone(),
            to: booking.customer_email.to_string(),
            subject: content.subject.clone(),
            items: items.iter().map(|r| r.product_id).collect(),
            item_titles: items.iter().map(|r| r.title.clone()).collect(),
            rules,
            without_block: chosen.err(),
        };
        Ok(Composed {
            email,
            content,
            record,
        })
    }

    /// Runs every campaign over the bookings file at `now`, delivering each due email.
    pub async fn run(
        &self,
        opts: &RunOptions,
        delivery: &dyn Delivery,
    ) -> Result<Report, FatalError> {
        let campaigns: Vec<&CampaignSettings> = match &opts.campaign {
            Some(name) => vec![self
                .settings
                .campaign(name)
                .ok_or_else(|| FatalError::UnknownCampaign(name.clone()))?],
            None => self.settings.campaigns.iter().collect(),
        };
        let reader = BookingReader::open(&self.settings.bookings.path)?;
        let now = opts.now;
        enum Work<'c> {
            Skip(RowError),
            Email(&'c CampaignSettings, Arc<Booking>, Venue, Due),
        }
        let work = reader.flat_map(|row| match row {
            Err(e) => vec![Work::Skip(e)],
            Ok(booking) => {
                let venue = self.venue(&booking);
                let booking = Arc::new(booking);
                campaigns
                    .iter()
                    .filter_map(|c| {
                        due(c, &booking, &venue, now)
                            .map(|d| Work::Email(c, booking.clone(), venue, d))
                    })
                    .collect()
            }
        });
        enum Outcome {
            Skipped(RowError),
            Done(Box<EmailRecord>),
            Failed(FailedEmail),
        }
        let mut outcomes = futures::stream::iter(work)
            .map(|w| async move {
                let (campaign, booking, venue, d) = match w {
                    Work::Skip(e) => return Outcome::Skipped(e),
                    Work::Email(c, b, v, d) => (c, b, v, d),
                };
                let fail = |reason: String| {
                    Outcome::Failed(FailedEmail {
                        campaign: campaign.name.clone(),
                        booking_id: booking.booking_id.clone(),
                        reason,
                    })
                };
                let composed = match self.compose(campaign, &booking, &venue, d, now).await {
                    Ok(c) => c,
                    Err(e) => return fail(e.to_string()),
                };
                match delivery.deliver(&composed.email).await {
                    Ok(()) => Outcome::Done(Box::new(composed.record)),
                    Err(e) => fail(e.to_string()),
                }
            })
            .buffered(opts.parallel.max(1));
        let mut report = Report {
            now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ..Report::default()
        };
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Outcome::Skipped(e) => {
                    tracing::warn!("skipped {e}");
                    report.skipped_rows.push(e);
                }
                Outcome::Failed(f) => {
                    tracing::warn!("{} / {}: {}", f.campaign, f.booking_id, f.reason);
                    report.due += 1;
                    report.failed.push(f);
                }
                Outcome::Done(record) => {
                    report.due += 1;
                    report.rendered += 1;
                    match &record.without_block {
                        None => report.with_block += 1,
                        Some(reason) => {
                            *report.without_block.entry(reason.clone()).or_default() += 1
                        }
                    }
                    report.emails.push(*record);
                }
            }
        }
        let stats = self.source.stats();
        report.engine_requests = stats.requests;
        report.cache_hits = stats.hits;
        Ok(report)
    }

    /// Finds one booking by id and composes `campaign`'s email for it at `now`, whether or not it is
    /// due then (the second value says whether it is).
    pub async fn preview(
        &self,
        booking_id: &str,
        campaign: &str,
        now: DateTime<Utc>,
    ) -> Result<(Composed, bool), FatalError> {
        let campaign = self
            .settings
            .campaign(campaign)
            .ok_or_else(|| FatalError::UnknownCampaign(campaign.to_string()))?;
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
                Err(_) => unreadable += 1,
            }
        }
        let booking = found.ok_or_else(|| FatalError::UnknownBooking {
            file: path.display().to_string(),
            booking_id: booking_id.to_string(),
            unreadable,
        })?;
        let venue = self.venue(&booking);
        let is_due = due(campaign, &booking, &venue, now);
        let d = is_due.unwrap_or(Due {
            days_to_travel: (booking.travel_date - venue.today(now)).num_days(),
        });
        let composed = self.compose(campaign, &booking, &venue, d, now).await?;
        Ok((composed, is_due.is_some()))
    }
}
