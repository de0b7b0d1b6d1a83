//! One email, not two: a reminder held back while the booking's confirmation went less than
//! `min_hours_after_confirmation` before (`skipped:recent_confirmation`), in `run` and `plan`.

use std::path::Path;

use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, report, run_config, run_shipped, succeeds, tripmail, NOW};

const GAP: &str = "min_hours_after_confirmation = 24";

/// `tripmail run` of `config` at `now` over SMTP to `server`, with its ledger in `dir`.
fn send_at(dir: &Path, config: &Path, server: &FaultServer, now: &str) -> serde_json::Value {
    let out = dir.join(format!("out-{now}").replace(':', "-"));
    let o = tripmail()
        .arg("run")
        .arg("--config")
        .arg(config)
        .args(["--now", now, "--smtp", &server.url(), "--state"])
        .arg(dir.join("ledger.sqlite"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    succeeds(&o);
    report(&out)
}

/// The Message-IDs the server accepted, `campaign.booking`.
fn sent(server: &FaultServer) -> Vec<String> {
    server
        .accepted()
        .iter()
        .filter_map(|a| {
            let line = a.data.lines().find(|l| l.starts_with("Message-ID: <"))?;
            Some(line["Message-ID: <".len()..].split('@').next()?.to_string())
        })
        .collect()
}

#[test]
fn the_shipped_run_sends_the_confirmation_of_a_booking_due_for_both_and_skips_its_reminder() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_shipped(dir.path(), &[]);
    succeeds(&o);
    let r = report(dir.path());
    assert_eq!(
        (r["due"].as_u64(), r["rendered"].as_u64()),
        (Some(33), Some(33))
    );
    assert_eq!(r["skipped"]["skipped:recent_confirmation"], 1, "{r}");
    let s = &r["skipped_emails"][0];
    assert_eq!(
        (&s["campaign"], &s["booking_id"], &s["reason"]),
        (
            &"reminder".into(),
            &"WT-100031".into(),
            &"skipped:recent_confirmation".into()
        )
    );
    assert_eq!(s["confirmation_at"], NOW);
    assert_eq!(
        s["goes_at"], "2026-12-11T09:00:00Z",
        "24 h later, still due"
    );
    assert!(dir.path().join("confirmation/WT-100031.html").is_file());
    assert!(!dir.path().join("reminder/WT-100031.html").exists());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("later: 1 skipped:recent_confirmation"),
        "{stdout}"
    );
    let index = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(index.contains("reminder / WT-100031: skipped:recent_confirmation"));
}

#[test]
fn with_a_ledger_the_reminder_waits_for_the_gap_after_the_confirmation_then_goes() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults::default());
    let cfg = config_with(dir.path(), &[("retry_base_ms = 500", "retry_base_ms = 20")]);
    let first = send_at(dir.path(), &cfg, &server, NOW);
    assert_eq!(first["sent"], 33, "{first}");
    let ids = sent(&server);
    assert!(ids.contains(&"confirmation.WT-100031".to_string()));
    assert!(!ids.contains(&"reminder.WT-100031".to_string()));
    // The ledger's confirmation went 23 hours before: still held back.
    let at_23 = send_at(dir.path(), &cfg, &server, "2026-12-11T08:00:00Z");
    assert_eq!(
        at_23["skipped"]["skipped:recent_confirmation"], 1,
        "{at_23}"
    );
    assert!(!sent(&server).contains(&"reminder.WT-100031".to_string()));
    // 25 hours: still due (the trip is on the 12th in New York), it goes, once.
    let at_25 = send_at(dir.path(), &cfg, &server, "2026-12-11T10:00:00Z");
    assert_eq!(at_25["skipped"], serde_json::json!({}), "{at_25}");
    let ids = sent(&server);
    let reminders = ids.iter().filter(|i| *i == "reminder.WT-100031").count();
    assert_eq!(reminders, 1, "{ids:?}");
}

#[test]
fn a_confirmation_the_server_refused_does_not_hold_the_reminder_at_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), &[("retry_base_ms = 500", "retry_base_ms = 20")]);
    let ledger = tripmail::ledger::Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    use tripmail::ledger::{SendLedger, SendState};
    let at: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let id = "confirmation.WT-100031@wanderly.example";
    ledger
        .claim(
            "confirmation",
            "WT-100031",
            id,
            "grace.thompson@example.org",
            at,
            at,
        )
        .unwrap();
    ledger
        .finish(
            "confirmation",
            "WT-100031",
            SendState::Failed,
            "550 no",
            1,
            at,
        )
        .unwrap();
    drop(ledger);
    let server = FaultServer::start(Faults::default());
    let r = send_at(dir.path(), &cfg, &server, NOW);
    assert_eq!(r["skipped"], serde_json::json!({}), "{r}");
    assert!(sent(&server).contains(&"reminder.WT-100031".to_string()));
}

#[test]
fn zero_hours_sends_both_and_the_key_is_for_reminders_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), &[(GAP, "min_hours_after_confirmation = 0")]);
    let out = dir.path().join("out");
    let o = run_config(&cfg, &out);
    succeeds(&o);
    let r = report(&out);
    assert_eq!(r["rendered"], 34, "{r}");
    assert!(out.join("reminder/WT-100031.html").is_file());

    let bad = config_with(
        dir.path(),
        &[(
            "lookback_hours = 48",
            "lookback_hours = 48\nmin_hours_after_confirmation = 2",
        )],
    );
    let o = tripmail()
        .arg("validate")
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    crate::util::fails_with(&o, "campaign[0].min_hours_after_confirmation");
}

#[test]
fn the_plan_moves_the_held_reminder_to_when_the_gap_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let o = tripmail()
        .args([
            "plan",
            "--config",
            "fixtures/campaign.toml",
            "--now",
            NOW,
            "--days",
            "3",
        ])
        .args(["--format", "json", "--state"])
        .arg(dir.path().join("none.sqlite"))
        .output()
        .unwrap();
    succeeds(&o);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let held = &plan["held_back"];
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(held[0]["booking_id"], "WT-100031");
    assert_eq!(held[0]["reason"], "skipped:recent_confirmation");
    assert_eq!(held[0]["planned_at"], NOW);
    assert_eq!(held[0]["moved_to"], "2026-12-11T09:00:00Z");
    let day = plan["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == "2026-12-11" && d["campaign"] == "reminder")
        .expect("a reminder on the 11th");
    assert_eq!(day["emails"], 1);
    assert_eq!(
        plan["totals"]["reminder"], 16,
        "the same as before, one of them moved a day"
    );
}
