//! The heuristics on hand-made answers: seasons, the tag filters asked for, what is chosen.

use super::*;
use crate::bookings::{Locale, Status};
use crate::catalog::Money;

impl Tailoring {
    /// The distinct tag filters to ask for, in a stable order.
    pub fn filters(&self) -> Vec<Vec<u64>> {
        let mut out: Vec<Vec<u64>> = Vec::new();
        let base = self.family.clone().unwrap_or_default();
        for f in [Some(base), self.preferred.clone(), self.adults_only.clone()]
            .into_iter()
            .flatten()
        {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A recommendation with id `id`, in stock, at 10 EUR; also the fixture of `recommend::block`'s tests.
pub(crate) fn rec(id: u64) -> Recommendation {
    Recommendation {
        product_id: ProductId::Number(id),
        title: format!("P{id}"),
        image_url: String::new(),
        from_price: Money {
            amount: 10.0,
            currency: "EUR".into(),
        },
        url: None,
        in_stock: true,
        traits: Default::default(),
        city: None,
    }
}

fn recs(ids: &[u64]) -> Vec<Recommendation> {
    ids.iter().copied().map(rec).collect()
}

fn ids(c: &Choice) -> Vec<u64> {
    c.items
        .iter()
        .filter_map(|r| r.product_id.as_u64())
        .collect()
}

fn booking(children: u32, held: &[u64]) -> Booking {
    Booking {
        booking_id: "B".into(),
        customer_email: "a@example.com".parse().unwrap(),
        customer_first_name: "A".into(),
        locale: Locale::En,
        product_id: 1,
        product_title: "Main".into(),
        city: "Rome".into(),
        travel_date: d("2026-12-12"),
        booked_at: "2026-12-09T10:00:00Z".parse().unwrap(),
        adults: 2,
        children,
        status: Status::Confirmed,
        marketing_opt_in: true,
        latitude: None,
        timezone: None,
        other_product_ids: held.to_vec(),
        customer_id: None,
        customer_phone: None,
        contact_id: None,
        web_id: None,
        details: Default::default(),
    }
}

/// `choose` for booking `b` under plan `p`, over the answers given, at most `max` items.
fn choose_among(
    b: &Booking,
    p: &Tailoring,
    base: &[Recommendation],
    preferred: Option<&[Recommendation]>,
    adults_only: Option<&[Recommendation]>,
    max: usize,
) -> Choice {
    choose(
        b,
        &Trip::of(b, None),
        p,
        Answers {
            base,
            preferred,
            adults_only,
        },
        max,
    )
}

fn cfg() -> HeuristicsSettings {
    HeuristicsSettings {
        indoor_tag_ids: vec![442],
        outdoor_tag_ids: vec![443],
        family_tag_ids: vec![501],
        adults_only_tag_ids: vec![502],
    }
}

#[test]
fn seasons_are_meteorological_and_reversed_in_the_south() {
    assert_eq!(season(d("2026-12-01"), 41.9), Some(Season::Winter));
    assert_eq!(season(d("2027-02-28"), 41.9), Some(Season::Winter));
    assert_eq!(season(d("2027-03-01"), 41.9), Some(Season::Spring));
    assert_eq!(season(d("2027-07-15"), 48.8), Some(Season::Summer));
    assert_eq!(season(d("2027-10-15"), 48.8), Some(Season::Autumn));
    assert_eq!(season(d("2026-12-12"), -33.9), Some(Season::Summer));
    assert_eq!(season(d("2027-07-15"), -34.6), Some(Season::Winter));
    assert_eq!(season(d("2027-04-15"), -34.6), Some(Season::Autumn));
}

#[test]
fn the_tropics_have_no_winter_or_summer() {
    assert_eq!(season(d("2026-12-12"), 1.35), None);
    assert_eq!(season(d("2027-07-12"), -23.0), None);
    assert_eq!(season(d("2027-07-12"), 23.44), Some(Season::Summer));
}

#[test]
fn winter_prefers_indoor_and_summer_outdoor() {
    let p = plan(&booking(0, &[]), Some(41.9), &cfg());
    assert_eq!(p.preferred, Some(vec![442]));
    assert_eq!(p.rules, vec!["season:winter", "prefer:indoor"]);
    let p = plan(&booking(0, &[]), Some(-33.9), &cfg());
    assert_eq!(p.preferred, Some(vec![443]));
    assert_eq!(p.filters(), vec![vec![], vec![443]]);
}

#[test]
fn spring_tropics_and_unknown_cities_have_no_preference() {
    let mut b = booking(0, &[]);
    b.travel_date = d("2027-04-10");
    assert_eq!(plan(&b, Some(41.9), &cfg()).preferred, None);
    assert_eq!(plan(&b, Some(1.35), &cfg()).rules, vec!["season:tropics"]);
    assert_eq!(plan(&b, None, &cfg()).rules, vec!["season:unknown"]);
}

#[test]
fn season_preferred_items_come_first_then_the_rest_without_duplicates() {
    let b = booking(0, &[]);
    let p = plan(&b, Some(41.9), &cfg());
    let base = recs(&[10, 11, 12, 13]);
    let pref = recs(&[12, 14]);
    let c = choose_among(&b, &p, &base, Some(&pref), None, 4);
    assert_eq!(ids(&c), vec![12, 14, 10, 11]);
}

#[test]
fn never_the_main_product_nor_a_held_one() {
    let b = booking(0, &[11]);
    let p = plan(&b, None, &cfg());
    let base = recs(&[1, 10, 11, 12]);
    let c = choose_among(&b, &p, &base, None, None, 3);
    assert_eq!(ids(&c), vec![10, 12]);
    assert_eq!(c.dropped_held, 2);
}

#[test]
fn family_never_sees_adults_only_items() {
    let b = booking(2, &[]);
    let p = plan(&b, Some(41.9), &cfg());
    assert_eq!(p.filters(), vec![vec![501], vec![442], vec![502]]);
    let family = recs(&[20, 21, 22, 23]);
    let indoor = recs(&[30, 22, 23]);
    let adults = recs(&[23, 31]);
    let c = choose_among(&b, &p, &family, Some(&indoor), Some(&adults), 4);
    // Season-preferred family items first (22; 23 is adults-only), then the other family items;
    // 30 is indoor but not family-friendly, so never shown.
    assert_eq!(ids(&c), vec![22, 20, 21]);
    assert_eq!(c.dropped_adults_only, 1);
}

#[test]
fn at_most_max_items_are_chosen() {
    let b = booking(0, &[]);
    let p = plan(&b, None, &cfg());
    let base = recs(&[10, 11, 12, 13, 14]);
    let c = choose_among(&b, &p, &base, None, None, 2);
    assert_eq!(ids(&c), vec![10, 11]);
}
