//! Several runners on one PostgreSQL ledger, as processes, against a real SMTP server on
//! 127.0.0.1: three start together on the same bookings export; one is killed with SIGKILL while
//! it holds claims; the other two finish, then (as the next cron tick would) run again once its
//! lease is over and take its emails over. Counted at the server by Message-ID: every email
//! delivered once (with `in_doubt = "hold"`, the dead runner's emails in doubt are held instead).

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::crash::{copies, synth_bookings, wait_bounded};
use crate::pg::Cluster;
use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, ledger_of, tripmail, tripmail_process, NOW};

/// The lease of the test: a dead runner's emails go to the others this long after.
const LEASE_SECONDS: u64 = 5;

struct Campaign {
    dir: tempfile::TempDir,
    config: PathBuf,
    bookings: PathBuf,
    url: String,
    emails: usize,
}

fn campaign(cluster: &Cluster, in_doubt: &str) -> Campaign {
    let dir = tempfile::tempdir().expect("temp dir");
    let bookings = synth_bookings(dir.path());
    let url = cluster.database();
    let state = format!(
        "path = \"state/tripmail.sqlite\"\nurl = \"{url}\"\nlease_seconds = {LEASE_SECONDS}"
    );
    let smtp = format!("max_connections = 2\nin_doubt = \"{in_doubt}\"");
    let config = config_with(
        dir.path(),
        &[
            ("path = \"state/tripmail.sqlite\"", state.as_str()),
            ("max_connections = 4", smtp.as_str()),
        ],
    );
    let dry = tripmail()
        .args(["run", "--dry-run", "--now", NOW, "--config"])
        .arg(&config)
        .arg("--bookings")
        .arg(&bookings)
        .arg("--report")
        .arg(dir.path().join("dry.json"))
        .output()
        .expect("dry run");
    assert!(dry.status.code().is_some_and(|c| c <= 1));
    let report = std::fs::read_to_string(dir.path().join("dry.json")).expect("dry report");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let emails = report["rendered"].as_u64().expect("rendered") as usize;
    assert!(emails >= 1500, "only {emails} emails");
    Campaign {
        dir,
        config,
        bookings,
        url,
        emails,
    }
}

/// A `tripmail run` of the campaign named `name`: its report in `NAME.json`, its warnings in
/// `NAME.log`.
fn runner(c: &Campaign, server: &FaultServer, name: &str) -> Child {
    let log = std::fs::File::create(c.dir.path().join(format!("{name}.log"))).expect("log file");
    tripmail_process()
        .args(["run", "--now", NOW, "--smtp", &server.url(), "--config"])
        .arg(&c.config)
        .arg("--bookings")
        .arg(&c.bookings)
        .arg("--report")
        .arg(c.dir.path().join(format!("{name}.json")))
        .env("RUST_LOG", "tripmail=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tripmail starts")
}

