//! Pausing a campaign (`tripmail pause`/`resume`, kept in the state database with an audit list),
//! honoured by `run`, `plan`, `preview` and a runner, even when the pause comes in the middle of a
//! run; and the run history kept beside it. Real binary, real files, a real SMTP server on
//! 127.0.0.1 (the fault server, slowed down).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tripmail::state::{RunKind, RunStatus, StateDb};

use crate::sandbox::{header, FaultServer, Faults};
use crate::util::{
    preview_cmd, report, run_shipped, stderr, succeeds, tripmail, tripmail_process, NOW,
};

/// `tripmail pause|resume CAMPAIGN` on the shipped config, state at `state`, as `by`.
fn pause(verb: &str, campaign: &str, state: &Path, by: &str) -> Output {
    tripmail()
        .args([
            verb,
            campaign,
            "--config",
            "fixtures/campaign.toml",
            "--by",
            by,
        ])
        .arg("--state")
        .arg(state)
        .output()
        .expect("tripmail runs")
}

/// `tripmail plan --format json` on the shipped config at NOW, state at `state`.
fn plan_json(state: &Path) -> Value {
    let o = tripmail()
        .args(["plan", "--config", "fixtures/campaign.toml", "--now", NOW])
        .args(["--format", "json", "--days", "3", "--state"])
        .arg(state)
        .output()
        .expect("tripmail runs");
    assert!(o.status.code().is_some_and(|c| c < 2), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("plan JSON")
}

/// The campaigns with something planned.
fn planned(plan: &Value) -> Vec<String> {
    let mut names: Vec<String> = plan["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["campaign"].as_str().unwrap().to_string())
        .collect();
    names.dedup();
    names.sort();
    names.dedup();
    names
}

/// `tripmail ledger --format json`.
fn ledger_json(state: &Path) -> Value {
    let o = tripmail()
        .args(["ledger", "--format", "json", "--state"])
        .arg(state)
        .output()
        .expect("tripmail runs");
    succeeds(&o);
    serde_json::from_slice(&o.stdout).expect("ledger JSON")
}

#[test]
fn a_paused_campaign_is_neither_run_nor_planned_until_resumed_and_the_audit_list_says_who() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/tripmail.sqlite");
    let o = pause("pause", "reminder", &state, "ana");
    succeeds(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("reminder: paused by ana"));

    // A files-only run reads the pause from the state file: no reminder written, the report says so.
    let out = dir.path().join("paused");
    let o = run_shipped(&out, &["--state", state.to_str().unwrap()]);
    succeeds(&o);
    assert!(!out.join("reminder").exists(), "no reminder is produced");
    assert!(out.join("confirmation/WT-100015.eml").is_file());
    let r = report(&out);
    assert_eq!(r["paused"][0]["campaign"], "reminder", "{}", r["paused"]);
    assert_eq!(r["paused"][0]["by"], "ana");
    assert_eq!(r["paused"][0]["emails"], 15);
    assert_eq!(
        r["due"], 19,
        "a paused campaign's emails are not due in this run"
    );
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.contains("paused: reminder (by ana at "),
        "{summary}"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("reminder: paused by ana at "), "{index}");

    // The plan loses it and says who paused it; the table too.
    let plan = plan_json(&state);
    assert_eq!(planned(&plan), ["confirmation"]);
    assert_eq!(plan["paused"][0]["campaign"], "reminder");
    assert_eq!(plan["paused"][0]["by"], "ana");
    assert!(
        plan["totals"].get("reminder").is_none(),
        "{}",
        plan["totals"]
    );
    let table = tripmail()
        .args([
            "plan",
            "--config",
            "fixtures/campaign.toml",
            "--now",
            NOW,
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("reminder: PAUSED by ana at "), "{table}");
    let csv = tripmail()
        .args(["plan", "--config", "fixtures/campaign.toml", "--now", NOW])
        .args(["--format", "csv", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&csv.stdout).contains("reminder"));
    assert!(stderr(&csv).contains("reminder is paused (by ana at "));

    // Paused twice: nothing changes, nothing audited.
    succeeds(&pause("pause", "reminder", &state, "bo"));
    succeeds(&pause("resume", "reminder", &state, "cy"));
    let out = dir.path().join("resumed");
    succeeds(&run_shipped(&out, &["--state", state.to_str().unwrap()]));
    assert!(
        out.join("reminder/WT-100001.eml").is_file(),
        "back after the resume"
    );
    assert!(report(&out).get("paused").is_none());
    assert_eq!(planned(&plan_json(&state)), ["confirmation", "reminder"]);

    let listed = ledger_json(&state);
    let audit: Vec<(&str, &str, &str)> = listed["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap();
            (s("who"), s("action"), s("campaign"))
        })
        .collect();
    assert_eq!(
        audit,
        [("cy", "resume", "reminder"), ("ana", "pause", "reminder")],
        "newest first, the second pause not written"
    );
    assert_eq!(listed["paused"], serde_json::json!([]));
    assert_eq!(listed["sends"], serde_json::json!([]));
}

