//! The sentences, from rules and items as a block source writes them; and `choose_explained`
//! keeping what it leaves out, the same items as `choose` otherwise.

use super::*;
use crate::bookings::Locale;
use crate::fit::Trip;
use crate::heuristics::{self, tests::rec, Answers};

fn campaign() -> CampaignSettings {
    serde_json::from_value(serde_json::json!({
        "name": "reminder", "trigger": "reminder", "items": 3, "sort_by": "commission"
    }))
    .expect("a campaign")
}

fn rules(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

fn dropped(title: &str, why: Excluded) -> Dropped {
    Dropped {
        id: ProductId::from(9),
        title: title.into(),
        why,
    }
}

fn words_of(
    rules: &[String],
    items: &[Recommendation],
    dropped: &[Dropped],
    without: Option<&str>,
) -> Vec<String> {
    let booking = Booking::sample(Locale::En);
    words(&Facts {
        campaign: &campaign(),
        provider: Provider::Tiqets,
        booking: &booking,
        city: "Rome",
        rules,
        items,
        dropped,
        fitted: items.len(),
        without_block: without,
        engine_error: None,
    })
}

#[test]
fn a_winter_family_trip_says_its_season_its_family_rule_what_was_held_and_what_is_shown() {
    let items = [rec(1), rec(2)];
    let r = rules(&["season:winter", "prefer:indoor", "family", "excluded:held"]);
    let w = words_of(
        &r,
        &items,
        &[dropped("Vatican ticket", Excluded::Held)],
        None,
    );
    assert_eq!(
        w,
        [
            "Winter in Rome (visit on 12 Dec 2026): indoor experiences first.",
            "A family (2 adults, 1 child): family-friendly only, no adults-only.",
            "The tiqets API ranks its items by commission (most earned per sale first); the block shows 3 at most, and needs 2.",
            "Held: “Vatican ticket” left out (the customer already holds them).",
            &format!("Shown: “{}” and “{}”.", items[0].title, items[1].title),
        ]
    );
}

#[test]
fn too_few_items_is_said_with_how_many_fitted() {
    let r = rules(&["season:spring", "excluded:other_city", "too_few_items"]);
    let left = [
        dropped("Tango show", Excluded::OtherCity),
        dropped("Opera", Excluded::OtherCity),
    ];
    let booking = Booking::sample(Locale::En);
    let w = words(&Facts {
        campaign: &campaign(),
        provider: Provider::Tiqets,
        booking: &booking,
        city: "Rome",
        rules: &r,
        items: &[],
        dropped: &left,
        fitted: 1,
        without_block: Some("too_few_items"),
        engine_error: None,
    });
    assert_eq!(
        w[0],
        "Spring in Rome (visit on 12 Dec 2026): no season preference."
    );
    assert!(
        w.contains(
            &"Another city: “Tango show” and “Opera” left out (not in the trip's city)."
                .to_string()
        ),
        "{w:?}"
    );
    assert_eq!(
        w.last().unwrap(),
        "No block: only 1 item fitted, and a block needs 2."
    );
}

#[test]
fn without_the_opt_in_nothing_else_is_said() {
    let w = words_of(&rules(&["no_opt_in"]), &[], &[], Some("no_opt_in"));
    assert_eq!(
        w,
        ["No block: the customer did not accept marketing emails."]
    );
}

#[test]
fn a_rule_switched_off_for_want_of_tag_data_says_so() {
    let r = rules(&[
        "season:summer",
        "off:prefer_outdoor:no_tag_data",
        "family",
        "off:adults_only:no_tag_data",
        "heading:city_unknown",
    ]);
    let w = words_of(&r, &[rec(1), rec(2)], &[], None);
    assert!(
        w[0].ends_with(
            "outdoor experiences would come first, but no item says whether it is outdoor."
        ),
        "{w:?}"
    );
    assert!(
        w[1].ends_with("family-friendly only; no item says whether it is adults-only."),
        "{w:?}"
    );
    assert_eq!(
        w.last().unwrap(),
        "Not every item is known to be in Rome: the heading does not name the city."
    );
}

#[test]
fn many_titles_are_cut_after_three() {
    let left: Vec<Dropped> = (0..5)
        .map(|i| dropped(&format!("T{i}"), Excluded::NoRoom))
        .collect();
    let w = words_of(&rules(&["season:tropics"]), &[rec(1), rec(2)], &left, None);
    assert_eq!(w[0], "Rome is in the tropics: no season, no preference.");
    assert!(
        w.contains(
            &"No room: “T0”, “T1”, “T2” and 2 more left out (the block was full).".to_string()
        ),
        "{w:?}"
    );
}

#[test]
fn choose_explained_keeps_what_it_leaves_out_and_chooses_the_same_items() {
    let mut booking = Booking::sample(Locale::En);
    booking.product_id = 1;
    booking.other_product_ids = vec![2];
    let mut gone = rec(3);
    gone.in_stock = false;
    let base = [rec(1), rec(2), gone, rec(4), rec(5), rec(6)];
    let tailoring = heuristics::plan(&booking, None, &Default::default());
    let trip = Trip::of(&booking, None);
    let answers = Answers {
        base: &base,
        preferred: None,
        adults_only: None,
    };
    let plain = heuristics::choose(&booking, &trip, &tailoring, answers, 2);
    let told = heuristics::choose_explained(&booking, &trip, &tailoring, answers, 2, true);
    assert!(plain.dropped.is_empty());
    assert_eq!(told.items, plain.items);
    assert_eq!(told.dropped_held, plain.dropped_held);
    let why: Vec<(String, Excluded)> = told
        .dropped
        .iter()
        .map(|d| (d.title.clone(), d.why))
        .collect();
    assert_eq!(
        why,
        [
            (rec(1).title, Excluded::Held),
            (rec(2).title, Excluded::Held),
            (rec(3).title, Excluded::OutOfStock),
            (rec(6).title, Excluded::NoRoom),
        ]
    );
}
