//! `[engine.yespo]`: Yespo's contact-recommendations API
//! (`GET {base_url}/api/v2/contacts/recoms/{data_source_id}`), keyed by customer: how the customer is
//! identified, which `tags_*` fields of its feed carry currency, picture, city and the heuristics'
//! meanings; and the checks of all that.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::load::{invalid, ConfigError};
use super::{ListFormat, Provider, Secret, Settings, EMBEDDED};

/// Which query parameter identifies the customer to the contact-recommendations API, and so which
/// booking field its value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum IdentifyBy {
    /// `contactId`, from the booking's `contact_id` (a whole number).
    #[serde(rename = "contactId")]
    ContactId,
    /// `email`, from `customer_email`.
    #[serde(rename = "email")]
    Email,
    /// `phone`, from `customer_phone`.
    #[serde(rename = "phone")]
    Phone,
    /// `externalCustomerId`, from `customer_id`.
    #[serde(rename = "externalCustomerId")]
    ExternalCustomerId,
    /// `webId`, from `web_id`.
    #[serde(rename = "webId")]
    WebId,
}

impl IdentifyBy {
    /// The query parameter.
    pub fn param(self) -> &'static str {
        match self {
            IdentifyBy::ContactId => "contactId",
            IdentifyBy::Email => "email",
            IdentifyBy::Phone => "phone",
            IdentifyBy::ExternalCustomerId => "externalCustomerId",
            IdentifyBy::WebId => "webId",
        }
    }

    /// The booking field the value comes from.
    pub fn field(self) -> &'static str {
        match self {
            IdentifyBy::ContactId => "contact_id",
            IdentifyBy::Email => "customer_email",
            IdentifyBy::Phone => "customer_phone",
            IdentifyBy::ExternalCustomerId => "customer_id",
            IdentifyBy::WebId => "web_id",
        }
    }

    /// Every way, in the documented order.
    pub const ALL: [IdentifyBy; 5] = [
        IdentifyBy::ContactId,
        IdentifyBy::Email,
        IdentifyBy::Phone,
        IdentifyBy::ExternalCustomerId,
        IdentifyBy::WebId,
    ];
}

/// What the request's `category` parameter carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CategoryFrom {
    /// The booking's city, as written in the booking.
    City,
}

/// `[engine.yespo]`: the contact-recommendations API
/// (`GET {base_url}/api/v2/contacts/recoms/{data_source_id}`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YespoSettings {
    /// `embedded` (the in-process engine serving `engine.catalog`) or the API's base URL.
    pub base_url: String,
    /// The HTTP Basic user name (Yespo accepts any; the API key is the password).
    #[serde(default = "default_yespo_username")]
    pub username: String,
    /// The API key, sent as the Basic password (`TRIPMAIL_ENGINE__YESPO__API_KEY`); never printed.
    pub api_key: Option<Secret>,
    /// The data source (one per recommendation type); a campaign may name its own.
    pub data_source_id: u64,
    /// Which parameter identifies the customer.
    #[serde(default = "default_identify_by")]
    pub identify_by: IdentifyBy,
    /// Send the booking's city as `category` (for category-based algorithms); none by default.
    pub category: Option<CategoryFrom>,
    /// How the `products` list is written.
    #[serde(default = "default_yespo_list_format")]
    pub list_format: ListFormat,
    /// Currency of `price` when the item says none (see `currency_field`).
    pub currency: String,
    /// A `tags_*` field holding the item's currency, if the feed has one.
    pub currency_field: Option<String>,
    /// A `tags_*` field holding the item's picture URL, if the feed has one (else no picture).
    pub image_field: Option<String>,
    /// A `tags_*` field holding the item's city, if the feed has one: an item of another city than
    /// the trip's is not shown. Items the catalog knows are judged by the catalog.
    pub city_field: Option<String>,
    /// Which `tags_*` fields carry the meanings the heuristics need.
    #[serde(default)]
    pub tags: YespoTags,
}

fn default_yespo_username() -> String {
    "tripmail".to_string()
}

fn default_identify_by() -> IdentifyBy {
    IdentifyBy::Email
}

fn default_yespo_list_format() -> ListFormat {
    ListFormat::Comma
}

impl fmt::Debug for YespoSettings {
    /// As the derived one, minus nothing secret: the key is a [`Secret`] already; spelled out so that
    /// a new field is a conscious choice.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YespoSettings")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("api_key", &self.api_key)
            .field("data_source_id", &self.data_source_id)
            .field("identify_by", &self.identify_by)
            .field("category", &self.category)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

/// `[engine.yespo.tags]`: for each meaning, the `tags_*` matches that give it to an item, as
/// `"tags_field=value"` (the field equals the value, or is a list holding it; case-insensitive) or
/// `"tags_field"` (the field is true, 1, "yes" or "true").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YespoTags {
    /// Indoor items, preferred in winter.
    pub indoor: Matches,
    /// Outdoor items, preferred in summer.
    pub outdoor: Matches,
    /// Family-friendly items: the only ones shown to a family.
    pub family: Matches,
    /// Adults-only items: never shown to a family.
    pub adults_only: Matches,
}

