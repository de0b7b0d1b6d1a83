//! The world rows are drawn from: the catalog indexed by city (with each city's date at `now`), and
//! how one booking is drawn from it: who books, what, when, for how many, and the products held.

use std::fmt::Write as _;
use std::io;

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::customer::Customer;
use super::random::{customer_key, earlier, mix, sooner, weighted, ROW_SALT};
use super::row::{write_instant, RowBuf};
use super::{SynthOptions, Tally};
use crate::catalog::Catalog;

/// The confirmation campaign's lookback, in seconds.
const LOOKBACK_SECS: u64 = 48 * 3600;
/// The reminder campaign's days before travel.
const REMINDER_DAYS: u64 = 3;
const DAY_SECS: u64 = 24 * 3600;

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
pub(super) struct World<'a> {
    items: Vec<Item<'a>>,
    places: Vec<Place<'a>>,
    seed: u64,
    now: DateTime<Utc>,
}

/// An error of the options or the catalog (not of the output).
fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_string())
}

impl<'a> World<'a> {
    /// The catalog indexed for drawing rows; fails on a `now` outside the years 1000–9000 or a
    /// catalog without products.
    pub(super) fn new(catalog: &'a Catalog, opts: &SynthOptions) -> io::Result<World<'a>> {
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
    pub(super) fn fill(&self, i: u64, row: &mut RowBuf<'a>, tally: &mut Tally) -> io::Result<()> {
        let mut rng = fastrand::Rng::with_seed(mix(self.seed, ROW_SALT, i));
        let out_of_range = || invalid("a date falls outside the calendar");

        let (key, customer) = self.customer(&mut rng, i, tally);

        let item = &self.items[rng.usize(0..self.items.len())];
        let place = &self.places[item.city];
        // (seconds before now it was booked, days after the venue's today it is visited)
        let (booked_ago, travel_in) = timing(&mut rng);
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

        let (cancelled, adults, children) = party(&mut rng);
        let (held_ids, held) = self.held(&mut rng, item, place);

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

    /// Who books row `i`: a customer of an earlier row for a repeat booking, else a new one; with
    /// the key their customer is drawn from.
    fn customer(&self, rng: &mut fastrand::Rng, i: u64, tally: &mut Tally) -> (u64, Customer) {
        let key = match earlier(rng, i) {
            Some(j) => {
                tally.repeat_customers += 1;
                customer_key(self.seed, j)
            }
            None => i,
        };
        (key, Customer::new(self.seed, key))
    }

    /// Held products: others of the city, drawn from its list with the main product left out; with
    /// how many there are.
    fn held(
        &self,
        rng: &mut fastrand::Rng,
        item: &Item<'_>,
        place: &Place<'_>,
    ) -> ([u64; 2], usize) {
        let others = place.products.len() - 1;
        let held = weighted(rng, &[(0usize, 65), (1, 25), (2, 10)]).min(others);
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
        (held_ids, held)
    }
}

/// When a booking was made and is visited: (seconds before `now` it was booked, days after the
/// venue's today it is visited), in the mix the module's table gives.
fn timing(rng: &mut fastrand::Rng) -> (u64, u64) {
    match rng.u32(0..100) {
        0..=59 => {
            let ago = rng.u64(0..LOOKBACK_SECS);
            let days = if rng.u32(0..100) < 5 {
                rng.u64(1..=REMINDER_DAYS)
            } else {
                sooner(rng, REMINDER_DAYS + 1..=180)
            };
            (ago, days)
        }
        60..=94 => (sooner(rng, LOOKBACK_SECS..=117 * DAY_SECS), REMINDER_DAYS),
        _ => (
            rng.u64(3 * DAY_SECS..=10 * DAY_SECS),
            sooner(rng, REMINDER_DAYS + 1..=180),
        ),
    }
}

/// Whether the booking is cancelled, and its adults and children.
fn party(rng: &mut fastrand::Rng) -> (bool, u32, u32) {
    let cancelled = rng.u32(0..100) < 4;
    let adults = weighted(rng, &[(1u32, 20), (2, 60), (3, 12), (4, 8)]);
    let children = if rng.u32(0..100) < 28 {
        weighted(rng, &[(1u32, 45), (2, 40), (3, 15)])
    } else {
        0
    };
    (cancelled, adults, children)
}
