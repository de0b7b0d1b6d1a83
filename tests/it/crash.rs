//! Exactly once under `kill -9`: a campaign of at least 1,500 emails to a real SMTP server on
//! 127.0.0.1, killed at seeded random instants, then run again until it is done, counted against the
//! server's mailbox by Message-ID.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tripmail::ledger::SendLedger;

use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, tripmail, tripmail_process, NOW};

/// Synthetic bookings giving at least 1,500 due emails at [`NOW`].
const BOOKINGS: &str = "1650";

/// What a crashed campaign came to, counted at the server and from tripmail's own word.
#[derive(Debug, Default)]
pub struct Tally {
    /// Emails the campaign has (a dry run's count).
    pub emails: usize,
    /// Distinct Message-IDs the server holds.
    pub delivered: usize,
    /// Messages the server holds more than once, counted once per extra copy.
    pub duplicates: usize,
    /// Emails neither delivered nor listed in doubt.
    pub lost: usize,
    /// Emails the ledger lists in doubt at the end (held, not sent again).
    pub held_in_doubt: usize,
    /// Emails the runs reported as resent after a crash (`resent_in_doubt` of the runs that ended).
    pub resent_in_doubt: u64,
    /// Emails taken over from a killed run and sent again, as the ledger counts them.
    pub taken_over: u64,
    /// Runs killed.
    pub kills: usize,
}

