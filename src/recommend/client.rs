//! The cross-sell client: `GET {base}/v2/products/{id}/recommendations/cross-sell`, with bounded
//! concurrency, an optional rate limit and a timeout.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{EngineError, Query, Recommendation, RecommendationSource};
use crate::config::{ListFormat, Secret};

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!(
    "tripmail/",
    env!("CARGO_PKG_VERSION"),
    " (post-purchase cross-sell)"
);

/// How to reach an engine.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL, without the `/v2/...` path.
    pub base_url: String,
    /// Sent as `Authorization: Token <key>`.
    pub api_key: Option<Secret>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Requests per second; `None` for no limit.
    pub requests_per_second: Option<u32>,
    /// How id lists are written.
    pub list_format: ListFormat,
}

/// The cross-sell HTTP client.
pub struct CrossSellClient {
    http: reqwest::Client,
    options: ClientOptions,
    permits: Semaphore,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

#[derive(Deserialize)]
struct Answer {
    recommendations: Vec<Recommendation>,
}

impl CrossSellClient {
    /// A client for `options`.
    pub fn new(options: ClientOptions) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.timeout)
            .build()
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        let limiter = options
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rps| Arc::new(RateLimiter::direct(Quota::per_second(rps))));
        Ok(CrossSellClient {
            http,
            permits: Semaphore::new(options.max_concurrency.max(1)),
            limiter,
            options,
        })
    }

    /// The path and query string asked for `query`.
    pub fn path_and_query(&self, query: &Query) -> String {
        format!(
            "/v2/products/{}/recommendations/cross-sell?{}",
            query.product_id,
            query_string(query, self.options.list_format)
        )
    }

    async fn ask(&self, query: &Query) -> Result<Vec<Recommendation>, EngineError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let url = format!(
            "{}{}",
            self.options.base_url.trim_end_matches('/'),
            self.path_and_query(query)
        );
        let mut req = self.http.get(&url).header("Accept", "application/json");
        if let Some(key) = &self.options.api_key {
            req = req.header("Authorization", format!("Token {}", key.expose()));
        }
        let timeout_ms = self.options.timeout.as_millis() as u64;
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                EngineError::Timeout(timeout_ms)
            } else {
                // reqwest's own message is generic ("error sending request"): keep the cause too.
                let mut causes = String::new();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    causes.push_str(": ");
                    causes.push_str(&s.to_string());
                    source = s.source();
                }
                EngineError::Unreachable(format!("{}{causes}", e.without_url()))
            }
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(classify)?;
        if !status.is_success() {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            // An engine that echoes the token in its error must not put it in our logs.
            if let Some(key) = &self.options.api_key {
                if !key.expose().is_empty() {
                    text = text.replace(key.expose(), "***");
                }
            }
            let mut excerpt: String = text.chars().take(200).collect();
            if excerpt.len() < text.len() {
                excerpt.push('…');
            }
            return Err(EngineError::Status {
                status: status.as_u16(),
                body: excerpt,
            });
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| EngineError::BadJson(e.to_string()))?;
        Ok(answer.recommendations)
    }
}

impl RecommendationSource for CrossSellClient {
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
    for (key, ids) in [
        ("product_tag_ids", &query.tag_ids),
        ("exclude_product_ids", &query.exclude_ids),
    ] {
        if ids.is_empty() {
            continue;
        }
        let joined = ids.iter().map(u64::to_string).collect::<Vec<_>>();
        match format {
            ListFormat::Brackets => parts.push(format!("{key}=[{}]", joined.join(","))),
            ListFormat::Comma => parts.push(format!("{key}={}", joined.join(","))),
            ListFormat::Repeat => parts.extend(joined.iter().map(|id| format!("{key}={id}"))),
        }
    }
    parts.join("&")
}
