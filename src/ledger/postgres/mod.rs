//! The PostgreSQL ledger (`state.url`): one database shared by several runners, on one machine or
//! many. Each email is claimed by one runner for a lease (`state.lease_seconds`, judged by the
//! database's clock, so a runner whose clock is off cannot hold a claim twice); a runner renews the
//! leases of what it holds while it lives, and once a dead runner's lease is over another runner
//! takes its emails, as emails in doubt.
//!
//! Split by concern: `schema` (versioned migrations, refused when the database is newer than the
//! binary), `rows` (the statements on one email's row: claim, record, renew), `sends` (the
//! ledger trait over them, and the reads), `state` (pauses, audit, run history), `copy`
//! (`ledger --copy-to`). This file holds the connection: a pool
//! (deadpool-postgres over tokio-postgres) on a runtime of its own, on its own thread, so that the
//! synchronous [`SendLedger`](crate::ledger::SendLedger) calls can be made from any thread; every
//! call waits a bounded time, and a database that went away is waited for (bounded, logged).

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::LedgerError;
use crate::config::StateSettings;

mod copy;
mod pace;
mod rows;
mod schema;
mod sends;
mod state;

pub use copy::Copied;
pub use schema::SCHEMA_VERSION;

/// The parameters of one statement, shared by its tries.
pub(crate) type Params = Arc<Vec<Box<dyn ToSql + Send + Sync>>>;

/// The parameters `values` as [`Params`].
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        std::sync::Arc::new(vec![
            $(Box::new($v) as Box<dyn tokio_postgres::types::ToSql + Send + Sync>),*
        ])
    };
}
pub(crate) use params;

/// The longest one call waits for an answer.
const CALL_WITHIN: Duration = Duration::from_secs(30);

/// How long a call waits for a database that went away (restarted, failed over) before it fails.
pub const WAIT_FOR_DATABASE: Duration = Duration::from_secs(120);

/// Connections per runner: the SMTP connections' claims and records, and the lease renewal.
const POOL_SIZE: usize = 16;

/// The PostgreSQL ledger, open for one runner.
pub struct PgLedger {
    pool: Pool,
    /// The runtime's handle; the runtime runs on its own thread until the ledger is dropped.
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// `postgres://USER@HOST:PORT/DB`: for messages (never the password).
    store_path: PathBuf,
    /// This runner: host, process and a random part.
    runner: String,
    lease: Duration,
    broken: AtomicBool,
    mine: Mutex<HashSet<(String, String)>>,
    /// Sends the server accepted whose `sent` the database did not take: recorded first at the
    /// next run (until then nothing is claimed).
    unrecorded: Mutex<Vec<rows::Unrecorded>>,
    /// Sends recorded from `unrecorded`, for the run's report.
    recovered: Mutex<Vec<super::UnrecordedSend>>,
    /// When the database was last found reachable again after an outage: for a lease after it,
    /// no claim of another runner is taken over (that runner may not have renewed it yet).
    back_at: Mutex<Option<Instant>>,
    /// Since when the database cannot be reached, in the outage going on: every call's wait ends
    /// [`WAIT_FOR_DATABASE`] after it.
    down_since: Mutex<Option<Instant>>,
}

/// An error of one call, before it is put in words.
#[derive(Debug)]
pub(crate) enum PgFail {
    /// The database cannot be reached now (down, restarting): worth waiting for.
    Unreachable(String),
    /// Anything else.
    Other(String),
}

impl From<tokio_postgres::Error> for PgFail {
    fn from(e: tokio_postgres::Error) -> Self {
        let words = crate::runner::with_causes(&e);
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        // The connection closed or failed; 08xxx: connection exceptions; 57P01-57P03: the server
        // is shutting down or starting; 53300: too many connections; 40001/40P01: serialisation
        // failure, deadlock; 25006: read-only (a standby during a failover). All pass.
        let code = e.code().map(|c| c.code().to_string());
        let passing = match code.as_deref() {
            None => e.is_closed() || io,
            Some(c) => {
                c.starts_with("08")
                    || c.starts_with("57P")
                    || ["53300", "40001", "40P01", "25006"].contains(&c)
            }
        };
        match passing {
            true => PgFail::Unreachable(words),
            false => PgFail::Other(words),
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgFail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => PgFail::from(e),
            other => PgFail::Unreachable(crate::runner::with_causes(&other)),
        }
    }
}

