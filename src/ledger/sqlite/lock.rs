//! The runner lock: an `flock` on the ledger file, held while a runner has the ledger open for
//! sending, and dropped by the kernel when the process dies, even by `kill -9`.
//!
//! The lock is on the file, not on a name: a symlink, another spelling of the path, a bind mount or a
//! hard link all lead to the same inode and so to the same lock. SQLite's own locks are POSIX
//! (`fcntl`) locks, which are separate from `flock` on Linux and which the kernel drops when the
//! process closes *any* descriptor of the file; so the descriptor holding our lock is opened before
//! the connection and closed after it (the field order of [`super::SqliteLedger`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::ledger::LedgerError;

/// Opens (creating it) the ledger file at `path` and takes the runner lock on it: the open file,
/// which holds the lock until it is closed, and the ledger's path with every symlink resolved.
/// Fails with [`LedgerError::Busy`] when another process holds it.
pub(super) fn lock(path: &Path) -> Result<(File, PathBuf), LedgerError> {
    let open_err = |reason: String| LedgerError::Open {
        path: path.to_path_buf(),
        reason,
    };
    // An empty file is an empty SQLite database: create it to have something to lock.
    let lock = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| open_err(e.to_string()))?;
    let real = std::fs::canonicalize(path).map_err(|e| open_err(e.to_string()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LedgerError::Busy {
                path: path.to_path_buf(),
                lock: real,
            })
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(open_err(format!("cannot lock {}: {e}", real.display())))
        }
    }
    Ok((lock, real))
}

#[cfg(test)]
mod tests {
    use crate::ledger::sqlite::SqliteLedger;
    use crate::ledger::{LedgerError, SendLedger};

    #[test]
    fn one_lock_per_ledger_file_whatever_path_leads_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("real/ledger.sqlite");
        let first = SqliteLedger::open(&path).unwrap();
        let alias = dir.path().join("alias.sqlite");
        std::os::unix::fs::symlink(&path, &alias).unwrap();
        let folder = dir.path().join("folder");
        std::os::unix::fs::symlink(dir.path().join("real"), &folder).unwrap();
        let linked = dir.path().join("hard.sqlite");
        std::fs::hard_link(&path, &linked).unwrap();
        for other in [alias, folder.join("ledger.sqlite"), linked] {
            match SqliteLedger::open(&other) {
                Err(LedgerError::Busy { lock, .. }) => {
                    assert_eq!(lock, std::fs::canonicalize(&other).unwrap())
                }
                r => panic!(
                    "{}: expected Busy, got {:?}",
                    other.display(),
                    r.map(|_| ())
                ),
            }
        }
        drop(first);
    }

    #[test]
    fn a_second_runner_is_refused_while_the_first_holds_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let first = SqliteLedger::open(&path).unwrap();
        match SqliteLedger::open(&path) {
            Err(LedgerError::Busy { .. }) => {}
            other => panic!("expected Busy, got {:?}", other.map(|_| ())),
        }
        // Readers are not refused.
        assert!(SqliteLedger::open_read(&path)
            .unwrap()
            .entries(None)
            .unwrap()
            .is_empty());
        drop(first);
        assert!(SqliteLedger::open(&path).is_ok());
    }
}
