//! A real browser for the console's tests: ChromeDriver (`chromium-driver`) and a headless Chromium
//! from the distribution, installed by `.ci/setup`, driven over the W3C WebDriver JSON protocol with
//! reqwest ([`Browser`]); `tripmail serve` started from a test ([`Console`]) on a copy of the shipped
//! config ([`Demo`]).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

mod console;
mod driver;
mod harness;
pub mod pages;
mod session;

pub use console::{Console, TOKEN};
pub use session::{Browser, WIDTH};

/// Where the console's screenshots go (`target/console-screenshots/`), for the README.
pub fn screenshots_dir() -> PathBuf {
    crate::util::root()
        .join("target")
        .join("console-screenshots")
}

/// The width and height of a PNG file, read from its header.
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the PNG file");
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// A temp folder with a copy of the shipped config whose ledger (`state.path`) is in the folder,
/// with `replace` pairs applied too.
pub struct Demo {
    /// The temp folder.
    pub dir: tempfile::TempDir,
    /// The config file in it.
    pub config: PathBuf,
    /// The ledger (`state.path`).
    pub state: PathBuf,
}

impl Demo {
    /// The shipped config, its ledger in a new temp folder.
    pub fn new(replace: &[(&str, &str)]) -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        Demo::in_dir(dir, replace)
    }

    /// As [`Demo::new`], reading a copy of the shipped bookings with `edit` applied to its text.
    pub fn with_bookings(edit: impl Fn(String) -> String) -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let shipped = crate::util::root().join("fixtures/bookings.csv");
        let text = std::fs::read_to_string(shipped).expect("shipped bookings");
        let path = dir.path().join("bookings.csv");
        std::fs::write(&path, edit(text)).expect("bookings written");
        let path = path.to_string_lossy().into_owned();
        Demo::in_dir(dir, &[("fixtures/bookings.csv", &path)])
    }

    fn in_dir(dir: tempfile::TempDir, replace: &[(&str, &str)]) -> Demo {
        let state = dir.path().join("state").join("tripmail.sqlite");
        let state_text = state.to_string_lossy().into_owned();
        let mut pairs = vec![("state/tripmail.sqlite", state_text.as_str())];
        pairs.extend_from_slice(replace);
        let config = crate::util::config_with(dir.path(), &pairs);
        Demo { dir, config, state }
    }

    /// `tripmail ledger --state STATE --format json`, parsed; null while the file does not exist.
    pub fn ledger(&self) -> serde_json::Value {
        if !self.state.exists() {
            return serde_json::Value::Null;
        }
        let out = crate::util::tripmail()
            .arg("ledger")
            .arg("--state")
            .arg(&self.state)
            .args(["--format", "json"])
            .output()
            .expect("tripmail ledger runs");
        crate::util::succeeds(&out);
        serde_json::from_slice(&out.stdout).expect("the ledger's JSON")
    }

    /// `tripmail run` on this config at [`crate::util::NOW`] into `out` (files only).
    pub fn run(&self, out: &Path) -> std::process::Output {
        crate::util::run_config(&self.config, out)
    }
}
