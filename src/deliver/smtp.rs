//! Delivery over SMTP: lettre's async transport with a connection pool, a bounded number of
//! connections, an optional send rate, and retries of temporary failures with exponential backoff and
//! jitter. Each outcome is classified so that the runner can record it: sent, rejected for good (this
//! email only), deferred (this email, temporary), or the server is unavailable (stop the run).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Semaphore;

use super::OutgoingEmail;
use crate::config::{SmtpSettings, SmtpTls, SmtpUrl};

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
    #[error("SMTP server {server} unavailable after {attempts} tries: {reason}")]
    Unavailable {
        /// The server, without credentials.
        server: String,
        /// The last error.
        reason: String,
        /// Tries made.
        attempts: u32,
    },
    /// The message itself cannot be sent (bad address, cannot build): not tried again.
    #[error("cannot send: {0}")]
    Unsendable(String),
}

impl SmtpFailure {
    /// The reply or error to record.
    pub fn reply(&self) -> String {
        match self {
            SmtpFailure::Rejected { reply, .. } | SmtpFailure::Deferred { reply, .. } => {
                reply.clone()
            }
            SmtpFailure::Unavailable { reason, .. } => reason.clone(),
            SmtpFailure::Unsendable(reason) => reason.clone(),
        }
    }

    /// Tries made.
    pub fn attempts(&self) -> u32 {
        match self {
            SmtpFailure::Rejected { attempts, .. }
            | SmtpFailure::Deferred { attempts, .. }
            | SmtpFailure::Unavailable { attempts, .. } => *attempts,
            SmtpFailure::Unsendable(_) => 0,
        }
    }
}

/// How one failed try is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 5xx for this email.
    Permanent,
    /// 4xx for this email: try again.
    Temporary,
    /// The server or the connection: try again, then stop the run.
    Server,
    /// The server refused our login, or our side cannot work with it (no common authentication
    /// mechanism, TLS): stop the run now, nothing is recorded against the email.
    Refused,
}

fn classify(e: &TryError) -> Kind {
    let e = match e {
        TryError::Smtp(e) => e,
        TryError::Connect(_) => return Kind::Server,
    };
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        // Authentication required / failed / too weak / encryption required.
        Some("530" | "534" | "535" | "538") => Kind::Refused,
        // Service not available, closing the channel.
        Some("421") => Kind::Server,
        Some(_) if e.is_permanent() => Kind::Permanent,
        Some(_) => Kind::Temporary,
        None if e.is_client() || e.is_tls() => Kind::Refused,
        None => Kind::Server,
    }
}

/// A failed try: lettre's error, or our own connection's.
#[derive(Debug)]
enum TryError {
    Smtp(lettre::transport::smtp::Error),
    /// Connecting failed or a try ran over its time: the server, try again.
    Connect(String),
}

impl std::fmt::Display for TryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryError::Smtp(e) => e.fmt(f),
            TryError::Connect(e) => f.write_str(e),
        }
    }
}

/// Plain and STARTTLS connections, opened by us with `TCP_NODELAY` and kept for reuse. lettre
/// 0.11.23 leaves Nagle's algorithm on and writes the end of DATA as its own 5-byte segment, which
/// then waits for the server's delayed ACK: 40 ms per email and connection (lettre PR 1159, merged,
/// not yet released). lettre still speaks SMTP on these connections.
struct Direct {
    host: String,
    port: u16,
    starttls: Option<TlsParameters>,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
    idle: std::sync::Mutex<Vec<AsyncSmtpConnection>>,
}

impl Direct {
    async fn connect(&self) -> Result<AsyncSmtpConnection, TryError> {
        let addr = (self.host.as_str(), self.port);
        let tcp = match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(TryError::Connect(format!("cannot connect: {e}"))),
            Err(_) => return Err(TryError::Connect("connection timed out".into())),
        };
        tcp.set_nodelay(true)
            .map_err(|e| TryError::Connect(format!("cannot set TCP_NODELAY: {e}")))?;
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
            .await
            .map_err(TryError::Smtp)?;
        if let Some(tls) = &self.starttls {
            conn.starttls(tls.clone(), &self.hello)
                .await
                .map_err(TryError::Smtp)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(TryError::Smtp)?;
        }
        Ok(conn)
    }

    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<Response, TryError> {
        let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match reused {
            Some(mut conn) => {
                if conn.test_connected().await {
                    conn
                } else {
                    conn.abort().await;
                    self.connect().await?
                }
            }
            None => self.connect().await?,
        };
        let result = conn.send(envelope, bytes).await.map_err(TryError::Smtp);
        if conn.has_broken() {
            conn.abort().await;
        } else {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
        result
    }

    async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for mut conn in idle {
            if conn.quit().await.is_err() {
                conn.abort().await;
            }
        }
    }
}

