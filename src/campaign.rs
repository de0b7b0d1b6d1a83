//! A campaign run, in phases: start (settings → catalog, templates, engine) → read due bookings →
//! choose items → render → deliver, with the report kept as it goes.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{FutureExt, StreamExt};

use crate::bookings::{Booking, BookingReader, BookingsError, RowError};
use crate::catalog::{Catalog, CatalogError};
use crate::config::{CampaignSettings, InDoubt, Secret, Settings};
use crate::deliver::{
    panic_message, Accepted, Delivery, DeliveryError, OutgoingEmail, SendFailure, Transport,
};
use crate::due::{next_send, when, Due, Venue, When};
use crate::ledger::{Claim, Ledger, LedgerError, Recorded, SendState, UnrecordedSend};
use crate::recommend::{self, BlockSources, CacheStats, SourceError};
use crate::render::{EmailContent, EmailInput, RenderError, Renderer};
use crate::report::{EmailLog, EmailRecord, FailedEmail, Report, Unrecorded};

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

pub use crate::recommend::check_identity_column;

/// What every email of a run shares: settings, catalog, templates, and the block source of each
/// campaign.
pub struct Campaigns {
    settings: Settings,
    catalog: Option<Arc<Catalog>>,
    renderer: Arc<Renderer>,
    /// The settings' campaigns, shared with the rendering threads.
    campaign_arcs: Vec<Arc<CampaignSettings>>,
    /// Where each campaign's block comes from.
    sources: BlockSources,
    /// `links.unsubscribe_url`, parsed once, with its secret.
    unsubscribe: Option<(url::Url, Secret)>,
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
    /// The whole message, when asked for.
    pub mime: Option<Vec<u8>>,
    /// Whether the block is missing because a recommendation API failed in a way that may pass (a
    /// timeout, no connection, HTTP 429 or 5xx).
    pub engine_transient: bool,
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

/// How [`Campaigns::compose`] makes an email.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Make {
    /// Also build the whole MIME message ([`Composed::mime`]).
    pub mime: bool,
    /// The straightforward way (see [`RunOptions::straight`]).
    pub straight: bool,
    /// The email alone, as a run needs it: [`Composed::content`] keeps the subject and preheader
    /// only (no MJML is made; the HTML and text are in [`Composed::email`], not copied).
    pub lean: bool,
}

/// Where a run's emails go.
#[derive(Default)]
pub struct Outputs<'a> {
    /// Review copies: files, or a recorder in tests.
    pub files: Option<&'a dyn Delivery>,
    /// SMTP sending.
    pub send: Option<Sending<'a>>,
    /// Called with the report so far after each email.
    pub progress: Option<&'a (dyn Fn(&Report) + Sync)>,
}

/// Sending over SMTP, with the ledger that makes it exactly once (none for redirected previews,
/// which are not sends).
pub struct Sending<'a> {
    /// The server.
    pub transport: &'a dyn Transport,
    /// The send ledger.
    pub ledger: Option<Arc<Ledger>>,
}

/// Why a run stops before its end.
enum Stop {
    Unavailable(String),
    Ledger(LedgerError),
}

/// What became of one due email.
enum Produced {
    Written(Box<EmailRecord>),
    Sent {
        record: Box<EmailRecord>,
        in_doubt: bool,
        /// Accepted by the server, but its `sent` is not in the ledger.
        unrecorded: Option<Unrecorded>,
    },
    AlreadyDone(SendState),
    Failed(String),
    Deferred {
        reply: String,
        stop: Option<Stop>,
    },
    InDoubt(String),
    /// Held for the runner's next tick (the API failed for it); nothing sent, the claim given up.
    Held,
    /// Claimed by an earlier run that may have handed it to the server, and its campaign holds such
    /// emails: not sent again, listed.
    HeldInDoubt,
    /// Not sent: the run was asked to stop.
    Interrupted,
    /// Not sent: the run stopped (the ledger cannot be written).
    NotAttempted,
    /// What became of it, and why the run stops after it.
    Halting(Box<Produced>, Stop),
}

/// One unit of the report.
pub(crate) enum Outcome {
    Skipped(RowError),
    Done {
        record: Box<EmailRecord>,
        sent: bool,
        in_doubt: bool,
        unrecorded: Option<Unrecorded>,
    },
    AlreadyDone(SendState),
    Failed(FailedEmail),
    Deferred(FailedEmail),
    InDoubt(FailedEmail),
    HeldInDoubt(FailedEmail),
    NotAttempted,
    Held,
    Interrupted,
    Waiting,
    Closed,
    /// Nothing to count: sent (or refused for good) by an earlier run.
    Settled,
}

