//! The bookings file held in memory, for a front end that answers many questions about it (a
//! console's pages): [`Loaded`] is one reading of it, indexed by booking id and by email;
//! [`BookingsCache`] reads the file again only when it changed (its modification time, length or
//! inode), however often it is asked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::{Booking, BookingReader, BookingsError, Row, RowError};

/// One reading of a bookings file: its bookings in file order, the rows it could not use, and
/// indexes by booking id and by email.
#[derive(Debug, Default)]
pub struct Loaded {
    bookings: Vec<Arc<Booking>>,
    unreadable: Vec<RowError>,
    /// Booking id → the first row with it (a booking listed twice is sent once).
    by_id: HashMap<String, usize>,
    /// Lowercase email → its bookings, in file order.
    by_email: HashMap<String, Vec<usize>>,
}

impl Loaded {
    /// Reads the whole file at `path`; a row that cannot be used is kept in
    /// [`unreadable`](Loaded::unreadable) and the others are read on.
    pub fn load(path: &Path) -> Result<Loaded, BookingsError> {
        Ok(Loaded::from_rows(BookingReader::open(path)?))
    }

    /// The bookings of `rows`, indexed.
    pub fn from_rows(rows: impl IntoIterator<Item = Row>) -> Loaded {
        let mut loaded = Loaded::default();
        for row in rows {
            match row {
                Ok(b) => loaded.push(b),
                Err(e) => loaded.unreadable.push(e),
            }
        }
        loaded
    }

    fn push(&mut self, booking: Booking) {
        let i = self.bookings.len();
        self.by_id.entry(booking.booking_id.clone()).or_insert(i);
        let email = booking.customer_email.to_string().to_lowercase();
        self.by_email.entry(email).or_default().push(i);
        self.bookings.push(Arc::new(booking));
    }

    /// The bookings, in file order.
    pub fn bookings(&self) -> &[Arc<Booking>] {
        &self.bookings
    }

    /// The rows that could not be used (file, line, reason), in file order.
    pub fn unreadable(&self) -> &[RowError] {
        &self.unreadable
    }

    /// Every row as the reader gave it (bookings, then the rows that could not be used), for
    /// functions that take a stream of rows such as [`crate::plan::plan_of`].
    pub fn rows(&self) -> impl Iterator<Item = Result<&Booking, RowError>> + '_ {
        let bookings = self.bookings.iter().map(|b| Ok(&**b));
        bookings.chain(self.unreadable.iter().cloned().map(Err))
    }

    /// The booking with this id (the first row that has it).
    pub fn by_id(&self, booking_id: &str) -> Option<&Arc<Booking>> {
        self.by_id
            .get(booking_id)
            .and_then(|i| self.bookings.get(*i))
    }

    /// The bookings of this email address, whatever its case, in file order.
    pub fn by_email(&self, email: &str) -> Vec<&Arc<Booking>> {
        let key = email.trim().to_lowercase();
        self.by_email
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|i| self.bookings.get(*i))
            .collect()
    }

    /// The bookings `query` names: by booking id, else by email.
    pub fn find(&self, query: &str) -> Vec<&Arc<Booking>> {
        let query = query.trim();
        match self.by_id(query) {
            Some(b) => vec![b],
            None => self.by_email(query),
        }
    }
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Result<Stamp, BookingsError> {
        let meta = std::fs::metadata(path).map_err(|source| BookingsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: inode(&meta),
        })
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

/// A bookings file read once per change: [`get`](BookingsCache::get) reads it when its
/// modification time, length or inode differ from the last reading's, else hands out that reading.
#[derive(Debug)]
pub struct BookingsCache {
    path: PathBuf,
    last: Mutex<Option<(Stamp, Arc<Loaded>)>>,
    reads: AtomicU64,
}

impl BookingsCache {
    /// A cache of the file at `path`; nothing is read until asked.
    pub fn new(path: impl Into<PathBuf>) -> BookingsCache {
        BookingsCache {
            path: path.into(),
            last: Mutex::new(None),
            reads: AtomicU64::new(0),
        }
    }

