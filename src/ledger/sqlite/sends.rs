//! The sends themselves: claiming one before it goes out, recording how it ended, giving a claim
//! back, settling one in doubt by hand, and the reads (`state`, `entries`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::schema::{missing_columns, stamp};
use super::SqliteLedger;
use crate::ledger::{
    Claim, Entry, LedgerError, Recorded, SendLedger, SendState, StateAt, UnrecordedSend,
};

/// How many times a `sent` is tried again before it is listed instead.
const SENT_TRIES: u32 = 4;

/// The state of one send (the claim asks it too: one cached statement).
const STATE_OF: &str = "SELECT state FROM sends WHERE campaign = ?1 AND booking_id = ?2";

/// The sends, as the run and the command line ask them of any store.
impl SendLedger for SqliteLedger {
    /// Takes (campaign, booking) for sending, unless it is already done. Written and committed
    /// before the SMTP transaction starts. Refused ([`LedgerError::Stopped`]) once a write failed.
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
        let mut mine = self.mine.lock().unwrap_or_else(|p| p.into_inner());
        let ours = mine.contains(&key);
        if self.is_broken() {
            return Err(LedgerError::Stopped {
                path: self.path.clone(),
            });
        }
        let claim = self.write(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: Option<String> = tx
                .prepare_cached(STATE_OF)?
                .query_row(
                    params![campaign, booking_id],
                    |r| r.get(0),
                )
                .optional()?;
            let claim = match found.as_deref().map(SendState::parse) {
                None => {
                    tx.prepare_cached(
                        "INSERT INTO sends (campaign, booking_id, message_id, recipient, state, \
                         created_at, updated_at, run_at) VALUES (?1, ?2, ?3, ?4, 'claimed', ?5, ?5, ?6)",
                    )?
                    .execute(
                        params![campaign, booking_id, message_id, recipient, stamp(at), stamp(run_at)],
                    )?;
                    Claim::New
                }
                Some(Some(done @ (SendState::Sent | SendState::Failed))) => Claim::Done(done),
                Some(Some(SendState::Claimed)) if ours => Claim::Done(SendState::Claimed),
                Some(previous) => {
                    let takeover = i64::from(previous == Some(SendState::Claimed));
                    tx.execute(
                        "UPDATE sends SET state = 'claimed', message_id = ?3, recipient = ?4, \
                         updated_at = ?5, run_at = ?6, takeovers = takeovers + ?7 \
                         WHERE campaign = ?1 AND booking_id = ?2",
                        params![
                            campaign,
                            booking_id,
                            message_id,
                            recipient,
                            stamp(at),
                            stamp(run_at),
                            takeover
                        ],
                    )?;
                    if previous == Some(SendState::Deferred) {
                        Claim::Retry
                    } else {
                        Claim::InDoubt
                    }
                }
            };
            tx.commit()?;
            Ok(claim)
        })?;
        if !matches!(claim, Claim::Done(_)) {
            mine.insert(key);
        }
        Ok(claim)
    }

    /// Records the end of a claimed send: `sent`, `failed` or `deferred`, with the server's reply and
    /// the tries it took. A `sent` the ledger does not take is tried again (the first time after
    /// deleting the reserve file), then listed in [`SqliteLedger::list_path`] for the next run
    /// ([`Recorded::Listed`]); an error then means it could not be listed either.
    fn finish(
        &self,
        campaign: &str,
        booking_id: &str,
        state: SendState,
        reply: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Recorded, LedgerError> {
        let update = || {
            self.write(|c| {
                c.prepare_cached(
                    "UPDATE sends SET state = ?3, reply = ?4, attempts = attempts + ?5, \
                     updated_at = ?6 WHERE campaign = ?1 AND booking_id = ?2 \
                     AND state = 'claimed'",
                )?
                .execute(params![
                    campaign,
                    booking_id,
                    state.as_str(),
                    reply,
                    attempts,
                    stamp(at)
                ])
                .map(drop)
            })
        };
        let mut failed = match update() {
            Ok(()) => return Ok(Recorded::InLedger),
            Err(e) if state != SendState::Sent => return Err(e),
            Err(e) => e,
        };
        let _ = std::fs::remove_file(self.sibling(".reserve"));
        for n in 1..SENT_TRIES {
            if n > 1 {
                std::thread::sleep(Duration::from_millis(50 << (n - 1)));
            }
            match update() {
                Ok(()) => return Ok(Recorded::InLedger),
                Err(e) => failed = e,
            }
        }
        // What was claimed, to list it whole (a read needs no room).
        let claimed = self
            .with(|c| {
                c.query_row(
                    "SELECT message_id, recipient FROM sends WHERE campaign = ?1 AND booking_id = ?2",
                    params![campaign, booking_id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        let send = UnrecordedSend {
            campaign: campaign.to_string(),
            booking_id: booking_id.to_string(),
            message_id: claimed.0,
            recipient: claimed.1,
            reply: reply.to_string(),
            attempts,
            at: stamp(at),
        };
        let list = self.list_path();
        match self.append_listed(&list, &send) {
            Ok(()) => Ok(Recorded::Listed {
                send,
                list,
                error: Box::new(failed),
            }),
            Err(e) => Err(LedgerError::Unrecorded {
                path: self.path.clone(),
                list,
                sql: failed.to_string(),
                io: e.to_string(),
            }),
        }
    }

    /// Settles an email in doubt (left `claimed` by a run that died) by hand, after checking the
    /// mailbox: `deferred` to send it again at the next run, or `sent` to close it. `false` when the
    /// email is not in doubt (no such row, or another state).
    fn settle_in_doubt(
        &self,
        campaign: &str,
        booking_id: &str,
        to: SendState,
        reply: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE sends SET state = ?3, reply = ?4, updated_at = ?5 \
                 WHERE campaign = ?1 AND booking_id = ?2 AND state = 'claimed'",
                params![campaign, booking_id, to.as_str(), reply, stamp(at)],
            )
            .map(|n| n == 1)
        })
    }

    /// Gives up a claim under which nothing was sent (the email could not be produced, was held, or
    /// the run was asked to stop), putting back what `claim` found: no row for a new one, `deferred`
    /// for a retry; a claim found in doubt stays in doubt.
    fn release(&self, campaign: &str, booking_id: &str, claimed: Claim) -> Result<(), LedgerError> {
        let sql = match claimed {
            Claim::New => {
                "DELETE FROM sends WHERE campaign = ?1 AND booking_id = ?2 AND state = 'claimed'"
            }
            Claim::Retry => {
                "UPDATE sends SET state = 'deferred' WHERE campaign = ?1 AND booking_id = ?2 \
                 AND state = 'claimed'"
            }
            Claim::InDoubt | Claim::Done(_) => return Ok(()),
        };
        self.write(|c| c.execute(sql, params![campaign, booking_id]).map(drop))
    }

    /// The state of one send, if the ledger knows it.
    fn state(&self, campaign: &str, booking_id: &str) -> Result<Option<SendState>, LedgerError> {
        self.with(|c| {
            c.prepare_cached(STATE_OF)?
                .query_row(params![campaign, booking_id], |r| r.get::<_, String>(0))
                .optional()
        })
        .map(|s| s.as_deref().and_then(SendState::parse))
    }

    /// The state of one send and the `--now` of the run that last claimed it.
    fn state_at(&self, campaign: &str, booking_id: &str) -> Result<Option<StateAt>, LedgerError> {
        let row = self.with(|c| {
            c.prepare_cached(
                "SELECT state, run_at FROM sends WHERE campaign = ?1 AND booking_id = ?2",
            )?
            .query_row(params![campaign, booking_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()
        })?;
        Ok(row.and_then(|(state, run_at)| {
            let at = DateTime::parse_from_rfc3339(&run_at).ok();
            Some((SendState::parse(&state)?, at.map(|t| t.with_timezone(&Utc))))
        }))
    }

    /// Every row, or one campaign's, ordered by campaign then booking.
    fn entries(&self, campaign: Option<&str>) -> Result<Vec<Entry>, LedgerError> {
        self.select("?1 IS NULL OR campaign = ?1", campaign)
    }

    fn booking_entries(&self, booking_id: &str) -> Result<Vec<Entry>, LedgerError> {
        self.select("booking_id = ?1", Some(booking_id))
    }

    fn claimed_here(&self, campaign: &str, booking_id: &str) -> bool {
        SqliteLedger::claimed_here(self, campaign, booking_id)
    }

    fn lane(&self) -> Option<&crate::ledger::Lane> {
        self.lane.get_or_init(crate::ledger::Lane::start).as_ref()
    }

    fn begin_run(&self) {
        SqliteLedger::begin_run(self)
    }

    fn is_broken(&self) -> bool {
        SqliteLedger::is_broken(self)
    }

    fn take_recovered(&self) -> Vec<UnrecordedSend> {
        SqliteLedger::take_recovered(self)
    }

    fn list_path(&self) -> std::path::PathBuf {
        SqliteLedger::list_path(self)
    }

    fn path(&self) -> &std::path::Path {
        SqliteLedger::path(self)
    }
}

impl SqliteLedger {
    /// The rows `filter` (an SQL condition on `?1`) keeps, ordered by campaign then booking.
    fn select(&self, filter: &str, value: Option<&str>) -> Result<Vec<Entry>, LedgerError> {
        self.with(|c| {
            // A ledger written by an older version, read before a run added the column, has none.
            let takeovers = match missing_columns(c)?.contains(&"takeovers") {
                true => "0",
                false => "takeovers",
            };
            let mut stmt = c.prepare(&format!(
                "SELECT campaign, booking_id, state, message_id, recipient, attempts, reply, \
                 updated_at, run_at, {takeovers} FROM sends WHERE {filter} \
                 ORDER BY campaign, booking_id"
            ))?;
            let rows = stmt.query_map(params![value], |r| {
                let state: String = r.get(2)?;
                Ok(Entry {
                    campaign: r.get(0)?,
                    booking_id: r.get(1)?,
                    state: SendState::parse(&state).unwrap_or(SendState::Claimed),
                    message_id: r.get(3)?,
                    recipient: r.get(4)?,
                    attempts: r.get(5)?,
                    reply: r.get(6)?,
                    updated_at: r.get(7)?,
                    run_at: r.get(8)?,
                    takeovers: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::sqlite::t;

    #[test]
    fn a_send_is_claimed_once_and_done_stays_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/ledger.sqlite");
        let now = t("2026-12-10T09:00:00Z");
        let l = SqliteLedger::open(&path).unwrap();
        let claim = |l: &SqliteLedger| l.claim("c", "B1", "c.B1@x", "a@x", now, now).unwrap();
        assert_eq!(claim(&l), Claim::New);
        l.finish("c", "B1", SendState::Sent, "250 ok", 1, now)
            .unwrap();
        assert_eq!(claim(&l), Claim::Done(SendState::Sent));
        assert_eq!(
            l.claim("c", "B2", "c.B2@x", "b@x", now, now).unwrap(),
            Claim::New
        );
        l.finish("c", "B2", SendState::Deferred, "451 later", 3, now)
            .unwrap();
        assert_eq!(
            l.claim("c", "B2", "c.B2@x", "b@x", now, now).unwrap(),
            Claim::Retry
        );
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        // The same booking twice in one run: the second is not sent.
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::Done(SendState::Claimed)
        );
        drop(l);
        // A claim left by a runner that is gone is in doubt for the next one.
        let l = SqliteLedger::open(&path).unwrap();
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::InDoubt
        );
        // Given up: it stays in doubt (the next run sends it again).
        l.release("c", "B3", Claim::InDoubt).unwrap();
        assert_eq!(l.state("c", "B3").unwrap(), Some(SendState::Claimed));
        // A new claim given up leaves no row; a retry given up is deferred again.
        assert_eq!(
            l.claim("c", "B4", "c.B4@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        l.release("c", "B4", Claim::New).unwrap();
        assert_eq!(l.state("c", "B4").unwrap(), None);
        assert_eq!(
            l.claim("c", "B5", "c.B5@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        l.finish("c", "B5", SendState::Deferred, "451 later", 1, now)
            .unwrap();
        l.begin_run();
        assert_eq!(
            l.claim("c", "B5", "c.B5@x", "c@x", now, now).unwrap(),
            Claim::Retry
        );
        l.release("c", "B5", Claim::Retry).unwrap();
        assert_eq!(l.state("c", "B5").unwrap(), Some(SendState::Deferred));
        let entries = l.entries(Some("c")).unwrap();
        let rows: Vec<(&str, SendState)> = entries
            .iter()
            .map(|e| (e.booking_id.as_str(), e.state))
            .collect();
        assert_eq!(
            rows,
            [
                ("B1", SendState::Sent),
                ("B2", SendState::Claimed),
                ("B3", SendState::Claimed),
                ("B5", SendState::Deferred)
            ]
        );
        assert_eq!(entries[0].reply.as_deref(), Some("250 ok"));
        assert_eq!(entries[1].attempts, 3);
    }
}
