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
        self.smtp.url = self.smtp.validate(path)?;
        self.links.unsubscribe_url = self.validate_unsubscribe(path)?;
        self.validate_campaigns(path)
    }
}
