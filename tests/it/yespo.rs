//! The contact-recommendations source (Yespo): the client against a wiremock server on 127.0.0.1 (the
//! exact request, Basic auth, every identification parameter, items read and dropped, failures), the
//! embedded engine's endpoint, and whole runs of the binary: on the shipped `campaign-yespo.toml`
//! (embedded engine) and against a mock API that fails in different ways.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tripmail::bookings::{Booking, BookingReader};
use tripmail::catalog::Catalog;
use tripmail::config::{IdentifyBy, ListFormat, Matches, Secret, TagMatch, YespoTags};
use tripmail::recommend::engine::{self, parse_contact_params};
use tripmail::recommend::{
    ContactClient, ContactOptions, ContactQuery, EngineError, ItemFormat, Limits,
    RecommendationSource,
};
use wiremock::matchers::{method, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{
    config_from, email_record, mock, path_and_query, received, report, root, succeeds, tripmail,
    NOW,
};

const KEY: &str = "yespo-k3y-for-tests";
const RECOMS: &str = "/api/v2/contacts/recoms";

fn item_format() -> ItemFormat {
    ItemFormat {
        currency: "EUR".into(),
        currency_field: Some("tags_currency".into()),
        image_field: Some("tags_image".into()),
        city_field: Some("tags_city".into()),
        tags: YespoTags {
            indoor: Matches(vec![TagMatch::parse("tags_labels=indoor")]),
            outdoor: Matches(vec![TagMatch::parse("tags_labels=outdoor")]),
            family: Matches(vec![TagMatch::parse("tags_labels=family-friendly")]),
            adults_only: Matches(vec![TagMatch::parse("tags_labels=adults only")]),
        },
    }
}

fn options(base_url: &str) -> ContactOptions {
    ContactOptions {
        base_url: base_url.to_string(),
        username: "wanderly".into(),
        api_key: Some(Secret::new(KEY)),
        limits: Limits {
            timeout: Duration::from_secs(5),
            max_concurrency: 4,
            ..Limits::default()
        },
        list_format: ListFormat::Comma,
        items: item_format(),
    }
}

fn client(base_url: &str) -> ContactClient {
    ContactClient::new(options(base_url)).expect("client builds")
}

fn query(identify_by: IdentifyBy, identity: &str) -> ContactQuery {
    ContactQuery {
        data_source_id: 1244,
        identify_by,
        identity: identity.to_string(),
        products: vec![1111476, 1120315],
        category: None,
    }
}

/// One item as the API documents it, with the feed's tags.
fn item(id: u64, in_stock: bool, labels: &[&str]) -> Value {
    json!({
        "id": id.to_string(),
        "name": format!("Item {id}"),
        "url": format!("https://shop.example/p/{id}?ref=feed"),
        "price": 10.0 + id as f64 % 100.0,
        "descr": "A description",
        "brand": "Somebody",
        "category": ["Rome"],
        "isInStock": i32::from(in_stock),
        "tags_labels": labels,
        "tags_image": format!("https://img.example/{id}.jpg"),
        "tags_currency": "EUR",
        "tags_city": "Rome",
    })
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

// ---------------------------------------------------------------------------------------------
// The client.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_request_has_the_documented_path_query_string_and_basic_auth() {
    let server = mock(ResponseTemplate::new(200).set_body_json(json!([]))).await;
    let c = client(&server.uri());
    let mut q = query(IdentifyBy::Email, "zoë+trips@example.com");
    q.category = Some("Buenos Aires".into());
    c.fetch(&q).await.expect("an empty answer is fine");
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        path_and_query(&reqs[0]),
        "/api/v2/contacts/recoms/1244?email=zo%C3%AB%2Btrips%40example.com&products=1111476,1120315&category=Buenos+Aires"
    );
    let header = |name: &str| {
        reqs[0]
            .headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_string())
    };
    assert_eq!(
        header("authorization").as_deref(),
        Some(basic("wanderly", KEY).as_str())
    );
    assert_eq!(header("accept").as_deref(), Some("application/json"));
    assert!(header("user-agent").is_some_and(|ua| ua.starts_with("tripmail/")));
}

