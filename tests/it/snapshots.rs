//! Rendered emails as insta snapshots (text and HTML), one case a line, for what the demo's own case
//! list (`fixtures/snapshots.toml`: every campaign × locale × block, checked by
//! `template_snapshots.rs`) does not pin: summer and winter in both hemispheres, the tropics,
//! families, no opt-in, items held, an engine that does not know the product; and emails whose items
//! come from the contact-recommendations API (`fixtures/campaign-yespo.toml`). The reminders of
//! WT-100001/2/5/6/7/8/12 moved to that list, which pins the same emails (`reminder-*-block`,
//! `reminder-de-no-block`: too few items, `reminder-it-no-block`: no opt-in). The MJML of every case
//! also goes through the official validator.

use std::path::PathBuf;

use tripmail::config::{Overrides, Settings};
use tripmail::due::When;
use tripmail::run::{Campaigns, Composed, PreviewAt};

use crate::util::{root, NOW};

pub(crate) fn compose(config: &str, booking: &str, campaign: &str) -> Composed {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let settings =
            Settings::load_with_env(&root().join(config), &Overrides::default(), Vec::new())
                .unwrap();
        let c = Campaigns::start(settings).await.unwrap();
        let preview = c
            .preview(booking, campaign, PreviewAt::Now(NOW.parse().unwrap()))
            .await
            .unwrap();
        assert!(
            matches!(preview.when, When::Send(_)),
            "{campaign} is not due for {booking} at {NOW}: the case tests nothing"
        );
        preview.composed
    })
}

/// The official MJML validator from `.ci/node_modules` (installed by `.ci/setup`), or `MJML_BIN`.
pub(crate) fn mjml_validator() -> PathBuf {
    crate::util::ci_tool("mjml", "MJML_BIN")
}

fn check(config: &str, name: &str, booking: &str, campaign: &str, expect_items: bool) {
    let composed = compose(config, booking, campaign);
    assert_eq!(
        !composed.record.items.is_empty(),
        expect_items,
        "{name}: rules {:?}",
        composed.record.rules
    );
    let header = format!(
        "Subject: {}\nRules: {}\n\n",
        composed.content.subject,
        composed.record.rules.join(", ")
    );
    insta::assert_snapshot!(
        format!("{name}.text"),
        format!("{header}{}", composed.content.text)
    );
    insta::assert_snapshot!(format!("{name}.html"), composed.content.html);

    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join(format!("{name}.mjml"));
    std::fs::write(&file, &composed.content.mjml).unwrap();
    let o = std::process::Command::new(mjml_validator())
        .arg("-v")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name}: mjml -v refused the MJML:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

macro_rules! email_case {
    ($name:ident, $booking:literal, $campaign:literal, block: $block:literal) => {
        #[test]
        fn $name() {
            check(
                "fixtures/campaign.toml",
                stringify!($name),
                $booking,
                $campaign,
                $block,
            );
        }
    };
}

macro_rules! yespo_case {
    ($name:ident, $booking:literal, $campaign:literal, block: $block:literal) => {
        #[test]
        fn $name() {
            check(
                "fixtures/campaign-yespo.toml",
                stringify!($name),
                $booking,
                $campaign,
                $block,
            );
        }
    };
}

email_case!(reminder_fr_paris_holding_the_top_items, "WT-100004", "reminder", block: true);
email_case!(reminder_en_sydney_southern_summer, "WT-100011", "reminder", block: true);
email_case!(reminder_en_singapore_tropics, "WT-100014", "reminder", block: true);
email_case!(confirmation_en_paris_northern_summer, "WT-100015", "confirmation", block: true);
email_case!(confirmation_es_barcelona_family_summer, "WT-100016", "confirmation", block: true);
email_case!(confirmation_es_buenos_aires_southern_winter, "WT-100019", "confirmation", block: true);
email_case!(confirmation_de_amsterdam_spring, "WT-100021", "confirmation", block: true);
email_case!(confirmation_fr_barcelona_autumn, "WT-100022", "confirmation", block: true);
email_case!(confirmation_nl_singapore_tropics, "WT-100023", "confirmation", block: true);
email_case!(confirmation_en_unknown_city_and_product, "WT-100025", "confirmation", block: false);
email_case!(confirmation_nl_without_marketing_opt_in, "WT-100027", "confirmation", block: false);
email_case!(confirmation_it_rome_spring_holding_items, "WT-100028", "confirmation", block: true);

yespo_case!(yespo_reminder_it_rome_family_in_winter, "WT-100002", "reminder", block: true);
yespo_case!(yespo_reminder_en_sydney_southern_summer, "WT-100011", "reminder", block: true);
yespo_case!(yespo_confirmation_es_barcelona_family_summer, "WT-100016", "confirmation", block: true);
