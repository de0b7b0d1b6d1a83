//! `tripmail validate` over a snapshot case list: each case's email is linted under its name, with
//! its real booking and items; a case that cannot be made is an error.

use std::path::Path;

use tempfile::TempDir;

use crate::template_snapshots::demo_copy;
use crate::util::{config_with, root, stderr, templates_with, tripmail};

fn validate(config: &Path) -> std::process::Output {
    tripmail()
        .args(["validate", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn every_snapshot_case_is_linted_under_its_name_and_one_that_cannot_be_made_is_an_error() {
    let o = validate(&root().join("fixtures/campaign.toml"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("cases: 26 of 26 in ")
            && out.contains("fixtures/snapshots.toml linted: HTML ")
            && out.contains("KB; 0 findings (0 to fix)"),
        "the shipped cases are linted and clean: {out}"
    );
    let tmp = TempDir::new().unwrap();
    let cfg = config_with(tmp.path(), &[]);
    let shipped = std::fs::read_to_string(root().join("fixtures/snapshots.toml")).unwrap();
    let inline = shipped
        .split("[case.reminder-en-inline]")
        .nth(1)
        .expect("the shipped inline case");
    let city = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch";
    let cases = format!(
        "[case.far-away]{}\n[case.no-such]\nbooking = \"WT-100001\"\ncampaign = \"newsletter\"\nat = \"2026-12-10T09:00:00Z\"\n",
        inline.replace("city = \"Paris\"", &format!("city = \"{city}\""))
    );
    std::fs::write(tmp.path().join("snapshots.toml"), cases).unwrap();
    let o = validate(&cfg);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tripmail: warning: case far-away (campaign `reminder`, booking SNAP-1): the subject is 84 characters"),
        "{err}"
    );
    assert!(
        err.contains("case \"no-such\": campaign: no campaign \"newsletter\""),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("cases: 1 of 2 in ")
            && out.contains("linted (1 could not be made: errors): HTML ")
            && out.contains("; 1 findings (0 to fix)"),
        "{out}"
    );
}

#[test]
fn a_case_whose_email_lost_its_unsubscribe_link_is_an_error_under_its_name() {
    let tmp = TempDir::new().unwrap();
    let templates = templates_with(tmp.path(), "layout.mjml.tera", |t| {
        let link = "<br /><a href=\"{{ unsubscribe_url }}\" style=\"color:#5f6b7a;\">{{ t.footer_unsubscribe }}</a>";
        assert!(t.contains(link), "the footer's unsubscribe link");
        t.replace(link, "")
    });
    let dir_line = format!("dir = {:?}", templates.display().to_string());
    let config = demo_copy(tmp.path(), &[("dir = \"templates\"", &dir_line)]);
    let o = validate(&config);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tripmail: error: case reminder-de-block (campaign `reminder`, booking WT-100012): no unsubscribe link in the HTML, though the campaign needs one"),
        "{err}"
    );
    assert!(
        !err.contains("error: case confirmation-de-block"),
        "a confirmation needs none: {err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    // The 12 reminder cases (6 languages × block / no block, the inline one among them: 13).
    assert!(out.contains("findings (13 to fix)"), "{out}");
}
