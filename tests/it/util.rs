//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The instant the shipped fixtures are made for.
pub const NOW: &str = "2026-12-10T09:00:00Z";

/// The `tripmail` binary, run from the repository root with no `TRIPMAIL_*` variables inherited.
pub fn tripmail() -> Command {
    let mut cmd = Command::cargo_bin("tripmail").expect("binary built");
    cmd.current_dir(root());
    for (k, _) in std::env::vars() {
        if k.starts_with("TRIPMAIL_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `tripmail run` on the shipped config with extra arguments, writing into `out`.
pub fn run_shipped(out: &Path, extra: &[&str]) -> Output {
    let mut cmd = tripmail();
    cmd.args([
        "run",
        "--config",
        "fixtures/campaign.toml",
        "--now",
        NOW,
        "--out",
    ])
    .arg(out)
    .args(extra);
    cmd.output().expect("tripmail runs")
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

/// A config file like the shipped one, with `replace` pairs applied, written into `dir`.
pub fn config_with(dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    let mut text =
        std::fs::read_to_string(root().join("fixtures/campaign.toml")).expect("shipped config");
    for (from, to) in replace {
        assert!(text.contains(from), "shipped config has no {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).expect("config written");
    path
}
