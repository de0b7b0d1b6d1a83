//! What a campaign asking the contact-recommendations API puts in its block, through the real
//! binary: the shipped `campaign-yespo.toml` on the embedded engine (every block it may fill, never
//! an out-of-stock item, the same bytes twice), and runs against a mock API: the identity taken from
//! its booking column (none, or a contact id that is not a number: no block, nothing asked; a
//! bookings file without the column: refused before any email), the heuristics with and without
//! the feed's tag data.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use tripmail::bookings::{Booking, BookingReader};
use tripmail::recommend::embedded::{self as engine, parse_contact_params};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::contact_api::{
    item, mock_config, rules, run_binary, shipped_catalog, write_bookings, RECOMS,
};
use crate::util::{
    config_from, email_record, mock, path_and_query, received, report, root, run_yespo_cmd,
    succeeds, tripmail, NOW,
};

// ---------------------------------------------------------------------------------------------
// Whole runs: the shipped campaign-yespo.toml on the embedded engine.
// ---------------------------------------------------------------------------------------------

fn run_yespo(out: &Path) -> Output {
    run_yespo_cmd()
        .arg("--out")
        .arg(out)
        .output()
        .expect("tripmail runs")
}

fn shipped_bookings() -> Vec<Booking> {
    BookingReader::open(&root().join("fixtures/bookings.csv"))
        .expect("bookings open")
        .filter_map(Result::ok)
        .collect()
}

#[test]
fn the_shipped_yespo_campaigns_fill_every_block_they_may_and_never_show_an_out_of_stock_item() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let o = run_yespo(&out);
    succeeds(&o);
    let r = report(&out);
    let emails = r["emails"].as_array().expect("emails[]");
    assert!(emails.len() > 20, "{r}");
    // The same emails are due as with the cross-sell engine; the block is missing only where the
    // customer has no opt-in or too few items fit (never because the API failed).
    for e in emails {
        assert_eq!(e["provider"], json!("yespo"), "{e}");
        match e["without_block"].as_str() {
            None => {
                let n = e["items"].as_array().expect("items").len();
                assert!((2..=4).contains(&n), "{e}");
            }
            Some(reason) => assert!(reason == "no_opt_in" || reason == "too_few_items", "{e}"),
        }
    }
    assert!(r["with_block"].as_u64().expect("with_block") >= 29, "{r}");

    // Ask the engine's own function what each answer held, and check that no out-of-stock item
    // was shown, while some answers did hold one (so that the check means something).
    let catalog = shipped_catalog();
    let bookings = shipped_bookings();
    let mut out_of_stock_in_answers = 0;
    for e in emails {
        let booking = bookings
            .iter()
            .find(|b| json!(b.booking_id) == e["booking_id"])
            .expect("booking of the email");
        let data_source = if e["campaign"] == json!("reminder") {
            1245
        } else {
            1244
        };
        let mut products = vec![booking.product_id];
        products.extend(&booking.other_product_ids);
        let pq = format!(
            "email={}&products={}",
            booking.customer_email,
            products
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let params = parse_contact_params(&pq).expect("params");
        let answer = engine::contact_recommend(&catalog, data_source, &params);
        out_of_stock_in_answers += answer.iter().filter(|i| !i.in_stock).count();
        for shown in e["items"].as_array().expect("items") {
            let item = answer
                .iter()
                .find(|i| json!(i.product.product_id.to_string()) == *shown)
                .unwrap_or_else(|| panic!("{shown} was not in the answer for {e}"));
            assert!(item.in_stock, "{shown} is out of stock but shown in {e}");
        }
    }
    assert!(out_of_stock_in_answers > 5, "{out_of_stock_in_answers}");

    // Links are the API's own, with the campaign's UTM parameters added once.
    let html = std::fs::read_to_string(out.join("reminder/WT-100001.html")).expect("html");
    let links: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|l| l.contains("/products/"))
        .collect();
    assert!(!links.is_empty());
    for l in links {
        assert!(l.contains("?ref=recommendations&amp;utm_source=crm&amp;utm_medium=email&amp;utm_campaign=reminder"), "{l}");
        assert_eq!(l.matches("utm_source").count(), 1, "{l}");
    }
}

