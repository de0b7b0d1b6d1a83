//! A campaign run, in phases: [`Campaigns::start`] (settings → catalog, templates, block sources) →
//! read the due bookings (`each.rs`) → for each email (`produce.rs`): what the ledger says, the block
//! from the campaign's source, [`compose`](crate::compose) on the rendering threads, the review copy,
//! the send through a [`Transport`] and its record in the ledger
//! (`send.rs`) → the report (`report::tally`). The run never names a recommendation API, a transport or a
//! ledger store: it holds a `BlockSources`, a `&dyn Transport` and a [`SendLedger`].

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::bookings::{Booking, BookingsError, RowError};
use crate::catalog::{Catalog, CatalogError};
use crate::config::{CampaignSettings, Secret, Settings};
use crate::deliver::{Delivery, Transport};
use crate::due::Venue;
use crate::ledger::{LedgerError, SendLedger};
use crate::recommend::{self, BlockSources, CacheStats, SourceError};
use crate::render::{RenderError, Renderer};
use crate::report::Report;
use crate::state::PauseWatch;

mod each;
mod gap;
mod make;
mod preview;
pub(crate) mod produce;
mod send;
mod send_test;
#[cfg(test)]
mod tests;
mod threads;

pub use crate::compose::{Composed, Make};
pub use crate::recommend::check_identity_column;
pub use preview::{Preview, PreviewAt};
pub use send_test::{send_test, TestSendError};

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
    /// The send ledger cannot be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The recommendation sources cannot be used (the engine, the bookings' identity column).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A campaign asked for on the command line does not exist.
    #[error("no campaign named {0:?} in the config")]
    UnknownCampaign(String),
    /// The row of the booking asked for cannot be used.
    #[error("{0} (so there is no email to show)")]
    UnreadableBooking(RowError),
    /// A language asked for that the templates are not written in.
    #[error("no language {asked:?} in the templates (they have {known})")]
    UnknownLanguage {
        /// The language asked for.
        asked: String,
        /// The templates' languages.
        known: String,
    },
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

/// What every email of a run shares: settings, catalog, templates, and the block source of each
/// campaign.
pub struct Campaigns {
    pub(crate) settings: Settings,
    pub(crate) catalog: Option<Arc<Catalog>>,
    pub(crate) renderer: Arc<Renderer>,
    /// The settings' campaigns, shared with the rendering threads.
    pub(crate) campaign_arcs: Vec<Arc<CampaignSettings>>,
    /// Where each campaign's block comes from.
    pub(crate) sources: BlockSources,
    /// `links.unsubscribe_url`, parsed once, with its secret.
    pub(crate) unsubscribe: Option<(url::Url, Secret)>,
    /// The campaigns paused: none until [`Campaigns::watch_pauses`].
    pub(crate) pauses: Arc<PauseWatch>,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The instant the run is made for.
    pub now: DateTime<Utc>,
    /// Only this campaign.
    pub campaign: Option<String>,
    /// Emails composed (and sent) at once.
    pub parallel: usize,
    /// Send every email to this address instead of its customer (sandbox previews, test sends).
    pub redirect_to: Option<lettre::message::Mailbox>,
    /// The wall clock, for the times written into the ledger.
    pub clock: fn() -> DateTime<Utc>,
    /// Set (by a signal) to stop starting emails: those in flight finish and are recorded, the rest
    /// are left for the next run.
    pub cancel: Option<Arc<AtomicBool>>,
    /// The runner's next two ticks (`run --every`): an email that lost its block to a passing API
    /// failure waits for them instead of going without, unless its campaign is transactional or it
    /// could not go at both (one tick to spare, should the next one start late).
    pub next_ticks: Option<[DateTime<Utc>; 2]>,
    /// Produce every due email to its last byte (the whole MIME message) and drop it: nothing is
    /// written, sent or recorded in the ledger; only the report is kept.
    pub dry_run: bool,
    /// Make every email the straightforward way (Tera → mrml → lettre's own body encoding) instead
    /// of the compiled shapes and the fast encoder: the same bytes, slower. For comparisons.
    pub straight: bool,
    /// Keep each email's record for the report (`report.emails`); without, they are only counted
    /// (a dry run that writes no report).
    pub keep_records: bool,
}

/// Where a run's emails go.
#[derive(Default)]
pub struct Outputs<'a> {
    /// Review copies: files, or a recorder in tests.
    pub files: Option<&'a dyn Delivery>,
    /// Sending.
    pub send: Option<Sending<'a>>,
    /// Called with the report so far after each email.
    pub progress: Option<&'a (dyn Fn(&Report) + Sync)>,
}

/// Sending through a transport, with the ledger that makes it exactly once (none for redirected previews,
/// which are not sends).
pub struct Sending<'a> {
    /// Where it sends.
    pub transport: &'a dyn Transport,
    /// The send ledger.
    pub ledger: Option<Arc<dyn SendLedger>>,
}

impl Campaigns {
    /// Loads the catalog and templates and builds each campaign's block source (starting the
    /// in-process engine when an API is `embedded`).
    pub async fn start(settings: Settings) -> Result<Campaigns, FatalError> {
        let catalog = match &settings.engine.catalog {
            Some(path) => Some(Arc::new(Catalog::load(path)?)),
            None => None,
        };
        let renderer = Renderer::new(&settings)?;
        let sources = recommend::sources(&settings, catalog.clone()).await?;
        let links = &settings.links;
        let unsubscribe = links
            .unsubscribe_url
            .clone()
            .zip(links.unsubscribe_secret.clone());
        Ok(Campaigns {
            campaign_arcs: settings.campaigns.iter().cloned().map(Arc::new).collect(),
            settings,
            catalog,
            renderer: Arc::new(renderer),
            sources,
            unsubscribe,
            pauses: Arc::new(PauseWatch::none()),
        })
    }

    /// Goes by `pauses` from now on: the emails of a campaign paused (when a run starts, or while
    /// it goes) are neither produced nor claimed, and count as paused in the report. Without it,
    /// no campaign is paused (previews and test sends show a paused campaign's emails).
    pub fn watch_pauses(&mut self, pauses: Arc<PauseWatch>) {
        self.pauses = pauses;
    }

    /// Requests made and cache hits so far, over every recommendation API.
    pub fn engine_stats(&self) -> CacheStats {
        self.sources.stats()
    }

    /// The venue of a booking.
    pub fn venue(&self, booking: &Booking) -> Venue {
        Venue::of(booking, self.catalog.as_deref())
    }

    /// The shared copy of one of the settings' campaigns (for work handed to the rendering threads).
    fn campaign_arc(&self, campaign: &CampaignSettings) -> Arc<CampaignSettings> {
        self.settings
            .campaigns
            .iter()
            .position(|c| std::ptr::eq(c, campaign))
            .and_then(|i| self.campaign_arcs.get(i))
            .cloned()
            .unwrap_or_else(|| Arc::new(campaign.clone()))
    }
}
