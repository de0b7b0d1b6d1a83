//! Delivery over SMTP: our own pool of connections (a bounded number, kept open and reused), an
//! optional send rate, and retries of temporary failures with exponential backoff and jitter. lettre
//! speaks SMTP on each connection; tripmail drives the transaction step by step (MAIL, RCPT, DATA, the
//! message) so that each failure is judged by where it happened: a rejected recipient fails that email
//! only, a rejected login or sender stops the run, and a connection lost after the end of DATA leaves
//! the email in doubt (the server may have it) instead of sending it again.
//!
//! Every wait is bounded: each step (connect, greeting, EHLO, STARTTLS, AUTH, NOOP, MAIL, RCPT,
//! DATA, the message and its reply) by `smtp.timeout_ms`, QUIT by at most [`QUIT_BOUND`]; a
//! connection that stops answering is dropped, not closed politely. After a stop is asked, a try
//! that has not sent its message yet ends at once (nothing of it reached the server), the reply to
//! a message already sent is waited for at most [`STOP_GRACE`], and QUIT is not waited for.

use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::sync::Semaphore;

use super::OutgoingEmail;
use crate::config::{SmtpSettings, SmtpTls, SmtpUrl};
use crate::retry::backoff;

/// The longest a QUIT is waited for (or `smtp.timeout_ms`, when shorter): the emails are sent by
/// then, and a server that does not say goodbye only costs its connection.
const QUIT_BOUND: Duration = Duration::from_secs(5);

/// After a stop is asked, the longest the reply to a message already sent is waited for (or
/// `smtp.timeout_ms`, when shorter); without it the email is in doubt, as after a timeout.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The server accepted the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The server's reply to the end of DATA, e.g. `250 2.0.0 Ok: queued`.
    pub reply: String,
    /// Tries it took (1 when the first one went through).
    pub attempts: u32,
}

/// Why an email was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpFailure {
    /// A permanent rejection (5xx) of this email: not tried again.
    #[error("rejected: {reply}")]
    Rejected {
        /// The server's reply.
        reply: String,
        /// Tries made.
        attempts: u32,
    },
    /// Temporary failures (4xx) of this email, until the tries ran out: the next run tries again.
    #[error("deferred after {attempts} tries: {reply}")]
    Deferred {
        /// The last reply.
        reply: String,
        /// Tries made.
        attempts: u32,
    },
    /// The server cannot be used: refused or dropped connections, timeouts, 421, or a refused login,
    /// until the tries ran out. Nothing more should be sent in this run.
    #[error("SMTP server {server} unavailable ({attempts} tries): {reason}")]
    Unavailable {
        /// The server, without credentials.
        server: String,
        /// The last error.
        reason: String,
        /// Tries made.
        attempts: u32,
    },
    /// The connection was lost after the whole message was sent, before the server's reply: the
    /// server may have accepted it. Not tried again in this run (see the README, "Exactly once").
    #[error("in doubt after {attempts} tries: {reply}")]
    InDoubt {
        /// What happened.
        reply: String,
        /// Tries made.
        attempts: u32,
    },
    /// The message itself cannot be sent (bad address, cannot build): not tried again.
    #[error("cannot send: {0}")]
    Unsendable(String),
    /// The run was asked to stop before this email's (next) transaction began: not sent.
    #[error("not sent: the run was asked to stop")]
    Stopped {
        /// Tries made before (temporary failures).
        attempts: u32,
    },
}

impl SmtpFailure {
    /// The reply or error to record.
    pub fn reply(&self) -> String {
        match self {
            SmtpFailure::Rejected { reply, .. }
            | SmtpFailure::Deferred { reply, .. }
            | SmtpFailure::InDoubt { reply, .. } => reply.clone(),
            SmtpFailure::Unavailable { reason, .. } => reason.clone(),
            SmtpFailure::Unsendable(reason) => reason.clone(),
            SmtpFailure::Stopped { .. } => self.to_string(),
        }
    }

    /// Tries made.
    pub fn attempts(&self) -> u32 {
        match self {
            SmtpFailure::Rejected { attempts, .. }
            | SmtpFailure::Deferred { attempts, .. }
            | SmtpFailure::InDoubt { attempts, .. }
            | SmtpFailure::Unavailable { attempts, .. }
            | SmtpFailure::Stopped { attempts } => *attempts,
            SmtpFailure::Unsendable(_) => 0,
        }
    }
}

