//! What several commands share on the command line: the sources of a run (`--config`, `--bookings`,
//! `--catalog`, `--engine-url`, `--now`) and the parsers of flag values, so that a bad value is refused
//! by clap with the same words in every command.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

use crate::config::{Overrides, Settings};

/// The config and what the flags put in its place.
#[derive(Debug, clap::Args)]
pub(crate) struct Sources {
    /// The config file (TOML).
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Bookings file (.csv or .jsonl), instead of `bookings.path`.
    #[arg(long)]
    pub(crate) bookings: Option<PathBuf>,
    /// Catalog file, instead of `engine.catalog`.
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
    /// Engine base URL, or `embedded`, instead of `engine.base_url`.
    #[arg(long)]
    pub(crate) engine_url: Option<String>,
    /// The instant to run at (RFC 3339); the clock by default.
    #[arg(long, value_parser = parse_now)]
    pub(crate) now: Option<DateTime<Utc>>,
}

impl Sources {
    /// The settings: the config file, the environment, then these flags and `smtp_url` and `state`.
    pub(crate) fn load(
        &self,
        smtp_url: Option<String>,
        state: Option<PathBuf>,
    ) -> anyhow::Result<Settings> {
        let overrides = Overrides {
            bookings_path: self.bookings.clone(),
            catalog: self.catalog.clone(),
            engine_url: self.engine_url.clone(),
            smtp_url,
            state_path: state,
        };
        Ok(Settings::load(&self.config, &overrides)?)
    }

    /// `--now`, or the clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(super::clock)
    }
}

/// `--every`: a whole number of seconds, at least one.
pub(crate) fn parse_every(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not an interval such as 5m, 30s or 1h ({e})"))?;
    if d < std::time::Duration::from_secs(1) || d.subsec_nanos() != 0 {
        return Err(format!(
            "{s:?}: the interval must be a whole number of seconds, at least 1s"
        ));
    }
    Ok(d)
}

/// `--tz`: an IANA time zone.
pub(crate) fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IANA time zone such as Europe/Paris"))
}

/// `--redirect-to`, `--to`: an email address, with or without a name.
pub(crate) fn parse_address(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("{s:?} is not an email address ({e})"))
}

/// `--now`: an RFC 3339 instant.
pub(crate) fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 instant such as 2026-12-10T09:00:00Z ({e})"))
}
