//! Sending over SMTP: into a real MailDev on 127.0.0.1, and into the fault-injecting server, with the
//! send ledger keeping each email to one delivery across reruns, faults and `kill -9`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::sandbox::{header, FaultServer, Faults, MailDev};
use crate::util::{config_with, preview_cmd, root, send_cmd, stderr, tripmail, NOW};

/// The shipped campaign with fast retries, in `dir`, plus `replace` pairs.
fn config(dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    let mut pairs = vec![("retry_base_ms = 500", "retry_base_ms = 20")];
    pairs.extend_from_slice(replace);
    config_with(dir, &pairs)
}

fn send(dir: &Path, config: &Path, smtp: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let out = send_cmd(dir, config, smtp)
        .args(extra)
        .output()
        .expect("tripmail runs");
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report written");
    (out, serde_json::from_str(&text).expect("report is JSON"))
}

/// [`send`] with no extra arguments, asserting a clean run that sent all 33 due emails.
#[track_caller]
fn send_all(dir: &Path, config: &Path, smtp: &str) -> serde_json::Value {
    let (o, report) = send(dir, config, smtp, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(n(&report, "sent"), 33);
    report
}

/// The emails due at [`NOW`] for the shipped fixtures: (Message-ID without brackets) → (recipient,
/// subject), from a files-only run.
fn due_emails(dir: &Path) -> BTreeMap<String, (String, String)> {
    let out = dir.join("files");
    let o = crate::util::run_shipped(&out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    crate::util::report(&out)["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .map(|e| {
            let id = format!(
                "{}.{}@wanderly.example",
                e["campaign"].as_str().unwrap(),
                e["booking_id"].as_str().unwrap()
            );
            let to = e["to"].as_str().unwrap().to_string();
            (id, (to, e["subject"].as_str().unwrap().to_string()))
        })
        .collect()
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no number {key}: {v}"))
}

/// MailDev's emails by Message-ID (brackets removed), with how many times each arrived.
fn maildev_by_id(md: &MailDev) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut by_id: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for e in md.emails() {
        let source = md.source(e["id"].as_str().expect("id"));
        let id = header(&source, "Message-ID").expect("a Message-ID on every email");
        let mut e = e;
        e["source"] = serde_json::Value::String(source);
        by_id
            .entry(id.trim_matches(['<', '>']).to_string())
            .or_default()
            .push(e);
    }
    by_id
}

