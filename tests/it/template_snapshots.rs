//! `tripmail snapshots`: the shipped demo's case list passes `--check`; one word of the German
//! translations changed fails it with a diff naming exactly the German cases, `--accept` makes it
//! pass again; a case with a pinned engine answer stays the same when the catalog changes; bad case
//! lists are refused naming the file, the case and the key.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::{config_with, root, stderr, templates_with, tripmail, NOW};

/// The German cases of the shipped case list.
pub(crate) const GERMAN: [&str; 4] = [
    "confirmation-de-block",
    "confirmation-de-no-block",
    "reminder-de-block",
    "reminder-de-no-block",
];

/// The shipped case list, its snapshots and pinned answers, copied into `dir`, beside a config
/// like the shipped one with `replace` applied (so that `snapshots.toml` is found beside it), its
/// state database in `dir`.
pub(crate) fn demo_copy(dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    let fixtures = root().join("fixtures");
    std::fs::copy(fixtures.join("snapshots.toml"), dir.join("snapshots.toml")).unwrap();
    for sub in ["snapshots", "answers"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(fixtures.join(sub)).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if !name.ends_with(".new") {
                std::fs::copy(&p, dir.join(sub).join(name)).unwrap();
            }
        }
    }
    // The state database in the folder too (a console started on it opens one).
    let state = dir.join("state/tripmail.sqlite").display().to_string();
    let mut pairs = vec![("state/tripmail.sqlite", state.as_str())];
    pairs.extend_from_slice(replace);
    config_with(dir, &pairs)
}

