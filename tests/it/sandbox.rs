//! SMTP servers for the delivery tests: a real MailDev (installed by `.ci/setup`), started on free
//! 127.0.0.1 ports and read back through its HTTP API, and a small fault-injecting SMTP server for the
//! failures a real server will not produce on demand.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.0 request to 127.0.0.1; the status and body.
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// A MailDev process on two free ports, killed when dropped.
pub struct MailDev {
    child: Child,
    /// SMTP port.
    pub smtp: u16,
    /// Web/API port.
    pub web: u16,
}

impl MailDev {
    /// Starts MailDev from `.ci/node_modules` (or `MAILDEV_BIN`) and waits until its API answers.
    pub fn start() -> MailDev {
        let bin = crate::util::ci_tool("maildev", "MAILDEV_BIN");
        let (smtp, web) = (free_port(), free_port());
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let child = Command::new(bin)
            .args(["--smtp", &smtp.to_string(), "--web", &web.to_string()])
            .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1"])
            .arg("--mail-directory")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("maildev starts");
        let md = MailDev { child, smtp, web };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let api = matches!(http(web, "GET", "/api/email"), Ok((200, _)));
            if api && TcpStream::connect(("127.0.0.1", smtp)).is_ok() {
                return md;
            }
            assert!(Instant::now() < deadline, "MailDev did not start in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `smtp://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp)
    }

    /// Every email MailDev holds (`GET /api/email`).
    pub fn emails(&self) -> Vec<serde_json::Value> {
        let (status, body) = http(self.web, "GET", "/api/email").expect("MailDev API");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("MailDev answers JSON")
    }

    /// How many emails MailDev holds (`GET /api/email/summary`, cheap to poll).
    pub fn count(&self) -> usize {
        let (status, body) =
            http(self.web, "GET", "/api/email/summary?limit=1").expect("MailDev API");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        v["total"].as_u64().expect("total") as usize
    }

    /// The raw message of one email (`GET /api/email/:id/source`).
    pub fn source(&self, id: &str) -> String {
        let (status, body) =
            http(self.web, "GET", &format!("/api/email/{id}/source")).expect("MailDev API");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Deletes every email (`DELETE /api/email/all`).
    pub fn clear(&self) {
        let (status, body) = http(self.web, "DELETE", "/api/email/all").expect("MailDev API");
        assert_eq!(status, 200, "{body}");
    }
}

impl Drop for MailDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of a header in a raw message (first occurrence, unfolded).
pub fn header(source: &str, name: &str) -> Option<String> {
    let head = source.split("\r\n\r\n").next().unwrap_or(source);
    let head = head.split("\n\n").next().unwrap_or(head);
    let mut value: Option<String> = None;
    for line in head.lines() {
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line.trim_end()),
            Some(_) => break,
            None => {
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case(name) {
                        value = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    value
}

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
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// RCPT TO.
    pub to: String,
    /// The data.
    pub data: String,
}

/// A fault-injecting SMTP server on 127.0.0.1, a thread per connection.
pub struct FaultServer {
    /// Its port.
    pub port: u16,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    transcript: Arc<Mutex<Vec<String>>>,
    silences: Arc<AtomicUsize>,
}

impl FaultServer {
    /// Starts serving with `faults`; it lives until the test process ends.
    pub fn start(faults: Faults) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::serve(listener, faults)
    }

    /// Serves `faults` on an already bound listener.
    pub fn serve(listener: TcpListener, faults: Faults) -> FaultServer {
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(faults);
        let messages = Arc::new(AtomicUsize::new(0));
        let mails = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let silences = Arc::new(AtomicUsize::new(0));
        let (acc, tr, si) = (accepted.clone(), transcript.clone(), silences.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (faults, messages, mails, silences, acc, tr) = (
                    faults.clone(),
                    messages.clone(),
                    mails.clone(),
                    si.clone(),
                    acc.clone(),
                    tr.clone(),
                );
                let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::spawn(move || {
                    let counters = Counters {
                        messages: &messages,
                        mails: &mails,
                        silences: &silences,
                    };
                    let _ = session(stream, n, &faults, counters, &acc, &tr);
                });
            }
        });
        FaultServer {
            port,
            accepted,
            transcript,
            silences,
        }
    }

    /// `smtp://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.accepted.lock().expect("lock").clone()
    }

    /// Every command received, in order.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript.lock().expect("lock").clone()
    }

    /// How many times the server has gone silent (a muted greeting, NOOP, end of data or QUIT) so far.
    pub fn silences(&self) -> usize {
        self.silences.load(Ordering::SeqCst)
    }
}

