//! Sending over TLS to the fault server (a certificate for `localhost` from the tests' own
//! authority, `fixtures/tls/`): implicit TLS (`smtps://`) and STARTTLS, both pipelined, the
//! authority trusted through `smtp.ca_file`; without it the certificate is refused and nothing is
//! sent; a `ca_file` that holds no certificate is a config error naming the key.

use std::path::Path;

use crate::crash::copies;
use crate::sandbox::{test_ca, FaultServer, Faults, TlsMode};
use crate::util::{config_with, send_cmd, stderr};

/// A run of the shipped campaign into `server` with `smtp` settings added: exit code, report
/// (when written), standard error.
fn run(dir: &Path, server: &FaultServer, smtp: &str) -> (Option<i32>, serde_json::Value, String) {
    let settings = format!("max_connections = 2\n{smtp}");
    let cfg = config_with(dir, &[("max_connections = 4", settings.as_str())]);
    let o = send_cmd(dir, &cfg, &server.url())
        .output()
        .expect("tripmail runs");
    let report = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    (o.status.code(), report, stderr(&o))
}

fn trusting_the_test_ca() -> String {
    format!("ca_file = {:?}", test_ca().display().to_string())
}

#[test]
fn implicit_tls_and_starttls_send_every_email_pipelined() {
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = FaultServer::start_tls(Faults::default(), mode);
        let (code, report, err) = run(dir.path(), &server, &trusting_the_test_ca());
        assert_eq!(code, Some(0), "{}: {err}", server.url());
        assert_eq!(report["sent"], 33, "{report}");
        let copies = copies(&server);
        assert_eq!(copies.len(), 33);
        assert!(copies.values().all(|&n| n == 1), "an email twice");
        assert_eq!(
            (server.mails(), server.pipelined()),
            (33, 33),
            "{}",
            server.url()
        );
    }
}

#[test]
fn a_certificate_from_an_authority_not_trusted_is_refused_and_nothing_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start_tls(Faults::default(), TlsMode::Implicit);
    let (code, report, err) = run(dir.path(), &server, "");
    assert_ne!(code, Some(0), "{err}");
    assert_eq!(report["sent"], 0, "{report}");
    assert!(server.accepted().is_empty());
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn a_ca_file_without_a_certificate_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FaultServer::start_tls(Faults::default(), TlsMode::Implicit);
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").expect("written");
    let setting = format!("ca_file = {:?}", not_pem.display().to_string());
    let (code, _, err) = run(dir.path(), &server, &setting);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("smtp.ca_file") && err.contains("no PEM certificate"),
        "{err}"
    );
}