#[tokio::test]
async fn every_identification_parameter_is_sent_under_its_documented_name() {
    let server = mock(ResponseTemplate::new(200).set_body_json(json!([]))).await;
    let c = client(&server.uri());
    let cases = [
        (IdentifyBy::ContactId, "162688150", "contactId=162688150"),
        (
            IdentifyBy::Email,
            "jo@example.org",
            "email=jo%40example.org",
        ),
        (
            IdentifyBy::Phone,
            "+380 50 123 4567",
            "phone=%2B380+50+123+4567",
        ),
        (
            IdentifyBy::ExternalCustomerId,
            "CUST/42",
            "externalCustomerId=CUST%2F42",
        ),
        (IdentifyBy::WebId, "w-9f8e", "webId=w-9f8e"),
    ];
    for (by, value, _) in &cases {
        c.fetch(&query(*by, value)).await.expect("answer");
    }
    let asked: Vec<String> = received(&server).await.iter().map(path_and_query).collect();
    let want: Vec<String> = cases
        .iter()
        .map(|(_, _, q)| format!("{RECOMS}/1244?{q}&products=1111476,1120315"))
        .collect();
    assert_eq!(asked, want);
}

#[tokio::test]
async fn the_products_list_follows_the_list_format() {
    let server = mock(ResponseTemplate::new(200).set_body_json(json!([]))).await;
    for (format, want) in [
        (ListFormat::Brackets, "products=[1111476,1120315]"),
        (ListFormat::Repeat, "products=1111476&products=1120315"),
    ] {
        let c = ContactClient::new(ContactOptions {
            list_format: format,
            ..options(&server.uri())
        })
        .expect("client");
        c.fetch(&query(IdentifyBy::ContactId, "7"))
            .await
            .expect("answer");
        let last = received(&server).await.pop().expect("a request");
        assert_eq!(
            path_and_query(&last),
            format!("{RECOMS}/1244?contactId=7&{want}")
        );
    }
}

#[tokio::test]
async fn items_are_read_in_order_with_stock_tags_currency_and_picture() {
    let mut usd = item(3, true, &["outdoor"]);
    usd["tags_currency"] = json!("USD");
    let server = mock(ResponseTemplate::new(200).set_body_json(json!([
        item(1, true, &["indoor", "family-friendly"]),
        item(2, false, &["indoor"]),
        usd,
    ])))
    .await;
    let items = client(&server.uri())
        .fetch(&query(IdentifyBy::Email, "a@example.com"))
        .await
        .expect("answer");
    let ids: Vec<u64> = items.iter().filter_map(|r| r.product_id.as_u64()).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(
        items.iter().map(|r| r.in_stock).collect::<Vec<_>>(),
        vec![true, false, true]
    );
    assert_eq!(items[0].traits.family, Some(true));
    assert_eq!(items[0].traits.adults_only, Some(false));
    assert_eq!(items[2].from_price.currency, "USD");
    assert_eq!(items[0].from_price.currency, "EUR");
    assert_eq!(items[0].image_url, "https://img.example/1.jpg");
    assert_eq!(
        items[0].url.as_deref(),
        Some("https://shop.example/p/1?ref=feed")
    );
}

async fn fetch_error(response: ResponseTemplate, timeout: Duration) -> EngineError {
    let server = mock(response).await;
    let c = ContactClient::new(ContactOptions {
        limits: Limits {
            timeout,
            ..Limits::default()
        },
        ..options(&server.uri())
    })
    .expect("client");
    c.fetch(&query(IdentifyBy::Email, "a@example.com"))
        .await
        .expect_err("the fetch fails")
}

