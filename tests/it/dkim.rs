//! DKIM signing, checked by an independent verifier: dkimpy (`dkim_verify.py`), the public key served
//! by a stub DNS function. Keys are made for each test with the openssl CLI (RSA 2048, Ed25519); the
//! shipped campaign is run with a `[dkim]` section; every email must verify, in the `.eml` files and
//! as MailDev received it over SMTP, and must stop verifying once one byte of its body or of its
//! `List-Unsubscribe` is changed. The refused keys and settings are in `dkim_config.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::config_case::edited;
use crate::sandbox::{header, MailDev};
use crate::util::{ci_python, missing_setup, report, root, stderr, succeeds, tripmail, NOW};

const SELECTOR: &str = "trips2026";
const DNS_NAME: &str = "trips2026._domainkey.wanderly.example";
/// `NOW` in Unix seconds: the instant dkimpy reads the messages at (their `t=`).
const NOW_UNIX: &str = "1796893200";

#[derive(Clone, Copy)]
enum Kind {
    Rsa,
    Ed25519,
}

/// A key pair made by openssl in `dir`: the private PEM and the public PEM.
fn keys(dir: &Path, kind: Kind) -> (PathBuf, PathBuf) {
    let (private, public) = (dir.join("dkim.pem"), dir.join("dkim.pub.pem"));
    let algorithm: &[&str] = match kind {
        Kind::Rsa => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        Kind::Ed25519 => &["-algorithm", "ed25519"],
    };
    openssl(
        Command::new("openssl")
            .arg("genpkey")
            .args(algorithm)
            .arg("-out")
            .arg(&private),
    );
    openssl(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public),
    );
    (private, public)
}

pub(crate) fn openssl(cmd: &mut Command) {
    match cmd.output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("openssl failed: {}", stderr(&o)),
        Err(_) => missing_setup("openssl is not on PATH: install it (apt-get install openssl)"),
    }
}

