//! `tripmail validate` and configuration errors: each names the file, line or key, and exits 2.

use std::path::Path;

use tempfile::TempDir;

use crate::config_case::edited;
use crate::util::{
    config_with, fails_with, root, run_shipped_cmd, stderr, templates_with, tripmail,
};

/// The shipped config with `from` replaced by `to`.
fn shipped(from: &str, to: &str) -> String {
    edited("fixtures/campaign.toml", &[(from, to)])
}

/// The shipped scheduled config with `from` replaced by `to`.
fn scheduled(from: &str, to: &str) -> String {
    edited("fixtures/campaign-scheduled.toml", &[(from, to)])
}

fn validate(config: &Path) -> std::process::Output {
    tripmail()
        .args(["validate", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

/// `tripmail validate` with a copy of the shipped templates in which `name` was edited.
fn validate_with_edited_template(
    name: &str,
    edit: impl Fn(String) -> String,
) -> std::process::Output {
    let tmp = TempDir::new().unwrap();
    let dir = templates_with(tmp.path(), name, edit);
    let dir_line = format!("dir = {:?}", dir.display().to_string());
    let cfg = config_with(tmp.path(), &[("dir = \"templates\"", &dir_line)]);
    validate(&cfg)
}

#[test]
fn the_shipped_config_validates() {
    let o = validate(&root().join("fixtures/campaign.toml"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ok (2 campaigns, 48 renders checked"), "{out}");
}

#[test]
fn a_broken_template_is_reported_with_file_and_line_and_exit_2() {
    let o = validate_with_edited_template("reminder.mjml.tera", |t| {
        t.replace("{{ t.reminder_heading }}", "{{ t.reminder_heading }")
    });
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("reminder.mjml.tera"), "{err}");
    // The broken tag is on line 3 of the template.
    assert!(err.contains("--> 3:"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("tripmail:")).count(),
        1,
        "printed once: {err}"
    );
}

#[test]
fn mjml_that_does_not_parse_is_reported_with_its_template_and_line() {
    let o = validate_with_edited_template("confirmation.mjml.tera", |t| {
        t.replace(
            "<mj-text padding=\"12px 32px 0\" css-class=\"tm-text\">",
            "<mj-text padding=\"12px 32px 0\" css-class=\"tm-text\"><mj-section>",
        )
    });
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("confirmation.mjml.tera: the MJML it produced does not parse"),
        "{err}"
    );
    assert!(err.contains("line "), "{err}");
}

#[test]
fn every_missing_translation_of_every_locale_is_listed_not_only_the_first() {
    let tmp = TempDir::new().unwrap();
    let dir = templates_with(tmp.path(), "i18n/de.ftl", |t| {
        let keep = |l: &&str| !l.starts_with("block-intro") && !l.starts_with("footer-reason");
        t.lines().filter(keep).collect::<Vec<_>>().join("\n")
    });
    let fr = dir.join("i18n/fr.ftl");
    let text = std::fs::read_to_string(&fr).unwrap();
    let text: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("footer-prices"))
        .collect();
    std::fs::write(&fr, text.join("\n")).unwrap();
    let dir_line = format!("dir = {:?}", dir.display().to_string());
    let o = validate(&config_with(
        tmp.path(),
        &[("dir = \"templates\"", &dir_line)],
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for (file, id) in [
        ("de.ftl", "block-intro"),
        ("de.ftl", "footer-reason"),
        ("fr.ftl", "footer-prices"),
    ] {
        assert!(
            err.contains(&format!("{file}: message `{id}`: missing")),
            "{err}"
        );
    }
    assert!(err.contains("3 translations missing"), "{err}");
}

#[test]
fn the_lint_finds_what_a_template_edit_broke_and_the_shipped_templates_are_clean() {
    let o = validate(&root().join("fixtures/campaign.toml"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("(Gmail clips after 102 KB); 0 findings"),
        "{out}"
    );
    let o = validate_with_edited_template("layout.mjml.tera", |t| {
        let t = t.replace(
            "<br /><a href=\"{{ unsubscribe_url }}\" style=\"color:#5f6b7a;\">{{ t.footer_unsubscribe }}</a>",
            "",
        );
        assert!(
            !t.contains("{{ t.footer_unsubscribe }}"),
            "the footer link was removed"
        );
        t.replace(
            "{{ t.footer_reason }}",
            "{{ t.footer_reason }} <a href=\"http://wanderly.example/help\">help</a><img src=\"https://x.example/p.png\" width=\"1\" height=\"1\" />",
        )
    });
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("tripmail: error: campaign `reminder`, de, 3 items: no unsubscribe link in the HTML, though the campaign needs one"), "{err}");
    assert!(err.contains("warning: campaign `confirmation`, en, 0 items: a link that is not https: http://wanderly.example/help"), "{err}");
    assert!(
        err.contains("a picture without alt text: https://x.example/p.png"),
        "{err}"
    );
    assert!(
        !err.contains("confirmation`, en, 0 items: no unsubscribe"),
        "a transactional email needs none: {err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("findings (24 to fix"), "{out}");
}

#[test]
fn a_message_missing_from_one_locale_is_named_with_its_file() {
    let o = validate_with_edited_template("i18n/de.ftl", |t| {
        t.lines()
            .filter(|l| !l.starts_with("block-intro"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("de.ftl: message `block-intro`: missing"),
        "{err}"
    );
}

#[test]
fn a_fluent_syntax_error_is_named_with_file_and_line() {
    let o = validate_with_edited_template("i18n/fr.ftl", |t| {
        t.replacen("details-date = ", "details-date = { $oops", 1)
    });
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let text = std::fs::read_to_string(root().join("templates/i18n/fr.ftl")).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("details-date = "))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("fr.ftl:{line}:")), "{err}");
}

config_case!(
    an_unknown_key_is_named,
    shipped("timeout_ms = 2000", "timeout_ms = 2000\ncolour = \"blue\""),
    "engine.colour",
    "unknown field `colour`",
);

config_case!(
    an_item_count_out_of_range_is_named_with_its_key,
    shipped(
        "days_before = 3\nsort_by = \"commission\"\nitems = 3",
        "days_before = 3\nsort_by = \"commission\"\nitems = 7"
    ),
    "campaign[1].items",
    "7 is not between 2 and 4",
);

config_case!(
    an_unknown_sort_order_is_named_with_its_key,
    shipped(
        "sort_by = \"commission\"\nitems = 3\n\n[[campaign]]",
        "sort_by = \"price\"\nitems = 3\n\n[[campaign]]"
    ),
    "campaign[0].sort_by",
    "enum SortBy does not have variant constructor price",
);

#[test]
fn environment_variables_override_the_file_and_bad_ones_are_named() {
    let o = tripmail()
        .args(["validate", "--config", "fixtures/campaign.toml"])
        .env("TRIPMAIL_ENGINE__TIMEOUT_MS", "soon")
        .output()
        .unwrap();
    fails_with(&o, "engine.timeout_ms");
    // A good override takes effect: a bookings path that does not exist is reported.
    let out = TempDir::new().unwrap();
    let o = run_shipped_cmd(out.path())
        .env("TRIPMAIL_BOOKINGS__PATH", "fixtures/nowhere.csv")
        .output()
        .unwrap();
    fails_with(&o, "fixtures/nowhere.csv: cannot read the bookings");
}

#[test]
fn a_bad_now_is_refused_with_the_expected_form() {
    let o = tripmail()
        .args([
            "run",
            "--config",
            "fixtures/campaign.toml",
            "--now",
            "tomorrow",
        ])
        .output()
        .unwrap();
    fails_with(&o, "is not an RFC 3339 instant");
}

// Schedule keys, on the shipped scheduled config.

config_case!(
    a_window_over_midnight_is_refused,
    scheduled(
        "send_window = \"09:00-20:00\"",
        "send_window = \"20:00-09:00\""
    ),
    "campaign[1].send_window",
    "\"20:00-09:00\": the window must open before it closes",
);

config_case!(
    a_window_not_written_in_hours_and_minutes_is_refused,
    scheduled("send_window = \"09:00-20:00\"", "send_window = \"9am-8pm\""),
    "campaign[1].send_window",
    "\"9am\" is not a time of day",
);

config_case!(
    send_at_outside_the_window_is_refused,
    scheduled("send_at = \"10:00\"", "send_at = \"21:00\""),
    "campaign[1].send_at",
    "21:00 is outside send_window 09:00-20:00",
);

config_case!(
    send_at_past_the_end_of_the_day_is_refused,
    scheduled("send_at = \"10:00\"", "send_at = \"25:00\""),
    "campaign[1].send_at",
    "\"25:00\" is not a time of day",
);

config_case!(
    an_unknown_week_day_is_refused,
    scheduled(
        "send_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]",
        "send_days = [\"mon\", \"caturday\"]"
    ),
    "campaign[1].send_days",
    "\"caturday\" is not a day of the week",
);

config_case!(
    an_empty_list_of_days_is_refused,
    scheduled(
        "send_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\"]",
        "send_days = []"
    ),
    "campaign[1].send_days",
    "no day given",
);

config_case!(
    an_end_date_before_the_start_date_is_refused,
    scheduled(
        "# starts_on = 2026-12-01",
        "starts_on = 2026-12-01\nends_on = 2026-11-01"
    ),
    "campaign[1].ends_on",
    "2026-11-01 is before starts_on 2026-12-01",
);

config_case!(
    a_start_date_that_is_not_a_date_is_refused,
    scheduled("# starts_on = 2026-12-01", "starts_on = \"1 December\""),
    "campaign[1].starts_on",
    "input contains invalid characters",
);

config_case!(
    a_transactional_reminder_is_refused,
    scheduled("# enabled = false", "transactional = true"),
    "campaign[1].transactional",
    "only for confirmation campaigns",
);

config_case!(
    send_at_on_a_confirmation_is_refused,
    scheduled("transactional = true ", "send_at = \"10:00\""),
    "campaign[0].send_at",
    "only for reminder campaigns",
);

config_case!(
    enabled_must_be_true_or_false,
    scheduled("# enabled = false", "enabled = \"sometimes\""),
    "campaign[1].enabled",
    "invalid type: string \"sometimes\", expected a boolean",
);

config_case!(
    a_transactional_campaign_with_a_window_is_refused,
    scheduled(
        "transactional = true ",
        "transactional = true\nsend_window = \"09:00-20:00\""
    ),
    "campaign[0].send_window",
    "a transactional campaign sends at any hour, any day",
);

config_case!(
    a_lookback_over_a_year_is_refused,
    scheduled("lookback_hours = 48", "lookback_hours = 3000000000"),
    "campaign[0].lookback_hours",
    "3000000000 is more than a year",
);

config_case!(
    a_reminder_over_a_year_ahead_is_refused,
    scheduled("days_before = 3", "days_before = 400"),
    "campaign[1].days_before",
    "400 is more than a year",
);

#[test]
fn scheduled_dates_may_be_toml_dates_or_strings() {
    // The shipped scheduled config validates with both.
    let tmp = TempDir::new().unwrap();
    let cfg = crate::util::config_from(
        "fixtures/campaign-scheduled.toml",
        tmp.path(),
        &[
            ("# starts_on = 2026-12-01", "starts_on = 2026-12-01"),
            ("# ends_on = 2027-03-31", "ends_on = \"2027-03-31\""),
        ],
    );
    let o = validate(&cfg);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// The SMTP server and the unsubscribe link, parsed once when the settings load.

config_case!(
    an_smtp_url_of_another_scheme_is_refused,
    shipped(
        "max_connections = 4",
        "max_connections = 4\nurl = \"ftp://mail.example\""
    ),
    "smtp.url",
    "scheme \"ftp\": use smtp:// (plain), smtp://…?tls=starttls or smtps://",
);

config_case!(
    an_smtp_url_with_a_password_but_no_user_is_refused,
    shipped(
        "max_connections = 4",
        "max_connections = 4\nurl = \"smtp://:pw@mail.example\""
    ),
    "smtp.url",
    "has a password but no user name",
);

config_case!(
    an_smtp_password_without_a_user_is_refused,
    shipped(
        "max_connections = 4",
        "max_connections = 4\npassword = \"pw\""
    ),
    "smtp.username",
    "smtp.password is set but no username",
);

config_case!(
    an_unsubscribe_url_over_http_is_refused,
    shipped(
        "https://www.wanderly.example/unsubscribe",
        "http://www.wanderly.example/unsubscribe"
    ),
    "links.unsubscribe_url",
    "must be an https URL (RFC 8058 one-click unsubscribe)",
);

config_case!(
    a_missing_unsubscribe_url_is_refused_naming_the_campaign_that_needs_it,
    shipped("unsubscribe_url = \"https://www.wanderly.example/unsubscribe\"", ""),
    "links.unsubscribe_url",
    "campaign[1] (reminder) has unsubscribe links: set it, or set list_unsubscribe = false on the campaign",
);

config_case!(
    an_empty_unsubscribe_secret_is_refused,
    shipped(
        "unsubscribe_secret = \"wanderly-demo-unsubscribe-secret\"",
        "unsubscribe_secret = \"\""
    ),
    "links.unsubscribe_secret",
    "is empty",
);

#[test]
fn runner_flags_are_checked() {
    let run = |args: &[&str]| {
        tripmail()
            .args(["run", "--config", "fixtures/campaign.toml"])
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--every", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not an interval such as 5m"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--every", "500ms"]);
    assert!(stderr(&o).contains("at least 1s"), "{}", stderr(&o));
    fails_with(
        &run(&["--every", "5m"]),
        "--every sends, and each tick sends only what the ledger says the earlier ones did not",
    );
    fails_with(
        &run(&["--every", "5m", "--now", "2026-12-10T09:00:00Z"]),
        "--every runs on the clock",
    );
    // A campaign that does not exist stops the runner before its first tick.
    fails_with(
        &run(&[
            "--every",
            "5m",
            "--smtp",
            "smtp://127.0.0.1:9",
            "--campaign",
            "nosuch",
        ]),
        "no campaign named \"nosuch\"",
    );
    let o = tripmail()
        .args([
            "plan",
            "--config",
            "fixtures/campaign.toml",
            "--from",
            "next week",
        ])
        .output()
        .unwrap();
    fails_with(&o, "--from \"next week\" is neither a date");
}

config_case!(
    engine_concurrency_is_bounded_so_answers_in_memory_are,
    shipped("max_concurrency = 8", "max_concurrency = 100000"),
    "engine.max_concurrency",
    "100000 is not between 1 and 64",
);

#[test]
fn subjects_over_sixty_characters_are_warned_about_per_campaign_and_locale() {
    let o = validate_with_edited_template("i18n/de.ftl", |t| {
        t.replace(
            "*[other] Noch { $days } Tage bis zu Ihrer Reise nach { $city }",
            "*[other] Noch { $days } Tage bis zu Ihrer wunderbaren Reise nach { $city }, freuen Sie sich",
        )
    });
    // A warning, not a failure.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("campaign `reminder`, de: ")
            && warnings[0].contains("over 60 characters")
            && warnings[0].contains("\"Noch 3 Tage bis zu Ihrer wunderbaren Reise nach "),
        "{err}"
    );
    // The shipped copy has none (titles too long are cut to fit).
    let o = validate(&root().join("fixtures/campaign.toml"));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn a_privacy_url_that_is_not_http_is_refused_naming_the_key() {
    let dir = tempfile::TempDir::new().unwrap();
    let cfg = config_with(
        dir.path(),
        &[(
            "privacy_url = \"https://www.wanderly.example/privacy\"",
            "privacy_url = \"mailto:privacy@wanderly.example\"",
        )],
    );
    fails_with(
        &validate(&cfg),
        "key `links.privacy_url`: must be an http(s) URL",
    );
}
