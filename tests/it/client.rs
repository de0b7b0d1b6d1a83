//! The cross-sell client against a wiremock server on 127.0.0.1: the exact request it sends for each
//! list format, its headers, the documented answer, its failures, and that the API key never shows in
//! an error. Then whole runs of the binary against a mock engine that fails in different ways.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::json;
use tripmail::config::{ListFormat, Secret, SortBy};
use tripmail::recommend::{
    ClientOptions, CrossSellClient, EngineError, Limits, Query, Recommendation,
    RecommendationSource,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::util::{
    config_with, email_record, mock, path_and_query, received, report, tripmail, NOW,
};

const KEY: &str = "k3y-for-tests";

fn options(base_url: &str, list_format: ListFormat) -> ClientOptions {
    ClientOptions {
        base_url: base_url.to_string(),
        api_key: Some(Secret::new(KEY)),
        limits: Limits {
            timeout: Duration::from_secs(5),
            max_concurrency: 4,
            ..Limits::default()
        },
        list_format,
    }
}

fn client(base_url: &str, list_format: ListFormat) -> CrossSellClient {
    CrossSellClient::new(options(base_url, list_format)).expect("client builds")
}

fn query(tag_ids: &[u64], exclude_ids: &[u64]) -> Query {
    Query {
        product_id: 1111476,
        sort_by: SortBy::Commission,
        tag_ids: tag_ids.to_vec(),
        exclude_ids: exclude_ids.to_vec(),
    }
}

fn empty_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"recommendations": []}))
}

/// Sends `q` with `format` and returns the one request the server received.
async fn sent(format: ListFormat, q: &Query) -> Request {
    let server = mock(empty_answer()).await;
    let c = client(&server.uri(), format);
    let answer = c.fetch(q).await.expect("an empty answer is fine");
    assert!(answer.is_empty());
    let mut reqs = received(&server).await;
    assert_eq!(reqs.len(), 1, "one request per fetch");
    let req = reqs.remove(0);
    assert_eq!(req.method.as_str(), "GET");
    // What the client says it asks for is what went over the wire.
    assert_eq!(path_and_query(&req), c.path_and_query(q));
    req
}

const BASE: &str =
    "/v2/products/1111476/recommendations/cross-sell?sort_by=commission&max_per_experience=1";

#[tokio::test]
async fn brackets_format_sends_the_lists_in_square_brackets_unencoded() {
    let req = sent(ListFormat::Brackets, &query(&[442, 443], &[1106279])).await;
    assert_eq!(
        path_and_query(&req),
        format!("{BASE}&product_tag_ids=[442,443]&exclude_product_ids=[1106279]")
    );
}

#[tokio::test]
async fn comma_format_sends_the_lists_comma_separated() {
    let req = sent(ListFormat::Comma, &query(&[442, 443], &[1106279])).await;
    assert_eq!(
        path_and_query(&req),
        format!("{BASE}&product_tag_ids=442,443&exclude_product_ids=1106279")
    );
}

#[tokio::test]
async fn repeat_format_sends_one_key_per_id() {
    let req = sent(ListFormat::Repeat, &query(&[442, 443], &[1106279])).await;
    assert_eq!(
        path_and_query(&req),
        format!("{BASE}&product_tag_ids=442&product_tag_ids=443&exclude_product_ids=1106279")
    );
}

#[tokio::test]
async fn empty_lists_are_left_out_of_the_query_string_in_every_format() {
    for format in [ListFormat::Brackets, ListFormat::Comma, ListFormat::Repeat] {
        let req = sent(format, &query(&[], &[])).await;
        assert_eq!(path_and_query(&req), BASE, "{format:?}");
    }
    let req = sent(ListFormat::Brackets, &query(&[], &[1106279])).await;
    assert_eq!(
        path_and_query(&req),
        format!("{BASE}&exclude_product_ids=[1106279]")
    );
    let req = sent(ListFormat::Repeat, &query(&[443], &[])).await;
    assert_eq!(path_and_query(&req), format!("{BASE}&product_tag_ids=443"));
}