impl PgLedger {
    /// Connects to `state.url` (the password from `state.password` when given), creates or
    /// migrates the schema, and starts renewing this runner's leases. Fails clearly when the
    /// database cannot be reached or is newer than this binary.
    pub fn open(settings: &StateSettings) -> Result<PgLedger, LedgerError> {
        let url = settings.url.as_ref().ok_or_else(|| LedgerError::Postgres {
            store: "(none)".into(),
            reason: "state.url is not set".into(),
        })?;
        let mut config = parse_url(url.expose())?;
        if let Some(p) = &settings.password {
            config.password(p.expose());
        }
        config.connect_timeout(Duration::from_secs(10));
        // A connection that went silent (a host lost, a partition) is found dead and dropped, and
        // no statement or lock wait outlives a call.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.options("-c statement_timeout=20000 -c lock_timeout=10000");
        config.application_name("tripmail");
        let store = describe(&config);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let (handle, stop) = runtime().map_err(|reason| LedgerError::Postgres {
            store: store.clone(),
            reason,
        })?;
        let pool = {
            let _entered = handle.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(20)))
                .create_timeout(Some(Duration::from_secs(10)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| LedgerError::Postgres {
                    store: store.clone(),
                    reason: e.to_string(),
                })?
        };
        let ledger = PgLedger {
            pool,
            handle,
            stop: Some(stop),
            store_path: PathBuf::from(&store),
            runner: runner_id(),
            lease: Duration::from_secs(settings.lease_seconds.max(5)),
            broken: AtomicBool::new(false),
            mine: Mutex::new(HashSet::new()),
            unrecorded: Mutex::new(Vec::new()),
            recovered: Mutex::new(Vec::new()),
            back_at: Mutex::new(None),
            down_since: Mutex::new(None),
        };
        // At start, a database that cannot be reached is an error at once (exit 2), not a wait.
        ledger.once(schema::migrate)?;
        ledger.renew_leases();
        Ok(ledger)
    }

    /// This runner's name in the ledger's rows.
    pub fn runner(&self) -> &str {
        &self.runner
    }

    /// Runs `work` with a connection of the pool, once: an error is returned as it is.
    fn once<T: Send + 'static, F, Fut>(&self, work: F) -> Result<T, LedgerError>
    where
        F: FnOnce(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgFail>> + Send + 'static,
    {
        self.call(work(self.pool.clone()))
            .map_err(|f| self.error(f))
    }

    /// Runs `make()`'s work, waiting while the database cannot be reached, until
    /// [`WAIT_FOR_DATABASE`] after the outage began (said once in the log); `make` is called again
    /// for each try.
    fn with_wait<T: Send + 'static, F, Fut>(&self, make: F) -> Result<T, LedgerError>
    where
        F: Fn(Pool) -> Fut,
        Fut: Future<Output = Result<T, PgFail>> + Send + 'static,
    {
        loop {
            match self.call(make(self.pool.clone())) {
                Ok(v) => {
                    let mut down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
                    if down.take().is_some() {
                        tracing::warn!("ledger {}: reachable again", self.store_path.display());
                        *self.back_at.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(Instant::now());
                    }
                    return Ok(v);
                }
                Err(PgFail::Unreachable(why)) => {
                    // One outage, one wait, shared by every call: once it is over, calls fail
                    // at once (and the run stops) until the database answers again.
                    let since = {
                        let mut down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
                        if down.is_none() {
                            tracing::warn!(
                                "ledger {}: cannot be reached ({why}); waiting up to {} s",
                                self.store_path.display(),
                                WAIT_FOR_DATABASE.as_secs()
                            );
                        }
                        *down.get_or_insert_with(Instant::now)
                    };
                    if since.elapsed() >= WAIT_FOR_DATABASE {
                        return Err(self.error(PgFail::Unreachable(why)));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(f) => return Err(self.error(f)),
            }
        }
    }

    /// The rows `sql` returns with `params`, the database waited for (`wait`: see
    /// [`PgLedger::with_wait`]) or asked once. A statement that returns none (an `UPDATE` without
    /// `RETURNING`) gives an empty list.
    fn rows(&self, sql: &str, params: Params, wait: bool) -> Result<Vec<Row>, LedgerError> {
        let sql: Arc<str> = Arc::from(sql);
        let work = move |pool: Pool| {
            let (sql, params) = (sql.clone(), params.clone());
            async move {
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                Ok(pool.get().await?.query(&*sql, &refs).await?)
            }
        };
        match wait {
            true => self.with_wait(work),
            false => self.once(work),
        }
    }

    /// Runs `fut` on the ledger's runtime and waits at most [`CALL_WITHIN`] for it.
    fn call<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, PgFail>> + Send + 'static,
    ) -> Result<T, PgFail> {
        self.call_for(fut, CALL_WITHIN)
    }

    /// Runs `fut` on the ledger's runtime and waits at most `within` for it (then it is dropped).
    fn call_for<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, PgFail>> + Send + 'static,
        within: Duration,
    ) -> Result<T, PgFail> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        // The work is dropped (its connection given back) when its time is up, not left running.
        self.handle.spawn(async move {
            let done = match tokio::time::timeout(within, fut).await {
                Ok(r) => r,
                Err(_) => Err(PgFail::Unreachable(format!(
                    "no answer in {} s",
                    within.as_secs()
                ))),
            };
            let _ = tx.send(done);
        });
        match rx.recv_timeout(within + Duration::from_secs(5)) {
            Ok(r) => r,
            Err(_) => Err(PgFail::Unreachable(format!(
                "no answer in {} s",
                within.as_secs()
            ))),
        }
    }

    fn error(&self, f: PgFail) -> LedgerError {
        let (PgFail::Unreachable(reason) | PgFail::Other(reason)) = f;
        LedgerError::Postgres {
            store: self.store_path.display().to_string(),
            reason,
        }
    }

    /// Every third of a lease, this runner's claims are renewed for a lease from the database's
    /// clock, while the ledger is open.
    fn renew_leases(&self) {
        let (pool, runner, lease) = (self.pool.clone(), self.runner.clone(), self.lease);
        let store = self.store_path.display().to_string();
        self.handle.spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            loop {
                tick.tick().await;
                if let Err(e) = rows::renew(&pool, &runner, lease).await {
                    let (PgFail::Unreachable(why) | PgFail::Other(why)) = e;
                    tracing::warn!("ledger {store}: cannot renew this runner's leases: {why}");
                }
            }
        });
    }

    /// Whether the database came back from an outage less than a lease ago.
    fn just_back(&self) -> bool {
        self.back_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < self.lease)
    }

    fn recovered(&self) -> std::sync::MutexGuard<'_, Vec<super::UnrecordedSend>> {
        self.recovered.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mine(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.mine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The database, as `postgres://USER@HOST:PORT/DB` (for messages).
    pub fn path(&self) -> &Path {
        &self.store_path
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }
}

