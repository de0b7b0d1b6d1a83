//! The reader's unit tests: rows, fields, limits, quotes.

use super::*;
use std::io::Write;

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

fn read(ext: &str, body: &str) -> Vec<Row> {
    let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
    f.write_all(body.as_bytes()).unwrap();
    BookingReader::open(f.path()).unwrap().collect()
}

fn good() -> String {
    "B1,ana@example.com,Ana,es,7,Colosseum,Rome,2026-12-12,2026-12-09T10:00:00+01:00,2,1,confirmed,true,,,8;9".into()
}

#[test]
fn a_good_csv_row_is_read_with_held_products() {
    let rows = read(".csv", &format!("{HEADER}\n{}\n", good()));
    let b = rows[0].as_ref().unwrap();
    assert_eq!(b.booking_id, "B1");
    assert_eq!(b.locale, Locale::Es);
    assert_eq!(b.children, 1);
    assert_eq!(b.other_product_ids, vec![8, 9]);
    assert_eq!(b.timezone, None);
}

#[test]
fn bad_rows_name_their_line_and_reason_and_the_rest_are_read() {
    let body = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n",
        good().replace("ana@example.com", "ana.example.com"),
        good().replace(",es,", ",pt,"),
        good().replace(",2,1,", ",2,-1,"),
        good().replace("2026-12-12", "2026-02-30"),
    );
    let rows = read(".csv", &format!("{body}{}\n", good()));
    let errs: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errs.len(), 4);
    assert_eq!(errs[0].line, 2);
    assert!(
        errs[0].reason.contains("customer_email"),
        "{}",
        errs[0].reason
    );
    assert_eq!(errs[1].line, 3);
    assert!(errs[1].reason.contains("unknown locale \"pt\""));
    assert!(errs[2].reason.contains("children is negative"));
    assert!(errs[3].reason.contains("travel_date \"2026-02-30\""));
    assert!(rows[4].is_ok());
}

#[test]
fn jsonl_rows_take_numbers_bools_and_arrays() {
    let line = r#"{"booking_id":"B2","customer_email":"jo@example.org","customer_first_name":"Jo","locale":"nl-NL","product_id":7,"product_title":"X","city":"rome","travel_date":"2026-12-12","booked_at":"2026-12-09T10:00:00Z","adults":1,"children":0,"status":"confirmed","marketing_opt_in":false,"latitude":41.9,"timezone":"Europe/Rome","other_product_ids":[3,4]}"#;
    let rows = read(".jsonl", &format!("\n{line}\n{{\"booking_id\":\"B3\"}}\n"));
    let b = rows[0].as_ref().unwrap();
    assert_eq!(b.locale, Locale::Nl);
    assert!(!b.marketing_opt_in);
    assert_eq!(b.other_product_ids, vec![3, 4]);
    assert_eq!(b.timezone, Some(chrono_tz::Europe::Rome));
    let e = rows[1].as_ref().unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(e.reason, "booking B3: missing customer_email");
}

#[test]
fn a_header_without_a_required_column_is_refused() {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    f.write_all(b"booking_id,locale\nB1,en\n").unwrap();
    let err = BookingReader::open(f.path()).err().unwrap();
    assert!(
        err.to_string().contains("no `customer_email` column"),
        "{err}"
    );
}

fn reason(body: &str) -> String {
    let rows = read(".csv", &format!("{HEADER}\n{body}\n"));
    rows[0].as_ref().unwrap_err().reason.clone()
}

#[test]
fn a_control_character_in_any_text_field_skips_the_row_naming_the_field() {
    let cases = [
        (
            "Ana",
            "customer_first_name",
            "Zoe\r\nBcc: victim@evil.example",
        ),
        ("Colosseum", "product_title", "Colos\u{0}seum"),
        ("Colosseum", "product_title", "Colos\u{1b}[31mseum"),
        ("Rome", "city", "Ro\u{b}me"),
        ("Rome", "city", "Ro\u{c}me"),
        ("Ana", "customer_first_name", "A\u{1}na"),
        ("Ana", "customer_first_name", "A\u{7f}na"),
        ("Ana", "customer_first_name", "A\u{85}na"),
        ("Ana", "customer_first_name", "A\u{2028}na"),
        ("Ana", "customer_first_name", "A\tna"),
    ];
    for (from, field, to) in cases {
        let quoted = format!("\"{to}\"");
        let r = reason(&good().replacen(from, &quoted, 1));
        let c = to
            .chars()
            .find(|c| c.is_control() || *c == '\u{2028}')
            .unwrap();
        let expected = format!("contains a control character (U+{:04X})", u32::from(c));
        assert!(
            r.starts_with(&format!("booking B1: {field}")) && r.contains(&expected),
            "{to:?}: {r}"
        );
    }
    let id = reason(&good().replace(",,,8;9", ",,,8;9\u{1}"));
    assert!(id.starts_with("booking B1: other_product_ids"), "{id}");
}

#[test]
fn accents_combining_marks_and_emoji_still_pass() {
    let name = "Zo\u{e9} Jos\u{65}\u{301} \u{1f30d}\u{200d}\u{1f9ed}";
    let rows = read(
        ".csv",
        &format!("{HEADER}\n{}\n", good().replace("Ana", name)),
    );
    assert_eq!(rows[0].as_ref().unwrap().customer_first_name, name);
}

