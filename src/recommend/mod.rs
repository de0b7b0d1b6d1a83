//! Recommendations: the source trait the campaign code drives, the two HTTP clients (cross-sell,
//! keyed by product; contact recommendations, keyed by customer) over one shared HTTP core, a per-run
//! cache that makes each distinct request once, and the embedded engine serving both APIs.

use std::hash::Hash;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::catalog::Money;
use crate::config::{IdentifyBy, SortBy};

mod cache;
mod check;
mod client;
pub mod engine;
mod http;
mod yespo;

pub use cache::{CacheStats, Cached};
pub use check::{check_items, MAX_ANSWER_ITEMS, MAX_PRICE, MAX_TITLE_CHARS};
pub use client::{ClientOptions, CrossSellClient};
pub use http::{Auth, Limits, USER_AGENT};
pub use yespo::{parse_items, ItemFormat, YespoClient, YespoOptions};

/// A recommended product's id as its source gives it: a whole number (the cross-sell API, our
/// catalog) or a string (the contact-recommendations API documents `id` as a string, and a feed may
/// carry SKUs such as `"Y1"`). Ids are compared as text, so `"1002"` and `1002` are one product
/// while `"007"` and `7` are two; the report keeps the form the API used.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ProductId {
    /// A whole number.
    Number(u64),
    /// Any other id, as text.
    Text(String),
}

impl ProductId {
    /// The id as our catalog and the cross-sell API write it, if it is one of those (`"1002"` is,
    /// `"01002"` and `"Y1"` are not).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            ProductId::Number(n) => Some(*n),
            ProductId::Text(s) => s.parse::<u64>().ok().filter(|n| n.to_string() == *s),
        }
    }

    /// Whether this is the product `id` of our catalog (a booking's product, a held one).
    pub fn is(&self, id: u64) -> bool {
        self.as_u64() == Some(id)
    }
}

impl std::fmt::Display for ProductId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProductId::Number(n) => write!(f, "{n}"),
            ProductId::Text(s) => f.write_str(s),
        }
    }
}

impl PartialEq for ProductId {
    fn eq(&self, other: &ProductId) -> bool {
        match (self, other) {
            (ProductId::Number(a), ProductId::Number(b)) => a == b,
            (ProductId::Text(a), ProductId::Text(b)) => a == b,
            (ProductId::Number(n), ProductId::Text(s))
            | (ProductId::Text(s), ProductId::Number(n)) => n.to_string() == *s,
        }
    }
}

impl Eq for ProductId {}

impl std::hash::Hash for ProductId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal ids hash alike: both forms hash their text.
        match self {
            ProductId::Number(n) => n.to_string().hash(state),
            ProductId::Text(s) => s.hash(state),
        }
    }
}

impl From<u64> for ProductId {
    fn from(n: u64) -> ProductId {
        ProductId::Number(n)
    }
}

/// One recommended product, whatever the source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Recommendation {
    /// The product.
    pub product_id: ProductId,
    /// Its title.
    pub title: String,
    /// Its photo.
    pub image_url: String,
    /// Its lowest price.
    pub from_price: Money,
    /// The source's own link to it, if it gives one (else `links.product_url` is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether it can be bought now; an item that cannot is never shown.
    #[serde(skip, default = "in_stock")]
    pub in_stock: bool,
    /// What the source says of it, for sources that describe items (contact recommendations);
    /// the cross-sell API expresses these through its tag filter instead.
    #[serde(skip)]
    pub traits: Traits,
    /// The item's city as the source names it, for sources that say (a contact answer's
    /// `engine.yespo.city_field`); the catalog knows the city of its own products.
    #[serde(skip)]
    pub city: Option<String>,
}

impl From<&crate::catalog::Product> for Recommendation {
    /// A catalog product as the cross-sell API would give it (in stock; the catalog's own link).
    fn from(p: &crate::catalog::Product) -> Recommendation {
        Recommendation {
            product_id: ProductId::Number(p.product_id),
            title: p.title.clone(),
            image_url: p.image_url.clone(),
            from_price: p.from_price.clone(),
            url: None,
            in_stock: true,
            traits: Traits::default(),
            city: None,
        }
    }
}

fn in_stock() -> bool {
    true
}

/// What an item's `tags_*` fields say about it, for the heuristics: `None` when they say nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traits {
    /// An indoor activity.
    pub indoor: Option<bool>,
    /// An outdoor activity.
    pub outdoor: Option<bool>,
    /// Family-friendly.
    pub family: Option<bool>,
    /// Adults only.
    pub adults_only: Option<bool>,
}

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
    /// The answer was longer than the cap; reading stopped there.
    #[error("answer larger than {0} bytes (engine.max_answer_bytes)")]
    TooLarge(usize),
    /// The engine redirected where tripmail does not follow (clear text beyond loopback, too
    /// many redirects); the message says which.
    #[error("{0}")]
    Redirect(String),
}

impl EngineError {
    /// Whether the failure may pass by itself (a timeout, no connection, HTTP 429 or 5xx), as
    /// opposed to one that asks for a change (other statuses, a malformed answer).
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Timeout(_) | EngineError::Unreachable(_) => true,
            EngineError::Status { status, .. } => *status == 429 || *status >= 500,
            EngineError::BadJson(_) | EngineError::TooLarge(_) | EngineError::Redirect(_) => false,
        }
    }

    /// A short machine-readable reason, counted in the report.
    pub fn reason(&self) -> String {
        match self {
            EngineError::Timeout(_) => "engine_timeout".into(),
            EngineError::Unreachable(_) => "engine_unreachable".into(),
            EngineError::Status { status, .. } => format!("engine_http_{status}"),
            EngineError::BadJson(_) => "engine_bad_json".into(),
            EngineError::TooLarge(_) => "engine_answer_too_large".into(),
            EngineError::Redirect(_) => "engine_redirect_refused".into(),
        }
    }
}

/// Anything that answers queries with recommendations: the cross-sell client ([`Query`]), the
/// contact-recommendations client ([`ContactQuery`]), a test double.
pub trait RecommendationSource: Send + Sync {
    /// What one request asks; also the per-run cache's key.
    type Query: Clone + Eq + Hash + Send + Sync;

    /// Asks the source once.
    fn fetch<'a>(
        &'a self,
        query: &'a Self::Query,
    ) -> BoxFuture<'a, Result<Vec<Recommendation>, EngineError>>;
}
