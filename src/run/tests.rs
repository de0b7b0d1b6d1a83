//! The ledger's states for every outcome a transport can report, driven through a scripted
//! transport and a real SQLite ledger: no socket.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::produce::Produced;
use super::send::One;
use super::RunOptions;
use crate::compose::Composed;
use crate::deliver::{OutgoingEmail, Script, ScriptedTransport};
use crate::ledger::{Claim, Ledger, SendLedger, SendState};
use crate::render::EmailContent;
use crate::report::EmailRecord;
use crate::state::{PauseWatch, StateDb};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn clock() -> DateTime<Utc> {
    t("2026-12-10T09:00:01Z")
}

fn opts() -> RunOptions {
    RunOptions {
        now: t("2026-12-10T09:00:00Z"),
        campaign: None,
        parallel: 1,
        redirect_to: None,
        clock,
        cancel: None,
        next_ticks: None,
        dry_run: false,
        straight: false,
        keep_records: true,
    }
}

fn composed(booking_id: &str) -> Composed {
    let from: lettre::message::Mailbox = "Wanderly <trips@wanderly.example>".parse().unwrap();
    let to: lettre::message::Mailbox = "ana@example.com".parse().unwrap();
    let email = OutgoingEmail {
        campaign: "reminder".into(),
        booking_id: booking_id.into(),
        message_id: OutgoingEmail::message_id_for("reminder", booking_id, &from),
        from,
        to,
        subject: "Your trip".into(),
        date: t("2026-12-10T09:00:00Z"),
        html: "<p>hi</p>".into(),
        text: "hi".into(),
        list_unsubscribe: None,
        original_to: None,
        calendar: None,
    };
    let record = EmailRecord {
        campaign: "reminder".into(),
        booking_id: booking_id.into(),
        to: "ana@example.com".into(),
        subject: "Your trip".into(),
        provider: crate::config::Provider::Tiqets,
        items: Vec::new(),
        rules: Vec::new(),
        without_block: None,
        engine_error: None,
        item_titles: Vec::new(),
    };
    let content = EmailContent {
        subject: email.subject.clone(),
        preheader: String::new(),
        mjml: String::new(),
        html: String::new(),
        text: String::new(),
    };
    Composed {
        email,
        content,
        record,
        engine_transient: false,
        why: Vec::new(),
    }
}

/// Sends booking `id` once through `transport` on `ledger`.
async fn send(ledger: &Arc<Ledger>, transport: &ScriptedTransport, id: &str) -> Produced {
    send_paused(ledger, transport, id, &PauseWatch::none()).await
}

/// [`send`], with the campaigns `pauses` says are paused.
async fn send_paused(
    ledger: &Arc<Ledger>,
    transport: &ScriptedTransport,
    id: &str,
    pauses: &PauseWatch,
) -> Produced {
    let opts = opts();
    let one = One {
        ledger: Some(Arc::clone(ledger) as Arc<dyn crate::ledger::SendLedger>),
        key: ("reminder", id),
        message_id: format!("reminder.{id}@wanderly.example"),
        recipient: "ana@example.com".into(),
        opts: &opts,
        pauses,
    };
    match one.send(transport, composed(id), Vec::new()).await {
        Ok(p) => p,
        Err(_) => panic!("the ledger stopped the run"),
    }
}

fn row(ledger: &Ledger, id: &str) -> Option<crate::ledger::Entry> {
    let entries = ledger.entries(Some("reminder")).unwrap();
    entries.into_iter().find(|e| e.booking_id == id)
}

