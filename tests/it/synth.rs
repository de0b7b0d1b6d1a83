//! The synthetic bookings generator, at library level: deterministic streams, rows the reader takes,
//! and a mix that the shipped campaigns find due in the documented shares.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;

use chrono::{DateTime, Datelike, Utc};
use tripmail::bookings::{Booking, BookingReader, Locale, RowError, Status};
use tripmail::catalog::Catalog;
use tripmail::config::{CampaignSettings, Overrides, Settings, Trigger};
use tripmail::due::{due, Due, Venue};
use tripmail::synth::{write_bookings, SynthFormat, SynthOptions, SynthStats, DEFAULT_NOW};

use crate::util::root;

fn shipped_catalog() -> Catalog {
    Catalog::load(&root().join("fixtures/catalog.json")).expect("shipped catalog loads")
}

fn now() -> DateTime<Utc> {
    DEFAULT_NOW.parse().expect("DEFAULT_NOW is RFC 3339")
}

fn options(bookings: u64, seed: u64, format: SynthFormat) -> SynthOptions {
    SynthOptions {
        bookings,
        seed,
        format,
        now: now(),
    }
}

fn generate_with(catalog: &Catalog, opts: &SynthOptions) -> (Vec<u8>, SynthStats) {
    let mut out = Vec::new();
    let stats = write_bookings(catalog, opts, &mut out).expect("bookings written");
    (out, stats)
}

fn generate(bookings: u64, seed: u64, format: SynthFormat) -> Vec<u8> {
    generate_with(&shipped_catalog(), &options(bookings, seed, format)).0
}

/// The rows of `bytes`, read back through a `.csv` or `.jsonl` file as `tripmail run` reads them.
fn read_back(bytes: &[u8], format: SynthFormat) -> (Vec<Booking>, Vec<RowError>) {
    let suffix = match format {
        SynthFormat::Csv => ".csv",
        SynthFormat::Jsonl => ".jsonl",
    };
    let mut f = tempfile::Builder::new()
        .suffix(suffix)
        .tempfile()
        .expect("temp file");
    f.write_all(bytes).expect("written");
    f.flush().expect("flushed");
    let reader = BookingReader::open(f.path()).expect("opens");
    if format == SynthFormat::Csv {
        assert_eq!(reader.has_column("customer_id"), Some(true));
    }
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for row in reader {
        match row {
            Ok(b) => good.push(b),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

/// The shipped campaigns (fixtures/campaign.toml), with no environment.
fn shipped_campaigns() -> (CampaignSettings, CampaignSettings) {
    let settings = Settings::load_with_env(
        &root().join("fixtures/campaign.toml"),
        &Overrides::default(),
        Vec::new(),
    )
    .expect("shipped config loads");
    let of = |t: Trigger| {
        settings
            .campaigns
            .iter()
            .find(|c| c.trigger == t)
            .cloned()
            .expect("shipped campaign")
    };
    (of(Trigger::Confirmation), of(Trigger::Reminder))
}

/// `part / whole`, asserted within `range`.
#[track_caller]
fn share_in(what: &str, part: usize, whole: usize, range: std::ops::Range<f64>) {
    let share = part as f64 / whole as f64;
    assert!(
        range.contains(&share),
        "{what}: {part} of {whole} = {share:.4}, expected within {range:?}"
    );
}

#[test]
fn the_same_seed_writes_the_same_bytes_and_another_seed_other_bytes() {
    for format in [SynthFormat::Csv, SynthFormat::Jsonl] {
        let a = generate(2_000, 7, format);
        assert_eq!(a, generate(2_000, 7, format), "{format:?}");
        let b = generate(2_000, 8, format);
        assert_ne!(a, b, "{format:?}");
        // Not just the booking ids: the rows themselves differ.
        let rows = |bytes: &[u8]| -> Vec<String> {
            String::from_utf8(bytes.to_vec())
                .expect("UTF-8")
                .lines()
                .skip(usize::from(format == SynthFormat::Csv))
                .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest).to_string())
                .collect()
        };
        let (ra, rb) = (rows(&a), rows(&b));
        let same = ra.iter().zip(&rb).filter(|(x, y)| x == y).count();
        assert!(same < 10, "{format:?}: {same} identical rows");
    }
}

#[test]
fn a_shorter_run_is_a_byte_prefix_of_a_longer_one() {
    for format in [SynthFormat::Csv, SynthFormat::Jsonl] {
        let short = generate(1_234, 42, format);
        let long = generate(5_000, 42, format);
        assert!(short.len() < long.len());
        assert!(long.starts_with(&short), "{format:?}");
        // ...and the cut falls at a row boundary.
        assert_eq!(short.last(), Some(&b'\n'));
    }
}

#[test]
fn every_row_reads_back_as_a_booking_in_both_formats() {
    let catalog = shipped_catalog();
    for format in [SynthFormat::Csv, SynthFormat::Jsonl] {
        let (bytes, stats) = generate_with(&catalog, &options(20_000, 1, format));
        let (good, bad) = read_back(&bytes, format);
        assert!(bad.is_empty(), "{format:?}: {:?}", &bad[..bad.len().min(5)]);
        assert_eq!(good.len(), 20_000);
        assert_eq!(stats.bookings, 20_000);

        let ids: HashSet<&str> = good.iter().map(|b| b.booking_id.as_str()).collect();
        assert_eq!(ids.len(), good.len(), "booking ids are unique");
        assert_eq!(good[12].booking_id, "SY1-000000012");
        for b in &good {
            let product = catalog.product(b.product_id).expect("a catalog product");
            assert_eq!(b.product_title, product.title, "{}", b.booking_id);
            let city = catalog.city(product.city_id).expect("its city");
            assert_eq!(b.city, city.name, "{}", b.booking_id);
            assert_eq!(b.latitude, None, "the catalog gives the latitude");
            let email = b.customer_email.to_string();
            assert!(email.is_ascii(), "{email}");
            assert!(
                ["@example.com", "@example.org", "@example.net"]
                    .iter()
                    .any(|d| email.ends_with(d)),
                "{email}"
            );
        }
        // Titles with commas, quotes and ampersands came through the quoting intact.
        for c in [',', '"', '&'] {
            assert!(good.iter().any(|b| b.product_title.contains(c)), "{c}");
        }
        // Names keep their diacritics.
        assert!(good.iter().any(|b| !b.customer_first_name.is_ascii()));
    }
}

#[test]
fn jsonl_rows_carry_numbers_bools_and_arrays() {
    let bytes = generate(500, 3, SynthFormat::Jsonl);
    let text = String::from_utf8(bytes).expect("UTF-8");
    let (mut held, mut zoned) = (false, false);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        assert!(v["product_id"].is_u64() && v["adults"].is_u64() && v["children"].is_u64());
        assert!(v["marketing_opt_in"].is_boolean());
        let others = v["other_product_ids"].as_array().expect("an array");
        assert!(others.iter().all(serde_json::Value::is_u64));
        held |= !others.is_empty();
        assert!(v.get("latitude").is_none(), "empty latitude is left out");
        if let Some(tz) = v.get("timezone") {
            zoned = true;
            assert!(tz.is_string());
        }
        assert!(v["customer_id"].is_string());
    }
    assert!(held && zoned);
}