impl Outcome {
    fn from_produced(p: Produced, campaign: &CampaignSettings, booking: &Booking) -> Outcome {
        let email = |reason: String| FailedEmail {
            campaign: campaign.name.clone(),
            booking_id: booking.booking_id.clone(),
            reason,
        };
        match p {
            Produced::Written(record) => Outcome::Done {
                record,
                sent: false,
                in_doubt: false,
                unrecorded: None,
            },
            Produced::Sent {
                record,
                in_doubt,
                unrecorded,
            } => Outcome::Done {
                record,
                sent: true,
                in_doubt,
                unrecorded,
            },
            Produced::AlreadyDone(state) => Outcome::AlreadyDone(state),
            Produced::Failed(reason) => Outcome::Failed(email(reason)),
            Produced::Deferred { reply, .. } => Outcome::Deferred(email(reply)),
            Produced::InDoubt(reply) => Outcome::InDoubt(email(reply)),
            Produced::Held => Outcome::Held,
            Produced::HeldInDoubt => Outcome::HeldInDoubt(email(
                "an earlier run claimed it and may have handed it to the server: held, not sent again"
                    .into(),
            )),
            Produced::Interrupted => Outcome::Interrupted,
            Produced::NotAttempted => Outcome::NotAttempted,
            Produced::Halting(p, _) => Outcome::from_produced(*p, campaign, booking),
        }
    }
}

impl Report {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Skipped(e) => {
                tracing::warn!("skipped {e}");
                self.skipped_rows.push(e);
            }
            Outcome::Failed(f) => {
                tracing::warn!("{} / {}: {}", f.campaign, f.booking_id, f.reason);
                self.due += 1;
                self.failed.push(f);
            }
            Outcome::Deferred(f) => {
                tracing::warn!("{} / {}: deferred: {}", f.campaign, f.booking_id, f.reason);
                self.due += 1;
                self.deferred += 1;
                self.deferred_emails.push(f);
            }
            Outcome::InDoubt(f) => {
                tracing::warn!("{} / {}: in doubt: {}", f.campaign, f.booking_id, f.reason);
                self.due += 1;
                self.in_doubt.push(f);
            }
            Outcome::AlreadyDone(state) => {
                self.due += 1;
                match state {
                    SendState::Failed => self.previously_failed += 1,
                    // Claimed: the same booking earlier in this run's input; sent (or being sent) once.
                    _ => self.already_sent += 1,
                }
            }
            Outcome::NotAttempted => {
                self.due += 1;
                self.not_attempted += 1;
            }
            Outcome::Held => {
                self.due += 1;
                self.held += 1;
            }
            Outcome::HeldInDoubt(f) => {
                self.due += 1;
                self.held_in_doubt.push(f);
            }
            Outcome::Interrupted => {
                self.due += 1;
                self.interrupted += 1;
            }
            Outcome::Waiting => self.waiting += 1,
            Outcome::Closed => self.closed += 1,
            Outcome::Settled => {}
            Outcome::Done {
                record,
                sent,
                in_doubt,
                unrecorded,
            } => {
                if let Some(u) = unrecorded {
                    tracing::warn!(
                        "{} / {}: sent, but not recorded in the ledger: {}",
                        u.send.campaign,
                        u.send.booking_id,
                        u.error
                    );
                    self.unrecorded.push(u);
                }
                self.due += 1;
                self.rendered += 1;
                self.sent += u64::from(sent);
                self.resent_in_doubt += u64::from(in_doubt);
                match &record.without_block {
                    None => self.with_block += 1,
                    Some(reason) => *self.without_block.entry(reason.clone()).or_default() += 1,
                }
                if let Some(e) = &record.engine_error {
                    *self.engine_errors.entry(e.clone()).or_default() += 1;
                }
                if matches!(
                    record.without_block.as_deref(),
                    Some("engine_http_401" | "engine_http_403")
                ) {
                    self.engine_refused += 1;
                }
                self.emails.push(*record);
            }
        }
    }
}

/// Runs CPU-bound work (rendering, building messages) on the rendering threads, one per core, off
/// the async runtime's threads; the caller's task waits without blocking them.
async fn on_render_threads<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RenderError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic (a bug, in a template engine or ours) fails this email only; uncaught, rayon
        // would abort the whole run.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        // The receiver is gone only when the run was dropped; nothing to tell then.
        let _ = tx.send(done);
    });
    match rx.await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(panic)) => Err(RenderError::Bug(format!(
            "rendering this email failed unexpectedly (a bug; please report it): {}",
            panic_message(&*panic)
        ))),
        Err(_) => Err(RenderError::Template(
            "the rendering thread went away".into(),
        )),
    }
}

/// The reason recorded for an email whose `phase` panicked.
fn bug(phase: &str, panic: &(dyn std::any::Any + Send)) -> String {
    format!(
        "{phase} this email failed unexpectedly (a bug; please report it): {}",
        panic_message(panic)
    )
}

/// Runs a ledger call on one send, (campaign, booking), off the async threads (a commit waits for
/// the disk).
async fn on_ledger<T: Send + 'static>(
    ledger: &Arc<Ledger>,
    (campaign, booking_id): (&str, &str),
    f: impl FnOnce(&Ledger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    // On the runtime's own thread when it may block one (a commit without fsync takes
    // microseconds; a hop to the blocking pool and back costs more), else on the blocking pool.
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread
    {
        return tokio::task::block_in_place(|| f(ledger, campaign, booking_id))
            .map_err(Stop::Ledger);
    }
    on_ledger_aside(ledger, (campaign, booking_id), f).await
}

