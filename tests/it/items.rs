//! The block never offers the wrong thing: not the booked experience again, not another city's
//! tours, not an item whose link or price is not one; and a feed's own ids (strings) are products.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use tripmail::bookings::{Booking, BookingReader};
use tripmail::catalog::Catalog;
use tripmail::config::SortBy;
use tripmail::recommend::embedded::{self as engine, Params};
use wiremock::ResponseTemplate;

use crate::util::{config_from, email_record, mock, report, root, run_cmd, stderr, tripmail, NOW};

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

/// One confirmed Rome booking of the Vatican Museums ticket (holding the Colosseum tour), due for
/// its confirmation at [`NOW`].
fn rome_booking(dir: &Path) -> PathBuf {
    let path = dir.join("bookings.csv");
    let row = "R-1,ana@example.com,Ana,en,1111476,Vatican Museums,Rome,2026-12-20,2026-12-09T10:00:00Z,2,0,confirmed,true,,,1120315";
    std::fs::write(&path, format!("{HEADER}\n{row}\n")).expect("bookings written");
    path
}

fn run(config: &Path, bookings: &Path, out: &Path, engine_url: Option<&str>) -> Output {
    let mut cmd = run_cmd(config, bookings);
    cmd.args(["--campaign", "confirmation", "--now", NOW]);
    if let Some(url) = engine_url {
        cmd.args(["--engine-url", url]);
    }
    cmd.arg("--out").arg(out).output().expect("tripmail runs")
}

async fn run_async(
    config: PathBuf,
    bookings: PathBuf,
    out: PathBuf,
    engine_url: Option<String>,
) -> Output {
    tokio::task::spawn_blocking(move || run(&config, &bookings, &out, engine_url.as_deref()))
        .await
        .expect("the run thread ends")
}