#[tokio::test]
async fn the_sort_order_is_sent_as_its_snake_case_name() {
    for (sort_by, name) in [
        (SortBy::Balanced, "balanced"),
        (SortBy::ConversionRate, "conversion_rate"),
        (SortBy::Commission, "commission"),
    ] {
        let q = Query {
            sort_by,
            ..query(&[], &[])
        };
        let req = sent(ListFormat::Brackets, &q).await;
        assert_eq!(
            path_and_query(&req),
            format!(
                "/v2/products/1111476/recommendations/cross-sell?sort_by={name}&max_per_experience=1"
            )
        );
    }
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_gives_the_same_path() {
    let server = mock(empty_answer()).await;
    let c = client(&format!("{}/", server.uri()), ListFormat::Brackets);
    c.fetch(&query(&[], &[])).await.expect("answer");
    let reqs = received(&server).await;
    assert_eq!(path_and_query(&reqs[0]), BASE);
}

#[tokio::test]
async fn requests_carry_the_token_accept_and_user_agent_headers() {
    let req = sent(ListFormat::Brackets, &query(&[442], &[])).await;
    let header = |name: &str| {
        req.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ASCII header")
            .to_string()
    };
    assert_eq!(header("authorization"), format!("Token {KEY}"));
    assert_eq!(header("accept"), "application/json");
    let ua = header("user-agent");
    assert!(ua.starts_with("tripmail/"), "User-Agent {ua:?}");
    assert_eq!(req.headers.get_all("authorization").iter().count(), 1);
}

#[tokio::test]
async fn without_an_api_key_no_authorization_header_is_sent() {
    let server = mock(empty_answer()).await;
    let c = CrossSellClient::new(ClientOptions {
        api_key: None,
        ..options(&server.uri(), ListFormat::Brackets)
    })
    .expect("client");
    c.fetch(&query(&[], &[])).await.expect("answer");
    let reqs = received(&server).await;
    assert!(reqs[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn the_documented_answer_is_parsed_filters_and_all() {
    let body = json!({
        "filters": {
            "exclude_product_ids": [1106279],
            "product_tag_ids": [442, 443],
            "max_per_experience": 1
        },
        "recommendations": [
            {
                "product_id": 1120315,
                "title": "Colosseum, Roman Forum & Palatine Hill Guided Tour",
                "image_url": "https://images.wanderly.example/products/1120315.jpg",
                "from_price": {"amount": 59.0, "currency": "EUR"}
            },
            {
                "product_id": 1190027,
                "title": "Pompeii & Amalfi Coast Day Trip from Rome",
                "image_url": "https://images.wanderly.example/products/1190027.jpg",
                "from_price": {"amount": 139.5, "currency": "EUR"},
                "url": "https://partner.example/p/1190027"
            }
        ]
    });
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/products/1111476/recommendations/cross-sell"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    let c = client(&server.uri(), ListFormat::Brackets);
    let recs = c
        .fetch(&query(&[442, 443], &[1106279]))
        .await
        .expect("the documented answer parses");
    let want: Vec<Recommendation> =
        serde_json::from_value(body["recommendations"].clone()).expect("recommendations");
    assert_eq!(recs, want);
    assert_eq!(recs[0].url, None);
    assert_eq!(recs[1].from_price.amount, 139.5);
    assert_eq!(recs[1].from_price.currency, "EUR");
    assert_eq!(
        recs[1].url.as_deref(),
        Some("https://partner.example/p/1190027")
    );
}

async fn fetch_error(base_url: &str, timeout: Duration) -> EngineError {
    let c = CrossSellClient::new(ClientOptions {
        limits: Limits {
            timeout,
            ..Limits::default()
        },
        ..options(base_url, ListFormat::Brackets)
    })
    .expect("client");
    c.fetch(&query(&[442], &[]))
        .await
        .expect_err("the fetch fails")
}

#[tokio::test]
async fn a_500_is_a_status_error_with_the_start_of_the_body() {
    let server = mock(ResponseTemplate::new(500).set_body_string("engine on fire")).await;
    let e = fetch_error(&server.uri(), Duration::from_secs(5)).await;
    assert_eq!(
        e,
        EngineError::Status {
            status: 500,
            body: "engine on fire".into()
        }
    );
    assert_eq!(e.reason(), "engine_http_500");
}

#[tokio::test]
async fn a_long_error_body_is_cut_to_200_characters() {
    let long = "é".repeat(500);
    let server = mock(ResponseTemplate::new(502).set_body_string(long)).await;
    let e = fetch_error(&server.uri(), Duration::from_secs(5)).await;
    let EngineError::Status { status, body } = e else {
        panic!("not a status error: {e:?}");
    };
    assert_eq!(status, 502);
    assert_eq!(body, format!("{}…", "é".repeat(200)));
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_timeout_error() {
    let server = mock(empty_answer().set_delay(Duration::from_secs(3))).await;
    let e = fetch_error(&server.uri(), Duration::from_millis(200)).await;
    assert_eq!(e, EngineError::Timeout(200));
    assert_eq!(e.reason(), "engine_timeout");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_bad_json_error() {
    let server = mock(
        ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "application/json"),
    )
    .await;
    let e = fetch_error(&server.uri(), Duration::from_secs(5)).await;
    assert!(matches!(e, EngineError::BadJson(_)), "{e:?}");
    assert_eq!(e.reason(), "engine_bad_json");
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_bad_json_error() {
    for body in [
        json!({"items": []}),
        json!({"recommendations": [{"product_id": "one"}]}),
        json!([]),
    ] {
        let server = mock(ResponseTemplate::new(200).set_body_json(body.clone())).await;
        let e = fetch_error(&server.uri(), Duration::from_secs(5)).await;
        assert!(matches!(e, EngineError::BadJson(_)), "{body}: {e:?}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_an_unreachable_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let e = fetch_error(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5)).await;
    assert!(matches!(e, EngineError::Unreachable(_)), "{e:?}");
    assert_eq!(e.reason(), "engine_unreachable");
}

#[tokio::test]
async fn the_api_key_appears_in_no_engine_error_display_or_debug() {
    let mut errors = Vec::new();
    let refused =
        mock(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid token"}))).await;
    errors.push(fetch_error(&refused.uri(), Duration::from_secs(5)).await);
    let failing = mock(ResponseTemplate::new(500).set_body_string("boom")).await;
    errors.push(fetch_error(&failing.uri(), Duration::from_secs(5)).await);
    let slow = mock(empty_answer().set_delay(Duration::from_secs(3))).await;
    errors.push(fetch_error(&slow.uri(), Duration::from_millis(200)).await);
    let garbled = mock(ResponseTemplate::new(200).set_body_string("not json")).await;
    errors.push(fetch_error(&garbled.uri(), Duration::from_secs(5)).await);
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    errors.push(fetch_error(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5)).await);

    assert!(
        matches!(errors[0], EngineError::Status { status: 401, .. }),
        "{:?}",
        errors[0]
    );
    // The 401 did reach the server with the key: the key was sent, just never shown.
    let reqs = received(&refused).await;
    assert_eq!(
        reqs[0].headers.get("authorization").map(|v| v.as_bytes()),
        Some(format!("Token {KEY}").as_bytes())
    );
    for e in &errors {
        let shown = format!("{e} {e:?} {}", e.reason());
        assert!(!shown.contains(KEY), "the key leaks: {shown}");
        assert!(!shown.contains("k3y"), "part of the key leaks: {shown}");
    }

    let secret = format!("{:?}", Secret::new("k3y"));
    assert!(!secret.contains("k3y"), "{secret}");
    let opts = format!("{:?}", options("http://127.0.0.1:1", ListFormat::Brackets));
    assert!(
        !opts.contains(KEY),
        "ClientOptions' Debug shows the key: {opts}"
    );
}

// ---------------------------------------------------------------------------------------------
// Whole runs of the binary against a mock engine.
// ---------------------------------------------------------------------------------------------

const OK_PRODUCT: u64 = 9100001;
const HTTP_503_PRODUCT: u64 = 9100002;
const SLOW_PRODUCT: u64 = 9100003;
const BAD_JSON_PRODUCT: u64 = 9100004;

fn product_path(id: u64) -> String {
    format!("/v2/products/{id}/recommendations/cross-sell")
}

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

/// A bookings CSV: one confirmed Rome booking per `(booking_id, product_id)`, booked within the
/// confirmation window at NOW and travelling in spring (no season preference, no family), so each
/// booking asks the engine exactly one unfiltered question.
fn write_bookings(dir: &Path, rows: &[(&str, u64)]) -> std::path::PathBuf {
    let mut text = format!("{HEADER}\n");
    for (id, product) in rows {
        text.push_str(&format!(
            "{id},guest.{id}@example.com,Guest,en,{product},Product {product},Rome,2027-04-10,2026-12-09T10:00:00Z,2,0,confirmed,true,,,\n"
        ));
    }
    let path = dir.join("bookings.csv");
    std::fs::write(&path, text).expect("bookings written");
    path
}

/// A mock engine: the OK product answers 3 recommendations, the others fail as named.
async fn faulty_engine() -> MockServer {
    let server = MockServer::start().await;
    let rec = |id: u64, amount: f64| {
        json!({
            "product_id": id,
            "title": format!("Extra {id}"),
            "image_url": format!("https://images.wanderly.example/products/{id}.jpg"),
            "from_price": {"amount": amount, "currency": "EUR"}
        })
    };
    Mock::given(method("GET"))
        .and(path(product_path(OK_PRODUCT)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "filters": {"exclude_product_ids": [], "product_tag_ids": [], "max_per_experience": 1},
            "recommendations": [rec(9200001, 30.0), rec(9200002, 20.0), rec(9200003, 10.0)]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(product_path(HTTP_503_PRODUCT)))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": "down", "status": 503})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(product_path(SLOW_PRODUCT)))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"recommendations": []}))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(product_path(BAD_JSON_PRODUCT)))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"recommendations\": [", "application/json"),
        )
        .mount(&server)
        .await;
    server
}

/// Runs the binary off the async runtime's threads, so the mock keeps answering meanwhile.
async fn run_binary(mut cmd: assert_cmd::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("tripmail runs"))
        .await
        .expect("the run thread ends")
}

fn run_command(
    config: &Path,
    bookings: &Path,
    engine_url: &str,
    out: &Path,
) -> assert_cmd::Command {
    let mut cmd = tripmail();
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .arg("--bookings")
        .arg(bookings)
        .args(["--engine-url", engine_url, "--now", NOW, "--out"])
        .arg(out);
    cmd
}

const FOUR: [(&str, u64); 4] = [
    ("TM-1", OK_PRODUCT),
    ("TM-2", HTTP_503_PRODUCT),
    ("TM-3", SLOW_PRODUCT),
    ("TM-4", BAD_JSON_PRODUCT),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_failures_leave_the_block_out_but_never_fail_the_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = faulty_engine().await;
    let config = config_with(tmp.path(), &[("timeout_ms = 2000", "timeout_ms = 300")]);
    let bookings = write_bookings(tmp.path(), &FOUR);
    let out = tmp.path().join("out");
    let output = run_binary(run_command(&config, &bookings, &server.uri(), &out)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");

    let r = report(&out);
    assert_eq!(r["due"], json!(4), "{r}");
    assert_eq!(r["rendered"], json!(4), "{r}");
    assert_eq!(r["with_block"], json!(1), "{r}");
    assert_eq!(
        r["without_block"],
        json!({"engine_http_503": 1, "engine_timeout": 1, "engine_bad_json": 1}),
        "{r}"
    );
    assert_eq!(r["failed"], json!([]), "{r}");
    assert_eq!(r["skipped_rows"], json!([]), "{r}");
    assert_eq!(r["engine_requests"], json!(4), "{r}");
    assert_eq!(r["cache_hits"], json!(0), "{r}");

    assert_eq!(
        email_record(&r, "TM-1")["items"],
        json!([9200001, 9200002, 9200003])
    );
    for (booking, reason) in [
        ("TM-2", "engine_http_503"),
        ("TM-3", "engine_timeout"),
        ("TM-4", "engine_bad_json"),
    ] {
        let e = email_record(&r, booking);
        assert_eq!(e["without_block"], json!(reason), "{e}");
        assert_eq!(e["items"], json!([]), "{e}");
        let rule = format!("engine_error:{reason}");
        assert!(
            e["rules"].as_array().expect("rules").contains(&json!(rule)),
            "{e}"
        );
    }
    for (booking, _) in FOUR {
        let eml = out.join("confirmation").join(format!("{booking}.eml"));
        assert!(eml.is_file(), "{} missing", eml.display());
        assert!(std::fs::metadata(&eml).expect("eml").len() > 0);
    }
    // The email with the block shows the engine's items; the others do not mention them.
    let with = std::fs::read_to_string(out.join("confirmation/TM-1.html")).expect("TM-1.html");
    assert!(with.contains("Extra 9200001"), "TM-1 has no block");
    let without = std::fs::read_to_string(out.join("confirmation/TM-2.html")).expect("TM-2.html");
    assert!(!without.contains("Extra 92000"), "TM-2 shows items");

    // Each product was asked once, unfiltered, with the brackets format's query string; the 503
    // was tried twice (engine.attempts = 2), the timeout and the bad JSON once (not temporary).
    let reqs = received(&server).await;
    let mut asked: Vec<String> = reqs.iter().map(path_and_query).collect();
    asked.sort();
    let mut want: Vec<String> = FOUR
        .iter()
        .chain(&[("TM-2 again", HTTP_503_PRODUCT)])
        .map(|(_, p)| {
            format!(
                "{}?sort_by=commission&max_per_experience=1",
                product_path(*p)
            )
        })
        .collect();
    want.sort();
    assert_eq!(asked, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_booking_for_the_same_product_is_answered_from_the_cache() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = faulty_engine().await;
    let config = config_with(tmp.path(), &[("timeout_ms = 2000", "timeout_ms = 300")]);
    let mut rows = FOUR.to_vec();
    rows.push(("TM-5", OK_PRODUCT));
    let bookings = write_bookings(tmp.path(), &rows);
    let out = tmp.path().join("out");
    let output = run_binary(run_command(&config, &bookings, &server.uri(), &out)).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let r = report(&out);
    assert_eq!(r["rendered"], json!(5), "{r}");
    assert_eq!(r["with_block"], json!(2), "{r}");
    assert_eq!(r["engine_requests"], json!(4), "{r}");
    assert!(r["cache_hits"].as_u64().expect("cache_hits") >= 1, "{r}");
    assert_eq!(
        email_record(&r, "TM-5")["items"],
        email_record(&r, "TM-1")["items"]
    );
    assert!(out.join("confirmation/TM-5.eml").is_file());

    let reqs = received(&server).await;
    let ok_path = product_path(OK_PRODUCT);
    let for_ok = reqs.iter().filter(|r| r.url.path() == ok_path).count();
    assert_eq!(for_ok, 1, "the OK product was asked {for_ok} times");
    assert_eq!(reqs.len(), 5, "4 products, and the 503 tried twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_from_the_environment_is_sent_but_never_written_or_printed() {
    const SECRET: &str = "s3cr3t-value";
    let tmp = tempfile::tempdir().expect("temp dir");
    let server =
        mock(ResponseTemplate::new(401).set_body_json(json!({"error": "bad token"}))).await;
    let config = config_with(tmp.path(), &[]);
    let bookings = write_bookings(
        tmp.path(),
        &[("TM-1", OK_PRODUCT), ("TM-2", HTTP_503_PRODUCT)],
    );
    let out = tmp.path().join("out");
    let mut cmd = run_command(&config, &bookings, &server.uri(), &out);
    // Warnings on: the engine errors are logged, and must not carry the key either.
    cmd.env("TRIPMAIL_ENGINE__API_KEY", SECRET)
        .env("RUST_LOG", "debug");
    let output = run_binary(cmd).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // The engine refused the key: a configuration problem, exit code 1 (every email still made).
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");

    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        assert_eq!(
            req.headers.get("authorization").map(|v| v.as_bytes()),
            Some(format!("Token {SECRET}").as_bytes())
        );
    }

    let r = report(&out);
    assert_eq!(r["without_block"], json!({"engine_http_401": 2}), "{r}");
    // The run did log the engine's refusal, so the check below looks at real log output.
    assert!(stderr.contains("401"), "no engine error logged: {stderr}");

    let report_json = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let index = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("report.json", &report_json),
        ("index.html", &index),
    ] {
        assert!(!text.contains(SECRET), "the key leaks into {what}: {text}");
    }
    // Nor in any other file written.
    let mut dirs = vec![out.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read out dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read file");
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(SECRET),
                    "the key leaks into {}",
                    p.display()
                );
            }
        }
    }
}