/// Waits until the server has accepted `n` messages (at most 2 minutes).
fn wait_for_messages(server: &FaultServer, n: usize) {
    let started = Instant::now();
    while server.accepted().len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the runner never got going"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runner processes, killed when the test ends whatever happens (a failed assertion too).
struct Runners(Vec<Child>);

impl Drop for Runners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Rows the runner of process `pid` holds claimed now.
fn claimed_by(cluster: &Cluster, url: &str, pid: u32) -> usize {
    let sql = format!(
        "SELECT count(*) FROM tripmail_sends WHERE state = 'claimed' AND runner LIKE '%:{pid}:%'"
    );
    cluster.psql(url, &sql).trim().parse().unwrap_or(0)
}

/// Three runners, the first killed while it holds claims; the other two finish, and run again
/// after its lease. The number of rows the dead runner held.
fn three_runners_one_killed(cluster: &Cluster, c: &Campaign, server: &FaultServer) -> usize {
    let mut runners = Runners(
        ["a", "b", "c"]
            .iter()
            .map(|n| runner(c, server, n))
            .collect(),
    );
    let victim = runners.0[0].id();
    let started = Instant::now();
    // Killed in the middle: once the server has a few hundred messages, frozen first (SIGSTOP)
    // so that the claims it holds are counted as they are when it dies.
    let signal = |sig: &str| {
        let _ = std::process::Command::new("kill")
            .args([sig, &victim.to_string()])
            .status();
    };
    let held = loop {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the runner to kill never held a claim after the server's 300th message"
        );
        // Frozen only once it is seen holding claims, and counted again while frozen.
        if server.accepted().len() >= 300 && claimed_by(cluster, &c.url, victim) > 0 {
            signal("-STOP");
            let held = claimed_by(cluster, &c.url, victim);
            if held > 0 {
                let _ = runners.0[0].kill();
                let _ = runners.0[0].wait();
                break held;
            }
            signal("-CONT");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    for r in &mut runners.0[1..] {
        let code = wait_bounded(r, Duration::from_secs(180));
        assert!(code.is_some_and(|c| c <= 1), "a runner failed: {code:?}");
    }
    // The next tick of the two that live, once the dead runner's lease is over.
    std::thread::sleep(Duration::from_secs(LEASE_SECONDS + 1));
    let mut again = Runners(["b2", "c2"].iter().map(|n| runner(c, server, n)).collect());
    for r in &mut again.0 {
        let code = wait_bounded(r, Duration::from_secs(180));
        assert!(code.is_some_and(|c| c <= 1), "a runner failed: {code:?}");
    }
    held
}

fn ledger_rows(c: &Campaign) -> Vec<serde_json::Value> {
    ledger_of(&c.config)["sends"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn slow_server() -> FaultServer {
    // 20 ms per message: a campaign of a few seconds, a runner always in the middle of one.
    FaultServer::start(Faults {
        slow_data: Some(Duration::from_millis(20)),
        ..Faults::default()
    })
}

#[test]
fn pg_three_runners_one_killed_every_email_once_the_dead_runners_sent_by_the_others() {
    let cluster = Cluster::shared();
    let c = campaign(&cluster, "resend");
    let server = slow_server();
    let held = three_runners_one_killed(&cluster, &c, &server);
    let copies = copies(&server);
    let extra: usize = copies.values().map(|n| n - 1).sum();
    assert_eq!(copies.len(), c.emails, "every email delivered");
    // Only an email the server took just as the runner died can be there twice (in doubt, sent
    // again by the `resend` policy): at most what it held.
    assert!(
        extra <= held,
        "{extra} duplicates, {held} held by the dead runner"
    );
    let rows = ledger_rows(&c);
    let taken: Vec<&serde_json::Value> = rows.iter().filter(|r| r["takeovers"] == 1).collect();
    assert_eq!(taken.len(), held, "the dead runner's claims taken over");
    assert!(
        taken.iter().all(|r| r["state"] == "sent"),
        "and sent by the others"
    );
    assert!(rows.iter().all(|r| r["state"] == "sent"));
    assert_eq!(rows.len(), c.emails);
}

#[test]
fn pg_three_runners_one_killed_with_hold_nothing_twice_the_doubtful_listed() {
    let cluster = Cluster::shared();
    let c = campaign(&cluster, "hold");
    let server = slow_server();
    let held = three_runners_one_killed(&cluster, &c, &server);
    let copies = copies(&server);
    assert!(copies.values().all(|n| *n == 1), "no email twice");
    let rows = ledger_rows(&c);
    let in_doubt = rows.iter().filter(|r| r["state"] == "claimed").count();
    assert_eq!(in_doubt, held, "the dead runner's claims are held in doubt");
    let delivered = copies.len();
    // Each held email may or may not have reached the server before the kill.
    assert!(
        delivered + in_doubt >= c.emails && delivered <= c.emails,
        "{delivered} delivered + {in_doubt} in doubt of {}",
        c.emails
    );
}

/// The campaign sent by one runner (`runner.log`) to a slow server, 300 messages in.
fn one_runner_under_way(cluster: &Cluster) -> (Campaign, FaultServer, Runners) {
    let c = campaign(cluster, "resend");
    let server = slow_server();
    let child = Runners(vec![runner(&c, &server, "runner")]);
    wait_for_messages(&server, 300);
    (c, server, child)
}

#[test]
fn pg_postgresql_down_mid_campaign_the_runner_waits_and_goes_on_nothing_lost_or_doubled() {
    // A cluster of its own: it is stopped and started again.
    let cluster = Cluster::start();
    let (c, server, mut child) = one_runner_under_way(&cluster);
    // Down for three seconds in the middle of the campaign, then back on the same port and data.
    cluster.stop();
    std::thread::sleep(Duration::from_secs(3));
    cluster.start_again();
    let code = wait_bounded(&mut child.0[0], Duration::from_secs(240));
    let said = std::fs::read_to_string(c.dir.path().join("runner.log")).unwrap_or_default();
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("cannot be reached") && said.contains("reachable again"),
        "{said}"
    );
    let copies = copies(&server);
    assert_eq!(copies.len(), c.emails, "nothing lost");
    assert!(copies.values().all(|n| *n == 1), "nothing twice");
    let rows = ledger_rows(&c);
    assert_eq!(rows.len(), c.emails);
    assert!(rows.iter().all(|r| r["state"] == "sent"));
}

#[test]
fn pg_a_runner_whose_database_is_gone_for_good_stops_when_asked_within_its_waits() {
    let cluster = Cluster::start();
    // The campaign (its folder) is kept to the end of the test.
    let (_campaign, server, mut child) = one_runner_under_way(&cluster);
    // Gone for good, then the runner is asked to stop: it ends once the outage's wait is over
    // (2 minutes), not never.
    cluster.stop();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.0[0].id().to_string()])
        .status();
    let code = wait_bounded(&mut child.0[0], Duration::from_secs(400));
    assert!(code.is_some(), "it exited");
    let sent = copies(&server);
    assert!(sent.values().all(|n| *n == 1), "nothing twice");
}
