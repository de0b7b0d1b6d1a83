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

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Offset, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::bookings::Locale;
use crate::catalog::Catalog;

mod names;
use names::Names;

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

/// The confirmation campaign's lookback, in seconds.
const LOOKBACK_SECS: u64 = 48 * 3600;
/// The reminder campaign's days before travel.
const REMINDER_DAYS: u64 = 3;
const DAY_SECS: u64 = 24 * 3600;
/// How far back a repeat booking's customer may have booked first, in rows.
const REPEAT_REACH: u64 = 100_000;

/// splitmix64's finaliser: a bijection of `u64` that scatters nearby inputs.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of item `i` of the stream `salt` under `seed`; distinct `i`, distinct seeds.
fn mix(seed: u64, salt: u64, i: u64) -> u64 {
    splitmix64(splitmix64(seed ^ salt).wrapping_add(i))
}

const ROW_SALT: u64 = 0;
const CUSTOMER_SALT: u64 = 0x6375_7374_6f6d_6572; // "customer"

/// For a repeat booking (15% of rows after the first), the earlier row whose customer books row `i`.
fn earlier(rng: &mut fastrand::Rng, i: u64) -> Option<u64> {
    (i > 0 && rng.u32(0..100) < 15).then(|| i - rng.u64(1..=i.min(REPEAT_REACH)))
}

/// The customer of row `j`: the row they first booked, found by going back along repeat bookings
/// (a few rows at most: each step back is a 15% chance).
fn customer_key(seed: u64, mut j: u64) -> u64 {
    loop {
        let mut rng = fastrand::Rng::with_seed(mix(seed, ROW_SALT, j));
        match earlier(&mut rng, j) {
            Some(k) => j = k,
            None => return j,
        }
    }
}

/// One of `items`, with the odds of its weight.
fn weighted<T: Copy>(rng: &mut fastrand::Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.u32(0..total.max(1));
    for &(item, w) in items {
        if r < w {
            return item;
        }
        r -= w;
    }
    items[0].0
}

/// The smaller of two uniform draws from `range`: nearer values more likely, as lead times are.
fn sooner(rng: &mut fastrand::Rng, range: std::ops::RangeInclusive<u64>) -> u64 {
    rng.u64(range.clone()).min(rng.u64(range))
}

/// A product as rows need it.
struct Item<'a> {
    id: u64,
    title: &'a str,
    city: usize,
    /// Its place in its city's `products`.
    place: usize,
}

/// A city as rows need it.
struct Place<'a> {
    name: &'a str,
    timezone: Tz,
    /// The city's date at `now`.
    today: NaiveDate,
    /// Indexes into `World::items`.
    products: Vec<usize>,
}

/// What every row shares: the catalog, indexed, and the options.
struct World<'a> {
    items: Vec<Item<'a>>,
    places: Vec<Place<'a>>,
    seed: u64,
    now: DateTime<Utc>,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_string())
}

