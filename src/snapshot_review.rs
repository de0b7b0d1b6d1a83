//! The picture of what changed in rendered emails, for a reviewer: one `review.html` with, for each
//! changed case, the old and the new email side by side at 600 and 375 px (screenshots by headless
//! Chromium, when it is installed) and their difference, line by line, highlighted.
//!
//! Chromium is found as `CHROMIUM_BIN`, else `chromium`, `chromium-browser` or `google-chrome` on
//! the `PATH`; without it the page still shows the differences, and says why it has no pictures.
//! Each screenshot is bounded in time; the emails are opened from files with the network off.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use similar::{ChangeTag, TextDiff};
use tera::escape_html as esc;

/// The widths each email is pictured at.
pub const WIDTHS: [u32; 2] = [600, 375];
/// The height of each picture (the top of the email, where most changes show).
const HEIGHT: u32 = 1800;
/// The longest a screenshot may take.
const SHOT_WITHIN: Duration = Duration::from_secs(60);

/// One changed case: its name, its HTML before (none: a new case) and after.
pub struct Case<'a> {
    /// The case's name (a file name: letters, digits, `-`, `_`, `.`).
    pub name: &'a str,
    /// The stored HTML.
    pub old: Option<&'a str>,
    /// The new HTML.
    pub new: &'a str,
}

/// What [`write_review`] made.
#[derive(Debug, PartialEq, Eq)]
pub struct Review {
    /// `review.html`.
    pub page: PathBuf,
    /// Pictures taken.
    pub pictures: usize,
    /// Why there are none, when there are none.
    pub no_pictures: Option<String>,
}

/// The Chromium to take pictures with, if one is installed.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("CHROMIUM_BIN") {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Writes `dir/review.html` (and `dir/<case>/{old,new}.html` and their pictures) for `cases`,
/// pictured with `chromium` when given.
pub fn write_review(
    dir: &Path,
    cases: &[Case<'_>],
    chromium: Option<&Path>,
) -> std::io::Result<Review> {
    std::fs::create_dir_all(dir)?;
    let mut body = String::new();
    let mut pictures = 0;
    let mut failed: Option<String> = None;
    for case in cases {
        let folder = dir.join(safe_name(case.name));
        std::fs::create_dir_all(&folder)?;
        let mut shots = String::new();
        for (side, html) in [("old", case.old), ("new", Some(case.new))] {
            let Some(html) = html else {
                let _ = write!(
                    shots,
                    "<div class=side><h3>old</h3><p>(a new case)</p></div>"
                );
                continue;
            };
            let file = folder.join(format!("{side}.html"));
            std::fs::write(&file, html)?;
            let _ = write!(shots, "<div class=side><h3>{side}</h3>");
            for width in WIDTHS {
                let png = folder.join(format!("{side}-{width}.png"));
                match chromium.map(|c| screenshot(c, &file, &png, width)) {
                    Some(Ok(())) => {
                        pictures += 1;
                        let rel = format!("{}/{side}-{width}.png", safe_name(case.name));
                        let _ = write!(shots, "<figure><figcaption>{width} px</figcaption><img src=\"{}\" width=\"{}\" alt=\"{side} at {width} px\"></figure>", esc(&rel), width / 2);
                    }
                    Some(Err(e)) => failed = failed.or(Some(e)),
                    None => {}
                }
            }
            shots.push_str("</div>");
        }
        let _ = write!(
            body,
            "<section id=\"{0}\"><h2>{0}</h2><div class=shots>{shots}</div><pre class=diff>{1}</pre></section>",
            esc(case.name),
            diff_html(case.old.unwrap_or(""), case.new)
        );
    }
    let no_pictures = match (chromium, &failed) {
        (None, _) => Some(
            "Chromium is not installed (or CHROMIUM_BIN): no pictures, only the differences"
                .to_string(),
        ),
        (Some(_), Some(e)) if pictures == 0 => Some(e.clone()),
        _ => None,
    };
    let note = no_pictures
        .as_ref()
        .map(|n| format!("<p class=note>{}</p>", esc(n)))
        .unwrap_or_default();
    let page = dir.join("review.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Snapshot review: {n} changed</title><style>{STYLE}</style><h1>{n} changed case{s}</h1>{note}{body}</html>",
            n = cases.len(),
            s = if cases.len() == 1 { "" } else { "s" },
        ),
    )?;
    Ok(Review {
        page,
        pictures,
        no_pictures,
    })
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#1d2b36}\
section{border-top:1px solid #d9e0e6;margin-top:24px}.shots{display:flex;gap:24px;flex-wrap:wrap}\
.side{display:flex;gap:12px;align-items:flex-start}.side h3{writing-mode:vertical-rl}\
figure{margin:0}img{border:1px solid #d9e0e6}pre.diff{white-space:pre-wrap;font-size:12px;\
background:#f6f8fa;padding:8px;max-height:480px;overflow:auto}ins{background:#d7f5e3;\
text-decoration:none;display:block}del{background:#fde2e1;display:block}.note{background:#fff7e6;padding:8px}";

/// A case name as a folder name: anything but letters, digits, `-`, `_` and `.` becomes `_`.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_ascii_alphanumeric() || "-_.".contains(c) {
            true => c,
            false => '_',
        })
        .collect()
}

