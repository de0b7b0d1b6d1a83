//! When a campaign may send: its dates, week days and hours, read in the customer's time zone, with
//! daylight-saving changes handled (a local time that does not exist on the day clocks go forward is
//! read as the first instant after the gap; one that occurs twice, as its first occurrence); and the
//! due rules ([`due`]) that decide which emails go when.
//!
//! The values read from the config (times of day, windows, days) are [`crate::config`]'s; this module
//! reads the settings and is never read by them.

use chrono::{DateTime, Utc};

mod dst;
pub mod due;
pub mod gap;
mod spans;

pub use crate::config::{ClockTime, Days, Window};
pub use dst::first_instant;

/// From an instant to before another.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

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
    use chrono::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
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
