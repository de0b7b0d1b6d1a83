//! Settings: a TOML file, overridden by `TRIPMAIL_<SECTION>__<KEY>` environment variables, overridden
//! by command-line flags. Everything is checked once, up front, so that a bad key stops the run before
//! any email is produced; messages name the key to fix.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use crate::schedule::{ClockTime, Days, Window};

/// A setting that is a secret: readable by the code that needs it, never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The whole configuration of a tripmail installation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the bookings come from.
    pub bookings: BookingsSettings,
    /// The cross-sell engine.
    #[serde(default)]
    pub engine: EngineSettings,
    /// Tag ids that carry the meaning our heuristics need.
    #[serde(default)]
    pub heuristics: HeuristicsSettings,
    /// Links written into emails.
    pub links: LinksSettings,
    /// The sender of every email.
    pub sender: SenderSettings,
    /// Where templates and translations live.
    #[serde(default)]
    pub templates: TemplatesSettings,
    /// The SMTP server emails are sent through (`tripmail run --smtp` or `[smtp] url`).
    #[serde(default)]
    pub smtp: SmtpSettings,
    /// Where the send ledger lives.
    #[serde(default)]
    pub state: StateSettings,
    /// The campaigns, in the order they are produced for each booking.
    #[serde(rename = "campaign")]
    pub campaigns: Vec<CampaignSettings>,
}

/// `[smtp]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain, for sandboxes), `smtp://host:port?tls=starttls`, or
    /// `smtps://host:port` (implicit TLS). No URL: nothing is sent unless `--smtp` gives one.
    pub url: Option<String>,
    /// Login, when the server wants one (`TRIPMAIL_SMTP__USERNAME`).
    pub username: Option<String>,
    /// Password (`TRIPMAIL_SMTP__PASSWORD`); never printed.
    pub password: Option<Secret>,
    /// Name given in EHLO; the machine's host name by default.
    pub hello_name: Option<String>,
    /// Emails sent per second at most, over all connections.
    pub max_per_second: Option<u32>,
    /// Connections open at once.
    pub max_connections: usize,
    /// Per-command timeout.
    pub timeout_ms: u64,
    /// Tries of one email against temporary failures (4xx, dropped or refused connections).
    pub attempts: u32,
    /// First wait between tries; doubled each time, with random jitter.
    pub retry_base_ms: u64,
    /// What to do with an email a crashed run may have handed to the server (a campaign may say
    /// otherwise); by default confirmations are sent again and reminders held.
    pub in_doubt: Option<InDoubt>,
    /// A connection idle at least this long is checked with a NOOP before it takes an email; one
    /// put back more recently (it just took one) is used as it is. 0: a NOOP before every reuse.
    pub noop_after_ms: u64,
}

/// What becomes of an email that an earlier run claimed and may have handed to the server without
/// recording its reply (it was killed, or the machine stopped): `smtp.in_doubt`, or a campaign's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InDoubt {
    /// Send it again: never lost, perhaps twice.
    Resend,
    /// Do not send it again; list it (`tripmail ledger --only in-doubt`) until someone resends or
    /// closes it: never twice, perhaps not at all.
    Hold,
}

impl InDoubt {
    /// The name used in the config and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            InDoubt::Resend => "resend",
            InDoubt::Hold => "hold",
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            url: None,
            username: None,
            password: None,
            hello_name: None,
            max_per_second: None,
            max_connections: 4,
            timeout_ms: 30_000,
            attempts: 5,
            retry_base_ms: 500,
            in_doubt: None,
            noop_after_ms: 1000,
        }
    }
}

impl fmt::Debug for SmtpSettings {
    /// As the derived one, but a URL is shown without the password it may hold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url.as_deref().map(|u| match SmtpUrl::parse(u) {
            Ok(parsed) => parsed.to_string(),
            Err(_) => "<invalid>".to_string(),
        });
        f.debug_struct("SmtpSettings")
            .field("url", &url)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("hello_name", &self.hello_name)
            .field("max_per_second", &self.max_per_second)
            .field("max_connections", &self.max_connections)
            .field("timeout_ms", &self.timeout_ms)
            .field("attempts", &self.attempts)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("in_doubt", &self.in_doubt)
            .field("noop_after_ms", &self.noop_after_ms)
            .finish()
    }
}