/// Where in the SMTP exchange a try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Connect, greeting, EHLO, STARTTLS, AUTH.
    Connect,
    /// MAIL FROM: the sender.
    Mail,
    /// RCPT TO: the recipient.
    Rcpt,
    /// The DATA command.
    Data,
    /// The message and its final dot: from here on the server may have the email.
    Message,
}

/// A failed try.
#[derive(Debug)]
enum TryError {
    /// lettre's error (a reply, or the connection) at a stage.
    Smtp(Stage, lettre::transport::smtp::Error),
    /// No answer within the timeout at a stage.
    Timeout(Stage),
    /// Connecting failed.
    Connect(String),
    /// This email cannot go to this server (e.g. a non-ASCII address without SMTPUTF8).
    Unsendable(String),
    /// The run was asked to stop before the message was sent: the server has nothing of it.
    Stopped,
    /// The caller, asked when a connection was ready, withdrew the email: nothing was sent.
    Withdrawn,
}

impl std::fmt::Display for TryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryError::Smtp(_, e) => e.fmt(f),
            TryError::Timeout(stage) => write!(f, "no answer within the timeout ({stage:?})"),
            TryError::Connect(e) | TryError::Unsendable(e) => f.write_str(e),
            TryError::Stopped => f.write_str("the run was asked to stop"),
            TryError::Withdrawn => f.write_str("withdrawn before its transaction"),
        }
    }
}

/// How one failed try is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 5xx for this email (recipient, data): recorded as failed.
    Permanent,
    /// 4xx for this email: try again.
    Temporary,
    /// The server or the connection: try again, then stop the run.
    Server,
    /// The server refuses us (login, sender, 5xx before the recipient), or we cannot work with it
    /// (no common authentication mechanism, TLS): stop the run now.
    Refused,
    /// The connection was lost after the message was sent: the server may have accepted it.
    InDoubt,
    /// This email cannot go to this server.
    Unsendable,
    /// The run is stopping: this try ended before its message was sent.
    Stopped,
}

fn classify(e: &TryError) -> Kind {
    let (stage, e) = match e {
        TryError::Smtp(stage, e) => (*stage, e),
        TryError::Timeout(Stage::Message) => return Kind::InDoubt,
        TryError::Timeout(_) | TryError::Connect(_) => return Kind::Server,
        TryError::Unsendable(_) => return Kind::Unsendable,
        TryError::Stopped | TryError::Withdrawn => return Kind::Stopped,
    };
    let code = e.status().map(|c| c.to_string());
    match (code.as_deref(), stage) {
        // Authentication required / failed / too weak / encryption required.
        (Some("530" | "534" | "535" | "538"), _) => Kind::Refused,
        // Service not available, closing the channel.
        (Some("421"), _) => Kind::Server,
        (Some(_), Stage::Connect | Stage::Mail) if e.is_permanent() => Kind::Refused,
        (Some(_), Stage::Connect | Stage::Mail) => Kind::Server,
        (Some(_), _) if e.is_permanent() => Kind::Permanent,
        (Some(_), _) => Kind::Temporary,
        (None, Stage::Message) => Kind::InDoubt,
        (None, _) if e.is_client() || e.is_tls() => Kind::Refused,
        (None, _) => Kind::Server,
    }
}

/// The run's stop flag, when it has one.
#[derive(Default)]
struct StopFlag(Option<Arc<AtomicBool>>);