#[test]
fn maildev_receives_every_due_email_once_and_a_rerun_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let due = due_emails(dir.path());
    assert_eq!(due.len(), 33);
    let md = MailDev::start();
    let cfg = config(dir.path(), &[]);

    // Files and SMTP in the same run.
    let files = dir.path().join("sent-files");
    let files_arg = files.to_str().unwrap();
    let (o, report) = send(dir.path(), &cfg, &md.url(), &["--out", files_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(n(&report, "sent"), 33);
    assert_eq!(n(&report, "already_sent"), 0);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("33 sent"), "{stdout}");
    assert!(
        !stderr(&o).contains('\x1b'),
        "no progress bar when stderr is not a terminal"
    );
    let emls = ["confirmation", "reminder"]
        .iter()
        .flat_map(|c| std::fs::read_dir(files.join(c)).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert_eq!(emls, 33);
    assert_eq!(crate::util::report(&files)["sent"], 33);

    let got = maildev_by_id(&md);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        due.keys().collect::<Vec<_>>()
    );
    let secret = tripmail::config::Secret::new("wanderly-demo-unsubscribe-secret");
    for (id, copies) in &got {
        assert_eq!(copies.len(), 1, "{id} arrived {} times", copies.len());
        let e = &copies[0];
        let (to, subject) = &due[id];
        assert_eq!(e["to"][0]["address"].as_str(), Some(to.as_str()), "{id}");
        assert_eq!(e["subject"].as_str(), Some(subject.as_str()), "{id}");
        assert!(
            e["text"].as_str().is_some_and(|t| t.len() > 200),
            "{id}: text part"
        );
        assert!(
            e["html"].as_str().is_some_and(|h| h.contains("<table")),
            "{id}: html part"
        );
        let source = e["source"].as_str().unwrap();
        assert!(source.contains("multipart/alternative"), "{id}");
        let unsubscribe = header(source, "List-Unsubscribe");
        let post = header(source, "List-Unsubscribe-Post");
        if id.starts_with("reminder.") {
            let url = unsubscribe.unwrap_or_else(|| panic!("{id}: no List-Unsubscribe"));
            let url = url::Url::parse(url.trim_matches(['<', '>'])).expect("an URL");
            assert_eq!(url.scheme(), "https");
            let q: BTreeMap<_, _> = url.query_pairs().into_owned().collect();
            let booking = id
                .trim_start_matches("reminder.")
                .split('@')
                .next()
                .unwrap();
            assert_eq!(q["booking"], booking);
            assert_eq!(q["campaign"], "reminder");
            assert!(tripmail::unsubscribe::verify(
                &secret, "reminder", booking, &q["sig"]
            ));
            assert_eq!(post.as_deref(), Some("List-Unsubscribe=One-Click"), "{id}");
        } else {
            assert_eq!(unsubscribe, None, "{id}: confirmations are transactional");
            assert_eq!(post, None, "{id}");
        }
        assert!(header(source, "Date").is_some(), "{id}: Date");
    }

    // A second run on the same input sends nothing.
    let (o, report) = send(dir.path(), &cfg, &md.url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(n(&report, "sent"), 0);
    assert_eq!(n(&report, "already_sent"), 33);
    assert_eq!(
        n(&report, "engine_requests"),
        0,
        "nothing is composed for sent emails"
    );
    assert_eq!(md.emails().len(), 33);

    // The ledger lists the 33 as sent, with MailDev's reply.
    let o = tripmail()
        .args(["ledger", "--format", "json", "--state"])
        .arg(dir.path().join("ledger.sqlite"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = listed["sends"].as_array().unwrap();
    assert_eq!(rows.len(), 33);
    for r in rows {
        assert_eq!(r["state"], "sent");
        assert!(r["reply"].as_str().unwrap().starts_with("250"), "{r}");
        let id = format!(
            "{}.{}@wanderly.example",
            r["campaign"].as_str().unwrap(),
            r["booking_id"].as_str().unwrap()
        );
        assert_eq!(r["message_id"].as_str(), Some(id.as_str()));
        assert_eq!(r["recipient"].as_str(), Some(due[&id].0.as_str()));
    }
}

#[test]
fn non_ascii_names_and_subjects_are_encoded_in_the_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults::default());
    let cfg = config(dir.path(), &[]);
    let (o, _) = send(dir.path(), &cfg, &server.url(), &["--campaign", "reminder"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let accepted = server.accepted();
    assert!(!accepted.is_empty());
    let mut non_ascii = 0;
    for m in &accepted {
        let head = m.data.split("\r\n\r\n").next().unwrap();
        assert!(head.is_ascii(), "headers must be 7-bit: {head}");
        if head.contains("=?utf-8?") {
            non_ascii += 1;
        }
    }
    assert!(
        non_ascii > 5,
        "the fixtures have accented names and subjects"
    );
    // Python's email parser decodes them back to the text of the report.
    let zoe = accepted
        .iter()
        .find(|m| m.to == "zoe.hartley@example.com")
        .expect("Zoë's reminder");
    let py = std::process::Command::new("python3")
        .args(["-c", "import sys,email,email.policy;m=email.message_from_string(sys.stdin.read(),policy=email.policy.default);print(m['To']);print(m['Subject'])"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(zoe.data.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3 runs");
    let decoded = String::from_utf8_lossy(&py.stdout);
    assert!(
        decoded.contains("Zoë <zoe.hartley@example.com>"),
        "{decoded}"
    );
    assert!(
        decoded.contains("Your trip to Rome is tomorrow"),
        "{decoded}"
    );
}

#[test]
fn kill_9_mid_campaign_then_rerun_delivers_every_email_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let due = due_emails(dir.path());
    let md = MailDev::start();
    // Two emails a second, so that the campaign takes seconds and the kills land in the middle.
    let cfg = config(
        dir.path(),
        &[("# max_per_second = 50", "max_per_second = 2")],
    );
    let bin = assert_cmd::cargo::cargo_bin("tripmail");
    for kill_after in [4, 10] {
        let mut child = std::process::Command::new(&bin)
            .current_dir(root())
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .args(["--now", NOW, "--smtp", &md.url()])
            .arg("--state")
            .arg(dir.path().join("ledger.sqlite"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tripmail starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while md.count() < kill_after {
            assert!(Instant::now() < deadline, "MailDev got too few emails");
            std::thread::sleep(Duration::from_millis(2));
        }
        // Sends are 500 ms apart: 150 ms after one arrived, the runner is between two sends, its
        // next emails made and waiting for the rate limit, none claimed yet (an email is claimed
        // when its connection is ready). A kill inside an SMTP transaction is the crash tests'
        // (`crash.rs`).
        std::thread::sleep(Duration::from_millis(150));
        child.kill().expect("kill -9"); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert_eq!(status.code(), None, "killed by a signal, not finished");
        let got = md.count();
        assert!(
            got >= kill_after && got < due.len(),
            "killed mid-campaign: {got} of {}",
            due.len()
        );
    }
    let (o, report) = send(dir.path(), &cfg, &md.url(), &["--parallel", "8"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(n(&report, "already_sent") >= 10, "{report}");
    assert_eq!(
        n(&report, "sent") + n(&report, "already_sent"),
        33,
        "{report}"
    );
    // Killed between transactions, the runs left nothing in doubt: nothing to take over or hold.
    assert_eq!(n(&report, "resent_in_doubt"), 0, "{report}");
    assert_eq!(report["held_in_doubt"], serde_json::json!([]), "{report}");

    let got = maildev_by_id(&md);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        due.keys().collect::<Vec<_>>()
    );
    for (id, copies) in &got {
        assert_eq!(copies.len(), 1, "{id} arrived {} times", copies.len());
    }
}

#[test]
fn redirect_to_sends_everything_to_the_sandbox_address_and_leaves_the_ledger_alone() {
    let dir = tempfile::tempdir().unwrap();
    let due = due_emails(dir.path());
    let md = MailDev::start();
    let cfg = config(dir.path(), &[]);
    for round in 1..=2 {
        let (o, report) = send(
            dir.path(),
            &cfg,
            &md.url(),
            &["--redirect-to", "qa@wanderly.example"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(n(&report, "sent"), 33);
        assert_eq!(report["redirected_to"], "qa@wanderly.example");
        assert!(
            !dir.path().join("ledger.sqlite").exists(),
            "previews do not touch the ledger"
        );
        assert_eq!(
            md.emails().len(),
            33 * round,
            "previews may be repeated freely"
        );
    }
    let mut originals = BTreeSet::new();
    for e in md.emails() {
        assert_eq!(e["to"][0]["address"], "qa@wanderly.example");
        let source = md.source(e["id"].as_str().unwrap());
        let original = header(&source, "X-Tripmail-Original-To").expect("original recipient kept");
        let id = header(&source, "Message-ID").unwrap();
        let real = id.trim_matches(['<', '>']).split_once('.').unwrap().1;
        let (to, subject) = &due[real];
        assert_eq!(&original, to);
        assert_eq!(
            e["subject"].as_str(),
            Some(subject.as_str()),
            "subject unchanged"
        );
        originals.insert(original);
    }
    assert!(originals.len() > 20);
    // The real campaign afterwards sends all 33: the previews did not count as sends.
    md.clear();
    send_all(dir.path(), &cfg, &md.url());
    assert_eq!(md.emails().len(), 33);
}

#[test]
fn preview_sends_one_test_email_to_the_given_address() {
    let dir = tempfile::tempdir().unwrap();
    let md = MailDev::start();
    let o = preview_cmd("WT-100001", "reminder")
        .args(["--smtp", &md.url(), "--to", "me@wanderly.example"])
        .env("TRIPMAIL_STATE__PATH", dir.path().join("ledger.sqlite"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("sent a test of reminder for WT-100001 to me@wanderly.example"));
    let emails = md.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["to"][0]["address"], "me@wanderly.example");
    assert_eq!(emails[0]["subject"], "Your trip to Rome is tomorrow");
    let source = md.source(emails[0]["id"].as_str().unwrap());
    assert_eq!(
        header(&source, "X-Tripmail-Original-To").as_deref(),
        Some("zoe.hartley@example.com")
    );
    assert!(!dir.path().join("ledger.sqlite").exists());
}

#[test]
fn a_temporary_failure_is_retried_and_the_email_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        temp_fail: [1, 2, 7].into(),
        drop_at_mail: [5].into(),
        busy_connections: [1].into(),
        ..Faults::default()
    });
    let cfg = config(dir.path(), &[]);
    let report = send_all(dir.path(), &cfg, &server.url());
    // The dropped connection counts as a try only when it had been checked with a NOOP; one taken
    // without (put back within smtp.noop_after_ms) goes to another connection at once.
    assert!(
        n(&report, "retried") >= 4,
        "three 451s and a 421, and perhaps a dropped connection: {report}"
    );
    let accepted = server.accepted();
    let ids: BTreeSet<String> = accepted
        .iter()
        .map(|m| header(&m.data, "Message-ID").unwrap())
        .collect();
    assert_eq!(accepted.len(), 33, "each accepted once");
    assert_eq!(ids.len(), 33);
}

#[test]
fn a_permanent_rejection_fails_that_email_only_and_is_not_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let rejected = "zoe.hartley@example.com";
    let server = FaultServer::start(Faults {
        reject: [rejected.to_string()].into(),
        ..Faults::default()
    });
    let cfg = config(dir.path(), &[]);
    let (o, report) = send(dir.path(), &cfg, &server.url(), &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed email is a problem: {}",
        stderr(&o)
    );
    let failed = report["failed"].as_array().unwrap();
    assert!(!failed.is_empty());
    for f in failed {
        assert!(f["reason"].as_str().unwrap().contains("550"), "{f}");
    }
    let accepted = server.accepted();
    assert_eq!(accepted.len() + failed.len(), 33);
    assert!(accepted.iter().all(|m| m.to != rejected));
    assert!(stderr(&o).contains("550"), "{}", stderr(&o));

    // The ledger says failed, with the reply; a rerun does not try it again.
    let ledger = |only: &str| {
        let o = tripmail()
            .args(["ledger", "--only", only, "--state"])
            .arg(dir.path().join("ledger.sqlite"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let listing = ledger("failed");
    assert!(
        listing.contains(rejected) && listing.contains("550"),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("0 sent, {} failed, 0 pending", failed.len())),
        "{listing}"
    );
    let (o, report) = send(dir.path(), &cfg, &server.url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(n(&report, "previously_failed"), failed.len() as u64);
    assert_eq!(n(&report, "already_sent"), accepted.len() as u64);
    assert_eq!(server.accepted().len(), accepted.len());
}

#[test]
fn a_server_that_stays_down_stops_the_run_and_the_next_run_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::sandbox::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let cfg = config(dir.path(), &[("attempts = 5", "attempts = 3")]);
    let (o, report) = send(dir.path(), &cfg, &url, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "SMTP server smtp://127.0.0.1:{port} unavailable (3 tries)"
        )),
        "{err}"
    );
    assert!(err.contains("kept for the next run"), "{err}");
    assert_eq!(n(&report, "sent"), 0);
    assert_eq!(
        n(&report, "deferred") + n(&report, "not_attempted"),
        33,
        "{report}"
    );
    assert!(report["stopped"].as_str().is_some());

    // The server comes back on the same port: the next run sends all 33, once.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("port still free");
    let server = FaultServer::serve(listener, Faults::default());
    send_all(dir.path(), &cfg, &url);
    assert_eq!(server.accepted().len(), 33);
}

#[test]
fn smtp_credentials_are_used_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let password = "pw-Sup3rS3cret";
    let server = FaultServer::start(Faults {
        login: Some(("mailer".into(), password.into())),
        ..Faults::default()
    });
    let cfg = config(dir.path(), &[]);
    // Right login from the environment: sent.
    let o = send_cmd(dir.path(), &cfg, &server.url())
        .args(["--campaign", "confirmation"])
        .env("TRIPMAIL_SMTP__USERNAME", "mailer")
        .env("TRIPMAIL_SMTP__PASSWORD", password)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!server.accepted().is_empty());
    // Wrong password in the URL: the run stops at once, nothing recorded as failed.
    let bad = format!("smtp://mailer:{password}-wrong@127.0.0.1:{}", server.port);
    let dir2 = tempfile::tempdir().unwrap();
    let (o2, report) = send(dir2.path(), &cfg, &bad, &["--campaign", "confirmation"]);
    let err = stderr(&o2);
    assert_eq!(o2.status.code(), Some(1), "{err}");
    assert!(err.contains("535"), "{err}");
    assert_eq!(n(&report, "sent"), 0);
    assert!(report["failed"].as_array().unwrap().is_empty());
    for text in [
        stderr(&o),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        err,
        String::from_utf8_lossy(&o2.stdout).into_owned(),
        report.to_string(),
    ] {
        assert!(!text.contains(password), "secret leaked: {text}");
    }
}

#[test]
fn a_second_runner_on_the_same_ledger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let _held = tripmail::ledger::Ledger::open(&path).expect("first runner");
    let server = FaultServer::start(Faults::default());
    let cfg = config(dir.path(), &[]);
    let o = send_cmd(dir.path(), &cfg, &server.url()).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another tripmail run"), "{err}");
    assert!(server.accepted().is_empty());
}

#[test]
fn a_reply_lost_after_the_data_leaves_the_email_in_doubt_not_resent_in_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // Message 3 is kept by the server but the connection drops before its reply; message 6 is
    // dropped before the server keeps it. Neither is sent again in this run.
    let server = FaultServer::start(Faults {
        accept_then_drop: [3].into(),
        drop_after_data: [6].into(),
        ..Faults::default()
    });
    let cfg = config(dir.path(), &[]);
    let (o, report) = send(dir.path(), &cfg, &server.url(), &["--parallel", "1"]);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "in-doubt emails need attention: {err}"
    );
    let in_doubt = report["in_doubt"].as_array().unwrap();
    assert_eq!(in_doubt.len(), 2, "{report}");
    assert_eq!(n(&report, "sent"), 31);
    assert_eq!(err.matches("tripmail: in doubt").count(), 2, "{err}");
    let ids: Vec<String> = server
        .accepted()
        .iter()
        .map(|m| header(&m.data, "Message-ID").unwrap())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        ids.len(),
        32,
        "31 sent + the one kept before the lost reply"
    );
    assert_eq!(unique.len(), 32, "nothing sent twice in the run");
    let listing = tripmail()
        .args(["ledger", "--only", "pending", "--state"])
        .arg(dir.path().join("ledger.sqlite"))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("2 pending (2 claimed, 0 deferred)"),
        "{listing}"
    );
    assert_eq!(listing.matches("in doubt:").count(), 2, "{listing}");
}

