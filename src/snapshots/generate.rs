//! `tripmail snapshots --generate`: a starting case list covering every campaign × locale × block
//! or no block, from the bookings file: for each combination the first booking (in file order)
//! whose email at the instant given has it in its own language, else one shown in that language
//! (`lang`) that has it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::bookings::{Booking, Loaded, Locale};
use crate::run::{Campaigns, PreviewAt};

/// A generated case list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The `snapshots.toml` text.
    pub toml: String,
    /// The combinations no booking gives (`reminder-nl-block`, …).
    pub missing: Vec<String>,
}

/// One case found: the booking and, when it is not the booking's own, the language.
struct Found {
    booking_id: String,
    lang: Option<&'static str>,
}

/// Bookings tried in another language for a combination none gives in its own.
const TRIES_IN_ANOTHER_LANGUAGE: usize = 3;

/// The case list for `campaigns` over `bookings`, every case at `at`.
pub async fn generate(campaigns: &Campaigns, bookings: &Loaded, at: DateTime<Utc>) -> Generated {
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut order = Vec::new();
    for campaign in &campaigns.settings().campaigns {
        let mut block_of: Vec<(Arc<Booking>, bool)> = Vec::new();
        for booking in bookings.bookings() {
            let Some(block) = has_block(campaigns, booking, &campaign.name, at, None).await else {
                continue;
            };
            block_of.push((Arc::clone(booking), block));
            let name = case_name(&campaign.name, booking.locale.as_str(), block);
            found.entry(name).or_insert_with(|| Found {
                booking_id: booking.booking_id.clone(),
                lang: None,
            });
        }
        for locale in Locale::ALL {
            for block in [true, false] {
                let name = case_name(&campaign.name, locale.as_str(), block);
                order.push((name.clone(), campaign.name.clone()));
                if found.contains_key(&name) {
                    continue;
                }
                let others = block_of
                    .iter()
                    .filter(|(b, has)| *has == block && b.locale != locale);
                for (booking, _) in others.take(TRIES_IN_ANOTHER_LANGUAGE) {
                    let lang = Some(locale.as_str());
                    if has_block(campaigns, booking, &campaign.name, at, lang).await == Some(block)
                    {
                        let id = booking.booking_id.clone();
                        found.insert(
                            name.clone(),
                            Found {
                                booking_id: id,
                                lang,
                            },
                        );
                        break;
                    }
                }
            }
        }
    }
    write(&order, &found, at)
}

/// Whether `campaign`'s email for `booking` at `at` has a block; `None` when it cannot be made.
async fn has_block(
    campaigns: &Campaigns,
    booking: &Booking,
    campaign: &str,
    at: DateTime<Utc>,
    lang: Option<&str>,
) -> Option<bool> {
    let preview = campaigns
        .preview_of(booking.clone(), campaign, PreviewAt::Now(at), lang)
        .await
        .ok()?;
    Some(preview.composed.record.without_block.is_none())
}

fn case_name(campaign: &str, locale: &str, block: bool) -> String {
    match block {
        true => format!("{campaign}-{locale}-block"),
        false => format!("{campaign}-{locale}-no-block"),
    }
}

/// The TOML of the cases found, in `order`, saying which are missing.
fn write(
    order: &[(String, String)],
    found: &BTreeMap<String, Found>,
    at: DateTime<Utc>,
) -> Generated {
    let at = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let missing: Vec<String> = order
        .iter()
        .map(|(name, _)| name)
        .filter(|n| !found.contains_key(*n))
        .cloned()
        .collect();
    let mut toml = String::from(
        "# Snapshot cases (`tripmail snapshots --check`): one email each, composed at `at`.\n\
         # Written by `tripmail snapshots --generate`: every campaign × locale × block / no block\n\
         # the bookings file gives. Edit freely: booking = \"ID\" or an inline table of a CSV row's\n\
         # fields; at = RFC 3339 instant or as_of = date; lang; answer = \"answers/NAME.json\".\n",
    );
    if !missing.is_empty() {
        let _ = writeln!(toml, "# No booking gives: {}.", missing.join(", "));
    }
    for (name, campaign) in order {
        let Some(f) = found.get(name) else { continue };
        let _ = writeln!(toml, "\n[case.{name}]");
        let _ = writeln!(
            toml,
            "booking = {}",
            toml::Value::String(f.booking_id.clone())
        );
        let _ = writeln!(toml, "campaign = {}", toml::Value::String(campaign.clone()));
        let _ = writeln!(toml, "at = \"{at}\"");
        if let Some(lang) = f.lang {
            let _ = writeln!(toml, "lang = \"{lang}\"");
        }
    }
    Generated { toml, missing }
}
