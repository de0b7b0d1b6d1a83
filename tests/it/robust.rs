//! One bad email never stops a run: a panic while composing, writing or sending one email fails that
//! email alone with the ledger consistent; broken templates stop the run before its first email;
//! files are written whole and never through a symlink; limits and warnings of `run`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use futures::future::BoxFuture;
use lettre::message::Mailbox;
use tripmail::config::{Overrides, Settings, SmtpUrl};
use tripmail::deliver::{Delivery, DeliveryError, OutgoingEmail, SendFailure, SmtpDelivery};
use tripmail::ledger::{Ledger, SendLedger, SendState};
use tripmail::report::Report;
use tripmail::run::{Campaigns, Outputs, RunOptions, Sending};

use crate::sandbox::{FaultServer, Faults};
use crate::util::{
    config_with, fails_with, root, run_shipped_cmd, stderr, templates_with, tripmail, NOW,
};

/// The shipped bookings with `WT-100001`'s first name (a reminder is due for it) holding a line
/// break and a header, as a CSV quoted field may.
fn bookings_with_crlf_name(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("fixtures/bookings.csv")).unwrap();
    let row = "WT-100001,zoe.hartley@example.com,Zoë,";
    assert!(text.contains(row));
    let text = text.replacen(
        row,
        "WT-100001,zoe.hartley@example.com,\"Zoe\r\nBcc: victim@evil.example\",",
        1,
    );
    let path = dir.join("bookings.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// `tripmail run` of the shipped campaign at [`NOW`] over SMTP, with its ledger in `dir`.
fn send(dir: &Path, smtp: &str, extra: &[&str]) -> Output {
    let cfg = config_with(dir, &[("retry_base_ms = 500", "retry_base_ms = 20")]);
    tripmail()
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .args(["--now", NOW, "--smtp", smtp])
        .arg("--state")
        .arg(dir.join("ledger.sqlite"))
        .args(extra)
        .output()
        .unwrap()
}

/// Files deliveries that panic for one booking, as a bug in a delivery would.
struct PanicsFor(&'static str);

impl Delivery for PanicsFor {
    fn deliver<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            if email.booking_id == self.0 {
                panic!("test double: cannot deliver {}", email.booking_id);
            }
            Ok(())
        })
    }
}

/// Two runs of the shipped campaign through the library, at [`NOW`], writing review copies to
/// `files` and sending to `server` with a ledger in `dir`.
fn run_twice(dir: &Path, files: &dyn Delivery, server: &FaultServer) -> (Report, Report, Ledger) {
    crate::util::runtime().block_on(async {
        let overrides = Overrides {
            bookings_path: Some(root().join("fixtures/bookings.csv")),
            catalog: Some(root().join("fixtures/catalog.json")),
            ..Overrides::default()
        };
        let config = root().join("fixtures/campaign.toml");
        let mut settings = Settings::load_with_env(&config, &overrides, Vec::new()).unwrap();
        settings.templates.dir = root().join("templates");
        let smtp =
            SmtpDelivery::new(&SmtpUrl::parse(&server.url()).unwrap(), &settings.smtp).unwrap();
        let ledger = Arc::new(Ledger::open(&dir.join("ledger.sqlite")).unwrap());
        let campaigns = Campaigns::start(settings).await.unwrap();
        let opts = RunOptions {
            now: NOW.parse().unwrap(),
            campaign: None,
            parallel: 8,
            redirect_to: None,
            clock: || chrono::DateTime::UNIX_EPOCH,
            cancel: None,
            next_ticks: None,
            dry_run: false,
            straight: false,
            keep_records: true,
        };
        let mut reports = Vec::new();
        for _ in 0..2 {
            ledger.begin_run();
            let out = Outputs {
                files: Some(files),
                send: Some(Sending {
                    transport: &smtp,
                    ledger: Some(ledger.clone()),
                }),
                progress: None,
            };
            reports.push(campaigns.run(&opts, &out).await.unwrap());
        }
        let second = reports.pop().unwrap();
        let first = reports.pop().unwrap();
        drop(campaigns);
        let ledger = Arc::try_unwrap(ledger).unwrap_or_else(|_| panic!("ledger still shared"));
        (first, second, ledger)
    })
}

#[test]
fn a_panic_delivering_one_email_fails_it_alone_and_the_ledger_finishes_it_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults::default());
    let (first, second, ledger) = run_twice(dir.path(), &PanicsFor("WT-100001"), &server);

    assert_eq!(first.failed.len(), 1, "{:?}", first.failed);
    let failed = &first.failed[0];
    assert_eq!(
        (failed.campaign.as_str(), failed.booking_id.as_str()),
        ("reminder", "WT-100001")
    );
    assert!(
        failed.reason.contains("a bug; please report it")
            && failed
                .reason
                .contains("test double: cannot deliver WT-100001"),
        "{}",
        failed.reason
    );
    assert_eq!(first.sent, 32);
    assert_eq!(server.accepted().len(), 32);
    assert!(first.has_problems());
    assert_eq!(
        ledger.state("reminder", "WT-100001").unwrap(),
        Some(SendState::Failed)
    );
    let pending = ledger
        .entries(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.state == SendState::Claimed)
        .count();
    assert_eq!(pending, 0, "no claim is left behind");

    // The rerun neither sends again nor meets the panic again.
    assert_eq!(second.sent, 0);
    assert_eq!(second.previously_failed, 1);
    assert!(second.failed.is_empty(), "{:?}", second.failed);
    assert_eq!(server.accepted().len(), 32);
}

