//! The check of the settings as a whole, once they are read: what the types alone cannot say. Each
//! section checks itself in its own file; this one fixes the order, which matters because the first
//! error is the one reported. The values a check parses (the SMTP URL, the unsubscribe URL) are kept,
//! so that nothing parses them again.

use std::path::Path;

use super::load::ConfigError;
use super::Settings;

impl Settings {
    /// Checks what the types alone cannot, section by section, and keeps the URLs it parses.
    pub(super) fn validate(&mut self, path: &Path) -> Result<(), ConfigError> {
        self.validate_engine(path)?;
        self.links.validate_product_url(path)?;
        self.links.validate_privacy_url(path)?;
        self.links.validate_manage_url(path)?;
        self.sender.validate_support(path)?;
        self.smtp.url = self.smtp.validate(path)?;
        self.links.unsubscribe_url = self.validate_unsubscribe(path)?;
        self.review.validate(path)?;
        self.validate_campaigns(path)?;
        // Last: the only check that reads a file, once the rest is known good.
        self.validate_dkim(path)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, Settings, SmtpTls};

    const TOML: &str = r#"
[bookings]
path = "bookings.csv"
[engine]
catalog = "catalog.json"
[links]
product_url = "https://shop.example/p/{product_id}"
unsubscribe_url = "https://shop.example/u?lang=en"
unsubscribe_secret = "s3cret"
[sender]
from = "Shop <trips@shop.example>"
[smtp]
url = "smtp://mailer:p%40ss@relay.example?tls=starttls"
[[campaign]]
name = "reminder"
trigger = "reminder"
days_before = 3
"#;

    fn refused(toml: &str) -> String {
        match Settings::from_toml(toml) {
            Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_parsed_once_when_the_settings_load() {
        let s = Settings::from_toml(TOML).unwrap();
        let smtp = s.smtp.url.as_ref().expect("parsed");
        assert_eq!(smtp.to_string(), "smtp://relay.example:587?tls=starttls");
        assert_eq!(smtp.tls, SmtpTls::StartTls);
        assert_eq!(smtp.username.as_deref(), Some("mailer"));
        assert_eq!(smtp.password.as_ref().map(|p| p.expose()), Some("p@ss"));
        assert!(!format!("{:?}", s.smtp).contains("p@ss"));
        let unsubscribe = s.links.unsubscribe_url.as_ref().expect("parsed");
        assert_eq!(unsubscribe.as_str(), "https://shop.example/u?lang=en");
    }

    #[test]
    fn the_first_bad_section_in_order_is_the_one_reported() {
        // smtp before the unsubscribe link before the campaigns.
        let all_bad = TOML
            .replace("smtp://mailer", "ftp://mailer")
            .replace("https://shop.example/u", "http://shop.example/u")
            .replace("days_before = 3", "days_before = 0");
        assert!(refused(&all_bad).starts_with("<inline>: key `smtp.url`: scheme \"ftp\""));
        let two_bad = all_bad.replace("ftp://mailer", "smtp://mailer");
        assert!(refused(&two_bad)
            .starts_with("<inline>: key `links.unsubscribe_url`: must be an https URL"));
        let one_bad = two_bad.replace("http://shop.example/u", "https://shop.example/u");
        assert_eq!(
            refused(&one_bad),
            "<inline>: key `campaign[0].days_before`: must be at least 1"
        );
    }
}
