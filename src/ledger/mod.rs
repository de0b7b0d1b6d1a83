//! The send ledger: per (campaign, booking), the email's Message-ID and its state, so that each
//! booking gets each campaign's email at most once, across runs and crashes.
//!
//! A send goes `claimed` (written before the SMTP transaction starts) → `sent` (written as soon as the
//! server accepted it), or `failed` (a permanent rejection, not tried again) or `deferred` (temporary
//! failures ran out of tries; the next run tries again). A `claimed` row that no live runner holds
//! was left by a run that died mid-transaction: the server may or may not have accepted it. The
//! README's "Exactly once" section says what the runner does about it.
//!
//! This module owns what every store shares: the [`SendLedger`] trait the run records through, and
//! the values it speaks in ([`SendState`], [`Claim`], [`Entry`], [`Recorded`], [`UnrecordedSend`],
//! [`LedgerError`]), implemented by [`sqlite`] (one runner at a time, held by a lock) and
//! [`postgres`] (several runners, each claim held for a lease) without the run knowing which.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod lane;
pub mod postgres;
pub mod sqlite;

pub use lane::Lane;

/// The SQLite ledger, under the name the run and the command line use.
pub use postgres::PgLedger;
pub use sqlite::SqliteLedger as Ledger;

/// A ledger that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file, its folder or its lock could not be opened.
    #[error("ledger {path} (state.path or --state): {reason}")]
    Open {
        /// The ledger file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another runner holds the ledger.
    #[error("ledger {path} is in use by another tripmail run (locked: {lock}); two runners must not send from one ledger at once")]
    Busy {
        /// The ledger file, as given.
        path: PathBuf,
        /// The file the lock is on: the ledger with every symlink resolved.
        lock: PathBuf,
    },
    /// An earlier write failed in this run: nothing more is claimed.
    #[error("ledger {path}: an earlier write failed; no email is started after it")]
    Stopped {
        /// The ledger file.
        path: PathBuf,
    },
    /// A `sent` could be written neither to the ledger nor to the list of unrecorded sends.
    #[error("ledger {path}: cannot record a sent email ({sql}), nor list it in {list}: {io}")]
    Unrecorded {
        /// The ledger file.
        path: PathBuf,
        /// The list a rerun reads.
        list: PathBuf,
        /// Why the ledger write failed.
        sql: String,
        /// Why the list could not be written.
        io: String,
    },
    /// The PostgreSQL ledger cannot be reached, or a statement failed (the address is shown
    /// without its password).
    #[error("ledger {store} (state.url): {reason}")]
    Postgres {
        /// The database, as `postgres://USER@HOST:PORT/DB`.
        store: String,
        /// Why.
        reason: String,
    },
    /// A read or write failed.
    #[error("ledger {path}: {source}")]
    Sql {
        /// The ledger file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

/// Where a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendState {
    /// A run took it and was sending it (or died doing so).
    Claimed,
    /// The server accepted it.
    Sent,
    /// The server rejected it for good; not tried again.
    Failed,
    /// Temporary failures ran out of tries; the next run tries again.
    Deferred,
}

impl SendState {
    /// The state as stored and shown: `claimed`, `sent`, `failed` or `deferred`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SendState::Claimed => "claimed",
            SendState::Sent => "sent",
            SendState::Failed => "failed",
            SendState::Deferred => "deferred",
        }
    }

    /// The state [`SendState::as_str`] wrote, if `s` is one.
    pub(crate) fn parse(s: &str) -> Option<SendState> {
        Some(match s {
            "claimed" => SendState::Claimed,
            "sent" => SendState::Sent,
            "failed" => SendState::Failed,
            "deferred" => SendState::Deferred,
            _ => return None,
        })
    }
}

impl fmt::Display for SendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A send's state, with the `--now` of the run that last claimed it (`None` when unreadable).
pub type StateAt = (SendState, Option<DateTime<Utc>>);

