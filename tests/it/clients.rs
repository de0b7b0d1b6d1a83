//! What both recommendation clients do alike with a failing API, against a wiremock server on
//! 127.0.0.1: each case is one body run once per API (`<case>::cross_sell`, `<case>::contact`).
//! What only one of them does is in `cross_sell_client.rs` and `contact_client.rs`.

use std::time::Duration;

use serde_json::{json, Value};
use tripmail::config::{IdentifyBy, ListFormat, Secret, SortBy, YespoTags};
use tripmail::recommend::{
    ClientOptions, ContactClient, ContactOptions, ContactQuery, CrossSellClient, EngineError,
    ItemFormat, Limits, Query, Recommendation, RecommendationSource,
};
use wiremock::ResponseTemplate;

use crate::util::mock;

const KEY: &str = "k3y-for-tests";

/// The API a case runs against.
#[derive(Debug, Clone, Copy)]
enum Api {
    /// The cross-sell API, keyed by product.
    CrossSell,
    /// The contact-recommendations API, keyed by customer.
    Contact,
}

impl Api {
    /// Asks the API at `base_url` once with its client, waiting `timeout` for the answer.
    async fn fetch(
        self,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Vec<Recommendation>, EngineError> {
        let limits = Limits {
            timeout,
            ..Limits::default()
        };
        match self {
            Api::CrossSell => {
                let client = CrossSellClient::new(ClientOptions {
                    base_url: base_url.to_string(),
                    api_key: Some(Secret::new(KEY)),
                    limits,
                    list_format: ListFormat::Brackets,
                    language_param: None,
                })
                .expect("client builds");
                let query = Query {
                    product_id: 1111476,
                    sort_by: SortBy::Commission,
                    tag_ids: vec![442],
                    exclude_ids: Vec::new(),
                    lang: None,
                };
                client.fetch(&query).await
            }
            Api::Contact => {
                let client = ContactClient::new(ContactOptions {
                    base_url: base_url.to_string(),
                    username: "wanderly".into(),
                    api_key: Some(Secret::new(KEY)),
                    limits,
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
                let query = ContactQuery {
                    data_source_id: 1244,
                    identify_by: IdentifyBy::Email,
                    identity: "a@example.com".into(),
                    products: vec![1111476, 1120315],
                    category: None,
                };
                client.fetch(&query).await
            }
        }
    }

    /// An answer with no items, as the API writes it.
    fn empty_answer(self) -> Value {
        match self {
            Api::CrossSell => json!({"recommendations": []}),
            Api::Contact => json!([]),
        }
    }

    /// JSON of the other API's shape, and what the client says of it.
    fn wrong_shape(self) -> (Value, &'static str) {
        match self {
            Api::CrossSell => (
                json!({"items": []}),
                "missing field `recommendations` at line 1 column 12",
            ),
            Api::Contact => (
                json!({"recommendations": []}),
                "expected a JSON array of items, got an object",
            ),
        }
    }
}

/// The error `api`'s client gets from a server answering `response`.
async fn fetch_error(api: Api, response: ResponseTemplate, timeout: Duration) -> EngineError {
    let server = mock(response).await;
    api.fetch(&server.uri(), timeout)
        .await
        .expect_err("the fetch fails")
}

/// Runs the case `$case(api: Api)` once per API, as `$case::cross_sell` and `$case::contact`.
macro_rules! for_each_api {
    ($case:ident) => {
        mod $case {
            #[tokio::test]
            async fn cross_sell() {
                super::$case(super::Api::CrossSell).await
            }

            #[tokio::test]
            async fn contact() {
                super::$case(super::Api::Contact).await
            }
        }
    };
}

for_each_api!(a_slow_answer_is_a_timeout);
async fn a_slow_answer_is_a_timeout(api: Api) {
    let e = fetch_error(
        api,
        ResponseTemplate::new(200)
            .set_body_json(api.empty_answer())
            .set_delay(Duration::from_secs(3)),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(e, EngineError::Timeout(200));
    assert_eq!(e.reason(), "engine_timeout");
}

for_each_api!(an_error_status_is_reported_with_the_start_of_its_body);
async fn an_error_status_is_reported_with_the_start_of_its_body(api: Api) {
    let e = fetch_error(
        api,
        ResponseTemplate::new(500).set_body_string("engine on fire"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        e,
        EngineError::Status {
            status: 500,
            body: "engine on fire".into()
        }
    );
    assert_eq!(e.reason(), "engine_http_500");
    let e = fetch_error(
        api,
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

for_each_api!(an_answer_that_is_not_the_documented_json_is_a_bad_json_error);
async fn an_answer_that_is_not_the_documented_json_is_a_bad_json_error(api: Api) {
    for body in ["<html>maintenance</html>", "[{\"id\": \"1\","] {
        let e = fetch_error(
            api,
            ResponseTemplate::new(200).set_body_raw(body, "application/json"),
            Duration::from_secs(5),
        )
        .await;
        assert!(matches!(e, EngineError::BadJson(_)), "{body}: {e:?}");
        assert_eq!(e.reason(), "engine_bad_json");
    }
    let (shape, says) = api.wrong_shape();
    let e = fetch_error(
        api,
        ResponseTemplate::new(200).set_body_json(shape),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e, EngineError::BadJson(says.into()));
    assert_eq!(e.reason(), "engine_bad_json");
}
