//! [`SmtpUrl`]: how to reach an SMTP server, read once from `smtp.url` (or `--smtp`) when the settings
//! are loaded. A transport's concern kept apart from the rest of the settings (it depends on nothing
//! else of them but [`Secret`]), so that it can move beside the SMTP transport.

use std::fmt;

use crate::config::Secret;

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
