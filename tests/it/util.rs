//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Once;

use assert_cmd::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The instant the shipped fixtures are made for.
pub const NOW: &str = "2026-12-10T09:00:00Z";

/// The `tripmail` binary, run from the repository root with no `TRIPMAIL_*` variables inherited.
pub fn tripmail() -> Command {
    Command::from_std(tripmail_process())
}

/// As [`tripmail`], a plain process to start in the background.
pub fn tripmail_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tripmail"));
    cmd.current_dir(root());
    for (k, _) in std::env::vars() {
        if k.starts_with("TRIPMAIL_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// What to do when the tools of `.ci/setup` are missing: said once, first, for the whole test run.
const SETUP_HINT: &str = "
tripmail tests: the tools `.ci/setup` installs are missing, so the tests that need them fail below,
one line each (the MJML validator checks every snapshot email; MailDev receives the SMTP sends;
dkimpy, icalendar and extruct read what we sign and attach; doiuse-email, html-validate and SpamAssassin
check every shipped email; Chromium, driven through ChromeDriver, goes through the console's pages;
PostgreSQL holds the PostgreSQL ledger's tests):
    .ci/setup               # once: npm ci into .ci/node_modules (needs node and npm; python3 too),
                            # a Python venv in .ci/venv (pip install -r .ci/requirements.txt), and
                            # SpamAssassin, chromium, chromium-driver and postgresql from apt when
                            # missing
    cargo test --locked     # again; `.ci/run` does both
Or point MJML_BIN, MAILDEV_BIN, HTML_VALIDATE_BIN, PYTHON_BIN and CHROMEDRIVER_BIN at installed copies,
and PG_BIN at PostgreSQL's bin folder.

";

/// A program `.ci/setup` installs (`.ci/node_modules/.bin/<name>`), or the one `env_var` names. When
/// it (or node, which runs it) is missing, the set-up hint goes to the terminal once and the calling
/// test fails with one line.
pub fn ci_tool(name: &str, env_var: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".ci/node_modules/.bin").join(name));
    if !path.exists() {
        missing_setup(&format!(
            "{} is missing: run .ci/setup (or set {env_var})",
            path.display()
        ));
    }
    require_node(name);
    path
}

/// `node .ci/<script>`, a script of this repository that needs the npm package `package` of
/// `.ci/setup`; when the package (or node) is missing, fails the calling test as [`ci_tool`] does.
pub fn ci_node_script(script: &str, package: &str) -> std::process::Command {
    let dir = root().join(".ci/node_modules").join(package);
    if !dir.is_dir() {
        missing_setup(&format!("{} is missing: run .ci/setup", dir.display()));
    }
    require_node(script);
    let mut cmd = std::process::Command::new("node");
    cmd.arg(root().join(".ci").join(script));
    cmd
}

/// Fails the calling test as [`missing_setup`] when node, which runs `what`, is not on PATH.
fn require_node(what: &str) {
    let path_dirs = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path_dirs).any(|d| d.join("node").is_file()) {
        missing_setup(&format!(
            "node, which runs {what}, is not on PATH: run .ci/setup"
        ));
    }
}

/// The Python that `.ci/setup` prepares (`.ci/venv`, or the one `PYTHON_BIN` names, else `python3`),
/// checked to import `modules`; when it cannot, the set-up hint and one line, as [`ci_tool`].
pub fn ci_python(modules: &[&str]) -> PathBuf {
    let venv = root().join(".ci/venv/bin/python3");
    let python = std::env::var_os("PYTHON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| match venv.exists() {
            true => venv,
            false => PathBuf::from("python3"),
        });
    let imports = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new(&python)
        .args(["-c", &imports])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing_setup(&format!(
            "{} cannot `{imports}`: run .ci/setup (or set PYTHON_BIN)",
            python.display()
        ));
    }
    python
}

/// Fails the calling test with `line` alone, after the set-up hint (printed once per test run).
pub fn missing_setup(line: &str) -> ! {
    static HINT: Once = Once::new();
    HINT.call_once(|| {
        // Straight to the terminal: libtest holds back `eprintln!` until the test's verdict.
        let _ = std::io::stderr().write_all(SETUP_HINT.as_bytes());
    });
    // Shown under the test's name; no panic message or backtrace (RUST_BACKTRACE) repeating it.
    println!("{line}");
    std::panic::resume_unwind(Box::new(line.to_string()))
}

/// `tripmail run` on the shipped config at [`NOW`], writing into `out`, ready for more arguments.
pub fn run_shipped_cmd(out: &Path) -> Command {
    let mut cmd = tripmail();
    cmd.args([
        "run",
        "--config",
        "fixtures/campaign.toml",
        "--now",
        NOW,
        "--out",
    ])
    .arg(out);
    cmd
}

/// `tripmail run --config CONFIG --bookings BOOKINGS`, ready for more arguments.
pub fn run_cmd(config: &Path, bookings: &Path) -> Command {
    let mut cmd = tripmail();
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .arg("--bookings")
        .arg(bookings);
    cmd
}