#[test]
fn a_message_lettre_cannot_build_is_an_error_that_asks_for_a_report_not_a_panic() {
    // Past the bookings reader (which refuses such a name): straight into the message builder and
    // the SMTP sender.
    let email = OutgoingEmail {
        campaign: "reminder".into(),
        booking_id: "WT-1".into(),
        from: "Wanderly <trips@wanderly.example>".parse().unwrap(),
        to: Mailbox::new(
            Some("Zoe\r\nBcc: victim@evil.example".into()),
            "zoe@example.com".parse().unwrap(),
        ),
        subject: "Your trip".into(),
        message_id: "reminder.WT-1@wanderly.example".into(),
        date: NOW.parse().unwrap(),
        html: "<p>hi</p>".into(),
        text: "hi".into(),
        list_unsubscribe: None,
        original_to: None,
        calendar: None,
    };
    let err = email.to_mime().expect_err("no message with that header");
    assert!(err.to_string().contains("a bug; please report it"), "{err}");

    let server = FaultServer::start(Faults::default());
    let settings = Settings::load_with_env(
        &root().join("fixtures/campaign.toml"),
        &Overrides::default(),
        Vec::new(),
    )
    .unwrap();
    let smtp = SmtpDelivery::new(&SmtpUrl::parse(&server.url()).unwrap(), &settings.smtp).unwrap();
    let sent = crate::util::runtime().block_on(smtp.send(&email));
    assert!(
        matches!(&sent, Err(SendFailure::Unsendable(why)) if why.contains("a bug")),
        "{sent:?}"
    );
    assert!(server.accepted().is_empty());
    assert!(!server.transcript().iter().any(|c| c.starts_with("DATA")));
}

#[test]
fn a_line_break_in_a_first_name_fails_or_skips_that_email_only_and_a_rerun_sends_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let bookings = bookings_with_crlf_name(dir.path());
    let server = FaultServer::start(Faults::default());
    let with_bookings = ["--bookings", bookings.to_str().unwrap()];

    let o = send(dir.path(), &server.url(), &with_bookings);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("WT-100001"),
        "the email or row is reported: {err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("32 sent"));
    assert_eq!(server.accepted().len(), 32);
    assert!(server
        .accepted()
        .iter()
        .all(|m| !m.data.contains("victim@evil.example")));

    let o = send(dir.path(), &server.url(), &with_bookings);
    assert_ne!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("0 sent"));
    assert_eq!(server.accepted().len(), 32, "the rerun sends nothing more");

    // Nor does a preview of it end in a panic.
    let o = tripmail()
        .args([
            "preview",
            "--config",
            "fixtures/campaign.toml",
            "--now",
            NOW,
        ])
        .arg("--bookings")
        .arg(&bookings)
        .args(["--booking", "WT-100001", "--campaign", "reminder"])
        .args(["--format", "eml"])
        .output()
        .unwrap();
    fails_with(&o, "WT-100001");
}

/// A copy of the shipped templates in `dir` with `edit` applied to the file `name`, and a config
/// using them.
fn config_with_edited(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let target = templates_with(dir, name, |text| {
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit applies");
        edited
    });
    let dir_line = format!("dir = {:?}", target.display().to_string());
    config_with(dir, &[("dir = \"templates\"", &dir_line)])
}

/// `run` with `config` into `dir/out` stops with exit 2 naming `needle`, having written no email.
#[track_caller]
fn stops_before_the_first_email(dir: &Path, config: &Path, needle: &str) {
    let out = dir.join("out");
    let o = tripmail()
        .arg("run")
        .arg("--config")
        .arg(config)
        .args(["--now", NOW, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    fails_with(&o, needle);
    let written = walk(&out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .count();
    assert_eq!(written, 0, "no email written");
}

#[test]
fn an_undefined_template_variable_stops_the_run_before_the_first_email() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_edited(dir.path(), "reminder.mjml.tera", |t| {
        t.replacen("{{ t.reminder_heading }}", "{{ nope }}", 1)
    });
    stops_before_the_first_email(dir.path(), &cfg, "reminder.mjml.tera");
    stops_before_the_first_email(dir.path(), &cfg, "`nope`");
}

#[test]
fn an_unknown_fluent_variable_in_one_locale_stops_the_run_before_the_first_email() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_edited(dir.path(), "i18n/de.ftl", |t| {
        t.replacen(
            "reminder-preheader = ",
            "reminder-preheader = { $nope } ",
            1,
        )
    });
    stops_before_the_first_email(dir.path(), &cfg, "de.ftl: message `reminder-preheader`");
}

/// Every file under `dir`, recursively (symlinks not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[cfg(unix)]
#[test]
fn symlinks_planted_at_output_files_are_replaced_and_their_targets_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("reminder")).unwrap();
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    for name in [
        "reminder/WT-100001.eml",
        "reminder/WT-100001.html",
        "report.json",
    ] {
        std::os::unix::fs::symlink(&precious, out.join(name)).unwrap();
    }

    let o = run_shipped_cmd(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    for name in [
        "reminder/WT-100001.eml",
        "reminder/WT-100001.html",
        "report.json",
    ] {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is a file of its own now");
    }
    assert!(std::fs::read_to_string(out.join("reminder/WT-100001.eml"))
        .unwrap()
        .contains("Message-ID: <reminder.WT-100001@wanderly.example>"));
}

