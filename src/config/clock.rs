//! Times of day, send windows and week days as the config file writes them (`"09:00"`,
//! `"09:00-20:00"`, `["mon", …]`), parsed when the settings are read. Only the values live here; when
//! they fall in a given time zone, daylight saving included, is the business of `schedule`.

use std::fmt;

use chrono::Weekday;
use serde::Deserialize;

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

    /// Minutes since midnight, 0 to 1440 (24:00).
    pub(crate) fn minutes(self) -> u16 {
        self.minutes
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
