//! `tripmail run --every`: the runner that stays up, on the real clock, against real servers on
//! 127.0.0.1: an SMTP server that is down for the first tick, an engine that is down for the first
//! tick, and SIGTERM in the middle of a tick.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tripmail::ledger::{Ledger, SendState};

use crate::sandbox::{free_port, header, FaultServer, Faults};
use crate::util::{config_from, tripmail, tripmail_process};

#[allow(clippy::disallowed_methods)] // the runner works on the real clock: so must its bookings
fn wall_clock() -> DateTime<Utc> {
    Utc::now()
}

/// `n` confirmations due now on the real clock (booked an hour ago, travelling in a month).
fn due_now(dir: &Path, n: usize) -> PathBuf {
    let now = wall_clock();
    let booked = (now - chrono::Duration::hours(1)).to_rfc3339();
    let travel = (now + chrono::Duration::days(30)).date_naive();
    let mut rows = vec!["booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in".to_string()];
    for i in 0..n {
        rows.push(format!(
            "LIVE-{i:03},live{i}@example.com,Sam,en,1111476,Vatican Museums,Rome,{travel},{booked},2,0,confirmed,true"
        ));
    }
    let path = dir.join("bookings.csv");
    std::fs::write(&path, rows.join("\n") + "\n").unwrap();
    path
}

/// The shipped config sending to `smtp` with a ledger in `dir`, `extra` lines added to `[smtp]`.
fn config(dir: &Path, smtp: &str, extra: &str) -> PathBuf {
    let bookings = dir.join("bookings.csv").display().to_string();
    let state = dir.join("state/ledger.sqlite").display().to_string();
    let smtp = format!("url = \"{smtp}\"\n{extra}\nmax_connections = 4");
    config_from(
        "fixtures/campaign.toml",
        dir,
        &[
            (
                "path = \"fixtures/bookings.csv\"",
                &format!("path = \"{bookings}\""),
            ),
            (
                "path = \"state/tripmail.sqlite\"",
                &format!("path = \"{state}\""),
            ),
            ("max_connections = 4", &smtp),
            ("attempts = 5", "attempts = 1"),
            ("retry_base_ms = 500", "retry_base_ms = 50"),
        ],
    )
}

