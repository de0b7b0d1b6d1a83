//! Why an email's "Complete your trip" block holds the items it holds, in sentences a marketer
//! reads ("Winter in Rome: indoor experiences first."). Made from what the run's own decision path
//! wrote down for that email: the rules its block source fired (the season, the family, a second
//! request without held products, what was excluded) and, when asked ([`crate::compose::Make::why`]),
//! each item the heuristics left out and why ([`crate::heuristics::choose_explained`]). Nothing
//! here decides anything again; a run that does not ask pays nothing for it.

use crate::bookings::Booking;
use crate::config::{CampaignSettings, Provider};
use crate::heuristics::Choice;
use crate::item::{ProductId, Recommendation};

#[cfg(test)]
mod tests;

/// Why an item was left out of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Excluded {
    /// It cannot be bought now.
    OutOfStock,
    /// The customer holds it (the booked product or another one on the booking).
    Held,
    /// It is known to be in another city than the trip's.
    OtherCity,
    /// It is another product of an experience the customer holds.
    SameExperience,
    /// It is adults-only and the booking is a family's.
    AdultsOnly,
    /// It fitted, but the block was full.
    NoRoom,
}

/// One item left out of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    /// The item's id, as its source gave it.
    pub id: ProductId,
    /// Its title, as its source gave it.
    pub title: String,
    /// Why.
    pub why: Excluded,
}

impl Choice {
    /// Counts `item` as left out for `why`, and keeps it when `explain`.
    pub(crate) fn drop(&mut self, item: &Recommendation, why: Excluded, explain: bool) {
        match why {
            Excluded::OutOfStock => self.dropped_out_of_stock += 1,
            Excluded::Held => self.dropped_held += 1,
            Excluded::OtherCity => self.dropped_other_city += 1,
            Excluded::SameExperience => self.dropped_same_experience += 1,
            Excluded::AdultsOnly => self.dropped_adults_only += 1,
            Excluded::NoRoom => {}
        }
        if explain {
            self.dropped.push(Dropped {
                id: item.product_id.clone(),
                title: item.title.clone(),
                why,
            });
        }
    }
}

/// What was decided for one email's block, as the run decided it.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The campaign.
    pub campaign: &'a CampaignSettings,
    /// The API its block comes from.
    pub provider: Provider,
    /// The booking.
    pub booking: &'a Booking,
    /// The trip's city, as the marketer knows it (the catalog's name, else the booking's).
    pub city: &'a str,
    /// The rules the block's source fired, in order (the email record's `rules`).
    pub rules: &'a [String],
    /// The items shown, in order.
    pub items: &'a [Recommendation],
    /// The items left out and why.
    pub dropped: &'a [Dropped],
    /// How many items fitted (those shown, or too few to show).
    pub fitted: usize,
    /// Why there is no block, when there is none.
    pub without_block: Option<&'a str>,
    /// The API's failure, when it failed.
    pub engine_error: Option<&'a str>,
}

/// How many titles a sentence names before "and N more".
const NAMED: usize = 3;

/// The reasons, in the order the decisions were taken: the season, the family, the engine's
/// order and the block's size, each kind of item left out, then what the block shows (or why
/// there is none).
pub fn words(f: &Facts<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(reason) = f.without_block {
        if !f.rules.iter().any(|r| r.starts_with("season:")) {
            out.push(no_block(f, reason));
            return out;
        }
    }
    out.extend(season(f));
    out.extend(family(f));
    out.push(format!(
        "The {} API ranks its items by {}; the block shows {} at most, and needs 2.",
        f.provider.as_str(),
        sort_words(f.campaign.sort_by.as_str()),
        f.campaign.items,
    ));
    if f.rules.iter().any(|r| r == "requery:exclude_held") {
        out.push("What the customer holds emptied the API's page: asked again without it.".into());
    }
    out.extend(left_out(f));
    match f.without_block {
        Some(reason) => out.push(no_block(f, reason)),
        None => out.push(format!(
            "Shown: {}.",
            titles(f.items.iter().map(|r| &r.title))
        )),
    }
    if f.rules.iter().any(|r| r == "heading:city_unknown") {
        out.push(format!(
            "Not every item is known to be in {}: the heading does not name the city.",
            f.city
        ));
    }
    out
}

fn sort_words(sort_by: &str) -> &'static str {
    match sort_by {
        "commission" => "commission (most earned per sale first)",
        "conversion_rate" => "conversion rate (most likely to be bought first)",
        _ => "conversion rate × commission",
    }
}