impl StopFlag {
    fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Returns once a stop is asked (never without a stop flag).
    async fn asked(&self) {
        match &self.0 {
            None => std::future::pending().await,
            Some(flag) => {
                while !flag.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Our connections to the server, opened on demand and kept for reuse.
struct Connections {
    host: String,
    port: u16,
    tls: SmtpTls,
    tls_params: Option<TlsParameters>,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    /// A connection put back this recently (`smtp.noop_after_ms`) is used again without a NOOP
    /// first: it just took an email, and servers keep idle connections for tens of seconds. Should
    /// it have died all the same, the next command fails and the email is tried again on a new
    /// connection, as after any dropped one.
    fresh: Duration,
    /// Connections between emails, each with when it was put back.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    stop: StopFlag,
}

impl Connections {
    async fn step<T>(
        &self,
        stage: Stage,
        f: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, TryError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TryError::Smtp(stage, e)),
            Err(_) => Err(TryError::Timeout(stage)),
        }
    }

    async fn open(&self) -> Result<AsyncSmtpConnection, TryError> {
        let addr = (self.host.as_str(), self.port);
        let mut conn = match self.tls {
            // Implicit TLS: lettre connects (without TCP_NODELAY, see the README).
            SmtpTls::Implicit => {
                let connect = AsyncSmtpConnection::connect_tokio1(
                    addr,
                    Some(self.timeout),
                    &self.hello,
                    self.tls_params.clone(),
                    None,
                );
                self.step(Stage::Connect, connect).await?
            }
            // Plain and STARTTLS: our own socket with TCP_NODELAY. lettre 0.11.23 leaves Nagle's
            // algorithm on and writes the final dot as its own 5-byte segment, which then waits for
            // the server's delayed ACK: 40 ms per email (lettre PR 1159, merged, not yet released).
            SmtpTls::None | SmtpTls::StartTls => {
                let tcp =
                    match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr))
                        .await
                    {
                        Ok(Ok(tcp)) => tcp,
                        Ok(Err(e)) => {
                            return Err(TryError::Connect(format!("cannot connect: {e}")))
                        }
                        Err(_) => return Err(TryError::Timeout(Stage::Connect)),
                    };
                tcp.set_nodelay(true)
                    .map_err(|e| TryError::Connect(format!("cannot set TCP_NODELAY: {e}")))?;
                let mut conn = self
                    .step(
                        Stage::Connect,
                        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
                    )
                    .await?;
                if let (SmtpTls::StartTls, Some(tls)) = (self.tls, &self.tls_params) {
                    self.step(Stage::Connect, conn.starttls(tls.clone(), &self.hello))
                        .await?;
                }
                conn
            }
        };
        if let Some(credentials) = &self.credentials {
            self.step(
                Stage::Connect,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }
        Ok(conn)
    }

    /// An idle connection that still answers NOOP (not asked of one put back within `fresh`: it
    /// just took an email), or a new one.
    /// `true` beside a connection taken without a NOOP.
    async fn checkout(&self) -> Result<(AsyncSmtpConnection, bool), TryError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some((conn, since)) if since.elapsed() < self.fresh => return Ok((conn, true)),
                // One that fails NOOP or does not answer it in time is dropped, without QUIT.
                Some((mut conn, _)) => {
                    let noop = tokio::time::timeout(self.timeout, conn.test_connected()).await;
                    if noop == Ok(true) {
                        return Ok((conn, false));
                    }
                }
                None => return Ok((self.open().await?, false)),
            }
        }
    }

    /// MAIL, RCPT and DATA: up to the point where the server waits for the message.
    async fn envelope(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
    ) -> Result<(), TryError> {
        let mut params = Vec::new();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(TryError::Unsendable(
                    "the address is not ASCII and the server does not support SMTPUTF8".into(),
                ));
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        self.step(
            Stage::Mail,
            conn.command(Mail::new(envelope.from().cloned(), params)),
        )
        .await?;
        for to in envelope.to() {
            self.step(Stage::Rcpt, conn.command(Rcpt::new(to.clone(), Vec::new())))
                .await?;
        }
        self.step(Stage::Data, conn.command(Data)).await?;
        Ok(())
    }

    /// The message and the server's reply to its end. From here on the server may have the email,
    /// so a stop does not end the wait at once: it shortens it to [`STOP_GRACE`].
    async fn message(
        &self,
        conn: &mut AsyncSmtpConnection,
        bytes: &[u8],
    ) -> Result<Response, TryError> {
        let grace = async {
            self.stop.asked().await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        tokio::select! {
            result = self.step(Stage::Message, conn.message(bytes)) => result,
            () = grace => Err(TryError::Timeout(Stage::Message)),
        }
    }

    /// One try: a connection, then `ready` (the first try only: it may withdraw the email), then
    /// the transaction.
    async fn send<F, Fut>(
        &self,
        envelope: &Envelope,
        bytes: &[u8],
        ready: &mut Option<F>,
    ) -> Result<Response, TryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        // Until the message goes, a stop ends the try at once: the server has nothing of the email
        // (the connection, mid-transaction, is dropped).
        let (mut conn, enveloped) = loop {
            let (mut conn, unchecked) = tokio::select! {
                conn = self.checkout() => conn?,
                () = self.stop.asked() => return Err(TryError::Stopped),
            };
            // `ready` (the ledger's claim) runs beside MAIL, RCPT and DATA, and both end before the
            // message: its commit is hidden behind their round trips. It is done whole, not cut
            // short by a stop (a stop ends only the envelope).
            let claiming = ready.take().map(|ready| ready());
            let step = async {
                tokio::select! {
                    result = self.envelope(&mut conn, envelope) => result,
                    () = self.stop.asked() => Err(TryError::Stopped),
                }
            };
            let (enveloped, go) = match claiming {
                Some(claim) => {
                    let (enveloped, go) = tokio::join!(step, claim);
                    (enveloped, go)
                }
                None => (step.await, true),
            };
            // Withdrawn: the server, in DATA at most, keeps nothing of a dropped connection.
            if !go {
                drop(conn);
                return Err(TryError::Withdrawn);
            }
            match enveloped {
                Err(TryError::Stopped) => return Err(TryError::Stopped),
                // Taken without a NOOP and found gone (closed while idle, no reply at all): the
                // next one, or a new one, without counting a try; each pass takes one idle
                // connection, and a new one ends the loop.
                Err(TryError::Smtp(_, e)) if unchecked && e.status().is_none() => drop(conn),
                other => break (conn, other),
            }
        };
        if let Err(e) = enveloped {
            self.release(conn, Some(&e)).await;
            return Err(e);
        }
        // The server waits for the message (354) and has nothing of it yet.
        let result = self.message(&mut conn, bytes).await;
        self.release(conn, result.as_ref().err()).await;
        result
    }

    /// Puts `conn` back for the next email when it can take one after `error`, or closes it.
    async fn release(&self, mut conn: AsyncSmtpConnection, error: Option<&TryError>) {
        let reusable = match error {
            None | Some(TryError::Unsendable(_)) => true,
            // A refused recipient or data: the connection is fine once the transaction is reset.
            Some(TryError::Smtp(Stage::Mail | Stage::Rcpt | Stage::Data, e))
                if e.status().is_some() =>
            {
                tokio::select! {
                    reset = self.step(Stage::Mail, conn.command(Rset)) => reset.is_ok(),
                    () = self.stop.asked() => false,
                }
            }
            Some(TryError::Smtp(Stage::Message, e)) => e.status().is_some(),
            // Silent: not worth a QUIT that would wait as long again.
            Some(TryError::Timeout(_)) => return,
            Some(_) => false,
        };
        if reusable && !conn.has_broken() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((conn, Instant::now()));
        } else {
            self.retire(conn).await;
        }
    }

    /// QUIT, its reply waited for at most [`QUIT_BOUND`] (not at all once a stop is asked); the
    /// connection is dropped either way.
    async fn retire(&self, mut conn: AsyncSmtpConnection) {
        let bound = self.timeout.min(QUIT_BOUND);
        tokio::select! {
            biased;
            _ = tokio::time::timeout(bound, conn.abort()) => {}
            () = self.stop.asked() => {}
        }
    }

    /// Closes every idle connection, all at once.
    async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        futures::future::join_all(idle.into_iter().map(|(conn, _)| self.retire(conn))).await;
    }
}