/// `[state]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    /// The send ledger, a SQLite file (created with its folder when missing).
    pub path: PathBuf,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            path: PathBuf::from("state/tripmail.sqlite"),
        }
    }
}

/// `[bookings]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingsSettings {
    /// A `.csv` or `.jsonl` file.
    pub path: PathBuf,
}

/// `[engine]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// `embedded` (the in-process engine serving `catalog`) or the engine's base URL.
    pub base_url: String,
    /// The catalog file: what the embedded engine serves, and where cities' latitude and time zone
    /// come from when a booking lacks them.
    pub catalog: Option<PathBuf>,
    /// Sent as `Authorization: Token <key>`.
    pub api_key: Option<Secret>,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Requests in flight at once (1 to [`MAX_ENGINE_CONCURRENCY`]).
    pub max_concurrency: usize,
    /// Request rate towards a remote engine (the embedded engine is not limited).
    pub requests_per_second: u32,
    /// How id lists are written in the query string.
    pub list_format: ListFormat,
    /// Tries of one request against a 429, a 502/503/504 or a broken connection (1 = no retry).
    pub attempts: u32,
    /// First wait between tries; doubled each time, with random jitter.
    pub retry_base_ms: u64,
    /// The largest answer read from either API; a longer one fails its request.
    pub max_answer_bytes: usize,
    /// Which recommendation API campaigns ask, unless a campaign says otherwise.
    pub provider: Provider,
    /// The contact-recommendations API, for campaigns with `provider = "yespo"`.
    pub yespo: Option<YespoSettings>,
}

/// The recommendation APIs tripmail can ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The cross-sell API, keyed by product (`base_url` of `[engine]`).
    Tiqets,
    /// Yespo's contact recommendations, keyed by customer (`[engine.yespo]`).
    Yespo,
}

impl Provider {
    /// The name written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Tiqets => "tiqets",
            Provider::Yespo => "yespo",
        }
    }
}

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

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            base_url: EMBEDDED.to_string(),
            catalog: None,
            api_key: None,
            timeout_ms: 2000,
            max_concurrency: 8,
            requests_per_second: 15,
            list_format: ListFormat::Brackets,
            attempts: 2,
            retry_base_ms: 250,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            provider: Provider::Tiqets,
            yespo: None,
        }
    }
}

/// `engine.max_answer_bytes` by default: an answer of ten items is a few kB.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 1 << 20;

/// The largest `engine.max_answer_bytes` allowed.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The most engine requests in flight at once: each may hold an answer of up to
/// `engine.max_answer_bytes`, so this bounds the memory answers take.
pub const MAX_ENGINE_CONCURRENCY: usize = 64;

/// Whether `url` names this machine: a 127.x.x.x or ::1 address, or `localhost`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The `base_url` that selects the in-process engine.
pub const EMBEDDED: &str = "embedded";

impl EngineSettings {
    /// Whether the in-process engine is used.
    pub fn is_embedded(&self) -> bool {
        self.base_url == EMBEDDED
    }
}

impl YespoSettings {
    /// Whether the in-process engine is used.
    pub fn is_embedded(&self) -> bool {
        self.base_url == EMBEDDED
    }
}

/// How a list of ids is written in a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    /// `k=[1,2]`, as in the cross-sell guide.
    Brackets,
    /// `k=1,2`
    Comma,
    /// `k=1&k=2`
    Repeat,
}

/// `[heuristics]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeuristicsSettings {
    /// Tags of indoor products, preferred in winter.
    pub indoor_tag_ids: Vec<u64>,
    /// Tags of outdoor products, preferred in summer.
    pub outdoor_tag_ids: Vec<u64>,
    /// Tags of family-friendly products: the only ones shown to a family.
    pub family_tag_ids: Vec<u64>,
    /// Tags of adults-only products: never shown to a family.
    pub adults_only_tag_ids: Vec<u64>,
}

