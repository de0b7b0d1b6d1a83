//! The hours in which a campaign sends on a day, and the next span of them: its dates, week days and
//! window (or `send_at`), read in the customer's time zone.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{ClockTime, Days, Span};
use crate::config::{CampaignSettings, Trigger};

impl CampaignSettings {
    /// Whether the campaign sends on `date` (the customer's date): its dates, and its days unless it
    /// is transactional.
    fn sends_on(&self, date: NaiveDate) -> bool {
        self.starts_on.is_none_or(|d| d <= date)
            && self.ends_on.is_none_or(|d| date <= d)
            && (self.is_transactional()
                || self.send_days.unwrap_or(Days::ALL).contains(date.weekday()))
    }

    /// The hours of a sending day: the whole day for a transactional campaign, else the window (the
    /// whole day without one), opening at `send_at` for a reminder that has one.
    pub fn daily_hours(&self) -> (ClockTime, ClockTime) {
        if self.is_transactional() {
            return (ClockTime::START, ClockTime::END);
        }
        let (open, close) = self
            .send_window
            .map_or((ClockTime::START, ClockTime::END), |w| (w.open, w.close));
        match (self.trigger, self.send_at) {
            (Trigger::Reminder, Some(at)) => (open.max(at), close),
            _ => (open, close),
        }
    }

    /// The first span in which the campaign sends, in time zone `tz`, that ends after `t` and starts
    /// before `limit`: the one holding `t`, or the next.
    pub fn open_span(&self, tz: Tz, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<Span> {
        let (open, close) = self.daily_hours();
        // From the day before `t`'s date: where clocks go back over midnight, `t` may read the
        // earlier date after that date's span has ended.
        let mut day = t.with_timezone(&tz).date_naive().pred_opt()?;
        loop {
            let start = open.on(day, tz);
            if start >= limit {
                return None;
            }
            if self.sends_on(day) {
                let end = close.on(day, tz);
                // A window that falls wholly in a gap (clocks going forward, or a day a zone
                // skipped) is empty that day.
                if end > t && start < end {
                    return Some((start, end));
                }
            }
            day = day.succ_opt()?;
        }
    }
}
