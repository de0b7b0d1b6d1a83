//! `[review]`: how the review copies (the `.html` files of `run --out`, `preview`) show pictures
//! offline. With `images_dir` and `images_url_prefix`, an image address that starts with the prefix
//! and names a file in the folder is shown from a copy of that file; the emails themselves (`.eml`,
//! SMTP) keep the catalog's absolute addresses.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::load::{invalid, ConfigError};

/// `[review]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    /// A folder of pictures standing for the addresses under `images_url_prefix`.
    pub images_dir: Option<PathBuf>,
    /// The address prefix the folder stands for (`https://images.wanderly.example/`).
    pub images_url_prefix: Option<String>,
}

/// Local pictures for review copies: the address prefix, and the folder that holds its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewImages {
    /// An `http(s)` address ending in `/`.
    pub url_prefix: String,
    /// The folder.
    pub dir: PathBuf,
}

impl ReviewSettings {
    /// The local pictures, when both keys are set.
    pub fn images(&self) -> Option<ReviewImages> {
        Some(ReviewImages {
            url_prefix: self.images_url_prefix.clone()?,
            dir: self.images_dir.clone()?,
        })
    }

    /// Both keys or neither; the prefix an http(s) address ending in `/`. The folder may be missing
    /// (a run from another directory): pictures not in it keep their addresses.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        match (&self.images_dir, &self.images_url_prefix) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(bad(
                "review.images_url_prefix",
                "needed with review.images_dir: the address prefix the folder stands for".into(),
            )),
            (None, Some(_)) => Err(bad(
                "review.images_dir",
                "needed with review.images_url_prefix: the folder of pictures".into(),
            )),
            // The folder is not required to exist: a picture it lacks keeps its address.
            (Some(_), Some(prefix)) => {
                let web = prefix.starts_with("https://") || prefix.starts_with("http://");
                if !web || !prefix.ends_with('/') {
                    return Err(bad(
                        "review.images_url_prefix",
                        format!("{prefix:?} must be an http(s) address ending in '/'"),
                    ));
                }
                Ok(())
            }
        }
    }
}
