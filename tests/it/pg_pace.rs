//! `smtp.max_per_second` across runners sharing a PostgreSQL ledger: two runners at once (each on
//! its half of an export, so that both send all along), each allowed the whole limit in its
//! config, deliver at the limit together, not twice it (the send slots are reserved in the
//! database). Checked at a real SMTP server on 127.0.0.1, by when each
//! message arrived: the first to the last cannot be closer than the limit allows (a lower bound,
//! which a slow machine only lengthens).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::crash::{copies, synth_bookings, wait_bounded};
use crate::pg::Cluster;
use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, tripmail_process, NOW};

/// The limit of the test, in each runner's config.
const PER_SECOND: u32 = 60;

/// Rows of the synthetic export used: about 9 s of sending at the limit.
const ROWS: usize = 600;

#[test]
fn two_runners_keep_one_limit_between_them() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().expect("temp dir");
    let bookings = halves(&synth_bookings(dir.path()));
    let state = format!(
        "path = \"state/tripmail.sqlite\"\nurl = \"{}\"",
        cluster.database()
    );
    let smtp = format!("max_connections = 4\nmax_per_second = {PER_SECOND}");
    let config = config_with(
        dir.path(),
        &[
            ("path = \"state/tripmail.sqlite\"", state.as_str()),
            ("max_connections = 4", smtp.as_str()),
        ],
    );
    let server = FaultServer::start(Faults::default());
    let mut runners: Vec<_> = ["a", "b"]
        .iter()
        .zip(&bookings)
        .map(|(name, bookings)| {
            tripmail_process()
                .args(["run", "--now", NOW, "--smtp", &server.url(), "--config"])
                .arg(&config)
                .arg("--bookings")
                .arg(bookings)
                .arg("--report")
                .arg(dir.path().join(format!("{name}.json")))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tripmail starts")
        })
        .collect();
    for runner in &mut runners {
        let code = wait_bounded(runner, Duration::from_secs(240));
        assert!(code.is_some_and(|c| c <= 1), "a runner failed: {code:?}");
    }
    let sent: Vec<u64> = ["a", "b"]
        .iter()
        .map(|name| {
            let report =
                std::fs::read_to_string(dir.path().join(format!("{name}.json"))).expect("report");
            let report: serde_json::Value = serde_json::from_str(&report).expect("json");
            report["sent"].as_u64().expect("sent")
        })
        .collect();
    // Both runners sent: they shared the campaign, at the same time.
    assert!(sent.iter().all(|&n| n >= 100), "sent by each: {sent:?}");
    let accepted = server.accepted();
    assert!(copies(&server).values().all(|&n| n == 1), "an email twice");
    assert_eq!(accepted.len() as u64, sent.iter().sum::<u64>());
    let first = accepted.iter().map(|m| m.at).min().expect("messages");
    let last = accepted.iter().map(|m| m.at).max().expect("messages");
    let span = last - first;
    // n messages at the limit take (n - 1) slots; 5% off for when each arrival was seen.
    let least = Duration::from_secs(1) * (accepted.len() as u32 - 1) / PER_SECOND;
    assert!(
        span >= least.mul_f64(0.95),
        "{} messages in {span:?}: faster than {PER_SECOND} a second ({least:?} at least)",
        accepted.len()
    );
}

/// The first [`ROWS`] bookings of `export` in two files, every other row each.
fn halves(export: &Path) -> [PathBuf; 2] {
    let text = std::fs::read_to_string(export).expect("bookings");
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    let mut halves = [format!("{header}\n"), format!("{header}\n")];
    for (n, line) in lines.take(ROWS).enumerate() {
        halves[n % 2].push_str(line);
        halves[n % 2].push('\n');
    }
    ["a", "b"].map(|name| {
        let path = export.with_file_name(format!("bookings-{name}.csv"));
        std::fs::write(&path, &halves[if name == "a" { 0 } else { 1 }]).expect("written");
        path
    })
}