#[tokio::test]
async fn a_4xx_with_a_text_body_is_reported_with_its_status_and_text() {
    let e = fetch_error(
        ResponseTemplate::new(403)
            .set_body_string("Forbidden: this key may not read data source 1244\n"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        e.to_string(),
        "HTTP 403: Forbidden: this key may not read data source 1244"
    );
    assert_eq!(e.reason(), "engine_http_403");
}

#[tokio::test]
async fn an_error_body_echoing_the_key_is_shown_without_it() {
    let basic_credential = basic("wanderly", KEY);
    let basic_credential = basic_credential.trim_start_matches("Basic ");
    let e = fetch_error(
        ResponseTemplate::new(401).set_body_string(format!(
            "bad credentials tripmail:{KEY}, header Basic {basic_credential}, query key=yespo-k3y-for-tests%21"
        )),
        Duration::from_secs(5),
    )
    .await;
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains(basic_credential), "{shown}");
    assert!(
        shown.contains("bad credentials tripmail:***, header Basic ***, query key=***%21"),
        "{shown}"
    );
    let opts = format!("{:?}", options("http://127.0.0.1:1"));
    assert!(
        !opts.contains(KEY),
        "ContactOptions' Debug shows the key: {opts}"
    );
}

#[tokio::test]
async fn bad_json_of_either_kind_is_a_bad_json_error() {
    let truncated = fetch_error(
        ResponseTemplate::new(200).set_body_raw("[{\"id\": \"1\",", "application/json"),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(truncated, EngineError::BadJson(_)),
        "{truncated:?}"
    );
    let object = fetch_error(
        ResponseTemplate::new(200).set_body_json(json!({"recommendations": []})),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        object,
        EngineError::BadJson("expected a JSON array of items, got an object".into())
    );
    assert_eq!(object.reason(), "engine_bad_json");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let e = fetch_error(
        ResponseTemplate::new(200)
            .set_body_json(json!([]))
            .set_delay(Duration::from_secs(3)),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(e, EngineError::Timeout(200));
}

#[tokio::test]
async fn a_503_is_tried_again_and_the_second_answer_used() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([item(5, true, &[])])))
        .mount(&server)
        .await;
    let c = ContactClient::new(ContactOptions {
        limits: Limits {
            attempts: 2,
            retry_base: Duration::from_millis(10),
            ..Limits::default()
        },
        ..options(&server.uri())
    })
    .expect("client");
    let items = c
        .fetch(&query(IdentifyBy::Email, "a@example.com"))
        .await
        .expect("the second try answers");
    assert!(items[0].product_id.is(5));
    assert_eq!(received(&server).await.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The embedded engine's contact-recommendations endpoint.
// ---------------------------------------------------------------------------------------------

fn shipped_catalog() -> Catalog {
    Catalog::load(&root().join("fixtures/catalog.json")).expect("shipped catalog loads")
}

async fn embedded() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (addr, handle) = engine::spawn(Arc::new(shipped_catalog()), Some(Secret::new(KEY)))
        .await
        .expect("engine starts");
    (format!("http://{addr}"), handle)
}

async fn get(base: &str, pq: &str, auth: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}{pq}"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("engine answers");
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("JSON body");
    (status, body)
}

#[tokio::test]
async fn the_embedded_endpoint_wants_basic_auth_with_the_key_as_password() {
    let (base, handle) = embedded().await;
    let pq = format!("{RECOMS}/1244?email=a%40example.com&products=1111476");
    for auth in [
        None,
        Some(basic("any", "wrong")),
        Some(format!("Token {KEY}")),
    ] {
        let (status, body) = get(&base, &pq, auth.clone()).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("Basic")),
            "{body}"
        );
    }
    let (status, body) = get(&base, &pq, Some(basic("any-user", KEY))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.as_array().is_some_and(|a| !a.is_empty()), "{body}");
    handle.abort();
}

#[tokio::test]
async fn the_embedded_endpoint_refuses_a_request_without_identity_or_with_unknown_parameters() {
    let (base, handle) = embedded().await;
    let auth = || Some(basic("u", KEY));
    let (status, body) = get(&base, &format!("{RECOMS}/1244?products=1111476"), auth()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("contactId")),
        "{body}"
    );
    let (status, body) = get(&base, &format!("{RECOMS}/1244?contactId=abc"), auth()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(
        &base,
        &format!("{RECOMS}/1244?email=a%40b.c&offset=3"),
        auth(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("offset")),
        "{body}"
    );
    handle.abort();
}