struct Counters<'a> {
    messages: &'a AtomicUsize,
    mails: &'a AtomicUsize,
    silences: &'a AtomicUsize,
}

/// Answers nothing more on this connection: reads (and drops) whatever the client sends until it
/// closes the connection, however long that takes.
fn go_silent(mut input: impl Read, silences: &AtomicUsize) -> std::io::Result<()> {
    silences.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 4096];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // The read timeout set for the session: keep waiting.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

fn session(
    stream: TcpStream,
    connection: usize,
    faults: &Faults,
    counters: Counters<'_>,
    accepted: &Mutex<Vec<Accepted>>,
    transcript: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    if faults.busy_connections.contains(&connection) {
        out.write_all(b"421 4.3.2 fault.test busy, try again later\r\n")?;
        return Ok(());
    }
    if faults.mute_greeting {
        return go_silent(input, counters.silences);
    }
    out.write_all(b"220 fault.test ESMTP\r\n")?;
    let mut rcpt = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        transcript.lock().expect("lock").push(cmd.clone());
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let auth = if faults.login.is_some() {
                "250-AUTH PLAIN LOGIN\r\n"
            } else {
                ""
            };
            format!("250-fault.test\r\n{auth}250-8BITMIME\r\n250 SMTPUTF8\r\n")
        } else if upper.starts_with("NOOP") && faults.mute_noop {
            return go_silent(input, counters.silences);
        } else if upper.starts_with("HELO")
            || upper.starts_with("NOOP")
            || upper.starts_with("RSET")
        {
            "250 OK\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let given = cmd.split_whitespace().nth(2).map(String::from);
            login_reply(faults, given.as_deref().and_then(decode_plain))
        } else if upper.starts_with("AUTH LOGIN") {
            out.write_all(b"334 VXNlcm5hbWU6\r\n")?;
            let user = read_b64_line(&mut input)?;
            out.write_all(b"334 UGFzc3dvcmQ6\r\n")?;
            let pass = read_b64_line(&mut input)?;
            login_reply(faults, Some((user, pass)))
        } else if upper.starts_with("MAIL FROM") {
            let n = counters.mails.fetch_add(1, Ordering::SeqCst) + 1;
            if faults.drop_at_mail.contains(&n) {
                out.shutdown(Shutdown::Both)?;
                return Ok(());
            }
            if faults.reject_sender {
                "550 5.7.1 sender refused\r\n".into()
            } else {
                "250 OK\r\n".into()
            }
        } else if upper.starts_with("RCPT TO") {
            let addr = cmd
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            if faults.reject.contains(&addr) {
                format!("550 5.1.1 <{addr}>: mailbox unavailable\r\n")
            } else {
                rcpt = addr;
                "250 OK\r\n".into()
            }
        } else if upper == "DATA" {
            out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if input.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let n = counters.messages.fetch_add(1, Ordering::SeqCst) + 1;
            if faults.drop_after_data.contains(&n) {
                out.shutdown(Shutdown::Both)?;
                return Ok(());
            }
            if faults.mute_after_data.contains(&n) {
                accepted.lock().expect("lock").push(Accepted {
                    to: rcpt.clone(),
                    data,
                });
                return go_silent(input, counters.silences);
            }
            if faults.accept_then_drop.contains(&n) {
                accepted.lock().expect("lock").push(Accepted {
                    to: rcpt.clone(),
                    data,
                });
                out.shutdown(Shutdown::Both)?;
                return Ok(());
            }
            if faults.temp_fail.contains(&n) {
                "451 4.3.0 temporary failure, try again\r\n".into()
            } else {
                accepted.lock().expect("lock").push(Accepted {
                    to: rcpt.clone(),
                    data,
                });
                if let Some(wait) = faults.slow_data {
                    std::thread::sleep(wait);
                }
                if faults.close_after_message {
                    out.write_all(format!("250 2.0.0 queued as m{n}\r\n").as_bytes())?;
                    out.shutdown(Shutdown::Both)?;
                    return Ok(());
                }
                format!("250 2.0.0 queued as m{n}\r\n")
            }
        } else if upper.starts_with("QUIT") && faults.mute_quit {
            return go_silent(input, counters.silences);
        } else if upper.starts_with("QUIT") {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            "502 5.5.2 command not recognized\r\n".into()
        };
        out.write_all(reply.as_bytes())?;
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

fn read_b64_line(input: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(b64(&line)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default())
}
