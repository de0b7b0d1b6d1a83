//! Delivery over SMTP: our own pool of connections (a bounded number, kept open, trusted and reused up
//! to `smtp.max_messages_per_connection`), one send pace over all of them (and over the runners of a
//! shared ledger: [`SharedPace`]), and retries of temporary failures with exponential backoff and
//! jitter. lettre speaks SMTP on each connection; tripmail drives the transaction itself (MAIL, RCPT
//! and DATA pipelined when the server offers it, then the message) so that each failure is judged by
//! where it happened: a rejected recipient fails that email only, a rejected login or sender stops
//! the run, and a connection lost after the end of DATA leaves the email in doubt (the server may
//! have it) instead of sending it again.
//!
//! Every wait is bounded: each step (connect, greeting, EHLO, STARTTLS, AUTH, NOOP, MAIL, RCPT,
//! DATA, the message and its reply) by `smtp.timeout_ms`, QUIT by at most 5 s (`connections::QUIT_BOUND`); a
//! connection that stops answering is dropped, not closed politely. After a stop is asked, a try
//! that has not sent its message yet ends at once (nothing of it reached the server), the reply to
//! a message already sent is waited for at most 5 s more (`connections::STOP_GRACE`), and QUIT is not waited for.

mod connections;
mod envelope;
mod judge;
mod pace;
mod task;
mod wire;

pub use self::pace::SharedPace;

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::sync::Semaphore;

use self::connections::{Connections, StopFlag};
use self::judge::{classify, Kind, TryError};
use self::pace::Pace;
use super::{Accepted, OutgoingEmail, Ready, SendFailure, Transport, Turn};
use crate::config::{SmtpSettings, SmtpTls, SmtpUrl};
use crate::retry::backoff;

