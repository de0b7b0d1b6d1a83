//! The fault-injecting SMTP server: what it does wrong ([`Faults`]), what it kept ([`Accepted`]),
//! what it counted, plain or over TLS ([`TlsMode`]). The SMTP session itself is in `session.rs`.

use std::collections::{BTreeSet, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fault server does to chosen messages (numbered from 1 in the order their data arrive).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer `451` to the end of these messages' data.
    pub temp_fail: BTreeSet<usize>,
    /// Close the connection after these messages' data, without answering and without keeping them.
    pub drop_after_data: BTreeSet<usize>,
    /// Keep these messages, then close the connection without answering (the reply is lost).
    pub accept_then_drop: BTreeSet<usize>,
    /// Close the connection at these MAIL FROM commands (numbered from 1), before any data.
    pub drop_at_mail: BTreeSet<usize>,
    /// Answer `550` to every MAIL FROM (the sender is refused).
    pub reject_sender: bool,
    /// Answer `550` to RCPT TO for these addresses, every time.
    pub reject: HashSet<String>,
    /// Answer `421` to the greeting of these connections (numbered from 1).
    pub busy_connections: BTreeSet<usize>,
    /// Required AUTH PLAIN/LOGIN credentials; any other login gets `535`.
    pub login: Option<(String, String)>,
    /// Accept connections but never greet them: the connection stays open, silent.
    pub mute_greeting: bool,
    /// Never answer NOOP (the check before a connection is reused): the connection stays open,
    /// silent.
    pub mute_noop: bool,
    /// Keep these messages, then never answer the end of their data: the connection stays open,
    /// silent.
    pub mute_after_data: BTreeSet<usize>,
    /// Never answer QUIT: the connection stays open, silent.
    pub mute_quit: bool,
    /// Close every connection right after answering the end of a message's data (as relays that
    /// take one message per connection do).
    pub close_after_message: bool,
    /// Wait this long before answering the end of each message's data (a slow server), having
    /// kept the message.
    pub slow_data: Option<std::time::Duration>,
    /// Leave `PIPELINING` (RFC 2920) out of the EHLO reply.
    pub no_pipelining: bool,
    /// A server that does not follow RFC 2920: a DATA with no accepted recipient (or after a
    /// refused MAIL FROM) gets `354`, its data are read, then refused with `554` and not kept (nor
    /// numbered as a message). Without it such a DATA gets `554 5.5.1 no valid recipients` (or
    /// `503 5.5.1 bad sequence of commands` with no accepted MAIL FROM) at once.
    pub data_without_recipients: bool,
    /// At these MAIL FROM commands (numbered as for `drop_at_mail`), read the command and what the
    /// client sent with it (the pipelined RCPT TO and DATA), then close the connection without
    /// answering any of them.
    pub drop_after_group: BTreeSet<usize>,
    /// At these MAIL FROM commands (numbered as for `drop_at_mail`), answer MAIL, RCPT and DATA
    /// (250, 250, 354), then close the connection at once, before the message.
    pub drop_after_354: BTreeSet<usize>,
    /// Answer `421 4.4.2` to a connection that sends no command for this long, and close it.
    pub close_idle_after: Option<Duration>,
    /// After this many messages on one connection (data ended, whatever the reply), answer the
    /// next MAIL FROM with `421 4.7.0` and close the connection.
    pub refuse_at_connection_messages: Option<usize>,
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// RCPT TO.
    pub to: String,
    /// The data.
    pub data: String,
    /// When its data ended (the final dot read), before any `slow_data` wait.
    pub at: Instant,
    /// The connection it came on (numbered from 1 in the order they were accepted).
    pub connection: usize,
}

/// How [`FaultServer::start_tls`] speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (smtps).
    Implicit,
    /// A plain greeting, `STARTTLS` offered, then TLS from the `220` answering it on.
    StartTls,
}

