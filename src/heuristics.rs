//! Our own tailoring of the engine's answers: seasons, families, and what the customer already holds.
//! Everything here is pure: the engine's answers come in as lists, the chosen items go out.
//!
//! The cross-sell answer carries no tags, so a preference is expressed by asking the engine with
//! `product_tag_ids` and combining the answers: the season-tagged answer first, then the unfiltered one;
//! for a family, the family-tagged answer, season-tagged items first, minus whatever the adults-only
//! answer holds.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};

use crate::bookings::Booking;
use crate::config::HeuristicsSettings;
use crate::fit::{Fit, Trip};
use crate::recommend::{ProductId, Recommendation, Traits};

/// Latitude of the tropics: within it there is no winter or summer.
pub const TROPIC_LATITUDE: f64 = 23.44;

/// Meteorological seasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Season {
    /// Dec–Feb in the north, Jun–Aug in the south.
    Winter,
    /// Mar–May in the north.
    Spring,
    /// Jun–Aug in the north, Dec–Feb in the south.
    Summer,
    /// Sep–Nov in the north.
    Autumn,
}

impl Season {
    /// Lowercase name, as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Season::Winter => "winter",
            Season::Spring => "spring",
            Season::Summer => "summer",
            Season::Autumn => "autumn",
        }
    }
}

/// The season at `date` and `latitude`; `None` in the tropics.
pub fn season(date: NaiveDate, latitude: f64) -> Option<Season> {
    if latitude.abs() < TROPIC_LATITUDE {
        return None;
    }
    let north = match date.month() {
        12 | 1 | 2 => Season::Winter,
        3..=5 => Season::Spring,
        6..=8 => Season::Summer,
        _ => Season::Autumn,
    };
    Some(if latitude >= 0.0 {
        north
    } else {
        match north {
            Season::Winter => Season::Summer,
            Season::Spring => Season::Autumn,
            Season::Summer => Season::Winter,
            Season::Autumn => Season::Spring,
        }
    })
}

/// How one booking's items are tailored (season, family), and so what to ask an engine that
/// filters by tag: each list is a `product_tag_ids` filter (empty = none). Not to be confused with
/// [`crate::plan::Plan`], the sends `tripmail plan` foresees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tailoring {
    /// Tags of the preferred items (season), if any.
    pub preferred: Option<Vec<u64>>,
    /// Family: tags the items must carry; otherwise `None` (the unfiltered answer is used).
    pub family: Option<Vec<u64>>,
    /// Family: tags of items never shown.
    pub adults_only: Option<Vec<u64>>,
    /// Which rules fired, for the email's record.
    pub rules: Vec<String>,
}

#[cfg(test)]
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

fn tags(ids: &[u64]) -> Option<Vec<u64>> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    (!v.is_empty()).then_some(v)
}

/// The season's preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// Winter: indoor items first.
    Indoor,
    /// Summer: outdoor items first.
    Outdoor,
}

impl Prefer {
    /// Lowercase name, as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefer::Indoor => "indoor",
            Prefer::Outdoor => "outdoor",
        }
    }
}

/// What the booking calls for, whatever the source: the season's rule, its preference, a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// `season:<name>`, `season:tropics` or `season:unknown`.
    pub season_rule: String,
    /// Items preferred in this season, if any.
    pub prefer: Option<Prefer>,
    /// Children on the booking.
    pub family: bool,
}

/// What the booking calls for, from its venue's latitude and its travellers.
pub fn intent(booking: &Booking, latitude: Option<f64>) -> Intent {
    let (season_rule, prefer) = match latitude.map(|lat| season(booking.travel_date, lat)) {
        None => ("season:unknown".to_string(), None),
        Some(None) => ("season:tropics".to_string(), None),
        Some(Some(s)) => (
            format!("season:{}", s.as_str()),
            match s {
                Season::Winter => Some(Prefer::Indoor),
                Season::Summer => Some(Prefer::Outdoor),
                Season::Spring | Season::Autumn => None,
            },
        ),
    };
    Intent {
        season_rule,
        prefer,
        family: booking.children > 0,
    }
}

