//! The sends in PostgreSQL: a claim is one transaction on the email's row (`FOR UPDATE`), judged by
//! the database's clock: a row claimed by a runner whose lease is running is that runner's (not
//! sent here); a row whose lease ran out was left by a runner that died, and is taken over as an
//! email in doubt.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::Pool;

use super::{PgFail, PgLedger};
use crate::ledger::{
    Claim, Entry, LedgerError, Recorded, SendLedger, SendState, StateAt, UnrecordedSend,
};

/// Renews the leases of every row `runner` holds.
pub(super) async fn renew(pool: &Pool, runner: &str, lease: Duration) -> Result<u64, PgFail> {
    let client = pool.get().await?;
    let secs = lease.as_secs_f64();
    Ok(client
        .execute(
            "UPDATE tripmail_sends SET lease_until = now() + make_interval(secs => $2) \
             WHERE runner = $1 AND state = 'claimed'",
            &[&runner, &secs],
        )
        .await?)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What a claim's transaction found.
async fn claim_row(
    pool: Pool,
    key: (String, String),
    message_id: String,
    recipient: String,
    times: (DateTime<Utc>, DateTime<Utc>),
    who: (String, f64, bool),
) -> Result<Claim, PgFail> {
    let ((campaign, booking), (run_at, at), (runner, lease, ours)) = (key, times, who);
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let inserted = tx
        .execute(
            "INSERT INTO tripmail_sends (campaign, booking_id, message_id, recipient, state, \
             created_at, updated_at, run_at, runner, lease_until) \
             VALUES ($1, $2, $3, $4, 'claimed', $5, $5, $6, $7, now() + make_interval(secs => $8)) \
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
            ],
        )
        .await?;
    if inserted == 1 {
        tx.commit().await?;
        return Ok(Claim::New);
    }
    let row = tx
        .query_one(
            "SELECT state, runner, coalesce(lease_until > now(), false) FROM tripmail_sends \
             WHERE campaign = $1 AND booking_id = $2 FOR UPDATE",
            &[&campaign, &booking],
        )
        .await?;
    let state: String = row.try_get(0)?;
    let holder: Option<String> = row.try_get(1)?;
    let live: bool = row.try_get(2)?;
    let claim = match SendState::parse(&state) {
        Some(done @ (SendState::Sent | SendState::Failed)) => Claim::Done(done),
        // This run's own claim: the booking twice in the input.
        Some(SendState::Claimed) if ours => Claim::Done(SendState::Claimed),
        // A claim of this runner this run does not know of: a try whose answer was lost (the
        // database restarted); nothing was sent under it.
        Some(SendState::Claimed) if holder.as_deref() == Some(runner.as_str()) => Claim::New,
        // Another runner's, its lease running: that runner sends it.
        Some(SendState::Claimed) if live => Claim::Done(SendState::Claimed),
        previous => {
            let takeover = i32::from(previous == Some(SendState::Claimed));
            tx.execute(
                "UPDATE tripmail_sends SET state = 'claimed', message_id = $3, recipient = $4, \
                 updated_at = $5, run_at = $6, takeovers = takeovers + $7, runner = $8, \
                 lease_until = now() + make_interval(secs => $9) \
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

impl SendLedger for PgLedger {
    fn claim(
        &self,
        campaign: &str,
        booking_id: &str,
        message_id: &str,
        recipient: &str,
        run_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Claim, LedgerError> {
        let key = (campaign.to_string(), booking_id.to_string());
        let mut mine = self.mine();
        if self.is_broken() {
            return Err(LedgerError::Stopped {
                path: self.store_path.clone(),
            });
        }
        let who = (
            self.runner.clone(),
            self.lease.as_secs_f64(),
            mine.contains(&key),
        );
        let (m, r) = (message_id.to_string(), recipient.to_string());
        let claim = self.with_wait(|pool| {
            claim_row(
                pool,
                key.clone(),
                m.clone(),
                r.clone(),
                (run_at, at),
                who.clone(),
            )
        });
        let claim = match claim {
            Ok(c) => c,
            Err(e) => {
                self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(e);
            }
        };
        if !matches!(claim, Claim::Done(_)) {
            mine.insert(key);
        }
        Ok(claim)
    }

    fn finish(
        &self,
        campaign: &str,
        booking_id: &str,
        state: SendState,
        reply: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Recorded, LedgerError> {
        let (c, b, r) = (
            campaign.to_string(),
            booking_id.to_string(),
            reply.to_string(),
        );
        let tries = attempts as i32;
        self.with_wait(|pool| {
            let (c, b, r) = (c.clone(), b.clone(), r.clone());
            async move {
                let client = pool.get().await?;
                client
                    .execute(
                        "UPDATE tripmail_sends SET state = $3, reply = $4, attempts = attempts + $5, \
                         updated_at = $6, lease_until = NULL \
                         WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed'",
                        &[&c, &b, &state.as_str(), &r, &tries, &at],
                    )
                    .await?;
                Ok(())
            }
        })
        .map(|()| Recorded::InLedger)
        .inspect_err(|_| self.broken.store(true, std::sync::atomic::Ordering::SeqCst))
    }

    fn release(&self, campaign: &str, booking_id: &str, claimed: Claim) -> Result<(), LedgerError> {
        let sql = match claimed {
            Claim::New => {
                "DELETE FROM tripmail_sends WHERE campaign = $1 AND booking_id = $2 \
                 AND state = 'claimed'"
            }
            Claim::Retry => {
                "UPDATE tripmail_sends SET state = 'deferred', lease_until = NULL \
                 WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed'"
            }
            // Still in doubt: its lease is let run out (another runner, or the next run, sees it).
            Claim::InDoubt | Claim::Done(_) => return Ok(()),
        };
        let (c, b) = (campaign.to_string(), booking_id.to_string());
        self.with_wait(|pool| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                pool.get().await?.execute(sql, &[&c, &b]).await?;
                Ok(())
            }
        })
    }

    fn state(&self, campaign: &str, booking_id: &str) -> Result<Option<SendState>, LedgerError> {
        Ok(self.state_at(campaign, booking_id)?.map(|(s, _)| s))
    }

    fn state_at(&self, campaign: &str, booking_id: &str) -> Result<Option<StateAt>, LedgerError> {
        let (c, b) = (campaign.to_string(), booking_id.to_string());
        let row = self.with_wait(|pool| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let row = pool
                    .get()
                    .await?
                    .query_opt(
                        "SELECT state, run_at FROM tripmail_sends \
                         WHERE campaign = $1 AND booking_id = $2",
                        &[&c, &b],
                    )
                    .await?;
                match row {
                    Some(r) => Ok(Some((
                        r.try_get::<_, String>(0)?,
                        r.try_get::<_, DateTime<Utc>>(1)?,
                    ))),
                    None => Ok(None),
                }
            }
        })?;
        Ok(row.and_then(|(s, at)| Some((SendState::parse(&s)?, Some(at)))))
    }

    fn settle_in_doubt(
        &self,
        campaign: &str,
        booking_id: &str,
        to: SendState,
        reply: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let (c, b, r) = (
            campaign.to_string(),
            booking_id.to_string(),
            reply.to_string(),
        );
        self.with_wait(|pool| {
            let (c, b, r) = (c.clone(), b.clone(), r.clone());
            async move {
                let n = pool
                    .get()
                    .await?
                    .execute(
                        "UPDATE tripmail_sends SET state = $3, reply = $4, updated_at = $5, \
                         lease_until = NULL \
                         WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed' \
                         AND coalesce(lease_until <= now(), true)",
                        &[&c, &b, &to.as_str(), &r, &at],
                    )
                    .await?;
                Ok(n == 1)
            }
        })
    }

    fn entries(&self, campaign: Option<&str>) -> Result<Vec<Entry>, LedgerError> {
        self.select("$1::text IS NULL OR campaign = $1", campaign)
    }

    fn booking_entries(&self, booking_id: &str) -> Result<Vec<Entry>, LedgerError> {
        self.select("booking_id = $1", Some(booking_id))
    }

    fn claimed_here(&self, campaign: &str, booking_id: &str) -> bool {
        self.mine()
            .contains(&(campaign.to_string(), booking_id.to_string()))
    }

    fn claim_is_live(&self, campaign: &str, booking_id: &str) -> Result<bool, LedgerError> {
        let (c, b, me) = (
            campaign.to_string(),
            booking_id.to_string(),
            self.runner.clone(),
        );
        self.with_wait(|pool| {
            let (c, b, me) = (c.clone(), b.clone(), me.clone());
            async move {
                let row = pool
                    .get()
                    .await?
                    .query_opt(
                        "SELECT 1 FROM tripmail_sends WHERE campaign = $1 AND booking_id = $2 \
                         AND state = 'claimed' AND runner IS DISTINCT FROM $3 \
                         AND lease_until > now()",
                        &[&c, &b, &me],
                    )
                    .await?;
                Ok(row.is_some())
            }
        })
    }

    fn begin_run(&self) {
        self.mine().clear();
        self.broken
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_broken(&self) -> bool {
        PgLedger::is_broken(self)
    }

    fn take_recovered(&self) -> Vec<UnrecordedSend> {
        Vec::new()
    }

    fn list_path(&self) -> std::path::PathBuf {
        self.store_path.clone()
    }

    fn path(&self) -> &std::path::Path {
        PgLedger::path(self)
    }
}

impl PgLedger {
    /// The rows `filter` (SQL on `$1`) keeps, ordered by campaign then booking.
    fn select(&self, filter: &str, value: Option<&str>) -> Result<Vec<Entry>, LedgerError> {
        let sql = format!(
            "SELECT campaign, booking_id, state, message_id, recipient, attempts, reply, \
             updated_at, run_at, takeovers FROM tripmail_sends WHERE {filter} \
             ORDER BY campaign, booking_id"
        );
        let value = value.map(str::to_string);
        self.with_wait(|pool| {
            let (sql, value) = (sql.clone(), value.clone());
            async move {
                let rows = pool.get().await?.query(&sql, &[&value]).await?;
                rows.iter()
                    .map(|r| {
                        let state: String = r.try_get(2)?;
                        Ok(Entry {
                            campaign: r.try_get(0)?,
                            booking_id: r.try_get(1)?,
                            state: SendState::parse(&state).unwrap_or(SendState::Claimed),
                            message_id: r.try_get(3)?,
                            recipient: r.try_get(4)?,
                            attempts: r.try_get::<_, i32>(5)?.max(0) as u32,
                            reply: r.try_get(6)?,
                            updated_at: stamp(r.try_get(7)?),
                            run_at: stamp(r.try_get(8)?),
                            takeovers: r.try_get::<_, i32>(9)?.max(0) as u32,
                        })
                    })
                    .collect::<Result<Vec<Entry>, PgFail>>()
            }
        })
    }
}