/// What every session of one server shares.
pub(super) struct Shared {
    pub(super) faults: Faults,
    pub(super) tls: Option<(TlsMode, Arc<rustls::ServerConfig>)>,
    pub(super) accepted: Mutex<Vec<Accepted>>,
    pub(super) transcript: Mutex<Vec<String>>,
    /// Messages whose data arrived (the numbering of the per-message faults).
    pub(super) messages: AtomicUsize,
    /// MAIL FROM commands (the numbering of the per-MAIL faults).
    pub(super) mails: AtomicUsize,
    pub(super) pipelined: AtomicUsize,
    pub(super) connections: AtomicUsize,
    pub(super) quits: AtomicUsize,
    pub(super) silences: AtomicUsize,
}

/// A fault-injecting SMTP server on 127.0.0.1, a thread per connection.
pub struct FaultServer {
    /// Its port.
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultServer {
    /// Starts serving with `faults`; it lives until the test process ends.
    pub fn start(faults: Faults) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::serve(listener, faults)
    }

    /// Serves `faults` on an already bound listener.
    pub fn serve(listener: TcpListener, faults: Faults) -> FaultServer {
        Self::spawn(vec![listener], faults, None)
    }

    /// Starts serving with `faults` over TLS, with the certificate of `fixtures/tls/` (for
    /// `localhost` and 127.0.0.1, signed by [`test_ca`](super::test_ca)). It listens on
    /// 127.0.0.1, and on the same port of ::1 when it can, for where `localhost` is ::1 first.
    pub fn start_tls(faults: Faults, mode: TlsMode) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut listeners = vec![listener];
        listeners.extend(TcpListener::bind(("::1", port)).ok());
        Self::spawn(listeners, faults, Some((mode, super::tls::server_config())))
    }

    fn spawn(
        listeners: Vec<TcpListener>,
        faults: Faults,
        tls: Option<(TlsMode, Arc<rustls::ServerConfig>)>,
    ) -> FaultServer {
        let port = listeners[0].local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            faults,
            tls,
            accepted: Mutex::default(),
            transcript: Mutex::default(),
            messages: AtomicUsize::new(0),
            mails: AtomicUsize::new(0),
            pipelined: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            quits: AtomicUsize::new(0),
            silences: AtomicUsize::new(0),
        });
        for listener in listeners {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let n = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        let _ = super::session::session(stream, n, &shared);
                    });
                }
            });
        }
        FaultServer { port, shared }
    }

    /// `smtp://127.0.0.1:<port>`; over TLS `smtps://localhost:<port>` (implicit) or
    /// `smtp://localhost:<port>?tls=starttls`, the name its certificate is for.
    pub fn url(&self) -> String {
        match self.shared.tls.as_ref().map(|(mode, _)| mode) {
            None => format!("smtp://127.0.0.1:{}", self.port),
            Some(TlsMode::Implicit) => format!("smtps://localhost:{}", self.port),
            Some(TlsMode::StartTls) => format!("smtp://localhost:{}?tls=starttls", self.port),
        }
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.shared.accepted.lock().expect("lock").clone()
    }

    /// Every command received, in order.
    pub fn transcript(&self) -> Vec<String> {
        self.shared.transcript.lock().expect("lock").clone()
    }

    /// How many times the server has gone silent (a muted greeting, NOOP, end of data or QUIT) so far.
    pub fn silences(&self) -> usize {
        self.shared.silences.load(Ordering::SeqCst)
    }

    /// MAIL FROM commands received so far.
    pub fn mails(&self) -> usize {
        self.shared.mails.load(Ordering::SeqCst)
    }

    /// MAIL FROM commands that arrived with more of the client's commands already behind them (in
    /// the server's read buffer before it answered): pipelined (RFC 2920) with RCPT TO and DATA.
    pub fn pipelined(&self) -> usize {
        self.shared.pipelined.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// QUIT commands received so far (answered or not).
    pub fn quits(&self) -> usize {
        self.shared.quits.load(Ordering::SeqCst)
    }
}
