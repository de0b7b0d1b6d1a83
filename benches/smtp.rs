//! Emails per second over SMTP on loopback: the release binary sends a campaign of `COPIES` copies of
//! the shipped bookings (34 due emails each) into MailDev and into the tests' fault-injecting server
//! (answering at once, no faults), each three times on a fresh ledger; prints every run and the median.
//!
//! `cargo bench --bench smtp` (MailDev comes from `.ci/setup`). `SMTP_BENCH_COPIES` changes the size.

#[path = "../tests/it/sandbox.rs"]
mod sandbox;
#[path = "../tests/it/util.rs"]
mod util;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn bookings(dir: &Path, copies: usize) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("fixtures/bookings.csv")).expect("fixtures");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut out = String::from(header);
    out.push('\n');
    for copy in 0..copies {
        for row in &rows {
            let (id, rest) = row.split_once(',').expect("a CSV row");
            out.push_str(&format!("{id}-{copy:05},{rest}\n"));
        }
    }
    let path = dir.join("bookings.csv");
    std::fs::write(&path, out).expect("bookings written");
    path
}

fn run(dir: &Path, bookings: &Path, url: &str, round: usize) -> (f64, u64) {
    let state = dir.join(format!(
        "ledger-{round}-{}.sqlite",
        url.replace([':', '/', '.'], "")
    ));
    let report = dir.join("report.json");
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tripmail"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--config", "fixtures/campaign.toml"])
        .args(["--now", "2026-12-10T09:00:00Z", "--smtp", url])
        .arg("--bookings")
        .arg(bookings)
        .arg("--state")
        .arg(&state)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("tripmail runs");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    (secs, report["sent"].as_u64().expect("sent"))
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / `cargo bench -- --list`: nothing to list.
    }
    let copies: usize = std::env::var("SMTP_BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");
    let bookings = bookings(dir.path(), copies);
    let maildev = sandbox::MailDev::start();
    let fault = sandbox::FaultServer::start(sandbox::Faults::default());
    for (name, url) in [("maildev", maildev.url()), ("fault server", fault.url())] {
        let mut rates = Vec::new();
        for round in 0..3 {
            if name == "maildev" {
                maildev.clear();
            }
            let (secs, sent) = run(dir.path(), &bookings, &url, round);
            let rate = sent as f64 / secs;
            println!("{name}: {sent} emails in {secs:.2} s = {rate:.0} emails/s");
            rates.push(rate);
        }
        rates.sort_by(f64::total_cmp);
        println!("{name}: median {:.0} emails/s over 3 runs", rates[1]);
    }
}