/// Sends emails to one SMTP server.
pub struct SmtpDelivery {
    connections: Connections,
    server: String,
    slots: Semaphore,
    /// Turns to send, one per connection (see [`SmtpDelivery::turn`]).
    turns: Semaphore,
    limiter: Option<DefaultDirectRateLimiter>,
    attempts: u32,
    retry_base: Duration,
    retries: AtomicU64,
    /// Why and after how many tries the server was first found unavailable: no more tries in this
    /// run, and every email that gives up says the same.
    halted: std::sync::OnceLock<(String, u32)>,
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpDelivery {
    /// Connections to `url` with the limits, credentials and retries of `settings` (credentials in
    /// the URL win over `username`/`password`). A password is only sent over TLS, or to loopback.
    pub fn new(url: &SmtpUrl, settings: &SmtpSettings) -> Result<SmtpDelivery, String> {
        let host = url.host.as_str();
        let timeout = Duration::from_millis(settings.timeout_ms);
        let hello = match &settings.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        let username = url.username.clone().or_else(|| settings.username.clone());
        let password = url.password.clone().or_else(|| settings.password.clone());
        let credentials = username.map(|user| {
            let pass = password.map(|p| p.expose().to_string()).unwrap_or_default();
            Credentials::new(user, pass)
        });
        if credentials.is_some() && url.tls == SmtpTls::None && !is_loopback(host) {
            return Err(format!(
                "{url}: refusing to send the SMTP password in clear text to {host}; use smtps:// or ?tls=starttls"
            ));
        }
        let tls_params = match url.tls {
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Implicit => Some(
                TlsParameters::new(host.to_string()).map_err(|e| format!("TLS for {host}: {e}"))?,
            ),
        };
        let limiter = settings
            .max_per_second
            .and_then(NonZeroU32::new)
            .map(|n| RateLimiter::direct(Quota::per_second(n).allow_burst(NonZeroU32::MIN)));
        Ok(SmtpDelivery {
            connections: Connections {
                host: host.to_string(),
                port: url.port,
                tls: url.tls,
                tls_params,
                hello,
                credentials,
                timeout,
                fresh: Duration::from_millis(settings.noop_after_ms),
                idle: Mutex::new(Vec::new()),
                stop: StopFlag::default(),
            },
            server: url.to_string(),
            slots: Semaphore::new(settings.max_connections.max(1)),
            turns: Semaphore::new(settings.max_connections.max(1)),
            limiter,
            attempts: settings.attempts.max(1),
            retry_base: Duration::from_millis(settings.retry_base_ms),
            retries: AtomicU64::new(0),
            halted: std::sync::OnceLock::new(),
        })
    }

    /// Starts no transaction (and no retry) once `flag` is set: [`SmtpFailure::Stopped`] instead. A
    /// try that has not sent its message ends at once, the same way; one whose message is sent
    /// waits for the reply at most [`STOP_GRACE`] more (in doubt without it); QUIT is not waited
    /// for.
    pub fn stop_when(&mut self, flag: Arc<AtomicBool>) {
        self.connections.stop = StopFlag(Some(flag));
    }

    fn stopping(&self) -> bool {
        self.connections.stop.is_set()
    }

    /// Returns once a stop is asked (never without a stop flag).
    async fn stop_asked(&self) {
        self.connections.stop.asked().await;
    }

    /// The server, without credentials.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Tries made again after a temporary failure, over the whole run.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Sends one email, trying again on temporary failures with exponential backoff and jitter.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, SmtpFailure> {
        self.send_when_ready(email, || async { true }).await
    }

