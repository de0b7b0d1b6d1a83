//! The contact-recommendations client (Yespo) against a wiremock server on 127.0.0.1: the exact
//! request, Basic auth, every identification parameter, items read and dropped, the key hidden in an
//! error, a temporary failure tried again. (What it does alike with the cross-sell client, for a
//! slow answer, an error status or bad JSON, is in `clients.rs`.)

use std::time::Duration;

use serde_json::json;
use tripmail::config::{IdentifyBy, ListFormat, Matches, Secret, TagMatch, YespoTags};
use tripmail::recommend::{
    ContactClient, ContactOptions, ContactQuery, EngineError, ItemFormat, Limits,
    RecommendationSource,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::contact_api::{basic, item, KEY, RECOMS};
use crate::util::{mock, path_and_query, received};

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