#[test]
fn the_ledger_lists_the_paused_campaigns_and_a_preview_says_it_is_paused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.sqlite");
    succeeds(&pause("pause", "confirmation", &state, "ana"));
    let o = tripmail()
        .args(["ledger", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    succeeds(&o);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("paused: confirmation (by ana at "),
        "{table}"
    );
    assert!(
        table.contains("ana              paused   confirmation"),
        "{table}"
    );
    // The preview still shows the email, and says it is paused.
    let o = preview_cmd("WT-100015", "confirmation")
        .args(["--format", "text"])
        .env("TRIPMAIL_STATE__PATH", &state)
        .output()
        .unwrap();
    succeeds(&o);
    assert!(!o.stdout.is_empty());
    assert!(stderr(&o).contains("confirmation is paused (by ana at "));
}

#[test]
fn an_unknown_campaign_is_refused_by_name_and_no_state_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.sqlite");
    let o = pause("pause", "remindr", &state, "ana");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no campaign named \"remindr\""),
        "{}",
        stderr(&o)
    );
    assert!(!state.exists());
    // Nor do a dry run and a files-only run make one, reading the pauses.
    let o = tripmail()
        .args([
            "run",
            "--config",
            "fixtures/campaign.toml",
            "--now",
            NOW,
            "--dry-run",
        ])
        .env("TRIPMAIL_STATE__PATH", &state)
        .output()
        .unwrap();
    succeeds(&o);
    succeeds(&run_shipped(
        &dir.path().join("out"),
        &["--state", state.to_str().unwrap()],
    ));
    assert!(!state.exists());
}

#[test]
fn each_run_with_the_ledger_is_in_the_history_with_its_counts_emails_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.sqlite");
    let server = FaultServer::start(Faults::default());
    let send = |extra: &[&str]| {
        tripmail()
            .args([
                "run",
                "--config",
                "fixtures/campaign.toml",
                "--now",
                NOW,
                "--smtp",
            ])
            .arg(server.url())
            .arg("--state")
            .arg(&state)
            .args(extra)
            .output()
            .unwrap()
    };
    succeeds(&send(&[]));
    // A run that cannot read its bookings: failed, with why.
    let o = send(&["--bookings", "/nonexistent/bookings.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A run whose process died mid-run left its row running: the next runner marks it stopped.
    let db = StateDb::open(&state).unwrap();
    let at = NOW.parse().unwrap();
    let dead = db.run_started(RunKind::Run, at, at).unwrap();
    succeeds(&send(&[]));

    let runs = db.runs(10).unwrap();
    let seen: Vec<(RunKind, RunStatus, u64, u64)> = runs
        .iter()
        .map(|r| (r.kind, r.status, r.counts.sent, r.counts.already_sent))
        .collect();
    assert_eq!(
        seen,
        [
            (RunKind::Run, RunStatus::Done, 0, 33),
            (RunKind::Run, RunStatus::Stopped, 0, 0),
            (RunKind::Run, RunStatus::Failed, 0, 0),
            (RunKind::Run, RunStatus::Done, 33, 0),
        ]
    );
    assert_eq!(runs[1].id, dead);
    assert_eq!(runs[1].error.as_deref(), Some("the process ended mid-run"));
    assert!(
        runs[2]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("/nonexistent/bookings.csv")),
        "{:?}",
        runs[2].error
    );
    let first = &runs[3];
    assert_eq!(first.run_at.to_rfc3339(), "2026-12-10T09:00:00+00:00");
    assert!(first.finished_at.is_some_and(|f| f >= first.started_at));
    assert_eq!((first.counts.due, first.counts.produced), (33, 33));
    let (_, emails) = db.run(first.id).unwrap().unwrap();
    assert_eq!(emails.len(), 33);
    assert!(emails.iter().all(|e| e.outcome == "sent"));
    let one = emails.iter().find(|e| e.booking_id == "WT-100015").unwrap();
    assert_eq!(one.campaign, "confirmation");
    assert_eq!(one.recipient, "chloe.whitfield@example.com");
}

