//! `[engine]`: the cross-sell engine (embedded or remote), the limits that apply to both
//! recommendation APIs (timeouts, tries, concurrency, answer size), and their checks. A remote
//! `base_url` must be https beyond loopback and carry no credentials, for either API.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::load::{invalid, ConfigError};
use super::{Secret, Settings, YespoSettings};

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
    /// The cross-sell query parameter that carries the email's language (`lang`: `&lang=de`), so
    /// that titles come in the customer's language; none: not sent (the guide documents none).
    pub language_param: Option<String>,
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
            language_param: None,
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

impl Settings {
    /// Checks `[engine]`, and `[engine.yespo]` in its place among them (the first error is the one
    /// reported).
    pub(super) fn validate_engine(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let e = &self.engine;
        if self.uses(Provider::Tiqets) || !e.is_embedded() {
            e.check_base_url(path, "engine.base_url", &e.base_url)?;
        }
        if let Some(param) = &e.language_param {
            if param.is_empty()
                || !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(bad(
                    "engine.language_param",
                    format!("{param:?} is not a query parameter name (letters, digits, `_`, `-`)"),
                ));
            }
        }
        if e.attempts == 0 || e.attempts > 10 {
            return Err(bad(
                "engine.attempts",
                format!("{} is not between 1 and 10", e.attempts),
            ));
        }
        self.validate_yespo_section(path)?;
        e.validate_limits(path)
    }
}

impl EngineSettings {
    /// Checks the `base_url` (called `key`) of either API: `embedded` with a catalog, or an http(s) URL
    /// without credentials, https beyond loopback.
    pub(super) fn check_base_url(
        &self,
        path: &Path,
        key: &str,
        url: &str,
    ) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let e = self;
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
    }

    /// Checks the limits that apply to both APIs.
    fn validate_limits(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let e = self;
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
        Ok(())
    }
}