/// Sends emails to one SMTP server.
pub struct SmtpDelivery {
    connections: Arc<Connections>,
    server: String,
    slots: Arc<Semaphore>,
    /// `smtp.max_connections`: the slots.
    connection_limit: usize,
    /// Turns to send, one per connection (see [`SmtpDelivery::turn`]).
    turns: Semaphore,
    /// `smtp.max_per_second`.
    pace: Option<Pace>,
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
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let mut builder = TlsParameters::builder(host.to_string());
                if let Some(pem) = &settings.ca_pem {
                    let roots =
                        Certificate::from_pem(pem).map_err(|e| format!("smtp.ca_file: {e}"))?;
                    builder = builder.add_root_certificate(roots);
                }
                Some(
                    builder
                        .build()
                        .map_err(|e| format!("TLS for {host}: {e}"))?,
                )
            }
        };
        let pace = settings.max_per_second.filter(|&n| n > 0).map(Pace::new);
        Ok(SmtpDelivery {
            connections: Arc::new(Connections {
                host: host.to_string(),
                port: url.port,
                tls: url.tls,
                tls_params,
                hello,
                credentials,
                timeout,
                pipelining: settings.pipelining,
                max_messages: settings.max_messages_per_connection,
                fresh: Duration::from_millis(settings.noop_after_ms),
                idle: Mutex::new(Vec::new()),
                stop: StopFlag::default(),
            }),
            server: url.to_string(),
            slots: Arc::new(Semaphore::new(settings.max_connections.max(1))),
            connection_limit: settings.max_connections.max(1),
            turns: Semaphore::new(settings.max_connections.max(1)),
            pace,
            attempts: settings.attempts.max(1),
            retry_base: Duration::from_millis(settings.retry_base_ms),
            retries: AtomicU64::new(0),
            halted: std::sync::OnceLock::new(),
        })
    }

    /// Starts no transaction (and no retry) once `flag` is set: [`SendFailure::Stopped`] instead. A
    /// try that has not sent its message ends at once, the same way; one whose message is sent
    /// waits for the reply at most 5 s more (in doubt without it); QUIT is not waited
    /// for.
    pub fn stop_when(&mut self, flag: Arc<AtomicBool>) {
        self.connections.stop.watch(flag);
    }

    /// `smtp.max_per_second` holds for every runner that shares `shared` (a ledger several
    /// runners use), not for this one alone.
    pub fn share_pace(&mut self, shared: Arc<dyn SharedPace>) {
        let server = self.server.clone();
        if let Some(pace) = &mut self.pace {
            pace.share(shared, server);
        }
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
    pub async fn send(&self, email: &OutgoingEmail) -> Result<Accepted, SendFailure> {
        let bytes = email
            .to_mime()
            .map_err(|e| SendFailure::Unsendable(e.to_string()))?;
        self.send_built(email, Arc::new(bytes), || async { true })
            .await
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

    /// Sends one email whose message is `bytes` (built already), as [`send`](Self::send) does,
    /// asking `ready` once a connection is had for it (after the rate limit), on the first try that
    /// gets one: `ready` runs beside MAIL, RCPT and DATA, and the message waits for both. `false`
    /// withdraws the email (the connection is dropped, mid-DATA at most, and the server keeps
    /// nothing; [`SendFailure::Stopped`] with no try). The ledger's claim goes there, so that an
    /// email is claimed only when the next thing it does is go.
    pub async fn send_built<F, Fut>(
        &self,
        email: &OutgoingEmail,
        bytes: Arc<Vec<u8>>,
        ready: F,
    ) -> Result<Accepted, SendFailure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut ready = Some(ready);
        let envelope = Envelope::new(Some(email.from.email.clone()), vec![email.to.email.clone()])
            .map_err(|e| SendFailure::Unsendable(e.to_string()))?;
        let mut attempt = 0;
        loop {
            if let Some((reason, attempts)) = self.halted.get() {
                return Err(SendFailure::Unavailable {
                    server: self.server.clone(),
                    reason: reason.clone(),
                    attempts: *attempts,
                });
            }
            attempt += 1;
            let err = match self.one_try(&envelope, &bytes, &mut ready, attempt).await {
                Ok((response, read_at)) => return Ok(accepted(&response, attempt, read_at)),
                Err(Ok(err)) => err,
                Err(Err(stopped)) => return Err(stopped),
            };
            let kind = classify(&err);
            let reason = err.to_string();
            tracing::debug!(message_id = %email.message_id, attempt, ?kind, "smtp: {reason}");
            self.after_failure(kind, reason, attempt).await?;
        }
    }

    /// Try number `attempt`: a connection (within the limits), then the transaction. `Err(Err)`:
    /// stopped before the try began.
    async fn one_try<F, Fut>(
        &self,
        envelope: &Envelope,
        bytes: &Arc<Vec<u8>>,
        ready: &mut Option<F>,
        attempt: u32,
    ) -> Result<(Response, Instant), Result<TryError, SendFailure>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        let stopped = || {
            Err(SendFailure::Stopped {
                attempts: attempt - 1,
            })
        };
        // Waiting for a connection or the rate limit ends when a stop is asked.
        // Held until the connection is back (or closed), which may be after the reply.
        let slot = tokio::select! {
            slot = Arc::clone(&self.slots).acquire_owned() => slot.ok(),
            () = self.stop_asked() => return Err(stopped()),
        };
        if let Some(pace) = &self.pace {
            tokio::select! {
                () = pace.wait() => {}
                () = self.stop_asked() => return Err(stopped()),
            }
        }
        if self.stopping() {
            return Err(stopped());
        }
        self.connections
            .send(envelope, bytes, ready, slot)
            .await
            .map_err(Ok)
    }

    /// What try number `attempt`, failed as `kind`, leads to: `Ok` to try again (after the backoff),
    /// or the email's failure.
    async fn after_failure(
        &self,
        kind: Kind,
        reason: String,
        attempt: u32,
    ) -> Result<(), SendFailure> {
        let unavailable = |attempts| {
            let (reason, attempts) = self.halted.get_or_init(|| (reason.clone(), attempts));
            SendFailure::Unavailable {
                server: self.server.clone(),
                reason: reason.clone(),
                attempts: *attempts,
            }
        };
        match kind {
            Kind::Permanent => Err(SendFailure::Rejected {
                reply: reason,
                attempts: attempt,
            }),
            Kind::Unsendable => Err(SendFailure::Unsendable(reason)),
            Kind::Stopped => Err(SendFailure::Stopped {
                attempts: attempt - 1,
            }),
            Kind::InDoubt => Err(SendFailure::InDoubt {
                reply: reason,
                attempts: attempt,
            }),
            Kind::Refused => Err(unavailable(attempt)),
            Kind::Server if attempt >= self.attempts => Err(unavailable(attempt)),
            Kind::Temporary if attempt >= self.attempts => Err(SendFailure::Deferred {
                reply: reason,
                attempts: attempt,
            }),
            Kind::Temporary | Kind::Server => {
                self.retries.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    () = tokio::time::sleep(backoff(self.retry_base, attempt)) => Ok(()),
                    () = self.stop_asked() => Err(SendFailure::Stopped { attempts: attempt }),
                }
            }
        }
    }

    /// Closes the open connections (QUIT), once those still being put back after their last
    /// reply are (at most 10 s), waiting at most 5 s (`connections::QUIT_BOUND`) for their replies,
    /// and not at all once a stop is asked.
    pub async fn close(&self) {
        // A connection still being put back (or closed) after its last reply holds its slot: all
        // of them, once those are done (each within `QUIT_BOUND`).
        let all = u32::try_from(self.connection_limit).unwrap_or(u32::MAX);
        let settled =
            tokio::time::timeout(connections::QUIT_BOUND * 2, self.slots.acquire_many(all)).await;
        self.connections.close().await;
        drop(settled);
    }
}

/// The server's reply to the end of DATA, as recorded: its code and its lines.
fn accepted(response: &Response, attempts: u32, read_at: Instant) -> Accepted {
    let mut reply = response.code().to_string();
    for line in response.message() {
        reply.push(' ');
        reply.push_str(line);
    }
    Accepted {
        reply,
        attempts,
        read_at: Some(read_at),
    }
}

impl Transport for SmtpDelivery {
    fn send<'a>(
        &'a self,
        email: &'a OutgoingEmail,
        mime: Arc<Vec<u8>>,
        ready: Ready<'a>,
    ) -> BoxFuture<'a, Result<Accepted, SendFailure>> {
        Box::pin(self.send_built(email, mime, ready))
    }

    fn turn(&self) -> BoxFuture<'_, Option<Turn<'_>>> {
        Box::pin(async { SmtpDelivery::turn(self).await.map(Turn::held) })
    }

    fn name(&self) -> &str {
        self.server()
    }

    fn retries(&self) -> u64 {
        SmtpDelivery::retries(self)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(SmtpDelivery::close(self))
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
}
