//! Bookings rows that cannot go into an email: each is a skipped row naming its line and field,
//! never a panic, a late template error or a silent loss; the other rows get their emails.

use std::path::{Path, PathBuf};

use crate::sandbox::MailDev;
use crate::util::{config_with, report, root, run_shipped, stderr, tripmail, NOW};

/// The shipped bookings with `rows` added at the end, written as `name` into `dir`.
fn bookings_with(dir: &Path, name: &str, rows: &[String]) -> PathBuf {
    let mut text = std::fs::read_to_string(root().join("fixtures/bookings.csv")).unwrap();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The shipped first booking (WT-100001, due for a reminder at [`NOW`]) as `WT-100099`, with
/// `field` (a CSV field, quoted if need be) in place of `value`, and without its details (whose
/// quoted address would close a quote the row opens).
fn first_row_with(value: &str, field: &str) -> String {
    let text = shipped_without_details();
    let row = text.lines().nth(1).unwrap();
    assert!(row.contains(value), "{row} has no {value:?}");
    row.replace("WT-100001", "WT-100099")
        .replacen(value, field, 1)
        + ",,,,,,"
}

/// The shipped bookings without their six detail columns (start_time … currency), whose quoted
/// addresses would close the quotes the tests below open: the file as it was before them.
fn shipped_without_details() -> String {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(root().join("fixtures/bookings.csv"))
        .unwrap();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for record in reader.records() {
        let record = record.unwrap();
        let fields: Vec<&str> = record.iter().collect();
        writer.write_record(&fields[..fields.len() - 6]).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

/// `(line, reason)` of every skipped row in a report.
fn skipped(report: &serde_json::Value) -> Vec<(u64, String)> {
    report["skipped_rows"]
        .as_array()
        .expect("skipped_rows[]")
        .iter()
        .map(|s| {
            let reason = s["reason"].as_str().unwrap().to_string();
            (s["line"].as_u64().unwrap(), reason)
        })
        .collect()
}

/// A files-only run of the shipped campaign on `bookings`; its exit code and report.
fn run_on(dir: &Path, bookings: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = dir.join("out");
    let o = run_shipped(&out, &["--bookings", bookings.to_str().unwrap()]);
    (o.status.code(), report(&out), stderr(&o))
}

#[test]
fn a_crlf_first_name_is_a_skipped_row_and_maildev_gets_every_other_email_once_even_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let row = first_row_with("Zoë", "\"Zoe\r\nBcc: victim@evil.example\"");
    let bookings = bookings_with(dir.path(), "bookings.csv", &[row]);
    let cfg = config_with(
        dir.path(),
        &[
            ("retry_base_ms = 500", "retry_base_ms = 20"),
            (
                "path = \"fixtures/bookings.csv\"",
                &format!("path = {:?}", bookings.to_str().unwrap()),
            ),
        ],
    );
    let md = MailDev::start();
    let send = || {
        let o = tripmail()
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .args(["--now", NOW, "--smtp", &md.url()])
            .arg("--state")
            .arg(dir.path().join("ledger.sqlite"))
            .arg("--report")
            .arg(dir.path().join("report.json"))
            .output()
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        (o, report)
    };
    let reason = "booking WT-100099: customer_first_name \"Zoe\\r\\nBcc: victim@evil.example\" contains a control \
                  character (U+000D) (the row runs to line 41)";

    let (o, r) = send();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(skipped(&r), vec![(40, reason.to_string())]);
    assert!(
        stderr(&o).contains(&format!("bookings.csv:40: {reason}")),
        "{}",
        stderr(&o)
    );
    assert_eq!(r["sent"], 33, "{r}");
    assert_eq!(r["failed"], serde_json::json!([]));
    assert_eq!(md.count(), 33);
    let emails = md.emails();
    assert!(
        emails.iter().all(|e| !e.to_string().contains("victim")),
        "no email names the injected address"
    );

    // The same ledger: nothing more goes, the row is reported again.
    let (o, r) = send();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(r["sent"], 0, "{r}");
    assert_eq!(r["already_sent"], 33, "{r}");
    assert_eq!(skipped(&r).len(), 1);
    assert_eq!(md.count(), 33);

    // A preview of that booking says why its row cannot be used, not a panic.
    let o = tripmail()
        .args(["preview", "--config"])
        .arg(&cfg)
        .args([
            "--now",
            NOW,
            "--booking",
            "WT-100099",
            "--campaign",
            "reminder",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bookings.csv:40: booking WT-100099: customer_first_name")
            && stderr(&o).contains("control character"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_control_character_in_a_title_or_a_name_is_a_skipped_row_naming_the_field_not_a_failed_email() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        first_row_with("Vatican", "Vat\x01ican"),
        first_row_with("Zoë", "Zo\x1b[2Jë").replace("WT-100099", "WT-100098"),
        first_row_with(",Rome,", ",Ro\u{2028}me,").replace("WT-100099", "WT-100097"),
    ];
    let bookings = bookings_with(dir.path(), "bookings.csv", &rows);
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    let got = skipped(&r);
    assert_eq!(got.len(), 3, "{got:?}");
    let expected = [
        (40, "product_title", "U+0001"),
        (41, "customer_first_name", "U+001B"),
        (42, "city", "U+2028"),
    ];
    for ((line, reason), (want_line, field, char)) in got.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(&format!(": {field} ")), "{reason}");
        assert!(
            reason.contains(&format!("contains a control character ({char})")),
            "{reason}"
        );
    }
    assert_eq!(r["failed"], serde_json::json!([]), "no template error");
    assert_eq!(r["rendered"], 33);
}

#[test]
fn a_50_mb_title_is_a_skipped_row_naming_the_field_and_no_email_grows() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(50 << 20);
    let long = "y".repeat(301);
    let rows = [
        first_row_with("Vatican Museums", &huge),
        first_row_with("Vatican Museums", &long).replace("WT-100099", "WT-100098"),
    ];
    let bookings = bookings_with(dir.path(), "bookings.csv", &rows);
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        skipped(&r),
        vec![
            (
                40,
                "product_title is over 65536 bytes long (at most 300 characters)".to_string()
            ),
            (
                41,
                "booking WT-100098: product_title is 339 characters long (at most 300)".to_string()
            ),
        ]
    );
    assert_eq!(r["rendered"], 33);
    let biggest = ["confirmation", "reminder"]
        .iter()
        .flat_map(|c| std::fs::read_dir(dir.path().join("out").join(c)).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    assert!(biggest < 1 << 20, "an email of {biggest} bytes");
}

#[test]
fn addresses_the_mailer_cannot_send_to_are_skipped_rows_naming_customer_email() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        first_row_with("zoe.hartley@example.com", "zoe@[127.0.0.1]"),
        first_row_with("zoe.hartley@example.com", "\"\"\"zoe h\"\"@example.com\"")
            .replace("WT-100099", "WT-100098"),
    ];
    let bookings = bookings_with(dir.path(), "bookings.csv", &rows);
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        skipped(&r),
        vec![
            (
                40,
                "booking WT-100099: customer_email \"zoe@[127.0.0.1]\" has an IP address for a domain that the \
                 mailer cannot send to"
                    .to_string()
            ),
            (
                41,
                "booking WT-100098: customer_email \"\\\"zoe h\\\"@example.com\" has a quoted local part that the \
                 mailer cannot send to"
                    .to_string()
            ),
        ]
    );
    assert_eq!(
        r["failed"],
        serde_json::json!([]),
        "nothing fails at build time"
    );
}

