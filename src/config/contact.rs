//! What lets a traveller act on an email: the manage-booking link (`links.manage_booking_url`) and
//! the support contact (`sender.support_email`, `sender.support_phone`), checked when loaded.

use std::path::Path;

use super::engine::is_loopback;
use super::links::{url_safe, LinksSettings};
use super::load::{invalid, ConfigError};
use super::SenderSettings;

/// The longest support phone number taken, in characters.
const MAX_PHONE_CHARS: usize = 32;

impl LinksSettings {
    /// Checks `manage_booking_url`: a URL with `{booking_id}`, https beyond loopback.
    pub(super) fn validate_manage_url(&self, path: &Path) -> Result<(), ConfigError> {
        const KEY: &str = "links.manage_booking_url";
        let Some(template) = &self.manage_booking_url else {
            return Ok(());
        };
        let bad = invalid(path);
        if !template.contains("{booking_id}") {
            return Err(bad(KEY, "must contain the {booking_id} placeholder".into()));
        }
        let url = url::Url::parse(&template.replace("{booking_id}", "WT-1"))
            .map_err(|err| bad(KEY, format!("not a URL: {err}")))?;
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
            return Err(bad(
                KEY,
                "must be an https URL (plain http only on a loopback address)".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(KEY, "must not hold a user name or password".into()));
        }
        Ok(())
    }

    /// The manage-booking link of `booking_id`, when the config has a template.
    pub fn manage_link(&self, booking_id: &str) -> Option<String> {
        let template = self.manage_booking_url.as_ref()?;
        Some(template.replace("{booking_id}", &url_safe(booking_id)))
    }
}

impl SenderSettings {
    /// Checks `support_phone`: a phone number as people write one.
    pub(super) fn validate_support(&self, path: &Path) -> Result<(), ConfigError> {
        let Some(phone) = &self.support_phone else {
            return Ok(());
        };
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        let written = phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
            && phone.chars().count() <= MAX_PHONE_CHARS;
        if !written || !(3..=15).contains(&digits) || phone[1..].contains('+') {
            return Err(invalid(path)(
                "sender.support_phone",
                format!("{phone:?} is not a phone number (3 to 15 digits; spaces, +, -, ., ( and ) allowed)"),
            ));
        }
        Ok(())
    }

    /// `support_phone` as a `tel:` URI (RFC 3966): `+` and digits only.
    pub fn support_tel(&self) -> Option<String> {
        let phone = self.support_phone.as_ref()?;
        let global: String = phone
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        Some(format!("tel:{global}"))
    }
}

#[cfg(test)]
mod tests {
    use super::LinksSettings;

    #[test]
    fn manage_link_percent_encodes_the_id() {
        let links = LinksSettings {
            product_url: String::new(),
            unsubscribe_url: None,
            unsubscribe_url_text: None,
            manage_booking_url: Some("https://w.example/bookings/{booking_id}?ref=mail".into()),
            privacy_url: None,
            unsubscribe_secret: None,
        };
        assert_eq!(
            links.manage_link("WT 1/ä&x").as_deref(),
            Some("https://w.example/bookings/WT%201%2F%C3%A4%26x?ref=mail")
        );
        assert_eq!(
            links.manage_link("WT-1.a_b~").as_deref(),
            Some("https://w.example/bookings/WT-1.a_b~?ref=mail")
        );
    }
}
