//! What a console stands on, through the library alone as a second front end calls it (and the
//! `preview` flags that show the same): why the block holds its items, a preview in another
//! language of a booking already read, a test send into a real MailDev that leaves the ledger as
//! it was, and the plan over bookings already read.

use std::path::Path;

use lettre::message::Mailbox;
use tripmail::bookings::Loaded;
use tripmail::config::{Overrides, Settings};
use tripmail::plan::{plan, plan_of, PlanOptions};
use tripmail::run::{send_test, Campaigns, Preview, PreviewAt, TestSendError};

use crate::sandbox::{header, MailDev};
use crate::util::{preview_cmd, runtime, stderr, tripmail, NOW};

fn settings(overrides: Overrides) -> Settings {
    Settings::load(Path::new("fixtures/campaign.toml"), &overrides).unwrap()
}

/// The shipped `campaign`'s email for `booking_id` at [`NOW`], in `lang` when given.
fn preview(settings: Settings, booking_id: &str, campaign: &str, lang: Option<&str>) -> Preview {
    let loaded = Loaded::load(&settings.bookings.path).unwrap();
    let booking = loaded.by_id(booking_id).unwrap().as_ref().clone();
    runtime().block_on(async {
        let campaigns = Campaigns::start(settings).await.unwrap();
        let at = PreviewAt::Now(NOW.parse().unwrap());
        campaigns
            .preview_of(booking, campaign, at, lang)
            .await
            .unwrap()
    })
}

/// The catalog's title of `product` in `lang`.
fn catalog_title(product: u64, lang: &str) -> String {
    let text = std::fs::read_to_string("fixtures/catalog.json").unwrap();
    let catalog: serde_json::Value = serde_json::from_str(&text).unwrap();
    let products = catalog["products"].as_array().unwrap();
    let p = products
        .iter()
        .find(|p| p["product_id"] == product)
        .unwrap();
    p["titles"][lang].as_str().unwrap().to_string()
}

#[test]
fn why_a_winter_family_trip_to_rome_holds_its_items_is_said_in_words() {
    let p = preview(
        settings(Overrides::default()),
        "WT-100002",
        "reminder",
        None,
    );
    let why = &p.composed.why;
    assert_eq!(
        why[0],
        "Winter in Rome (visit on 12 Dec 2026): indoor experiences first."
    );
    assert_eq!(
        why[1],
        "A family (2 adults, 2 children): family-friendly only, no adults-only."
    );
    assert!(why[2].contains("ranks its items by commission"), "{why:?}");
    let shown = why.last().unwrap();
    for title in &p.composed.record.item_titles {
        assert!(shown.contains(title.as_str()), "{shown} names {title}");
    }
}

#[test]
fn why_names_the_products_the_customer_holds_that_were_left_out() {
    let p = preview(
        settings(Overrides::default()),
        "WT-100004",
        "reminder",
        None,
    );
    let held = p
        .composed
        .why
        .iter()
        .find(|w| w.starts_with("Held: "))
        .unwrap_or_else(|| panic!("{:?}", p.composed.why));
    for product in [2223392, 2230175] {
        let title = catalog_title(product, "fr");
        assert!(held.contains(&title), "{held} names {title}");
    }
}

