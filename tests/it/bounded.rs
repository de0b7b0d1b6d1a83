//! Every wait bounded: a server that stops answering NOOP (the check before a connection is
//! reused), the end of DATA or QUIT, or never greets, costs a timeout, never the run; and SIGTERM
//! while it is silent ends the run with the summary printed and the report written.
//!
//! Each run is waited for at most [`LIMIT`]: a run that hangs fails its test instead of hanging the
//! suite.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, tripmail_process, NOW};

/// How long a run may take before its test calls it hung (far more than any bound it has).
const LIMIT: Duration = Duration::from_secs(30);

/// A timeout that ends a silence fast: the run ends on its own.
const SHORT: u64 = 500;

/// A timeout longer than [`LIMIT`]: only the stop (or a bound shorter than the timeout) ends a
/// silence in time.
const LONG: u64 = 60_000;

/// The shipped campaign (33 emails due, WT-100031's reminder held back, at [`NOW`]) with two fast tries and `smtp.timeout_ms`; a
/// NOOP before every reuse of a connection (`noop_after_ms = 0`), so that a server silent to NOOP
/// is met at once.
fn config(dir: &Path, timeout_ms: u64) -> PathBuf {
    let settings = format!("retry_base_ms = 20\ntimeout_ms = {timeout_ms}\nnoop_after_ms = 0");
    config_with(
        dir,
        &[
            ("attempts = 5", "attempts = 2"),
            ("retry_base_ms = 500", &settings),
        ],
    )
}

/// A `tripmail run` in the background, its output in files of `dir`.
struct Run {
    child: Child,
    dir: PathBuf,
}

/// How a run ended.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: serde_json::Value,
}

impl Run {
    fn start(dir: &Path, timeout_ms: u64, server: &FaultServer) -> Run {
        let config = config(dir, timeout_ms);
        let child = tripmail_process()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--now", NOW, "--smtp", &server.url()])
            .arg("--state")
            .arg(dir.join("ledger.sqlite"))
            .arg("--report")
            .arg(dir.join("report.json"))
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout")).expect("stdout file"))
            .stderr(File::create(dir.join("stderr")).expect("stderr file"))
            .spawn()
            .expect("tripmail starts");
        Run {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
    }

    /// Waits for the end, at most [`LIMIT`]; a run still going then is killed and the test fails.
    #[track_caller]
    fn end(mut self) -> Ended {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the run hung: still going after {} s; stdout: {}\nstderr: {}",
                    LIMIT.as_secs(),
                    self.read("stdout"),
                    self.read("stderr")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (stdout, stderr) = (self.read("stdout"), self.read("stderr"));
        let report = std::fs::read_to_string(self.dir.join("report.json"))
            .unwrap_or_else(|e| panic!("report.json not written ({e}); stderr: {stderr}"));
        Ended {
            code: status.code(),
            report: serde_json::from_str(&report).expect("report.json is JSON"),
            stdout,
            stderr,
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most [`LIMIT`]) until the server has gone silent at least once.
#[track_caller]
fn until_silent(server: &FaultServer, run: &Run) {
    let deadline = Instant::now() + LIMIT;
    while server.silences() == 0 {
        assert!(
            Instant::now() < deadline,
            "the server never went silent; stderr: {}",
            run.read("stderr")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no number {key}: {v}"))
}

impl Ended {
    /// The summary is on stdout and every due email is in one count of the report.
    #[track_caller]
    fn accounts_for_all(&self) {
        assert!(
            self.stdout.contains("33 emails due") && self.stdout.contains(" sent, "),
            "summary printed: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        let r = &self.report;
        let in_doubt = r["in_doubt"].as_array().expect("in_doubt[]").len() as u64;
        let counted = n(r, "sent")
            + in_doubt
            + n(r, "deferred")
            + n(r, "not_attempted")
            + n(r, "interrupted")
            + r["failed"].as_array().expect("failed[]").len() as u64;
        assert_eq!(counted, 33, "every email accounted for: {r}");
    }
}

/// Distinct messages the server kept.
fn kept(server: &FaultServer) -> usize {
    let ids: std::collections::BTreeSet<String> = server
        .accepted()
        .iter()
        .filter_map(|m| crate::sandbox::header(&m.data, "Message-ID"))
        .collect();
    ids.len()
}

/// A run whose server falls silent as `faults` say, sent SIGTERM while it waits (with a timeout
/// longer than the test's limit): the server, and how the run ended, which says SIGTERM and
/// accounts for every email.
fn terminated_while_silent(faults: Faults) -> (FaultServer, Ended) {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(faults);
    let run = Run::start(dir.path(), LONG, &server);
    until_silent(&server, &run);
    run.terminate();
    let ended = run.end();
    assert!(ended.stderr.contains("SIGTERM"), "{}", ended.stderr);
    ended.accounts_for_all();
    (server, ended)
}

#[test]
fn a_server_that_stops_answering_noop_costs_a_new_connection_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        mute_noop: true,
        ..Faults::default()
    });
    let ended = Run::start(dir.path(), SHORT, &server).end();
    ended.accounts_for_all();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(n(&ended.report, "sent"), 33, "{}", ended.report);
    assert!(server.silences() > 0, "NOOP was tried and went unanswered");
    assert_eq!(server.accepted().len(), 33, "each email once");
    assert_eq!(kept(&server), 33);
}

#[test]
fn a_server_that_never_answers_the_end_of_data_leaves_that_email_in_doubt_and_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        mute_after_data: [3].into(),
        ..Faults::default()
    });
    let ended = Run::start(dir.path(), SHORT, &server).end();
    ended.accounts_for_all();
    assert_eq!(ended.code, Some(1), "in doubt needs attention");
    let in_doubt = ended.report["in_doubt"].as_array().expect("in_doubt[]");
    assert_eq!(in_doubt.len(), 1, "{}", ended.report);
    assert_eq!(n(&ended.report, "sent"), 32, "{}", ended.report);
    assert!(
        ended.stderr.contains("tripmail: in doubt"),
        "{}",
        ended.stderr
    );
    assert_eq!(
        kept(&server),
        33,
        "32 sent + the one without a reply, none twice"
    );
}

