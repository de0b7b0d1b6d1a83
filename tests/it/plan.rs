//! `tripmail plan` on the shipped scheduled campaigns: the table a marketer reads (a snapshot), its
//! JSON and CSV, the same emails as `run` at the same instant, the ledger counted; and `preview
//! --as-of`, the email as it will be on its send date.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_from, stderr, succeeds, tripmail};

const SCHEDULED: &str = "fixtures/campaign-scheduled.toml";

fn plan(config: &str, args: &[&str]) -> std::process::Output {
    tripmail()
        .args(["plan", "--config", config])
        .args(args)
        .output()
        .unwrap()
}

fn plan_json(config: &str, args: &[&str]) -> Value {
    let o = plan(config, &[args, &["--format", "json"]].concat());
    succeeds(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_plan_of_the_shipped_schedule_reads_as_a_table() {
    let o = plan(SCHEDULED, &["--from", "2026-12-10", "--days", "7"]);
    succeeds(&o);
    insta::assert_snapshot!(String::from_utf8(o.stdout).unwrap());
}

#[test]
fn csv_rows_add_up_to_the_json_totals() {
    let args = ["--from", "2026-12-08", "--days", "10", "--every", "5m"];
    let json = plan_json(SCHEDULED, &args);
    let o = plan(SCHEDULED, &[&args[..], &["--format", "csv"]].concat());
    succeeds(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("date,campaign,locale,emails"));
    let mut per_campaign = std::collections::BTreeMap::<String, u64>::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        *per_campaign.entry(f[1].to_string()).or_default() += f[3].parse::<u64>().unwrap();
    }
    let totals: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(json["totals"].clone()).unwrap();
    assert_eq!(per_campaign, totals);
    assert!(totals.values().sum::<u64>() > 30);
}

/// (campaign, booking) of every email `run` produces at `now` with `config`.
fn run_at(config: &str, now: &str) -> BTreeSet<(String, String)> {
    let out = tempfile::tempdir().unwrap();
    let o = tripmail()
        .args(["run", "--config", config, "--now", now, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    report["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["campaign"].as_str().unwrap().to_string(),
                e["booking_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (campaign, booking) of the emails the plan puts at exactly `at`.
fn planned_at(plan: &Value, at: &str) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for day in plan["days"].as_array().unwrap() {
        for e in day["first"].as_array().unwrap() {
            if e["at"] == at {
                set.insert((
                    day["campaign"].as_str().unwrap().to_string(),
                    e["booking_id"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    set
}

#[test]
fn what_the_plan_puts_at_an_instant_is_what_run_sends_then() {
    for now in [
        "2026-12-10T09:00:00Z",
        "2026-12-10T23:00:00Z",
        "2026-12-11T14:00:00Z",
    ] {
        let plan = plan_json(
            SCHEDULED,
            &["--from", now, "--days", "1", "--recipients", "1000"],
        );
        let planned = planned_at(&plan, now);
        assert!(!planned.is_empty(), "nothing planned at {now}");
        assert_eq!(planned, run_at(SCHEDULED, now), "at {now}");
    }
}

#[test]
fn what_the_ledger_says_was_sent_is_not_planned_again() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("ledger.sqlite").display().to_string();
    let config = config_from(
        SCHEDULED,
        dir.path(),
        &[(
            "path = \"state/tripmail.sqlite\"",
            &format!("path = {state:?}"),
        )],
    );
    let config = config.to_str().unwrap();
    let now = "2026-12-10T09:00:00Z";
    let before = plan_json(config, &["--from", now, "--days", "3"]);
    let server = FaultServer::start(Faults::default());
    let o = tripmail()
        .args([
            "run",
            "--config",
            config,
            "--now",
            now,
            "--smtp",
            &server.url(),
        ])
        .output()
        .unwrap();
    succeeds(&o);
    let sent = server.accepted().len() as u64;
    assert!(sent > 20);
    let after = plan_json(config, &["--from", now, "--days", "3"]);
    let total = |p: &Value| -> u64 {
        p["totals"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    assert_eq!(after["already_done"].as_u64(), Some(sent));
    assert_eq!(total(&after), total(&before) - sent);
    assert!(planned_at(&after, now).is_empty());
    // Later that day the European reminders are outside their window; those sent are not counted
    // as waiting (they are, in a run that does not read the ledger).
    let later = "2026-12-10T21:00:00Z";
    let waiting = |args: &[&str]| -> u64 {
        let out = tempfile::tempdir().unwrap();
        let report = out.path().join("report.json");
        let o = tripmail()
            .args(["run", "--config", config, "--now", later, "--report"])
            .arg(&report)
            .args(args)
            .output()
            .unwrap();
        succeeds(&o);
        let r: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
        r["waiting"].as_u64().unwrap()
    };
    let out = tempfile::tempdir().unwrap();
    let files_only = waiting(&["--out", out.path().to_str().unwrap()]);
    let with_ledger = waiting(&["--smtp", &server.url()]);
    assert!(
        with_ledger < files_only,
        "{with_ledger} waiting with the ledger, {files_only} without"
    );
}

#[test]
fn days_from_a_date_are_whole_days_in_the_zone_asked_even_on_dst_days() {
    // Paris goes back an hour on 31 October 2027: that day lasts 25 hours.
    let plan = plan_json(
        SCHEDULED,
        &[
            "--from",
            "2027-10-31",
            "--days",
            "1",
            "--tz",
            "Europe/Paris",
        ],
    );
    assert_eq!(plan["from"], "2027-10-30T22:00:00Z");
    assert_eq!(plan["until"], "2027-10-31T23:00:00Z");
    assert_eq!(plan["days_in"], "Europe/Paris");
}

#[test]
fn preview_as_of_shows_the_email_as_it_will_be_on_its_send_date() {
    let eml = |date: &str| {
        tripmail()
            .args(["preview", "--config", SCHEDULED, "--booking", "WT-100001"])
            .args(["--campaign", "reminder", "--format", "eml", "--as-of", date])
            .output()
            .unwrap()
    };
    // Travel on Friday 11 December in Rome: the reminder goes on Tuesday 8 at 10:00 in Rome.
    let o = eml("2026-12-08");
    succeeds(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Date: Tue, 08 Dec 2026 09:00:00 +0000"),
        "{text}"
    );
    assert!(
        text.contains("Subject: Your trip to Rome is in 3 days"),
        "{text}"
    );
    assert!(
        stderr(&o).contains("goes at 2026-12-08T09:00:00Z"),
        "{}",
        stderr(&o)
    );
    // On Thursday 10 it would say one day; it is not sent then (sent already), but due.
    let o = eml("2026-12-10");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Date: Thu, 10 Dec 2026 09:00:00 +0000"),
        "{text}"
    );
    assert!(text.contains("tomorrow"), "{text}");
    // A date it is not due: shown at the window's opening, with a note.
    let o = eml("2026-12-01");
    succeeds(&o);
    assert!(
        stderr(&o).contains("is not due for WT-100001"),
        "{}",
        stderr(&o)
    );
    let o = tripmail()
        .args(["preview", "--config", SCHEDULED, "--booking", "WT-100001"])
        .args([
            "--campaign",
            "reminder",
            "--as-of",
            "2026-12-08",
            "--now",
            "2026-12-08T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "--as-of and --now together");
}
