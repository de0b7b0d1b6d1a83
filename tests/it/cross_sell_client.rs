//! The cross-sell client against a wiremock server on 127.0.0.1: the exact request it sends for each
//! list format, its headers, the documented answer, its failures, and that the API key never shows in
//! an error. (What it does alike with the contact client, for a slow answer, an error status or bad
//! JSON, is in `clients.rs`; whole runs against a mock engine in `sources.rs`.)

use std::time::Duration;

use serde_json::json;
use tripmail::config::{ListFormat, Secret, SortBy};
use tripmail::recommend::{
    ClientOptions, CrossSellClient, EngineError, Limits, Query, Recommendation,
    RecommendationSource,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::util::{mock, path_and_query, received};

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
        language_param: None,
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
        lang: None,
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

#[tokio::test]
async fn the_language_goes_in_the_configured_parameter_and_only_then() {
    let server = mock(empty_answer()).await;
    let with = CrossSellClient::new(ClientOptions {
        language_param: Some("lang".into()),
        ..options(&server.uri(), ListFormat::Brackets)
    })
    .expect("client");
    let de = Query {
        lang: Some("de"),
        ..query(&[], &[])
    };
    with.fetch(&de).await.expect("answer");
    // Without a parameter name the language stays home, even when the query carries one.
    client(&server.uri(), ListFormat::Brackets)
        .fetch(&de)
        .await
        .expect("answer");
    let reqs = received(&server).await;
    assert_eq!(path_and_query(&reqs[0]), format!("{BASE}&lang=de"));
    assert_eq!(path_and_query(&reqs[1]), BASE);
}
