//! The contact-recommendations client (Yespo): `GET {base}/api/v2/contacts/recoms/{dataSourceId}`
//! with the customer's identity, the products of the booking and optionally a category; HTTP Basic
//! with the API key as the password. The answer is a JSON array of items, read by [`super::items`].

use futures::future::BoxFuture;

use super::items::{parse_items, ItemFormat};
use crate::config::{IdentifyBy, ListFormat, Secret};
use crate::recommend::http::{push_list, Auth, Http, Limits};
use crate::recommend::{EngineError, Recommendation, RecommendationSource};

/// One distinct request to the contact-recommendations API: the customer is part of the key, so
/// answers are shared only between emails of the same customer, products and data source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContactQuery {
    /// The data source (recommendation type).
    pub data_source_id: u64,
    /// How the customer is identified.
    pub identify_by: IdentifyBy,
    /// The identifying value.
    pub identity: String,
    /// The booking's main product, then the products the customer holds.
    pub products: Vec<u64>,
    /// `category`, if sent.
    pub category: Option<String>,
}

/// How to reach the contact-recommendations API and read its items.
#[derive(Debug, Clone)]
pub struct ContactOptions {
    /// Base URL, without the `/api/v2/...` path.
    pub base_url: String,
    /// Basic user name.
    pub username: String,
    /// Basic password: the API key.
    pub api_key: Option<Secret>,
    /// Timeout, concurrency, rate and retries (the same settings as the cross-sell client).
    pub limits: Limits,
    /// How the `products` list is written.
    pub list_format: ListFormat,
    /// How items are read.
    pub items: ItemFormat,
}

/// The contact-recommendations HTTP client.
pub struct ContactClient {
    http: Http,
    base_url: String,
    list_format: ListFormat,
    items: ItemFormat,
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl ContactClient {
    /// A client for `options`.
    pub fn new(options: ContactOptions) -> Result<Self, EngineError> {
        let auth = match options.api_key {
            Some(password) => Auth::Basic {
                username: options.username,
                password,
            },
            None => Auth::None,
        };
        Ok(ContactClient {
            http: Http::new(options.limits, auth)?,
            base_url: options.base_url.trim_end_matches('/').to_string(),
            list_format: options.list_format,
            items: options.items,
        })
    }

    /// The path and query string asked for `query`: the identity, then `products`, then
    /// `category`.
    pub fn path_and_query(&self, query: &ContactQuery) -> String {
        let mut parts = vec![format!(
            "{}={}",
            query.identify_by.param(),
            encode(&query.identity)
        )];
        push_list(&mut parts, "products", &query.products, self.list_format);
        if let Some(c) = &query.category {
            parts.push(format!("category={}", encode(c)));
        }
        format!(
            "/api/v2/contacts/recoms/{}?{}",
            query.data_source_id,
            parts.join("&")
        )
    }

    async fn ask(&self, query: &ContactQuery) -> Result<Vec<Recommendation>, EngineError> {
        let url = format!("{}{}", self.base_url, self.path_and_query(query));
        let body = self.http.get_json(&url).await?;
        let (items, skipped) = parse_items(&body, &self.items)?;
        for s in skipped {
            tracing::warn!(
                data_source = query.data_source_id,
                "contact recommendations: {s}"
            );
        }
        Ok(items)
    }
}

impl RecommendationSource for ContactClient {
    type Query = ContactQuery;

    fn fetch<'a>(
        &'a self,
        query: &'a ContactQuery,
    ) -> BoxFuture<'a, Result<Vec<Recommendation>, EngineError>> {
        Box::pin(self.ask(query))
    }
}
