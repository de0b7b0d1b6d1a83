//! The statements on one email's row: a claim (one transaction, `FOR UPDATE`, judged by the
//! database's clock, with a token of its own), a record of how it ended, and the lease renewal.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::PgFail;
use crate::ledger::{Claim, SendState, UnrecordedSend};

/// A send the server accepted whose `sent` the database did not take, kept for the next run.
#[derive(Debug, Clone)]
pub(crate) struct Unrecorded {
    pub(super) send: UnrecordedSend,
    pub(super) at: DateTime<Utc>,
}

/// Renews the leases of every row `runner` holds (not the emails it let go in doubt).
pub(super) async fn renew(pool: &Pool, runner: &str, lease: Duration) -> Result<u64, PgFail> {
    let client = pool.get().await?;
    let secs = lease.as_secs_f64();
    Ok(client
        .execute(
            "UPDATE tripmail_sends SET lease_until = now() + make_interval(secs => $2) \
             WHERE runner = $1 AND state = 'claimed' AND lease_until IS NOT NULL",
            &[&runner, &secs],
        )
        .await?)
}

/// Records how this runner's claim ended; a `sent` is recorded whoever holds the row now (it was
/// sent), anything else only over this runner's own claim. An email left in doubt (`claimed`) is
/// let go: no runner, lease or token. The rows written.
pub(super) async fn record(
    pool: Pool,
    (campaign, booking): (String, String),
    state: SendState,
    (reply, tries, at): (String, i32, DateTime<Utc>),
    me: String,
) -> Result<u64, PgFail> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "UPDATE tripmail_sends SET state = $3, reply = $4, attempts = attempts + $5, \
             updated_at = $6, lease_until = NULL, runner = NULL, token = NULL \
             WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed' \
             AND (runner = $7 OR $3 = 'sent')",
            &[
                &campaign,
                &booking,
                &state.as_str(),
                &reply,
                &tries,
                &at,
                &me,
            ],
        )
        .await?)
}

/// A claim's own token: 96 random bits.
pub(super) fn claim_token() -> String {
    crate::console::random_token()
        .map(|t| t.chars().take(16).collect())
        .unwrap_or_else(|| format!("{:?}", std::time::Instant::now()))
}

/// What a claim's transaction found.
pub(super) async fn claim_row(
    pool: Pool,
    key: (String, String),
    message_id: String,
    recipient: String,
    times: (DateTime<Utc>, DateTime<Utc>),
    who: Who,
) -> Result<Claim, PgFail> {
    let ((campaign, booking), (run_at, at)) = (key, times);
    let Who {
        runner,
        lease,
        ours,
        token,
        grace,
    } = who;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let inserted = tx
        .execute(
            "INSERT INTO tripmail_sends (campaign, booking_id, message_id, recipient, state, \
             created_at, updated_at, run_at, runner, lease_until, token) \
             VALUES ($1, $2, $3, $4, 'claimed', $5, $5, $6, $7, \
             now() + make_interval(secs => $8), $9) \
             ON CONFLICT (campaign, booking_id) DO NOTHING",
            &[
                &campaign,
                &booking,
                &message_id,
                &recipient,
                &at,
                &run_at,
                &runner,
                &lease,
                &token,
            ],
        )
        .await?;
    if inserted == 1 {
        tx.commit().await?;
        return Ok(Claim::New);
    }
    let row = tx
        .query_one(
            "SELECT state, token, coalesce(lease_until > now(), false) FROM tripmail_sends \
             WHERE campaign = $1 AND booking_id = $2 FOR UPDATE",
            &[&campaign, &booking],
        )
        .await?;
    let state: String = row.try_get(0)?;
    let held_with: Option<String> = row.try_get(1)?;
    let live: bool = row.try_get(2)?;
    let claim = match SendState::parse(&state) {
        Some(done @ (SendState::Sent | SendState::Failed)) => Claim::Done(done),
        // This run's own claim: the booking twice in the input.
        Some(SendState::Claimed) if ours => Claim::Done(SendState::Claimed),
        // This very claim, tried again: its first try's answer was lost (the database restarted);
        // nothing was sent under it.
        Some(SendState::Claimed) if held_with.as_deref() == Some(token.as_str()) => Claim::New,
        // Another claim, its lease running: its runner sends it. Just after an outage, a lease
        // that ran out meanwhile is left alone too: its runner may not have renewed it yet.
        Some(SendState::Claimed) if live || (grace && held_with.is_some()) => {
            Claim::Done(SendState::Claimed)
        }
        previous => {
            let takeover = i32::from(previous == Some(SendState::Claimed));
            tx.execute(
                "UPDATE tripmail_sends SET state = 'claimed', message_id = $3, recipient = $4, \
                 updated_at = $5, run_at = $6, takeovers = takeovers + $7, runner = $8, \
                 lease_until = now() + make_interval(secs => $9), token = $10 \
                 WHERE campaign = $1 AND booking_id = $2",
                &[
                    &campaign,
                    &booking,
                    &message_id,
                    &recipient,
                    &at,
                    &run_at,
                    &takeover,
                    &runner,
                    &lease,
                    &token,
                ],
            )
            .await?;
            match previous {
                Some(SendState::Deferred) => Claim::Retry,
                _ => Claim::InDoubt,
            }
        }
    };
    tx.commit().await?;
    Ok(claim)
}

/// Who claims: the runner, its lease, whether this run claimed the email already, the claim's own
/// token, and whether the database came back from an outage less than a lease ago.
#[derive(Clone)]
pub(super) struct Who {
    pub(super) runner: String,
    pub(super) lease: f64,
    pub(super) ours: bool,
    pub(super) token: String,
    pub(super) grace: bool,
}
