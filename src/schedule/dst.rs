//! Daylight saving: the instant at which a wall-clock time happens in a time zone, on nights when
//! clocks go forward (a gap) or back (a time that occurs twice). [`ClockTime::on`] lives here, beside
//! it, though [`ClockTime`] is a config value.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::ClockTime;

impl ClockTime {
    /// The first instant of `date` at which the clock in `tz` reads this time or later (24:00 is the
    /// start of the next day).
    pub fn on(self, date: NaiveDate, tz: Tz) -> DateTime<Utc> {
        let (date, minutes) = if self.minutes() == 24 * 60 {
            (date.succ_opt().unwrap_or(date), 0)
        } else {
            (date, self.minutes())
        };
        let local = date.and_time(chrono::NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
        first_instant(tz, local)
    }
}

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
}
