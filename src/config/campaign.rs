//! `[[campaign]]`: one email of the journey (a confirmation or a reminder), how its items are chosen,
//! and when it may go; with the checks of each campaign's keys, alone and together. When the email
//! is due and when it sends is read from these settings by `schedule`.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::load::{invalid, ConfigError};
use super::{ClockTime, Days, EngineSettings, InDoubt, Provider, Settings, SmtpSettings, Window};

/// What makes a campaign's email due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Soon after the booking is made.
    Confirmation,
    /// A few days before the trip.
    Reminder,
}

impl Trigger {
    /// The name used in templates and translations.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Confirmation => "confirmation",
            Trigger::Reminder => "reminder",
        }
    }
}

/// The engine's sort orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// conversion_rate × commission
    Balanced,
    /// Most likely to be bought.
    ConversionRate,
    /// Most earned per sale.
    Commission,
}

impl SortBy {
    /// The value of the `sort_by` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Balanced => "balanced",
            SortBy::ConversionRate => "conversion_rate",
            SortBy::Commission => "commission",
        }
    }

    /// Parses the `sort_by` query parameter.
    pub fn parse(s: &str) -> Option<SortBy> {
        match s {
            "balanced" => Some(SortBy::Balanced),
            "conversion_rate" => Some(SortBy::ConversionRate),
            "commission" => Some(SortBy::Commission),
            _ => None,
        }
    }
}

/// One `[[campaign]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// Unique; names the output folder and goes into links as `{campaign}`.
    pub name: String,
    /// What makes the email due.
    pub trigger: Trigger,
    /// Confirmation: bookings made within this many hours before `now`.
    pub lookback_hours: Option<u32>,
    /// Reminder: sent when the trip is 1 to this many days away.
    pub days_before: Option<u32>,
    /// The engine's sort order.
    #[serde(default = "default_sort_by")]
    pub sort_by: SortBy,
    /// The most items shown in the block, 2 to 4.
    #[serde(default = "default_items")]
    pub items: usize,
    /// Template base name (`<template>.mjml.tera`, `<template>.txt.tera`); the trigger by default.
    pub template: Option<String>,
    /// Whether emails carry `List-Unsubscribe` (one-click, RFC 8058) and an unsubscribe link:
    /// by default reminders do (marketing), confirmations do not (transactional).
    pub list_unsubscribe: Option<bool>,
    /// The recommendation API asked for this campaign; `engine.provider` by default.
    pub provider: Option<Provider>,
    /// Yespo: this campaign's data source (recommendation type); `engine.yespo.data_source_id` by
    /// default.
    pub data_source_id: Option<u64>,
    /// Whether the campaign sends at all (`false`: it is skipped by `run` and `plan`).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The first day it sends (the customer's date).
    pub starts_on: Option<NaiveDate>,
    /// The last day it sends (the customer's date).
    pub ends_on: Option<NaiveDate>,
    /// The hours in which it sends, in the customer's time zone; the whole day by default.
    pub send_window: Option<Window>,
    /// The days on which it sends, in the customer's time zone; every day by default.
    pub send_days: Option<Days>,
    /// Reminders: the local time of day it sends at (inside the window); the window's opening by
    /// default.
    pub send_at: Option<ClockTime>,
    /// Confirmations: send as soon as due, ignoring the window and days (a confirmation that must
    /// never wait).
    pub transactional: Option<bool>,
    /// What becomes of this campaign's emails in doubt after a crash (`smtp.in_doubt` by default).
    pub in_doubt: Option<InDoubt>,
    /// Reminders: not sent while a confirmation of the same booking went less than this many hours
    /// before (or goes in the same run); 0 sends both. 24 by default.
    pub min_hours_after_confirmation: Option<u32>,
}

fn default_enabled() -> bool {
    true
}

fn default_sort_by() -> SortBy {
    SortBy::Commission
}

fn default_items() -> usize {
    3
}

