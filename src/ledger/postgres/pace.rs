//! `smtp.max_per_second` across runners: the send slots of each SMTP server are reserved in
//! `tripmail_pace`, one row per server holding the end of the last slot any runner reserved. A
//! reservation is one statement on that row (its lock orders the runners), judged by the
//! database's clock, so that runners' clocks do not matter.

use std::time::Duration;

use super::{params, PgLedger};
use crate::deliver::SharedPace;

/// Takes the slot `interval` after the last one (and not before now) and returns how far from now
/// it starts, in seconds.
const RESERVE: &str = "
INSERT INTO tripmail_pace AS p (server, next_at)
VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (server) DO UPDATE
    SET next_at = greatest(p.next_at + make_interval(secs => $2), EXCLUDED.next_at)
RETURNING greatest(extract(epoch FROM p.next_at - clock_timestamp())::float8 - $2, 0)";

impl SharedPace for PgLedger {
    fn reserve(&self, server: &str, interval: Duration) -> Result<Duration, String> {
        let rows = self
            .rows(
                RESERVE,
                params![server.to_string(), interval.as_secs_f64()],
                false,
            )
            .map_err(|e| e.to_string())?;
        let seconds: f64 = rows
            .first()
            .and_then(|row| row.try_get(0).ok())
            .ok_or("the database returned no slot")?;
        Duration::try_from_secs_f64(seconds)
            .map_err(|e| format!("the slot is {seconds} s away: {e}"))
    }
}