/// `[links]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksSettings {
    /// With `{product_id}` and optionally `{campaign}` placeholders.
    pub product_url: String,
    /// The one-click unsubscribe endpoint (https); `booking`, `campaign` and `sig` are added to it.
    pub unsubscribe_url: Option<String>,
    /// Key of the HMAC-SHA256 `sig` of unsubscribe links (`TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET`).
    pub unsubscribe_secret: Option<Secret>,
}

/// `[sender]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderSettings {
    /// `Name <address>`; the name is the brand shown in the emails.
    pub from: Mailbox,
}

/// `[templates]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesSettings {
    /// Folder of the Tera templates; translations are in its `i18n/` subfolder.
    pub dir: PathBuf,
}

impl Default for TemplatesSettings {
    fn default() -> Self {
        TemplatesSettings {
            dir: PathBuf::from("templates"),
        }
    }
}

/// What makes a campaign's email due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Soon after the booking is made.
    Confirmation,
    /// A few days before the trip.
    Reminder,
}

impl Trigger {
    /// The name used in templates and translations.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Confirmation => "confirmation",
            Trigger::Reminder => "reminder",
        }
    }
}

/// The engine's sort orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// conversion_rate × commission
    Balanced,
    /// Most likely to be bought.
    ConversionRate,
    /// Most earned per sale.
    Commission,
}

impl SortBy {
    /// The value of the `sort_by` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Balanced => "balanced",
            SortBy::ConversionRate => "conversion_rate",
            SortBy::Commission => "commission",
        }
    }

    /// Parses the `sort_by` query parameter.
    pub fn parse(s: &str) -> Option<SortBy> {
        match s {
            "balanced" => Some(SortBy::Balanced),
            "conversion_rate" => Some(SortBy::ConversionRate),
            "commission" => Some(SortBy::Commission),
            _ => None,
        }
    }
}

/// One `[[campaign]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// Unique; names the output folder and goes into links as `{campaign}`.
    pub name: String,
    /// What makes the email due.
    pub trigger: Trigger,
    /// Confirmation: bookings made within this many hours before `now`.
    pub lookback_hours: Option<u32>,
    /// Reminder: sent when the trip is 1 to this many days away.
    pub days_before: Option<u32>,
    /// The engine's sort order.
    #[serde(default = "default_sort_by")]
    pub sort_by: SortBy,
    /// The most items shown in the block, 2 to 4.
    #[serde(default = "default_items")]
    pub items: usize,
    /// Template base name (`<template>.mjml.tera`, `<template>.txt.tera`); the trigger by default.
    pub template: Option<String>,
    /// Whether emails carry `List-Unsubscribe` (one-click, RFC 8058) and an unsubscribe link:
    /// by default reminders do (marketing), confirmations do not (transactional).
    pub list_unsubscribe: Option<bool>,
    /// The recommendation API asked for this campaign; `engine.provider` by default.
    pub provider: Option<Provider>,
    /// Yespo: this campaign's data source (recommendation type); `engine.yespo.data_source_id` by
    /// default.
    pub data_source_id: Option<u64>,
    /// Whether the campaign sends at all (`false`: it is skipped by `run` and `plan`).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The first day it sends (the customer's date).
    pub starts_on: Option<NaiveDate>,
    /// The last day it sends (the customer's date).
    pub ends_on: Option<NaiveDate>,
    /// The hours in which it sends, in the customer's time zone; the whole day by default.
    pub send_window: Option<Window>,
    /// The days on which it sends, in the customer's time zone; every day by default.
    pub send_days: Option<Days>,
    /// Reminders: the local time of day it sends at (inside the window); the window's opening by
    /// default.
    pub send_at: Option<ClockTime>,
    /// Confirmations: send as soon as due, ignoring the window and days (a confirmation that must
    /// never wait).
    pub transactional: Option<bool>,
    /// What becomes of this campaign's emails in doubt after a crash (`smtp.in_doubt` by default).
    pub in_doubt: Option<InDoubt>,
}

fn default_enabled() -> bool {
    true
}

fn default_sort_by() -> SortBy {
    SortBy::Commission
}

fn default_items() -> usize {
    3
}