#[test]
fn a_refused_sender_stops_the_run_without_failing_any_email() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        reject_sender: true,
        ..Faults::default()
    });
    let cfg = config(dir.path(), &[]);
    let (o, report) = send(dir.path(), &cfg, &server.url(), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("sender refused"), "{err}");
    assert!(report["failed"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(n(&report, "previously_failed"), 0);
    assert_eq!(
        n(&report, "deferred") + n(&report, "not_attempted"),
        33,
        "{report}"
    );
    // Fixed (a normal server on the same ledger): everything goes.
    let server = FaultServer::start(Faults::default());
    send_all(dir.path(), &cfg, &server.url());
}

#[test]
fn a_booking_listed_twice_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("fixtures/bookings.csv")).unwrap();
    let first_row = text.lines().nth(1).unwrap();
    let doubled = format!("{text}{first_row}\n");
    let bookings = dir.path().join("bookings.csv");
    std::fs::write(&bookings, doubled).unwrap();
    let server = FaultServer::start(Faults::default());
    let cfg = config(dir.path(), &[]);
    let (o, report) = send(
        dir.path(),
        &cfg,
        &server.url(),
        &["--bookings", bookings.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(n(&report, "due"), 34);
    assert_eq!(n(&report, "sent"), 33);
    assert_eq!(n(&report, "already_sent"), 1);
    assert_eq!(server.accepted().len(), 33);
}

#[test]
fn a_password_from_the_environment_stays_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        login: Some(("mailer".into(), "007".into())),
        ..Faults::default()
    });
    let cfg = config(dir.path(), &[]);
    let o = send_cmd(dir.path(), &cfg, &server.url())
        .args(["--campaign", "confirmation"])
        .env("TRIPMAIL_SMTP__USERNAME", "mailer")
        .env("TRIPMAIL_SMTP__PASSWORD", "007")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "\"007\" must not become 7: {}",
        stderr(&o)
    );
    assert!(!server.accepted().is_empty());
}