#[test]
fn the_mix_is_what_the_shipped_campaigns_expect_of_a_day_export() {
    let catalog = shipped_catalog();
    let (confirmation, reminder) = shipped_campaigns();
    let (bytes, stats) = generate_with(&catalog, &options(20_000, 2026, SynthFormat::Csv));
    let (rows, bad) = read_back(&bytes, SynthFormat::Csv);
    assert!(bad.is_empty());
    let n = rows.len();
    let now = now();

    let (mut conf, mut rem, mut both, mut neither) = (0, 0, 0, 0);
    let (mut cancelled, mut opted_in, mut families, mut zoned) = (0, 0, 0, 0);
    let mut held_counts = [0usize; 3];
    let mut adults = BTreeMap::<u32, usize>::new();
    let mut locales = BTreeMap::<Locale, u64>::new();
    let (mut north, mut south) = (0, 0);
    let mut months = BTreeSet::new();
    let mut offsets = BTreeSet::new();
    let mut emails_of = HashMap::<String, HashSet<String>>::new();
    // (booked in the last 48 hours, travelling in 1-3 days, both), cancelled or not.
    let mut windows = (0, 0, 0);
    for b in &rows {
        let venue = Venue::of(b, Some(&catalog));
        let c = due(&confirmation, b, &venue, now);
        let r = due(&reminder, b, &venue, now);
        match (c, r) {
            (Some(_), Some(_)) => both += 1,
            (Some(_), None) => conf += 1,
            (None, Some(d)) => {
                rem += 1;
                assert_eq!(d.days_to_travel, 3, "{}", b.booking_id);
            }
            (None, None) if b.status == Status::Confirmed => neither += 1,
            (None, None) => {}
        }
        let recent = now - b.booked_at.with_timezone(&Utc) < chrono::Duration::hours(48);
        let soon = (1..=3).contains(&Due::at(b, &venue, now).days_to_travel);
        windows.0 += u64::from(recent);
        windows.1 += u64::from(soon);
        windows.2 += u64::from(recent && soon);
        cancelled += usize::from(b.status == Status::Cancelled);
        opted_in += usize::from(b.marketing_opt_in);
        families += usize::from(b.children > 0);
        zoned += usize::from(b.timezone.is_some());
        assert!((1..=4).contains(&b.adults) && b.children <= 3);
        *adults.entry(b.adults).or_default() += 1;
        *locales.entry(b.locale).or_default() += 1;

        let held = &b.other_product_ids;
        assert!(held.len() <= 2, "{}", b.booking_id);
        held_counts[held.len()] += 1;
        assert!(!held.contains(&b.product_id), "{}", b.booking_id);
        if held.len() == 2 {
            assert_ne!(held[0], held[1], "{}", b.booking_id);
        }
        let city = catalog.city_named(&b.city).expect("a catalog city");
        for id in held {
            let p = catalog.product(*id).expect("a catalog product");
            assert_eq!(p.city_id, city.id, "{}: {id} is elsewhere", b.booking_id);
        }
        if city.latitude < 0.0 {
            south += 1;
        } else {
            north += 1;
        }
        months.insert(b.travel_date.month());
        offsets.insert(b.booked_at.offset().local_minus_utc());
        emails_of
            .entry(b.customer_id.clone().expect("customer_id"))
            .or_default()
            .insert(b.customer_email.to_string());
    }

    // 57% confirmation only, 3% both, 35% reminder only, 5% neither; 4% of each cancelled.
    share_in("confirmation only", conf, n, 0.52..0.59);
    share_in("both", both, n, 0.015..0.045);
    share_in("reminder only", rem, n, 0.31..0.37);
    share_in("confirmed but not due", neither, n, 0.035..0.065);
    share_in("cancelled", cancelled, n, 0.03..0.05);
    share_in("opted in", opted_in, n, 0.74..0.82);
    share_in("families", families, n, 0.25..0.31);
    share_in("with a time zone", zoned, n, 0.26..0.34);
    share_in("no held products", held_counts[0], n, 0.62..0.68);
    share_in("one held product", held_counts[1], n, 0.22..0.28);
    share_in("two held products", held_counts[2], n, 0.08..0.12);
    assert_eq!(
        adults.iter().max_by_key(|(_, k)| **k).map(|(a, _)| *a),
        Some(2),
        "two adults is the most common: {adults:?}"
    );
    assert_eq!(adults.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);

    // Every locale, English the most common.
    assert_eq!(locales.len(), Locale::ALL.len(), "{locales:?}");
    for (l, k) in &locales {
        share_in(l.as_str(), *k as usize, n, 0.06..0.45);
    }
    assert_eq!(
        locales.iter().max_by_key(|(_, k)| **k).map(|(l, _)| *l),
        Some(Locale::En)
    );

    // Both hemispheres, and travel dates across seasons (December to spring at least).
    share_in("southern hemisphere", south, n, 0.15..0.35);
    assert!(north > south);
    assert!(months.len() >= 5, "{months:?}");
    // Offsets of several zones, UTC among them.
    assert!(offsets.len() >= 5 && offsets.contains(&0), "{offsets:?}");

    // Some customers book more than once, always as the same person.
    let customers = emails_of.len();
    share_in("distinct customers", customers, n, 0.8..0.95);
    assert!(emails_of.values().all(|e| e.len() == 1));

    // The stats count what was written.
    assert_eq!(stats.bookings, n as u64);
    assert_eq!(stats.cancelled, cancelled as u64);
    assert_eq!(stats.opted_in, opted_in as u64);
    assert_eq!(stats.families, families as u64);
    assert_eq!(stats.with_held, (n - held_counts[0]) as u64);
    assert_eq!(stats.with_timezone, zoned as u64);
    assert_eq!(stats.locales, locales);
    assert_eq!(
        (stats.booked_recently, stats.travelling_soon, stats.both),
        windows
    );
}

