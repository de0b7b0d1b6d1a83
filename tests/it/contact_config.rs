//! Configuration of the contact-recommendations API: bad `[engine.yespo]` settings stop the run
//! before any email, naming the key.

use std::process::Output;

use crate::util::{config_from, succeeds, tripmail, NOW};

fn validate_yespo(replace: &[(&str, &str)], env: &[(&str, &str)]) -> Output {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_from("fixtures/campaign-yespo.toml", tmp.path(), replace);
    let mut cmd = tripmail();
    cmd.args(["validate", "--config"]).arg(&config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("tripmail runs")
}

#[test]
fn the_shipped_yespo_config_validates() {
    let o = validate_yespo(&[], &[]);
    succeeds(&o);
}

#[test]
fn bad_yespo_settings_are_named_by_key() {
    let section = "[engine.yespo]\nbase_url = \"embedded\"";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![(section, "[engine.yespo]\nbase_urls = \"embedded\"")],
            "unknown field `base_urls`",
        ),
        (
            vec![("identify_by = \"email\"", "identify_by = \"mail\"")],
            "engine.yespo.identify_by",
        ),
        (
            vec![("currency = \"EUR\"", "currency = \"euro\"")],
            "key `engine.yespo.currency`: \"euro\" is not an ISO 4217 code",
        ),
        (
            vec![("image_field = \"tags_image\"", "image_field = \"picture\"")],
            "key `engine.yespo.image_field`: \"picture\" is not a tags_* field name",
        ),
        (
            vec![(
                "family = \"tags_labels=family-friendly\"",
                "family = \"tags_labels=\"",
            )],
            "key `engine.yespo.tags.family`",
        ),
        (
            vec![(
                section,
                "[engine.yespo]\nbase_url = \"ftp://yespo.example\"",
            )],
            "key `engine.yespo.base_url`: must be an http or https URL",
        ),
        (
            vec![("data_source_id = 1245", "data_source_id = \"personal\"")],
            "campaign[1].data_source_id",
        ),
        (
            vec![("provider = \"yespo\"", "provider = \"tiqets\"")],
            "key `campaign[1].data_source_id`: only for campaigns whose provider is yespo",
        ),
        (
            vec![(section, "[engine.yespo]\nbase_url = \"http://yespo.example\"")],
            "key `engine.yespo.base_url`: must be https",
        ),
        (
            vec![(section, "[engine.yespo]\nbase_url = \"https://yespo.example\"")],
            "key `engine.yespo.api_key`: the API needs it (HTTP Basic password): set TRIPMAIL_ENGINE__YESPO__API_KEY",
        ),
        (
            vec![(section, "[engine.yespo]\nbase_url = \"embedded\"\nusername = \"a:b\"")],
            "key `engine.yespo.username`",
        ),
        (
            vec![("data_source_id = 1244", "data_source_id = 0")],
            "key `engine.yespo.data_source_id`: must be at least 1",
        ),
        (
            vec![("attempts = 2", "attempts = 0")],
            "key `engine.attempts`: 0 is not between 1 and 10",
        ),
    ];
    for (replace, needle) in cases {
        let o = validate_yespo(&replace, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{replace:?}: {err}");
        assert!(err.contains("campaign.toml"), "{replace:?}: {err}");
        assert!(
            err.contains(needle),
            "{replace:?}: expected {needle:?} in {err}"
        );
    }
}

#[test]
fn a_yespo_campaign_without_the_yespo_section_is_refused_naming_the_campaign() {
    // The shipped cross-sell config with its reminder switched to yespo.
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = crate::util::config_with(
        tmp.path(),
        &[(
            "trigger = \"reminder\"",
            "trigger = \"reminder\"\nprovider = \"yespo\"",
        )],
    );
    let o = tripmail()
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key `campaign[1].provider`: campaign reminder asks the yespo API, but there is no [engine.yespo] section"),
        "{err}"
    );
}

#[test]
fn an_empty_api_key_from_the_environment_is_refused() {
    let o = validate_yespo(&[], &[("TRIPMAIL_ENGINE__YESPO__API_KEY", "")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key `engine.yespo.api_key`: is empty"),
        "{err}"
    );
}

#[test]
fn the_engine_url_flag_is_refused_when_no_campaign_asks_the_cross_sell_engine() {
    let o = tripmail()
        .args([
            "run",
            "--config",
            "fixtures/campaign-yespo.toml",
            "--now",
            NOW,
        ])
        .args(["--engine-url", "http://127.0.0.1:9", "--out"])
        .arg(tempfile::tempdir().expect("temp dir").path())
        .output()
        .expect("runs");
    crate::util::fails_with(
        &o,
        "key `engine.base_url`: --engine-url names the cross-sell engine, which no campaign asks",
    );
}
