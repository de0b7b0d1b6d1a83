//! The console's snapshot pages in a real browser (headless Chromium over WebDriver), as a template
//! team uses them: the gallery of every case made from the templates on disk; one word of the
//! German translations changed on disk shows on reload as exactly the German cases changed; a
//! case's review shows the stored and new email and the lines that changed; "approve" writes the
//! snapshot, and not when the email changed again after the reviewer looked; "approve all" takes
//! the rest, after which `tripmail snapshots --check` passes; a template that does not parse is
//! said on the page with its file and line.

use std::path::Path;

use crate::browser::pages::{log_in, shot, PAGE_WITHIN};
use crate::browser::{Browser, Console, WIDTH};
use crate::template_snapshots::{demo_copy, GERMAN};
use crate::util::{stderr, templates_with, tripmail};

#[test]
fn a_template_team_sees_its_edit_reviews_and_approves_it_in_the_console() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = templates_with(tmp.path(), "layout.mjml.tera", |t| t);
    let dir_line = format!("dir = {:?}", templates.display().to_string());
    let config = demo_copy(tmp.path(), &[("dir = \"templates\"", &dir_line)]);
    let console = Console::start(&config, &[]);
    let b = Browser::start();
    log_in(&b, &console, "Tom from CRM");

    b.goto(&console.at("snapshots"));
    assert_eq!(
        summary(&b),
        "26 cases: 26 the same, 0 changed, 0 new, 0 could not be made"
    );
    assert_eq!(b.find_all("figure.case iframe").len(), 26);
    assert!(
        b.try_find("form#approve-all").is_none(),
        "nothing to approve"
    );

    // One word of the German translations, edited on disk: seen on reload.
    let de = templates.join("i18n/de.ftl");
    edit(&de, "Ihre Buchung", "Ihre Reise");
    b.goto(&console.at("snapshots"));
    assert_eq!(
        summary(&b),
        "26 cases: 22 the same, 4 changed, 0 new, 0 could not be made"
    );
    let changed: Vec<String> = b
        .find_all("figure.case[data-status=changed]")
        .iter()
        .filter_map(|f| f.attr("id"))
        .collect();
    let german: Vec<String> = GERMAN.iter().map(|c| format!("case-{c}")).collect();
    assert_eq!(changed, german, "exactly the German cases, first");
    // Headless Chromium paints frames full of pictures some time after they come into view: the
    // window is made as tall as the page first, and the picture (for the README) taken a moment
    // later. Nothing is asserted about time.
    let height = b.script(
        "return document.documentElement.scrollHeight;",
        serde_json::json!([]),
    );
    b.resize(
        WIDTH,
        height.as_u64().unwrap_or(900).clamp(900, 6000) as u32,
    );
    frames_loaded(&b);
    std::thread::sleep(std::time::Duration::from_secs(3));
    shot(&b, "snapshots");

    // The review of one: before and after, and the lines that changed.
    b.find("figure#case-confirmation-de-block a.open").click();
    b.wait_for("the case's review", PAGE_WITHIN, |b| {
        b.try_find("form#approve").is_some()
    });
    assert_eq!(b.find("#status").text(), "changed");
    let diff = b.find("pre#diff").text();
    assert!(
        diff.contains("- Ihre Buchung") && diff.contains("+ Ihre Reise"),
        "{diff}"
    );
    assert!(frame_text(&b, "iframe#old-wide").contains("Ihre Buchung"));
    assert!(frame_text(&b, "iframe#new-narrow").contains("Ihre Reise"));
    shot(&b, "snapshot-review");

    // Edited again after the reviewer looked: approving what they saw changes nothing.
    let snap = tmp.path().join("snapshots/confirmation-de-block.snap");
    edit(&de, "Ihre Reise", "Ihr Ausflug");
    b.find("form#approve button#approve-submit").click();
    b.wait_for("the approval's answer", PAGE_WITHIN, |b| {
        b.try_find("#approved-note").is_some()
    });
    let note = b.find("#approved-note").text();
    assert!(note.contains("1 changed since you looked"), "{note}");
    assert!(std::fs::read_to_string(&snap)
        .unwrap()
        .contains("Ihre Buchung"));

    // Looked at again, approved: the snapshot is the email, the page says it is the same.
    assert!(b.find("pre#diff").text().contains("+ Ihr Ausflug"));
    b.find("form#approve button#approve-submit").click();
    b.wait_for("the case to be the same", PAGE_WITHIN, |b| {
        b.try_text("#status").as_deref() == Some("same")
    });
    assert!(b.find("#approved-note").text().starts_with("Approved:"));
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(text.contains("Ihr Ausflug") && !text.contains("Ihre Buchung"));

    // The other three at once.
    b.goto(&console.at("snapshots"));
    assert_eq!(
        summary(&b),
        "26 cases: 23 the same, 3 changed, 0 new, 0 could not be made"
    );
    b.find("form#approve-all button#approve-all-submit").click();
    b.wait_for("the approval's answer", PAGE_WITHIN, |b| {
        b.try_find("#approved-note").is_some()
    });
    assert_eq!(b.find("#approved-note").text(), "Approved 3 snapshots.");
    assert_eq!(
        summary(&b),
        "26 cases: 26 the same, 0 changed, 0 new, 0 could not be made"
    );
    let check = tripmail()
        .args(["snapshots", "--check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    // A template that does not parse: said with its file and line, no gallery.
    let reminder = templates.join("reminder.mjml.tera");
    let good = std::fs::read_to_string(&reminder).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[2] = "{% if %}";
    std::fs::write(&reminder, lines.join("\n")).unwrap();
    b.goto(&console.at("snapshots"));
    let at = b.find("#error-where").text();
    assert!(at.contains("reminder.mjml.tera, line 3, column"), "{at}");
    assert!(b.try_find("figure.case").is_none());
    shot(&b, "snapshots-template-error");
    std::fs::write(&reminder, good).unwrap();
    b.goto(&console.at("snapshots"));
    assert!(summary(&b).starts_with("26 cases: 26 the same"));
}

fn summary(b: &Browser) -> String {
    b.find("#summary").text()
}

/// `from` replaced by `to` in the file at `path` (which has it).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Waits until the document and pictures of every frame of the page are loaded (for the picture).
fn frames_loaded(b: &Browser) {
    let frames = b.find_all("iframe");
    for frame in &frames {
        b.enter_frame(frame);
        b.wait_for("a frame's pictures", PAGE_WITHIN, |b| {
            let done = "return document.readyState === 'complete' && \
                        Array.from(document.images).every(i => i.complete);";
            b.script(done, serde_json::json!([])) == serde_json::json!(true)
        });
        b.leave_frames();
    }
}

/// The text of the document in the iframe `css` (as written: `textContent`).
fn frame_text(b: &Browser, css: &str) -> String {
    b.enter_frame(&b.find(css));
    let text = b.script("return document.body.textContent;", serde_json::json!([]));
    let text = text.as_str().unwrap_or("").to_string();
    b.leave_frames();
    text
}
