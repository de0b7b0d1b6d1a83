//! The web console (`tripmail serve`): marketing teams see their campaigns, the coming days, one
//! booking's emails, previews as the customer sees them, test sends and the runs, in a browser; and
//! pause or resume a campaign.
//!
//! Split by page: `campaigns` (the list, pause and resume), `plan` (+ `chart`, the SVG),
//! `lookup`, `preview` (+ its test send), `runs` (+ `live`, the in-process runner's progress),
//! `snapshots` (the team's snapshot cases: a live gallery, a review, "approve");
//! `auth` (token login, sessions, CSRF) and `pages` (the templates and the headers every page
//! carries). This file holds the server: the address check, the routes, and the runner started
//! beside it with `--every` (the library's [`Job`], not a copy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};

use crate::bookings::BookingsCache;
use crate::config::{Secret, Settings};
use crate::ledger::{Entry, SendLedger};
use crate::run::{Campaigns, FatalError};
use crate::runner::{Halt, Job};
use crate::state::StateStore;

mod auth;
mod campaigns;
mod chart;
mod live;
mod lookup;
mod pages;
mod plan;
mod preview;
mod runs;
mod snapshots;

pub use auth::random_token;

/// How long the console's campaigns (templates, catalog, engine answers) are used before they
/// are started again.
const ENGINE_FRESH: Duration = Duration::from_secs(60);

/// How long requests in flight may take once the console is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What `tripmail serve` was asked for.
pub struct Console {
    /// The settings, flags applied.
    pub settings: Settings,
    /// The login token.
    pub token: Secret,
    /// The wall clock (shifted by `--now` when given): pages' "now", and the runner's ticks.
    pub clock: fn() -> DateTime<Utc>,
    /// Reached from other machines (`--allow-remote`, through TLS): the session cookie is `Secure`.
    pub remote: bool,
    /// Run the runner in the process at this interval.
    pub every: Option<Duration>,
    /// The runner's ledger (held, with its lock, for the process's life); `None` without `--every`.
    pub ledger: Option<Arc<dyn SendLedger>>,
    /// The state database, when already open (with the ledger); else opened at `settings.state.path`.
    pub state: Option<Arc<dyn StateStore>>,
    /// Where the snapshot pages find the case list (looked for at each request) and the snapshots.
    pub snapshots: crate::snapshots::Paths,
}

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// An address other than loopback without `--allow-remote`.
    #[error("--listen {0}: not a loopback address; the console shows customers' data and sends tests, so it listens on 127.0.0.1 or ::1 unless you also give --allow-remote (then put it behind TLS)")]
    NotLoopback(SocketAddr),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The campaigns cannot be started (config, templates, catalog).
    #[error(transparent)]
    Fatal(#[from] FatalError),
    /// The runner's thread cannot be started.
    #[error("cannot start the runner's thread: {0}")]
    Runner(std::io::Error),
    /// Serving stopped on an error of the listening socket.
    #[error("the console stopped serving: {0}")]
    Serve(std::io::Error),
    /// The state database cannot be opened.
    #[error(transparent)]
    State(#[from] crate::ledger::LedgerError),
}

/// The shared state of every request.
pub(crate) struct App {
    settings: Settings,
    /// The campaigns previews are made with, and when they were started: made again after
    /// [`ENGINE_FRESH`], so that a template edited or an engine answer that failed is seen again.
    engine: tokio::sync::Mutex<(std::time::Instant, Arc<Campaigns>)>,
    auth: auth::Auth,
    pages: pages::Pages,
    clock: fn() -> DateTime<Utc>,
    every: Option<Duration>,
    ledger: Option<Arc<dyn SendLedger>>,
    live: live::Live,
    state: Arc<dyn StateStore>,
    bookings: Arc<BookingsCache>,
    plans: plan::PlanCache,
    snapshots: crate::snapshots::Paths,
    /// Held while an approval writes snapshot files: one at a time.
    approving: tokio::sync::Mutex<()>,
}

impl auth::HasAuth for App {
    fn auth(&self) -> &auth::Auth {
        &self.auth
    }
}

impl App {
    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The campaigns to preview with: started again when older than [`ENGINE_FRESH`] (a start
    /// that fails, a template broken meanwhile, is said on the page; the next request tries again).
    async fn campaigns(&self) -> Result<Arc<Campaigns>, String> {
        let mut engine = self.engine.lock().await;
        if engine.0.elapsed() >= ENGINE_FRESH {
            let fresh = Campaigns::start(self.settings.clone())
                .await
                .map_err(|e| e.to_string())?;
            *engine = (std::time::Instant::now(), Arc::new(fresh));
        }
        Ok(engine.1.clone())
    }

    /// `html` (an email) with the demo's pictures served by the console (`[review] images_dir`).
    fn for_console(&self, html: &str) -> String {
        match self.settings.review.images() {
            Some(images) => {
                crate::deliver::files::localize(html, &images, |name| format!("/images/{name}")).0
            }
            None => html.to_string(),
        }
    }

    /// One booking's rows of the send ledger: the runner's ledger when it runs here, else the state
    /// file read as it is (nothing when nothing was ever sent with it).
    fn ledger_entries(&self, booking_id: &str) -> Result<Vec<Entry>, String> {
        let read = |l: &dyn SendLedger| l.booking_entries(booking_id).map_err(|e| e.to_string());
        match &self.ledger {
            Some(l) => read(l.as_ref()),
            None => {
                match crate::store::open_read(&self.settings.state).map_err(|e| e.to_string())? {
                    Some(l) => read(l.as_ref()),
                    None => Ok(Vec::new()),
                }
            }
        }
    }
}

/// `work` (a database or file read that may wait) off the async threads; its error in words.
async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the work stopped: {e}")),
    }
}