#[cfg(unix)]
#[test]
fn a_campaign_folder_that_is_a_symlink_is_refused_and_nothing_is_written_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("reminder")).unwrap();

    let o = run_shipped_cmd(&out).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is a symlink"), "{err}");
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "nothing written through the link"
    );
    // The other campaign's emails are written.
    assert!(out.join("confirmation/WT-100015.eml").is_file());
}

#[cfg(unix)]
#[test]
fn a_write_that_fails_midway_leaves_no_partial_file_and_fails_those_emails_only() {
    // A file size limit of 24 KiB (as a nearly full disk would): the emails' .eml files (~26 KB)
    // cannot be written whole, their .html files (~22 KB) can. SIGXFSZ is ignored, so that the
    // write fails (EFBIG) instead of killing the process.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("tripmail");
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" run --config fixtures/campaign.toml --now {NOW} --out \"$1\"",
        blocks = 24 * 1024 / 512,
    );
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&bin)
        .arg(&out)
        .current_dir(root())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert_ne!(o.status.code(), Some(101), "{err}");
    assert!(err.contains("cannot write"), "{err}");
    let files = walk(&out);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "a temporary file is left: {name}");
        let text = std::fs::read_to_string(f).unwrap();
        if name.ends_with(".eml") {
            assert!(
                text.trim_end().ends_with("--"),
                "{name} ends with its closing boundary"
            );
        }
        if name == "report.json" {
            serde_json::from_str::<serde_json::Value>(&text).expect("report.json is whole");
        }
        if name.ends_with(".html") && name != "index.html" {
            assert!(text.trim_end().ends_with("</html>"), "{name} is whole");
        }
    }
}

#[test]
fn parallel_is_bounded_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["0", "100000000"] {
        let o = run_shipped_cmd(&dir.path().join("out"))
            .args(["--parallel", n])
            .output()
            .unwrap();
        fails_with(&o, "is not in 1..=1024");
    }
    let o = run_shipped_cmd(&dir.path().join("out"))
        .args(["--parallel", "1024"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn sending_for_real_with_the_demo_unsubscribe_secret_warns_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults::default());
    let o = send(dir.path(), &server.url(), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: links.unsubscribe_secret is the demo secret")
            && err.contains("TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET"),
        "{err}"
    );
    assert!(!err.contains("wanderly-demo-unsubscribe-secret"), "{err}");

    // Not for a secret of one's own, nor for runs that send nobody anything for real.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), &[]);
    let own = tripmail()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .args(["--now", NOW, "--smtp", &server.url()])
        .arg("--state")
        .arg(dir.path().join("ledger.sqlite"))
        .env("TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET", "a-secret-of-our-own")
        .output()
        .unwrap();
    let redirected = tripmail()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .args(["--now", NOW, "--smtp", &server.url()])
        .args(["--redirect-to", "qa@wanderly.example"])
        .output()
        .unwrap();
    let files = run_shipped_cmd(&dir.path().join("out")).output().unwrap();
    for o in [own, redirected, files] {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(!stderr(&o).contains("unsubscribe_secret"), "{}", stderr(&o));
    }
}

#[test]
fn each_deferred_email_is_printed_with_the_servers_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults {
        temp_fail: [1, 2].into(),
        ..Faults::default()
    });
    let cfg = config_with(
        dir.path(),
        &[
            ("attempts = 5", "attempts = 1"),
            ("max_connections = 4", "max_connections = 1"),
        ],
    );
    let o = tripmail()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .args(["--now", NOW, "--smtp", &server.url(), "--parallel", "1"])
        .arg("--state")
        .arg(dir.path().join("ledger.sqlite"))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 deferred"));
    let deferred: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("tripmail: deferred "))
        .collect();
    assert_eq!(deferred.len(), 2, "{err}");
    for line in deferred {
        assert!(
            line.contains(" / WT-") && line.contains("451") && line.contains("tries it again"),
            "{line}"
        );
    }
}
