//! The runner. First through the library alone, as a second front end (a web console) would drive
//! it: a tick at two instants, and the serve loop on an injected clock, stopped by its front end.
//! Then `tripmail run --every`, the runner that stays up, on the real clock, against real servers on
//! 127.0.0.1: an SMTP server that is down for the first tick, an engine that is down for the first
//! tick, and SIGTERM in the middle of a tick.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tripmail::config::{Overrides, Settings};
use tripmail::ledger::{Ledger, SendLedger, SendState};
use tripmail::report::Report;
use tripmail::runner::{Halt, Job, Observer, RunDone};

use crate::sandbox::{free_port, header, FaultServer, Faults};
use crate::util::{config_from, runtime, tripmail, tripmail_process, NOW};

/// The shipped settings, as a front end loads them.
fn shipped_settings() -> Settings {
    Settings::load(Path::new("fixtures/campaign.toml"), &Overrides::default()).unwrap()
}

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

/// The injected clock of the serve test: an instant its front end moves (seconds since 1970).
static FAKE_NOW: AtomicI64 = AtomicI64::new(0);

fn fake_clock() -> DateTime<Utc> {
    DateTime::from_timestamp(FAKE_NOW.load(Ordering::SeqCst), 0).unwrap()
}

fn shipped_clock() -> DateTime<Utc> {
    at(NOW)
}

/// A front end of its own: keeps what the runner tells it, moves the fake clock to each next tick,
/// and asks the runner to stop after `stop_after` runs.
struct Console {
    runs: Mutex<Vec<(String, u64)>>,
    ticks: Mutex<Vec<DateTime<Utc>>>,
    failures: Mutex<Vec<String>>,
    next: Vec<DateTime<Utc>>,
    halt: Halt,
    stop_after: usize,
}

impl Console {
    fn new(halt: &Halt, next: Vec<DateTime<Utc>>, stop_after: usize) -> Console {
        Console {
            runs: Mutex::new(Vec::new()),
            ticks: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            next,
            halt: halt.clone(),
            stop_after,
        }
    }

    /// (instant, emails produced) of each run, in order.
    fn runs(&self) -> Vec<(String, u64)> {
        self.runs.lock().unwrap().clone()
    }
}

impl Observer for Console {
    fn run_done(&self, done: &RunDone<'_>) {
        let report: &Report = done.report;
        let mut runs = self.runs.lock().unwrap();
        runs.push((report.now.clone(), report.rendered));
        if let Some(next) = self.next.get(runs.len() - 1) {
            FAKE_NOW.store(next.timestamp(), Ordering::SeqCst);
        }
        if runs.len() >= self.stop_after {
            self.halt.request();
        }
    }

    fn tick_begins(&self, now: DateTime<Utc>) {
        self.ticks.lock().unwrap().push(now);
    }

    fn tick_failed(
        &self,
        now: DateTime<Utc>,
        _: DateTime<Utc>,
        error: &tripmail::runner::TickError,
    ) {
        self.failures
            .lock()
            .unwrap()
            .push(format!("{now}: {error}"));
    }
}

#[test]
fn a_front_end_runs_ticks_at_two_instants_through_the_library_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = Job {
        out: Some(out.clone()),
        ..Job::new(shipped_settings(), shipped_clock)
    };
    let console = Console::new(&job.halt, Vec::new(), usize::MAX);
    let rt = runtime();
    let first = rt.block_on(job.tick(at(NOW), None, &console)).unwrap();
    assert_eq!((first.due, first.rendered, first.with_block), (33, 33, 29));
    assert!(out.join("index.html").is_file());
    assert!(out.join("reminder/WT-100001.eml").is_file());
    assert!(out.join("confirmation/WT-100033.html").is_file());
    // A day later: the confirmations booked since, the reminders of the next three days. Without a
    // ledger WT-100031's confirmation, still due, is made again, so its reminder stays held back.
    let second = rt
        .block_on(job.tick(at("2026-12-11T09:00:00Z"), None, &console))
        .unwrap();
    assert_eq!((second.due, second.rendered), (21, 21));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["now"], "2026-12-11T09:00:00Z");
    assert_eq!(report["emails"].as_array().unwrap().len(), 21);
    assert_eq!(
        console.runs(),
        [
            ("2026-12-10T09:00:00Z".to_string(), 33),
            ("2026-12-11T09:00:00Z".to_string(), 21)
        ]
    );
}

#[test]
fn a_front_end_serves_ticks_on_its_own_clock_and_stops_the_runner_when_it_likes() {
    let dir = tempfile::tempdir().unwrap();
    FAKE_NOW.store(at(NOW).timestamp(), Ordering::SeqCst);
    let job = Job {
        out: Some(dir.path().join("out")),
        ..Job::new(shipped_settings(), fake_clock)
    };
    // Ticking daily, the tick after 09:00 on the 10th is midnight on the 11th: the front end moves
    // its clock there when the first run is over, so the runner does not wait.
    let midnight = at("2026-12-11T00:00:00Z");
    let console = Console::new(&job.halt, vec![midnight], 2);
    runtime().block_on(job.serve(Duration::from_secs(24 * 3600), &console));
    assert!(console.failures.lock().unwrap().is_empty());
    assert_eq!(*console.ticks.lock().unwrap(), [at(NOW), midnight]);
    assert_eq!(
        console.runs(),
        [
            ("2026-12-10T09:00:00Z".to_string(), 33),
            ("2026-12-11T00:00:00Z".to_string(), 26)
        ]
    );
    assert!(job.halt.is_requested());
}

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