impl CampaignSettings {
    /// The template base name.
    pub fn template_name(&self) -> &str {
        self.template.as_deref().unwrap_or(self.trigger.as_str())
    }

    /// The recommendation API of this campaign.
    pub fn provider(&self, engine: &EngineSettings) -> Provider {
        self.provider.unwrap_or(engine.provider)
    }

    /// What becomes of this campaign's emails in doubt: its own `in_doubt`, else `smtp.in_doubt`,
    /// else resend for confirmations (a customer without one calls support; a second copy costs
    /// nothing) and hold for reminders (a second marketing email costs trust; a missing one little).
    pub fn in_doubt(&self, smtp: &SmtpSettings) -> InDoubt {
        self.in_doubt
            .or(smtp.in_doubt)
            .unwrap_or(match self.trigger {
                Trigger::Confirmation => InDoubt::Resend,
                Trigger::Reminder => InDoubt::Hold,
            })
    }

    /// Whether the campaign's emails carry an unsubscribe link and `List-Unsubscribe`.
    pub fn wants_unsubscribe(&self) -> bool {
        self.list_unsubscribe
            .unwrap_or(self.trigger == Trigger::Reminder)
    }
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("{path}: {message}")]
    Load {
        /// The config file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A key has a value that cannot be used.
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Builds the error of a key of the config file at `path`.
fn invalid(path: &Path) -> impl Fn(&str, String) -> ConfigError + '_ {
    move |key, reason| ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        reason,
    }
}

/// Values given on the command line, which win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--bookings`
    pub bookings_path: Option<PathBuf>,
    /// `--catalog`
    pub catalog: Option<PathBuf>,
    /// `--engine-url`
    pub engine_url: Option<String>,
    /// `--smtp`
    pub smtp_url: Option<String>,
    /// `--state`
    pub state_path: Option<PathBuf>,
}

impl Settings {
    /// Loads the file at `path`, then `TRIPMAIL_*` variables from the process environment, then
    /// `overrides`, and validates the result.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Settings, ConfigError> {
        Self::load_with_env(path, overrides, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given (for tests).
    pub fn load_with_env(
        path: &Path,
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Load {
            path: path.to_path_buf(),
            message: format!("cannot read the config file: {e}"),
        })?;
        Self::from_sources(&text, path, overrides, env)
    }

