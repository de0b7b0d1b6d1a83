//! What tripmail takes from a recommendation API's answers, and what it sends: answers read up to
//! a cap (an endless one included), the key hidden in every encoding an error body can echo it in,
//! no clear text to a remote engine, and the wait a `Retry-After` asks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tripmail::config::{ListFormat, Secret, SortBy, YespoTags};
use tripmail::recommend::{
    ClientOptions, ContactClient, ContactOptions, ContactQuery, CrossSellClient, EngineError,
    ItemFormat, Limits, Query, RecommendationSource,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{
    config_with, fails_with, mock, received, report, stderr, succeeds, tripmail, NOW,
};

/// A key with the characters encoders treat differently: `/` and `+`.
const KEY: &str = "live/Xk29/ab+cd";

fn limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        max_concurrency: 4,
        ..Limits::default()
    }
}

fn cross_sell(base_url: &str, limits: Limits) -> CrossSellClient {
    CrossSellClient::new(ClientOptions {
        base_url: base_url.to_string(),
        api_key: Some(Secret::new(KEY)),
        limits,
        list_format: ListFormat::Brackets,
        language_param: None,
    })
    .expect("client builds")
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

async fn fetch_error(base_url: &str, limits: Limits) -> EngineError {
    cross_sell(base_url, limits)
        .fetch(&query())
        .await
        .expect_err("the fetch fails")
}

// ---------------------------------------------------------------------------------------------
// Answers read up to a cap.
// ---------------------------------------------------------------------------------------------

/// How a hand-made server answers after the status line.
#[derive(Clone, Copy)]
enum Endless {
    /// Chunks of JSON-looking bytes, forever.
    Chunked,
    /// A `Content-Length` of 1 GB, then silence.
    Announced,
}

/// A server on 127.0.0.1 answering every request with a 200 that never ends; returns its URL and
/// the most bytes of body it managed to write to one connection before the client hung up.
async fn endless_server(kind: Endless) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let most = Arc::new(AtomicU64::new(0));
    let most_written = most.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let most = most_written.clone();
            tokio::spawn(async move {
                // The request's headers: read until the blank line.
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = match kind {
                    Endless::Chunked => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                    Endless::Announced => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n",
                };
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                match kind {
                    Endless::Chunked => {
                        let data = "{\"recommendations\":[".repeat(64 * 1024 / 20);
                        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
                        let mut written = 0u64;
                        while socket.write_all(chunk.as_bytes()).await.is_ok() {
                            written += data.len() as u64;
                            most.fetch_max(written, Ordering::Relaxed);
                            // Slow enough that a client reading everything stays small in the
                            // seconds its timeout gives it.
                            tokio::time::sleep(Duration::from_micros(500)).await;
                        }
                    }
                    Endless::Announced => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                }
            });
        }
    });
    (url, most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_fails_as_too_large_and_is_not_read_further() {
    let (url, written) = endless_server(Endless::Chunked).await;
    let e = fetch_error(&url, limits(Duration::from_secs(3))).await;
    assert_eq!(e.reason(), "engine_answer_too_large", "{e:?}");
    assert!(!e.is_transient(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "answer larger than 1048576 bytes (engine.max_answer_bytes)"
    );
    // Once the client hangs up the server cannot write more than the sockets' buffers hold.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = written.load(Ordering::Relaxed);
    assert!(sent < 32 << 20, "the server wrote {sent} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_announcing_more_than_the_cap_fails_before_its_body_comes() {
    let (url, _) = endless_server(Endless::Announced).await;
    let e = fetch_error(&url, limits(Duration::from_secs(3))).await;
    assert_eq!(e.reason(), "engine_answer_too_large", "{e:?}");
}

#[tokio::test]
async fn an_answer_within_the_cap_is_read_whole_and_one_byte_more_is_refused() {
    let body = json!({"recommendations": [], "padding": "x".repeat(1000)}).to_string();
    let server =
        mock(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json")).await;
    let exact = Limits {
        max_answer_bytes: body.len(),
        ..limits(Duration::from_secs(5))
    };
    let answer = cross_sell(&server.uri(), exact.clone())
        .fetch(&query())
        .await;
    assert_eq!(answer, Ok(Vec::new()));
    let short = Limits {
        max_answer_bytes: body.len() - 1,
        ..exact
    };
    let e = fetch_error(&server.uri(), short).await;
    assert_eq!(e, EngineError::TooLarge(body.len() - 1));
}

#[test]
fn an_answer_cap_of_zero_or_past_256_mib_is_refused_naming_the_key() {
    for (cap, shown) in [("0", "0"), ("268435457", "268435457")] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let config = config_with(
            tmp.path(),
            &[(
                "timeout_ms = 2000",
                &format!("timeout_ms = 2000\nmax_answer_bytes = {cap}"),
            )],
        );
        let o = tripmail()
            .args(["validate", "--config"])
            .arg(&config)
            .output()
            .expect("tripmail runs");
        fails_with(
            &o,
            &format!("key `engine.max_answer_bytes`: {shown} is not between 1 and 268435456"),
        );
    }
}

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_an_endless_answer_finishes_with_each_block_left_out_as_too_large() {
    let (url, _) = endless_server(Endless::Chunked).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_with(tmp.path(), &[]);
    let bookings = tmp.path().join("bookings.csv");
    let mut rows = format!("{HEADER}\n");
    for (id, product) in [("TM-1", 9100001), ("TM-2", 9100002)] {
        rows.push_str(&format!(
            "{id},guest.{id}@example.com,Guest,en,{product},Product {product},Rome,2027-04-10,2026-12-09T10:00:00Z,2,0,confirmed,true,,,\n"
        ));
    }
    std::fs::write(&bookings, rows).expect("bookings written");
    let out = tmp.path().join("out");
    let mut cmd = tripmail();
    cmd.args(["run", "--config"])
        .arg(&config)
        .arg("--bookings")
        .arg(&bookings)
        .args(["--engine-url", &url, "--now", NOW, "--out"])
        .arg(&out);
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("tripmail runs"))
        .await
        .expect("the run thread ends");
    // As for any engine failure but refused credentials: every email made, without its block.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("answer larger than 1048576 bytes (engine.max_answer_bytes)"),
        "{}",
        stderr(&o)
    );
    let r = report(&out);
    assert_eq!(r["rendered"], json!(2), "{r}");
    assert_eq!(
        r["without_block"],
        json!({"engine_answer_too_large": 2}),
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// The key never shown, however an error body echoes it.
// ---------------------------------------------------------------------------------------------

/// Every way an API was seen to (or could) send the key back.
fn echoes() -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    vec![
        ("raw", KEY.to_string()),
        ("token header", format!("Token {KEY}")),
        ("json \\/", r"live\/Xk29\/ab+cd".to_string()),
        ("json \\u", r"live\u002fXk29\u002Fab\u002bcd".to_string()),
        ("percent", "live%2FXk29%2Fab%2Bcd".to_string()),
        ("percent lowercase", "live%2fXk29%2fab%2bcd".to_string()),
        ("base64", b64.encode(KEY)),
        ("base64 url-safe", url_safe.encode(KEY)),
        (
            "base64 of a json error",
            b64.encode(format!("{{\"token\":\"{KEY}\"}}")),
        ),
    ]
}

/// What of the key could show: the whole and its distinctive middle, plus `also`.
fn assert_hidden(what: &str, shown: &str, also: &str) {
    let lower = shown.to_lowercase();
    assert!(!lower.contains("xk29"), "{what}: the key leaks: {shown}");
    assert!(!shown.contains(also), "{what}: the key leaks: {shown}");
}

#[tokio::test]
async fn an_error_body_echoing_the_key_in_any_encoding_never_shows_it() {
    for (what, echo) in echoes() {
        let body = format!("{{\"error\":\"invalid token\",\"token\":\"{echo}\"}}");
        let server = mock(ResponseTemplate::new(401).set_body_raw(body, "application/json")).await;
        let e = fetch_error(&server.uri(), limits(Duration::from_secs(5))).await;
        assert!(
            matches!(e, EngineError::Status { status: 401, .. }),
            "{e:?}"
        );
        // The body is kept, only the key is gone.
        assert!(e.to_string().contains("invalid token"), "{what}: {e}");
        // Base64 is matched with its middle: two characters may depend on what surrounds it.
        let middle = &echo[echo.len() / 4..echo.len() * 3 / 4];
        assert_hidden(what, &format!("{e} {e:?}"), middle);
    }
}

#[tokio::test]
async fn the_contact_api_password_is_hidden_json_escaped_and_in_the_basic_credential() {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("tripmail:{KEY}"));
    for echo in [r"live\/Xk29\/ab+cd".to_string(), basic.clone()] {
        let body = format!("{{\"error\":\"forbidden for {echo}\"}}");
        let server = mock(ResponseTemplate::new(403).set_body_raw(body, "application/json")).await;
        let client = ContactClient::new(ContactOptions {
            base_url: server.uri(),
            username: "tripmail".into(),
            api_key: Some(Secret::new(KEY)),
            limits: limits(Duration::from_secs(5)),
            list_format: ListFormat::Comma,
            items: ItemFormat {
                currency: "EUR".into(),
                currency_field: None,
                image_field: None,
                city_field: None,
                tags: YespoTags::default(),
            },
        })
        .expect("client builds");
        let e = client
            .fetch(&ContactQuery {
                data_source_id: 7,
                identify_by: tripmail::config::IdentifyBy::Email,
                identity: "guest@example.com".into(),
                products: vec![1111476],
                category: None,
            })
            .await
            .expect_err("a 403 fails");
        assert_hidden(&echo, &format!("{e} {e:?}"), &basic[4..20]);
    }
}

// ---------------------------------------------------------------------------------------------
// No clear text to a remote engine.
// ---------------------------------------------------------------------------------------------

fn validate_with_engine(base_url: &str) -> std::process::Output {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = config_with(
        tmp.path(),
        &[(
            "base_url = \"embedded\"",
            &format!("base_url = \"{base_url}\""),
        )],
    );
    tripmail()
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .expect("tripmail runs")
}

#[test]
fn a_remote_engine_over_plain_http_is_refused_by_validate_naming_the_key() {
    for url in ["http://10.255.255.1:8080", "http://engine.example"] {
        fails_with(
            &validate_with_engine(url),
            "key `engine.base_url`: must be https (the key travels in every request), except on a loopback address",
        );
    }
}

#[test]
fn plain_http_to_loopback_and_https_anywhere_pass_validate() {
    for url in [
        "http://127.0.0.1:9",
        "http://127.8.9.10:9",
        "http://localhost:9",
        "http://[::1]:9",
        "https://engine.example",
    ] {
        let o = validate_with_engine(url);
        succeeds(&o);
    }
}

#[test]
fn an_engine_url_carrying_a_user_name_or_password_is_refused() {
    fails_with(
        &validate_with_engine("https://user:pw@engine.example"),
        "key `engine.base_url`: must not carry a user name or password",
    );
}

// ---------------------------------------------------------------------------------------------
// Retry-After.
// ---------------------------------------------------------------------------------------------

fn retrying(attempts: u32) -> Limits {
    Limits {
        attempts,
        // Far shorter than any Retry-After below: a wait this long came from the header.
        retry_base: Duration::from_millis(1),
        ..limits(Duration::from_secs(5))
    }
}

#[tokio::test]
async fn a_429_is_tried_again_after_the_seconds_its_retry_after_asks() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recommendations": []})))
        .mount(&server)
        .await;
    let started = Instant::now();
    let answer = cross_sell(&server.uri(), retrying(2)).fetch(&query()).await;
    assert_eq!(answer, Ok(Vec::new()));
    assert_eq!(received(&server).await.len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "tried again after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_bound_fails_at_once_saying_how_long_was_asked() {
    let server = mock(
        ResponseTemplate::new(503)
            .insert_header("Retry-After", "120")
            .set_body_string("maintenance"),
    )
    .await;
    let e = fetch_error(&server.uri(), retrying(3)).await;
    assert_eq!(received(&server).await.len(), 1, "tried again: {e}");
    assert_eq!(
        e,
        EngineError::Status {
            status: 503,
            body: "maintenance (the server asked to wait 120 s (Retry-After), longer than the 30 s tripmail waits)".into()
        }
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_retry_after_given_as_a_date_falls_back_to_the_backoff() {
    let server = mock(
        ResponseTemplate::new(429).insert_header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
    )
    .await;
    let e = fetch_error(&server.uri(), retrying(2)).await;
    assert_eq!(received(&server).await.len(), 2);
    assert_eq!(e.reason(), "engine_http_429");
}