#[test]
fn a_server_that_never_answers_quit_still_gets_a_summary_after_all_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        mute_quit: true,
        ..Faults::default()
    });
    let ended = Run::start(dir.path(), SHORT, &server).end();
    ended.accounts_for_all();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(n(&ended.report, "sent"), 33, "{}", ended.report);
    assert!(server.silences() > 0, "QUIT was sent and went unanswered");
}

#[test]
fn sigterm_while_noop_goes_unanswered_ends_the_run_and_leaves_the_rest_for_the_next() {
    let (server, ended) = terminated_while_silent(Faults {
        mute_noop: true,
        ..Faults::default()
    });
    assert_eq!(ended.code, Some(1), "a one-shot run stopped early exits 1");
    let (sent, interrupted) = (n(&ended.report, "sent"), n(&ended.report, "interrupted"));
    assert!(interrupted > 0, "{}", ended.report);
    assert_eq!(sent as usize, kept(&server), "{}", ended.report);
    assert!(
        ended
            .stdout
            .contains("left for the next run (stopped by a signal)"),
        "{}",
        ended.stdout
    );
}

#[test]
fn sigterm_while_the_end_of_data_goes_unanswered_ends_the_run_with_that_email_in_doubt() {
    let (server, ended) = terminated_while_silent(Faults {
        mute_after_data: [3].into(),
        ..Faults::default()
    });
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    let in_doubt = ended.report["in_doubt"].as_array().expect("in_doubt[]");
    assert_eq!(in_doubt.len(), 1, "{}", ended.report);
    assert_eq!(
        n(&ended.report, "sent") as usize + 1,
        kept(&server),
        "{}",
        ended.report
    );
}

#[test]
fn sigterm_while_quit_goes_unanswered_ends_the_run_with_everything_sent() {
    let (_server, ended) = terminated_while_silent(Faults {
        mute_quit: true,
        ..Faults::default()
    });
    assert_eq!(n(&ended.report, "sent"), 33, "{}", ended.report);
    assert_eq!(ended.code, Some(0), "nothing left for the next run");
}

#[test]
fn a_server_that_never_greets_is_unavailable_after_its_tries_and_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        mute_greeting: true,
        ..Faults::default()
    });
    let ended = Run::start(dir.path(), SHORT, &server).end();
    ended.accounts_for_all();
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    assert_eq!(n(&ended.report, "sent"), 0, "{}", ended.report);
    let stopped = ended.report["stopped"].as_str().unwrap_or_default();
    assert!(stopped.contains("unavailable"), "{}", ended.report);
}

#[test]
fn sigterm_while_the_greeting_never_comes_ends_the_run_at_once_with_nothing_sent() {
    let (server, ended) = terminated_while_silent(Faults {
        mute_greeting: true,
        ..Faults::default()
    });
    assert_eq!(ended.code, Some(1), "a one-shot run stopped early exits 1");
    assert_eq!(n(&ended.report, "sent"), 0, "{}", ended.report);
    assert_eq!(n(&ended.report, "interrupted"), 33, "{}", ended.report);
    assert!(server.accepted().is_empty());
}
