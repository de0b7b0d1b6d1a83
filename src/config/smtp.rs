//! `[smtp]`: the server emails are sent through and how hard to push it, and what becomes of an email a
//! crashed run may have handed over ([`InDoubt`]). The URL is parsed here once, when the settings
//! are loaded, into a [`SmtpUrl`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::load::{invalid, ConfigError};
use super::{Secret, SmtpUrl};

/// `[smtp]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain, for sandboxes), `smtp://host:port?tls=starttls`, or
    /// `smtps://host:port` (implicit TLS). No URL: nothing is sent unless `--smtp` gives one.
    /// Parsed from `url` as written (file, `TRIPMAIL_SMTP__URL` or `--smtp`) when the settings are
    /// loaded.
    #[serde(skip)]
    pub url: Option<SmtpUrl>,
    /// `url` as written, read only by the check that parses it into `url`.
    #[serde(rename = "url")]
    pub(crate) url_text: Option<String>,
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
    /// put back more recently is trusted, used as it is (found gone, the email goes on another
    /// connection, not counted as a try). 0: a NOOP before every reuse.
    pub noop_after_ms: u64,
    /// Send MAIL, RCPT and DATA together (RFC 2920) when the server offers PIPELINING: one round
    /// trip instead of three per email. `false` sends them one by one.
    pub pipelining: bool,
    /// Messages sent on one connection before it is closed (QUIT) and a new one opened; 0 for no
    /// limit. For relays that refuse more than so many per connection.
    pub max_messages_per_connection: u32,
    /// A PEM file of certificates to trust as roots beside the system's, for a sandbox or relay
    /// whose certificate is signed by a private authority. Relative to the working directory.
    pub ca_file: Option<PathBuf>,
    /// The certificates of `ca_file`, read and checked when the settings are loaded.
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
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
            url_text: None,
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
            pipelining: true,
            max_messages_per_connection: 1000,
            ca_file: None,
            ca_pem: None,
        }
    }
}

impl fmt::Debug for SmtpSettings {
    /// As the derived one, but a URL is shown without the password it may hold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url.as_ref().map(|u| u.to_string());
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
            .field("pipelining", &self.pipelining)
            .field(
                "max_messages_per_connection",
                &self.max_messages_per_connection,
            )
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl SmtpSettings {
    /// Checks `[smtp]`, and returns its URL, parsed.
    pub(super) fn validate(&mut self, path: &Path) -> Result<Option<SmtpUrl>, ConfigError> {
        if let Some(file) = &self.ca_file {
            let pem = read_ca(file).map_err(|why| invalid(path)("smtp.ca_file", why))?;
            self.ca_pem = Some(pem);
        }
        let bad = invalid(path);
        let s = self;
        let url = match &s.url_text {
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
        Ok(url)
    }
}

/// The certificates of `file`, checked: at least one, all of them PEM certificates.
fn read_ca(file: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let certificates = String::from_utf8_lossy(&pem)
        .matches("-----BEGIN CERTIFICATE-----")
        .count();
    if certificates == 0 {
        return Err(format!("{}: no PEM certificate in it", file.display()));
    }
    lettre::transport::smtp::client::Certificate::from_pem(&pem)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(pem)
}
