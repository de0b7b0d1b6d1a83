//! The runner: campaigns run once or on a schedule (`run --every`), stopped cleanly on request.
//!
//! It owns what any front end needs to run campaigns — a tick ([`Job::tick`]: produce what is due,
//! write the review files and the report), the serve loop ([`Job::serve`]: a tick at each multiple of
//! the interval, late ticks run at once, a failed tick retried at the next), the stop request
//! ([`Halt`], set by SIGINT/SIGTERM through [`watch_signals`] or by anything else) and the emails held
//! for the next tick — and nothing of the terminal: what it has to say goes to an [`Observer`], which
//! the command line prints and a console could show.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

use crate::config::Settings;
use crate::deliver::{self, Delivery, FileDelivery, Transport};
use crate::ledger::{SendLedger, UnrecordedSend};
use crate::report::Report;
use crate::run::{Campaigns, FatalError, Outputs, RunOptions, Sending};
use crate::schedule::tick_at_or_after;
use crate::state::{RunKind, StateStore};

mod halt;
mod history;

pub use crate::store::open_for_sending;
pub(crate) use halt::next_signal;
pub use halt::{watch_signals, Halt, SignalSeen};

/// Emails a run has in flight unless told otherwise (`run --parallel`).
pub const DEFAULT_PARALLEL: usize = 64;

/// The unsubscribe secret of the shipped example configs: anyone can sign links with it.
const DEMO_UNSUBSCRIBE_SECRET: &str = "wanderly-demo-unsubscribe-secret";

/// Whether a run of `settings` would send emails whose unsubscribe links are signed with the shipped
/// demo secret, which anyone can read in this repository and use to unsubscribe any booking.
pub fn signs_with_demo_secret(settings: &Settings) -> bool {
    let demo = settings
        .links
        .unsubscribe_secret
        .as_ref()
        .is_some_and(|s| s.expose() == DEMO_UNSUBSCRIBE_SECRET);
    demo && settings.campaigns.iter().any(|c| c.wants_unsubscribe())
}