#[tokio::test]
async fn each_outcome_a_transport_reports_is_recorded_as_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&dir.path().join("ledger.db")).unwrap());
    let cases = [
        (
            Script::Accept,
            Some((SendState::Sent, "250 2.0.0 Ok: queued", 1)),
        ),
        (
            Script::Reject,
            Some((SendState::Failed, "550 5.1.1 no such user", 1)),
        ),
        (
            Script::Defer,
            Some((SendState::Deferred, "451 4.3.0 try again later", 3)),
        ),
        (
            Script::InDoubt,
            Some((
                SendState::Claimed,
                "in doubt: no answer within the timeout (Message)",
                1,
            )),
        ),
        (
            Script::Unavailable,
            Some((
                SendState::Deferred,
                "cannot connect: Connection refused (os error 111)",
                3,
            )),
        ),
        (Script::Stop, None),
        (
            Script::StopAfterTries,
            Some((
                SendState::Deferred,
                "not sent: the run was asked to stop",
                2,
            )),
        ),
    ];
    let transport = ScriptedTransport::new(cases.iter().map(|(s, _)| *s));
    for (i, (script, want)) in cases.iter().enumerate() {
        let id = format!("WT-{i}");
        let produced = send(&ledger, &transport, &id).await;
        let got = row(&ledger, &id).map(|e| (e.state, e.reply.unwrap_or_default(), e.attempts));
        let want = want.map(|(s, r, a)| (s, r.to_string(), a));
        assert_eq!(got, want, "{script:?}");
        let fits = match script {
            Script::Accept => matches!(
                produced,
                Produced::Sent {
                    in_doubt: false,
                    ..
                }
            ),
            Script::Reject => {
                matches!(&produced, Produced::Failed(r) if r.starts_with("rejected: 550"))
            }
            Script::Defer => matches!(produced, Produced::Deferred { stop: None, .. }),
            Script::InDoubt => {
                matches!(&produced, Produced::InDoubt(r) if r.starts_with("in doubt: "))
            }
            Script::Unavailable => matches!(produced, Produced::Deferred { stop: Some(_), .. }),
            Script::Stop | Script::StopAfterTries => matches!(produced, Produced::Interrupted),
        };
        assert!(fits, "{script:?}");
    }
    // Unavailable and Stop never reached the point where the claim is made.
    assert_eq!(transport.asked(), 5);
}

#[tokio::test]
async fn a_sent_email_is_not_sent_again_and_one_left_claimed_by_a_dead_run_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    {
        // A run that died after its claim.
        let dead = Ledger::open(&path).unwrap();
        let at = t("2026-12-10T08:00:00Z");
        let claim = dead.claim("reminder", "WT-2", "m", "ana@example.com", at, at);
        assert!(matches!(claim, Ok(Claim::New)));
    }
    let ledger = Arc::new(Ledger::open(&path).unwrap());
    let transport = ScriptedTransport::new([]);
    assert!(matches!(
        send(&ledger, &transport, "WT-1").await,
        Produced::Sent { .. }
    ));
    let again = send(&ledger, &transport, "WT-1").await;
    assert!(
        matches!(again, Produced::AlreadyDone(SendState::Sent)),
        "sent twice"
    );
    assert_eq!(transport.accepted().len(), 1);
    let taken = send(&ledger, &transport, "WT-2").await;
    assert!(matches!(taken, Produced::Sent { in_doubt: true, .. }));
    assert_eq!(
        row(&ledger, "WT-2").map(|e| (e.state, e.takeovers)),
        Some((SendState::Sent, 1))
    );
}

#[tokio::test]
async fn a_pause_written_by_another_connection_during_the_run_stops_the_next_claim() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Arc::new(Ledger::open(&path).unwrap());
    let state = Arc::new(StateDb::open(&path).unwrap());
    let pauses = PauseWatch::watching(state).unwrap();
    let transport = ScriptedTransport::new([]);
    assert!(matches!(
        send_paused(&ledger, &transport, "B1", &pauses).await,
        Produced::Sent { .. }
    ));
    // Another process (the console, `tripmail pause`) pauses the campaign while the run goes.
    let other = StateDb::open(&path).unwrap();
    let at = crate::ledger::sqlite::t("2026-12-10T09:00:00Z");
    assert!(other.set_paused("reminder", true, "ana", at).unwrap());
    tokio::time::sleep(PauseWatch::REFRESH + std::time::Duration::from_millis(50)).await;
    match send_paused(&ledger, &transport, "B2", &pauses).await {
        Produced::Paused(p) => {
            assert_eq!((p.campaign.as_str(), p.by.as_str()), ("reminder", "ana"))
        }
        _ => panic!("B2 should not have been claimed"),
    }
    assert!(row(&ledger, "B2").is_none(), "nothing claimed for B2");
    assert_eq!(transport.accepted().len(), 1, "only B1 was sent");
}