/// The changed lines of `old` → `new` (with 2 lines of context), escaped, `<del>` and `<ins>`
/// (also the console's review page).
pub fn diff_html(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for group in diff.grouped_ops(2) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let line = esc(change.value().trim_end_matches('\n'));
                let _ = match change.tag() {
                    ChangeTag::Delete => write!(out, "<del>- {line}</del>"),
                    ChangeTag::Insert => write!(out, "<ins>+ {line}</ins>"),
                    ChangeTag::Equal => writeln!(out, "  {line}"),
                };
            }
        }
        out.push_str("…\n");
    }
    out
}

/// A picture of `html` at `width` px into `png`, by headless Chromium with the network off; a
/// Chromium that does not finish in [`SHOT_WITHIN`] is killed.
fn screenshot(chromium: &Path, html: &Path, png: &Path, width: u32) -> Result<(), String> {
    let html = std::fs::canonicalize(html).map_err(|e| format!("{}: {e}", html.display()))?;
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--disable-background-networking",
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!("--window-size={width},{HEIGHT}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
    let deadline = Instant::now() + SHOT_WITHIN;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() && png.is_file() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!(
                    "{} ended with {status} and no picture",
                    chromium.display()
                ))
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} took over {SHOT_WITHIN:?}: stopped",
                    chromium.display()
                ));
            }
            Err(e) => return Err(format!("{}: {e}", chromium.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_difference_shows_what_went_and_what_came_escaped() {
        let old = "<p>\nHello <b>Ana</b>\n</p>\n";
        let new = "<p>\nHallo <b>Ana</b>\n</p>\n";
        let d = diff_html(old, new);
        assert!(
            d.contains("<del>- Hello &lt;b&gt;Ana&lt;&#x2F;b&gt;</del>"),
            "{d}"
        );
        assert!(
            d.contains("<ins>+ Hallo &lt;b&gt;Ana&lt;&#x2F;b&gt;</ins>"),
            "{d}"
        );
        assert_eq!(safe_name("de/reminder 3"), "de_reminder_3");
    }

    #[test]
    fn without_chromium_the_page_has_the_differences_and_says_why_no_pictures() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [Case {
            name: "de-reminder",
            old: Some("a\n"),
            new: "b\n",
        }];
        let r = write_review(dir.path(), &cases, None).unwrap();
        assert_eq!(r.pictures, 0);
        let page = std::fs::read_to_string(&r.page).unwrap();
        assert!(page.contains("Chromium is not installed"), "{page}");
        assert!(page.contains("<ins>+ b</ins>"), "{page}");
        assert!(dir.path().join("de-reminder/new.html").is_file());
    }

    #[test]
    fn with_chromium_each_side_is_pictured_at_both_widths() {
        let chromium = find_chromium()
            .expect("Chromium (or CHROMIUM_BIN): .ci/setup installs it from the distribution");
        let dir = tempfile::tempdir().unwrap();
        let html = |t: &str| format!("<!doctype html><body style='margin:0'><h1>{t}</h1></body>");
        let (old, new) = (html("old"), html("new"));
        let cases = [Case {
            name: "one",
            old: Some(&old),
            new: &new,
        }];
        let r = write_review(dir.path(), &cases, Some(&chromium)).unwrap();
        assert_eq!((r.pictures, r.no_pictures), (4, None));
        for f in ["old-600.png", "old-375.png", "new-600.png", "new-375.png"] {
            let bytes = std::fs::read(dir.path().join("one").join(f)).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{f}");
            let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
            assert!(width == 600 || width == 375, "{f}: {width}");
        }
    }
}