/// The bookings, read off the async threads when the file changed.
async fn loaded(app: &App) -> Result<Arc<crate::bookings::Loaded>, String> {
    let cache = app.bookings.clone();
    blocking(move || cache.get()).await
}

/// Binds `addr`: loopback only unless `allow_remote`.
pub async fn bind(
    addr: SocketAddr,
    allow_remote: bool,
) -> Result<tokio::net::TcpListener, ConsoleError> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(ConsoleError::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ConsoleError::Listen { addr, source })
}

/// A console ready to serve: its campaigns started (config, templates, catalog checked) and its
/// state database open, so that a bad setting stops `serve` before it says where it listens.
pub struct Ready(Arc<App>);

/// Makes the console ready.
pub async fn prepare(console: Console) -> Result<Ready, ConsoleError> {
    Ok(Ready(Arc::new(App {
        engine: tokio::sync::Mutex::new((
            std::time::Instant::now(),
            Arc::new(Campaigns::start(console.settings.clone()).await?),
        )),
        pages: pages::Pages::new(),
        auth: auth::Auth::new(&console.token, console.remote),
        clock: console.clock,
        every: console.every,
        ledger: console.ledger,
        live: live::Live::default(),
        state: match console.state {
            Some(state) => state,
            None => crate::store::open_state(&console.settings.state)?,
        },
        bookings: Arc::new(BookingsCache::new(&console.settings.bookings.path)),
        plans: plan::PlanCache::default(),
        snapshots: console.snapshots,
        approving: tokio::sync::Mutex::new(()),
        settings: console.settings,
    })))
}

/// Serves the console on `listener` until `halt` is requested; with `every`, runs the runner
/// beside it and waits for its tick to end before returning.
pub async fn serve(
    listener: tokio::net::TcpListener,
    Ready(app): Ready,
    halt: Halt,
) -> Result<(), ConsoleError> {
    // The runner's future is not `Send` (its run borrows across awaits in ways the compiler cannot
    // prove are), so it runs on a thread of its own with its own runtime, as `run --every` does.
    let runner = match app.every {
        Some(every) => {
            let (app, halt) = (app.clone(), halt.clone());
            let thread = std::thread::Builder::new()
                .name("tripmail-runner".into())
                .spawn(move || run_ticks(&app, every, halt))
                .map_err(ConsoleError::Runner)?;
            Some(thread)
        }
        None => None,
    };
    let stop = halt.clone();
    let server = axum::serve(listener, routes(app)).with_graceful_shutdown(async move {
        stop.wait().await;
    });
    // Once asked to stop, requests in flight get a few seconds; a client that holds a request
    // half-sent does not keep the process up.
    let served = tokio::select! {
        served = server => served,
        () = async {
            halt.wait().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    };
    if let Some(runner) = runner {
        halt.request();
        let _ = tokio::task::spawn_blocking(move || runner.join()).await;
    }
    served.map_err(ConsoleError::Serve)
}

/// The library's runner, its progress shown on the runs page, until `halt`.
fn run_ticks(app: &App, every: Duration, halt: Halt) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("the console's runner cannot start its runtime: {e}");
            return;
        }
    };
    let mut job = Job::new(app.settings.clone(), app.clock);
    job.ledger = app.ledger.clone();
    job.state = Some(app.state.clone());
    job.halt = halt;
    runtime.block_on(job.serve(every, &app.live));
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/", get(campaigns::page))
        .route("/campaigns/{name}/{action}", post(campaigns::change))
        .route("/plan", get(plan::page))
        .route("/lookup", get(lookup::page))
        .route("/preview", get(preview::page))
        .route("/preview/send-test", post(preview::send_test))
        .route("/runs", get(runs::page))
        .route("/runs/{id}", get(runs::one))
        .route("/snapshots", get(snapshots::gallery))
        .route("/snapshots/case/{name}", get(snapshots::one))
        .route("/snapshots/approve", post(snapshots::approve))
        .route("/static/console.css", get(pages::stylesheet))
        .route("/images/{*name}", get(preview::image))
        .fallback(pages::not_found)
        .with_state(app)
}
