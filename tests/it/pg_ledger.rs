//! The PostgreSQL ledger (`state.url`) against a real, throwaway PostgreSQL server: the same sends
//! as the SQLite ledger through the same trait; two runners on one database, each email claimed by
//! one of them for a lease judged by the database's clock; a database newer than the binary
//! refused; an unreachable one a clear error, without the password.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tripmail::config::{Secret, StateSettings};
use tripmail::ledger::{Claim, LedgerError, PgLedger, SendLedger, SendState};
use tripmail::state::StateStore;

use crate::pg::Cluster;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn settings(url: &str, lease_seconds: u64) -> StateSettings {
    StateSettings {
        url: Some(Secret::new(url)),
        lease_seconds,
        ..StateSettings::default()
    }
}

#[test]
fn pg_a_send_goes_through_the_trait_as_on_sqlite() {
    let cluster = Cluster::shared();
    let l = PgLedger::open(&settings(&cluster.database(), 60)).unwrap();
    let now = t("2026-12-10T09:00:00Z");
    let claim = |b: &str| {
        l.claim("c", b, &format!("c.{b}@x"), "a@x", now, now)
            .unwrap()
    };
    assert_eq!(claim("B1"), Claim::New);
    assert!(l.claimed_here("c", "B1"));
    l.finish("c", "B1", SendState::Sent, "250 ok", 1, now)
        .unwrap();
    assert_eq!(claim("B1"), Claim::Done(SendState::Sent));
    assert_eq!(claim("B2"), Claim::New);
    l.finish("c", "B2", SendState::Deferred, "451 later", 3, now)
        .unwrap();
    assert_eq!(claim("B2"), Claim::Retry);
    l.release("c", "B2", Claim::Retry).unwrap();
    assert_eq!(l.state("c", "B2").unwrap(), Some(SendState::Deferred));
    assert_eq!(claim("B3"), Claim::New);
    // The same booking twice in one run: the second is not sent.
    assert_eq!(claim("B3"), Claim::Done(SendState::Claimed));
    assert_eq!(claim("B4"), Claim::New);
    l.release("c", "B4", Claim::New).unwrap();
    assert_eq!(l.state("c", "B4").unwrap(), None);
    assert_eq!(
        l.state_at("c", "B1").unwrap(),
        Some((SendState::Sent, Some(now)))
    );
    let rows: Vec<(String, SendState, u32)> = l
        .entries(Some("c"))
        .unwrap()
        .into_iter()
        .map(|e| (e.booking_id, e.state, e.attempts))
        .collect();
    assert_eq!(
        rows,
        [
            ("B1".to_string(), SendState::Sent, 1),
            ("B2".to_string(), SendState::Deferred, 3),
            ("B3".to_string(), SendState::Claimed, 0),
        ]
    );
    assert_eq!(
        l.booking_entries("B1").unwrap()[0].reply.as_deref(),
        Some("250 ok")
    );
    // The state beside it: a pause and its audit entry, a run and its history.
    assert!(l.set_paused("c", true, "Ana", now).unwrap());
    assert!(
        !l.set_paused("c", true, "Ana", now).unwrap(),
        "already paused"
    );
    assert_eq!(
        l.is_paused("c").unwrap().map(|p| p.by),
        Some("Ana".to_string())
    );
    assert_eq!(l.audit(10).unwrap().len(), 1);
    let id = l
        .run_started(tripmail::state::RunKind::Tick, now, now)
        .unwrap();
    assert_eq!(l.runs(5).unwrap()[0].id, id);
}

#[test]
fn pg_two_runners_never_hold_one_claim_and_a_dead_runners_lease_runs_out() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let a = PgLedger::open(&settings(&url, 5)).unwrap();
    let b = PgLedger::open(&settings(&url, 5)).unwrap();
    assert_ne!(a.runner(), b.runner());
    let now = t("2026-12-10T09:00:00Z");
    // Runner b's clock is 10 minutes ahead: the lease is the database's, not b's.
    let later = now + chrono::Duration::minutes(10);
    assert_eq!(
        a.claim("c", "X", "c.X@x", "x@x", now, now).unwrap(),
        Claim::New
    );
    assert_eq!(
        b.claim("c", "X", "c.X@x", "x@x", now, later).unwrap(),
        Claim::Done(SendState::Claimed),
        "held by a live runner"
    );
    assert!(b.claim_is_live("c", "X").unwrap());
    assert!(!a.claim_is_live("c", "X").unwrap(), "its own");
    // Renewed while a lives: still a's after its first lease.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        b.claim("c", "X", "c.X@x", "x@x", now, later).unwrap(),
        Claim::Done(SendState::Claimed)
    );
    // a dies (stops renewing): once its lease is over, b takes the email over, in doubt.
    drop(a);
    std::thread::sleep(Duration::from_secs(6));
    assert!(!b.claim_is_live("c", "X").unwrap());
    assert_eq!(
        b.claim("c", "X", "c.X@x", "x@x", now, later).unwrap(),
        Claim::InDoubt
    );
    assert_eq!(b.entries(None).unwrap()[0].takeovers, 1);
}

