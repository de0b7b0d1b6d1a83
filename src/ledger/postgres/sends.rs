//! The sends in PostgreSQL: a claim is one transaction on the email's row (`FOR UPDATE`), judged by
//! the database's clock: a row claimed by a runner whose lease is running is that runner's (not
//! sent here); a row whose lease ran out was left by a runner that died, and is taken over as an
//! email in doubt. Each claim carries a token of its own, so that a claim whose answer was lost
//! (the database restarted) is recognised when it is tried again. A runner records and gives back
//! only its own claims; an email left in doubt is let go (no runner, lease or token) for whoever
//! comes next.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use super::rows::{claim_row, claim_token, record, Unrecorded, Who};
use super::{params, PgFail, PgLedger};
use crate::ledger::{
    Claim, Entry, LedgerError, Recorded, SendLedger, SendState, StateAt, UnrecordedSend,
};

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl SendLedger for PgLedger {
    fn shared_pace(self: Arc<Self>) -> Option<Arc<dyn crate::deliver::SharedPace>> {
        Some(self)
    }

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
        if self.is_broken() {
            return Err(LedgerError::Stopped {
                path: self.store_path.clone(),
            });
        }
        // The set is not held across the database's answer: the row's lock orders two claims of
        // one email, and the second finds the first's.
        let who = Who {
            runner: self.runner.clone(),
            lease: self.lease.as_secs_f64(),
            ours: self.mine().contains(&key),
            token: claim_token(),
            grace: self.just_back(),
        };
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
            self.mine().insert(key);
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
        let (c, b) = (campaign.to_string(), booking_id.to_string());
        let (r, tries, me) = (reply.to_string(), attempts as i32, self.runner.clone());
        let written = self.with_wait(|pool| {
            let (c, b, r, me) = (c.clone(), b.clone(), r.clone(), me.clone());
            async move { record(pool, (c, b), state, (r, tries, at), me).await }
        });
        match written {
            Ok(0) => {
                tracing::warn!(
                    "ledger {}: {campaign} / {booking_id}: another runner took its claim over (this one lost the database longer than its lease); its {state} is not recorded over it",
                    self.store_path.display()
                );
                Ok(Recorded::InLedger)
            }
            Ok(_) => Ok(Recorded::InLedger),
            Err(e) if state == SendState::Sent => {
                // Kept, and recorded first at the next run; nothing more is claimed until then.
                self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                let send = UnrecordedSend {
                    campaign: c,
                    booking_id: b,
                    message_id: String::new(),
                    recipient: String::new(),
                    reply: r,
                    attempts,
                    at: stamp(at),
                };
                self.unrecorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Unrecorded {
                        send: send.clone(),
                        at,
                    });
                Ok(Recorded::Listed {
                    send,
                    list: self.store_path.join("(kept in memory until the next run)"),
                    error: Box::new(e),
                })
            }
            Err(e) => {
                self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn release(&self, campaign: &str, booking_id: &str, claimed: Claim) -> Result<(), LedgerError> {
        let sql = match claimed {
            Claim::New => {
                "DELETE FROM tripmail_sends WHERE campaign = $1 AND booking_id = $2 \
                 AND state = 'claimed' AND runner = $3"
            }
            Claim::Retry => {
                "UPDATE tripmail_sends SET state = 'deferred', lease_until = NULL, runner = NULL, \
                 token = NULL WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed' \
                 AND runner = $3"
            }
            // Still in doubt: let go, for whoever comes next.
            Claim::InDoubt => {
                "UPDATE tripmail_sends SET lease_until = NULL, runner = NULL, token = NULL \
                 WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed' AND runner = $3"
            }
            Claim::Done(_) => return Ok(()),
        };
        let key = params![
            campaign.to_string(),
            booking_id.to_string(),
            self.runner.clone()
        ];
        self.rows(sql, key, true).map(drop)
    }

    fn state(&self, campaign: &str, booking_id: &str) -> Result<Option<SendState>, LedgerError> {
        Ok(self.state_at(campaign, booking_id)?.map(|(s, _)| s))
    }

    fn state_at(&self, campaign: &str, booking_id: &str) -> Result<Option<StateAt>, LedgerError> {
        let rows = self.rows(
            "SELECT state, run_at FROM tripmail_sends WHERE campaign = $1 AND booking_id = $2",
            params![campaign.to_string(), booking_id.to_string()],
            true,
        )?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let read = |e: tokio_postgres::Error| self.error(PgFail::from(e));
        let state: String = r.try_get(0).map_err(read)?;
        let at: DateTime<Utc> = r.try_get(1).map_err(read)?;
        Ok(SendState::parse(&state).map(|s| (s, Some(at))))
    }

    fn settle_in_doubt(
        &self,
        campaign: &str,
        booking_id: &str,
        to: SendState,
        reply: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let settled = self.rows(
            "UPDATE tripmail_sends SET state = $3, reply = $4, updated_at = $5, \
             lease_until = NULL, runner = NULL, token = NULL \
             WHERE campaign = $1 AND booking_id = $2 AND state = 'claimed' \
             AND coalesce(lease_until <= now(), true) RETURNING 1",
            params![
                campaign.to_string(),
                booking_id.to_string(),
                to.as_str(),
                reply.to_string(),
                at
            ],
            true,
        )?;
        Ok(settled.len() == 1)
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
        let live = self.rows(
            "SELECT 1 FROM tripmail_sends WHERE campaign = $1 AND booking_id = $2 \
             AND state = 'claimed' AND runner IS DISTINCT FROM $3 AND lease_until > now()",
            params![
                campaign.to_string(),
                booking_id.to_string(),
                self.runner.clone()
            ],
            true,
        )?;
        Ok(!live.is_empty())
    }

    fn begin_run(&self) {
        self.mine().clear();
        if !self.is_broken() {
            return;
        }
        // The sends the database did not take are recorded first; until they are, nothing is
        // claimed (their rows are this runner's, and would be sent again).
        let waiting =
            std::mem::take(&mut *self.unrecorded.lock().unwrap_or_else(|p| p.into_inner()));
        let mut left = Vec::new();
        for u in waiting {
            let (c, b, r) = (
                u.send.campaign.clone(),
                u.send.booking_id.clone(),
                u.send.reply.clone(),
            );
            let (tries, at, me) = (u.send.attempts as i32, u.at, self.runner.clone());
            let done = self.once(move |pool| async move {
                record(pool, (c, b), SendState::Sent, (r, tries, at), me).await
            });
            match done {
                Ok(_) => self.recovered().push(u.send),
                Err(e) => {
                    tracing::warn!("{e}; nothing is sent until it is");
                    left.push(u);
                }
            }
        }
        let clear = left.is_empty();
        self.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(left);
        if clear {
            self.broken
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn is_broken(&self) -> bool {
        PgLedger::is_broken(self)
    }

    fn take_recovered(&self) -> Vec<UnrecordedSend> {
        std::mem::take(&mut *self.recovered())
    }

    fn list_path(&self) -> std::path::PathBuf {
        self.store_path.clone()
    }

    fn path(&self) -> &std::path::Path {
        PgLedger::path(self)
    }
}

/// One row of `tripmail_sends` as [`Entry`] (its columns in [`PgLedger::select`]'s order).
fn entry(r: &tokio_postgres::Row) -> Result<Entry, tokio_postgres::Error> {
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
}

impl PgLedger {
    /// The rows `filter` (SQL on `$1`) keeps, ordered by campaign then booking.
    fn select(&self, filter: &str, value: Option<&str>) -> Result<Vec<Entry>, LedgerError> {
        let sql = format!(
            "SELECT campaign, booking_id, state, message_id, recipient, attempts, reply, \
             updated_at, run_at, takeovers FROM tripmail_sends WHERE {filter} \
             ORDER BY campaign, booking_id"
        );
        let rows = self.rows(&sql, params![value.map(str::to_string)], true)?;
        rows.iter()
            .map(|r| entry(r).map_err(|e| self.error(PgFail::from(e))))
            .collect()
    }
}