impl CampaignSettings {
    /// The template base name.
    pub fn template_name(&self) -> &str {
        self.template.as_deref().unwrap_or(self.trigger.as_str())
    }

    /// The recommendation API of this campaign.
    pub fn provider(&self, engine: &EngineSettings) -> Provider {
        self.provider.unwrap_or(engine.provider)
    }

    /// What becomes of this campaign's emails in doubt: its own `in_doubt`, else `smtp.in_doubt`,
    /// else resend for confirmations (a customer without one calls support; a second copy costs
    /// nothing) and hold for reminders (a second marketing email costs trust; a missing one little).
    pub fn in_doubt(&self, smtp: &SmtpSettings) -> InDoubt {
        self.in_doubt
            .or(smtp.in_doubt)
            .unwrap_or(match self.trigger {
                Trigger::Confirmation => InDoubt::Resend,
                Trigger::Reminder => InDoubt::Hold,
            })
    }

    /// Whether the campaign's emails carry an unsubscribe link and `List-Unsubscribe`.
    pub fn wants_unsubscribe(&self) -> bool {
        self.list_unsubscribe
            .unwrap_or(self.trigger == Trigger::Reminder)
    }

    /// Reminders: how long after a confirmation of the same booking the reminder waits
    /// (`min_hours_after_confirmation`, 24 hours by default); `None` for confirmations and for 0.
    pub fn gap_after_confirmation(&self) -> Option<chrono::Duration> {
        let hours = match self.trigger {
            Trigger::Confirmation => return None,
            Trigger::Reminder => self.min_hours_after_confirmation.unwrap_or(24),
        };
        (hours > 0).then(|| chrono::Duration::hours(i64::from(hours)))
    }

    /// Whether the campaign ignores its window and days (`transactional = true`).
    pub fn is_transactional(&self) -> bool {
        self.transactional.unwrap_or(false)
    }
}

impl Settings {
    /// Checks the campaigns: at least one, each alone, and their names together.
    pub(super) fn validate_campaigns(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = invalid(path);
        if self.campaigns.is_empty() {
            return Err(bad(
                "campaign",
                "at least one [[campaign]] is needed".into(),
            ));
        }
        let mut names = HashSet::new();
        for (i, c) in self.campaigns.iter().enumerate() {
            self.validate_campaign(path, i, c, &mut names)?;
        }
        Ok(())
    }

