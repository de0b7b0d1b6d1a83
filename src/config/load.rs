//! Reading the settings: a TOML file, overridden by `TRIPMAIL_<SECTION>__<KEY>` environment
//! variables, overridden by command-line flags ([`Overrides`]); then checked (`validate.rs`). Also the
//! one error type of the configuration, [`ConfigError`], whose messages name the file and the key.

use std::path::{Path, PathBuf};

use super::{Provider, Settings};

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
pub(super) fn invalid(path: &Path) -> impl Fn(&str, String) -> ConfigError + '_ {
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
        let merged = merge(text, path, overrides, env)?;
        let mut settings: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
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
}

/// The file's `text` (read from `path`) under the `TRIPMAIL_*` variables of `env`, under `overrides`.
fn merge(
    text: &str,
    path: &Path,
    overrides: &Overrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<config::Config, ConfigError> {
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
    builder = set(builder, "engine.base_url", overrides.engine_url.clone()).map_err(load_err)?;
    builder = set(builder, "smtp.url", overrides.smtp_url.clone()).map_err(load_err)?;
    builder = set(builder, "state.path", path_str(&overrides.state_path)).map_err(load_err)?;
    builder.build().map_err(load_err)
}
