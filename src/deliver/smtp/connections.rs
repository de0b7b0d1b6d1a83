//! Our connections to one SMTP server: opened on demand (TCP_NODELAY, STARTTLS, AUTH), checked or
//! trusted when taken again, the transaction driven step by step (MAIL, RCPT, DATA, the message), each
//! step bounded by `smtp.timeout_ms`, and closed with a bounded QUIT.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailParameter};
use lettre::transport::smtp::response::Response;

use super::judge::{Stage, TryError};
use crate::config::SmtpTls;

/// The longest a QUIT is waited for (or `smtp.timeout_ms`, when shorter): the emails are sent by
/// then, and a server that does not say goodbye only costs its connection.
pub(super) const QUIT_BOUND: Duration = Duration::from_secs(5);

/// After a stop is asked, the longest the reply to a message already sent is waited for (or
/// `smtp.timeout_ms`, when shorter); without it the email is in doubt, as after a timeout.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);

/// The run's stop flag, when it has one.
#[derive(Default)]
pub(super) struct StopFlag(pub(super) Option<Arc<AtomicBool>>);

impl StopFlag {
    pub(super) fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Returns once a stop is asked (never without a stop flag).
    pub(super) async fn asked(&self) {
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
pub(super) struct Connections {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: SmtpTls,
    pub(super) tls_params: Option<TlsParameters>,
    pub(super) hello: ClientId,
    pub(super) credentials: Option<Credentials>,
    pub(super) timeout: Duration,
    /// A connection put back this recently (`smtp.noop_after_ms`) is used again without a NOOP
    /// first: it just took an email, and servers keep idle connections for tens of seconds. Should
    /// it have died all the same, the next command fails and the email is tried again on a new
    /// connection, as after any dropped one.
    pub(super) fresh: Duration,
    /// Connections between emails, each with when it was put back.
    pub(super) idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    pub(super) stop: StopFlag,
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
    pub(super) async fn send<F, Fut>(
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
    pub(super) async fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        futures::future::join_all(idle.into_iter().map(|(conn, _)| self.retire(conn))).await;
    }
}