#[test]
fn a_city_with_one_product_gets_no_held_products() {
    let catalog = Catalog::from_json(
        r#"{"cities":[{"id":1,"name":"Rome","country":"IT","latitude":41.9,"timezone":"Europe/Rome"}],
        "tags":[],
        "products":[{"product_id":7,"title":"Colosseum, \"Arena\" & Forum","city_id":1,"experience_id":1,"tag_ids":[],
          "image_url":"https://img.example/7.jpg","from_price":{"amount":34.5,"currency":"EUR"},
          "conversion_rate":0.04,"commission_rate":0.1,"in_stock":true}]}"#,
    )
    .expect("small catalog");
    let (bytes, stats) = generate_with(&catalog, &options(300, 5, SynthFormat::Csv));
    assert_eq!(stats.with_held, 0);
    let (rows, bad) = read_back(&bytes, SynthFormat::Csv);
    assert!(bad.is_empty());
    assert!(rows.iter().all(
        |b| b.other_product_ids.is_empty() && b.product_title == "Colosseum, \"Arena\" & Forum"
    ));
}

#[test]
fn a_catalog_without_products_is_an_invalid_input() {
    let catalog = Catalog::from_json(r#"{"cities":[],"tags":[],"products":[]}"#).expect("empty");
    let err = write_bookings(&catalog, &options(10, 0, SynthFormat::Csv), Vec::new())
        .expect_err("nothing to book");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("no products"), "{err}");
}

#[test]
fn zero_bookings_is_a_header_alone_or_nothing() {
    let csv = generate(0, 0, SynthFormat::Csv);
    assert_eq!(
        String::from_utf8(csv).expect("UTF-8"),
        "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids,customer_id\n"
    );
    assert!(generate(0, 0, SynthFormat::Jsonl).is_empty());
}

#[test]
fn a_write_error_is_returned_not_swallowed() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    for format in [SynthFormat::Csv, SynthFormat::Jsonl] {
        let err = write_bookings(&shipped_catalog(), &options(10, 0, format), Full)
            .expect_err("the disk is full");
        assert!(err.to_string().contains("disk full"), "{format:?}: {err}");
    }
}