/// Decides what to ask a source with a tag filter for, from the booking, its venue's latitude and
/// the configured tags.
pub fn plan(booking: &Booking, latitude: Option<f64>, cfg: &HeuristicsSettings) -> Tailoring {
    let intent = intent(booking, latitude);
    let mut rules = vec![intent.season_rule];
    let preferred = intent.prefer.and_then(|p| {
        let ids = match p {
            Prefer::Indoor => &cfg.indoor_tag_ids,
            Prefer::Outdoor => &cfg.outdoor_tag_ids,
        };
        let t = tags(ids);
        if t.is_some() {
            rules.push(format!("prefer:{}", p.as_str()));
        }
        t
    });
    let (family, adults_only) = if intent.family {
        rules.push("family".to_string());
        (
            Some(tags(&cfg.family_tag_ids).unwrap_or_default()),
            tags(&cfg.adults_only_tag_ids),
        )
    } else {
        (None, None)
    };
    Tailoring {
        preferred,
        family,
        adults_only,
        rules,
    }
}

/// One answer whose items say what they are (the contact recommendations), split into the lists
/// [`choose`] combines.
#[derive(Debug, Clone)]
pub struct Split {
    /// The tailoring (its tag lists are empty: the split is done here, not by the source).
    pub tailoring: Tailoring,
    /// The family-friendly items for a family, else all.
    pub base: Vec<Recommendation>,
    /// The season's preferred items.
    pub preferred: Option<Vec<Recommendation>>,
    /// The adults-only items, for a family.
    pub adults_only: Option<Vec<Recommendation>>,
}

impl Split {
    /// The lists as [`choose`] takes them.
    pub fn answers(&self) -> Answers<'_> {
        Answers {
            base: &self.base,
            preferred: self.preferred.as_deref(),
            adults_only: self.adults_only.as_deref(),
        }
    }
}

/// Applies the same rules as [`plan`] to one described answer. A rule whose meaning no item says
/// anything about (no `tags_*` data for it) is off, and the rules say which: `off:<rule>:no_tag_data`.
pub fn split(booking: &Booking, latitude: Option<f64>, items: &[Recommendation]) -> Split {
    let intent = intent(booking, latitude);
    let mut rules = vec![intent.season_rule];
    let pick = |say: fn(&Traits) -> Option<bool>| -> Option<Vec<Recommendation>> {
        items.iter().any(|r| say(&r.traits).is_some()).then(|| {
            items
                .iter()
                .filter(|r| say(&r.traits) == Some(true))
                .cloned()
                .collect()
        })
    };
    let preferred = intent.prefer.and_then(|p| {
        let list = match p {
            Prefer::Indoor => pick(|t| t.indoor),
            Prefer::Outdoor => pick(|t| t.outdoor),
        };
        rules.push(match list {
            Some(_) => format!("prefer:{}", p.as_str()),
            None => format!("off:prefer_{}:no_tag_data", p.as_str()),
        });
        list
    });
    let (base, adults_only) = if intent.family {
        rules.push("family".to_string());
        let family = pick(|t| t.family);
        if family.is_none() {
            rules.push("off:family:no_tag_data".to_string());
        }
        let adults_only = pick(|t| t.adults_only);
        if adults_only.is_none() {
            rules.push("off:adults_only:no_tag_data".to_string());
        }
        (family.unwrap_or_else(|| items.to_vec()), adults_only)
    } else {
        (items.to_vec(), None)
    };
    Split {
        tailoring: Tailoring {
            preferred: preferred.as_ref().map(|_| Vec::new()),
            family: intent.family.then(Vec::new),
            adults_only: adults_only.as_ref().map(|_| Vec::new()),
            rules,
        },
        base,
        preferred,
        adults_only,
    }
}

/// The engine's answers for one booking's tailoring.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    /// The family-tagged answer for a family, else the unfiltered answer.
    pub base: &'a [Recommendation],
    /// The season-tagged answer, if the tailoring prefers a season.
    pub preferred: Option<&'a [Recommendation]>,
    /// The adults-only answer, for a family.
    pub adults_only: Option<&'a [Recommendation]>,
}