impl<'a> World<'a> {
    fn new(catalog: &'a Catalog, opts: &SynthOptions) -> io::Result<World<'a>> {
        if !(1000..=9000).contains(&opts.now.year()) {
            return Err(invalid("now must be in the years 1000 to 9000"));
        }
        let mut places: Vec<Place<'a>> = catalog
            .cities()
            .iter()
            .map(|c| Place {
                name: &c.name,
                timezone: c.timezone,
                today: opts.now.with_timezone(&c.timezone).date_naive(),
                products: Vec::new(),
            })
            .collect();
        let mut items = Vec::with_capacity(catalog.products().len());
        for p in catalog.products() {
            let Some(city) = catalog.cities().iter().position(|c| c.id == p.city_id) else {
                continue;
            };
            places[city].products.push(items.len());
            items.push(Item {
                id: p.product_id,
                title: &p.title,
                city,
                place: places[city].products.len() - 1,
            });
        }
        if items.is_empty() {
            return Err(invalid("the catalog has no products to book"));
        }
        Ok(World {
            items,
            places,
            seed: opts.seed,
            now: opts.now,
        })
    }

    /// Fills `row` with booking `i`.
    fn fill(&self, i: u64, row: &mut RowBuf<'a>, tally: &mut Tally) -> io::Result<()> {
        let mut rng = fastrand::Rng::with_seed(mix(self.seed, ROW_SALT, i));
        let out_of_range = || invalid("a date falls outside the calendar");

        let key = match earlier(&mut rng, i) {
            Some(j) => {
                tally.repeat_customers += 1;
                customer_key(self.seed, j)
            }
            None => i,
        };
        let customer = Customer::new(self.seed, key);

        let item = &self.items[rng.usize(0..self.items.len())];
        let place = &self.places[item.city];
        // (seconds before now it was booked, days after the venue's today it is visited)
        let (booked_ago, travel_in) = match rng.u32(0..100) {
            0..=59 => {
                let ago = rng.u64(0..LOOKBACK_SECS);
                let days = if rng.u32(0..100) < 5 {
                    rng.u64(1..=REMINDER_DAYS)
                } else {
                    sooner(&mut rng, REMINDER_DAYS + 1..=180)
                };
                (ago, days)
            }
            60..=94 => (
                sooner(&mut rng, LOOKBACK_SECS..=117 * DAY_SECS),
                REMINDER_DAYS,
            ),
            _ => (
                rng.u64(3 * DAY_SECS..=10 * DAY_SECS),
                sooner(&mut rng, REMINDER_DAYS + 1..=180),
            ),
        };
        let recent = booked_ago < LOOKBACK_SECS;
        let soon = (1..=REMINDER_DAYS).contains(&travel_in);
        tally.booked_recently += u64::from(recent);
        tally.travelling_soon += u64::from(soon);
        tally.both += u64::from(recent && soon);

        let travel = place
            .today
            .checked_add_days(Days::new(travel_in))
            .ok_or_else(out_of_range)?;
        let ago = i64::try_from(booked_ago).map_err(|_| out_of_range())?;
        let booked = self
            .now
            .checked_sub_signed(Duration::seconds(ago))
            .ok_or_else(out_of_range)?;
        let booked_zone = match customer.timezone {
            Some(tz) => Some(tz),
            None if rng.u32(0..100) < 75 => Some(place.timezone),
            None => None,
        };

        let cancelled = rng.u32(0..100) < 4;
        let adults = weighted(&mut rng, &[(1u32, 20), (2, 60), (3, 12), (4, 8)]);
        let children = if rng.u32(0..100) < 28 {
            weighted(&mut rng, &[(1u32, 45), (2, 40), (3, 15)])
        } else {
            0
        };

        // Held products: others of the city, drawn from its list with the main product left out.
        let others = place.products.len() - 1;
        let held = weighted(&mut rng, &[(0usize, 65), (1, 25), (2, 10)]).min(others);
        let skip = |k: usize, taken: usize| if k >= taken { k + 1 } else { k };
        let mut held_ids = [0u64; 2];
        if held >= 1 {
            let a = rng.usize(0..others);
            held_ids[0] = self.items[place.products[skip(a, item.place)]].id;
            if held == 2 {
                let b = skip(rng.usize(0..others - 1), a);
                held_ids[1] = self.items[place.products[skip(b, item.place)]].id;
            }
        }

        tally.cancelled += u64::from(cancelled);
        tally.opted_in += u64::from(customer.opt_in);
        tally.families += u64::from(children > 0);
        tally.with_held += u64::from(held > 0);
        tally.with_timezone += u64::from(customer.timezone.is_some());
        tally.locales[customer.locale as usize] += 1;

        row.clear();
        let fmt_err = io::Error::other;
        write!(row.booking_id, "SY{}-{i:09}", self.seed).map_err(fmt_err)?;
        write!(
            row.email,
            "{}.{}.{key}@{}",
            customer.first.1, customer.last, customer.domain
        )
        .map_err(fmt_err)?;
        write!(row.travel_date, "{travel}").map_err(fmt_err)?;
        write_instant(&mut row.booked_at, booked, booked_zone).map_err(fmt_err)?;
        write!(row.customer_id, "cus_{:016x}", customer.id).map_err(fmt_err)?;
        row.first_name = customer.first.0;
        row.locale = customer.locale.as_str();
        row.product_id = item.id;
        row.product_title = item.title;
        row.city = place.name;
        row.adults = adults;
        row.children = children;
        row.cancelled = cancelled;
        row.opt_in = customer.opt_in;
        row.timezone = customer.timezone.map(|tz| tz.name());
        row.held = held_ids;
        row.held_len = held;
        Ok(())
    }
}

/// `t` as RFC 3339 in `zone` (`+01:00`), or in UTC (`Z`) for `None`.
fn write_instant(s: &mut String, t: DateTime<Utc>, zone: Option<Tz>) -> std::fmt::Result {
    let (local, offset) = match zone {
        Some(tz) => {
            let at = t.with_timezone(&tz);
            (at.naive_local(), Some(at.offset().fix().local_minus_utc()))
        }
        None => (t.naive_utc(), None),
    };
    write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )?;
    match offset {
        None => s.write_char('Z'),
        Some(secs) => {
            let sign = if secs < 0 { '-' } else { '+' };
            let m = secs.unsigned_abs() / 60;
            write!(s, "{sign}{:02}:{:02}", m / 60, m % 60)
        }
    }
}

/// A customer, the same on every row that names them.
struct Customer {
    /// Unique per key under a seed.
    id: u64,
    locale: Locale,
    /// Display form and ASCII form.
    first: (&'static str, &'static str),
    /// ASCII form.
    last: &'static str,
    domain: &'static str,
    opt_in: bool,
    timezone: Option<Tz>,
}