#[test]
fn a_field_past_its_limit_skips_the_row_naming_the_field_and_limit() {
    let long = "x".repeat(MAX_TITLE_CHARS + 1);
    let r = reason(&good().replace("Colosseum", &long));
    assert_eq!(
        r,
        "booking B1: product_title is 301 characters long (at most 300)"
    );
    let ok = "\u{e9}".repeat(MAX_TITLE_CHARS);
    let rows = read(
        ".csv",
        &format!("{HEADER}\n{}\n", good().replace("Colosseum", &ok)),
    );
    assert!(rows[0].is_ok(), "{:?}", rows[0]);
    let r = reason(&good().replace("Ana", &"y".repeat(101)));
    assert_eq!(
        r,
        "booking B1: customer_first_name is 101 characters long (at most 100)"
    );
    let many = vec!["7"; MAX_HELD_PRODUCTS + 1].join(";");
    let r = reason(&good().replace("8;9", &many));
    assert_eq!(
        r,
        "booking B1: other_product_ids has 501 product ids (at most 500)"
    );
}

#[test]
fn a_field_past_the_row_limit_is_named_and_not_kept() {
    let huge = "x".repeat(2 * MAX_ROW_BYTES);
    let rows = read(
        ".csv",
        &format!(
            "{HEADER}\n{}\n{}\n",
            good().replace("Colosseum", &huge),
            good()
        ),
    );
    let e = rows[0].as_ref().unwrap_err();
    assert_eq!(
        e.reason,
        "product_title is over 65536 bytes long (at most 300 characters)"
    );
    assert!(rows[1].is_ok());
    let line = format!(r#"{{"booking_id":"B1","product_title":"{huge}"}}"#);
    let rows = read(".jsonl", &format!("{line}\n"));
    let e = rows[0].as_ref().unwrap_err();
    assert_eq!(e.reason, "the line is 131110 bytes long (at most 65536)");
}

#[test]
fn addresses_the_mailer_cannot_send_to_are_refused_when_read() {
    for (email, why) in [
        ("a@[127.0.0.1]", "an IP address for a domain"),
        ("\"\"\"a b\"\"\"@example.com", "a quoted local part"),
    ] {
        let r = reason(&good().replace("ana@example.com", email));
        assert!(
            r.starts_with("booking B1: customer_email") && r.contains(why),
            "{email}: {r}"
        );
    }
    let rows = read(
        ".csv",
        &format!("{HEADER}\n{}\n", good().replace("ana@", "ana.o'neil+x@")),
    );
    assert!(rows[0].is_ok(), "{:?}", rows[0]);
}

#[test]
fn a_column_read_twice_in_the_header_is_refused_naming_it() {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    writeln!(f, "{HEADER},booking_id,,\n{},B2,,", good()).unwrap();
    let err = BookingReader::open(f.path()).err().unwrap().to_string();
    assert!(
        err.ends_with(":1: the header has the column `booking_id` twice (columns 1 and 17)"),
        "{err}"
    );
}

#[test]
fn a_quote_left_open_counts_every_row_it_swallowed() {
    let body = format!(
        "{HEADER}\n{}\n{}\n{}\n\n{}\n{}\n",
        good(),
        good().replace("Ana", "\"Ana"),
        good().replace("B1", "B3"),
        good()
            .replace("B1", "B5")
            .replace("Colosseum", "\"The \"\"Colosseum\"\"\""),
        good().replace("B1", "B6"),
    );
    let rows = read(".csv", &body);
    let errs: Vec<_> = rows
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(
        errs,
        vec![
            (3, "a quoted field opened on line 3 runs to line 6: rows on lines 4\u{2013}6 swallowed"),
            (4, "swallowed by the quoted field opened on line 3"),
            (6, "swallowed by the quoted field opened on line 3"),
        ]
    );
    assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
    let rows = read(
        ".csv",
        &format!(
            "{HEADER}\n{}\n{}\n{}\n",
            good(),
            good().replace("Ana", "\"Ana"),
            good()
        ),
    );
    let errs: Vec<_> = rows
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(
        errs,
        vec![
            (
                3,
                "a quoted field opened on line 3 is never closed: the row on line 4 swallowed"
            ),
            (4, "swallowed by the quoted field opened on line 3"),
        ]
    );
}

#[test]
fn a_line_break_inside_a_quoted_name_is_one_skipped_row_naming_the_field() {
    let row = good().replace("Ana", "\"Zoe\r\nBcc: victim@evil.example\"");
    let rows = read(".csv", &format!("{HEADER}\r\n{row}\r\n{}\r\n", good()));
    let e = rows[0].as_ref().unwrap_err();
    assert_eq!(e.line, 2);
    assert_eq!(
        e.reason,
        "booking B1: customer_first_name \"Zoe\\r\\nBcc: victim@evil.example\" contains a control character (U+000D) (the row runs to line 3)"
    );
    assert_eq!(rows.len(), 2);
    assert!(rows[1].is_ok());
}

#[test]
fn jsonl_fields_are_checked_the_same_way() {
    let line = r#"{"booking_id":"B2","customer_email":"jo@example.org","customer_first_name":"Jo\u0000","locale":"nl","product_id":7,"product_title":"X","city":"rome","travel_date":"2026-12-12","booked_at":"2026-12-09T10:00:00Z","adults":1,"children":0,"status":"confirmed","marketing_opt_in":false}"#;
    let rows = read(".jsonl", &format!("{line}\n"));
    let r = &rows[0].as_ref().unwrap_err().reason;
    assert!(r.ends_with("contains a control character (U+0000)"), "{r}");
    let long = line.replace("Jo\\u0000", &"J".repeat(101));
    let rows = read(".jsonl", &format!("{long}\n"));
    assert_eq!(
        rows[0].as_ref().unwrap_err().reason,
        "booking B2: customer_first_name is 101 characters long (at most 100)"
    );
}