    /// A turn to send: one per connection (`smtp.max_connections`). A caller that holds it from
    /// before an email's claim to after its reply is committed keeps at most one email per
    /// connection between the two, which is all a crash can leave in doubt. `None` once a stop is
    /// asked.
    pub async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::select! {
            turn = self.turns.acquire() => turn.ok(),
            () = self.stop_asked() => None,
        }
    }

    /// [`send`](Self::send), asking `ready` once the server waits for the email's message (after
    /// the rate limit, the connection check, MAIL, RCPT and DATA's 354; on the first try that gets
    /// there): `false` withdraws the email (the connection is dropped mid-DATA and the server keeps
    /// nothing; [`SmtpFailure::Stopped`] with no try). The ledger's claim goes there, so that an
    /// email is claimed only when the next thing it does is go.
    pub async fn send_when_ready<F, Fut>(
        &self,
        email: &OutgoingEmail,
        ready: F,
    ) -> Result<Accepted, SmtpFailure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut ready = Some(ready);
        let bytes = email
            .to_mime()
            .map_err(|e| SmtpFailure::Unsendable(e.to_string()))?;
        let envelope = Envelope::new(Some(email.from.email.clone()), vec![email.to.email.clone()])
            .map_err(|e| SmtpFailure::Unsendable(e.to_string()))?;
        let mut attempt = 0;
        loop {
            if let Some((reason, attempts)) = self.halted.get() {
                return Err(SmtpFailure::Unavailable {
                    server: self.server.clone(),
                    reason: reason.clone(),
                    attempts: *attempts,
                });
            }
            attempt += 1;
            let stopped = SmtpFailure::Stopped {
                attempts: attempt - 1,
            };
            let result = {
                // Waiting for a connection or the rate limit ends when a stop is asked.
                let _slot = tokio::select! {
                    slot = self.slots.acquire() => slot,
                    () = self.stop_asked() => return Err(stopped),
                };
                if let Some(limiter) = &self.limiter {
                    tokio::select! {
                        () = limiter.until_ready() => {}
                        () = self.stop_asked() => return Err(stopped),
                    }
                }
                if self.stopping() {
                    return Err(stopped);
                }
                self.connections.send(&envelope, &bytes, &mut ready).await
            };
            let err = match result {
                Ok(response) => {
                    let mut reply = response.code().to_string();
                    for line in response.message() {
                        reply.push(' ');
                        reply.push_str(line);
                    }
                    return Ok(Accepted {
                        reply,
                        attempts: attempt,
                    });
                }
                Err(e) => e,
            };
            let kind = classify(&err);
            let reason = err.to_string();
            tracing::debug!(message_id = %email.message_id, attempt, ?kind, "smtp: {reason}");
            let unavailable = |attempts| {
                let (reason, attempts) = self.halted.get_or_init(|| (reason.clone(), attempts));
                SmtpFailure::Unavailable {
                    server: self.server.clone(),
                    reason: reason.clone(),
                    attempts: *attempts,
                }
            };
            match kind {
                Kind::Permanent => {
                    return Err(SmtpFailure::Rejected {
                        reply: reason,
                        attempts: attempt,
                    })
                }
                Kind::Unsendable => return Err(SmtpFailure::Unsendable(reason)),
                Kind::Stopped => return Err(stopped),
                Kind::InDoubt => {
                    return Err(SmtpFailure::InDoubt {
                        reply: reason,
                        attempts: attempt,
                    })
                }
                Kind::Refused => return Err(unavailable(attempt)),
                Kind::Server if attempt >= self.attempts => return Err(unavailable(attempt)),
                Kind::Temporary if attempt >= self.attempts => {
                    return Err(SmtpFailure::Deferred {
                        reply: reason,
                        attempts: attempt,
                    })
                }
                Kind::Temporary | Kind::Server => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        () = tokio::time::sleep(backoff(self.retry_base, attempt)) => {}
                        () = self.stop_asked() => {
                            return Err(SmtpFailure::Stopped { attempts: attempt })
                        }
                    }
                }
            }
        }
    }

    /// Closes the open connections (QUIT), waiting at most [`QUIT_BOUND`] for their replies, and
    /// not at all once a stop is asked.
    pub async fn close(&self) {
        self.connections.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_goes_in_clear_text_only_to_loopback() {
        let settings = SmtpSettings {
            username: Some("mailer".into()),
            password: Some(crate::config::Secret::new("pw")),
            ..SmtpSettings::default()
        };
        let url = |u: &str| SmtpUrl::parse(u).unwrap();
        let err = SmtpDelivery::new(&url("smtp://relay.example:587"), &settings)
            .err()
            .expect("refused");
        assert!(err.contains("clear text") && !err.contains("pw"), "{err}");
        for ok in [
            "smtp://127.0.0.1:1025",
            "smtp://localhost:25",
            "smtp://[::1]:25",
            "smtp://relay.example?tls=starttls",
            "smtps://relay.example",
        ] {
            assert!(SmtpDelivery::new(&url(ok), &settings).is_ok(), "{ok}");
        }
    }

    #[test]
    fn failures_are_judged_by_where_they_happen() {
        // lettre's reply errors cannot be built outside lettre; replies at each stage (451, 421,
        // 535, 550 to MAIL and to RCPT) are covered by the fault-server tests in tests/it/smtp.rs.
        assert_eq!(classify(&TryError::Timeout(Stage::Message)), Kind::InDoubt);
        assert_eq!(classify(&TryError::Timeout(Stage::Rcpt)), Kind::Server);
        assert_eq!(classify(&TryError::Connect("refused".into())), Kind::Server);
        assert_eq!(classify(&TryError::Stopped), Kind::Stopped);
        assert_eq!(
            classify(&TryError::Unsendable("x".into())),
            Kind::Unsendable
        );
    }
}