#[test]
fn a_pause_made_while_a_run_sends_stops_that_campaigns_claims_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.sqlite");
    let json = dir.path().join("report.json");
    // 300 ms a message, one at a time: the run takes about ten seconds.
    let server = FaultServer::start(Faults {
        slow_data: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let mut run = tripmail_process()
        .args([
            "run",
            "--config",
            "fixtures/campaign.toml",
            "--now",
            NOW,
            "--smtp",
        ])
        .arg(server.url())
        .arg("--state")
        .arg(&state)
        .args(["--parallel", "1", "--report"])
        .arg(&json)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // The shipped bookings' reminders come first: pause them after the third one went.
    while server.accepted().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "the run sends");
        std::thread::sleep(Duration::from_millis(20));
    }
    succeeds(&pause("pause", "reminder", &state, "ana"));
    let at_pause = server.accepted().len();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    let reminders = |from: usize| {
        server.accepted()[from..]
            .iter()
            .filter(|m| {
                header(&m.data, "Message-ID").is_some_and(|id| id.starts_with("<reminder."))
            })
            .count()
    };
    assert!(
        reminders(at_pause) <= 3,
        "reminders claimed after the pause: {} (at most those of the next 0.5 s)",
        reminders(at_pause)
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["paused"][0]["campaign"], "reminder");
    let paused = r["paused"][0]["emails"].as_u64().unwrap();
    assert!(paused >= 7, "{}", r["paused"]);
    assert_eq!(r["sent"].as_u64().unwrap(), server.accepted().len() as u64);
    println!("accepted at the pause: {at_pause}; reminders after it: {}; paused: {paused}; reminders sent: {}", reminders(at_pause), reminders(0));
    let held_back = r["skipped"]["skipped:recent_confirmation"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        reminders(0) as u64 + paused + held_back,
        15,
        "each reminder sent, paused or held back"
    );
    // Every confirmation went; no reminder is left claimed in the ledger.
    let sends = ledger_json(&state)["sends"].as_array().unwrap().clone();
    assert!(sends.iter().all(|s| s["state"] == "sent"), "{sends:?}");
    let confirmations = sends.iter().filter(|s| s["campaign"] == "confirmation");
    assert_eq!(confirmations.count(), 19);
}

/// A front end that shows nothing.
struct Silent;

impl tripmail::runner::Observer for Silent {}

#[test]
fn a_runners_ticks_are_in_the_history_failed_with_why_or_stopped_when_halted() {
    use std::sync::Arc;
    use tripmail::config::{Overrides, Settings};
    use tripmail::runner::Job;

    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(StateDb::open(&dir.path().join("s.sqlite")).unwrap());
    let load = |bookings: Option<&str>| {
        let overrides = Overrides {
            bookings_path: bookings.map(Into::into),
            ..Overrides::default()
        };
        Settings::load(Path::new("fixtures/campaign.toml"), &overrides).unwrap()
    };
    let now: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let next = Some([
        now + chrono::Duration::minutes(5),
        now + chrono::Duration::minutes(10),
    ]);
    let rt = crate::util::runtime();
    let broken = Job {
        state: Some(state.clone()),
        ..Job::new(load(Some("/nonexistent/bookings.csv")), || {
            "2026-12-10T09:00:01Z".parse().unwrap()
        })
    };
    assert!(rt.block_on(broken.tick(now, next, &Silent)).is_err());
    // Asked to stop before it started: nothing goes, the tick is stopped.
    let halted = Job {
        state: Some(state.clone()),
        dry_run: true,
        ..Job::new(load(None), || "2026-12-10T09:00:02Z".parse().unwrap())
    };
    halted.halt.request();
    let report = rt.block_on(halted.tick(now, next, &Silent)).unwrap();
    assert_eq!(report.interrupted, 33);

    let runs = state.runs(10).unwrap();
    let seen: Vec<(RunKind, RunStatus)> = runs.iter().map(|r| (r.kind, r.status)).collect();
    assert_eq!(
        seen,
        [
            (RunKind::Tick, RunStatus::Stopped),
            (RunKind::Tick, RunStatus::Failed)
        ]
    );
    assert_eq!(runs[0].counts.interrupted, 33);
    assert!(runs[1]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("/nonexistent/bookings.csv")));
    assert_eq!(runs[1].started_at.to_rfc3339(), "2026-12-10T09:00:01+00:00");
}
