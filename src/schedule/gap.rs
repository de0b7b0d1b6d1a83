//! A reminder held back after a recent confirmation: a booking whose confirmation and reminder are
//! both due gets one email, not two at the same instant. The reminder does not go while a
//! confirmation of the same booking went less than the reminder campaign's
//! `min_hours_after_confirmation` before (or goes in the same run); it may go once that time has
//! passed, if it is still due then. `run` and `plan` both ask [`held_until`].

use chrono::{DateTime, Duration, Utc};

/// The instant from which a reminder that would go at `at` may go, when a confirmation went at one
/// of `confirmed` (at or before `at`) less than `gap` before it; `None` when none holds it back.
pub fn held_until(
    gap: Duration,
    confirmed: &[DateTime<Utc>],
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    confirmed
        .iter()
        .filter(|c| **c <= at)
        .filter_map(|c| c.checked_add_signed(gap))
        .filter(|until| at < *until)
        .max()
}

/// Where a reminder that would first go at `at` goes, given the confirmations at `confirmed`: at
/// `at`, or, held back, at `next` of the instant the gap has passed (its next chance to go: due,
/// inside its schedule), again and again while another confirmation holds it; `None` when it has
/// no chance left.
pub fn place(
    gap: Duration,
    confirmed: &[DateTime<Utc>],
    mut at: DateTime<Utc>,
    next: impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    // Each step passes one confirmation for good: at most as many steps as confirmations.
    for _ in 0..=confirmed.len() {
        match held_until(gap, confirmed, at) {
            None => return Some(at),
            Some(until) => at = next(until)?,
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_confirmation_less_than_the_gap_before_holds_the_reminder_until_the_gap_has_passed() {
        let day = Duration::hours(24);
        let now = t("2026-12-10T09:00:00Z");
        // 23 hours before: held for one more hour.
        assert_eq!(
            held_until(day, &[t("2026-12-09T10:00:00Z")], now),
            Some(t("2026-12-10T10:00:00Z"))
        );
        // 25 hours before, or exactly 24: it goes.
        assert_eq!(held_until(day, &[t("2026-12-09T08:00:00Z")], now), None);
        assert_eq!(held_until(day, &[t("2026-12-09T09:00:00Z")], now), None);
        // At the same instant (it goes first in the run): a whole gap.
        assert_eq!(
            held_until(day, &[now], now),
            Some(t("2026-12-11T09:00:00Z"))
        );
        // A confirmation after the reminder does not hold it; of several, the latest counts.
        assert_eq!(held_until(day, &[t("2026-12-10T10:00:00Z")], now), None);
        assert_eq!(
            held_until(
                day,
                &[t("2026-12-09T10:00:00Z"), t("2026-12-10T08:00:00Z")],
                now
            ),
            Some(t("2026-12-11T08:00:00Z"))
        );
        assert_eq!(held_until(day, &[], now), None);
    }

    #[test]
    fn a_held_reminder_is_placed_at_its_next_chance_after_the_gap_or_nowhere() {
        let day = Duration::hours(24);
        let now = t("2026-12-10T09:00:00Z");
        let any = |u: DateTime<Utc>| Some(u);
        assert_eq!(
            place(day, &[now], now, any),
            Some(t("2026-12-11T09:00:00Z"))
        );
        // Its window opens at 10:00 the next day.
        let ten = |_| Some(t("2026-12-11T10:00:00Z"));
        assert_eq!(
            place(day, &[now], now, ten),
            Some(t("2026-12-11T10:00:00Z"))
        );
        // Due no more by then.
        assert_eq!(place(day, &[now], now, |_| None), None);
        assert_eq!(place(day, &[], now, |_| None), Some(now));
    }
}