/// [`on_ledger`] on the blocking pool always, for a call that goes on beside other work of the
/// same task.
async fn on_ledger_aside<T: Send + 'static>(
    ledger: &Arc<Ledger>,
    (campaign, booking_id): (&str, &str),
    f: impl FnOnce(&Ledger, &str, &str) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Stop> {
    let shared = Arc::clone(ledger);
    let (campaign, booking_id) = (campaign.to_string(), booking_id.to_string());
    match tokio::task::spawn_blocking(move || f(&shared, &campaign, &booking_id)).await {
        Ok(r) => r.map_err(Stop::Ledger),
        Err(e) => Err(Stop::Ledger(LedgerError::Open {
            path: ledger.path().to_path_buf(),
            reason: format!("the ledger task failed: {e}"),
        })),
    }
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
        })
    }

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

    /// Composes `campaign`'s email for `booking` at `now`: choose items, render, address; with
    /// `mime`, also the whole message. The caller has already placed the booking (`venue`) to
    /// decide it is due. The rendering runs on the rendering threads, not the async runtime's.
    pub async fn compose(
        &self,
        campaign: &CampaignSettings,
        booking: &Arc<Booking>,
        venue: &Venue,
        due: Due,
        now: DateTime<Utc>,
        make: Make,
    ) -> Result<Composed, RenderError> {
        let source = self.sources.of(campaign);
        let block = source.block(campaign, booking, venue).await;
        let (chosen, rules, engine_error) = (block.chosen, block.rules, block.engine_error);
        let (items, names_city, without_block) = match chosen {
            Ok(choice) => (choice.items, choice.city_known, None),
            Err(reason) => (Vec::new(), false, Some(reason)),
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
        let city = self
            .catalog
            .as_deref()
            .zip(venue.city)
            .and_then(|(c, id)| c.city(id))
            .and_then(|c| c.names.get(booking.locale.as_str()))
            .map_or(booking.city.as_str(), String::as_str)
            .to_string();
        let unsubscribe = self.unsubscribe_link(campaign, booking);
        let renderer = Arc::clone(&self.renderer);
        let campaign = self.campaign_arc(campaign);
        let booking = Arc::clone(booking);
        let from = self.settings.sender.from.clone();
        let made = on_render_threads(move || {
            let input = EmailInput {
                campaign: &campaign,
                booking: &booking,
                items: &items,
                days_to_travel: due.days_to_travel,
                city: &city,
                block_names_city: names_city,
                unsubscribe_url: unsubscribe.as_deref(),
            };
            let mut content = match make.straight {
                true => renderer.render_straight(input)?,
                false => renderer.render_with(input, !make.lean)?,
            };
            let to = lettre::message::Mailbox::new(
                Some(booking.customer_first_name.clone()),
                booking.customer_email.clone(),
            );
            let email = OutgoingEmail {
                campaign: campaign.name.clone(),
                booking_id: booking.booking_id.clone(),
                message_id: OutgoingEmail::message_id_for(
                    &campaign.name,
                    &booking.booking_id,
                    &from,
                ),
                from,
                to,
                subject: content.subject.clone(),
                date: now,
                html: match make.lean {
                    true => std::mem::take(&mut content.html),
                    false => content.html.clone(),
                },
                text: match make.lean {
                    true => std::mem::take(&mut content.text),
                    false => content.text.clone(),
                },
                list_unsubscribe: unsubscribe,
                original_to: None,
            };
            let mime = match (make.mime, make.straight) {
                (false, _) => None,
                (true, false) => Some(email.to_mime()),
                (true, true) => Some(email.to_mime_straight()),
            }
            .transpose()
            .map_err(|e| RenderError::Template(e.to_string()))?;
            Ok::<_, RenderError>((content, email, mime))
        })
        .await;
        let (content, email, mime) = made??;
        let record = EmailRecord {
            subject: content.subject.clone(),
            ..record
        };
        Ok(Composed {
            email,
            content,
            record,
            mime,
            engine_transient: engine_error.is_some_and(|(_, transient)| transient),
        })
    }

    /// Runs every campaign over the bookings file at `opts.now`: each due email is produced, written
    /// to `out.files` when given, and sent through `out.send` when given, exactly once per the ledger.
    pub async fn run(&self, opts: &RunOptions, out: &Outputs<'_>) -> Result<Report, FatalError> {
        let campaigns: Vec<&CampaignSettings> = match &opts.campaign {
            Some(name) => vec![self
                .settings
                .campaign(name)
                .ok_or_else(|| FatalError::UnknownCampaign(name.clone()))?],
            None => self.settings.campaigns.iter().collect(),
        };
        self.check_templates(&campaigns).await?;
        let reader = BookingReader::open(&self.settings.bookings.path)?;
        check_identity_column(&self.settings, &reader)?;
        let now = opts.now;
        enum Work<'c> {
            Skip(RowError),
            Email(&'c CampaignSettings, Arc<Booking>, Venue, Due),
            /// Waiting or closed, unless the ledger says it was sent already.
            Later(Outcome, &'c CampaignSettings, Arc<Booking>),
        }
        let work = reader.flat_map(|row| match row {
            Err(e) => vec![Work::Skip(e)],
            Ok(booking) => {
                let venue = self.venue(&booking);
                let booking = Arc::new(booking);
                campaigns
                    .iter()
                    .filter_map(|c| match when(c, &booking, &venue, now) {
                        When::NotDue => None,
                        When::Send(d) => Some(Work::Email(c, booking.clone(), venue, d)),
                        When::Waiting(_) => Some(Work::Later(Outcome::Waiting, c, booking.clone())),
                        When::Closed => Some(Work::Later(Outcome::Closed, c, booking.clone())),
                    })
                    .collect()
            }
        });
        let cancelled = || {
            opts.cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::SeqCst))
        };
        // Set when the SMTP server is found unavailable or the ledger cannot be written: no email is
        // started after it.
        let stop: std::sync::Mutex<Option<Stop>> = std::sync::Mutex::new(None);
        let stopped = || stop.lock().map(|s| s.is_some()).unwrap_or(true);
        let halt = |why: Stop| {
            let mut s = stop.lock().unwrap_or_else(|p| p.into_inner());
            s.get_or_insert(why);
        };
        let mut outcomes = futures::stream::iter(work)
            .map(|w| async {
                let (campaign, booking, venue, d) = match w {
                    Work::Skip(e) => return Outcome::Skipped(e),
                    Work::Later(o, c, b) => return self.unless_done(o, c, &b, out).await,
                    Work::Email(c, b, v, d) => (c, b, v, d),
                };
                if stopped() {
                    return Outcome::NotAttempted;
                }
                if cancelled() {
                    return Outcome::Interrupted;
                }
                match self.produce(campaign, &booking, &venue, d, opts, out).await {
                    Err(why) => {
                        halt(why);
                        Outcome::NotAttempted
                    }
                    Ok(Produced::Halting(produced, why)) => {
                        halt(why);
                        Outcome::from_produced(*produced, campaign, &booking)
                    }
                    Ok(mut produced) => {
                        if let Produced::Deferred { stop, .. } = &mut produced {
                            if let Some(why) = stop.take() {
                                halt(why);
                            }
                        }
                        Outcome::from_produced(produced, campaign, &booking)
                    }
                }
            })
            .buffered(opts.parallel.max(1));
        let mut report = Report {
            emails: match opts.keep_records {
                true => EmailLog::default(),
                false => EmailLog::counting(),
            },
            now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            smtp: out.send.as_ref().map(|s| s.transport.name().to_string()),
            redirected_to: opts.redirect_to.as_ref().map(|m| m.email.to_string()),
            ..Report::default()
        };
        while let Some(outcome) = outcomes.next().await {
            report.add(outcome);
            if let Some(progress) = out.progress {
                progress(&report);
            }
        }
        drop(outcomes);
        if let Err(e) = report.emails.flush() {
            tracing::warn!("cannot write the report's records to a temporary file: {e}");
        }
        if let Some(send) = &out.send {
            report.retried = send.transport.retries();
            send.transport.close().await;
        }
        let stats = self.engine_stats();
        report.engine_requests = stats.requests;
        report.cache_hits = stats.hits;
        report.stopped = match stop.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Stop::Ledger(e)) => Some(format!("the ledger cannot be written: {e}")),
            Some(Stop::Unavailable(why)) => Some(why),
            None => None,
        };
        Ok(report)
    }

    /// Renders `campaigns` in every locale on a sample booking, as `tripmail validate` does, so
    /// that a broken template or translation stops the run before its first email (exit 2) instead
    /// of failing every email of one campaign or locale after others went out.
    async fn check_templates(&self, campaigns: &[&CampaignSettings]) -> Result<(), FatalError> {
        let renderer = Arc::clone(&self.renderer);
        let catalog = self.catalog.clone();
        let campaigns: Vec<_> = campaigns.iter().map(|c| self.campaign_arc(c)).collect();
        let checked = on_render_threads(move || {
            renderer.check(campaigns.iter().map(|c| &**c), catalog.as_deref())
        })
        .await;
        checked??;
        Ok(())
    }

    /// `outcome` (waiting, closed), or nothing when the ledger says the email was sent (or refused
    /// for good) already.
    async fn unless_done(
        &self,
        outcome: Outcome,
        campaign: &CampaignSettings,
        booking: &Booking,
        out: &Outputs<'_>,
    ) -> Outcome {
        let Some(ledger) = out.send.as_ref().and_then(|s| s.ledger.clone()) else {
            return outcome;
        };
        let key = (campaign.name.as_str(), booking.booking_id.as_str());
        match on_ledger(&ledger, key, |l, c, b| l.state(c, b)).await {
            Ok(Some(SendState::Sent | SendState::Failed)) => Outcome::Settled,
            _ => outcome,
        }
    }

    /// What the ledger says before anything is made: an email sent (or refused for good) is not
    /// made again, and one an earlier run may have handed to the server is held when its campaign
    /// says so. It is claimed only when a connection is ready for it (see [`One::send`]).
    async fn as_the_ledger_says(
        &self,
        campaign: &CampaignSettings,
        one: &One<'_>,
    ) -> Result<Option<Produced>, Stop> {
        let Some(ledger) = &one.ledger else {
            return Ok(None);
        };
        let mine = ledger.claimed_here(one.key.0, one.key.1);
        Ok(
            match on_ledger(ledger, one.key, |l, c, b| l.state(c, b)).await? {
                Some(done @ (SendState::Sent | SendState::Failed)) => {
                    Some(Produced::AlreadyDone(done))
                }
                Some(SendState::Claimed) if mine => Some(Produced::AlreadyDone(SendState::Claimed)),
                Some(SendState::Claimed)
                    if campaign.in_doubt(&self.settings.smtp) == InDoubt::Hold =>
                {
                    Some(Produced::HeldInDoubt)
                }
                _ => None,
            },
        )
    }

    /// One due email: claim it in the ledger, compose it, write it, send it, record the outcome.
    /// `Err` stops the run (the ledger cannot be written).
    async fn produce(
        &self,
        campaign: &CampaignSettings,
        booking: &Arc<Booking>,
        venue: &Venue,
        d: Due,
        opts: &RunOptions,
        out: &Outputs<'_>,
    ) -> Result<Produced, Stop> {
        let one = One {
            ledger: out.send.as_ref().and_then(|s| s.ledger.clone()),
            key: (campaign.name.as_str(), booking.booking_id.as_str()),
            message_id: OutgoingEmail::message_id_for(
                &campaign.name,
                &booking.booking_id,
                &self.settings.sender.from,
            ),
            recipient: booking.customer_email.to_string(),
            opts,
        };
        if let Some(done) = self.as_the_ledger_says(campaign, &one).await? {
            return Ok(done);
        }
        // The message is built with the email, on the rendering threads, when it goes out as it is.
        let built = opts.dry_run || (out.files.is_some() && opts.redirect_to.is_none());
        let make = Make {
            mime: built,
            straight: opts.straight,
            lean: true,
        };
        let composing = self.compose(campaign, booking, venue, d, opts.now, make);
        let mut composed = match AssertUnwindSafe(composing).catch_unwind().await {
            Ok(Ok(c)) => c,
            Ok(Err(RenderError::Bug(why))) => return one.give_up(why).await,
            Err(panic) => return one.give_up(bug("composing", &*panic)).await,
            Ok(Err(e)) => return Ok(Produced::Failed(e.to_string())),
        };
        // A runner can try the block again at its next tick, if the email may still go then.
        let may_wait = |ticks: [DateTime<Utc>; 2]| {
            !campaign.is_transactional()
                && ticks
                    .iter()
                    .all(|t| matches!(when(campaign, booking, venue, *t), When::Send(_)))
        };
        if composed.engine_transient && opts.next_ticks.is_some_and(may_wait) {
            return Ok(Produced::Held);
        }
        if opts.dry_run {
            // Produced to the last byte, then dropped.
            drop(composed.mime.take());
            return Ok(Produced::Written(Box::new(composed.record)));
        }
        if let Some(to) = &opts.redirect_to {
            composed.email = composed.email.redirected(to);
        }
        if let Some(files) = out.files {
            if let Some(failed) = one.copy(files, &mut composed).await {
                return failed;
            }
        }
        let Some(send) = &out.send else {
            return Ok(Produced::Written(Box::new(composed.record)));
        };
        // The ledger broke while this email was being made: it is not started.
        if one.ledger.as_ref().is_some_and(|l| l.is_broken()) {
            return Ok(Produced::NotAttempted);
        }
        one.send(send.transport, composed).await
    }

    /// Finds one booking by id and composes `campaign`'s email for it at an instant, whether or not
    /// it is due then: at `now`, or, with [`PreviewAt::AsOf`], when it goes on that date (the
    /// customer's). Says what the campaign does about it then, and at which instant it was composed.
    pub async fn preview(
        &self,
        booking_id: &str,
        campaign: &str,
        at: PreviewAt,
    ) -> Result<Preview, FatalError> {
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
        let composed = self
            .compose(campaign, &booking, &venue, d, now, Make::default())
            .await?;
        Ok(Preview {
            composed,
            when: when(campaign, &booking, &venue, now),
            now,
        })
    }
}

