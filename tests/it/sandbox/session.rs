//! One SMTP session of the fault server, over plain TCP or TLS (from the first byte, or after
//! STARTTLS). One `BufReader` holds the connection: commands are read from it, replies written
//! through it, and what it has buffered tells a pipelined command group from one command.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::fault::{Accepted, Faults, Shared, TlsMode};

/// The connection: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn tls(tcp: TcpStream, config: &Arc<ServerConfig>) -> io::Result<Stream> {
        let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Answers nothing more on this connection: reads (and drops) whatever the client sends until it
/// closes the connection, however long that takes.
fn go_silent(mut input: impl Read, silences: &AtomicUsize) -> io::Result<()> {
    silences.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 4096];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // The read timeout set for the session: keep waiting.
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Serves one accepted connection, number `connection`, to its end.
pub(super) fn session(tcp: TcpStream, connection: usize, shared: &Shared) -> io::Result<()> {
    let faults = &shared.faults;
    tcp.set_read_timeout(Some(
        faults.close_idle_after.unwrap_or(Duration::from_secs(30)),
    ))?;
    let stream = match &shared.tls {
        Some((TlsMode::Implicit, config)) => Stream::tls(tcp, config)?,
        _ => Stream::Plain(tcp),
    };
    Session {
        shared,
        faults,
        connection,
        input: BufReader::new(stream),
        mail: None,
        rcpt: None,
        messages: 0,
    }
    .run()
}

struct Session<'a> {
    shared: &'a Shared,
    faults: &'a Faults,
    connection: usize,
    input: BufReader<Stream>,
    /// The number of the MAIL FROM of the open transaction (none before it, or if it was refused).
    mail: Option<usize>,
    /// The recipient accepted in the open transaction.
    rcpt: Option<String>,
    /// Messages whose data ended on this connection.
    messages: usize,
}

/// What a command leads to: a reply, or the end of the session (closed, or gone silent).
type Next = io::Result<Option<String>>;