#[tokio::test]
async fn embedded_answers_are_stable_per_contact_differ_between_contacts_and_include_out_of_stock_items(
) {
    let (base, handle) = embedded().await;
    let auth = || Some(basic("u", KEY));
    let ask = |who: &str| format!("{RECOMS}/1244?email={who}&products=1111476");
    let (_, a1) = get(&base, &ask("a%40example.com"), auth()).await;
    let (_, a2) = get(&base, &ask("a%40example.com"), auth()).await;
    assert_eq!(a1, a2, "the same contact gets the same answer");
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|i| i["id"].as_str().expect("id is a string").to_string())
            .collect()
    };
    let mut differ = false;
    let mut out_of_stock = 0;
    for who in ["b", "c", "d", "e", "f", "g"] {
        let (_, other) = get(&base, &ask(&format!("{who}%40example.com")), auth()).await;
        differ |= ids(&other) != ids(&a1);
        out_of_stock += other
            .as_array()
            .expect("array")
            .iter()
            .filter(|i| i["isInStock"] == json!(0))
            .count();
    }
    assert!(differ, "every contact got the same order");
    assert!(out_of_stock > 0, "no item out of stock in 6 answers");
    // The documented fields, and never a product that was passed.
    for i in a1.as_array().expect("array") {
        for field in ["id", "name", "url", "descr", "brand"] {
            assert!(i[field].is_string(), "{field} in {i}");
        }
        assert!(i["price"].is_f64() || i["price"].is_u64(), "{i}");
        assert!(i["category"].is_array() && i["isInStock"].is_i64(), "{i}");
        assert_ne!(i["id"], json!("1111476"));
        assert!(i["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://www.wanderly.example/products/")));
    }
    handle.abort();
}

// ---------------------------------------------------------------------------------------------
// Whole runs: the shipped campaign-yespo.toml on the embedded engine.
// ---------------------------------------------------------------------------------------------

