//! SMTP pipelining (RFC 2920) against the fault-injecting server on 127.0.0.1: the envelope of
//! every email goes in one write when the server offers PIPELINING and one command at a time when
//! it does not; a recipient refused inside a group fails that email only; a connection dropped
//! between the group and the message, or refusing more messages, costs the email no try and sends
//! nothing twice; connections are closed after `smtp.max_messages_per_connection`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::crash::copies;
use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, send_cmd, stderr};

/// A run of the shipped campaign (33 due emails) into `server` with one connection and one try
/// (so that a try counted shows as a failure), plus `smtp` settings: its exit code and report.
fn run(dir: &Path, server: &FaultServer, smtp: &str) -> (Option<i32>, serde_json::Value) {
    let settings = format!("max_connections = 1\n{smtp}");
    let cfg = config_with(
        dir,
        &[
            ("max_connections = 4", settings.as_str()),
            ("attempts = 5", "attempts = 1"),
        ],
    );
    let o = send_cmd(dir, &cfg, &server.url())
        .output()
        .expect("tripmail runs");
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|_| panic!("no report: {}", stderr(&o)));
    (o.status.code(), serde_json::from_str(&text).expect("JSON"))
}

/// Every email accepted once, none retried.
#[track_caller]
fn all_sent_once(code: Option<i32>, report: &serde_json::Value, server: &FaultServer) {
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["sent"], 33, "{report}");
    assert_eq!(report["retried"], 0, "{report}");
    let copies = copies(server);
    assert_eq!(copies.len(), 33);
    assert!(copies.values().all(|&n| n == 1), "an email twice");
}

#[test]
fn each_envelope_goes_in_one_write_when_the_server_offers_pipelining() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults::default());
    let (code, report) = run(dir.path(), &server, "");
    all_sent_once(code, &report, &server);
    assert_eq!((server.mails(), server.pipelined()), (33, 33));
}

#[test]
fn a_server_without_pipelining_gets_one_command_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults {
        no_pipelining: true,
        ..Faults::default()
    });
    let (code, report) = run(dir.path(), &server, "");
    all_sent_once(code, &report, &server);
    assert_eq!((server.mails(), server.pipelined()), (33, 0));
    // And `smtp.pipelining = false` does the same with a server that offers it.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults::default());
    let (code, report) = run(dir.path(), &server, "pipelining = false");
    all_sent_once(code, &report, &server);
    assert_eq!((server.mails(), server.pipelined()), (33, 0));
}

/// A recipient refused inside a group, by a server that then refuses DATA (as RFC 2920 asks) or
/// one that answers 354 all the same (then it gets a lone dot): that email fails with the 550,
/// the others go on the same connection, and the refused address gets nothing.
#[test]
fn a_recipient_refused_inside_a_pipelined_group_fails_that_email_only() {
    let refused = "zoe.hartley@example.com";
    for data_without_recipients in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = FaultServer::start(Faults {
            reject: [refused.to_string()].into(),
            data_without_recipients,
            ..Faults::default()
        });
        let (code, report) = run(dir.path(), &server, "");
        assert_eq!(code, Some(1), "a failed email: {report}");
        let failed = report["failed"].as_array().expect("failed");
        assert!(!failed.is_empty(), "{report}");
        for f in failed {
            let reason = f["reason"].as_str().expect("reason");
            assert!(reason.contains("550") && reason.contains(refused), "{f}");
        }
        let accepted = server.accepted();
        assert_eq!(accepted.len() + failed.len(), 33, "{report}");
        assert!(accepted.iter().all(|m| m.to != refused));
        assert_eq!(report["retried"], 0, "{report}");
        assert_eq!(server.pipelined(), 33);
        // The connection stayed in step: one connection for all 33.
        assert_eq!(server.connections(), 1, "{data_without_recipients}");
    }
}

/// The server closes the connection after reading the third group, without a reply: the email
/// goes on a new connection, not counted as a try (one try allowed), sent once.
#[test]
fn a_connection_dropped_after_the_pipelined_commands_costs_no_try() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults {
        drop_after_group: [3].into(),
        ..Faults::default()
    });
    let (code, report) = run(dir.path(), &server, "");
    all_sent_once(code, &report, &server);
    assert_eq!(server.connections(), 2);
}

/// The server answers a group (250, 250, 354) and closes the connection before the message, five
/// times: nothing of those emails reached it. Seen closed before the message goes, the email goes
/// on a new connection without counting a try. Should a close come after the look (the server's
/// thread paused between its reply and its close), the message meets a closed connection and
/// that email is in doubt: then it was not delivered, and is not sent again. The look is what
/// sends them: at least one of the five is sent (without it, all five would be in doubt).
#[test]
fn a_connection_dropped_between_the_pipelined_commands_and_the_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults {
        drop_after_354: [3, 9, 15, 21, 27].into(),
        ..Faults::default()
    });
    let (_, report) = run(dir.path(), &server, "");
    let in_doubt = report["in_doubt"].as_array().expect("in_doubt").len();
    assert!(
        in_doubt < 5,
        "none seen closed before the message: {report}"
    );
    assert_eq!(report["sent"], 33 - in_doubt, "{report}");
    assert_eq!(report["retried"], 0, "{report}");
    let copies = copies(&server);
    assert_eq!(
        copies.len(),
        33 - in_doubt,
        "an email in doubt was delivered"
    );
    assert!(copies.values().all(|&n| n == 1), "an email twice");
}

#[test]
fn a_connection_is_closed_after_max_messages_per_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults::default());
    let (code, report) = run(dir.path(), &server, "max_messages_per_connection = 5");
    all_sent_once(code, &report, &server);
    // 33 messages, 5 a connection: 7 connections, each closed with QUIT.
    assert_eq!((server.connections(), server.quits()), (7, 7));
    let mut per_connection: BTreeMap<usize, usize> = BTreeMap::new();
    for m in server.accepted() {
        *per_connection.entry(m.connection).or_default() += 1;
    }
    assert!(
        per_connection.values().all(|&n| n <= 5),
        "{per_connection:?}"
    );
}

/// A relay that answers `421` to the eleventh MAIL of a connection and closes it: the email goes
/// on a new connection without counting a try.
#[test]
fn a_relay_that_caps_messages_per_connection_costs_no_try() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start(Faults {
        refuse_at_connection_messages: Some(10),
        ..Faults::default()
    });
    let (code, report) = run(dir.path(), &server, "");
    all_sent_once(code, &report, &server);
    assert_eq!(server.connections(), 4);
}