fn snapshots(config: &Path, args: &[&str]) -> Output {
    let mut cmd = tripmail();
    cmd.args(["snapshots", "--config"]).arg(config).args(args);
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The cases `--check` said changed, in order.
fn changed(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .filter_map(|l| l.strip_prefix("changed: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_unsubscribe_signature_is_not_in_the_snapshots() {
    // Another secret (CI's, production's) gives the same snapshots.
    let dir = tempfile::tempdir().unwrap();
    let secret = "unsubscribe_secret = \"wanderly-demo-unsubscribe-secret\"";
    let other = "unsubscribe_secret = \"another-secret-of-32-characters-or-so\"";
    let config = demo_copy(dir.path(), &[(secret, other)]);
    let o = snapshots(&config, &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let snap =
        std::fs::read_to_string(dir.path().join("snapshots/reminder-de-block.snap")).unwrap();
    assert!(
        snap.contains("&campaign=reminder&sig=SIGNATURE>\n"),
        "{snap}"
    );
}

#[test]
fn the_shipped_demo_passes_its_own_check() {
    let o = snapshots(Path::new("fixtures/campaign.toml"), &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("26 cases: 26 the same, 0 changed or new"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn one_german_word_changes_exactly_the_german_cases_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let templates = templates_with(dir.path(), "i18n/de.ftl", |t| {
        t.replace(
            "details-heading = Ihre Buchung",
            "details-heading = Ihre Reise",
        )
    });
    let dir_line = format!("dir = {:?}", templates.display().to_string());
    let config = demo_copy(dir.path(), &[("dir = \"templates\"", &dir_line)]);

    let o = snapshots(&config, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(changed(&o), GERMAN, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("--- confirmation-de-block.snap\n+++ confirmation-de-block.snap.new\n"),
        "{out}"
    );
    assert!(out.contains("\n-Ihre Buchung\n+Ihre Reise\n"), "{out}");
    assert!(
        out.contains("26 cases: 22 the same, 4 changed or new"),
        "{out}"
    );
    for case in GERMAN {
        let new = dir
            .path()
            .join("snapshots")
            .join(format!("{case}.snap.new"));
        assert!(std::fs::read_to_string(new).unwrap().contains("Ihre Reise"));
    }
    // The picture of what changed: each German case old and new, at 600 and 375 px.
    let review = dir.path().join("snapshots").join("review");
    assert!(out.contains("review.html (16 pictures)"), "{out}");
    let page = std::fs::read_to_string(review.join("review.html")).unwrap();
    assert!(page.contains("<h1>4 changed cases</h1>"), "{page}");
    assert!(page.contains("<del>- Ihre Buchung</del>") && page.contains("<ins>+ Ihre Reise</ins>"));
    for case in GERMAN {
        for side in ["old", "new"] {
            for width in [600, 375] {
                let png = review.join(case).join(format!("{side}-{width}.png"));
                assert!(png.is_file(), "{}", png.display());
            }
        }
    }

    // A case that is not there is refused, and nothing is accepted.
    let o = snapshots(&config, &["--accept", "confirmation-de-blok"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no case \"confirmation-de-blok\""),
        "{}",
        stderr(&o)
    );

    // One accepted: the other three still differ.
    let o = snapshots(&config, &["--accept", "reminder-de-block"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = snapshots(&config, &["--check"]);
    assert_eq!(
        changed(&o),
        [
            "confirmation-de-block",
            "confirmation-de-no-block",
            "reminder-de-no-block"
        ]
    );

    let o = snapshots(&config, &["--accept"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = snapshots(&config, &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let accepted = dir.path().join("snapshots/confirmation-de-no-block.snap");
    assert!(std::fs::read_to_string(accepted)
        .unwrap()
        .contains("\nIhre Reise\n"));
}

#[test]
fn a_pinned_answer_stays_when_the_catalog_changes() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = std::fs::read_to_string(root().join("fixtures/catalog.json")).unwrap();
    let old = "\"title\": \"Roman Wine Tasting with Cheese & Charcuterie\"";
    assert!(catalog.contains(old));
    let edited = catalog.replace(old, "\"title\": \"Roman Wine Tasting (new)\"");
    let catalog_path = dir.path().join("catalog.json");
    std::fs::write(&catalog_path, edited).unwrap();
    let line = format!("catalog = {:?}", catalog_path.display().to_string());
    let config = demo_copy(
        dir.path(),
        &[("catalog = \"fixtures/catalog.json\"", &line)],
    );

    let o = snapshots(&config, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let changed = changed(&o);
    // The same booking's live block shows the product: its snapshot changed; the pinned one did not.
    assert!(
        changed.contains(&"confirmation-en-block".to_string()),
        "{changed:?}"
    );
    assert!(
        !changed.contains(&"confirmation-en-pinned".to_string()),
        "{changed:?}"
    );
    assert!(
        stdout(&o).contains("+* Roman Wine Tasting (new) (from €65.00)"),
        "{}",
        stdout(&o)
    );
    let pinned = dir.path().join("snapshots/confirmation-en-pinned.snap.new");
    assert!(!pinned.exists());
}

#[test]
fn a_bad_case_list_names_the_file_the_case_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &[]);
    let cases = dir.path().join("snapshots.toml");
    let bad = [
        ("[case.a]\nbooking = \"WT-100001\"\ncampaign = \"reminder\"\nat = \"2026-12-10\"\n", "case \"a\": at: \"2026-12-10\" is not an RFC 3339 instant"),
        ("[case.a]\nbooking = \"WT-100001\"\ncampaign = \"reminder\"\nas_of = \"2026-12-10\"\nlanguage = \"de\"\n", "case \"a\": unknown key \"language\""),
        ("[case.a]\nbooking = { booking_id = \"X-1\" }\ncampaign = \"reminder\"\nas_of = \"2026-12-10\"\n", "case \"a\": booking: booking X-1: "),
    ];
    for (text, needle) in bad {
        std::fs::write(&cases, text).unwrap();
        let o = snapshots(&config, &["--check"]);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        assert!(
            stderr(&o).contains(&format!("{}: {needle}", cases.display())),
            "{}",
            stderr(&o)
        );
    }
    // A case that cannot be rendered is said, the others are checked, and the exit is 2.
    std::fs::write(&cases, "[case.a]\nbooking = \"WT-999\"\ncampaign = \"reminder\"\nat = \"2026-12-10T09:00:00Z\"\n\n[case.b]\nbooking = \"WT-100001\"\ncampaign = \"reminder\"\nat = \"2026-12-10T09:00:00Z\"\n").unwrap();
    let o = snapshots(&config, &["--check"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("case \"a\": booking: no booking \"WT-999\" in fixtures/bookings.csv"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("new: b "), "{}", stdout(&o));
}

#[test]
fn generate_covers_every_campaign_locale_and_block() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &[]);
    let o = snapshots(&config, &["--generate", "--now", NOW]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("snapshots.toml")).unwrap();
    for campaign in ["confirmation", "reminder"] {
        for locale in ["en", "nl", "de", "fr", "es", "it"] {
            for block in ["block", "no-block"] {
                assert!(
                    text.contains(&format!("[case.{campaign}-{locale}-{block}]\n")),
                    "{text}"
                );
            }
        }
    }
    // The shipped list starts as this one.
    let shipped = std::fs::read_to_string(root().join("fixtures/snapshots.toml")).unwrap();
    assert!(
        shipped.starts_with(&text),
        "fixtures/snapshots.toml no longer starts as generated"
    );
    // Refused over an existing list.
    let o = snapshots(&config, &["--generate", "--now", NOW]);
    assert_eq!(o.status.code(), Some(2));
    // And the generated list's cases all render, as new.
    let o = snapshots(&config, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("24 cases: 0 the same, 24 changed or new"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn review_asks_on_a_terminal_case_by_case() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_copy(dir.path(), &[]);
    let snaps = dir.path().join("snapshots");
    for case in ["confirmation-de-block", "reminder-it-block"] {
        std::fs::remove_file(snaps.join(format!("{case}.snap"))).unwrap();
    }
    // Not on a terminal: refused, nothing rendered.
    let o = snapshots(&config, &["--review"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--review asks on a terminal"),
        "{}",
        stderr(&o)
    );

    let python = crate::util::ci_python(&["pty"]);
    let o = std::process::Command::new(python)
        .arg(root().join("tests/it/review_pty.py"))
        .arg(assert_cmd::cargo::cargo_bin("tripmail"))
        .arg(&config)
        .args(["y", "n"])
        .current_dir(root())
        .output()
        .unwrap();
    let shown = stdout(&o);
    assert!(
        shown.contains("accept confirmation-de-block? [y]es, [n]o, [q]uit: "),
        "{shown}"
    );
    assert!(shown.contains("accepted: confirmation-de-block"), "{shown}");
    assert!(shown.contains("--accept reminder-it-block\r\n"), "{shown}");
    assert!(shown.ends_with("exit 1\n"), "{shown}");
    assert!(snaps.join("confirmation-de-block.snap").exists());
    assert!(!snaps.join("confirmation-de-block.snap.new").exists());
    assert!(snaps.join("reminder-it-block.snap.new").exists());
    assert!(!snaps.join("reminder-it-block.snap").exists());
}

#[test]
fn every_shipped_case_is_mjml_the_official_validator_accepts() {
    // The shipped cases pin every campaign × locale × block in our own suite too (the insta cases
    // of `snapshots.rs` that pinned the same emails moved here); their MJML goes through `mjml -v`.
    let rt = crate::util::runtime();
    let mjml: Vec<(String, String)> = rt.block_on(async {
        let config = root().join("fixtures/campaign.toml");
        let settings = tripmail::config::Settings::load(&config, &Default::default()).unwrap();
        let cases = root().join("fixtures/snapshots.toml");
        let maker = tripmail::snapshots::Maker::start(settings, &cases, None)
            .await
            .unwrap();
        let mut out = Vec::new();
        for name in maker.names() {
            let composed = maker.compose(name).await.unwrap_or_else(|e| panic!("{e}"));
            out.push((name.clone(), composed.content.mjml));
        }
        out
    });
    assert_eq!(mjml.len(), 26);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(crate::snapshots::mjml_validator());
    cmd.arg("-v");
    for (name, text) in &mjml {
        assert!(text.starts_with("<mjml"), "{name}: {text}");
        let file = dir.path().join(format!("{name}.mjml"));
        std::fs::write(&file, text).unwrap();
        cmd.arg(file);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "mjml -v refused:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}