fn run_yespo(out: &Path) -> Output {
    tripmail()
        .args([
            "run",
            "--config",
            "fixtures/campaign-yespo.toml",
            "--now",
            NOW,
            "--out",
        ])
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
    assert!(r["with_block"].as_u64().expect("with_block") >= 30, "{r}");

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
// Whole runs against a mock API.
// ---------------------------------------------------------------------------------------------

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids,customer_id,customer_phone,contact_id,web_id";

/// One confirmed Rome booking per row, due for the confirmation at NOW: `(booking_id, email,
/// children, travel_date, extra columns customer_id..web_id)`.
fn write_bookings(dir: &Path, rows: &[(&str, &str, u32, &str, &str)]) -> PathBuf {
    let mut text = format!("{HEADER}\n");
    for (id, email, children, date, extra) in rows {
        text.push_str(&format!(
            "{id},{email},Guest,en,1111476,Vatican Museums,Rome,{date},2026-12-09T10:00:00Z,2,{children},confirmed,true,,,1120315,{extra}\n"
        ));
    }
    let path = dir.join("bookings.csv");
    std::fs::write(&path, text).expect("bookings written");
    path
}

/// The shipped yespo config pointed at `base_url`, with `replace` pairs applied too.
fn mock_config(dir: &Path, base_url: &str, replace: &[(&str, &str)]) -> PathBuf {
    let url = format!("[engine.yespo]\nbase_url = \"{base_url}\"");
    let key = format!("api_key = \"{KEY}\"");
    let mut pairs = vec![
        ("[engine.yespo]\nbase_url = \"embedded\"", url.as_str()),
        ("# api_key = \"…\"", key.as_str()),
        ("timeout_ms = 2000", "timeout_ms = 300"),
    ];
    pairs.extend_from_slice(replace);
    config_from("fixtures/campaign-yespo.toml", dir, &pairs)
}

async fn run_binary(config: &Path, bookings: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = tripmail();
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .arg("--bookings")
        .arg(bookings)
        .args(["--campaign", "confirmation", "--now", NOW, "--out"])
        .arg(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("tripmail runs"))
        .await
        .expect("the run thread ends")
}

fn rules(e: &Value) -> Vec<String> {
    e["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r.as_str().expect("rule").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_failures_leave_the_block_out_and_the_run_going() {
    let server = MockServer::start().await;
    let answer = |who: &str, resp: ResponseTemplate| {
        Mock::given(method("GET"))
            .and(query_param("email", who))
            .respond_with(resp)
    };
    answer(
        "ok@example.com",
        ResponseTemplate::new(200).set_body_json(json!([
            item(9300001, false, &["indoor"]),
            item(9300002, true, &["outdoor"]),
            item(9300003, true, &["indoor"]),
            item(9300004, true, &[]),
        ])),
    )
    .mount(&server)
    .await;
    answer(
        "down@example.com",
        ResponseTemplate::new(500).set_body_string("oops"),
    )
    .mount(&server)
    .await;
    answer(
        "slow@example.com",
        ResponseTemplate::new(200)
            .set_body_json(json!([]))
            .set_delay(Duration::from_secs(5)),
    )
    .mount(&server)
    .await;
    answer(
        "bad@example.com",
        ResponseTemplate::new(200).set_body_raw("[{", "application/json"),
    )
    .mount(&server)
    .await;
    answer(
        "denied@example.com",
        ResponseTemplate::new(403).set_body_string("Forbidden: no access to data source 1244"),
    )
    .mount(&server)
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = mock_config(tmp.path(), &server.uri(), &[]);
    let rows: Vec<(&str, &str, u32, &str, &str)> = [
        ("Y-1", "ok@example.com"),
        ("Y-2", "down@example.com"),
        ("Y-3", "slow@example.com"),
        ("Y-4", "bad@example.com"),
        ("Y-5", "denied@example.com"),
    ]
    .iter()
    .map(|(id, email)| (*id, *email, 0, "2027-04-10", ",,,"))
    .collect();
    let bookings = write_bookings(tmp.path(), &rows);
    let out = tmp.path().join("out");
    let o = run_binary(&config, &bookings, &out, &[]).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Refused credentials (the 403) make the exit code 1: every email is still produced.
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let r = report(&out);
    assert_eq!(r["rendered"], json!(5), "{r}");
    assert_eq!(r["with_block"], json!(1), "{r}");
    assert_eq!(r["engine_refused"], json!(1), "{r}");
    assert_eq!(
        r["without_block"],
        json!({"engine_http_500": 1, "engine_timeout": 1, "engine_bad_json": 1, "engine_http_403": 1}),
        "{r}"
    );
    // The out-of-stock item ranked first is never shown; the rest follow in the API's order.
    let ok = email_record(&r, "Y-1");
    assert_eq!(
        ok["items"],
        json!(["9300002", "9300003", "9300004"]),
        "{ok}"
    );
    assert!(
        rules(ok).contains(&"excluded:out_of_stock".to_string()),
        "{ok}"
    );
    let html = std::fs::read_to_string(out.join("confirmation/Y-1.html")).expect("html");
    assert!(!html.contains("Item 9300001"));
    assert!(html.contains("Item 9300002"));
    for (booking, reason) in [
        ("Y-2", "engine_http_500"),
        ("Y-3", "engine_timeout"),
        ("Y-4", "engine_bad_json"),
        ("Y-5", "engine_http_403"),
    ] {
        let e = email_record(&r, booking);
        assert_eq!(e["without_block"], json!(reason), "{e}");
        assert!(rules(e).contains(&format!("engine_error:{reason}")), "{e}");
        assert!(out.join(format!("confirmation/{booking}.eml")).is_file());
    }
    // Each failure is reported once with what the API said, in the report and on stderr.
    assert_eq!(
        email_record(&r, "Y-5")["engine_error"],
        json!("yespo: HTTP 403: Forbidden: no access to data source 1244")
    );
    assert_eq!(
        r["engine_errors"],
        json!({
            "yespo: HTTP 403: Forbidden: no access to data source 1244": 1,
            "yespo: HTTP 500: oops": 1,
            "yespo: no answer within 300 ms": 1,
            "yespo: unexpected answer: EOF while parsing an object at line 1 column 2": 1,
        }),
        "{r}"
    );
    assert!(
        stderr.contains("tripmail: engine yespo: HTTP 403: Forbidden: no access to data source 1244 (1 email without a block)"),
        "{stderr}"
    );
}

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
async fn answers_are_cached_per_customer_and_the_key_goes_only_into_the_basic_header() {
    const SECRET: &str = "s3cr3t-yespo";
    let server = mock(
        ResponseTemplate::new(200)
            .set_body_json(json!([item(9300002, true, &[]), item(9300003, true, &[]),])),
    )
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = mock_config(tmp.path(), &server.uri(), &[]);
    // Two bookings of one customer for the same products, and one of another customer.
    let rows = [
        ("Y-1", "same@example.com", 0, "2027-04-10", ",,,"),
        ("Y-2", "same@example.com", 0, "2027-04-10", ",,,"),
        ("Y-3", "other@example.com", 0, "2027-04-10", ",,,"),
    ];
    let bookings = write_bookings(tmp.path(), &rows);
    let out = tmp.path().join("out");
    let o = run_binary(
        &config,
        &bookings,
        &out,
        &[
            ("TRIPMAIL_ENGINE__YESPO__API_KEY", SECRET),
            ("RUST_LOG", "trace"),
        ],
    )
    .await;
    succeeds(&o);
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 2, "one request per customer");
    let r = report(&out);
    assert_eq!(r["engine_requests"], json!(2), "{r}");
    assert_eq!(r["cache_hits"], json!(1), "{r}");
    for req in &reqs {
        assert_eq!(
            req.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(basic("tripmail", SECRET).as_str())
        );
    }
    let printed = format!(
        "{}{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        std::fs::read_to_string(out.join("report.json")).expect("report")
    );
    assert!(!printed.contains(SECRET), "the key was printed or written");
    let credential = basic("tripmail", SECRET);
    let credential = credential.trim_start_matches("Basic ");
    assert!(
        !printed.contains(credential),
        "the Basic credential was printed or written"
    );
}

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

// ---------------------------------------------------------------------------------------------
// Configuration: bad yespo settings stop the run before any email, naming the key.
// ---------------------------------------------------------------------------------------------

fn validate_yespo(replace: &[(&str, &str)], env: &[(&str, &str)]) -> Output {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_from("fixtures/campaign-yespo.toml", tmp.path(), replace);
    let mut cmd = tripmail();
    cmd.args(["validate", "--config"]).arg(&config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("tripmail runs")
}

#[test]
fn the_shipped_yespo_config_validates() {
    let o = validate_yespo(&[], &[]);
    succeeds(&o);
}

#[test]
fn bad_yespo_settings_are_named_by_key() {
    let section = "[engine.yespo]\nbase_url = \"embedded\"";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![(section, "[engine.yespo]\nbase_urls = \"embedded\"")],
            "unknown field `base_urls`",
        ),
        (
            vec![("identify_by = \"email\"", "identify_by = \"mail\"")],
            "engine.yespo.identify_by",
        ),
        (
            vec![("currency = \"EUR\"", "currency = \"euro\"")],
            "key `engine.yespo.currency`: \"euro\" is not an ISO 4217 code",
        ),
        (
            vec![("image_field = \"tags_image\"", "image_field = \"picture\"")],
            "key `engine.yespo.image_field`: \"picture\" is not a tags_* field name",
        ),
        (
            vec![(
                "family = \"tags_labels=family-friendly\"",
                "family = \"tags_labels=\"",
            )],
            "key `engine.yespo.tags.family`",
        ),
        (
            vec![(
                section,
                "[engine.yespo]\nbase_url = \"ftp://yespo.example\"",
            )],
            "key `engine.yespo.base_url`: must be an http or https URL",
        ),
        (
            vec![("data_source_id = 1245", "data_source_id = \"personal\"")],
            "campaign[1].data_source_id",
        ),
        (
            vec![("provider = \"yespo\"", "provider = \"tiqets\"")],
            "key `campaign[1].data_source_id`: only for campaigns whose provider is yespo",
        ),
        (
            vec![(section, "[engine.yespo]\nbase_url = \"http://yespo.example\"")],
            "key `engine.yespo.base_url`: must be https",
        ),
        (
            vec![(section, "[engine.yespo]\nbase_url = \"https://yespo.example\"")],
            "key `engine.yespo.api_key`: the API needs it (HTTP Basic password): set TRIPMAIL_ENGINE__YESPO__API_KEY",
        ),
        (
            vec![(section, "[engine.yespo]\nbase_url = \"embedded\"\nusername = \"a:b\"")],
            "key `engine.yespo.username`",
        ),
        (
            vec![("data_source_id = 1244", "data_source_id = 0")],
            "key `engine.yespo.data_source_id`: must be at least 1",
        ),
        (
            vec![("attempts = 2", "attempts = 0")],
            "key `engine.attempts`: 0 is not between 1 and 10",
        ),
    ];
    for (replace, needle) in cases {
        let o = validate_yespo(&replace, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{replace:?}: {err}");
        assert!(err.contains("campaign.toml"), "{replace:?}: {err}");
        assert!(
            err.contains(needle),
            "{replace:?}: expected {needle:?} in {err}"
        );
    }
}

#[test]
fn a_yespo_campaign_without_the_yespo_section_is_refused_naming_the_campaign() {
    // The shipped cross-sell config with its reminder switched to yespo.
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = crate::util::config_with(
        tmp.path(),
        &[(
            "trigger = \"reminder\"",
            "trigger = \"reminder\"\nprovider = \"yespo\"",
        )],
    );
    let o = tripmail()
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key `campaign[1].provider`: campaign reminder asks the yespo API, but there is no [engine.yespo] section"),
        "{err}"
    );
}