    /// The file it reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bookings as the file holds them now: the last reading when the file has not changed
    /// since, else a new one. Callers asking at once while it reads wait for that reading.
    pub fn get(&self) -> Result<Arc<Loaded>, BookingsError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = Stamp::of(&self.path)?;
        if let Some((_, loaded)) = last.as_ref().filter(|(s, _)| *s == stamp) {
            return Ok(Arc::clone(loaded));
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let loaded = Arc::new(Loaded::load(&self.path)?);
        *last = Some((stamp, Arc::clone(&loaded)));
        Ok(loaded)
    }

    /// How many times the file was read.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,\
        product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in\n";

    fn row(id: &str, email: &str) -> String {
        format!(
            "{id},{email},Ann,en,1,Tour,Rome,2026-12-12,2026-11-01T10:00:00Z,2,0,confirmed,true\n"
        )
    }

    fn file(dir: &Path, rows: &[String]) -> PathBuf {
        let path = dir.join("bookings.csv");
        std::fs::write(&path, format!("{HEADER}{}", rows.concat())).unwrap();
        path
    }

    #[test]
    fn bookings_are_found_by_id_and_by_email_whatever_its_case_and_bad_rows_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            row("A-1", "Ann@Example.com"),
            "A-2,not-an-address,Ann,en,1,Tour,Rome,2026-12-12,2026-11-01T10:00:00Z,2,0,confirmed,true\n".into(),
            row("A-3", "ann@example.com"),
            row("A-1", "other@example.com"),
        ];
        let loaded = Loaded::load(&file(dir.path(), &rows)).unwrap();
        assert_eq!(loaded.bookings().len(), 3);
        let first = loaded.by_id("A-1").unwrap();
        assert_eq!(first.customer_email.to_string(), "Ann@Example.com");
        let ids = |v: Vec<&Arc<Booking>>| -> Vec<String> {
            v.iter().map(|b| b.booking_id.clone()).collect()
        };
        assert_eq!(ids(loaded.by_email("ANN@example.COM ")), ["A-1", "A-3"]);
        assert_eq!(ids(loaded.find("A-3")), ["A-3"]);
        assert_eq!(ids(loaded.find("ann@example.com")), ["A-1", "A-3"]);
        assert!(loaded.find("nobody@example.com").is_empty());
        let bad = &loaded.unreadable()[0];
        assert_eq!(bad.line, 3, "{bad}");
        assert!(bad.reason.contains("customer_email"), "{bad}");
        assert_eq!(loaded.rows().filter(Result::is_err).count(), 1);
    }

    #[test]
    fn the_cache_reads_the_file_once_per_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), &[row("A-1", "a@example.com")]);
        let cache = BookingsCache::new(&path);
        assert_eq!(cache.reads(), 0);
        let one = cache.get().unwrap();
        let again = cache.get().unwrap();
        assert!(Arc::ptr_eq(&one, &again));
        assert_eq!(cache.reads(), 1);
        // A longer file is another version, whatever its modification time says.
        file(
            dir.path(),
            &[row("A-1", "a@example.com"), row("A-2", "b@example.com")],
        );
        let two = cache.get().unwrap();
        assert_eq!(two.bookings().len(), 2);
        assert_eq!(cache.reads(), 2);
        cache.get().unwrap();
        assert_eq!(cache.reads(), 2);
        // Replaced by another file of the same length: another inode.
        let other = dir.path().join("new.csv");
        std::fs::write(
            &other,
            format!(
                "{HEADER}{}{}",
                row("B-1", "a@example.com"),
                row("B-2", "b@example.com")
            ),
        )
        .unwrap();
        std::fs::rename(&other, &path).unwrap();
        let three = cache.get().unwrap();
        assert!(three.by_id("B-1").is_some());
        assert_eq!(cache.reads(), 3);
    }

    #[test]
    fn a_file_that_is_gone_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BookingsCache::new(dir.path().join("gone.csv"));
        let e = cache.get().unwrap_err().to_string();
        assert!(e.contains("gone.csv"), "{e}");
        assert_eq!(cache.reads(), 0);
    }
}