#[test]
fn a_column_twice_in_the_header_is_a_fatal_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("fixtures/bookings.csv")).unwrap();
    let doubled: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("{l},booking_id\n"),
            _ => format!("{l},WT-1\n"),
        })
        .collect();
    let bookings = dir.path().join("bookings.csv");
    std::fs::write(&bookings, doubled).unwrap();
    let out = dir.path().join("out");
    let o = run_shipped(&out, &["--bookings", bookings.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "bookings.csv:1: the header has the column `booking_id` twice (columns 1 and 23)"
        ),
        "{err}"
    );
    assert!(!out.join("confirmation").exists(), "no email");
}

#[test]
fn a_quote_left_open_mid_file_is_reported_with_its_lines_and_every_row_it_swallowed() {
    let dir = tempfile::tempdir().unwrap();
    // Line 4 (WT-100003) opens a quote before its first name; the next quote in the file (without
    // the detail columns) is on line 11 (WT-100010's title, `"""The…`), where the field closes and
    // the record ends.
    let text = shipped_without_details();
    let broken: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            3 => {
                let name = l.match_indices(',').nth(1).unwrap().0 + 1;
                format!("{}\"{}\n", &l[..name], &l[name..])
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let close = 11;
    let bookings = dir.path().join("bookings.csv");
    std::fs::write(&bookings, &broken).unwrap();
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    let got = skipped(&r);
    let mut expected = vec![(
        4,
        format!(
            "a quoted field opened on line 4 runs to line {close}: rows on lines 5\u{2013}{close} swallowed"
        ),
    )];
    for line in 5..=close {
        expected.push((
            line,
            "swallowed by the quoted field opened on line 4".to_string(),
        ));
    }
    assert_eq!(got, expected);
    assert!(err.contains("bookings.csv:5: swallowed by"), "{err}");
}

#[test]
fn a_quote_left_open_at_the_end_swallows_the_rest_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        first_row_with("Zoë", "\"Zoë"),
        first_row_with("Zoë", "Ana").replace("WT-100099", "WT-100098"),
        first_row_with("Zoë", "Bo").replace("WT-100099", "WT-100097"),
    ];
    let bookings = bookings_with(dir.path(), "bookings.csv", &rows);
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        skipped(&r),
        vec![
            (
                40,
                "a quoted field opened on line 40 is never closed: rows on lines 41\u{2013}42 \
                 swallowed"
                    .to_string()
            ),
            (
                41,
                "swallowed by the quoted field opened on line 40".to_string()
            ),
            (
                42,
                "swallowed by the quoted field opened on line 40".to_string()
            ),
        ]
    );
    assert_eq!(r["rendered"], 33);
}

