//! Our connections to one SMTP server: opened on demand (our own socket with TCP_NODELAY, then TLS,
//! STARTTLS, AUTH, and whether it offers PIPELINING), trusted when taken again (a NOOP only after a
//! long idle), used for up to `smtp.max_messages_per_connection` messages, each step bounded by
//! `smtp.timeout_ms`, and closed with a bounded QUIT. The envelope (MAIL, RCPT, DATA) is in
//! [`super::envelope`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Ehlo, Rset};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::envelope::{Body, Verbatim};
use super::judge::{closing, Stage, TryError};
use super::task::{Exchange, Panic};
use super::wire::{Peek, Tls, Wire};
use crate::config::SmtpTls;

/// The longest a QUIT is waited for (or `smtp.timeout_ms`, when shorter): the emails are sent by
/// then, and a server that does not say goodbye only costs its connection.
pub(super) const QUIT_BOUND: Duration = Duration::from_secs(5);

/// After a stop is asked, the longest the reply to a message already sent is waited for (or
/// `smtp.timeout_ms`, when shorter); without it the email is in doubt, as after a timeout.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);

/// The run's stop flag, when it has one (set once, before the first send).
#[derive(Default)]
pub(super) struct StopFlag(std::sync::OnceLock<Arc<AtomicBool>>);

impl StopFlag {
    /// Watches `flag` from now on (a second flag is ignored: a transport serves one run).
    pub(super) fn watch(&self, flag: Arc<AtomicBool>) {
        let _ = self.0.set(flag);
    }