    /// Checks campaign `i`, `c`, whose name must not be among `names` (it is added).
    fn validate_campaign<'a>(
        &self,
        path: &Path,
        i: usize,
        c: &'a CampaignSettings,
        names: &mut HashSet<&'a str>,
    ) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let e = &self.engine;
        let key = |k: &str| format!("campaign[{i}].{k}");
        let valid_name = !c.name.is_empty()
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !valid_name {
            return Err(bad(
                &key("name"),
                format!("{:?} must be letters, digits, '-' or '_'", c.name),
            ));
        }
        if !names.insert(c.name.as_str()) {
            return Err(bad(&key("name"), format!("{:?} is used twice", c.name)));
        }
        if !(2..=4).contains(&c.items) {
            return Err(bad(
                &key("items"),
                format!("{} is not between 2 and 4", c.items),
            ));
        }
        c.validate_trigger(path, i)?;
        self.validate_schedule(path, i, c)?;
        if c.data_source_id.is_some() && c.provider(e) != Provider::Yespo {
            return Err(bad(
                &key("data_source_id"),
                "only for campaigns whose provider is yespo".into(),
            ));
        }
        if let Some(t) = &c.template {
            if t.is_empty() || t.contains(['/', '\\', '.']) {
                return Err(bad(
                    &key("template"),
                    format!("{t:?} must be a plain template name"),
                ));
            }
        }
        Ok(())
    }

    /// Checks a campaign's schedule keys together.
    fn validate_schedule(
        &self,
        path: &Path,
        i: usize,
        c: &CampaignSettings,
    ) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let key = |k: &str| format!("campaign[{i}].{k}");
        if let (Some(from), Some(to)) = (c.starts_on, c.ends_on) {
            if to < from {
                return Err(bad(
                    &key("ends_on"),
                    format!("{to} is before starts_on {from}"),
                ));
            }
        }
        if c.transactional.is_some() && c.trigger != Trigger::Confirmation {
            return Err(bad(
                &key("transactional"),
                "only for confirmation campaigns (a reminder keeps to its window and days)".into(),
            ));
        }
        if c.is_transactional() {
            let ignored = [
                ("send_window", c.send_window.is_some()),
                ("send_days", c.send_days.is_some()),
            ];
            if let Some((k, _)) = ignored.iter().find(|(_, set)| *set) {
                return Err(bad(
                    &key(k),
                    "a transactional campaign sends at any hour, any day: remove this key or transactional = true".into(),
                ));
            }
        }
        if let Some(at) = c.send_at {
            if c.trigger != Trigger::Reminder {
                return Err(bad(
                    &key("send_at"),
                    "only for reminder campaigns (a confirmation goes as soon as it is due)".into(),
                ));
            }
            let (open, close) = c
                .send_window
                .map_or((ClockTime::START, ClockTime::END), |w| (w.open, w.close));
            if at < open || at >= close {
                return Err(bad(
                    &key("send_at"),
                    match c.send_window {
                        Some(w) => format!("{at} is outside send_window {w}"),
                        None => format!("{at} is not a time of the day"),
                    },
                ));
            }
        }
        Ok(())
    }
}

impl CampaignSettings {
    /// Checks the keys that belong to the campaign's trigger, and only to it.
    fn validate_trigger(&self, path: &Path, i: usize) -> Result<(), ConfigError> {
        let bad = invalid(path);
        let key = |k: &str| format!("campaign[{i}].{k}");
        let c = self;
        match c.trigger {
            Trigger::Confirmation => {
                match c.lookback_hours {
                    None => {
                        return Err(bad(
                            &key("lookback_hours"),
                            "a confirmation campaign needs it".into(),
                        ))
                    }
                    Some(0) => {
                        return Err(bad(&key("lookback_hours"), "must be at least 1".into()))
                    }
                    Some(h) if h > 24 * 366 => {
                        return Err(bad(
                            &key("lookback_hours"),
                            format!("{h} is more than a year (8784 hours)"),
                        ))
                    }
                    Some(_) => {}
                }
                if c.days_before.is_some() {
                    return Err(bad(
                        &key("days_before"),
                        "only for reminder campaigns".into(),
                    ));
                }
                if c.min_hours_after_confirmation.is_some() {
                    return Err(bad(
                        &key("min_hours_after_confirmation"),
                        "only for reminder campaigns (a reminder waits for the confirmation)"
                            .into(),
                    ));
                }
            }
            Trigger::Reminder => {
                match c.days_before {
                    None => {
                        return Err(bad(
                            &key("days_before"),
                            "a reminder campaign needs it".into(),
                        ))
                    }
                    Some(0) => return Err(bad(&key("days_before"), "must be at least 1".into())),
                    Some(d) if d > 366 => {
                        return Err(bad(
                            &key("days_before"),
                            format!("{d} is more than a year (366 days)"),
                        ))
                    }
                    Some(_) => {}
                }
                if c.lookback_hours.is_some() {
                    return Err(bad(
                        &key("lookback_hours"),
                        "only for confirmation campaigns".into(),
                    ));
                }
                if let Some(h) = c.min_hours_after_confirmation.filter(|h| *h > 24 * 366) {
                    return Err(bad(
                        &key("min_hours_after_confirmation"),
                        format!("{h} is more than a year (8784 hours; 0 sends both)"),
                    ));
                }
            }
        }
        Ok(())
    }
}