/// One match or a list of them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "OneOrMany")]
pub struct Matches(pub Vec<TagMatch>);

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Matches {
    fn from(v: OneOrMany) -> Matches {
        let list = match v {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        Matches(list.iter().map(|s| TagMatch::parse(s)).collect())
    }
}

/// `tags_field=value` or `tags_field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMatch {
    /// The field, as written.
    pub field: String,
    /// The value wanted; `None` for "is true".
    pub value: Option<String>,
}

impl TagMatch {
    /// Splits at the first `=`.
    pub fn parse(s: &str) -> TagMatch {
        match s.split_once('=') {
            Some((f, v)) => TagMatch {
                field: f.trim().to_string(),
                value: Some(v.trim().to_string()),
            },
            None => TagMatch {
                field: s.trim().to_string(),
                value: None,
            },
        }
    }
}

impl YespoSettings {
    /// Whether the in-process engine is used.
    pub fn is_embedded(&self) -> bool {
        self.base_url == EMBEDDED
    }
}

impl Settings {
    /// Checks `[engine.yespo]`, or, without one, that no campaign asks the yespo API.
    pub(super) fn validate_yespo_section(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let e = &self.engine;
        match &e.yespo {
            Some(y) => {
                e.check_base_url(path, "engine.yespo.base_url", &y.base_url)?;
                self.validate_yespo(path, y)?;
            }
            None => {
                if let Some((i, c)) = self
                    .campaigns
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.provider(e) == Provider::Yespo)
                {
                    let key = if c.provider.is_some() {
                        format!("campaign[{i}].provider")
                    } else {
                        "engine.provider".to_string()
                    };
                    return Err(bad(
                        &key,
                        format!(
                            "campaign {} asks the yespo API, but there is no [engine.yespo] section",
                            c.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_yespo(&self, path: &Path, y: &YespoSettings) -> Result<(), ConfigError> {
        y.validate_access(path)?;
        self.validate_source_ids(path, y)?;
        y.validate_values(path)?;
        y.validate_tags(path)
    }

    /// Data sources are numbered from 1, the default one and each campaign's.
    fn validate_source_ids(&self, path: &Path, y: &YespoSettings) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let source_ids =
            std::iter::once(("engine.yespo.data_source_id".to_string(), y.data_source_id)).chain(
                self.campaigns.iter().enumerate().filter_map(|(i, c)| {
                    c.data_source_id
                        .map(|d| (format!("campaign[{i}].data_source_id"), d))
                }),
            );
        for (key, id) in source_ids {
            if id == 0 {
                return Err(bad(&key, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

impl YespoSettings {
    /// A remote API's URL and key, and the HTTP Basic user name.
    fn validate_access(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let y = self;
        if !y.is_embedded() {
            // base_url parsed already.
            let url = url::Url::parse(&y.base_url)
                .map_err(|err| bad("engine.yespo.base_url", err.to_string()))?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err(bad(
                    "engine.yespo.base_url",
                    "must have no query string or fragment (the API path is appended to it)".into(),
                ));
            }
            // https beyond loopback is checked with the cross-sell engine's base_url.
            if y.api_key.is_none() {
                return Err(bad(
                    "engine.yespo.api_key",
                    "the API needs it (HTTP Basic password): set TRIPMAIL_ENGINE__YESPO__API_KEY"
                        .into(),
                ));
            }
        }
        if y.username.is_empty() || y.username.contains(':') {
            return Err(bad(
                "engine.yespo.username",
                format!(
                    "{:?} must be non-empty, without ':' (HTTP Basic)",
                    y.username
                ),
            ));
        }
        Ok(())
    }

    /// The currency, and a key that is set but empty.
    fn validate_values(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let y = self;
        let currency_ok =
            y.currency.len() == 3 && y.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !currency_ok {
            return Err(bad(
                "engine.yespo.currency",
                format!("{:?} is not an ISO 4217 code such as \"EUR\"", y.currency),
            ));
        }
        if y.api_key.as_ref().is_some_and(|k| k.expose().is_empty()) {
            return Err(bad("engine.yespo.api_key", "is empty".into()));
        }
        Ok(())
    }

    /// The `tags_*` fields named, alone and in the heuristics' meanings.
    fn validate_tags(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let y = self;
        let tags_field = |key: &str, field: &str| tags_field(path, key, field);
        for (key, field) in [
            ("engine.yespo.currency_field", &y.currency_field),
            ("engine.yespo.image_field", &y.image_field),
            ("engine.yespo.city_field", &y.city_field),
        ] {
            if let Some(f) = field {
                tags_field(key, f)?;
            }
        }
        for (meaning, matches) in [
            ("indoor", &y.tags.indoor),
            ("outdoor", &y.tags.outdoor),
            ("family", &y.tags.family),
            ("adults_only", &y.tags.adults_only),
        ] {
            let key = format!("engine.yespo.tags.{meaning}");
            for m in &matches.0 {
                tags_field(&key, &m.field)?;
                if m.value.as_deref() == Some("") {
                    return Err(bad(
                        &key,
                        format!(
                            "{}= has no value (write {0} alone for a true/false field)",
                            m.field
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks that `field` (the value of `key`) names one of the API's optional `tags_*` fields.
fn tags_field(path: &Path, key: &str, field: &str) -> Result<(), ConfigError> {
    let bad = invalid(path);
    let ok = field.len() > "tags_".len()
        && field.starts_with("tags_")
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(bad(
            key,
            format!("{field:?} is not a tags_* field name (the API's optional fields all start with tags_)"),
        ))
    }
}
