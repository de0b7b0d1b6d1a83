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
use crate::item::{ProductId, Recommendation, Traits};
use crate::why::{Dropped, Excluded};

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
    /// Each item left out and why, when asked for ([`choose_explained`]); else empty.
    pub dropped: Vec<Dropped>,
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
    choose_explained(booking, trip, tailoring, answers, max, false)
}

/// [`choose`], keeping each item left out and why in [`Choice::dropped`] when `explain` (for
/// [`crate::why`]; a run does not ask).
pub fn choose_explained(
    booking: &Booking,
    trip: &Trip<'_>,
    tailoring: &Tailoring,
    answers: Answers<'_>,
    max: usize,
    explain: bool,
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
        dropped: Vec::new(),
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
            choice.drop(r, Excluded::OutOfStock, explain);
            continue;
        }
        let held = std::iter::once(&booking.product_id)
            .chain(&booking.other_product_ids)
            .any(|id| r.product_id.is(*id));
        if held {
            choice.drop(r, Excluded::Held, explain);
            continue;
        }
        let city_known = match trip.judge(r) {
            Fit::OtherCity => {
                choice.drop(r, Excluded::OtherCity, explain);
                continue;
            }
            Fit::SameExperience => {
                choice.drop(r, Excluded::SameExperience, explain);
                continue;
            }
            Fit::Fits { city_known } => city_known,
        };
        if family && adults_only.contains(&r.product_id) {
            choice.drop(r, Excluded::AdultsOnly, explain);
            continue;
        }
        if choice.items.len() < max {
            choice.city_known &= city_known;
            choice.items.push(r.clone());
        } else if explain {
            choice.drop(r, Excluded::NoRoom, explain);
        }
    }
    choice
}

#[cfg(test)]
pub(crate) mod tests;