/// `tripmail run` on the shipped `campaign-yespo.toml` at [`NOW`], ready for more arguments.
pub fn run_yespo_cmd() -> Command {
    let mut cmd = tripmail();
    cmd.args([
        "run",
        "--config",
        "fixtures/campaign-yespo.toml",
        "--now",
        NOW,
    ]);
    cmd
}

/// `tripmail preview` of one booking's email on the shipped config at [`NOW`], ready for more
/// arguments.
pub fn preview_cmd(booking: &str, campaign: &str) -> Command {
    let mut cmd = tripmail();
    cmd.args([
        "preview",
        "--config",
        "fixtures/campaign.toml",
        "--now",
        NOW,
    ])
    .args(["--booking", booking, "--campaign", campaign]);
    cmd
}

/// Runs `tripmail run --config CONFIG` at [`NOW`], writing into `out`.
pub fn run_config(config: &Path, out: &Path) -> Output {
    let mut cmd = tripmail();
    cmd.arg("run").arg("--config").arg(config);
    cmd.args(["--now", NOW, "--out"]).arg(out);
    cmd.output().expect("tripmail runs")
}

/// Runs `tripmail run` on the shipped config with extra arguments, writing into `out`.
pub fn run_shipped(out: &Path, extra: &[&str]) -> Output {
    run_shipped_cmd(out)
        .args(extra)
        .output()
        .expect("tripmail runs")
}

/// Asserts a clean exit (code 0), showing stderr otherwise.
#[track_caller]
pub fn succeeds(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

/// Asserts a fatal error (exit code 2) whose message on stderr contains `needle`.
#[track_caller]
pub fn fails_with(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// The parsed `report.json` in `out`.
pub fn report(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A runtime like the binary's (two worker threads), for tests that drive the library.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A config file like the shipped one, with `replace` pairs applied, written into `dir`.
pub fn config_with(dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    config_from("fixtures/campaign.toml", dir, replace)
}

/// A config file like the shipped `fixture`, with `replace` pairs applied, written into `dir`.
pub fn config_from(fixture: &str, dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(root().join(fixture)).expect("shipped config");
    for (from, to) in replace {
        assert!(text.contains(from), "shipped config has no {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A wiremock server on 127.0.0.1 answering every GET with `response`.
pub async fn mock(response: wiremock::ResponseTemplate) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// The requests `server` received, in order.
pub async fn received(server: &wiremock::MockServer) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

/// The path and query string of a received request, exactly as they came in.
pub fn path_and_query(req: &wiremock::Request) -> String {
    match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    }
}

/// The record of `booking_id`'s email in a parsed `report.json`.
#[track_caller]
pub fn email_record<'a>(report: &'a serde_json::Value, booking_id: &str) -> &'a serde_json::Value {
    report["emails"]
        .as_array()
        .expect("emails[]")
        .iter()
        .find(|e| e["booking_id"] == serde_json::json!(booking_id))
        .unwrap_or_else(|| panic!("no email for {booking_id} in {report}"))
}

/// A copy of the shipped templates in `dir`, with `edit` applied to the file `name`.
pub fn templates_with(
    dir: &Path,
    name: &str,
    edit: impl Fn(String) -> String,
) -> std::path::PathBuf {
    let target = dir.join("templates");
    std::fs::create_dir_all(target.join("i18n")).unwrap();
    for sub in ["", "i18n"] {
        for entry in std::fs::read_dir(root().join("templates").join(sub)).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                let rel = Path::new(sub).join(p.file_name().unwrap());
                let mut text = std::fs::read_to_string(&p).unwrap();
                if rel == Path::new(name) {
                    text = edit(text);
                }
                std::fs::write(target.join(&rel), text).unwrap();
            }
        }
    }
    target
}

/// `tripmail run --now NOW --smtp SMTP --config CONFIG --report REPORT`, which must exit 0 or 1:
/// its report.
pub fn run_sending(config: &Path, smtp: &str, report: &Path) -> serde_json::Value {
    let o = tripmail()
        .args(["run", "--now", NOW, "--smtp", smtp, "--config"])
        .arg(config)
        .arg("--report")
        .arg(report)
        .output()
        .expect("tripmail runs");
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
    let text = std::fs::read_to_string(report).expect("the report");
    serde_json::from_str(&text).expect("the report's JSON")
}

/// `tripmail ledger --format json --config CONFIG`.
pub fn ledger_of(config: &Path) -> serde_json::Value {
    let o = tripmail()
        .args(["ledger", "--format", "json", "--config"])
        .arg(config)
        .output()
        .expect("tripmail runs");
    succeeds(&o);
    serde_json::from_slice(&o.stdout).expect("the ledger's JSON")
}

/// `tripmail run` of `config` at [`NOW`] into `smtp`, with its ledger (`ledger.sqlite`) and report
/// (`report.json`) in `dir`.
pub fn send_cmd(dir: &Path, config: &Path, smtp: &str) -> assert_cmd::Command {
    let mut cmd = tripmail();
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .args(["--now", NOW, "--smtp", smtp])
        .arg("--state")
        .arg(dir.join("ledger.sqlite"))
        .arg("--report")
        .arg(dir.join("report.json"));
    cmd
}