/// The shipped config with a `[dkim]` section signing with `key`, written into `dir`.
pub(crate) fn config(dir: &Path, key: &Path) -> PathBuf {
    let text = format!(
        "{}\n[dkim]\ndomain = \"wanderly.example\"\nselector = \"{SELECTOR}\"\nprivate_key_path = \"{}\"\n",
        edited("fixtures/campaign.toml", &[]),
        key.display()
    );
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// dkimpy's verdict on each file (true: the signature verifies), and the TXT record it served.
fn verify(public: &Path, files: &[PathBuf]) -> (Vec<bool>, String) {
    let o = Command::new(ci_python(&["dkim", "nacl"]))
        .arg(root().join("tests/it/dkim_verify.py"))
        .args([NOW_UNIX, public.to_str().unwrap(), DNS_NAME])
        .args(files)
        .output()
        .expect("python runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let verdicts = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(v, _)| *v == "pass" || *v == "fail")
        .map(|(v, _)| v == "pass")
        .collect::<Vec<_>>();
    assert_eq!(verdicts.len(), files.len(), "{out}");
    let record = out
        .lines()
        .find_map(|l| l.strip_prefix("record "))
        .unwrap_or_default();
    (verdicts, record.to_string())
}

/// Every `.eml` under `out`, sorted.
fn emls(out: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["confirmation", "reminder"]
        .iter()
        .flat_map(|c| std::fs::read_dir(out.join(c)).expect("campaign folder"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

/// `text` with the first `from` after the `anchors` (each found after the one before) replaced by
/// `to` (one byte changed), written to `path`.
fn tampered(text: &str, anchors: &[&str], from: &str, to: &str, path: &Path) -> PathBuf {
    let mut start = 0;
    for at in anchors {
        start += text[start..].find(at).expect("the place to change") + at.len();
    }
    let offset = text[start..].find(from).expect("the byte to change") + start;
    let changed = format!("{}{to}{}", &text[..offset], &text[offset + from.len()..]);
    assert_eq!(changed.len(), text.len());
    std::fs::write(path, changed).expect("written");
    path.to_path_buf()
}

/// `text` with `field` added right after its signature, written to `path`.
fn added(text: &str, field: &str, path: &Path) -> PathBuf {
    let at = text
        .find("\r\nList-Unsubscribe")
        .or_else(|| text.find("\r\nFrom:"))
        .expect("a field");
    std::fs::write(path, format!("{}\r\n{field}{}", &text[..at], &text[at..])).expect("written");
    path.to_path_buf()
}

/// `tripmail run` of the shipped campaign with `cfg`, writing into `out`.
fn run_to(cfg: &Path, out: &Path) -> Output {
    let o = tripmail()
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--now",
            NOW,
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    succeeds(&o);
    o
}

/// The shipped run signed with a `kind` key: every `.eml` verifies; one byte changed in the body or in
/// `List-Unsubscribe` does not, nor does an added field; `validate` prints the record dkimpy used;
/// the key never shows; the same run gives the same bytes.
fn files_verify_and_changes_do_not(kind: Kind) {
    let tmp = TempDir::new().unwrap();
    let (private, public) = keys(tmp.path(), kind);
    let cfg = config(tmp.path(), &private);
    let out = tmp.path().join("out");
    let run = run_to(&cfg, &out);
    let files = emls(&out);
    let rendered = report(&out)["rendered"].as_u64().unwrap();
    // Every email of the shipped run (33 as shipped; other counts as the fixtures change).
    assert!(
        files.len() > 30 && files.len() as u64 == rendered,
        "{} of {rendered}",
        files.len()
    );
    let (verdicts, record) = verify(&public, &files);
    assert!(verdicts.iter().all(|v| *v), "{verdicts:?}");
    changed_bytes_fail(tmp.path(), &public, &files);
    let said = validate_prints(&cfg, &record);
    let report_text = std::fs::read_to_string(out.join("report.json")).unwrap();
    let run_said = format!("{}{}", String::from_utf8_lossy(&run.stdout), stderr(&run));
    let emails: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let pem = std::fs::read_to_string(&private).unwrap();
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        let shown = [&said, &run_said, &report_text].into_iter().chain(&emails);
        assert!(
            shown.into_iter().all(|s| !s.contains(line)),
            "a line of the private key shows"
        );
    }
    // Deterministic: the same run, the same bytes.
    let again = tmp.path().join("again");
    run_to(&cfg, &again);
    for (a, b) in files.iter().zip(emls(&again)) {
        let same = std::fs::read(a).unwrap() == std::fs::read(&b).unwrap();
        assert!(same, "{}", a.display());
    }
}

/// A reminder (it has `List-Unsubscribe`) changed by one byte in its text part, then in that header;
/// a `List-Unsubscribe` added to a confirmation (which has none), a second `Subject` (over-signing):
/// none verifies, the unchanged ones do.
fn changed_bytes_fail(dir: &Path, public: &Path, files: &[PathBuf]) {
    let reminder = files
        .iter()
        .find(|f| f.to_string_lossy().contains("/reminder/"))
        .unwrap();
    let text = std::fs::read_to_string(reminder).unwrap();
    let signature = header(&text, "DKIM-Signature").unwrap();
    assert!(
        signature.contains("list-unsubscribe:list-unsubscribe:"),
        "{signature}"
    );
    let text_part = ["Content-Type: text/plain", "\r\n\r\n"];
    let body = tampered(&text, &text_part, "e", "f", &dir.join("body.eml"));
    let list_at = ["List-Unsubscribe: <"];
    let list = tampered(
        &text,
        &list_at,
        "booking=",
        "bookinh=",
        &dir.join("list.eml"),
    );
    let (verdicts, _) = verify(public, &[reminder.clone(), body, list]);
    let what = "unchanged, body changed, List-Unsubscribe changed";
    assert_eq!(verdicts, [true, false, false], "{what}");

    let confirmation = &files[0];
    let text_c = std::fs::read_to_string(confirmation).unwrap();
    assert!(header(&text_c, "List-Unsubscribe").is_none());
    let unsub = "List-Unsubscribe: <https://evil.example/u>";
    let add_list = added(&text_c, unsub, &dir.join("added-list.eml"));
    let add_subject = added(&text, "Subject: Act now", &dir.join("added-subject.eml"));
    let (verdicts, _) = verify(public, &[confirmation.clone(), add_list, add_subject]);
    let what = "unchanged, List-Unsubscribe added, Subject added";
    assert_eq!(verdicts, [true, false, false], "{what}");
}

/// `tripmail validate` says it signs and prints `record` (the one dkimpy verified with); what it said.
fn validate_prints(cfg: &Path, record: &str) -> String {
    let v = tripmail()
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    succeeds(&v);
    let said = format!("{}{}", String::from_utf8_lossy(&v.stdout), stderr(&v));
    let publish = format!("publish: {DNS_NAME} TXT \"{record}\"");
    assert!(
        said.contains("dkim: on, d=wanderly.example s=trips2026"),
        "{said}"
    );
    assert!(said.contains(&publish), "{said}");
    said
}

#[test]
fn rsa_signed_eml_files_verify_and_one_changed_byte_fails() {
    files_verify_and_changes_do_not(Kind::Rsa);
}

#[test]
fn ed25519_signed_eml_files_verify_and_one_changed_byte_fails() {
    files_verify_and_changes_do_not(Kind::Ed25519);
}

/// Sent to MailDev and written to files in one run: every message MailDev received verifies, and
/// carries the very signature of its `.eml` review copy.
fn smtp_verifies(kind: Kind) {
    let tmp = TempDir::new().unwrap();
    let (private, public) = keys(tmp.path(), kind);
    let cfg = config(tmp.path(), &private);
    let md = MailDev::start();
    let out = tmp.path().join("out");
    let o = tripmail()
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--now",
            NOW,
            "--smtp",
            &md.url(),
        ])
        .arg("--state")
        .arg(tmp.path().join("ledger.sqlite"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    succeeds(&o);
    let received = md.emails();
    assert!(received.len() > 30 && received.len() == emls(&out).len());
    let mut files = Vec::new();
    for (i, e) in received.iter().enumerate() {
        let source = md.source(e["id"].as_str().unwrap());
        let path = tmp.path().join(format!("smtp-{i}.eml"));
        std::fs::write(&path, &source).unwrap();
        files.push(path);
        // Its review copy, found by Message-ID, holds the same signature.
        let id = header(&source, "Message-ID").unwrap();
        let copy = emls(&out)
            .into_iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .find(|t| header(t, "Message-ID").as_deref() == Some(id.as_str()))
            .expect("a review copy");
        assert_eq!(
            header(&source, "DKIM-Signature"),
            header(&copy, "DKIM-Signature")
        );
    }
    let (verdicts, _) = verify(&public, &files);
    assert!(verdicts.iter().all(|v| *v), "{verdicts:?}");
}

#[test]
fn rsa_signed_emails_verify_as_maildev_received_them() {
    smtp_verifies(Kind::Rsa);
}

#[test]
fn ed25519_signed_emails_verify_as_maildev_received_them() {
    smtp_verifies(Kind::Ed25519);
}

#[test]
fn preview_eml_is_signed_as_the_run_signs_it() {
    let tmp = TempDir::new().unwrap();
    let (private, public) = keys(tmp.path(), Kind::Rsa);
    let cfg = config(tmp.path(), &private);
    let eml = tmp.path().join("preview.eml");
    let o = tripmail()
        .args(["preview", "--config", cfg.to_str().unwrap(), "--now", NOW])
        .args([
            "--booking",
            "WT-100001",
            "--campaign",
            "reminder",
            "--format",
            "eml",
        ])
        .arg("--output")
        .arg(&eml)
        .output()
        .unwrap();
    succeeds(&o);
    let (verdicts, _) = verify(&public, std::slice::from_ref(&eml));
    assert_eq!(verdicts, [true]);
    let out = tmp.path().join("out");
    run_to(&cfg, &out);
    let ran = std::fs::read(out.join("reminder/WT-100001.eml")).unwrap();
    assert!(
        std::fs::read(&eml).unwrap() == ran,
        "the preview is the run's email, signature included"
    );
}