    /// Parses a TOML text with no environment and no overrides (for tests).
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        Self::from_sources(
            text,
            Path::new("<inline>"),
            &Overrides::default(),
            Vec::new(),
        )
    }

    /// Merges `text` (read from `path`), `env` and `overrides`, and validates the result.
    fn from_sources(
        text: &str,
        path: &Path,
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("TRIPMAIL_"))
            .collect();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("TRIPMAIL")
                    .prefix_separator("_")
                    .separator("__")
                    // Values stay text (a password "007" stays "007"); numbers and booleans
                    // are read from the text where the setting is one.
                    .try_parsing(false)
                    .source(Some(env)),
            );
        let set = |b: config::ConfigBuilder<_>, key: &str, v: Option<String>| match v {
            Some(v) => b.set_override(key, v),
            None => Ok(b),
        };
        let load_err = |e: config::ConfigError| ConfigError::Load {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let path_str = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        builder =
            set(builder, "bookings.path", path_str(&overrides.bookings_path)).map_err(load_err)?;
        builder = set(builder, "engine.catalog", path_str(&overrides.catalog)).map_err(load_err)?;
        builder =
            set(builder, "engine.base_url", overrides.engine_url.clone()).map_err(load_err)?;
        builder = set(builder, "smtp.url", overrides.smtp_url.clone()).map_err(load_err)?;
        builder = set(builder, "state.path", path_str(&overrides.state_path)).map_err(load_err)?;
        let merged = builder.build().map_err(load_err)?;
        let settings: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
            let key = e.path().to_string();
            let reason = e.into_inner().to_string();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                reason,
            }
        })?;
        settings.validate(path)?;
        if overrides.engine_url.is_some() && !settings.uses(Provider::Tiqets) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: "engine.base_url".into(),
                reason: "--engine-url names the cross-sell engine, which no campaign asks; the contact-recommendations API is engine.yespo.base_url (TRIPMAIL_ENGINE__YESPO__BASE_URL)".into(),
            });
        }
        Ok(settings)
    }

    /// Checks what the types alone cannot.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let e = &self.engine;
        let base_url = |key: &str, url: &str| -> Result<(), ConfigError> {
            if url == EMBEDDED {
                if e.catalog.is_none() {
                    return Err(bad(
                        "engine.catalog",
                        format!("the embedded engine ({key} = \"embedded\") needs a catalog file"),
                    ));
                }
                return Ok(());
            }
            let parsed = url::Url::parse(url)
                .map_err(|err| bad(key, format!("not a URL nor \"embedded\": {err}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad(key, "must be an http or https URL".into()));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(bad(
                    key,
                    "must not carry a user name or password (they would show in logs); the key goes in api_key".into(),
                ));
            }
            if parsed.scheme() != "https" && !is_loopback(&parsed) {
                return Err(bad(
                    key,
                    "must be https (the key travels in every request), except on a loopback address"
                        .into(),
                ));
            }
            Ok(())
        };
        if self.uses(Provider::Tiqets) || !e.is_embedded() {
            base_url("engine.base_url", &e.base_url)?;
        }
        if e.attempts == 0 || e.attempts > 10 {
            return Err(bad(
                "engine.attempts",
                format!("{} is not between 1 and 10", e.attempts),
            ));
        }
        match &e.yespo {
            Some(y) => {
                base_url("engine.yespo.base_url", &y.base_url)?;
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
        if e.timeout_ms == 0 {
            return Err(bad("engine.timeout_ms", "must be at least 1".into()));
        }
        if !(1..=MAX_ANSWER_BYTES).contains(&e.max_answer_bytes) {
            return Err(bad(
                "engine.max_answer_bytes",
                format!(
                    "{} is not between 1 and {MAX_ANSWER_BYTES} (256 MiB)",
                    e.max_answer_bytes
                ),
            ));
        }
        // Each request in flight may hold an answer of up to max_answer_bytes.
        if !(1..=MAX_ENGINE_CONCURRENCY).contains(&e.max_concurrency) {
            return Err(bad(
                "engine.max_concurrency",
                format!(
                    "{} is not between 1 and {MAX_ENGINE_CONCURRENCY}",
                    e.max_concurrency
                ),
            ));
        }
        if e.requests_per_second == 0 {
            return Err(bad(
                "engine.requests_per_second",
                "must be at least 1".into(),
            ));
        }
        if !self.links.product_url.contains("{product_id}") {
            return Err(bad(
                "links.product_url",
                "must contain the {product_id} placeholder".into(),
            ));
        }
        let sample = self
            .links
            .product_url
            .replace("{product_id}", "1")
            .replace("{campaign}", "c");
        url::Url::parse(&sample)
            .map_err(|err| bad("links.product_url", format!("not a URL: {err}")))?;
        self.validate_smtp(path)?;
        self.validate_unsubscribe(path)?;
        if self.campaigns.is_empty() {
            return Err(bad(
                "campaign",
                "at least one [[campaign]] is needed".into(),
            ));
        }
        let mut names = HashSet::new();
        for (i, c) in self.campaigns.iter().enumerate() {
            let key = |k: &str| format!("campaign[{i}].{k}");
            let valid_name = !c.name.is_empty()
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !valid_name {
                return Err(bad(
                    &key("name"),
                    format!("{:?} must be letters, digits, '-' or '_'", c.name),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(bad(&key("name"), format!("{:?} is used twice", c.name)));
            }
            if !(2..=4).contains(&c.items) {
                return Err(bad(
                    &key("items"),
                    format!("{} is not between 2 and 4", c.items),
                ));
            }
            match c.trigger {
                Trigger::Confirmation => {
                    match c.lookback_hours {
                        None => {
                            return Err(bad(
                                &key("lookback_hours"),
                                "a confirmation campaign needs it".into(),
                            ))
                        }
                        Some(0) => {
                            return Err(bad(&key("lookback_hours"), "must be at least 1".into()))
                        }
                        Some(h) if h > 24 * 366 => {
                            return Err(bad(
                                &key("lookback_hours"),
                                format!("{h} is more than a year (8784 hours)"),
                            ))
                        }
                        Some(_) => {}
                    }
                    if c.days_before.is_some() {
                        return Err(bad(
                            &key("days_before"),
                            "only for reminder campaigns".into(),
                        ));
                    }
                }
                Trigger::Reminder => {
                    match c.days_before {
                        None => {
                            return Err(bad(
                                &key("days_before"),
                                "a reminder campaign needs it".into(),
                            ))
                        }
                        Some(0) => {
                            return Err(bad(&key("days_before"), "must be at least 1".into()))
                        }
                        Some(d) if d > 366 => {
                            return Err(bad(
                                &key("days_before"),
                                format!("{d} is more than a year (366 days)"),
                            ))
                        }
                        Some(_) => {}
                    }
                    if c.lookback_hours.is_some() {
                        return Err(bad(
                            &key("lookback_hours"),
                            "only for confirmation campaigns".into(),
                        ));
                    }
                }
            }
            self.validate_schedule(path, i, c)?;
            if c.data_source_id.is_some() && c.provider(e) != Provider::Yespo {
                return Err(bad(
                    &key("data_source_id"),
                    "only for campaigns whose provider is yespo".into(),
                ));
            }
            if let Some(t) = &c.template {
                if t.is_empty() || t.contains(['/', '\\', '.']) {
                    return Err(bad(
                        &key("template"),
                        format!("{t:?} must be a plain template name"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a campaign's schedule keys together.
    fn validate_schedule(
        &self,
        path: &Path,
        i: usize,
        c: &CampaignSettings,
    ) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let key = |k: &str| format!("campaign[{i}].{k}");
        if let (Some(from), Some(to)) = (c.starts_on, c.ends_on) {
            if to < from {
                return Err(bad(
                    &key("ends_on"),
                    format!("{to} is before starts_on {from}"),
                ));
            }
        }
        if c.transactional.is_some() && c.trigger != Trigger::Confirmation {
            return Err(bad(
                &key("transactional"),
                "only for confirmation campaigns (a reminder keeps to its window and days)".into(),
            ));
        }
        if c.is_transactional() {
            let ignored = [
                ("send_window", c.send_window.is_some()),
                ("send_days", c.send_days.is_some()),
            ];
            if let Some((k, _)) = ignored.iter().find(|(_, set)| *set) {
                return Err(bad(
                    &key(k),
                    "a transactional campaign sends at any hour, any day: remove this key or transactional = true".into(),
                ));
            }
        }
        if let Some(at) = c.send_at {
            if c.trigger != Trigger::Reminder {
                return Err(bad(
                    &key("send_at"),
                    "only for reminder campaigns (a confirmation goes as soon as it is due)".into(),
                ));
            }
            let (open, close) = c
                .send_window
                .map_or((ClockTime::START, ClockTime::END), |w| (w.open, w.close));
            if at < open || at >= close {
                return Err(bad(
                    &key("send_at"),
                    match c.send_window {
                        Some(w) => format!("{at} is outside send_window {w}"),
                        None => format!("{at} is not a time of the day"),
                    },
                ));
            }
        }
        Ok(())
    }

    fn validate_smtp(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let s = &self.smtp;
        let url = match &s.url {
            Some(url) => Some(SmtpUrl::parse(url).map_err(|reason| bad("smtp.url", reason))?),
            None => None,
        };
        if url
            .as_ref()
            .is_some_and(|u| u.password.is_some() && u.username.is_none())
        {
            return Err(bad("smtp.url", "has a password but no user name".into()));
        }
        let has_user = s.username.is_some() || url.as_ref().is_some_and(|u| u.username.is_some());
        if !(1..=1000).contains(&s.max_connections) {
            return Err(bad(
                "smtp.max_connections",
                format!("{} is not between 1 and 1000", s.max_connections),
            ));
        }
        if s.max_per_second == Some(0) {
            return Err(bad("smtp.max_per_second", "must be at least 1".into()));
        }
        if s.attempts == 0 {
            return Err(bad("smtp.attempts", "must be at least 1".into()));
        }
        if s.timeout_ms == 0 {
            return Err(bad("smtp.timeout_ms", "must be at least 1".into()));
        }
        if s.password.is_some() && !has_user {
            return Err(bad(
                "smtp.username",
                "smtp.password is set but no username".into(),
            ));
        }
        Ok(())
    }

    /// Whether some campaign asks `provider`.
    pub fn uses(&self, provider: Provider) -> bool {
        self.campaigns
            .iter()
            .any(|c| c.provider(&self.engine) == provider)
    }

    fn validate_yespo(&self, path: &Path, y: &YespoSettings) -> Result<(), ConfigError> {
        let bad = invalid(path);
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
        let tags_field = |key: &str, field: &str| {
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
        };
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

    fn validate_unsubscribe(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let l = &self.links;
        if let Some(u) = &l.unsubscribe_url {
            let url = url::Url::parse(u)
                .map_err(|err| bad("links.unsubscribe_url", format!("not a URL: {err}")))?;
            if url.scheme() != "https" {
                return Err(bad(
                    "links.unsubscribe_url",
                    "must be an https URL (RFC 8058 one-click unsubscribe)".into(),
                ));
            }
        }
        if l.unsubscribe_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err(bad("links.unsubscribe_secret", "is empty".into()));
        }
        if let Some((i, c)) = self
            .campaigns
            .iter()
            .enumerate()
            .find(|(_, c)| c.wants_unsubscribe())
        {
            let why = format!("campaign[{i}] ({}) has unsubscribe links", c.name);
            if l.unsubscribe_url.is_none() {
                return Err(bad(
                    "links.unsubscribe_url",
                    format!("{why}: set it, or set list_unsubscribe = false on the campaign"),
                ));
            }
            if l.unsubscribe_secret.is_none() {
                return Err(bad(
                    "links.unsubscribe_secret",
                    format!("{why}: set it (better: TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET)"),
                ));
            }
        }
        Ok(())
    }

    /// The brand shown in emails: the sender's name, or its domain.
    pub fn brand(&self) -> String {
        let mb = &self.sender.from;
        mb.name
            .clone()
            .unwrap_or_else(|| mb.email.domain().to_string())
    }

    /// The campaign called `name`.
    pub fn campaign(&self, name: &str) -> Option<&CampaignSettings> {
        self.campaigns.iter().find(|c| c.name == name)
    }
}

/// How to reach an SMTP server, read from a `smtp://` or `smtps://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// Host name or address.
    pub host: String,
    /// Port: the URL's, else 25 (plain), 587 (STARTTLS) or 465 (implicit TLS).
    pub port: u16,
    /// How the connection is protected.
    pub tls: SmtpTls,
    /// Login given in the URL (a password there is a secret too).
    pub username: Option<String>,
    /// Password given in the URL.
    pub password: Option<Secret>,
}

/// Transport security of an SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: for sandboxes on loopback.
    None,
    /// `smtp://…?tls=starttls`: upgrade with STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

impl SmtpUrl {
    /// Parses and checks an SMTP URL; the error says what is wrong, never the password.
    pub fn parse(text: &str) -> Result<SmtpUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::None,
            "smtps" => SmtpTls::Implicit,
            other => {
                return Err(format!(
                    "scheme {other:?}: use smtp:// (plain), smtp://…?tls=starttls or smtps://"
                ))
            }
        };
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", "starttls" | "required") if tls == SmtpTls::None => tls = SmtpTls::StartTls,
                ("tls", "none") if tls == SmtpTls::None => {}
                ("tls", other) => {
                    return Err(format!(
                        "tls={other:?}: only tls=starttls (or tls=none) on smtp://; smtps:// is always TLS"
                    ))
                }
                (other, _) => return Err(format!("unknown parameter {other:?}")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port().unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let username = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(|p| Secret::new(decode(p)));
        Ok(SmtpUrl {
            host,
            port,
            tls,
            username,
            password,
        })
    }
}

impl fmt::Display for SmtpUrl {
    /// The URL without credentials, fit for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == SmtpTls::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{host}:{}", self.port)?;
        if self.tls == SmtpTls::StartTls {
            f.write_str("?tls=starttls")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}
