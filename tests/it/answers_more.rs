//! More of what tripmail does with an engine's answers: redirects followed only where the key and
//! the customer may go (https, or http on loopback), and the key hidden in the further encodings
//! an error body was seen to echo it in (HTML entities, escapes layered or mixed, hex, base64 of
//! its percent-encoding), through the real binary.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use tripmail::config::{ListFormat, Secret, SortBy};
use tripmail::recommend::{
    ClientOptions, CrossSellClient, EngineError, Limits, Query, RecommendationSource,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{config_with, received, report, tripmail, NOW};

/// A key with the characters encoders treat differently: `/` and `+`.
const KEY: &str = "live/Xk29/ab+cd";

/// A timeout far longer than any refusal takes, and tries enough to see one that is retried.
fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(5),
        attempts: 3,
        retry_base: Duration::from_millis(1),
        ..Limits::default()
    }
}

fn query() -> Query {
    Query {
        product_id: 1111476,
        sort_by: SortBy::Commission,
        tag_ids: Vec::new(),
        exclude_ids: Vec::new(),
        lang: None,
    }
}

async fn fetch(base_url: &str) -> Result<Vec<tripmail::recommend::Recommendation>, EngineError> {
    CrossSellClient::new(ClientOptions {
        base_url: base_url.to_string(),
        api_key: Some(Secret::new(KEY)),
        limits: limits(),
        list_format: ListFormat::Brackets,
        language_param: None,
    })
    .expect("client builds")
    .fetch(&query())
    .await
}

/// A server on 127.0.0.1 answering every GET with a 302 to `location`.
async fn redirecting_to(location: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", location))
        .mount(&server)
        .await;
    server
}

// ---------------------------------------------------------------------------------------------
// Redirects.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_redirect_to_clear_text_beyond_loopback_is_refused_before_connecting_and_not_retried() {
    // TEST-NET-1: nothing answers there; a client that tried would wait out its timeout.
    let server = redirecting_to("http://192.0.2.1:9/x?email=guest%40example.com").await;
    let started = Instant::now();
    let e = fetch(&server.uri())
        .await
        .expect_err("the redirect is refused");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{e:?} after {:?}",
        started.elapsed()
    );
    assert_eq!(
        e.to_string(),
        "redirect to http://192.0.2.1:9 refused: clear text beyond loopback"
    );
    assert_eq!(e.reason(), "engine_redirect_refused");
    // A configuration to fix, not a failure that passes: no waiting for the next tick.
    assert!(!e.is_transient(), "{e:?}");
    assert_eq!(received(&server).await.len(), 1, "tried again: {e:?}");
}

#[tokio::test]
async fn a_redirect_to_another_loopback_server_or_to_https_is_not_refused() {
    let target = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recommendations": []})))
        .mount(&target)
        .await;
    let port = target.address().port();
    for host in ["127.0.0.1", "localhost"] {
        let server = redirecting_to(&format!("http://{host}:{port}/elsewhere")).await;
        assert_eq!(fetch(&server.uri()).await, Ok(Vec::new()), "{host}");
    }
    assert_eq!(received(&target).await.len(), 2);
    // https is followed: nothing listens on port 9, so the failure is reaching it, not a refusal.
    let server = redirecting_to("https://127.0.0.1:9/x").await;
    let e = fetch(&server.uri()).await.expect_err("nothing listens");
    assert_eq!(e.reason(), "engine_unreachable", "{e:?}");
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_hops_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/v2/loop"))
        .mount(&server)
        .await;
    let e = fetch(&server.uri()).await.expect_err("the loop is cut");
    assert_eq!(e.to_string(), "redirect refused: more than 5 in a row");
    assert_eq!(e.reason(), "engine_redirect_refused");
    assert!(!e.is_transient(), "{e:?}");
    // The first request and five redirects followed.
    assert_eq!(received(&server).await.len(), 6);
}

#[tokio::test]
async fn a_redirect_to_another_scheme_is_refused() {
    let server = redirecting_to("ftp://127.0.0.1/key").await;
    let e = fetch(&server.uri()).await.expect_err("refused");
    assert_eq!(e.to_string(), "redirect to a ftp: URL refused: not http(s)");
}

// ---------------------------------------------------------------------------------------------
// The key hidden in every echo, through the binary.
// ---------------------------------------------------------------------------------------------

/// The echoes that reached stderr and `report.json` unmasked, each with its own product.
fn echoes() -> Vec<(u64, &'static str, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let hex: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
    vec![
        (9200001, "html hex", "live&#x2F;Xk29&#x2F;ab&#x2B;cd".into()),
        (
            9200002,
            "html decimal",
            "live&#47;Xk29&#47;ab&#43;cd".into(),
        ),
        (9200003, "html named", "live&sol;Xk29&sol;ab&plus;cd".into()),
        (
            9200004,
            "json then percent",
            "live%5C%2FXk29%5C%2Fab%2Bcd".into(),
        ),
        (
            9200005,
            "json and percent mixed",
            r"live\/Xk29%2Fab+cd".into(),
        ),
        (
            9200006,
            "percent twice",
            "live%252FXk29%252Fab%252Bcd".into(),
        ),
        (
            9200007,
            "base64 of percent",
            b64.encode("live%2FXk29%2Fab%2Bcd"),
        ),
        (9200008, "hex", hex.clone()),
        (9200009, "HEX", hex.to_uppercase()),
        (9200010, "raw", KEY.into()),
    ]
}

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_echoing_the_key_in_any_of_the_seen_encodings_shows_it_nowhere() {
    let server = MockServer::start().await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut rows = format!("{HEADER}\n");
    for (product, _, echo) in echoes() {
        let body = format!("{{\"error\":\"invalid token {echo}\"}}");
        Mock::given(path(format!(
            "/v2/products/{product}/recommendations/cross-sell"
        )))
        .respond_with(ResponseTemplate::new(403).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
        rows.push_str(&format!(
            "TM-{product},guest.{product}@example.com,Guest,en,{product},Product {product},Rome,2027-04-10,2026-12-09T10:00:00Z,2,0,confirmed,true,,,\n"
        ));
    }
    let bookings = tmp.path().join("bookings.csv");
    std::fs::write(&bookings, rows).expect("bookings written");
    let config = config_with(tmp.path(), &[]);
    let out = tmp.path().join("out");
    let mut cmd = tripmail();
    cmd.args(["run", "--config"])
        .arg(&config)
        .arg("--bookings")
        .arg(&bookings)
        .args(["--engine-url", &server.uri(), "--now", NOW, "--out"])
        .arg(&out)
        .env("TRIPMAIL_ENGINE__API_KEY", KEY);
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("tripmail runs"))
        .await
        .expect("the run thread ends");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    // Refused credentials: every email made, exit 1.
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(received(&server).await.len(), echoes().len());
    let r = report(&out);
    assert_eq!(
        r["without_block"],
        json!({"engine_http_403": echoes().len()}),
        "{r}"
    );
    // The bodies were shown, only the key is gone.
    assert!(stderr.contains("invalid token ***"), "{stderr}");
    let report_json = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    assert!(report_json.contains("invalid token ***"), "{report_json}");
    for (what, text) in [("stderr", &stderr), ("report.json", &report_json)] {
        let lower = text.to_lowercase();
        assert!(!lower.contains("xk29"), "the key leaks into {what}: {text}");
        for (_, form, echo) in echoes() {
            assert!(!text.contains(&echo), "{form} leaks into {what}: {text}");
        }
    }
}
