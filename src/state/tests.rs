//! The state database on real SQLite files: pauses and their audit list, the run history, the
//! schema's versions, and a second connection writing beside the runner's.

use std::sync::Arc;

use rusqlite::Connection;

use super::*;
use crate::ledger::sqlite::t;
use crate::ledger::{Ledger, SendLedger};
use crate::report::{FailedEmail, PausedCampaign};

fn db() -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join("deep/state.sqlite")).unwrap();
    (dir, db)
}

#[test]
fn a_pause_is_kept_with_who_and_when_and_written_once_in_the_audit_list() {
    let (_dir, db) = db();
    let at = t("2026-12-10T09:00:00Z");
    assert!(db.set_paused("reminder", true, "ana", at).unwrap());
    // Paused again: nothing changes, nothing is audited; the first pause stands.
    assert!(!db
        .set_paused("reminder", true, "bo", t("2026-12-10T10:00:00Z"))
        .unwrap());
    assert!(db
        .set_paused("confirmation", true, "bo", t("2026-12-10T11:00:00Z"))
        .unwrap());
    let pause = Pause {
        campaign: "reminder".into(),
        by: "ana".into(),
        at,
    };
    assert_eq!(db.is_paused("reminder").unwrap(), Some(pause.clone()));
    assert_eq!(db.pauses().unwrap().len(), 2);
    assert!(db
        .set_paused("reminder", false, "cy", t("2026-12-10T12:00:00Z"))
        .unwrap());
    assert!(!db
        .set_paused("reminder", false, "cy", t("2026-12-10T12:00:01Z"))
        .unwrap());
    assert_eq!(db.is_paused("reminder").unwrap(), None);
    let audit: Vec<(String, String, String)> = db
        .audit(10)
        .unwrap()
        .into_iter()
        .map(|e| (e.who, e.action.to_string(), e.campaign))
        .collect();
    let row = |w: &str, a: &str, c: &str| (w.to_string(), a.to_string(), c.to_string());
    assert_eq!(
        audit,
        [
            row("cy", "resumed", "reminder"),
            row("bo", "paused", "confirmation"),
            row("ana", "paused", "reminder"),
        ]
    );
    assert_eq!(db.audit(1).unwrap().len(), 1);
}

