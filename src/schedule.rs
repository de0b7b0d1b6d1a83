//! When a campaign may send: its dates, week days and hours, read in the customer's time zone, with
//! daylight-saving changes handled (a local time that does not exist on the day clocks go forward is
//! read as the first instant after the gap; one that occurs twice, as its first occurrence).

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::config::{CampaignSettings, Trigger};

/// A time of day, `"HH:MM"`, from 00:00 to 24:00 (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ClockTime {
    minutes: u16,
}

impl ClockTime {
    /// Midnight, the start of the day.
    pub const START: ClockTime = ClockTime { minutes: 0 };
    /// 24:00, the end of the day.
    pub const END: ClockTime = ClockTime { minutes: 24 * 60 };

    /// `h`:`m`; `None` past 24:00.
    pub fn new(h: u16, m: u16) -> Option<ClockTime> {
        let minutes = h.checked_mul(60)?.checked_add(m)?;
        (m < 60 && minutes <= 24 * 60).then_some(ClockTime { minutes })
    }

    /// The first instant of `date` at which the clock in `tz` reads this time or later (24:00 is the
    /// start of the next day).
    pub fn on(self, date: NaiveDate, tz: Tz) -> DateTime<Utc> {
        let (date, minutes) = if self.minutes == 24 * 60 {
            (date.succ_opt().unwrap_or(date), 0)
        } else {
            (date, self.minutes)
        };
        let local = date.and_time(chrono::NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
        first_instant(tz, local)
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;

    fn try_from(s: String) -> Result<ClockTime, String> {
        let parsed = s.split_once(':').and_then(|(h, m)| {
            let digits =
                |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
            if !digits(h) || m.len() != 2 || !digits(m) {
                return None;
            }
            ClockTime::new(h.parse().ok()?, m.parse().ok()?)
        });
        parsed
            .ok_or_else(|| format!("{s:?} is not a time of day such as \"09:00\" (00:00 to 24:00)"))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// The hours of a day in which emails go, `"09:00-20:00"`: from the first to before the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Window {
    /// The opening.
    pub open: ClockTime,
    /// The closing (not included).
    pub close: ClockTime,
}

impl TryFrom<String> for Window {
    type Error = String;

    fn try_from(s: String) -> Result<Window, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a window such as \"09:00-20:00\""))?;
        let open = ClockTime::try_from(a.trim().to_string())?;
        let close = ClockTime::try_from(b.trim().to_string())?;
        if open >= close {
            return Err(format!(
                "{s:?}: the window must open before it closes, on the same day (a window over midnight is not supported)"
            ));
        }
        Ok(Window { open, close })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.open, self.close)
    }
}

/// Days of the week, `["mon", "tue", …]` (or full names, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Days(u8);

impl Days {
    /// Every day.
    pub const ALL: Days = Days(0x7f);

    /// Whether `day` is one of them.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

impl fmt::Display for Days {
    /// `mon tue wed`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut day = Weekday::Mon;
        let mut sep = "";
        for _ in 0..7 {
            if self.contains(day) {
                write!(f, "{sep}{}", day.to_string().to_lowercase())?;
                sep = " ";
            }
            day = day.succ();
        }
        Ok(())
    }
}

impl TryFrom<Vec<String>> for Days {
    type Error = String;

    fn try_from(names: Vec<String>) -> Result<Days, String> {
        let mut bits = 0u8;
        for name in &names {
            let day: Weekday = name.parse().map_err(|_| {
                format!("{name:?} is not a day of the week (mon, tue, wed, thu, fri, sat, sun)")
            })?;
            bits |= 1 << day.num_days_from_monday();
        }
        if bits == 0 {
            return Err(
                "no day given: list at least one (mon … sun), or leave the key out for every day"
                    .into(),
            );
        }
        Ok(Days(bits))
    }
}

