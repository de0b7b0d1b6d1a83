//! Recommendations: the source trait the campaign code drives, the cross-sell HTTP client, a per-run
//! cache that makes each distinct request once, and the embedded engine.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::catalog::Money;
use crate::config::SortBy;

mod cache;
mod client;
pub mod engine;

pub use cache::{CacheStats, Cached};
pub use client::{ClientOptions, CrossSellClient};

/// One recommended product, whatever the source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Recommendation {
    /// The product.
    pub product_id: u64,
    /// Its title.
    pub title: String,
    /// Its photo.
    pub image_url: String,
    /// Its lowest price.
    pub from_price: Money,
    /// The source's own link to it, if it gives one (else `links.product_url` is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

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
}

/// Why a source gave no answer. Cloneable, so that a cached failure answers every booking that asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No answer within the timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// Could not connect or the connection broke.
    #[error("cannot reach the engine: {0}")]
    Unreachable(String),
    /// A non-success status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The body is not the documented JSON.
    #[error("unexpected answer: {0}")]
    BadJson(String),
}

impl EngineError {
    /// A short machine-readable reason, counted in the report.
    pub fn reason(&self) -> String {
        match self {
            EngineError::Timeout(_) => "engine_timeout".into(),
            EngineError::Unreachable(_) => "engine_unreachable".into(),
            EngineError::Status { status, .. } => format!("engine_http_{status}"),
            EngineError::BadJson(_) => "engine_bad_json".into(),
        }
    }
}

/// Anything that answers [`Query`]s: the cross-sell client, a test double, later other APIs.
pub trait RecommendationSource: Send + Sync {
    /// Asks the source once.
    fn fetch<'a>(
        &'a self,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Vec<Recommendation>, EngineError>>;
}