/// One due email on its way: the ledger it is recorded in (none for files only, or redirected
/// previews), its key (campaign, booking id), its Message-ID and recipient as the ledger keeps them.
struct One<'a> {
    ledger: Option<Arc<Ledger>>,
    key: (&'a str, &'a str),
    message_id: String,
    recipient: String,
    opts: &'a RunOptions,
}

impl One<'_> {
    /// Gives the email up for a bug that the same email would meet again (a panic): it is finished
    /// as failed (it never reached the server), so that reruns and a runner's ticks do not stumble
    /// on it again; the reason says to report it. Other emails go on.
    async fn give_up(&self, why: String) -> Result<Produced, Stop> {
        if let Some(ledger) = &self.ledger {
            let (message_id, recipient) = (self.message_id.clone(), self.recipient.clone());
            let (reply, run_at, at) = (why.clone(), self.opts.now, (self.opts.clock)());
            on_ledger(ledger, self.key, move |l, c, b| {
                // Not over what another copy of the booking did meanwhile.
                if let Claim::Done(_) = l.claim(c, b, &message_id, &recipient, run_at, at)? {
                    return Ok(Recorded::InLedger);
                }
                l.finish(c, b, SendState::Failed, &reply, 0, at)
            })
            .await?;
        }
        Ok(Produced::Failed(why))
    }

    /// The review copy (files): `Some` when it failed, with what became of the email.
    async fn copy(
        &self,
        files: &dyn Delivery,
        composed: &mut Composed,
    ) -> Option<Result<Produced, Stop>> {
        let delivering = match composed.mime.take() {
            Some(mime) => files.deliver_built(&composed.email, mime),
            None => files.deliver(&composed.email),
        };
        match AssertUnwindSafe(delivering).catch_unwind().await {
            Ok(Ok(())) => None,
            Ok(Err(DeliveryError::Bug(why))) => Some(self.give_up(why).await),
            Err(panic) => Some(self.give_up(bug("writing", &*panic)).await),
            Ok(Err(e)) => Some(Ok(Produced::Failed(e.to_string()))),
        }
    }

    /// Sends it through `transport`, claiming it when a lane is ready for it, and records the end.
    ///
    /// Claimed when a connection is ready for it (the transport's `ready`), and its reply committed
    /// before its turn goes to another email: at most one email per connection is between claim
    /// and commit, which is all a crash can leave in doubt (the README, "Exactly once"). The turn
    /// is taken with the claim (not before: a try that fails before it may back off without holding
    /// one) and kept until the reply is committed.
    async fn send(&self, transport: &dyn Transport, composed: Composed) -> Result<Produced, Stop> {
        let Composed {
            email,
            record,
            mime,
            ..
        } = composed;
        let turn = std::sync::Mutex::new(None);
        let claim_result: std::sync::Mutex<Option<Result<Claim, Stop>>> =
            std::sync::Mutex::new(None);
        let claim_now = || async {
            let Some(ledger) = &self.ledger else {
                return true;
            };
            let Some(taken) = transport.turn().await else {
                return false; // a stop was asked: withdrawn, nothing sent
            };
            *turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(taken);
            let (message_id, recipient) = (self.message_id.clone(), self.recipient.clone());
            let (run_at, at) = (self.opts.now, (self.opts.clock)());
            // Beside the envelope's round trips (see `send_when_ready`), so on the blocking pool.
            let claim = on_ledger_aside(ledger, self.key, move |l, c, b| {
                l.claim(c, b, &message_id, &recipient, run_at, at)
            })
            .await;
            let go = matches!(claim, Ok(Claim::New | Claim::Retry | Claim::InDoubt));
            *claim_result.lock().unwrap_or_else(|p| p.into_inner()) = Some(claim);
            go
        };
        let mime = match mime {
            Some(mime) => Ok(mime),
            None => email
                .to_mime()
                .map_err(|e| SendFailure::Unsendable(e.to_string())),
        };
        // A panic while sending may come before or after the server got the message: the email is
        // finished as failed rather than sent again, which could send it twice (and would meet the
        // same panic at every run).
        let sent = match &mime {
            Ok(mime) => {
                let ready = Box::new(|| claim_now().boxed());
                AssertUnwindSafe(transport.send(&email, mime, ready))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(SendFailure::Unsendable(bug("sending", &*panic))))
            }
            Err(failure) => Err(failure.clone()),
        };
        // What the claim found, if it was asked (none: no connection was had, nothing sent).
        let claimed = match claim_result.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Err(stop)) => return Err(stop),
            Some(Ok(Claim::Done(state))) => return Ok(Produced::AlreadyDone(state)),
            Some(Ok(claim)) => Some(claim),
            None => None,
        };
        let produced = self.record(Box::new(record), sent, claimed).await;
        drop(turn);
        produced
    }

    /// Records in the ledger what became of a send (`claimed`: what its claim found, none when it
    /// was never claimed).
    async fn record(
        &self,
        record: Box<EmailRecord>,
        sent: Result<Accepted, SendFailure>,
        claimed: Option<Claim>,
    ) -> Result<Produced, Stop> {
        // The in-doubt window: from the server's reply to its commit (logged at debug, target
        // `tripmail::window`, for measurements).
        let replied = std::time::Instant::now();
        let Some((state, reply, attempts, produced)) =
            settle(record, sent, claimed == Some(Claim::InDoubt))
        else {
            // Asked to stop before the transaction: nothing sent, and a first try leaves no trace.
            if let Some((ledger, claimed)) = self.ledger.as_ref().zip(claimed) {
                on_ledger(ledger, self.key, move |l, c, b| l.release(c, b, claimed)).await?;
            }
            return Ok(Produced::Interrupted);
        };
        let Some(ledger) = &self.ledger else {
            return Ok(produced);
        };
        let at = (self.opts.clock)();
        let reply_ = reply.clone();
        // An email that failed or was deferred before the server waited for its message was never
        // claimed: it is claimed now, so that its end is recorded all the same.
        let unclaimed = claimed.is_none().then(|| {
            (
                self.message_id.clone(),
                self.recipient.clone(),
                self.opts.now,
            )
        });
        let recorded = on_ledger(ledger, self.key, move |l, c, b| {
            if let Some((message_id, recipient, run_at)) = &unclaimed {
                // Sent (or being sent) by another copy of the booking meanwhile: left as it is.
                if let Claim::Done(_) = l.claim(c, b, message_id, recipient, *run_at, at)? {
                    return Ok(Recorded::InLedger);
                }
            }
            l.finish(c, b, state, &reply_, attempts, at)
        })
        .await;
        if let Ok(Recorded::InLedger) = recorded {
            tracing::debug!(
                target: "tripmail::window",
                micros = replied.elapsed().as_micros() as u64,
                "reply committed"
            );
            return Ok(produced);
        }
        Ok(self.unrecorded(recorded, produced, state, reply, attempts, at))
    }

    /// Whatever the ledger says, the email went as `produced` says: the report counts it so, and
    /// the run stops starting emails. A sent email the ledger could not take is listed.
    fn unrecorded(
        &self,
        recorded: Result<Recorded, Stop>,
        produced: Produced,
        state: SendState,
        reply: String,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Produced {
        let (unrecorded, why) = match recorded {
            Ok(Recorded::InLedger) => return produced,
            Ok(Recorded::Listed { send, list, error }) => (
                Unrecorded {
                    send,
                    listed_in: Some(list.display().to_string()),
                    error: error.to_string(),
                },
                Stop::Ledger(*error),
            ),
            Err(Stop::Ledger(e)) if state == SendState::Sent => {
                let send = UnrecordedSend {
                    campaign: self.key.0.to_string(),
                    booking_id: self.key.1.to_string(),
                    message_id: self.message_id.clone(),
                    recipient: self.recipient.clone(),
                    reply,
                    attempts,
                    at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
                };
                let error = e.to_string();
                (
                    Unrecorded {
                        send,
                        listed_in: None,
                        error,
                    },
                    Stop::Ledger(e),
                )
            }
            Err(why) => return Produced::Halting(Box::new(produced), why),
        };
        let produced = match produced {
            Produced::Sent {
                record, in_doubt, ..
            } => Produced::Sent {
                record,
                in_doubt,
                unrecorded: Some(unrecorded),
            },
            other => other,
        };
        Produced::Halting(Box::new(produced), why)
    }
}