fn rules(e: &Value) -> Vec<&str> {
    e["rules"]
        .as_array()
        .expect("rules[]")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn html(out: &Path, booking: &str) -> String {
    std::fs::read_to_string(out.join("confirmation").join(format!("{booking}.html")))
        .expect("the email's HTML")
}

/// The shipped yespo config pointed at a contact-recommendations API at `base_url`.
fn contact_config(dir: &Path, base_url: &str) -> PathBuf {
    let url = format!("[engine.yespo]\nbase_url = \"{base_url}\"");
    config_from(
        "fixtures/campaign-yespo.toml",
        dir,
        &[
            ("[engine.yespo]\nbase_url = \"embedded\"", url.as_str()),
            ("# api_key = \"…\"", "api_key = \"k3y-for-tests\""),
        ],
    )
}

fn contact_item(id: &str, city: Option<&str>) -> Value {
    let mut v = json!({
        "id": id, "name": format!("Item {id}"), "url": format!("https://shop.example/p/{id}"),
        "price": 25, "descr": "", "brand": "", "category": [], "isInStock": 1,
        "tags_image": format!("https://img.example/{id}.jpg"), "tags_currency": "EUR",
    });
    if let Some(c) = city {
        v["tags_city"] = json!(c);
    }
    v
}

/// A confirmation of [`rome_booking`] whose contact-recommendations API answers `items`: the
/// folder it ran in (kept alive), its output folder and its record.
async fn contact_email(items: Value) -> (tempfile::TempDir, PathBuf, Value) {
    let server = mock(ResponseTemplate::new(200).set_body_json(items)).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = contact_config(tmp.path(), &server.uri());
    let out = tmp.path().join("out");
    let o = run_async(config, rome_booking(tmp.path()), out.clone(), None).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = email_record(&report(&out), "R-1").clone();
    (tmp, out, e)
}

#[test]
fn no_email_of_the_shipped_runs_offers_the_booked_experience_or_another_citys_items() {
    let catalog = Catalog::load(&root().join("fixtures/catalog.json")).expect("catalog");
    let bookings: HashMap<String, Booking> =
        BookingReader::open(&root().join("fixtures/bookings.csv"))
            .expect("bookings")
            .filter_map(Result::ok)
            .map(|b| (b.booking_id.clone(), b))
            .collect();
    for config in ["fixtures/campaign.toml", "fixtures/campaign-yespo.toml"] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("out");
        let o = tripmail()
            .args(["run", "--config", config, "--now", NOW, "--out"])
            .arg(&out)
            .output()
            .expect("tripmail runs");
        assert_eq!(o.status.code(), Some(0), "{config}: {}", stderr(&o));
        let r = report(&out);
        let mut shown = 0;
        for e in r["emails"].as_array().expect("emails[]") {
            let b = &bookings[e["booking_id"].as_str().expect("booking_id")];
            let trip_city = catalog
                .product(b.product_id)
                .map(|p| p.city_id)
                .or_else(|| catalog.city_named(&b.city).map(|c| c.id));
            let held: Vec<u64> = std::iter::once(b.product_id)
                .chain(b.other_product_ids.iter().copied())
                .filter_map(|id| catalog.product(id))
                .map(|p| p.experience_id)
                .collect();
            for item in e["items"].as_array().expect("items[]") {
                // Numbers from the cross-sell API, strings from the contact API.
                let id = item
                    .as_u64()
                    .or_else(|| item.as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or_else(|| panic!("{config}: {item} is not a catalog id"));
                let p = catalog.product(id).expect("a catalog product");
                assert_eq!(
                    Some(p.city_id),
                    trip_city,
                    "{config}: {} ({}) is not in {}'s city: {e}",
                    p.title,
                    id,
                    b.city
                );
                assert!(
                    !held.contains(&p.experience_id),
                    "{config}: {} is of an experience {} holds: {e}",
                    p.title,
                    b.booking_id
                );
                shown += 1;
            }
        }
        assert!(shown > 40, "{config}: only {shown} items shown in all");
    }
}

#[test]
fn the_embedded_engine_never_offers_the_main_products_experience() {
    let catalog = Catalog::load(&root().join("fixtures/catalog.json")).expect("catalog");
    for main in catalog.products() {
        let params = Params {
            sort_by: SortBy::Commission,
            max_per_experience: Some(1),
            tag_ids: Vec::new(),
            exclude_ids: Vec::new(),
        };
        let answer = engine::recommend(&catalog, main.product_id, &params).expect("known");
        assert!(
            answer.iter().all(|p| p.experience_id != main.experience_id),
            "{} is offered one of its own experience",
            main.product_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_ids_from_the_contact_api_are_products_and_held_ones_are_compared_as_text() {
    let (_tmp, out, e) = contact_email(json!([
        contact_item("1111476", Some("Rome")),
        contact_item("Y1", Some("Rome")),
        contact_item("1120315", Some("Rome")),
        contact_item("Y2", Some("Rome")),
        contact_item("Y3", Some("Rome")),
    ]))
    .await;
    // The booked product and the held one come back as strings and are left out; the SKUs stay,
    // and the report keeps them as the API wrote them.
    assert_eq!(e["items"], json!(["Y1", "Y2", "Y3"]), "{e}");
    assert!(rules(&e).contains(&"excluded:held"), "{e}");
    assert!(html(&out, "R-1").contains("Item Y2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_items_of_another_city_are_left_out_by_the_catalog_or_the_city_field() {
    // 1190027 is a Rome product of the catalog; `elsewhere` is another city's (whatever the feed
    // says of it); Y-BA and Y-ROME name their city in tags_city (Rome's Italian name for the latter).
    let catalog = Catalog::load(&root().join("fixtures/catalog.json")).expect("catalog");
    let rome = catalog.city_named("Rome").expect("Rome").id;
    let elsewhere = catalog
        .products()
        .iter()
        .find(|p| p.city_id != rome)
        .expect("a product of another city");
    let (_tmp, out, e) = contact_email(json!([
        contact_item(&elsewhere.product_id.to_string(), Some("Rome")),
        contact_item("Y-BA", Some("Buenos Aires")),
        contact_item("1190027", None),
        contact_item("Y-ROME", Some("roma")),
    ]))
    .await;
    assert_eq!(e["items"], json!(["1190027", "Y-ROME"]), "{e}");
    assert!(rules(&e).contains(&"excluded:other_city"), "{e}");
    assert!(html(&out, "R-1").contains("Complete your Rome trip"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_items_city_can_be_known_the_heading_does_not_name_the_city() {
    let (_tmp, out, e) =
        contact_email(json!([contact_item("Y1", None), contact_item("Y2", None)])).await;
    assert_eq!(e["items"], json!(["Y1", "Y2"]), "{e}");
    assert!(rules(&e).contains(&"heading:city_unknown"), "{e}");
    let page = html(&out, "R-1");
    assert!(page.contains("You may also like"), "no generic heading");
    assert!(!page.contains("Complete your Rome trip"));
    let eml = std::fs::read_to_string(out.join("confirmation/R-1.eml")).expect("eml");
    assert!(eml.contains("You may also like"), "the text part too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_sell_items_with_a_script_link_or_an_absurd_price_never_reach_the_email() {
    let item = |id: u64, url: &str, image: &str, amount: Value| {
        json!({
            "product_id": id, "title": format!("Tour {id}"), "image_url": image,
            "url": url, "from_price": {"amount": amount, "currency": "EUR"},
        })
    };
    let server = mock(
        ResponseTemplate::new(200).set_body_json(json!({"recommendations": [
            item(9900001, "javascript:alert(1)", "https://img.example/1.jpg", json!(20)),
            item(9900002, "https://shop.example/2", "https://img.example/2.jpg", json!(-99.5)),
            item(9900003, "https://shop.example/3", "https://img.example/3.jpg", json!(1e308)),
            item(9900004, "https://shop.example/4", "javascript:alert(4)", json!(30)),
            item(9900005, "https://shop.example/5", "https://img.example/5.jpg", json!(40)),
        ]})),
    )
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_from("fixtures/campaign.toml", tmp.path(), &[]);
    let out = tmp.path().join("out");
    let o = run_async(
        config,
        rome_booking(tmp.path()),
        out.clone(),
        Some(server.uri()),
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = email_record(&report(&out), "R-1").clone();
    assert_eq!(e["items"], json!([9900004, 9900005]), "{e}");
    let page = html(&out, "R-1");
    assert!(
        !page.contains("javascript:"),
        "a script link reached the email"
    );
    assert!(!page.contains("-€"), "a negative price reached the email");
    assert!(
        !page.contains("0000000000"),
        "an absurd price reached the email"
    );
    // The item whose picture was a script is shown without one.
    assert!(page.contains("Tour 9900004"));
    assert!(!page.contains("img.example/4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_sell_id_that_is_not_a_whole_number_is_no_product_and_never_makes_a_link() {
    // Without its own `url`, an item's link is links.product_url with the id put in: a text id
    // could give it a path, a query or a host of its own.
    let item = |id: Value| {
        json!({
            "product_id": id, "title": format!("Tour {id}"), "image_url": "",
            "from_price": {"amount": 20, "currency": "EUR"},
        })
    };
    let server = mock(
        ResponseTemplate::new(200).set_body_json(json!({"recommendations": [
            item(json!("../../account/close?next=//evil.example/0")),
            item(json!(9900006)),
            item(json!(9900007)),
        ]})),
    )
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_from("fixtures/campaign.toml", tmp.path(), &[]);
    let out = tmp.path().join("out");
    let url = Some(server.uri());
    let o = run_async(config, rome_booking(tmp.path()), out.clone(), url).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = email_record(&report(&out), "R-1").clone();
    assert_eq!(e["items"], json!([9900006, 9900007]), "{e}");
    assert!(!html(&out, "R-1").contains("evil.example"));
}
