//! Synthetic bookings for load tests and demos: one day's export of a large distributor at an instant
//! `now`, shaped for the shipped campaigns (confirmation `lookback_hours = 48`, reminder
//! `days_before = 3`), in the CSV or JSON Lines form [`crate::bookings`] reads.
//!
//! The output is a stream: row `i` comes from a random generator seeded by `(seed, i)` alone (a
//! repeat booking finds its customer again by re-seeding the earlier row it points back to) and
//! nothing is kept from one row to the next, so ten million rows take as little memory as ten, the
//! same seed gives the same bytes, and the first `n` rows of a longer run are exactly a shorter run.
//!
//! The mix, each row drawn on its own (dates are the venue's, as [`crate::due`] reads them):
//!
//! | Share | Booked | Travelling | Due at `now` for |
//! |------:|--------|------------|------------------|
//! | 57% | in the 48 hours before `now` | 4–180 days ahead, sooner more likely | confirmation |
//! | 3% | in the 48 hours before `now` | 1–3 days ahead (last minute) | confirmation and reminder |
//! | 35% | 2–117 days before `now`, more recently more likely | 3 days ahead | reminder |
//! | 5% | 3–10 days before `now` | 4–180 days ahead | nothing |
//!
//! Across all of them: 4% cancelled (due for nothing); locales en 40%, de 14%, fr 13%, es 12%,
//! it 11%, nl 10%; 28% families (1–3 children); adults 1–4, two on most bookings; held products
//! (`other_product_ids`, other products of the same city) none on 65%, one on 25%, two on 10%; the
//! main product any catalog product, equally likely, so every city and both hemispheres occur and
//! travel dates up to half a year ahead cross seasons.
//!
//! Customers: 15% of rows are a repeat booking by a customer of one of the previous 100,000 rows
//! (same `customer_id`, name, email, locale, time zone and opt-in). A customer has a first name of
//! their language (with its diacritics), an ASCII email at `example.com`, `.org` or `.net`, a
//! marketing opt-in (78%) and, for 30%, a `timezone` of their language's countries. `booked_at` is
//! written in the customer's zone when they have one, else in the venue's (75%) or in UTC.
//! `latitude` is left empty: the catalog knows it.
//!
//! Here: the options, the stats and the writer's loop; `world` draws each row from the indexed
//! catalog, `customer` draws who books it, `random` holds the seeded draws they share, `row` writes
//! a row as CSV or JSON, and `names` the names and zones of each language.

use std::io::{self, BufWriter, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::bookings::Locale;
use crate::catalog::Catalog;

mod customer;
mod names;
mod random;
mod row;
mod world;

use row::RowBuf;
use world::World;

/// The instant the README's commands run at; the default of `--now`.
pub const DEFAULT_NOW: &str = "2026-12-10T09:00:00Z";

/// The file format written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthFormat {
    /// CSV with a header row, the columns of `fixtures/bookings.csv` and `customer_id`.
    Csv,
    /// JSON Lines, one object per booking, typed as `fixtures/csv_to_jsonl.py` writes them.
    Jsonl,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    /// How many bookings (rows).
    pub bookings: u64,
    /// Picks the data: the same seed, the same bytes.
    pub seed: u64,
    /// CSV or JSON Lines.
    pub format: SynthFormat,
    /// The instant the export is taken at: what is "recent" and "in three days" is read from it.
    pub now: DateTime<Utc>,
}

impl Default for SynthOptions {
    /// 1,000 CSV bookings, seed 0, at [`DEFAULT_NOW`].
    fn default() -> SynthOptions {
        SynthOptions {
            bookings: 1_000,
            seed: 0,
            format: SynthFormat::Csv,
            now: DateTime::parse_from_rfc3339(DEFAULT_NOW)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }
}

/// What was written, counted as it was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SynthStats {
    /// Rows written.
    pub bookings: u64,
    /// Booked in the 48 hours before `now` (confirmation window), cancelled or not.
    pub booked_recently: u64,
    /// Travelling 1–3 days after the venue's today (reminder window), cancelled or not.
    pub travelling_soon: u64,
    /// In both windows.
    pub both: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// With `marketing_opt_in` true.
    pub opted_in: u64,
    /// With children.
    pub families: u64,
    /// With at least one held product.
    pub with_held: u64,
    /// With a customer `timezone`.
    pub with_timezone: u64,
    /// Booked by a customer who booked an earlier row too (same `customer_id`).
    pub repeat_customers: u64,
    /// Rows per locale.
    pub locales: std::collections::BTreeMap<Locale, u64>,
}

/// Writes `opts.bookings` synthetic bookings of `catalog`'s products to `out`, buffered, and flushes
/// it. Fails on a write error, a catalog without products, or a `now` outside the years 1000–9000.
pub fn write_bookings(
    catalog: &Catalog,
    opts: &SynthOptions,
    out: impl Write,
) -> io::Result<SynthStats> {
    let world = World::new(catalog, opts)?;
    let mut row = RowBuf::default();
    let mut tally = Tally::default();
    match opts.format {
        SynthFormat::Csv => {
            // The csv writer buffers on its own.
            let mut w = csv::WriterBuilder::new()
                .buffer_capacity(1 << 16)
                .from_writer(out);
            w.write_record(header())?;
            for i in 0..opts.bookings {
                world.fill(i, &mut row, &mut tally)?;
                row.write_csv(&mut w)?;
            }
            w.flush()?;
        }
        SynthFormat::Jsonl => {
            let mut w = BufWriter::with_capacity(1 << 16, out);
            for i in 0..opts.bookings {
                world.fill(i, &mut row, &mut tally)?;
                serde_json::to_writer(&mut w, &row.json())?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
    }
    Ok(tally.into_stats(opts.bookings))
}

/// The columns written: the required ones, then `latitude`, `timezone`, `other_product_ids` and
/// `customer_id` (the columns of `fixtures/bookings.csv`, and `customer_id`).
fn header() -> impl Iterator<Item = &'static str> {
    crate::bookings::REQUIRED
        .into_iter()
        .chain(crate::bookings::OPTIONAL.into_iter().take(4))
}

/// The counts kept while writing.
#[derive(Default)]
struct Tally {
    booked_recently: u64,
    travelling_soon: u64,
    both: u64,
    cancelled: u64,
    opted_in: u64,
    families: u64,
    with_held: u64,
    with_timezone: u64,
    repeat_customers: u64,
    /// By `Locale as usize`.
    locales: [u64; 6],
}

impl Tally {
    fn into_stats(self, bookings: u64) -> SynthStats {
        SynthStats {
            bookings,
            booked_recently: self.booked_recently,
            travelling_soon: self.travelling_soon,
            both: self.both,
            cancelled: self.cancelled,
            opted_in: self.opted_in,
            families: self.families,
            with_held: self.with_held,
            with_timezone: self.with_timezone,
            repeat_customers: self.repeat_customers,
            locales: Locale::ALL
                .into_iter()
                .map(|l| (l, self.locales[l as usize]))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_now_is_the_readme_instant() {
        assert_eq!(
            SynthOptions::default().now.to_rfc3339(),
            "2026-12-10T09:00:00+00:00"
        );
    }
}