#[test]
fn pg_a_database_newer_than_the_binary_is_refused_and_an_unreachable_one_named_without_password() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    drop(PgLedger::open(&settings(&url, 60)).unwrap());
    cluster.psql(&url, "UPDATE tripmail_schema SET version = 99");
    let e = PgLedger::open(&settings(&url, 60)).err().expect("refused");
    let words = e.to_string();
    assert!(
        words.contains("schema is version 99, newer than this tripmail's"),
        "{words}"
    );

    let closed = crate::sandbox::free_port();
    let secret = "pw-Zq8-never-shown";
    let e = PgLedger::open(&settings(
        &format!("postgres://tm:{secret}@127.0.0.1:{closed}/tm"),
        60,
    ))
    .err()
    .expect("unreachable");
    let words = format!("{e} {e:?}");
    assert!(matches!(e, LedgerError::Postgres { .. }), "{words}");
    assert!(
        words.contains(&format!("postgres://tm@127.0.0.1:{closed}/tm")),
        "{words}"
    );
    assert!(!words.contains(secret), "{words}");
}

#[test]
fn pg_a_run_whose_database_cannot_be_reached_at_start_exits_2_naming_it_without_password() {
    let dir = tempfile::tempdir().unwrap();
    let closed = crate::sandbox::free_port();
    let url = format!("postgres://tm:pw-K2-not-shown@127.0.0.1:{closed}/tm");
    let state = format!("path = \"state/tripmail.sqlite\"\nurl = \"{url}\"");
    let cfg = crate::util::config_with(dir.path(), &[("path = \"state/tripmail.sqlite\"", &state)]);
    let o = crate::util::tripmail()
        .args([
            "run",
            "--now",
            crate::util::NOW,
            "--smtp",
            "smtp://127.0.0.1:9",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "ledger postgres://tm@127.0.0.1:{closed}/tm (state.url): "
        )),
        "{err}"
    );
    assert!(!err.contains("pw-K2-not-shown"), "{err}");
}

#[test]
fn pg_an_email_left_in_doubt_is_let_go_and_a_runner_records_only_its_own_claims() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let a = PgLedger::open(&settings(&url, 60)).unwrap();
    let b = PgLedger::open(&settings(&url, 60)).unwrap();
    let now = t("2026-12-10T09:00:00Z");
    // a's server answer was lost: a leaves the email in doubt, and b (alive beside it) may take
    // it over at once, as in doubt, without waiting for a lease.
    assert_eq!(
        a.claim("c", "D", "c.D@x", "d@x", now, now).unwrap(),
        Claim::New
    );
    a.finish("c", "D", SendState::Claimed, "no answer", 1, now)
        .unwrap();
    assert!(!b.claim_is_live("c", "D").unwrap());
    assert_eq!(
        b.claim("c", "D", "c.D@x", "d@x", now, now).unwrap(),
        Claim::InDoubt
    );
    // a, wrongly believing it still holds it, can neither give it back nor defer it over b's claim.
    a.release("c", "D", Claim::New).unwrap();
    assert_eq!(a.state("c", "D").unwrap(), Some(SendState::Claimed));
    a.finish("c", "D", SendState::Deferred, "451", 1, now)
        .unwrap();
    assert_eq!(
        a.state("c", "D").unwrap(),
        Some(SendState::Claimed),
        "still b's"
    );
    // A sent is recorded whoever holds the row: it was sent.
    b.finish("c", "D", SendState::Sent, "250 ok", 1, now)
        .unwrap();
    assert_eq!(a.state("c", "D").unwrap(), Some(SendState::Sent));
}