/// A runner started in the background, its output in files (no pipe to fill up).
struct Runner {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Runner {
    fn start(dir: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Runner {
        let (stdout, stderr) = (dir.join("runner.out"), dir.join("runner.err"));
        let mut cmd = tripmail_process();
        cmd.args(["run", "--config"]).arg(config).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        Runner {
            child,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("{out}\n--- stderr ---\n{err}")
    }

    /// Waits until `pred` holds (checked every 50 ms), failing with the runner's output after `secs`.
    fn wait_for(&mut self, what: &str, secs: u64, mut pred: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !pred(&self.output()) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the runner ended ({status}) before {what}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.output());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the runner did not stop within 20 s of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn ledger_states(dir: &Path) -> Vec<(String, SendState)> {
    let ledger = Ledger::open_read(&dir.join("state/ledger.sqlite")).unwrap();
    ledger
        .entries(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.booking_id, e.state))
        .collect()
}

fn wait_until(what: &str, secs: u64, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !pred() {
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each accepted message once, by Message-ID.
fn distinct(server: &FaultServer) -> usize {
    let accepted = server.accepted();
    let ids: HashSet<String> = accepted
        .iter()
        .map(|a| header(&a.data, "Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), accepted.len(), "an email was sent twice");
    ids.len()
}

#[test]
fn the_runner_survives_an_smtp_server_down_for_a_tick_and_sends_at_the_next() {
    let dir = tempfile::tempdir().unwrap();
    due_now(dir.path(), 5);
    let port = free_port();
    let config = config(dir.path(), &format!("smtp://127.0.0.1:{port}"), "");
    let mut runner = Runner::start(dir.path(), &config, &["--every", "1s"], &[]);
    runner.wait_for("a tick that finds the server down", 30, |o| {
        o.contains("unavailable") && o.contains("kept for the next run")
    });
    // The server comes up on the same port.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = FaultServer::serve(listener, Faults::default());
    wait_until("the 5 emails", 30, || server.accepted().len() >= 5);
    let (code, output) = runner.terminate();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("stopped by signal"), "{output}");
    assert_eq!(distinct(&server), 5);
    let states = ledger_states(dir.path());
    assert_eq!(states.len(), 5);
    assert!(
        states.iter().all(|(_, s)| *s == SendState::Sent),
        "{states:?}"
    );
    // A one-shot run after it finds everything sent.
    let second = tripmail()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(distinct(&server), 5, "the next run sends nothing again");
}

#[test]
fn a_second_runner_on_the_same_ledger_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    due_now(dir.path(), 1);
    let server = FaultServer::start(Faults::default());
    let config = config(dir.path(), &server.url(), "");
    let mut runner = Runner::start(dir.path(), &config, &["--every", "1h"], &[]);
    runner.wait_for("the first tick", 30, |o| o.contains("1 sent"));
    let second = tripmail()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--every", "1h"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by another tripmail run"));
    let (code, output) = runner.terminate();
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(distinct(&server), 1);
}

#[test]
fn the_runner_holds_emails_through_an_engine_outage_and_sends_them_with_their_block_next_tick() {
    let dir = tempfile::tempdir().unwrap();
    due_now(dir.path(), 3);
    let server = FaultServer::start(Faults::default());
    let config = config(dir.path(), &server.url(), "");
    // The engine is a real `tripmail engine` on a port where nothing listens yet.
    let engine_port = free_port();
    let engine_url = format!("http://127.0.0.1:{engine_port}");
    let mut runner = Runner::start(
        dir.path(),
        &config,
        &["--every", "1s", "--engine-url", &engine_url],
        &[
            ("TRIPMAIL_ENGINE__API_KEY", "k"),
            ("TRIPMAIL_ENGINE__ATTEMPTS", "1"),
        ],
    );
    runner.wait_for("a tick that holds the emails", 30, |o| {
        o.contains("3 held for the next tick")
    });
    assert_eq!(server.accepted().len(), 0, "nothing goes without its block");
    let mut engine = tripmail_process()
        .args(["engine", "--catalog", "fixtures/catalog.json", "--listen"])
        .arg(format!("127.0.0.1:{engine_port}"))
        .args(["--api-key", "k"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the 3 emails", 30, || server.accepted().len() >= 3);
    let _ = engine.kill();
    let _ = engine.wait();
    let (code, output) = runner.terminate();
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(distinct(&server), 3);
    // Each went with its "Complete your trip" block: links to other products than the booked one.
    for a in server.accepted() {
        let body = a.data.replace("=\r\n", "");
        let links = body.matches("wanderly.example/products/").count();
        assert!(links >= 2, "no block in the email to {}", a.to);
    }
}

#[test]
fn sigterm_mid_tick_finishes_the_emails_in_flight_and_leaves_the_ledger_consistent() {
    let dir = tempfile::tempdir().unwrap();
    due_now(dir.path(), 40);
    let server = FaultServer::start(Faults::default());
    // Four emails a second: the tick takes ten seconds.
    let config = config(dir.path(), &server.url(), "max_per_second = 4");
    let runner = Runner::start(dir.path(), &config, &["--every", "1h"], &[]);
    wait_until("the first emails", 30, || server.accepted().len() >= 5);
    let (code, output) = runner.terminate();
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("left for the next run (stopped by a signal)"),
        "{output}"
    );
    // Every row is sent, and exactly the emails the server holds: no claim left behind.
    let sent_before = distinct(&server);
    assert!(sent_before < 40, "the tick was not interrupted: {output}");
    let states = ledger_states(dir.path());
    assert!(
        states.iter().all(|(_, s)| *s == SendState::Sent),
        "{states:?}"
    );
    let in_ledger: HashSet<String> = states.into_iter().map(|(b, _)| b).collect();
    let received: HashSet<String> = server
        .accepted()
        .iter()
        .map(|a| {
            a.to.trim_start_matches("live")
                .trim_end_matches("@example.com")
                .to_string()
        })
        .map(|i| format!("LIVE-{:03}", i.parse::<u32>().unwrap()))
        .collect();
    assert_eq!(in_ledger, received);
    // The next run sends exactly the rest.
    let rest = tripmail()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        rest.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rest.stderr)
    );
    assert_eq!(distinct(&server), 40);
    assert_eq!(ledger_states(dir.path()).len(), 40);
}
