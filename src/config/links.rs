//! `[links]`: the product links and the one-click unsubscribe link written into emails. The
//! unsubscribe URL is checked (https, and present when a campaign needs it) and parsed here once.

use std::path::Path;

use serde::Deserialize;

use super::load::{invalid, ConfigError};
use super::{Secret, Settings};

/// Everything but the URL's unreserved characters (RFC 3986: letters, digits, `-`, `.`, `_`, `~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded to sit anywhere in a URL as one value (an id in a link template).
pub fn url_safe(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// `[links]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksSettings {
    /// With `{product_id}` and optionally `{campaign}` placeholders.
    pub product_url: String,
    /// The one-click unsubscribe endpoint (https); `booking`, `campaign` and `sig` are added to it.
    /// Parsed from `unsubscribe_url` as written when the settings are loaded.
    #[serde(skip)]
    pub unsubscribe_url: Option<url::Url>,
    /// `unsubscribe_url` as written, read only by the check that parses it into `unsubscribe_url`.
    #[serde(rename = "unsubscribe_url")]
    pub(crate) unsubscribe_url_text: Option<String>,
    /// Where a customer manages a booking and finds the tickets: a URL template with `{booking_id}`
    /// (percent-encoded when filled in); https, except on a loopback address.
    pub manage_booking_url: Option<String>,
    /// Key of the HMAC-SHA256 `sig` of unsubscribe links (`TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET`).
    pub unsubscribe_secret: Option<Secret>,
    /// The privacy policy, linked from every email's footer (left out when absent).
    pub privacy_url: Option<String>,
}

impl LinksSettings {
    /// Checks that `product_url` is a URL with its `{product_id}` placeholder.
    pub(super) fn validate_product_url(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        if !self.product_url.contains("{product_id}") {
            return Err(bad(
                "links.product_url",
                "must contain the {product_id} placeholder".into(),
            ));
        }
        let sample = self
            .product_url
            .replace("{product_id}", "1")
            .replace("{campaign}", "c");
        url::Url::parse(&sample)
            .map_err(|err| bad("links.product_url", format!("not a URL: {err}")))?;
        Ok(())
    }

    /// Checks that `privacy_url`, when given, is an http(s) URL.
    pub(super) fn validate_privacy_url(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        if let Some(privacy) = &self.privacy_url {
            let url = url::Url::parse(privacy)
                .map_err(|err| bad("links.privacy_url", format!("not a URL: {err}")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(bad(
                    "links.privacy_url",
                    "must be an http(s) URL (readers open it in a browser)".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Settings {
    /// Checks the unsubscribe link's keys against the campaigns that need them, and returns its URL,
    /// parsed.
    pub(super) fn validate_unsubscribe(
        &self,
        path: &Path,
    ) -> Result<Option<url::Url>, ConfigError> {
        let bad = invalid(path);
        let l = &self.links;
        let mut parsed = None;
        if let Some(u) = &l.unsubscribe_url_text {
            let url = url::Url::parse(u)
                .map_err(|err| bad("links.unsubscribe_url", format!("not a URL: {err}")))?;
            if url.scheme() != "https" {
                return Err(bad(
                    "links.unsubscribe_url",
                    "must be an https URL (RFC 8058 one-click unsubscribe)".into(),
                ));
            }
            parsed = Some(url);
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
            if l.unsubscribe_url_text.is_none() {
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
        Ok(parsed)
    }
}