/// The season and what it preferred.
fn season(f: &Facts<'_>) -> Option<String> {
    let rule = f.rules.iter().find_map(|r| r.strip_prefix("season:"))?;
    let date = f.booking.travel_date.format("%-d %b %Y");
    let (city, rules) = (f.city, f.rules);
    let has = |r: &str| rules.iter().any(|x| x == r);
    Some(match rule {
        "unknown" => format!("{city}'s latitude is unknown: no season, no preference."),
        "tropics" => format!("{city} is in the tropics: no season, no preference."),
        s => {
            let head = format!(
                "{}{} in {city} (visit on {date})",
                s[..1].to_uppercase(),
                &s[1..]
            );
            let prefer = ["indoor", "outdoor"]
                .into_iter()
                .find(|p| has(&format!("prefer:{p}")));
            let off = ["indoor", "outdoor"]
                .into_iter()
                .find(|p| has(&format!("off:prefer_{p}:no_tag_data")));
            match (prefer, off) {
                (Some(p), _) => format!("{head}: {p} experiences first."),
                (None, Some(p)) => format!(
                    "{head}: {p} experiences would come first, but no item says whether it is {p}."
                ),
                (None, None) if s == "winter" || s == "summer" => {
                    format!("{head}: no tags configured for the season's preference, so none.")
                }
                (None, None) => format!("{head}: no season preference."),
            }
        }
    })
}

/// The family rule.
fn family(f: &Facts<'_>) -> Option<String> {
    let has = |r: &str| f.rules.iter().any(|x| x == r);
    if !has("family") {
        return None;
    }
    let b = f.booking;
    let who = format!(
        "A family ({} adult{}, {} child{})",
        b.adults,
        if b.adults == 1 { "" } else { "s" },
        b.children,
        if b.children == 1 { "" } else { "ren" },
    );
    Some(
        match (has("off:family:no_tag_data"), has("off:adults_only:no_tag_data")) {
            (false, false) => format!("{who}: family-friendly only, no adults-only."),
            (true, false) => format!(
                "{who}: no item says whether it is family-friendly, so any may be shown; no adults-only."
            ),
            (false, true) => format!(
                "{who}: family-friendly only; no item says whether it is adults-only."
            ),
            (true, true) => format!(
                "{who}: no item says whether it is family-friendly or adults-only, so any may be shown."
            ),
        },
    )
}

/// One sentence per kind of item left out, naming them.
fn left_out(f: &Facts<'_>) -> Vec<String> {
    let kinds = [
        (Excluded::Held, "Held", "the customer already holds them"),
        (
            Excluded::SameExperience,
            "Same experience",
            "other tickets to an experience the customer already has",
        ),
        (
            Excluded::OtherCity,
            "Another city",
            "not in the trip's city",
        ),
        (Excluded::AdultsOnly, "Adults-only", "not for a family"),
        (Excluded::OutOfStock, "Out of stock", "cannot be bought now"),
        (Excluded::NoRoom, "No room", "the block was full"),
    ];
    kinds
        .into_iter()
        .filter_map(|(kind, label, because)| {
            let of_kind: Vec<&String> = f
                .dropped
                .iter()
                .filter(|d| d.why == kind)
                .map(|d| &d.title)
                .collect();
            (!of_kind.is_empty())
                .then(|| format!("{label}: {} left out ({because}).", titles(of_kind)))
        })
        .collect()
}

/// Why there is no block, in words.
fn no_block(f: &Facts<'_>, reason: &str) -> String {
    match reason {
        "no_opt_in" => "No block: the customer did not accept marketing emails.".into(),
        "too_few_items" => format!(
            "No block: {} fitted, and a block needs 2.",
            match f.fitted {
                0 => "no item".to_string(),
                1 => "only 1 item".to_string(),
                n => format!("only {n} items"),
            }
        ),
        "no_identity" | "bad_identity" => format!(
            "No block: the booking has no usable customer identity to ask the {} API with.",
            f.provider.as_str()
        ),
        _ => match f.engine_error {
            Some(e) => format!("No block: the recommendation API failed ({e})."),
            None => format!("No block: {reason}."),
        },
    }
}

/// `"A", "B" and "C"`, or the first [`NAMED`] and how many more.
fn titles<'t>(titles: impl IntoIterator<Item = &'t String>) -> String {
    let all: Vec<String> = titles.into_iter().map(|t| format!("“{t}”")).collect();
    match all.len() {
        0 => "nothing".into(),
        1 => all[0].clone(),
        n if n <= NAMED => format!("{} and {}", all[..n - 1].join(", "), all[n - 1]),
        n => format!("{} and {} more", all[..NAMED].join(", "), n - NAMED),
    }
}