/// What [`Ledger::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time: claimed now, send it.
    New,
    /// Deferred by an earlier run: claimed again, send it.
    Retry,
    /// Claimed by a run that died mid-send: claimed again, send it (see the README).
    InDoubt,
    /// Already done (sent or failed), or claimed by this very run (the booking is in the input
    /// twice): do not send.
    Done(SendState),
}

/// One row, for `tripmail ledger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// State.
    pub state: SendState,
    /// The email's Message-ID.
    pub message_id: String,
    /// Recipient address.
    pub recipient: String,
    /// SMTP tries so far.
    pub attempts: u32,
    /// The server's last reply, or the last error.
    pub reply: Option<String>,
    /// When the state was written (clock time).
    pub updated_at: String,
    /// The `--now` of the run that wrote it.
    pub run_at: String,
    /// Times a run took it over from one that died while it was claimed (and sent it again).
    pub takeovers: u32,
}

/// An email the server accepted whose `sent` the ledger could not take: listed for the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnrecordedSend {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// The email's Message-ID (as claimed), to find it in the mailbox.
    pub message_id: String,
    /// Recipient address (as claimed).
    pub recipient: String,
    /// The server's reply.
    pub reply: String,
    /// SMTP tries it took.
    pub attempts: u32,
    /// When the server accepted it (clock time).
    pub at: String,
}

/// Where [`Ledger::finish`] put the outcome.
#[derive(Debug)]
pub enum Recorded {
    /// In the ledger.
    InLedger,
    /// Not in the ledger (`error` says why) but in `list`, which the next [`Ledger::open`] records.
    Listed {
        /// The send.
        send: UnrecordedSend,
        /// The list file.
        list: PathBuf,
        /// Why the ledger did not take it.
        error: Box<LedgerError>,
    },
}