enum Transport {
    /// `smtps://`: lettre's own pool (implicit TLS is set up inside lettre's connect).
    Pooled(AsyncSmtpTransport<Tokio1Executor>),
    Direct(Direct),
}

/// Sends emails to one SMTP server.
pub struct SmtpDelivery {
    transport: Transport,
    /// A whole try (connect, send) longer than this is abandoned as a server failure.
    try_timeout: Duration,
    server: String,
    connections: Semaphore,
    limiter: Option<DefaultDirectRateLimiter>,
    attempts: u32,
    retry_base: Duration,
    retries: AtomicU64,
}

impl SmtpDelivery {
    /// A transport for `url` with the limits, credentials and retries of `settings` (credentials in
    /// the URL win over `username`/`password`).
    pub fn new(url: &SmtpUrl, settings: &SmtpSettings) -> Result<SmtpDelivery, String> {
        let host = url.host.as_str();
        let tls_params = || {
            TlsParameters::new(host.to_string())
                .map_err(|e| format!("TLS for {host}: {e}"))
        };
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
        let transport = match url.tls {
            SmtpTls::None | SmtpTls::StartTls => Transport::Direct(Direct {
                host: host.to_string(),
                port: url.port,
                starttls: match url.tls {
                    SmtpTls::StartTls => Some(tls_params()?),
                    _ => None,
                },
                hello,
                credentials,
                timeout,
                idle: std::sync::Mutex::new(Vec::new()),
            }),
            SmtpTls::Implicit => {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(url.port)
                    .timeout(Some(timeout))
                    .hello_name(hello)
                    .tls(Tls::Wrapper(tls_params()?))
                    .pool_config(
                        PoolConfig::new()
                            .max_size(u32::try_from(settings.max_connections).unwrap_or(u32::MAX))
                            .idle_timeout(Duration::from_secs(60)),
                    );
                if let Some(c) = credentials {
                    builder = builder.credentials(c);
                }
                Transport::Pooled(builder.build())
            }
        };
        let limiter = settings
            .max_per_second
            .and_then(NonZeroU32::new)
            .map(|n| RateLimiter::direct(Quota::per_second(n).allow_burst(NonZeroU32::MIN)));
        Ok(SmtpDelivery {
            transport,
            // Connect, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, the data: each may take
            // up to the per-command timeout.
            try_timeout: timeout.saturating_mul(4),
            server: url.to_string(),
            connections: Semaphore::new(settings.max_connections.max(1)),
            limiter,
            attempts: settings.attempts.max(1),
            retry_base: Duration::from_millis(settings.retry_base_ms),
            retries: AtomicU64::new(0),
        })
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
        let bytes = email
            .to_mime()
            .map_err(|e| SmtpFailure::Unsendable(e.to_string()))?;
        let envelope = Envelope::new(Some(email.from.email.clone()), vec![email.to.email.clone()])
            .map_err(|e| SmtpFailure::Unsendable(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = {
                let _permit = self.connections.acquire().await;
                if let Some(limiter) = &self.limiter {
                    limiter.until_ready().await;
                }
                let attempt = async {
                    match &self.transport {
                        Transport::Pooled(t) => {
                            t.send_raw(&envelope, &bytes).await.map_err(TryError::Smtp)
                        }
                        Transport::Direct(d) => d.send(&envelope, &bytes).await,
                    }
                };
                match tokio::time::timeout(self.try_timeout, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(TryError::Connect(format!(
                        "no answer within {} s",
                        self.try_timeout.as_secs()
                    ))),
                }
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
            let unavailable = |attempts| SmtpFailure::Unavailable {
                server: self.server.clone(),
                reason: reason.clone(),
                attempts,
            };
            match kind {
                Kind::Permanent => {
                    return Err(SmtpFailure::Rejected {
                        reply: reason,
                        attempts: attempt,
                    })
                }
                Kind::Refused => return Err(unavailable(attempt)),
                Kind::Temporary | Kind::Server if attempt >= self.attempts => {
                    return Err(if kind == Kind::Server {
                        unavailable(attempt)
                    } else {
                        SmtpFailure::Deferred {
                            reply: reason,
                            attempts: attempt,
                        }
                    })
                }
                Kind::Temporary | Kind::Server => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(self.retry_base, attempt)).await;
                }
            }
        }
    }

    /// Closes the pooled connections (QUIT).
    pub async fn close(&self) {
        match &self.transport {
            Transport::Pooled(t) => t.shutdown().await,
            Transport::Direct(d) => d.close().await,
        }
    }
}

/// The wait after the `attempt`-th failed try: `base × 2^(attempt-1)`, capped at a minute, of which a
/// random half ("equal jitter"), so that many senders do not come back at the same instant.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(60));
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4u32 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1)));
            for _ in 0..50 {
                let d = backoff(base, attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert!(backoff(base, 40) <= Duration::from_secs(60));
    }
}