impl Customer {
    fn new(seed: u64, key: u64) -> Customer {
        let id = mix(seed, CUSTOMER_SALT, key);
        let mut rng = fastrand::Rng::with_seed(id);
        let locale = weighted(
            &mut rng,
            &[
                (Locale::En, 40),
                (Locale::De, 14),
                (Locale::Fr, 13),
                (Locale::Es, 12),
                (Locale::It, 11),
                (Locale::Nl, 10),
            ],
        );
        let names = Names::of(locale);
        let first = names.first[rng.usize(0..names.first.len())];
        let last = names.last[rng.usize(0..names.last.len())];
        Customer {
            id,
            locale,
            first,
            last,
            domain: weighted(
                &mut rng,
                &[
                    ("example.com", 60),
                    ("example.org", 25),
                    ("example.net", 15),
                ],
            ),
            opt_in: rng.u32(0..100) < 78,
            timezone: (rng.u32(0..100) < 30).then(|| weighted(&mut rng, names.zones)),
        }
    }
}

/// One row's fields, reused from row to row so that the text buffers are allocated once.
#[derive(Default)]
struct RowBuf<'a> {
    booking_id: String,
    email: String,
    first_name: &'static str,
    locale: &'static str,
    product_id: u64,
    product_title: &'a str,
    city: &'a str,
    travel_date: String,
    booked_at: String,
    adults: u32,
    children: u32,
    cancelled: bool,
    opt_in: bool,
    timezone: Option<&'static str>,
    held: [u64; 2],
    held_len: usize,
    customer_id: String,
    /// Numbers as CSV text.
    scratch: String,
}

impl RowBuf<'_> {
    fn clear(&mut self) {
        self.booking_id.clear();
        self.email.clear();
        self.travel_date.clear();
        self.booked_at.clear();
        self.customer_id.clear();
    }

    fn status(&self) -> &'static str {
        if self.cancelled {
            "cancelled"
        } else {
            "confirmed"
        }
    }

    fn write_csv<W: Write>(&mut self, w: &mut csv::Writer<W>) -> io::Result<()> {
        let status = self.status();
        let s = &mut self.scratch;
        s.clear();
        // product_id, adults, children, other_product_ids, one after the other in `scratch`.
        let fmt = io::Error::other;
        write!(s, "{}", self.product_id).map_err(fmt)?;
        let a = s.len();
        write!(s, "{}", self.adults).map_err(fmt)?;
        let b = s.len();
        write!(s, "{}", self.children).map_err(fmt)?;
        let c = s.len();
        for (k, id) in self.held[..self.held_len].iter().enumerate() {
            if k > 0 {
                s.push(';');
            }
            write!(s, "{id}").map_err(fmt)?;
        }
        let record: [&str; 17] = [
            &self.booking_id,
            &self.email,
            self.first_name,
            self.locale,
            &s[..a],
            self.product_title,
            self.city,
            &self.travel_date,
            &self.booked_at,
            &s[a..b],
            &s[b..c],
            status,
            if self.opt_in { "true" } else { "false" },
            "",
            self.timezone.unwrap_or(""),
            &s[c..],
            &self.customer_id,
        ];
        w.write_record(record)?;
        Ok(())
    }

    fn json(&self) -> JsonRow<'_> {
        JsonRow {
            booking_id: &self.booking_id,
            customer_email: &self.email,
            customer_first_name: self.first_name,
            locale: self.locale,
            product_id: self.product_id,
            product_title: self.product_title,
            city: self.city,
            travel_date: &self.travel_date,
            booked_at: &self.booked_at,
            adults: self.adults,
            children: self.children,
            status: self.status(),
            marketing_opt_in: self.opt_in,
            timezone: self.timezone,
            other_product_ids: &self.held[..self.held_len],
            customer_id: &self.customer_id,
        }
    }
}

/// A JSON Lines row, in the CSV's column order; `latitude` always left out (empty).
#[derive(Serialize)]
struct JsonRow<'a> {
    booking_id: &'a str,
    customer_email: &'a str,
    customer_first_name: &'a str,
    locale: &'a str,
    product_id: u64,
    product_title: &'a str,
    city: &'a str,
    travel_date: &'a str,
    booked_at: &'a str,
    adults: u32,
    children: u32,
    status: &'a str,
    marketing_opt_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    other_product_ids: &'a [u64],
    customer_id: &'a str,
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

    #[test]
    fn instants_are_written_with_their_zone_offset_or_z() {
        let t: DateTime<Utc> = "2026-12-10T09:00:05Z".parse().unwrap();
        let mut s = String::new();
        write_instant(&mut s, t, None).unwrap();
        s.push(' ');
        write_instant(&mut s, t, Some(chrono_tz::America::New_York)).unwrap();
        s.push(' ');
        write_instant(&mut s, t, Some(chrono_tz::Asia::Kolkata)).unwrap();
        assert_eq!(
            s,
            "2026-12-10T09:00:05Z 2026-12-10T04:00:05-05:00 2026-12-10T14:30:05+05:30"
        );
    }

    #[test]
    fn the_row_seeds_of_neighbouring_rows_and_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..3)
            .flat_map(|s| (0..1000).map(move |i| mix(s, ROW_SALT, i)))
            .collect();
        assert_eq!(seeds.len(), 3000);
    }
}
