//! Who books a row: a customer drawn from their own seed, so that every row naming them (a repeat
//! booking) finds the same name, email, locale, time zone and opt-in.

use chrono_tz::Tz;

use super::names::Names;
use super::random::{mix, weighted, CUSTOMER_SALT};
use crate::bookings::Locale;

/// A customer, the same on every row that names them.
pub(super) struct Customer {
    /// Unique per key under a seed.
    pub(super) id: u64,
    pub(super) locale: Locale,
    /// Display form and ASCII form.
    pub(super) first: (&'static str, &'static str),
    /// ASCII form.
    pub(super) last: &'static str,
    pub(super) domain: &'static str,
    pub(super) opt_in: bool,
    pub(super) timezone: Option<Tz>,
}

impl Customer {
    pub(super) fn new(seed: u64, key: u64) -> Customer {
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
