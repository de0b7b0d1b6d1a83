//! Configuration of the contact-recommendations API: bad `[engine.yespo]` settings stop the run
//! before any email, naming the key.

use std::process::Output;

use crate::config_case::edited;
use crate::util::{config_from, succeeds, tripmail};

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

/// The shipped contact-recommendations config.
const YESPO: &str = "fixtures/campaign-yespo.toml";
/// Its `[engine.yespo]` section's first line, as shipped.
const SECTION: &str = "[engine.yespo]\nbase_url = \"embedded\"";

config_case!(
    an_unknown_yespo_key_is_named,
    edited(
        YESPO,
        &[(SECTION, "[engine.yespo]\nbase_urls = \"embedded\"")]
    ),
    "engine.yespo.base_urls",
    "unknown field `base_urls`",
);

config_case!(
    an_unknown_identity_is_named,
    edited(
        YESPO,
        &[("identify_by = \"email\"", "identify_by = \"mail\"")]
    ),
    "engine.yespo.identify_by",
    "enum IdentifyBy does not have variant constructor mail",
);

config_case!(
    a_currency_that_is_not_iso_4217_is_named,
    edited(YESPO, &[("currency = \"EUR\"", "currency = \"euro\"")]),
    "engine.yespo.currency",
    "\"euro\" is not an ISO 4217 code",
);

config_case!(
    an_image_field_that_is_not_a_tags_field_is_named,
    edited(
        YESPO,
        &[("image_field = \"tags_image\"", "image_field = \"picture\"")]
    ),
    "engine.yespo.image_field",
    "\"picture\" is not a tags_* field name",
);

config_case!(
    a_tag_match_without_a_value_is_named,
    edited(
        YESPO,
        &[(
            "family = \"tags_labels=family-friendly\"",
            "family = \"tags_labels=\""
        )]
    ),
    "engine.yespo.tags.family",
    "tags_labels= has no value",
);

config_case!(
    a_yespo_url_that_is_not_http_is_named,
    edited(
        YESPO,
        &[(
            SECTION,
            "[engine.yespo]\nbase_url = \"ftp://yespo.example\""
        )]
    ),
    "engine.yespo.base_url",
    "must be an http or https URL",
);

config_case!(
    a_data_source_id_that_is_not_a_number_is_named,
    edited(
        YESPO,
        &[("data_source_id = 1245", "data_source_id = \"personal\"")]
    ),
    "campaign[1].data_source_id",
    "invalid type: string \"personal\", expected an integer",
);

config_case!(
    a_data_source_id_on_a_cross_sell_campaign_is_refused,
    edited(YESPO, &[("provider = \"yespo\"", "provider = \"tiqets\"")]),
    "campaign[1].data_source_id",
    "only for campaigns whose provider is yespo",
);

config_case!(
    a_yespo_url_in_clear_text_beyond_loopback_is_refused,
    edited(
        YESPO,
        &[(
            SECTION,
            "[engine.yespo]\nbase_url = \"http://yespo.example\""
        )]
    ),
    "engine.yespo.base_url",
    "must be https",
);

config_case!(
    a_real_yespo_url_without_a_key_is_refused,
    edited(
        YESPO,
        &[(
            SECTION,
            "[engine.yespo]\nbase_url = \"https://yespo.example\""
        )]
    ),
    "engine.yespo.api_key",
    "the API needs it (HTTP Basic password): set TRIPMAIL_ENGINE__YESPO__API_KEY",
);

config_case!(
    a_username_with_a_colon_is_refused,
    edited(
        YESPO,
        &[(
            SECTION,
            "[engine.yespo]\nbase_url = \"embedded\"\nusername = \"a:b\""
        )]
    ),
    "engine.yespo.username",
    "\"a:b\" must be non-empty, without ':' (HTTP Basic)",
);

config_case!(
    a_data_source_id_of_zero_is_refused,
    edited(YESPO, &[("data_source_id = 1244", "data_source_id = 0")]),
    "engine.yespo.data_source_id",
    "must be at least 1",
);

config_case!(
    zero_engine_attempts_are_refused,
    edited(YESPO, &[("attempts = 2", "attempts = 0")]),
    "engine.attempts",
    "0 is not between 1 and 10",
);

// The shipped cross-sell config with its reminder switched to yespo.
config_case!(
    a_yespo_campaign_without_the_yespo_section_is_refused_naming_the_campaign,
    edited(
        "fixtures/campaign.toml",
        &[(
            "trigger = \"reminder\"",
            "trigger = \"reminder\"\nprovider = \"yespo\""
        )]
    ),
    "campaign[1].provider",
    "campaign reminder asks the yespo API, but there is no [engine.yespo] section",
);

config_case!(
    an_empty_api_key_from_the_environment_is_refused,
    edited(YESPO, &[]),
    env = [("TRIPMAIL_ENGINE__YESPO__API_KEY", "")],
    "engine.yespo.api_key",
    "is empty",
);

#[test]
fn the_engine_url_flag_is_refused_when_no_campaign_asks_the_cross_sell_engine() {
    let o = crate::util::run_yespo_cmd()
        .args(["--engine-url", "http://127.0.0.1:9", "--out"])
        .arg(tempfile::tempdir().expect("temp dir").path())
        .output()
        .expect("runs");
    crate::util::fails_with(
        &o,
        "key `engine.base_url`: --engine-url names the cross-sell engine, which no campaign asks",
    );
}