/// From an instant to before another.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// The first instant at which the wall clock in `tz` reads `local` or later: the instant itself for an
/// ordinary time, the first of the two for a time that occurs twice (clocks going back), and the end
/// of the gap for a time that does not occur (clocks going forward).
pub fn first_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // A gap: the clock jumps from before `local` to after it at one instant T, and
            // `local` − offset-after < T ≤ `local` − offset-before. Search between them.
            let offset = |naive: NaiveDateTime| {
                i64::from(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc())
            };
            let before = offset(local - Duration::days(2));
            let after = offset(local + Duration::days(2));
            let as_utc = Utc.from_utc_datetime(&local).timestamp();
            let (mut lo, mut hi) = (as_utc - before.max(after), as_utc - before.min(after));
            let at = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::UNIX_EPOCH);
            let reads_at_least = |secs: i64| at(secs).with_timezone(&tz).naive_local() >= local;
            // In whole seconds (zone changes happen on them). Invariant: `lo` reads before
            // `local`, `hi` reads `local` or later.
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if reads_at_least(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            at(hi)
        }
    }
}

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

    /// Whether the campaign ignores its window and days (`transactional = true`).
    pub fn is_transactional(&self) -> bool {
        self.transactional.unwrap_or(false)
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

/// The first tick of the runner at or after `t`: multiples of `every` since the Unix epoch, as cron's
/// `*/5` (a tick of a whole number of seconds).
pub fn tick_at_or_after(t: DateTime<Utc>, every: std::time::Duration) -> DateTime<Utc> {
    let step = i64::try_from(every.as_secs()).unwrap_or(i64::MAX).max(1);
    let secs = t.timestamp();
    let sub = t.timestamp_subsec_nanos() > 0;
    let next = if secs.rem_euclid(step) == 0 && !sub {
        secs
    } else {
        (secs.div_euclid(step) + 1).saturating_mul(step)
    };
    DateTime::from_timestamp(next, 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{Australia, Europe};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn clock_times_and_windows_parse_or_say_why_not() {
        let t = |s: &str| ClockTime::try_from(s.to_string());
        assert_eq!(t("09:30").unwrap(), ClockTime::new(9, 30).unwrap());
        assert_eq!(t("9:05").unwrap().to_string(), "09:05");
        assert_eq!(t("24:00").unwrap(), ClockTime::END);
        for bad in [
            "24:01", "9", "09:60", "9:5", "ab:cd", "-1:00", "", "09:00:00",
        ] {
            assert!(t(bad).unwrap_err().contains("not a time of day"), "{bad}");
        }
        let w = |s: &str| Window::try_from(s.to_string());
        assert_eq!(w("09:00-20:00").unwrap().to_string(), "09:00-20:00");
        assert_eq!(w("08:00 - 24:00").unwrap().close, ClockTime::END);
        assert!(w("20:00-09:00").unwrap_err().contains("over midnight"));
        assert!(w("09:00-09:00").unwrap_err().contains("open before"));
        assert!(w("09:00").unwrap_err().contains("not a window"));
    }

    #[test]
    fn days_parse_by_name() {
        let d = Days::try_from(vec!["mon".into(), "Friday".into()]).unwrap();
        assert!(d.contains(Weekday::Mon) && d.contains(Weekday::Fri));
        assert!(!d.contains(Weekday::Sun));
        assert!(Days::try_from(vec!["funday".into()])
            .unwrap_err()
            .contains("funday"));
        assert!(Days::try_from(vec![]).unwrap_err().contains("at least one"));
    }

    #[test]
    fn local_times_on_daylight_saving_nights_are_read_as_their_first_instant() {
        let cases = [
            // Paris, 28 March 2027: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
            (Europe::Paris, "2027-03-28 02:30", "2027-03-28T01:00:00Z"),
            (Europe::Paris, "2027-03-28 03:00", "2027-03-28T01:00:00Z"),
            (Europe::Paris, "2027-03-28 01:59", "2027-03-28T00:59:00Z"),
            // Sydney, 3 October 2027: 02:00 AEST becomes 03:00 AEDT (16:00 UTC the day before).
            (
                Australia::Sydney,
                "2027-10-03 02:15",
                "2027-10-02T16:00:00Z",
            ),
            // Sydney, 4 April 2027: 03:00 AEDT becomes 02:00 AEST; 02:30 happens at 15:30 and
            // 16:30 UTC: the first.
            (
                Australia::Sydney,
                "2027-04-04 02:30",
                "2027-04-03T15:30:00Z",
            ),
            // Paris, 31 October 2027: 03:00 CEST becomes 02:00 CET.
            (Europe::Paris, "2027-10-31 02:30", "2027-10-31T00:30:00Z"),
            // Any time in the gap reads as its end, to the second.
            (Europe::Paris, "2027-03-28 02:07", "2027-03-28T01:00:00Z"),
            // Samoa skipped 30 December 2011 (UTC-10 to UTC+14): the whole day is a gap.
            (
                chrono_tz::Pacific::Apia,
                "2011-12-30 09:00",
                "2011-12-30T10:00:00Z",
            ),
        ];
        for (tz, wall, expected) in cases {
            assert_eq!(first_instant(tz, local(wall)), at(expected), "{wall} {tz}");
        }
    }

    #[test]
    fn ticks_are_multiples_of_the_interval() {
        let five = std::time::Duration::from_secs(300);
        assert_eq!(
            tick_at_or_after(at("2027-03-28T01:00:00Z"), five),
            at("2027-03-28T01:00:00Z")
        );
        assert_eq!(
            tick_at_or_after(at("2027-03-28T01:00:01Z"), five),
            at("2027-03-28T01:05:00Z")
        );
        let t = at("2027-03-28T01:04:59Z") + Duration::milliseconds(999);
        assert_eq!(tick_at_or_after(t, five), at("2027-03-28T01:05:00Z"));
    }
}
