//! Room to record sends on a full disk: the reserve files kept beside the ledger, and the list of
//! sends the server accepted but the ledger could not take.
//!
//! A ledger that cannot be written (a full disk, an I/O error) stops claiming at once. A `sent` that
//! cannot be written is tried again a few times, first after deleting a small reserve file kept beside
//! the ledger (`<ledger>.reserve`) to free room for exactly this; when it still fails the send is
//! listed in `<ledger>.unrecorded.jsonl` (appended and synced), which the next
//! [`SqliteLedger::open`] records as `sent` before anything is claimed, then removes. The list has a
//! reserve of its own (`<ledger>.reserve-list`), deleted just before the first line is written under
//! the connection's lock, so that SQLite's retries cannot take that room.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rusqlite::params;

use super::SqliteLedger;
use crate::ledger::{LedgerError, UnrecordedSend};

/// The room kept beside the ledger for the writes that record sends once the disk is full.
const RESERVE_BYTES: usize = 128 * 1024;
/// The room kept for the list of unrecorded sends: about 50 lines.
const LIST_RESERVE_BYTES: usize = 16 * 1024;

impl SqliteLedger {
    /// Records as `sent` the sends an earlier run listed in [`SqliteLedger::list_path`], then removes
    /// the list. Recording twice is harmless, so a list left by a crash here is simply read again.
    pub(super) fn record_listed(&self) -> Result<Vec<UnrecordedSend>, LedgerError> {
        let list = self.list_path();
        let file = match File::open(&list) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.open_err(format!("cannot read {}: {e}", list.display()))),
        };
        let mut sends = Vec::new();
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line =
                line.map_err(|e| self.open_err(format!("cannot read {}: {e}", list.display())))?;
            if line.trim().is_empty() {
                continue;
            }
            // A line cut short by a crash while it was written: that send was not listed whole,
            // and its `claimed` row stays in doubt.
            match serde_json::from_str::<UnrecordedSend>(&line) {
                Ok(send) => sends.push(send),
                Err(e) => tracing::warn!("{} line {}: ignored: {e}", list.display(), n + 1),
            }
        }
        self.with(|c| {
            let tx = c.transaction()?;
            for s in &sends {
                tx.execute(
                    "INSERT INTO sends (campaign, booking_id, message_id, recipient, state, reply, \
                     attempts, created_at, updated_at, run_at) \
                     VALUES (?1, ?2, ?3, ?4, 'sent', ?5, ?6, ?7, ?7, ?7) \
                     ON CONFLICT (campaign, booking_id) DO UPDATE SET state = 'sent', \
                     reply = excluded.reply, attempts = CASE WHEN state = 'sent' THEN attempts \
                     ELSE attempts + excluded.attempts END, \
                     updated_at = excluded.updated_at",
                    params![
                        s.campaign,
                        s.booking_id,
                        s.message_id,
                        s.recipient,
                        s.reply,
                        s.attempts,
                        s.at
                    ],
                )?;
            }
            tx.commit()
        })?;
        std::fs::remove_file(&list)
            .map_err(|e| self.open_err(format!("cannot remove {}: {e}", list.display())))?;
        Ok(sends)
    }

    /// Writes the reserve files when they are missing; without room for them the run goes on
    /// without.
    pub(super) fn keep_reserve(&self) {
        for (suffix, bytes) in [
            (".reserve", RESERVE_BYTES),
            (".reserve-list", LIST_RESERVE_BYTES),
        ] {
            self.keep_reserve_file(suffix, bytes);
        }
    }

    fn keep_reserve_file(&self, suffix: &str, bytes: usize) {
        let reserve = self.sibling(suffix);
        if std::fs::metadata(&reserve).is_ok_and(|m| m.len() == bytes as u64) {
            return;
        }
        let written = File::create(&reserve).and_then(|mut f| {
            f.write_all(&vec![0u8; bytes])?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&reserve);
            tracing::warn!(
                "cannot keep {} (room to record sends on a full disk): {e}",
                reserve.display()
            );
        }
    }

    /// The ledger's path with every symlink resolved, plus `suffix`.
    pub(super) fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.real.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The list of sends the server accepted but the ledger could not record (JSON Lines), which
    /// the next [`SqliteLedger::open`] records: `<ledger>.unrecorded.jsonl`, symlinks resolved.
    pub fn list_path(&self) -> PathBuf {
        self.sibling(".unrecorded.jsonl")
    }

    /// Appends one line to the list of unrecorded sends and syncs it (and, when it is new, its
    /// folder) to the disk.
    pub(super) fn append_listed(&self, list: &Path, send: &UnrecordedSend) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(send).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let new = !list.exists();
        // One writer at a time: the connection's lock serialises appends with everything else, and
        // keeps SQLite off the room the list's reserve gives back.
        let _conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::fs::remove_file(self.sibling(".reserve-list"));
        let mut f = File::options().create(true).append(true).open(list)?;
        f.write_all(&line)?;
        f.sync_all()?;
        if let Some(dir) = list.parent().filter(|_| new) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ledger::sqlite::{t, SqliteLedger};
    use crate::ledger::{Claim, LedgerError, Recorded, SendLedger, SendState};

    #[test]
    fn a_sent_the_full_ledger_cannot_take_is_listed_and_recorded_by_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let now = t("2026-12-10T09:00:00Z");
        let l = SqliteLedger::open(&path).unwrap();
        assert!(l.sibling(".reserve").exists());
        for b in ["B1", "B2"] {
            assert_eq!(
                l.claim("c", b, &format!("c.{b}@x"), "a@x", now, now)
                    .unwrap(),
                Claim::New
            );
        }
        l.fill_up().unwrap();
        // A reply long enough to need pages the ledger no longer has.
        let reply = format!("250 ok {}", "x".repeat(20_000));
        match l
            .finish("c", "B1", SendState::Sent, &reply, 1, now)
            .unwrap()
        {
            Recorded::Listed { send, list, .. } => {
                assert_eq!(list, l.list_path());
                assert_eq!(send.message_id, "c.B1@x");
            }
            other => panic!("expected Listed, got {other:?}"),
        }
        assert!(l.is_broken());
        assert!(!l.sibling(".reserve").exists(), "the reserve was given up");
        assert!(!l.sibling(".reserve-list").exists(), "and the list's");
        // Nothing more is claimed.
        assert!(matches!(
            l.claim("c", "B3", "c.B3@x", "a@x", now, now),
            Err(LedgerError::Stopped { .. })
        ));
        // A runner's next tick while the ledger is still full: the list stays, nothing is claimed.
        l.begin_run();
        assert!(l.is_broken());
        assert!(l.list_path().exists());
        drop(l);
        let l = SqliteLedger::open(&path).unwrap();
        assert_eq!(l.take_recovered().len(), 1);
        assert!(l.take_recovered().is_empty());
        assert!(!l.list_path().exists());
        assert_eq!(l.state("c", "B1").unwrap(), Some(SendState::Sent));
        assert_eq!(l.state("c", "B2").unwrap(), Some(SendState::Claimed));
        assert_eq!(
            l.claim("c", "B1", "c.B1@x", "a@x", now, now).unwrap(),
            Claim::Done(SendState::Sent)
        );
    }
}