impl Drop for PgLedger {
    fn drop(&mut self) {
        // The runtime's thread ends and drops the runtime there (never in an async context).
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A runtime on a thread of its own, until the sender is used or dropped.
fn runtime() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tripmail-ledger")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the ledger's runtime: {e}"))?;
    let handle = rt.handle().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("tripmail-ledger".into())
        .spawn(move || {
            rt.block_on(async {
                let _ = rx.await;
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(|e| format!("cannot start the ledger's thread: {e}"))?;
    Ok((handle, tx))
}

/// `state.url` read, refused (without echoing it: it may hold the password) when it is not a
/// `postgres://` URL or its password holds an `@` that is not percent-encoded.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, LedgerError> {
    let refuse = |reason: &str| LedgerError::Postgres {
        store: "(state.url)".into(),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| refuse("not a PostgreSQL URL: postgres://USER@HOST:PORT/DB"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.matches('@').count() > 1 {
        return Err(refuse(
            "the password holds an '@': percent-encode it (%40), or give it in TRIPMAIL_STATE__PASSWORD",
        ));
    }
    url.parse()
        .map_err(|_| refuse("not a PostgreSQL URL: postgres://USER@HOST:PORT/DB[?OPTIONS]"))
}

/// Whether `url` (a `postgres://` URL) holds a password.
pub fn holds_password(url: &str) -> bool {
    parse_url(url).is_ok_and(|c| c.get_password().is_some())
}

/// `postgres://USER@HOST:PORT/DB`, without the password.
fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// This runner's name: host, process id and 32 random bits (two runners never share one).
fn runner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let random = crate::console::random_token()
        .map(|t| t.chars().take(6).collect::<String>())
        .unwrap_or_default();
    format!("{host}:{}:{random}", std::process::id())
}
