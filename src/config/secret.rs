//! [`Secret`]: a setting (password, API key, signing key) that the code can read and no log can show;
//! its own file because the SMTP URL and the HTTP clients hold one too, not only the settings tree.

use std::fmt;

use serde::Deserialize;

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