#[test]
fn a_run_is_recorded_running_then_with_its_counts_status_and_emails() {
    let (_dir, db) = db();
    let (run_at, started) = (t("2026-12-10T09:00:00Z"), t("2026-12-10T09:00:01Z"));
    let id = db.run_started(RunKind::Tick, run_at, started).unwrap();
    let running = db.runs(10).unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(
        (running[0].status, running[0].finished_at),
        (RunStatus::Running, None)
    );
    let mut report = Report {
        due: 3,
        rendered: 1,
        sent: 1,
        smtp: Some("smtp://127.0.0.1:25".into()),
        failed: vec![FailedEmail {
            campaign: "reminder".into(),
            booking_id: "B2".into(),
            reason: "550 no such user".into(),
        }],
        paused: vec![PausedCampaign {
            campaign: "confirmation".into(),
            by: "ana".into(),
            at: "2026-12-10T08:00:00Z".into(),
            emails: 1,
        }],
        ..Report::default()
    };
    report.add(crate::report::tally::Outcome::Done {
        record: Box::new(crate::report::EmailRecord {
            campaign: "reminder".into(),
            booking_id: "B1".into(),
            to: "a@example.com".into(),
            subject: "Your trip".into(),
            provider: crate::config::Provider::Tiqets,
            items: Vec::new(),
            rules: Vec::new(),
            without_block: Some("no_items".into()),
            engine_error: None,
            item_titles: Vec::new(),
        }),
        sent: true,
        in_doubt: false,
        unrecorded: None,
    });
    let finished = t("2026-12-10T09:00:05Z");
    db.run_finished(id, finished, &outcome_of(&report, false))
        .unwrap();
    let (row, emails) = db.run(id).unwrap().unwrap();
    assert_eq!(row.kind, RunKind::Tick);
    assert_eq!((row.run_at, row.started_at), (run_at, started));
    assert_eq!(
        (row.status, row.finished_at, row.error),
        (RunStatus::Done, Some(finished), None)
    );
    assert_eq!(
        (
            row.counts.due,
            row.counts.produced,
            row.counts.sent,
            row.counts.failed,
            row.counts.paused
        ),
        (4, 2, 2, 1, 1)
    );
    let outcomes: Vec<(&str, &str, &str)> = emails
        .iter()
        .map(|e| {
            (
                e.booking_id.as_str(),
                e.outcome.as_str(),
                e.recipient.as_str(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("B2", "failed", ""), ("B1", "sent", "a@example.com")]
    );
    assert_eq!(emails[1].detail.as_deref(), Some("Your trip"));
    assert!(db.run(id + 1).unwrap().is_none());
}

#[test]
fn a_failed_run_and_a_run_left_running_by_a_dead_process() {
    let (_dir, db) = db();
    let at = t("2026-12-10T09:00:00Z");
    let failed = db.run_started(RunKind::Run, at, at).unwrap();
    db.run_finished(
        failed,
        at,
        &RunOutcome::failed("bookings: no such file".into()),
    )
    .unwrap();
    let dead = db.run_started(RunKind::Tick, at, at).unwrap();
    let later = t("2026-12-10T10:00:00Z");
    assert_eq!(db.end_abandoned_runs(later).unwrap(), 1);
    let runs = db.runs(10).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [dead, failed]
    );
    assert_eq!(runs[0].status, RunStatus::Stopped);
    assert_eq!(runs[0].error.as_deref(), Some("the process ended mid-run"));
    assert_eq!(runs[0].finished_at, Some(later));
    assert_eq!(runs[1].status, RunStatus::Failed);
    assert_eq!(runs[1].error.as_deref(), Some("bookings: no such file"));
    assert_eq!(db.end_abandoned_runs(later).unwrap(), 0);
}

#[test]
fn a_ledger_older_than_the_state_is_read_as_without_pauses_and_gains_the_tables_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        // A ledger as the versions before the state wrote it: the `sends` table alone.
        let l = Ledger::open(&path).unwrap();
        let at = t("2026-12-10T09:00:00Z");
        l.claim("reminder", "B1", "m", "r", at, at).unwrap();
    }
    let version = |p: &std::path::Path| -> u32 {
        let c = Connection::open(p).unwrap();
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&path), 0);
    let read = StateDb::open_if_exists(&path).unwrap().unwrap();
    assert!(read.pauses().unwrap().is_empty());
    assert!(read.runs(5).unwrap().is_empty());
    assert!(read
        .set_paused("reminder", true, "ana", t("2026-12-10T09:00:00Z"))
        .is_err());
    drop(read);
    assert_eq!(version(&path), 0, "reading leaves the file as it is");
    let db = StateDb::open(&path).unwrap();
    assert_eq!(version(&path), SCHEMA_VERSION);
    assert!(db
        .set_paused("reminder", true, "ana", t("2026-12-10T09:00:00Z"))
        .unwrap());
    drop(db);
    let l = Ledger::open_read(&path).unwrap();
    assert_eq!(l.entries(None).unwrap().len(), 1, "the sends are kept");
    assert!(StateDb::open_if_exists(&dir.path().join("none.sqlite"))
        .unwrap()
        .is_none());
    assert!(!dir.path().join("none.sqlite").exists());
}

#[test]
fn a_state_opened_first_is_a_whole_ledger_and_a_newer_schema_is_refused() {
    let (dir, db) = db();
    let path = db.path().to_path_buf();
    drop(db);
    assert!(Ledger::open_read(&path)
        .unwrap()
        .entries(None)
        .unwrap()
        .is_empty());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    for opened in [
        StateDb::open(&path).map(|_| ()),
        StateDb::open_if_exists(&path).map(|_| ()),
    ] {
        let e = opened.unwrap_err().to_string();
        assert!(e.contains("newer than this tripmail"), "{e}");
    }
    drop(dir);
}

#[test]
fn the_state_is_written_beside_a_runner_holding_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (ledger, state) = crate::runner::open_for_sending(
        &crate::config::StateSettings {
            path: path.clone(),
            ..Default::default()
        },
        t("2026-12-10T09:00:00Z"),
    )
    .unwrap();
    let other = StateDb::open(&path).unwrap();
    let watch = PauseWatch::watching(Arc::clone(&state) as Arc<dyn StateStore>).unwrap();
    assert!(watch.get("reminder").is_none());
    assert!(other
        .set_paused("reminder", true, "ana", t("2026-12-10T09:00:00Z"))
        .unwrap());
    std::thread::sleep(PauseWatch::REFRESH + std::time::Duration::from_millis(50));
    assert_eq!(watch.get("reminder").map(|p| p.by), Some("ana".into()));
    // Resumed during the run: the run keeps it paused (the next one sends it).
    other
        .set_paused("reminder", false, "ana", t("2026-12-10T09:01:00Z"))
        .unwrap();
    std::thread::sleep(PauseWatch::REFRESH + std::time::Duration::from_millis(50));
    assert!(watch.get("reminder").is_some());
    assert_eq!(watch.seen().len(), 1);
    let at = t("2026-12-10T09:00:00Z");
    assert!(ledger.claim("c", "B1", "m", "r", at, at).is_ok());
}