impl Session<'_> {
    fn run(&mut self) -> io::Result<()> {
        if self.faults.busy_connections.contains(&self.connection) {
            return self.send("421 4.3.2 fault.test busy, try again later\r\n");
        }
        if self.faults.mute_greeting {
            return go_silent(&mut self.input, &self.shared.silences);
        }
        self.send("220 fault.test ESMTP\r\n")?;
        let mut line = String::new();
        loop {
            line.clear();
            match self.input.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if timed_out(&e) && self.faults.close_idle_after.is_some() => {
                    self.send("421 4.4.2 fault.test idle timeout\r\n")?;
                    return self.hang_up();
                }
                Err(e) => return Err(e),
            }
            let cmd = line.trim_end().to_string();
            self.log(&cmd);
            if cmd.eq_ignore_ascii_case("STARTTLS") && self.starttls_offered() {
                self.send("220 2.0.0 ready\r\n")?;
                self.start_tls()?;
                continue;
            }
            if let Some(reply) = self.answer(&cmd)? {
                self.send(&reply)?;
            } else {
                return Ok(());
            }
        }
    }

    fn answer(&mut self, cmd: &str) -> Next {
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let f = self.faults;
            let offer = |on: bool, line: &'static str| if on { line } else { "" };
            let auth = offer(f.login.is_some(), "250-AUTH PLAIN LOGIN\r\n");
            let pipe = offer(!f.no_pipelining, "250-PIPELINING\r\n");
            let tls = offer(self.starttls_offered(), "250-STARTTLS\r\n");
            format!("250-fault.test\r\n{auth}{pipe}{tls}250-8BITMIME\r\n250 SMTPUTF8\r\n")
        } else if upper.starts_with("NOOP") && self.faults.mute_noop {
            return go_silent(&mut self.input, &self.shared.silences).map(|()| None);
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK\r\n".into()
        } else if upper.starts_with("RSET") {
            (self.mail, self.rcpt) = (None, None);
            "250 OK\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let given = cmd.split_whitespace().nth(2).map(String::from);
            login_reply(self.faults, given.as_deref().and_then(decode_plain))
        } else if upper.starts_with("AUTH LOGIN") {
            self.send("334 VXNlcm5hbWU6\r\n")?;
            let user = read_b64_line(&mut self.input)?;
            self.send("334 UGFzc3dvcmQ6\r\n")?;
            let pass = read_b64_line(&mut self.input)?;
            login_reply(self.faults, Some((user, pass)))
        } else if upper.starts_with("MAIL FROM") {
            return self.mail_from();
        } else if upper.starts_with("RCPT TO") {
            let addr = cmd
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            if self.faults.reject.contains(&addr) {
                format!("550 5.1.1 <{addr}>: mailbox unavailable\r\n")
            } else {
                self.rcpt = Some(addr);
                "250 OK\r\n".into()
            }
        } else if upper == "DATA" {
            return self.data();
        } else if upper.starts_with("QUIT") {
            self.shared.quits.fetch_add(1, Ordering::SeqCst);
            if self.faults.mute_quit {
                return go_silent(&mut self.input, &self.shared.silences).map(|()| None);
            }
            self.send("221 bye\r\n")?;
            return Ok(None);
        } else {
            "502 5.5.2 command not recognized\r\n".into()
        };
        Ok(Some(reply))
    }

    fn mail_from(&mut self) -> Next {
        let n = self.shared.mails.fetch_add(1, Ordering::SeqCst) + 1;
        // Before any reply: a client that pipelines has sent the rest of its group with this line.
        if !self.input.buffer().is_empty() {
            self.shared.pipelined.fetch_add(1, Ordering::SeqCst);
        }
        (self.mail, self.rcpt) = (None, None);
        let f = self.faults;
        if f.drop_at_mail.contains(&n) {
            return self.hang_up().map(|()| None);
        }
        if f.drop_after_group.contains(&n) {
            self.read_group()?;
            return self.hang_up().map(|()| None);
        }
        if f.refuse_at_connection_messages
            .is_some_and(|most| self.messages >= most)
        {
            self.send("421 4.7.0 too many messages on this connection\r\n")?;
            return self.hang_up().map(|()| None);
        }
        if f.reject_sender {
            return Ok(Some("550 5.7.1 sender refused\r\n".into()));
        }
        self.mail = Some(n);
        Ok(Some("250 OK\r\n".into()))
    }

    fn data(&mut self) -> Next {
        let f = self.faults;
        let (mail, to) = match (self.mail, self.rcpt.clone()) {
            (Some(mail), Some(to)) => (mail, to),
            (mail, _) if !f.data_without_recipients => {
                return Ok(Some(match mail {
                    None => "503 5.5.1 bad sequence of commands\r\n".into(),
                    Some(_) => "554 5.5.1 no valid recipients\r\n".into(),
                }));
            }
            _ => {
                self.send("354 end with <CRLF>.<CRLF>\r\n")?;
                let data = self.read_data()?;
                (self.mail, self.rcpt) = (None, None);
                return Ok(data.map(|_| "554 5.5.1 no valid recipients\r\n".into()));
            }
        };
        self.send("354 end with <CRLF>.<CRLF>\r\n")?;
        if f.drop_after_354.contains(&mail) {
            return self.hang_up().map(|()| None);
        }
        let Some(data) = self.read_data()? else {
            return Ok(None);
        };
        let at = Instant::now();
        (self.mail, self.rcpt) = (None, None);
        self.messages += 1;
        let n = self.shared.messages.fetch_add(1, Ordering::SeqCst) + 1;
        let message = Accepted {
            to,
            data,
            at,
            connection: self.connection,
        };
        if f.drop_after_data.contains(&n) {
            return self.hang_up().map(|()| None);
        }
        if f.mute_after_data.contains(&n) {
            self.keep(message);
            return go_silent(&mut self.input, &self.shared.silences).map(|()| None);
        }
        if f.accept_then_drop.contains(&n) {
            self.keep(message);
            return self.hang_up().map(|()| None);
        }
        if f.temp_fail.contains(&n) {
            return Ok(Some("451 4.3.0 temporary failure, try again\r\n".into()));
        }
        self.keep(message);
        if let Some(wait) = f.slow_data {
            std::thread::sleep(wait);
        }
        let reply = format!("250 2.0.0 queued as m{n}\r\n");
        if f.close_after_message {
            self.send(&reply)?;
            return self.hang_up().map(|()| None);
        }
        Ok(Some(reply))
    }

    /// The message up to the final dot, unstuffed (none if the connection ends first).
    fn read_data(&mut self) -> io::Result<Option<String>> {
        let (mut data, mut line) = (String::new(), String::new());
        loop {
            line.clear();
            if self.input.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            if line == ".\r\n" {
                return Ok(Some(data));
            }
            data.push_str(line.strip_prefix('.').unwrap_or(&line));
        }
    }

    /// Reads what the client sent with a MAIL FROM: lines up to its DATA, or until nothing more
    /// comes for a moment (a client that did not pipeline).
    fn read_group(&mut self) -> io::Result<()> {
        let tcp = self.input.get_ref().tcp();
        tcp.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut line = String::new();
        loop {
            line.clear();
            match self.input.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if timed_out(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
            let cmd = line.trim_end();
            self.log(cmd);
            if cmd.eq_ignore_ascii_case("DATA") {
                return Ok(());
            }
        }
    }

    fn starttls_offered(&self) -> bool {
        matches!(self.shared.tls, Some((TlsMode::StartTls, _)))
            && matches!(self.input.get_ref(), Stream::Plain(_))
    }

    /// Continues the session over TLS, forgetting what was sent before it (RFC 3207): the
    /// transaction, and any command sent after STARTTLS without waiting for its reply.
    fn start_tls(&mut self) -> io::Result<()> {
        let Some((_, config)) = &self.shared.tls else {
            unreachable!("STARTTLS is only offered with a TLS config");
        };
        // The old reader's descriptor closes when it is replaced; the socket stays open.
        let tcp = self.input.get_ref().tcp().try_clone()?;
        self.input = BufReader::new(Stream::tls(tcp, config)?);
        (self.mail, self.rcpt) = (None, None);
        Ok(())
    }

    fn send(&mut self, reply: &str) -> io::Result<()> {
        let out = self.input.get_mut();
        out.write_all(reply.as_bytes())?;
        out.flush()
    }

    /// Closes the connection without a word (no TLS close_notify either).
    fn hang_up(&mut self) -> io::Result<()> {
        self.input.get_ref().tcp().shutdown(Shutdown::Both)
    }

    fn keep(&self, message: Accepted) {
        self.shared.accepted.lock().expect("lock").push(message);
    }

    fn log(&self, cmd: &str) {
        self.shared
            .transcript
            .lock()
            .expect("lock")
            .push(cmd.to_string());
    }
}

fn login_reply(faults: &Faults, given: Option<(String, String)>) -> String {
    match (&faults.login, given) {
        (Some(want), Some(got)) if *want == got => "235 2.7.0 authenticated\r\n".into(),
        _ => "535 5.7.8 authentication credentials invalid\r\n".into(),
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

fn decode_plain(s: &str) -> Option<(String, String)> {
    let raw = b64(s)?;
    let mut parts = raw
        .split(|&b| b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let _authzid = parts.next()?;
    Some((parts.next()?, parts.next()?))
}

fn read_b64_line(input: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(b64(&line)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default())
}
