//! `config_case!`: one line per configuration that `tripmail validate` must refuse, each its own test,
//! so that the first failure does not hide the rest. Declared first in `main.rs` (`#[macro_use]`), so
//! that every test module can use it.

use std::path::Path;

use tempfile::TempDir;

use crate::util::{root, stderr, tripmail};

/// `config_case!(name, toml, "key", "words")`: a test `name` in which `tripmail validate` refuses the
/// config text `toml` (an expression, often [`edited`]), exiting 2 with
/// ``<file>: key `<key>`: <words>…`` on stderr. `config_case!(name, toml, env = [("K", "V")], …)` runs
/// it with those environment variables.
macro_rules! config_case {
    ($name:ident, $toml:expr, $key:expr, $words:expr $(,)?) => {
        #[test]
        fn $name() {
            $crate::config_case::refused(&$toml, &[], $key, $words);
        }
    };
    ($name:ident, $toml:expr, env = $env:expr, $key:expr, $words:expr $(,)?) => {
        #[test]
        fn $name() {
            $crate::config_case::refused(&$toml, &$env, $key, $words);
        }
    };
}

/// The text of the shipped config `fixture` (a path from the repository root) with each `(from, to)`
/// replacement applied; each `from` must be found.
pub fn edited(fixture: &str, replace: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(root().join(fixture)).expect("shipped config");
    for (from, to) in replace {
        assert!(text.contains(from), "{fixture} has no {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// Runs `tripmail validate` on `toml`, written to a file of its own, with `env`; checks that it exits 2
/// and that stderr says ``<file>: key `<key>`: <words>``.
pub fn refused(toml: &str, env: &[(&str, &str)], key: &str, words: &str) {
    let tmp = TempDir::new().expect("temp dir");
    let config = tmp.path().join("campaign.toml");
    std::fs::write(&config, toml).expect("config written");
    let o = validate(&config, env);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let needle = format!("{}: key `{key}`: {words}", config.display());
    assert!(err.contains(&needle), "expected {needle:?} in: {err}");
}

fn validate(config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tripmail();
    cmd.args(["validate", "--config"]).arg(config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("tripmail runs")
}
