//! What a traveller acts on: the manage link, the booking's start and place, the calendar
//! attachment (read by Python's `icalendar`) and the JSON-LD EventReservation (read by `extruct`),
//! in every shipped email; lines left out when the booking lacks them; bad values refused by row.

use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;

use crate::util::{ci_python, root, run_shipped, run_yespo_cmd, stderr, succeeds};

/// What `check_reservation.py` read from every email under `out`, by file.
fn read_reservations(out: &Path) -> serde_json::Map<String, Value> {
    let python = ci_python(&["icalendar", "extruct"]);
    let o = std::process::Command::new(python)
        .arg(root().join("tests/it/check_reservation.py"))
        .arg(out)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", stderr(&o));
    match serde_json::from_slice(&o.stdout) {
        Ok(Value::Object(map)) => map,
        other => panic!("not a JSON object: {other:?}"),
    }
}

#[test]
fn every_shipped_email_has_the_calendar_the_json_ld_and_the_manage_link() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    succeeds(&run_shipped(&out, &[]));
    let found = read_reservations(&out);
    assert_eq!(found.len(), 33, "{:?}", found.keys());
    for (file, r) in &found {
        let id = Path::new(file).file_stem().unwrap().to_str().unwrap();
        let manage = format!("https://www.wanderly.example/account/bookings/{id}");
        assert_eq!(r["uid"], format!("{id}@wanderly.example"), "{file}");
        assert_eq!(r["url"], manage.as_str(), "{file}");
        assert_eq!(
            r["jsonld"]["modifyReservationUrl"],
            manage.as_str(),
            "{file}"
        );
        assert_eq!(r["jsonld"]["reservationNumber"], id, "{file}");
        let html = std::fs::read_to_string(out.join(file).with_extension("html")).unwrap();
        assert!(
            html.contains(&format!("href=\"{manage}\"")),
            "{file}: no manage button"
        );
    }
    // 09:30 in Rome on 11 December (CET, UTC+1) is 08:30 UTC.
    let rome = &found["reminder/WT-100001.eml"];
    assert_eq!(rome["dtstart"], "2026-12-11T08:30:00+00:00");
    assert_eq!(rome["all_day"], false);
    assert_eq!(
        rome["summary"],
        "Vatican Museums & Sistine Chapel Skip-the-Line Ticket"
    );
    assert_eq!(
        rome["location"],
        "Musei Vaticani, Viale Vaticano, 00165 Roma RM, Italy"
    );
    assert_eq!(
        rome["jsonld"]["reservationFor"]["startDate"],
        "2026-12-11T09:30:00+01:00"
    );
    // 19:00 on Broadway on 11 December (EST, UTC-5) is midnight UTC.
    assert_eq!(
        found["reminder/WT-100010.eml"]["dtstart"],
        "2026-12-12T00:00:00+00:00"
    );
    // The yespo campaigns' emails carry them too.
    let yespo = tmp.path().join("yespo");
    succeeds(&run_yespo_cmd().arg("--out").arg(&yespo).output().unwrap());
    let found = read_reservations(&yespo);
    assert!(found.len() >= 30, "{:?}", found.keys());
}

#[test]
fn a_booking_without_details_leaves_their_lines_out_and_is_an_all_day_event() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    succeeds(&run_shipped(&out, &[]));
    // WT-100015 (Paris, July 2027) has no start time, venue, meeting point or price.
    let found = read_reservations(&out);
    let r = &found["confirmation/WT-100015.eml"];
    assert_eq!(r["all_day"], true);
    assert_eq!(r["dtstart"], "2027-07-14");
    assert_eq!(r["jsonld"]["reservationFor"]["startDate"], "2027-07-14");
    let html = std::fs::read_to_string(out.join("confirmation/WT-100015.html")).unwrap();
    let text = std::fs::read_to_string(out.join("confirmation/WT-100015.eml")).unwrap();
    for label in ["Start time", "Venue", "Meeting point", "Price paid"] {
        assert!(!html.contains(label), "{label} in WT-100015's HTML");
        assert!(!text.contains(label), "{label} in WT-100015's text");
    }
    // A booking that has them shows each, with the price formatted as the block's prices are.
    let html = std::fs::read_to_string(out.join("reminder/WT-100001.html")).unwrap();
    for shown in [
        "Start time",
        "09:30",
        "Musei Vaticani",
        "Price paid",
        "€66.00",
    ] {
        assert!(html.contains(shown), "{shown} missing in WT-100001's HTML");
    }
    assert!(html.contains("href=\"mailto:help@wanderly.example\""));
    assert!(html.contains("href=\"tel:+442079460958\""));
}

#[test]
fn two_runs_give_the_same_calendar_bytes() {
    let tmp = TempDir::new().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    succeeds(&run_shipped(&a, &[]));
    succeeds(&run_shipped(&b, &[]));
    for file in ["confirmation/WT-100015.eml", "reminder/WT-100001.eml"] {
        let (x, y) = (
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
        );
        assert_eq!(x, y, "{file} differs between two runs");
    }
}

#[test]
fn a_bad_detail_skips_its_row_naming_the_line_and_column() {
    let tmp = TempDir::new().unwrap();
    let shipped = std::fs::read_to_string(root().join("fixtures/bookings.csv")).unwrap();
    let mut lines: Vec<String> = shipped.lines().map(String::from).collect();
    // Line 2 (WT-100001) gets a start time of 25:00, line 3 (WT-100002) a price without a number.
    lines[1] = lines[1].replace(",09:30,", ",25:00,");
    lines[2] = lines[2].replace(",196.00,EUR", ",lots,EUR");
    lines[3] = lines[3].replace(",138.00,EUR", ",138.00,euro");
    let bookings = tmp.path().join("bookings.csv");
    std::fs::write(&bookings, lines.join("\n") + "\n").unwrap();
    let out = tmp.path().join("out");
    let o = run_shipped(&out, &["--bookings", bookings.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    for needle in [
        "bookings.csv:2: booking WT-100001: start_time \"25:00\" is not a time of day",
        "bookings.csv:3: booking WT-100002: price_paid \"lots\" is not an amount",
        "bookings.csv:4: booking WT-100003: currency \"euro\" is not an ISO 4217 code",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    // The other rows still get their emails.
    assert!(out.join("reminder/WT-100005.eml").exists());
}

const MANAGE: &str =
    "manage_booking_url = \"https://www.wanderly.example/account/bookings/{booking_id}\"";

fn with_manage(url: &str) -> String {
    crate::config_case::edited(
        "fixtures/campaign.toml",
        &[(MANAGE, &format!("manage_booking_url = \"{url}\""))],
    )
}

config_case!(
    manage_url_without_its_placeholder,
    with_manage("https://w.example/bookings"),
    "links.manage_booking_url",
    "must contain the {booking_id} placeholder",
);
config_case!(
    manage_url_over_plain_http,
    with_manage("http://w.example/bookings/{booking_id}"),
    "links.manage_booking_url",
    "must be an https URL",
);
config_case!(
    support_phone_that_is_no_number,
    crate::config_case::edited(
        "fixtures/campaign.toml",
        &[(
            "support_phone = \"+44 20 7946 0958\"",
            "support_phone = \"call us\""
        )],
    ),
    "sender.support_phone",
    "\"call us\" is not a phone number",
);