/// A store of sends, shared by every task of one runner: what the run and the command line call to
/// make each send happen once. Object-safe (`Arc<dyn SendLedger>`), and synchronous: a call may wait
/// for the disk, so the run makes it off its async threads.
pub trait SendLedger: Send + Sync {
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
    ) -> Result<Claim, LedgerError>;

    /// Records the end of a claimed send: `sent`, `failed` or `deferred`, with the server's reply and
    /// the tries it took. A `sent` the store does not take is listed for the next run
    /// ([`Recorded::Listed`]); an error then means it could not be listed either.
    fn finish(
        &self,
        campaign: &str,
        booking_id: &str,
        state: SendState,
        reply: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Recorded, LedgerError>;

    /// Gives up a claim under which nothing was sent, putting back what [`SendLedger::claim`] found.
    fn release(&self, campaign: &str, booking_id: &str, claimed: Claim) -> Result<(), LedgerError>;

    /// The state of one send, if the store knows it.
    fn state(&self, campaign: &str, booking_id: &str) -> Result<Option<SendState>, LedgerError>;

    /// The state of one send with the `--now` of the run that last claimed it (for a `sent` one:
    /// the run that sent it), if the store knows it; the instant is `None` when it cannot be read.
    fn state_at(&self, campaign: &str, booking_id: &str) -> Result<Option<StateAt>, LedgerError>;

    /// Settles an email in doubt by hand: `deferred` to send it again, or `sent` to close it.
    /// `false` when the email is not in doubt.
    fn settle_in_doubt(
        &self,
        campaign: &str,
        booking_id: &str,
        to: SendState,
        reply: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError>;

    /// Every row, or one campaign's, ordered by campaign then booking.
    fn entries(&self, campaign: Option<&str>) -> Result<Vec<Entry>, LedgerError>;

    /// One booking's rows, ordered by campaign.
    fn booking_entries(&self, booking_id: &str) -> Result<Vec<Entry>, LedgerError>;

    /// Whether this run claimed (campaign, booking), as opposed to a dead run.
    fn claimed_here(&self, campaign: &str, booking_id: &str) -> bool;

    /// Whether (campaign, booking) is claimed by another runner that is alive (its lease running):
    /// that runner sends it. Never for a store one runner holds at a time (SQLite): a claim it did
    /// not make was left by a run that died.
    fn claim_is_live(&self, _campaign: &str, _booking_id: &str) -> Result<bool, LedgerError> {
        Ok(false)
    }

    /// The send slots of `smtp.max_per_second`, when the runners sharing this store keep one
    /// schedule in it (PostgreSQL); none for a store one runner holds at a time (SQLite).
    fn shared_pace(self: Arc<Self>) -> Option<Arc<dyn crate::deliver::SharedPace>> {
        None
    }

    /// The thread this store's calls go to, one after another, when it takes them one at a time
    /// (SQLite); none for a store that serves several at once (PostgreSQL: each call goes to the
    /// blocking pool).
    fn lane(&self) -> Option<&Lane> {
        None
    }

    /// Starts a new run on this store (a runner's next tick).
    fn begin_run(&self);

    /// Whether a write failed in this run (then nothing more is claimed).
    fn is_broken(&self) -> bool;

    /// Sends an earlier run listed as unrecorded and recorded as `sent` since the last call.
    fn take_recovered(&self) -> Vec<UnrecordedSend>;

    /// Where sends the store could not record are listed for the next run.
    fn list_path(&self) -> PathBuf;

    /// Where the store is, as the user gave it (for messages).
    fn path(&self) -> &Path;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_send_goes_through_the_trait_as_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let shared: Arc<dyn SendLedger> = Arc::new(Ledger::open(&path).unwrap());
        let l: &dyn SendLedger = shared.as_ref();
        let now = sqlite::t("2026-12-10T09:00:00Z");
        assert_eq!(l.path(), path);
        assert!(!l.is_broken());
        assert_eq!(
            l.claim("c", "B1", "c.B1@x", "a@x", now, now).unwrap(),
            Claim::New
        );
        assert!(l.claimed_here("c", "B1"));
        assert!(matches!(
            l.finish("c", "B1", SendState::Sent, "250 ok", 1, now)
                .unwrap(),
            Recorded::InLedger
        ));
        assert_eq!(
            l.claim("c", "B1", "c.B1@x", "a@x", now, now).unwrap(),
            Claim::Done(SendState::Sent)
        );
        assert_eq!(
            l.claim("c", "B2", "c.B2@x", "b@x", now, now).unwrap(),
            Claim::New
        );
        l.release("c", "B2", Claim::New).unwrap();
        assert_eq!(l.state("c", "B2").unwrap(), None);
        assert_eq!(
            l.state_at("c", "B1").unwrap(),
            Some((SendState::Sent, Some(now)))
        );
        assert_eq!(l.state_at("c", "B2").unwrap(), None);
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::New
        );
        assert!(l
            .settle_in_doubt("c", "B3", SendState::Deferred, "by hand", now)
            .unwrap());
        assert!(!l
            .settle_in_doubt("c", "B1", SendState::Deferred, "by hand", now)
            .unwrap());
        l.begin_run();
        assert!(!l.claimed_here("c", "B1"));
        assert_eq!(
            l.claim("c", "B3", "c.B3@x", "c@x", now, now).unwrap(),
            Claim::Retry
        );
        let rows: Vec<(String, SendState)> = l
            .entries(Some("c"))
            .unwrap()
            .into_iter()
            .map(|e| (e.booking_id, e.state))
            .collect();
        assert_eq!(
            rows,
            [
                ("B1".to_string(), SendState::Sent),
                ("B3".to_string(), SendState::Claimed)
            ]
        );
        let b3: Vec<(String, SendState)> = l
            .booking_entries("B3")
            .unwrap()
            .into_iter()
            .map(|e| (e.campaign, e.state))
            .collect();
        assert_eq!(b3, [("c".to_string(), SendState::Claimed)]);
        assert!(l.take_recovered().is_empty());
        assert!(l
            .list_path()
            .to_string_lossy()
            .ends_with("ledger.sqlite.unrecorded.jsonl"));
    }
}