#[test]
fn jsonl_rows_get_the_same_field_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(root().join("fixtures/bookings.jsonl")).unwrap();
    let first = text.lines().next().unwrap().to_string();
    let n = text.lines().count();
    for (id, from, to) in [
        ("WT-100099", "\"Zoë\"", "\"Zo\\u000be\""),
        ("WT-100098", "\"Rome\"", &format!("\"{}\"", "R".repeat(101))),
    ] {
        text.push_str(&first.replace("WT-100001", id).replace(from, to));
        text.push('\n');
    }
    let bookings = dir.path().join("bookings.jsonl");
    std::fs::write(&bookings, text).unwrap();
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        skipped(&r),
        vec![
            (
                n as u64 + 1,
                "booking WT-100099: customer_first_name \"Zo\\u{b}e\" contains a control character (U+000B)"
                    .to_string()
            ),
            (
                n as u64 + 2,
                "booking WT-100098: city is 101 characters long (at most 100)".to_string()
            ),
        ]
    );
    assert_eq!(r["failed"], serde_json::json!([]));
}

#[test]
fn a_traveller_count_past_the_limit_is_a_skipped_row_not_a_crash() {
    // 4294967295 + 1 overflowed the sum of travellers and ended the run (exit 101).
    let dir = tempfile::tempdir().unwrap();
    let rows = [first_row_with(
        ",2,0,confirmed,",
        ",4294967295,1,confirmed,",
    )];
    let bookings = bookings_with(dir.path(), "bookings.csv", &rows);
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        skipped(&r),
        vec![(
            40,
            "booking WT-100099: adults is too large (4294967295; at most 1000)".to_string()
        )]
    );
    assert_eq!(r["rendered"], 33, "every other booking gets its email");
}

#[test]
fn an_empty_bookings_file_is_a_failed_export_not_a_quiet_day() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [("empty.csv", ""), ("blank.csv", "\n\r\n\n")] {
        let bookings = dir.path().join(name);
        std::fs::write(&bookings, body).unwrap();
        let o = run_shipped(
            &dir.path().join("out"),
            &["--bookings", bookings.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!(
                "{name}:1: the header is missing: the file is empty"
            )),
            "{name}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_csv_whose_lines_end_in_a_carriage_return_alone_is_refused_with_the_fix() {
    // The old Mac format: line numbers and swallowed rows could not be told.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("fixtures/bookings.csv")).unwrap();
    let bookings = dir.path().join("mac.csv");
    std::fs::write(&bookings, text.replace('\n', "\r")).unwrap();
    let o = run_shipped(
        &dir.path().join("out"),
        &["--bookings", bookings.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("mac.csv:1: the header ends in a carriage return alone"),
        "{}",
        stderr(&o)
    );
    // Windows line endings are fine.
    let crlf = dir.path().join("windows.csv");
    std::fs::write(&crlf, text.replace('\n', "\r\n")).unwrap();
    let (code, r, err) = run_on(dir.path(), &crlf);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["rendered"], 33);
}

#[test]
fn a_byte_order_mark_before_the_first_json_line_is_not_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("fixtures/bookings.jsonl")).unwrap();
    let bookings = dir.path().join("bom.jsonl");
    std::fs::write(&bookings, format!("\u{feff}{text}")).unwrap();
    let (code, r, err) = run_on(dir.path(), &bookings);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r["skipped_rows"], serde_json::json!([]));
    assert_eq!(r["rendered"], 33);
}