/// Why a tick produced nothing, or could not write its report.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The SMTP URL of the settings cannot be used.
    /// The SMTP transport cannot be built from the settings.
    #[error("smtp: {0}")]
    Transport(String),
    /// Nothing could be produced (config, templates, catalog, bookings, ledger).
    #[error(transparent)]
    Fatal(#[from] FatalError),
    /// The review page and `report.json` cannot be written in the output folder.
    #[error("cannot write the report in {}", dir.display())]
    WriteReport {
        /// The output folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON report cannot be written where asked (`--report`).
    #[error("cannot write the report {}", path.display())]
    WriteJson {
        /// The file asked for.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Shown the report as one run's emails are produced.
pub trait RunProgress: Send + Sync {
    /// The report so far, after each email: its instant (`now`), the emails due so far (`due`;
    /// the bookings are read as a stream, so the whole is known only at the end), produced
    /// (`rendered`), `sent`, `failed`, `deferred`, `held`, `paused` (per campaign), and the rest
    /// of [`Report`]'s counts.
    fn show(&self, report: &Report);
    /// The run is over (not called when it failed).
    fn finish(&self) {}
}

/// Shows nothing.
struct Quiet;

impl RunProgress for Quiet {
    fn show(&self, _: &Report) {}
}

/// What a runner has to say, for its front end to show; every method does nothing by default.
pub trait Observer: Sync {
    /// A run begins producing emails: what shows its progress.
    fn run_begins(&self) -> Box<dyn RunProgress + '_> {
        Box::new(Quiet)
    }
    /// A dry run made its emails in `took` and dropped them (the report is not written yet).
    fn dry_run_done(&self, _report: &Report, _took: Duration) {}
    /// A run is over and its report written.
    fn run_done(&self, _done: &RunDone<'_>) {}
    /// A runner starts ticking every `every`.
    fn serving(&self, _every: Duration) {}
    /// A runner's tick starts at `now`.
    fn tick_begins(&self, _now: DateTime<Utc>) {}
    /// A runner's tick at `now` failed; the next one, at `next`, tries again.
    fn tick_failed(&self, _now: DateTime<Utc>, _next: DateTime<Utc>, _error: &TickError) {}
    /// A runner stopped, as asked.
    fn stopped(&self) {}
}

/// A run over, as [`Observer::run_done`] is told it.
pub struct RunDone<'a> {
    /// What the run did.
    pub report: &'a Report,
    /// The review folder it wrote, if any.
    pub out: Option<&'a Path>,
    /// The send ledger it recorded in, if any.
    pub ledger: Option<&'a dyn SendLedger>,
    /// Sends an earlier run could not record, recorded as sent first (from the ledger's list).
    pub recovered: Vec<UnrecordedSend>,
}

/// What `tripmail run` does, once ([`Job::tick`]) or at each tick ([`Job::serve`]).
pub struct Job {
    /// The settings, flags applied.
    pub settings: Settings,
    /// The review folder (`.eml`, `.html`, `index.html`, `report.json`), if any.
    pub out: Option<PathBuf>,
    /// Every email to this address instead of its customer (the ledger is not used).
    pub redirect_to: Option<Mailbox>,
    /// The send ledger, held for the job's whole life; `None` when nothing is sent to customers.
    pub ledger: Option<Arc<dyn SendLedger>>,
    /// Also write the JSON report here.
    pub report_path: Option<PathBuf>,
    /// Only this campaign.
    pub campaign: Option<String>,
    /// Emails in flight at once.
    pub parallel: usize,
    /// The stop request.
    pub halt: Halt,
    /// Make every email and drop it: nothing written or sent, the ledger untouched.
    pub dry_run: bool,
    /// Make every email the straightforward way (slower, the same bytes).
    pub straight: bool,
    /// The wall clock: the ticks' instants, the times in the ledger.
    pub clock: fn() -> DateTime<Utc>,
    /// The state database: each tick's pauses are read from it (again as the tick goes), and its
    /// history recorded in it. `None`: no history, and the pauses are read from `state.path` when
    /// that file exists (it is not created). Set it with the ledger ([`open_for_sending`]).
    pub state: Option<Arc<dyn StateStore>>,
}

impl Job {
    /// A job that writes nothing, sends nothing and keeps no ledger, until its fields say otherwise.
    pub fn new(settings: Settings, clock: fn() -> DateTime<Utc>) -> Job {
        Job {
            settings,
            out: None,
            redirect_to: None,
            ledger: None,
            report_path: None,
            campaign: None,
            parallel: DEFAULT_PARALLEL,
            halt: Halt::new(),
            dry_run: false,
            straight: false,
            clock,
            state: None,
        }
    }

    /// One run at `now`: every email due then, but those of paused campaigns, produced, written
    /// and sent; the report written and told to `observer`; the run recorded in the state's
    /// history (a `tick` when `next_ticks` is given: the runner's next two ticks, for which emails
    /// may wait; else a `run`).
    pub async fn tick(
        &self,
        now: DateTime<Utc>,
        next_ticks: Option<[DateTime<Utc>; 2]>,
        observer: &dyn Observer,
    ) -> Result<Report, TickError> {
        let kind = match next_ticks {
            Some(_) => RunKind::Tick,
            None => RunKind::Run,
        };
        let id = self.history_begins(kind, now);
        let ticked = self.tick_unrecorded(now, next_ticks, observer).await;
        self.history_ends(id, &ticked);
        ticked
    }

    /// [`Job::tick`] but its history.
    async fn tick_unrecorded(
        &self,
        now: DateTime<Utc>,
        next_ticks: Option<[DateTime<Utc>; 2]>,
        observer: &dyn Observer,
    ) -> Result<Report, TickError> {
        // A fresh connection pool and API caches each tick: a server found down in one tick is
        // asked again in the next, and answers are not kept across ticks.
        let transport = self.transport()?;
        let mut campaigns = Campaigns::start(self.settings.clone()).await?;
        let pauses = self.pauses().map_err(FatalError::Ledger)?;
        campaigns.watch_pauses(Arc::new(pauses));
        if let Some(ledger) = &self.ledger {
            ledger.begin_run();
        }
        let images = self.settings.review.images();
        let files = self
            .out
            .as_ref()
            .map(|dir| FileDelivery::new(dir).with_images(images));
        let progress = observer.run_begins();
        let show = |r: &Report| progress.show(r);
        let outputs = Outputs {
            files: files.as_ref().map(|f| f as &dyn Delivery),
            send: transport.as_deref().map(|transport| Sending {
                transport,
                ledger: self.ledger.clone(),
            }),
            progress: Some(&show),
        };
        let started = std::time::Instant::now();
        let report = campaigns
            .run(&self.run_options(now, next_ticks), &outputs)
            .await?;
        progress.finish();
        if self.dry_run {
            observer.dry_run_done(&report, started.elapsed());
        }
        self.write_report(&report)?;
        observer.run_done(&RunDone {
            report: &report,
            out: self.out.as_deref(),
            ledger: self.ledger.as_deref(),
            recovered: self
                .ledger
                .as_deref()
                .map(|l| l.take_recovered())
                .unwrap_or_default(),
        });
        Ok(report)
    }

    /// The transport of a tick, stopped by the halt; none for a dry run.
    fn transport(&self) -> Result<Option<Box<dyn Transport>>, TickError> {
        match self.dry_run {
            true => Ok(None),
            false => {
                let pace = self.ledger.clone().and_then(|l| l.shared_pace());
                deliver::transport_of(&self.settings, Some(self.halt.flag()), pace)
                    .map_err(TickError::Transport)
            }
        }
    }

    fn run_options(
        &self,
        now: DateTime<Utc>,
        next_ticks: Option<[DateTime<Utc>; 2]>,
    ) -> RunOptions {
        RunOptions {
            now,
            campaign: self.campaign.clone(),
            parallel: self.parallel,
            redirect_to: self.redirect_to.clone(),
            clock: self.clock,
            cancel: Some(self.halt.flag()),
            next_ticks,
            dry_run: self.dry_run,
            straight: self.straight,
            keep_records: !self.dry_run || self.report_path.is_some(),
        }
    }

    /// The review page and `report.json` in the output folder, and the JSON report where asked.
    fn write_report(&self, report: &Report) -> Result<(), TickError> {
        if let Some(out) = &self.out {
            report.write(out).map_err(|source| TickError::WriteReport {
                dir: out.clone(),
                source,
            })?;
        }
        if let Some(path) = &self.report_path {
            report
                .write_json(path)
                .map_err(|source| TickError::WriteJson {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Runs a tick now and at every multiple of `every` on the clock, until the halt is requested. A
    /// tick that fails (the bookings file unreadable, a template broken, the SMTP server down) is told
    /// to `observer` and the next one tries again.
    pub async fn serve(&self, every: Duration, observer: &dyn Observer) {
        observer.serving(every);
        let step = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        let mut now = (self.clock)();
        loop {
            let next = tick_at_or_after(now + chrono::Duration::nanoseconds(1), every);
            let after = next.checked_add_signed(step).unwrap_or(next);
            observer.tick_begins(now);
            if let Err(e) = self.tick(now, Some([next, after]), observer).await {
                observer.tick_failed(now, next, &e);
            }
            if self.halt.is_requested() {
                break;
            }
            let wait = (next - (self.clock)()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.halt.wait() => {}
            }
            if self.halt.is_requested() {
                break;
            }
            now = self.on_time_or_now(next);
        }
        observer.stopped();
    }

    /// On time, the tick is the instant planned; late (a tick that ran long, a suspended machine), it
    /// runs at once at the clock's instant, so that windows are judged right.
    fn on_time_or_now(&self, next: DateTime<Utc>) -> DateTime<Utc> {
        let woke = (self.clock)();
        if woke - next > chrono::Duration::seconds(1) {
            woke
        } else {
            next
        }
    }
}

/// An error and its causes, `: `-separated (as `anyhow` shows them with `{:#}`): for a report,
/// a history row or a page, which show one line.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