#[test]
fn yespo_runs_are_byte_for_byte_identical() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let o = run_yespo(out);
        succeeds(&o);
    }
    for campaign in ["confirmation", "reminder"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(a.join(campaign))
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty());
        for f in files {
            let name = f.file_name().expect("name");
            let other = b.join(campaign).join(name);
            assert_eq!(
                std::fs::read(&f).expect("a"),
                std::fs::read(&other).expect("b"),
                "{} differs between runs",
                f.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The customer's identity, from the booking.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_identification_takes_its_value_from_its_booking_column_and_a_missing_one_skips_the_block(
) {
    let server = mock(
        ResponseTemplate::new(200)
            .set_body_json(json!([item(9300002, true, &[]), item(9300003, true, &[]),])),
    )
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    // customer_id, customer_phone, contact_id, web_id
    let rows = [
        (
            "Y-1",
            "one@example.com",
            0,
            "2027-04-10",
            "C-1,+3225551234,101,web-1",
        ),
        ("Y-2", "two@example.com", 0, "2027-04-10", ",,,"),
    ];
    let bookings = write_bookings(tmp.path(), &rows);
    for (by, want) in [
        ("contactId", "contactId=101"),
        ("email", "email=one%40example.com"),
        ("phone", "phone=%2B3225551234"),
        ("externalCustomerId", "externalCustomerId=C-1"),
        ("webId", "webId=web-1"),
    ] {
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([item(9300002, true, &[]), item(9300003, true, &[]),])),
            )
            .mount(&server)
            .await;
        let dir = tmp.path().join(by);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = mock_config(
            &dir,
            &server.uri(),
            &[(
                "identify_by = \"email\"",
                &format!("identify_by = \"{by}\""),
            )],
        );
        let out = dir.join("out");
        let o = run_binary(&config, &bookings, &out, &[]).await;
        succeeds(&o);
        let asked: Vec<String> = received(&server).await.iter().map(path_and_query).collect();
        let r = report(&out);
        if by == "email" {
            // Every booking has an email: both asked.
            assert_eq!(asked.len(), 2, "{asked:?}");
        } else {
            assert_eq!(asked.len(), 1, "{by}: {asked:?}");
            let e = email_record(&r, "Y-2");
            assert_eq!(e["without_block"], json!("no_identity"), "{e}");
            assert!(
                rules(e).iter().any(|r| r.starts_with("no_identity:")),
                "{e}"
            );
        }
        // Requests go out concurrently: Y-1's is among them, in any order.
        let y1 = format!("{RECOMS}/1244?{want}&products=1111476,1120315");
        assert!(asked.contains(&y1), "{by}: {y1} not in {asked:?}");
        assert_eq!(
            email_record(&r, "Y-1")["items"],
            json!(["9300002", "9300003"])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_id_that_is_not_a_whole_number_skips_the_block_without_asking() {
    let server = mock(ResponseTemplate::new(200).set_body_json(json!([]))).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = mock_config(
        tmp.path(),
        &server.uri(),
        &[("identify_by = \"email\"", "identify_by = \"contactId\"")],
    );
    let bookings = write_bookings(
        tmp.path(),
        &[("Y-1", "a@example.com", 0, "2027-04-10", ",,crm-uuid-1,")],
    );
    let out = tmp.path().join("out");
    let o = run_binary(&config, &bookings, &out, &[]).await;
    succeeds(&o);
    let e = email_record(&report(&out), "Y-1").clone();
    assert_eq!(e["without_block"], json!("bad_identity"), "{e}");
    assert!(rules(&e).contains(&"bad_identity:contact_id".to_string()));
    assert!(received(&server).await.is_empty());
}

#[test]
fn a_bookings_file_without_the_identity_column_is_refused_before_any_email() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_from(
        "fixtures/campaign-yespo.toml",
        tmp.path(),
        &[("identify_by = \"email\"", "identify_by = \"phone\"")],
    );
    let want = "fixtures/bookings.csv:1: the header has no `customer_phone` column, which engine.yespo.identify_by = \"phone\" needs";
    for args in [vec!["validate"], vec!["run", "--now", NOW, "--out"]] {
        let mut cmd = tripmail();
        cmd.args(&args);
        if args[0] == "run" {
            cmd.arg(tmp.path().join("out"));
        }
        let o = cmd.arg("--config").arg(&config).output().expect("runs");
        crate::util::fails_with(&o, want);
    }
    assert!(!tmp.path().join("out").exists(), "emails were written");
}

// ---------------------------------------------------------------------------------------------
// The heuristics on the feed's tag data.
// ---------------------------------------------------------------------------------------------

/// The record of the one email of a family in Rome in winter (the season prefers indoor, the family
/// rules want tags), run against a mock API answering `items`.
async fn winter_family_email(items: Value) -> Value {
    let server = mock(ResponseTemplate::new(200).set_body_json(items)).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = mock_config(tmp.path(), &server.uri(), &[]);
    let bookings = write_bookings(
        tmp.path(),
        &[("Y-1", "fam@example.com", 2, "2026-12-20", ",,,")],
    );
    let out = tmp.path().join("out");
    let o = run_binary(&config, &bookings, &out, &[]).await;
    succeeds(&o);
    email_record(&report(&out), "Y-1").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tag_data_the_rules_that_need_it_are_off_and_say_so() {
    let bare = |id: u64| {
        let mut v = item(id, true, &[]);
        v.as_object_mut().expect("object").remove("tags_labels");
        v
    };
    let e = winter_family_email(json!([bare(9300002), bare(9300003), bare(9300004)])).await;
    assert_eq!(
        rules(&e),
        vec![
            "season:winter",
            "off:prefer_indoor:no_tag_data",
            "family",
            "off:family:no_tag_data",
            "off:adults_only:no_tag_data",
        ],
        "{e}"
    );
    // Rules off means the answer is shown as it came.
    assert_eq!(e["items"], json!(["9300002", "9300003", "9300004"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tag_data_a_family_sees_only_family_items_season_first_and_no_adults_only_item() {
    let e = winter_family_email(json!([
        item(9300001, true, &["outdoor", "family-friendly"]),
        item(9300002, true, &["indoor", "adults only", "family-friendly"]),
        item(9300003, true, &["indoor"]),
        item(9300004, true, &["indoor", "family-friendly"]),
        item(9300005, true, &["outdoor", "family-friendly"]),
    ]))
    .await;
    // Indoor family items first (9300004; 9300002 is adults-only), then the other family items;
    // 9300003 is not family-friendly.
    assert_eq!(e["items"], json!(["9300004", "9300001", "9300005"]), "{e}");
    assert_eq!(
        rules(&e),
        vec![
            "season:winter",
            "prefer:indoor",
            "family",
            "excluded:adults_only"
        ],
        "{e}"
    );
}