/// The one place that decides the ledger state of a send from the transport's outcome: the state,
/// reply and tries to record, and what became of the email. `None`: asked to stop before the
/// transaction, nothing sent (the claim, if any, is given back). `in_doubt`: the claim found it
/// claimed by an earlier run that may have handed it to the server.
fn settle(
    record: Box<EmailRecord>,
    sent: Result<Accepted, SendFailure>,
    in_doubt: bool,
) -> Option<(SendState, String, u32, Produced)> {
    let (state, produced) = match &sent {
        Ok(_) => {
            let unrecorded = None;
            let produced = Produced::Sent {
                record,
                in_doubt,
                unrecorded,
            };
            (SendState::Sent, produced)
        }
        Err(f @ (SendFailure::Rejected { .. } | SendFailure::Unsendable(_))) => {
            (SendState::Failed, Produced::Failed(f.to_string()))
        }
        // The server may have it: the claim stays, with what happened (see the README).
        Err(f @ SendFailure::InDoubt { .. }) => {
            let reply = format!("in doubt: {}", f.reply());
            (SendState::Claimed, Produced::InDoubt(reply))
        }
        Err(SendFailure::Stopped { attempts: 0 }) => return None,
        // After temporary failures the email stays deferred, as when its tries run out.
        Err(SendFailure::Stopped { .. }) => (SendState::Deferred, Produced::Interrupted),
        Err(f @ SendFailure::Deferred { .. }) => {
            let reply = f.reply();
            (
                SendState::Deferred,
                Produced::Deferred { reply, stop: None },
            )
        }
        Err(f @ SendFailure::Unavailable { .. }) => {
            let (reply, stop) = (f.reply(), Some(Stop::Unavailable(f.to_string())));
            (SendState::Deferred, Produced::Deferred { reply, stop })
        }
    };
    let (reply, attempts) = match &sent {
        Ok(a) => (a.reply.clone(), a.attempts),
        Err(f @ SendFailure::InDoubt { .. }) => (format!("in doubt: {}", f.reply()), f.attempts()),
        Err(f) => (f.reply(), f.attempts()),
    };
    Some((state, reply, attempts, produced))
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

#[cfg(test)]
mod send_tests {
    //! The ledger's states for every outcome a transport can report, driven through a scripted
    //! transport and a real SQLite ledger: no socket.
    use super::*;
    use crate::deliver::{Script, ScriptedTransport};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn clock() -> DateTime<Utc> {
        t("2026-12-10T09:00:01Z")
    }

    fn opts() -> RunOptions {
        RunOptions {
            now: t("2026-12-10T09:00:00Z"),
            campaign: None,
            parallel: 1,
            redirect_to: None,
            clock,
            cancel: None,
            next_ticks: None,
            dry_run: false,
            straight: false,
            keep_records: true,
        }
    }

    fn composed(booking_id: &str) -> Composed {
        let from: lettre::message::Mailbox = "Wanderly <trips@wanderly.example>".parse().unwrap();
        let to: lettre::message::Mailbox = "ana@example.com".parse().unwrap();
        let email = OutgoingEmail {
            campaign: "reminder".into(),
            booking_id: booking_id.into(),
            message_id: OutgoingEmail::message_id_for("reminder", booking_id, &from),
            from,
            to,
            subject: "Your trip".into(),
            date: t("2026-12-10T09:00:00Z"),
            html: "<p>hi</p>".into(),
            text: "hi".into(),
            list_unsubscribe: None,
            original_to: None,
        };
        let record = EmailRecord {
            campaign: "reminder".into(),
            booking_id: booking_id.into(),
            to: "ana@example.com".into(),
            subject: "Your trip".into(),
            provider: crate::config::Provider::Tiqets,
            items: Vec::new(),
            rules: Vec::new(),
            without_block: None,
            engine_error: None,
            item_titles: Vec::new(),
        };
        let content = EmailContent {
            subject: email.subject.clone(),
            preheader: String::new(),
            mjml: String::new(),
            html: String::new(),
            text: String::new(),
        };
        Composed {
            email,
            content,
            record,
            mime: None,
            engine_transient: false,
        }
    }

    /// Sends booking `id` once through `transport` on `ledger`.
    async fn send(ledger: &Arc<Ledger>, transport: &ScriptedTransport, id: &str) -> Produced {
        let opts = opts();
        let one = One {
            ledger: Some(Arc::clone(ledger)),
            key: ("reminder", id),
            message_id: format!("reminder.{id}@wanderly.example"),
            recipient: "ana@example.com".into(),
            opts: &opts,
        };
        match one.send(transport, composed(id)).await {
            Ok(p) => p,
            Err(_) => panic!("the ledger stopped the run"),
        }
    }

    fn row(ledger: &Ledger, id: &str) -> Option<crate::ledger::Entry> {
        let entries = ledger.entries(Some("reminder")).unwrap();
        entries.into_iter().find(|e| e.booking_id == id)
    }

    #[tokio::test]
    async fn each_outcome_a_transport_reports_is_recorded_as_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(&dir.path().join("ledger.db")).unwrap());
        let cases = [
            (
                Script::Accept,
                Some((SendState::Sent, "250 2.0.0 Ok: queued", 1)),
            ),
            (
                Script::Reject,
                Some((SendState::Failed, "550 5.1.1 no such user", 1)),
            ),
            (
                Script::Defer,
                Some((SendState::Deferred, "451 4.3.0 try again later", 3)),
            ),
            (
                Script::InDoubt,
                Some((
                    SendState::Claimed,
                    "in doubt: no answer within the timeout (Message)",
                    1,
                )),
            ),
            (
                Script::Unavailable,
                Some((
                    SendState::Deferred,
                    "cannot connect: Connection refused (os error 111)",
                    3,
                )),
            ),
            (Script::Stop, None),
            (
                Script::StopAfterTries,
                Some((
                    SendState::Deferred,
                    "not sent: the run was asked to stop",
                    2,
                )),
            ),
        ];
        let transport = ScriptedTransport::new(cases.iter().map(|(s, _)| *s));
        for (i, (script, want)) in cases.iter().enumerate() {
            let id = format!("WT-{i}");
            let produced = send(&ledger, &transport, &id).await;
            let got = row(&ledger, &id).map(|e| (e.state, e.reply.unwrap_or_default(), e.attempts));
            let want = want.map(|(s, r, a)| (s, r.to_string(), a));
            assert_eq!(got, want, "{script:?}");
            let fits = match script {
                Script::Accept => matches!(
                    produced,
                    Produced::Sent {
                        in_doubt: false,
                        ..
                    }
                ),
                Script::Reject => {
                    matches!(&produced, Produced::Failed(r) if r.starts_with("rejected: 550"))
                }
                Script::Defer => matches!(produced, Produced::Deferred { stop: None, .. }),
                Script::InDoubt => {
                    matches!(&produced, Produced::InDoubt(r) if r.starts_with("in doubt: "))
                }
                Script::Unavailable => matches!(produced, Produced::Deferred { stop: Some(_), .. }),
                Script::Stop | Script::StopAfterTries => matches!(produced, Produced::Interrupted),
            };
            assert!(fits, "{script:?}");
        }
        // Unavailable and Stop never reached the point where the claim is made.
        assert_eq!(transport.asked(), 5);
    }

    #[tokio::test]
    async fn a_sent_email_is_not_sent_again_and_one_left_claimed_by_a_dead_run_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        {
            // A run that died after its claim.
            let dead = Ledger::open(&path).unwrap();
            let at = t("2026-12-10T08:00:00Z");
            let claim = dead.claim("reminder", "WT-2", "m", "ana@example.com", at, at);
            assert!(matches!(claim, Ok(Claim::New)));
        }
        let ledger = Arc::new(Ledger::open(&path).unwrap());
        let transport = ScriptedTransport::new([]);
        assert!(matches!(
            send(&ledger, &transport, "WT-1").await,
            Produced::Sent { .. }
        ));
        let again = send(&ledger, &transport, "WT-1").await;
        assert!(
            matches!(again, Produced::AlreadyDone(SendState::Sent)),
            "sent twice"
        );
        assert_eq!(transport.accepted().len(), 1);
        let taken = send(&ledger, &transport, "WT-2").await;
        assert!(matches!(taken, Produced::Sent { in_doubt: true, .. }));
        assert_eq!(
            row(&ledger, "WT-2").map(|e| (e.state, e.takeovers)),
            Some((SendState::Sent, 1))
        );
    }
}
