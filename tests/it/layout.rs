//! The emails' layout and words as a reader meets them: picture widths as official MJML computes
//! them, headings, item links named by their item, the dark-mode and preheader parts of the head,
//! French no-break spaces, titles in the customer's language, the footer's company lines.

use std::collections::HashSet;

use tempfile::TempDir;

use crate::snapshots::{compose, mjml_validator};
use crate::util::config_with;

const SHIPPED: &str = "fixtures/campaign.toml";

/// Every value of `attr="…"` in `html`.
fn attrs<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let open = format!(" {attr}=\"");
    html.match_indices(&open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// The `width` official MJML gives an `mj-image` in a column of `column` with 6 px of padding on each
/// side, in a 600 px body whose section has 20 px of padding (the block's grid).
fn official_image_width(column: &str, columns: usize) -> String {
    let cols = format!(
        r#"<mj-column width="{column}" padding="0 6px"><mj-image src="https://x.example/a.jpg" alt="a" padding="0" /></mj-column>"#
    )
    .repeat(columns);
    let mjml = format!(
        r#"<mjml><mj-body width="600px"><mj-section padding="8px 20px 0">{cols}</mj-section></mj-body></mjml>"#
    );
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("grid.mjml");
    std::fs::write(&file, mjml).unwrap();
    let o = std::process::Command::new(mjml_validator())
        .arg(&file)
        .arg("-s")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = String::from_utf8(o.stdout).unwrap();
    let img = &html[html.find("<img").unwrap()..];
    attrs(img, "width")[0].to_string()
}

#[test]
fn pictures_are_as_wide_in_whole_pixels_as_official_mjml_makes_them() {
    // Three items in a row (186px columns), then two (280px).
    for (booking, campaign, column, columns) in [
        ("WT-100001", "reminder", "186px", 3),
        ("WT-100015", "confirmation", "186px", 3),
    ] {
        let c = compose(SHIPPED, booking, campaign);
        let html = &c.content.html;
        let widths: Vec<&str> = html
            .match_indices("<img ")
            .map(|(at, _)| attrs(&html[at..html[at..].find('>').unwrap() + at], "width")[0])
            .collect();
        assert_eq!(widths.len(), columns, "{booking}");
        let official = official_image_width(column, columns);
        assert_eq!(official, "174");
        for w in widths {
            assert_eq!(w, official, "{booking}: a picture's width");
        }
        assert!(!html.contains("186.64801"), "{booking}: a fractional width");
    }
    assert_eq!(official_image_width("280px", 2), "268");
}

#[test]
fn missing_pictures_show_their_alt_text_in_the_email_s_font_and_colour() {
    let c = compose(SHIPPED, "WT-100001", "reminder");
    let html = &c.content.html;
    for (at, _) in html.match_indices("<img ") {
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        assert!(tag.contains("alt=\"Photo: "), "{tag}");
        for style in ["font-family:Helvetica", "font-size:13px", "color:#5f6b7a"] {
            assert!(tag.contains(style), "{tag} lacks {style}");
        }
        // The link around it is not blue and underlined.
        let link = &html[html[..at].rfind("<a ").unwrap()..at];
        assert!(link.contains("text-decoration:none"), "{link}");
    }
}

#[test]
fn headings_are_heading_elements_and_item_links_name_their_item() {
    let c = compose(SHIPPED, "WT-100001", "reminder");
    let html = &c.content.html;
    assert_eq!(html.matches("<h1 ").count(), 1);
    assert!(html.contains(">Tomorrow’s the day, Zoë!</h1>"));
    assert!(html.contains(">Complete your Rome trip</h2>"));
    let labels: Vec<&str> = attrs(html, "aria-label")
        .into_iter()
        .filter(|l| l.starts_with("View tickets: "))
        .collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert_eq!(labels.iter().collect::<HashSet<_>>().len(), 3, "{labels:?}");
    for title in &c.record.item_titles {
        let escaped = tripmail::render::escape_xml(title);
        assert!(
            labels.contains(&format!("View tickets: {escaped}").as_str()),
            "{title} has no link of its own: {labels:?}"
        );
    }
}

#[test]
fn the_head_says_light_and_dark_and_the_preheader_ends_in_filler() {
    let c = compose(SHIPPED, "WT-100015", "confirmation");
    let html = &c.content.html;
    assert!(html.contains(r#"<meta name="color-scheme" content="light dark" />"#));
    assert!(html.contains(r#"<meta name="supported-color-schemes" content="light dark" />"#));
    assert!(html.contains("@media (prefers-color-scheme: dark)"));
    let preheader = tripmail::render::escape_xml(&c.content.preheader);
    let at = html.find(&preheader).expect("the preheader") + preheader.len();
    assert!(
        html[at..].starts_with(&"&#847;&zwnj;&nbsp;".repeat(60)),
        "no filler after the preheader"
    );
}

#[test]
fn french_puts_a_no_break_space_before_colons_and_bangs_in_both_parts() {
    let c = compose(SHIPPED, "WT-100004", "reminder");
    let text = &c.content.text;
    assert!(text.contains("Activité\u{a0}: "), "{text}");
    assert!(text.contains("Nous vous souhaitons un excellent séjour\u{a0}!"));
    assert!(text.contains("«\u{a0}à partir de\u{a0}»"));
    for sign in [" :", " ;", " !", " ?", "« ", " »"] {
        assert!(
            !text.contains(sign),
            "{sign:?} after a plain space in:\n{text}"
        );
    }
    let html = &c.content.html;
    assert!(html.contains("Petit rappel&#160;: "));
    assert!(!html.contains("\\u{a0}"), "an escaped no-break space");
    assert!(
        c.content.subject.contains("demain\u{a0}: "),
        "{}",
        c.content.subject
    );
}

#[test]
fn titles_come_in_the_customer_s_language_where_the_catalog_has_them() {
    // A German confirmation of product 1192270 and its items, from the embedded engine with lang=de.
    let c = compose(SHIPPED, "WT-100024", "confirmation");
    let text = &c.content.text;
    assert!(
        text.contains("Erlebnis: Tivoli: Tagesausflug Villa d'Este & Hadriansvilla"),
        "{text}"
    );
    assert!(
        c.record
            .item_titles
            .contains(&"Tagesausflug Pompeji & Amalfiküste ab Rom".to_string()),
        "{:?}",
        c.record.item_titles
    );
    // English stays as the catalog writes it.
    let en = compose(SHIPPED, "WT-100015", "confirmation");
    assert!(en
        .content
        .text
        .contains("Eiffel Tower Summit Access by Elevator"));
}

#[test]
fn shipped_subjects_fit_in_sixty_characters() {
    // WT-100028's title alone is 66 characters: its subject ends the title with "…".
    let c = compose(SHIPPED, "WT-100028", "confirmation");
    let s = &c.content.subject;
    assert!(s.chars().count() <= 60, "{s}");
    assert!(s.ends_with('…'), "{s}");
    assert!(s.starts_with("Prenotazione confermata: "), "{s}");
}

#[test]
fn the_footer_names_the_company_its_address_and_privacy_policy() {
    let c = compose(SHIPPED, "WT-100001", "reminder");
    for part in [&c.content.html, &c.content.text] {
        assert!(part.contains("Wanderly Travel B.V. (demo)"));
        assert!(part.contains("Keizersgracht 123, 1015 CJ Amsterdam, Netherlands"));
    }
    assert!(c
        .content
        .html
        .contains(r#"<a href="https://www.wanderly.example/privacy" style="color:#5f6b7a;">Privacy policy</a>"#));
    assert!(c
        .content
        .text
        .contains("Privacy policy: https://www.wanderly.example/privacy"));

    // Without the keys, their lines are left out (no empty label).
    let dir = TempDir::new().unwrap();
    let cfg = config_with(
        dir.path(),
        &[
            ("company = \"Wanderly Travel B.V. (demo)\"\n", ""),
            (
                "privacy_url = \"https://www.wanderly.example/privacy\"\n",
                "",
            ),
        ],
    );
    let c = compose(cfg.to_str().unwrap(), "WT-100001", "reminder");
    for part in [&c.content.html, &c.content.text] {
        assert!(!part.contains("Wanderly Travel B.V."));
        assert!(!part.contains("Privacy policy"));
        assert!(part.contains("Keizersgracht 123"));
    }
}

#[test]
fn the_shipped_templates_compile_into_shapes_in_every_locale() {
    // A template change that the compiled form cannot follow (a value escaped past its
    // placeholder) would send every email the slow way; the run says so at RUST_LOG=warn.
    let o = crate::util::tripmail()
        .current_dir(crate::util::root())
        .env("RUST_LOG", "warn")
        .args([
            "run",
            "--config",
            SHIPPED,
            "--now",
            crate::util::NOW,
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::util::stderr(&o));
    let err = crate::util::stderr(&o);
    assert!(!err.contains("cannot be compiled"), "{err}");
}