#[test]
fn a_booking_in_memory_previews_in_another_language_and_an_unknown_one_is_named() {
    let en = preview(
        settings(Overrides::default()),
        "WT-100001",
        "reminder",
        None,
    );
    assert_eq!(en.composed.email.subject, "Your trip to Rome is tomorrow");
    let de = preview(
        settings(Overrides::default()),
        "WT-100001",
        "reminder",
        Some("de"),
    );
    assert_eq!(
        de.composed.email.subject,
        "Morgen geht’s los: Ihre Reise nach Rom"
    );
    assert!(de.composed.email.text.contains("Zoë"), "same customer");
    assert_eq!(
        de.composed.email.to.email.to_string(),
        "zoe.hartley@example.com"
    );
    let o = preview_cmd("WT-100001", "reminder")
        .args(["--lang", "xx"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains(r#"no language "xx" in the templates (they have en, nl, de, fr, es, it)"#),
        "{}",
        stderr(&o)
    );
}

#[test]
fn preview_lang_and_why_show_the_german_email_and_the_reasons() {
    let o = preview_cmd("WT-100002", "reminder")
        .args(["--lang", "de", "--why", "--format", "text"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Nur noch 2 Tage, Niccolò!"), "{text}");
    assert!(text.contains("Noch mehr erleben in Rom"), "{text}");
    let err = stderr(&o);
    assert!(
        err.contains("Why these items:\n  - Winter in Rome"),
        "{err}"
    );
    assert!(
        err.contains("  - A family (2 adults, 2 children): family-friendly only, no adults-only."),
        "{err}"
    );
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_test_send_reaches_maildev_redirected_and_leaves_the_ledger_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let md = MailDev::start();
    // A ledger with the campaign's real sends in it.
    let o = tripmail()
        .args(["run", "--config", "fixtures/campaign.toml", "--now", NOW])
        .args(["--smtp", &md.url(), "--state"])
        .arg(&ledger)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    md.clear();
    let before = files(dir.path());
    let overrides = Overrides {
        smtp_url: Some(md.url()),
        state_path: Some(ledger.clone()),
        ..Overrides::default()
    };
    let s = settings(overrides);
    let p = preview(s.clone(), "WT-100001", "reminder", Some("de"));
    let to: Mailbox = "Marketing <me@wanderly.example>".parse().unwrap();
    let reply = runtime().block_on(send_test(&s, &p, &to)).unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let emails = md.emails();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["to"][0]["address"], "me@wanderly.example");
    assert_eq!(
        emails[0]["subject"],
        "Morgen geht’s los: Ihre Reise nach Rom"
    );
    let source = md.source(emails[0]["id"].as_str().unwrap());
    let original = header(&source, "X-Tripmail-Original-To");
    assert_eq!(original.as_deref(), Some("zoe.hartley@example.com"));
    let id = header(&source, "Message-ID").unwrap();
    assert!(id.starts_with("<preview-"), "{id}");
    // Whoever gets the test cannot unsubscribe the customer: the link's signature is not hers.
    let real = p.composed.email.list_unsubscribe.clone().unwrap();
    let sig = real.split("sig=").nth(1).unwrap();
    let unfolded = source.replace("=\r\n", "").replace("\r\n ", " ");
    assert!(
        !unfolded.contains(sig),
        "the customer's signature is in the test"
    );
    let redirected = p.composed.email.clone().redirected(&to);
    assert!(p.composed.email.text.contains(sig) && p.composed.email.html.contains(sig));
    assert!(!redirected.text.contains(sig) && !redirected.html.contains(sig));
    assert!(redirected.html.contains("sig=test-send-not-signed"));
    let header_link = header(&source, "List-Unsubscribe").unwrap();
    assert!(
        header_link.contains("sig=test-send-not-signed"),
        "{header_link}"
    );
    assert_eq!(
        files(dir.path()),
        before,
        "the ledger and its files are untouched"
    );
}

#[test]
fn a_test_send_without_an_smtp_server_says_so() {
    let s = settings(Overrides::default());
    let p = preview(s.clone(), "WT-100001", "reminder", None);
    let to: Mailbox = "me@wanderly.example".parse().unwrap();
    let e = runtime().block_on(send_test(&s, &p, &to)).unwrap_err();
    assert!(matches!(e, TestSendError::NoSmtp), "{e}");
    assert_eq!(
        e.to_string(),
        "no smtp.url in the config: a test send needs an SMTP server"
    );
}

#[test]
fn the_plan_over_bookings_already_read_is_the_plan_of_the_file() {
    let s = settings(Overrides::default());
    let opts = PlanOptions {
        from: NOW.parse().unwrap(),
        until: "2026-12-24T09:00:00Z".parse().unwrap(),
        every: Some(std::time::Duration::from_secs(300)),
        campaign: None,
        days_in: chrono_tz::Europe::Amsterdam,
        recipients: 5,
    };
    let loaded = Loaded::load(&s.bookings.path).unwrap();
    let of_loaded = plan_of(&s, &opts, loaded.rows()).unwrap();
    assert_eq!(of_loaded, plan(&s, &opts).unwrap());
    assert!(of_loaded.totals.values().sum::<u64>() > 30, "{of_loaded:?}");
}

#[test]
fn a_test_send_that_cannot_reach_its_server_says_so_without_the_password() {
    let port = crate::sandbox::free_port();
    let overrides = Overrides {
        smtp_url: Some(format!("smtp://mkt:s3cret-pw@127.0.0.1:{port}")),
        ..Overrides::default()
    };
    let s = settings(overrides);
    let p = preview(s.clone(), "WT-100001", "reminder", None);
    let to: Mailbox = "me@wanderly.example".parse().unwrap();
    let started = std::time::Instant::now();
    let e = runtime().block_on(send_test(&s, &p, &to)).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        text.contains(&format!(
            "the test to me@wanderly.example through smtp://127.0.0.1:{port}"
        )),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