/// The items chosen for one email.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Up to `max` items, in the order shown.
    pub items: Vec<Recommendation>,
    /// Items dropped because the customer holds them (the main product included).
    pub dropped_held: usize,
    /// Items dropped because they are adults-only and the booking is a family.
    pub dropped_adults_only: usize,
    /// Items dropped because they cannot be bought now.
    pub dropped_out_of_stock: usize,
    /// Items dropped because they are known to be in another city than the trip's.
    pub dropped_other_city: usize,
    /// Items dropped because they are products of the main product's or a held one's experience.
    pub dropped_same_experience: usize,
    /// Whether every item chosen is known to be in the trip's city (so the heading may name it).
    pub city_known: bool,
}

/// Combines the answers: preferred first, then the base answer, each in the engine's order, without
/// duplicates, never an out-of-stock item, never the main product nor a held one (ids compared as
/// text), never one of their experiences nor of another city than the trip's (as far as `trip`
/// knows), never adults-only for a family; at most `max`.
pub fn choose(
    booking: &Booking,
    trip: &Trip<'_>,
    tailoring: &Tailoring,
    answers: Answers<'_>,
    max: usize,
) -> Choice {
    let family = tailoring.family.is_some();
    let mut ordered: Vec<&Recommendation> = Vec::new();
    if let Some(pref) = answers.preferred {
        if family {
            // For a family the base answer decides what may be shown; the season only reorders it.
            let preferred: HashSet<&ProductId> = pref.iter().map(|p| &p.product_id).collect();
            ordered.extend(
                answers
                    .base
                    .iter()
                    .filter(|r| preferred.contains(&r.product_id)),
            );
        } else {
            ordered.extend(pref.iter());
        }
    }
    ordered.extend(answers.base.iter());

    let mut choice = Choice {
        items: Vec::new(),
        dropped_held: 0,
        dropped_adults_only: 0,
        dropped_out_of_stock: 0,
        dropped_other_city: 0,
        dropped_same_experience: 0,
        city_known: true,
    };
    // Sets, so that choosing stays linear in the answers' length.
    let adults_only: HashSet<&ProductId> = answers
        .adults_only
        .unwrap_or_default()
        .iter()
        .map(|x| &x.product_id)
        .collect();
    let mut seen: HashSet<&ProductId> = HashSet::new();
    for r in ordered {
        if !seen.insert(&r.product_id) {
            continue;
        }
        if !r.in_stock {
            choice.dropped_out_of_stock += 1;
            continue;
        }
        let held = std::iter::once(&booking.product_id)
            .chain(&booking.other_product_ids)
            .any(|id| r.product_id.is(*id));
        if held {
            choice.dropped_held += 1;
            continue;
        }
        let city_known = match trip.judge(r) {
            Fit::OtherCity => {
                choice.dropped_other_city += 1;
                continue;
            }
            Fit::SameExperience => {
                choice.dropped_same_experience += 1;
                continue;
            }
            Fit::Fits { city_known } => city_known,
        };
        if family && adults_only.contains(&r.product_id) {
            choice.dropped_adults_only += 1;
            continue;
        }
        if choice.items.len() < max {
            choice.city_known &= city_known;
            choice.items.push(r.clone());
        }
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bookings::{Locale, Status};
    use crate::catalog::Money;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn rec(id: u64) -> Recommendation {
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
        }
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
        let c = choose(
            &b,
            &Trip::of(&b, None),
            &p,
            Answers {
                base: &base,
                preferred: Some(&pref),
                adults_only: None,
            },
            4,
        );
        assert_eq!(ids(&c), vec![12, 14, 10, 11]);
    }

    #[test]
    fn never_the_main_product_nor_a_held_one() {
        let b = booking(0, &[11]);
        let p = plan(&b, None, &cfg());
        let base = recs(&[1, 10, 11, 12]);
        let c = choose(
            &b,
            &Trip::of(&b, None),
            &p,
            Answers {
                base: &base,
                preferred: None,
                adults_only: None,
            },
            3,
        );
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
        let c = choose(
            &b,
            &Trip::of(&b, None),
            &p,
            Answers {
                base: &family,
                preferred: Some(&indoor),
                adults_only: Some(&adults),
            },
            4,
        );
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
        let c = choose(
            &b,
            &Trip::of(&b, None),
            &p,
            Answers {
                base: &base,
                preferred: None,
                adults_only: None,
            },
            2,
        );
        assert_eq!(ids(&c), vec![10, 11]);
    }
}