    pub(super) fn is_set(&self) -> bool {
        self.0.get().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Returns once a stop is asked (never without a stop flag).
    pub(super) async fn asked(&self) {
        match self.0.get() {
            None => std::future::pending().await,
            Some(flag) => {
                while !flag.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// What a connection is good for after a transaction that ended with an error (or none).
enum Reuse {
    Yes,
    /// After RSET: a refused sender, recipient or data leaves the connection fine.
    AfterReset,
    /// Closed politely (QUIT).
    No,
    /// Silent or gone: dropped, not worth a QUIT that would wait as long again.
    Drop,
}

impl Reuse {
    fn after(error: Option<&TryError>) -> Reuse {
        match error {
            None | Some(TryError::Unsendable(_)) => Reuse::Yes,
            Some(TryError::Smtp(Stage::Mail | Stage::Rcpt | Stage::Data, e))
                if e.status().is_some() && !closing(e) =>
            {
                Reuse::AfterReset
            }
            Some(TryError::Smtp(Stage::Message, e)) if e.status().is_some() && !closing(e) => {
                Reuse::Yes
            }
            Some(TryError::Timeout(_) | TryError::OutOfTurn | TryError::Lost(..)) => Reuse::Drop,
            Some(_) => Reuse::No,
        }
    }
}

/// Goes on with a panic of an exchange, in the email's task.
fn resume<T>(panic: Panic) -> T {
    std::panic::resume_unwind(panic)
}

/// One connection to the server.
pub(super) struct Conn {
    pub(super) smtp: AsyncSmtpConnection,
    /// The socket, to see whether the server spoke out of turn before a message goes.
    peek: Peek,
    /// The server offers PIPELINING and `smtp.pipelining` is on: the envelope goes in one write.
    pub(super) pipelining: bool,
    /// No TLS: the message is written to the socket by us, in one write.
    pub(super) plain: bool,
    /// Messages sent on it so far (each answered, accepted or not).
    messages: u32,
}

/// Our connections to the server, opened on demand and kept for reuse.
pub(super) struct Connections {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: SmtpTls,
    pub(super) tls_params: Option<TlsParameters>,
    pub(super) hello: ClientId,
    pub(super) credentials: Option<Credentials>,
    pub(super) timeout: Duration,
    /// `smtp.pipelining`: use PIPELINING when the server offers it.
    pub(super) pipelining: bool,
    /// `smtp.max_messages_per_connection`: a connection that sent this many is closed (QUIT); 0
    /// for no limit.
    pub(super) max_messages: u32,
    /// A connection idle less than this (`smtp.noop_after_ms`) is used again as it is, trusted;
    /// one idle longer is checked with a NOOP first. Should a trusted one have died all the same
    /// (closed while idle, or closing: `421`), the email is tried again on another, without
    /// counting a try: nothing of it reached the server.
    pub(super) fresh: Duration,
    /// Connections between emails, each with when it was put back.
    pub(super) idle: Mutex<Vec<(Conn, Instant)>>,
    pub(super) stop: StopFlag,
}

impl Connections {
    pub(super) async fn step<T>(
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

    /// A new connection: TCP (with TCP_NODELAY, see [`Wire`]), TLS or STARTTLS, the server's
    /// extensions, AUTH.
    async fn open(&self) -> Result<Conn, TryError> {
        let addr = (self.host.as_str(), self.port);
        let tcp =
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return Err(TryError::Connect(format!("cannot connect: {e}"))),
                Err(_) => return Err(TryError::Timeout(Stage::Connect)),
            };
        let (wire, peek) = Wire::new(tcp)
            .map_err(|e| TryError::Connect(format!("cannot set TCP_NODELAY: {e}")))?;
        let mut smtp = match (self.tls, &self.tls_params) {
            (SmtpTls::Implicit, Some(params)) => {
                let tls = self
                    .step(Stage::Connect, Tls::handshake(wire, params.clone()))
                    .await?;
                let connect =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tls), &self.hello);
                self.step(Stage::Connect, connect).await?
            }
            _ => {
                let connect =
                    AsyncSmtpConnection::connect_with_transport(Box::new(wire), &self.hello);
                self.step(Stage::Connect, connect).await?
            }
        };
        if let (SmtpTls::StartTls, Some(tls)) = (self.tls, &self.tls_params) {
            self.step(Stage::Connect, smtp.starttls(tls.clone(), &self.hello))
                .await?;
        }
        // lettre keeps only the extensions it uses; PIPELINING is asked with an EHLO of ours (one
        // round trip per connection), before AUTH (after it, a new EHLO may forget the login).
        let pipelining = self.pipelining && {
            let ehlo = self
                .step(Stage::Connect, smtp.command(Ehlo::new(self.hello.clone())))
                .await?;
            let offered = ehlo
                .message()
                .filter_map(|line| line.split_whitespace().next())
                .any(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"));
            offered
        };
        if let Some(credentials) = &self.credentials {
            self.step(
                Stage::Connect,
                smtp.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }
        Ok(Conn {
            smtp,
            peek,
            pipelining,
            plain: self.tls == SmtpTls::None,
            messages: 0,
        })
    }

    /// An idle connection (checked with a NOOP after a long idle, see `fresh`), or a new one.
    /// `true` beside a connection used before: found gone, it is no failure of the email.
    async fn checkout(&self) -> Result<(Conn, bool), TryError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some((conn, since)) if since.elapsed() < self.fresh => return Ok((conn, true)),
                // One that fails NOOP or does not answer it in time is dropped, without QUIT.
                Some((mut conn, _)) => {
                    let noop = tokio::time::timeout(self.timeout, conn.smtp.test_connected()).await;
                    if noop == Ok(true) {
                        return Ok((conn, true));
                    }
                }
                None => return Ok((self.open().await?, false)),
            }
        }
    }

    /// The message and the server's reply to its end. From here on the server may have the email,
    /// so a stop does not end the wait at once: it shortens it to [`STOP_GRACE`].
    async fn message(&self, conn: &mut Conn, body: Body) -> Result<Response, TryError> {
        let grace = async {
            self.stop.asked().await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        let sending = async {
            let sent = match &body {
                Body::Plain(data) => {
                    // Our own write (no copy into a String), then lettre reads the reply.
                    conn.peek
                        .write_all(data)
                        .await
                        .map_err(|e| TryError::Lost(Stage::Message, e.to_string()))?;
                    conn.smtp.read_response().await
                }
                Body::Text(text) => conn.smtp.command(Verbatim(text)).await,
                Body::Raw(bytes) => conn.smtp.message(bytes).await,
            };
            sent.map_err(|e| TryError::Smtp(Stage::Message, e))
        };
        let result = tokio::select! {
            result = tokio::time::timeout(self.timeout, sending) => {
                result.unwrap_or(Err(TryError::Timeout(Stage::Message)))
            }
            () = grace => Err(TryError::Timeout(Stage::Message)),
        };
        conn.messages += 1;
        result
    }

    /// One try: a connection, then `ready` (the first try only: it may withdraw the email), then
    /// the transaction: the reply to the message, and when it was read. The envelope and the message are each exchanged on a task of their own
    /// ([`Exchange`]); `ready` runs in the caller's.
    pub(super) async fn send<F, Fut>(
        self: &Arc<Self>,
        envelope: &Envelope,
        bytes: &Arc<Vec<u8>>,
        ready: &mut Option<F>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<(Response, Instant), TryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        // Until the message goes, a stop ends the try at once: the server has nothing of the email
        // (the connection, mid-transaction, is dropped).
        let (mut conn, enveloped) = loop {
            let (conn, reused) = tokio::select! {
                conn = self.checkout() => conn?,
                () = self.stop.asked() => return Err(TryError::Stopped),
            };
            // `ready` (the ledger's claim) runs beside MAIL, RCPT and DATA, and both end before the
            // message: its commit is hidden behind their round trips. It is done whole, not cut
            // short by a stop (a stop ends only the envelope).
            let claiming = ready.take().map(|ready| ready());
            let (this, envelope) = (Arc::clone(self), envelope.clone());
            let step = Exchange::spawn(async move {
                let mut conn = conn;
                let result = tokio::select! {
                    result = this.envelope(&mut conn, &envelope) => result,
                    () = this.stop.asked() => Err(TryError::Stopped),
                };
                (conn, result)
            });
            let (stepped, go) = match claiming {
                Some(claim) => tokio::join!(step.end(Stage::Data), claim),
                None => (step.end(Stage::Data).await, true),
            };
            // A panic in the exchange goes on here, once the claim has ended (and is known).
            let stepped = stepped.unwrap_or_else(resume);
            // Withdrawn: the server, in DATA at most, keeps nothing of a dropped connection.
            if !go {
                return Err(TryError::Withdrawn);
            }
            let (conn, enveloped) = stepped?;
            // The server waits for the message (354): unless it said something since (closing).
            let enveloped = match enveloped {
                Ok(()) if conn.peek.spoke_out_of_turn() => Err(TryError::OutOfTurn),
                other => other,
            };
            match enveloped {
                Err(TryError::Stopped) => return Err(TryError::Stopped),
                // A connection used before, found gone before the message (closed while idle,
                // closing, no reply): the next one, or a new one, without counting a try; each
                // pass takes one idle connection, and a new one ends the loop.
                Err(e) if reused && e.connection_gone() => drop(conn),
                other => break (conn, other),
            }
        };
        if let Err(e) = enveloped {
            self.release(conn, Some(&e)).await;
            return Err(e);
        }
        // The server waits for the message (354) and has nothing of it yet. Its reply comes back
        // as soon as it is read; the connection is put back (or closed: QUIT) after, still holding
        // its slot.
        let (this, bytes) = (Arc::clone(self), Arc::clone(bytes));
        let (answer, answered) = tokio::sync::oneshot::channel();
        let exchange = Exchange::spawn(async move {
            let body = Body::of(conn.plain, bytes);
            let result = this.message(&mut conn, body).await;
            let reuse = Reuse::after(result.as_ref().err());
            let result = result.map(|reply| (reply, Instant::now()));
            // The email's task gone (dropped): nobody to tell.
            let _ = answer.send(result);
            this.release_as(conn, reuse).await;
            drop(slot);
        });
        match answered.await {
            Ok(result) => {
                exchange.let_go();
                result
            }
            // Ended without a reply: a panic (it goes on here), or the runtime shutting down.
            Err(_) => match exchange.end(Stage::Message).await {
                Err(panic) => resume(panic),
                Ok(Err(lost)) => Err(lost),
                Ok(Ok(())) => Err(TryError::Lost(
                    Stage::Message,
                    "the connection's task ended without the reply".into(),
                )),
            },
        }
    }

    /// Puts `conn` back for the next email when it can take one after `error` (and has not sent
    /// `max_messages`), or closes it.
    async fn release(&self, conn: Conn, error: Option<&TryError>) {
        self.release_as(conn, Reuse::after(error)).await;
    }

    /// [`release`](Self::release), with what the error allows decided.
    async fn release_as(&self, mut conn: Conn, reuse: Reuse) {
        let reusable = match reuse {
            Reuse::Yes => true,
            Reuse::AfterReset => tokio::select! {
                reset = self.step(Stage::Mail, conn.smtp.command(Rset)) => reset.is_ok(),
                () = self.stop.asked() => false,
            },
            Reuse::No => false,
            Reuse::Drop => return,
        };
        let spent = self.max_messages > 0 && conn.messages >= self.max_messages;
        if reusable && !spent && !conn.smtp.has_broken() {
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
    async fn retire(&self, mut conn: Conn) {
        let bound = self.timeout.min(QUIT_BOUND);
        tokio::select! {
            biased;
            _ = tokio::time::timeout(bound, conn.smtp.abort()) => {}
            () = self.stop.asked() => {}
        }
    }

    /// Closes every idle connection, all at once.
    pub(super) async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        futures::future::join_all(idle.into_iter().map(|(conn, _)| self.retire(conn))).await;
    }
}
