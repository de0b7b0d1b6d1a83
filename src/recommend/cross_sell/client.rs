//! The cross-sell client: `GET {base}/v2/products/{id}/recommendations/cross-sell`.

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::config::{ListFormat, Secret, SortBy};
use crate::recommend::http::{push_list, Auth, Http, Limits};
use crate::recommend::{check_items, EngineError, ProductId, Recommendation, RecommendationSource};

/// One distinct request to a recommendation source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// The main product.
    pub product_id: u64,
    /// The engine's sort order.
    pub sort_by: SortBy,
    /// Only products carrying one of these tags (sorted; empty = no filter).
    pub tag_ids: Vec<u64>,
    /// Products never returned (sorted; empty = none).
    pub exclude_ids: Vec<u64>,
    /// The language the titles are asked in (`de`), sent when the client has a
    /// [`ClientOptions::language_param`]; `None` asks in the engine's default language.
    pub lang: Option<&'static str>,
}

/// How to reach a cross-sell engine.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL, without the `/v2/...` path.
    pub base_url: String,
    /// Sent as `Authorization: Token <key>`.
    pub api_key: Option<Secret>,
    /// Timeout, concurrency, rate and retries.
    pub limits: Limits,
    /// How id lists are written.
    pub list_format: ListFormat,
    /// The query parameter that carries the email's language (`engine.language_param`, e.g.
    /// `lang`); none: the language is not sent.
    pub language_param: Option<String>,
}

/// The cross-sell HTTP client.
pub struct CrossSellClient {
    http: Http,
    base_url: String,
    list_format: ListFormat,
    language_param: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    recommendations: Vec<Recommendation>,
}

impl CrossSellClient {
    /// A client for `options`.
    pub fn new(options: ClientOptions) -> Result<Self, EngineError> {
        let auth = options.api_key.map_or(Auth::None, Auth::Token);
        Ok(CrossSellClient {
            http: Http::new(options.limits, auth)?,
            base_url: options.base_url.trim_end_matches('/').to_string(),
            list_format: options.list_format,
            language_param: options.language_param,
        })
    }

    /// Whether the client sends a language, so that queries should carry one.
    pub fn sends_language(&self) -> bool {
        self.language_param.is_some()
    }

    /// The path and query string asked for `query`.
    pub fn path_and_query(&self, query: &Query) -> String {
        let mut path = format!(
            "/v2/products/{}/recommendations/cross-sell?{}",
            query.product_id,
            query_string(query, self.list_format)
        );
        if let (Some(param), Some(lang)) = (&self.language_param, query.lang) {
            path.push_str(&format!("&{param}={lang}"));
        }
        path
    }

    async fn ask(&self, query: &Query) -> Result<Vec<Recommendation>, EngineError> {
        let url = format!("{}{}", self.base_url, self.path_and_query(query));
        let body = self.http.get_json(&url).await?;
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| EngineError::BadJson(e.to_string()))?;
        // The cross-sell API's ids are whole numbers; anything else is not one of its products.
        let mut notes = Vec::new();
        let numbered: Vec<Recommendation> = answer
            .recommendations
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| match r.product_id {
                ProductId::Number(_) => Some(r),
                ProductId::Text(_) => {
                    notes.push(format!(
                        "item {i} left out: its product_id is not a whole number"
                    ));
                    None
                }
            })
            .collect();
        let (items, checked) = check_items(numbered);
        notes.extend(checked);
        for note in notes {
            tracing::warn!(product = query.product_id, "cross-sell: {note}");
        }
        Ok(items)
    }
}

impl RecommendationSource for CrossSellClient {
    type Query = Query;

    fn fetch<'a>(
        &'a self,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Vec<Recommendation>, EngineError>> {
        Box::pin(self.ask(query))
    }
}

/// The query string for `query`: `sort_by`, `max_per_experience=1`, then the non-empty id lists.
pub fn query_string(query: &Query, format: ListFormat) -> String {
    let mut parts = vec![
        format!("sort_by={}", query.sort_by.as_str()),
        "max_per_experience=1".to_string(),
    ];
    push_list(&mut parts, "product_tag_ids", &query.tag_ids, format);
    push_list(
        &mut parts,
        "exclude_product_ids",
        &query.exclude_ids,
        format,
    );
    parts.join("&")
}
