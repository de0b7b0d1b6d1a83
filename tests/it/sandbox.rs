//! SMTP servers for the delivery tests: a real MailDev (installed by `.ci/setup`), started on free
//! 127.0.0.1 ports and read back through its HTTP API, and a small fault-injecting SMTP server for the
//! failures a real server will not produce on demand (in `sandbox/`: the server in `fault.rs`, its
//! SMTP session in `session.rs`, its TLS in `tls.rs`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Paths spelled out so that they resolve the same when `benches/smtp.rs` includes this file by
// `#[path]` (a module file included that way looks for its children beside itself).
#[path = "sandbox/fault.rs"]
mod fault;
#[path = "sandbox/session.rs"]
mod session;
#[path = "sandbox/tls.rs"]
mod tls;

// Not every user names every item (the bench takes two).
#[allow(unused_imports)]
pub use fault::{Accepted, FaultServer, Faults, TlsMode};
#[allow(unused_imports)]
pub use tls::test_ca;

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
