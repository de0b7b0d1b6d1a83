//! A real browser for the console's tests: ChromeDriver (`chromium-driver`) and a headless Chromium
//! from the distribution, installed by `.ci/setup`, driven over the W3C WebDriver JSON protocol with
//! reqwest ([`Browser`]); `tripmail serve` started from a test ([`Console`]) on a copy of the shipped
//! config ([`Demo`]).
#![allow(dead_code)]

mod console;
mod driver;
mod harness;
pub mod pages;
mod session;

pub use console::{Console, Demo, TOKEN};
pub use session::{Browser, WIDTH};

/// Where the console's screenshots go (`target/console-screenshots/`), for the README.
pub fn screenshots_dir() -> std::path::PathBuf {
    crate::util::root()
        .join("target")
        .join("console-screenshots")
}

/// The width and height of a PNG file, read from its header.
pub fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the PNG file");
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}