#[test]
fn an_empty_api_key_from_the_environment_is_refused() {
    let o = validate_yespo(&[], &[("TRIPMAIL_ENGINE__YESPO__API_KEY", "")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key `engine.yespo.api_key`: is empty"),
        "{err}"
    );
}

#[test]
fn campaigns_of_one_run_can_ask_different_apis() {
    // The yespo config with its confirmation asking the cross-sell engine (both embedded).
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_from(
        "fixtures/campaign-yespo.toml",
        tmp.path(),
        &[(
            "trigger = \"confirmation\"",
            "trigger = \"confirmation\"\nprovider = \"tiqets\"",
        )],
    );
    let out = tmp.path().join("out");
    let o = tripmail()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--now", NOW, "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    succeeds(&o);
    let r = report(&out);
    let mut seen = std::collections::BTreeSet::new();
    for e in r["emails"].as_array().expect("emails") {
        let want = if e["campaign"] == json!("confirmation") {
            "tiqets"
        } else {
            "yespo"
        };
        assert_eq!(e["provider"], json!(want), "{e}");
        seen.insert(want);
        // Cross-sell links are built from links.product_url, contact ones are the API's own.
        if e["without_block"].is_null() {
            let campaign = e["campaign"].as_str().expect("campaign");
            let booking = e["booking_id"].as_str().expect("booking");
            let html = std::fs::read_to_string(out.join(campaign).join(format!("{booking}.html")))
                .expect("html");
            assert_eq!(
                html.contains("?ref=recommendations"),
                want == "yespo",
                "{booking}"
            );
        }
    }
    assert_eq!(seen.len(), 2, "both providers asked");
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

#[test]
fn the_engine_url_flag_is_refused_when_no_campaign_asks_the_cross_sell_engine() {
    let o = tripmail()
        .args([
            "run",
            "--config",
            "fixtures/campaign-yespo.toml",
            "--now",
            NOW,
        ])
        .args(["--engine-url", "http://127.0.0.1:9", "--out"])
        .arg(tempfile::tempdir().expect("temp dir").path())
        .output()
        .expect("runs");
    crate::util::fails_with(
        &o,
        "key `engine.base_url`: --engine-url names the cross-sell engine, which no campaign asks",
    );
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