pub(crate) fn synth_bookings(dir: &Path) -> PathBuf {
    let path = dir.join("bookings.csv");
    let o = tripmail()
        .args([
            "synth",
            "--catalog",
            "fixtures/catalog.json",
            "--bookings",
            BOOKINGS,
        ])
        .args(["--seed", "14", "--now", NOW, "--output"])
        .arg(&path)
        .output()
        .expect("synth runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    path
}

/// How many copies of each Message-ID the server holds.
pub(crate) fn copies(server: &FaultServer) -> HashMap<String, usize> {
    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in server.accepted() {
        if let Some(id) = message_id(&m.data) {
            *copies.entry(id).or_default() += 1;
        }
    }
    copies
}

fn message_id(data: &str) -> Option<String> {
    data.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .map(|id| id.trim().to_string())
}

/// The binary measured: `MEASURE_BIN` when set (another build, for figures), else the test build.
fn binary() -> std::process::Command {
    match std::env::var_os("MEASURE_BIN") {
        Some(bin) => {
            let mut c = std::process::Command::new(bin);
            c.current_dir(crate::util::root());
            c
        }
        None => tripmail_process(),
    }
}

fn start(cfg: &Path, bookings: &Path, server: &FaultServer, ledger: &Path, out: &Path) -> Child {
    binary()
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .arg("--bookings")
        .arg(bookings)
        .args(["--now", NOW, "--smtp", &server.url(), "--report"])
        .arg(out.join("report.json"))
        .arg("--state")
        .arg(ledger)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tripmail starts")
}

/// Waits for `child`, at most `limit`; kills it past that.
pub(crate) fn wait_bounded(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn report_number(out: &Path, key: &str) -> u64 {
    std::fs::read_to_string(out.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r[key].as_u64())
        .unwrap_or(0)
}

/// Runs the campaign with `connections`, killed at `kills` instants drawn from `seed`, then runs it
/// to its end, and counts.
pub fn crashed_campaign(connections: usize, extra_smtp: &str, kills: usize, seed: u64) -> Tally {
    let dir = tempfile::tempdir().expect("temp dir");
    let bookings = synth_bookings(dir.path());
    let smtp = format!("max_connections = {connections}\n{extra_smtp}");
    let cfg = config_with(
        dir.path(),
        &[
            ("max_connections = 4", smtp.as_str()),
            ("retry_base_ms = 500", "retry_base_ms = 20"),
        ],
    );
    let dry = tripmail()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--bookings")
        .arg(&bookings)
        .args(["--now", NOW, "--dry-run", "--report"])
        .arg(dir.path().join("dry.json"))
        .output()
        .expect("dry run");
    assert!(dry.status.code().is_some_and(|c| c <= 1));
    let dry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("dry.json")).expect("dry report"),
    )
    .expect("json");
    let emails = dry["rendered"].as_u64().expect("rendered") as usize;
    assert!(emails >= 1500, "only {emails} emails");

    let server = FaultServer::start(Faults::default());
    let ledger = dir.path().join("ledger.sqlite");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally {
        emails,
        ..Tally::default()
    };
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    // Each run is killed part-way through its sending, `kills` times: once the server has taken a
    // first message from it, at a seeded instant within the next 300 ms.
    while tally.kills < kills {
        if tally.emails <= copies(&server).len() {
            break; // all sent: no run left to kill
        }
        let before = server.accepted().len();
        let mut child = start(&cfg, &bookings, &server, &ledger, &out);
        let at = Duration::from_millis(rng.u64(0..300));
        let mut sending_since = None;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if sending_since.is_none() && server.accepted().len() > before {
                sending_since = Some(Instant::now());
            }
            if sending_since.is_some_and(|t| t.elapsed() >= at) {
                let _ = child.kill();
                let _ = child.wait();
                tally.kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        tally.resent_in_doubt += report_number(&out, "resent_in_doubt");
        let _ = std::fs::remove_file(out.join("report.json"));
    }
    // Then to its end, as many times as it takes (a run stops at nothing here).
    for _ in 0..3 {
        let mut child = start(&cfg, &bookings, &server, &ledger, &out);
        let code = wait_bounded(&mut child, Duration::from_secs(120));
        tally.resent_in_doubt += report_number(&out, "resent_in_doubt");
        if code == Some(0) {
            break;
        }
    }
    let copies = copies(&server);
    tally.delivered = copies.len();
    tally.duplicates = copies.values().map(|n| n - 1).sum();
    let rows = ledger_rows(&ledger);
    // With the Message-IDs' angle brackets, as in the header.
    let held: Vec<String> = rows
        .iter()
        .filter(|r| r["state"] == "claimed")
        .filter_map(|r| r["message_id"].as_str())
        .map(|id| format!("<{id}>"))
        .collect();
    tally.held_in_doubt = held.len();
    // Every run's takeovers, killed runs' included (their reports were never written).
    tally.taken_over = rows.iter().filter_map(|r| r["takeovers"].as_u64()).sum();
    let accounted = held.iter().filter(|id| !copies.contains_key(*id)).count() + copies.len();
    tally.lost = emails.saturating_sub(accounted);
    tally
}

/// The ledger's rows, as `tripmail ledger --format json` lists them.
fn ledger_rows(ledger: &Path) -> Vec<serde_json::Value> {
    let o = tripmail()
        .arg("ledger")
        .arg("--state")
        .arg(ledger)
        .args(["--format", "json"])
        .output()
        .expect("ledger runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    listed["sends"].as_array().expect("sends[]").clone()
}

/// The in-doubt window of one whole run with `connections` (no kill): from each server reply to its
/// commit in the ledger, in microseconds, sorted; from the `tripmail::window` debug lines. The
/// binary is `MEASURE_BIN` when set (a release build, for figures), else the test build.
pub fn window(connections: usize, extra_smtp: &str) -> (Vec<u64>, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bookings = synth_bookings(dir.path());
    let smtp = format!("max_connections = {connections}\n{extra_smtp}");
    let cfg = config_with(dir.path(), &[("max_connections = 4", smtp.as_str())]);
    let server = FaultServer::start(Faults::default());
    let started = Instant::now();
    let o = binary()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--bookings")
        .arg(&bookings)
        .args(["--now", NOW, "--smtp", &server.url(), "--state"])
        .arg(dir.path().join("ledger.sqlite"))
        .env("RUST_LOG", "tripmail::window=debug")
        .output()
        .expect("tripmail runs");
    let took = started.elapsed();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut micros: Vec<u64> = strip_ansi(&String::from_utf8_lossy(&o.stderr))
        .lines()
        .filter_map(|l| l.split("micros=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    micros.sort_unstable();
    (micros, took)
}

/// `text` without its terminal colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
#[ignore = "measurement: MEASURE_BIN=target/release/tripmail cargo test --test it crash::measure_window -- --ignored --nocapture"]
fn measure_window() {
    for connections in [1, 4, 8] {
        let (w, took) = window(connections, "");
        let at = |q: f64| w[((w.len() - 1) as f64 * q) as usize];
        println!(
            "connections {connections}: {} replies, window median {} µs, p99 {} µs, worst {} µs; \
             the whole run {:.2} s, {:.0} emails/s",
            w.len(),
            at(0.5),
            at(0.99),
            at(1.0),
            took.as_secs_f64(),
            w.len() as f64 / took.as_secs_f64()
        );
    }
}

#[test]
fn killed_ten_times_with_hold_no_email_goes_twice_and_every_one_is_delivered_or_listed() {
    for (connections, seed) in [(1, 14), (8, 15)] {
        let t = crashed_campaign(connections, "in_doubt = \"hold\"", 10, seed);
        println!("hold, {connections} connections: {t:?}");
        assert_eq!(t.kills, 10);
        assert_eq!(t.duplicates, 0, "{connections} connections: {t:?}");
        assert_eq!(t.lost, 0, "{connections} connections: {t:?}");
        assert_eq!(t.taken_over, 0, "{t:?}");
        // At most one email per connection is between its claim and its commit at a kill.
        assert!(t.held_in_doubt <= 10 * connections, "{t:?}");
    }
}

#[test]
fn killed_ten_times_with_resend_no_email_is_lost_and_doubles_are_at_most_those_taken_over() {
    for (connections, seed) in [(1, 16), (8, 17)] {
        let t = crashed_campaign(connections, "in_doubt = \"resend\"", 10, seed);
        println!("resend, {connections} connections: {t:?}");
        assert_eq!(t.kills, 10);
        assert_eq!(t.held_in_doubt, 0, "{t:?}");
        assert_eq!(t.lost, 0, "{connections} connections: {t:?}");
        assert_eq!(t.delivered, t.emails, "{t:?}");
        assert!(
            t.duplicates as u64 <= t.taken_over,
            "{connections} connections: {t:?}"
        );
    }
}

/// Runs the shipped campaign over SMTP to `server` with the ledger at `ledger`: exit code, report.
fn send_shipped(
    dir: &Path,
    server: &FaultServer,
    ledger: &Path,
) -> (Option<i32>, serde_json::Value) {
    let cfg = config_with(dir, &[("retry_base_ms = 500", "retry_base_ms = 20")]);
    let report = dir.join("report.json");
    let o = tripmail()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .args(["--now", NOW, "--smtp", &server.url(), "--report"])
        .arg(&report)
        .arg("--state")
        .arg(ledger)
        .output()
        .expect("tripmail runs");
    let r = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    (o.status.code(), r)
}

/// `tripmail ledger ARGS --state LEDGER`, run to its end.
fn ledger_command(ledger: &Path, args: &[&str]) -> std::process::Output {
    tripmail()
        .arg("ledger")
        .args(args)
        .arg("--state")
        .arg(ledger)
        .output()
        .expect("ledger")
}

fn copies_of(server: &FaultServer, id: &str) -> usize {
    server
        .accepted()
        .iter()
        .filter(|m| message_id(&m.data).as_deref() == Some(id))
        .count()
}

#[test]
fn an_email_held_in_doubt_waits_for_a_hand_and_a_confirmation_in_doubt_goes_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = dir.path().join("ledger.sqlite");
    // A run that died mid-send left a reminder and a confirmation claimed.
    {
        let l = tripmail::ledger::Ledger::open(&ledger).expect("ledger");
        let at: chrono::DateTime<chrono::Utc> = NOW.parse().expect("instant");
        for (campaign, booking) in [("reminder", "WT-100001"), ("confirmation", "WT-100015")] {
            let id = format!("{campaign}.{booking}@wanderly.example");
            l.claim(campaign, booking, &id, "x@example.com", at, at)
                .expect("claimed");
        }
    }
    let server = FaultServer::start(Faults::default());
    let (code, r) = send_shipped(dir.path(), &server, &ledger);
    assert_eq!(code, Some(1), "a held email is a problem: {r}");
    // The reminder is held (the default for reminders), listed, and not sent.
    assert_eq!(r["held_in_doubt"][0]["booking_id"], "WT-100001", "{r}");
    assert_eq!(
        copies_of(&server, "<reminder.WT-100001@wanderly.example>"),
        0
    );
    // The confirmation is taken over and sent (the default for confirmations).
    assert_eq!(r["resent_in_doubt"], 1, "{r}");
    assert_eq!(
        copies_of(&server, "<confirmation.WT-100015@wanderly.example>"),
        1
    );
    let listed = ledger_command(&ledger, &["--only", "in-doubt", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    let rows = &listed["sends"];
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["booking_id"], "WT-100001");

    // Held again by the next run, until someone resends it; then it goes, once.
    let (code, _) = send_shipped(dir.path(), &server, &ledger);
    assert_eq!(code, Some(1));
    assert_eq!(
        copies_of(&server, "<reminder.WT-100001@wanderly.example>"),
        0
    );
    let o = ledger_command(&ledger, &["--resend", "reminder/WT-100001"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (code, r) = send_shipped(dir.path(), &server, &ledger);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(
        copies_of(&server, "<reminder.WT-100001@wanderly.example>"),
        1
    );
    assert_eq!(
        copies_of(&server, "<confirmation.WT-100015@wanderly.example>"),
        1
    );
    // Nothing left in doubt, and --close of an email not in doubt changes nothing.
    let o = ledger_command(&ledger, &["--close", "reminder/WT-100001"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not in doubt"));
}

#[test]
#[ignore = "measurement: MEASURE_BIN=… cargo test --test it crash::measure_kills -- --ignored --nocapture"]
fn measure_kills() {
    // No `in_doubt` key, so that a build of before it can be measured too (its default: resend).
    for (connections, seed) in [(1, 16), (8, 17)] {
        let t = crashed_campaign(connections, "", 10, seed);
        println!("{connections} connections: {t:?}");
    }
}

#[test]
fn a_connection_closed_by_the_server_after_each_message_costs_no_try() {
    // Taken again without a NOOP (it was put back within noop_after_ms), it is found gone at MAIL:
    // the email goes on a new connection, without counting a try, even with one try allowed.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults {
        close_after_message: true,
        ..Faults::default()
    });
    let cfg = config_with(
        dir.path(),
        &[
            ("max_connections = 4", "max_connections = 1"),
            ("attempts = 5", "attempts = 1"),
        ],
    );
    let o = tripmail()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .args(["--now", NOW, "--smtp", &server.url(), "--report"])
        .arg(dir.path().join("report.json"))
        .arg("--state")
        .arg(dir.path().join("ledger.sqlite"))
        .output()
        .expect("tripmail runs");
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(o.status.code(), Some(0), "{r}");
    assert_eq!(
        (r["sent"].as_u64(), r["retried"].as_u64()),
        (Some(33), Some(0)),
        "{r}"
    );
    assert_eq!(server.accepted().len(), 33);
}

#[test]
fn a_booking_twice_in_the_input_is_sent_once_even_when_its_second_copy_fails_before_its_claim() {
    // The second copy's MAIL meets a dropped connection (one try): it ends before its claim, and
    // its end must not overwrite the first copy's `sent`, or a rerun would send it again.
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(crate::util::root().join("fixtures/bookings.csv"))
        .expect("bookings");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let row = lines.next().expect("WT-100001");
    let bookings = dir.path().join("twice.csv");
    std::fs::write(&bookings, format!("{header}\n{row}\n{row}\n")).expect("written");
    let cfg = config_with(
        dir.path(),
        &[
            ("max_connections = 4", "max_connections = 1"),
            ("attempts = 5", "attempts = 1"),
        ],
    );
    let ledger = dir.path().join("ledger.sqlite");
    let run = |server: &FaultServer| {
        tripmail()
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .arg("--bookings")
            .arg(&bookings)
            .args(["--now", NOW, "--smtp", &server.url(), "--state"])
            .arg(&ledger)
            .output()
            .expect("tripmail runs")
    };
    let first = FaultServer::start(Faults {
        drop_at_mail: [2].into(),
        ..Faults::default()
    });
    run(&first);
    assert_eq!(first.accepted().len(), 1);
    let again = FaultServer::start(Faults::default());
    let o = run(&again);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(again.accepted().len(), 0, "sent once in all");
}
