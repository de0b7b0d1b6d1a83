//! Whole runs of the binary against mock recommendation APIs, each campaign asking its own: an API
//! that fails (an error status, a timeout, bad JSON, refused credentials) leaves the block out and
//! the run going, a question asked twice is answered from the cache, the key is sent but never
//! printed or written; and one run whose campaigns ask different APIs.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::contact_api::{self as contact, basic, item, rules};
use crate::util::{
    config_from, config_with, email_record, mock, path_and_query, received, report, run_cmd,
    succeeds, tripmail, NOW,
};

// ---------------------------------------------------------------------------------------------
// The cross-sell API.
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
    let mut cmd = run_cmd(config, bookings);
    cmd.args(["--engine-url", engine_url, "--now", NOW, "--out"])
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
                // The shipped config sends the language (engine.language_param).
                "{}?sort_by=commission&max_per_experience=1&lang=en",
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

// ---------------------------------------------------------------------------------------------
// The contact-recommendations API.
// ---------------------------------------------------------------------------------------------

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
    let config = contact::mock_config(tmp.path(), &server.uri(), &[]);
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
    let bookings = contact::write_bookings(tmp.path(), &rows);
    let out = tmp.path().join("out");
    let o = contact::run_binary(&config, &bookings, &out, &[]).await;
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
async fn answers_are_cached_per_customer_and_the_key_goes_only_into_the_basic_header() {
    const SECRET: &str = "s3cr3t-yespo";
    let server = mock(
        ResponseTemplate::new(200)
            .set_body_json(json!([item(9300002, true, &[]), item(9300003, true, &[]),])),
    )
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = contact::mock_config(tmp.path(), &server.uri(), &[]);
    // Two bookings of one customer for the same products, and one of another customer.
    let rows = [
        ("Y-1", "same@example.com", 0, "2027-04-10", ",,,"),
        ("Y-2", "same@example.com", 0, "2027-04-10", ",,,"),
        ("Y-3", "other@example.com", 0, "2027-04-10", ",,,"),
    ];
    let bookings = contact::write_bookings(tmp.path(), &rows);
    let out = tmp.path().join("out");
    let o = contact::run_binary(
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

// ---------------------------------------------------------------------------------------------
// Both.
// ---------------------------------------------------------------------------------------------

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
