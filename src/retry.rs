//! Waiting between tries, shared by the SMTP sender and the recommendation clients.

use std::time::Duration;

/// The wait before try `attempt + 1`: `base` doubled per earlier try, capped at a minute, with
/// "equal jitter" (half fixed, half random) so that many waiters do not come back at once.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(60));
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The wait a `Retry-After` header asks for, when given in seconds. Its other form, an HTTP date,
/// is not read (the clock is read in one place only, and a date depends on both clocks agreeing):
/// the caller then waits its own backoff.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4u32 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1)));
            for _ in 0..50 {
                let d = backoff(base, attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert!(backoff(base, 40) <= Duration::from_secs(60));
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_a_date_is_not_read() {
        assert_eq!(retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("-1"), None);
        assert_eq!(retry_after("1.5"), None);
    }
}
