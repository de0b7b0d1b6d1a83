//! Recommendations: what a run asks for one email's "Complete your trip" block, behind one trait.
//!
//! The run holds one `BlockSource` per campaign (`sources` builds them from the settings) and
//! never names the API behind it. Each API has a folder with its HTTP client and its strategy:
//! `cross_sell` (keyed by product: one request per tag filter the heuristics need, asked again
//! without held products when those emptied a full page) and `contact` (keyed by customer: one
//! request, the heuristics read the items' `tags_*` fields; the customer's identity comes from the
//! booking). `embedded` is the in-process engine serving both APIs from the catalog. What the
//! clients share stays here: one HTTP core (`http`: limits, retries, redirects, the key never
//! shown), the per-run cache ([`Cached`]) and the checks every item passes ([`check_items`]).

use std::hash::Hash;

use futures::future::BoxFuture;

mod block;
mod cache;
mod check;
mod contact;
mod cross_sell;
pub mod embedded;
mod error;
mod http;
mod sources;

pub use crate::item::{ProductId, Recommendation, Traits};
pub(crate) use block::BlockSource;
pub use cache::{CacheStats, Cached};
pub use check::{check_items, MAX_ANSWER_ITEMS, MAX_PRICE, MAX_TITLE_CHARS};
pub use contact::{
    check_identity_column, parse_items, ContactClient, ContactOptions, ContactQuery, ItemFormat,
};
pub use cross_sell::{ClientOptions, CrossSellClient, Query};
pub use error::{EngineError, SourceError};
pub use http::{Auth, Limits, USER_AGENT};
pub(crate) use sources::{sources, BlockSources};

/// The embedded engine under its former name, for the `tripmail engine` command and the benches.
pub use embedded as engine;

/// Anything that answers queries with recommendations: the cross-sell client ([`Query`]), the
/// contact-recommendations client ([`ContactQuery`]), a test double. One request, as the API
/// answers it; choosing an email's items from the answers is a `BlockSource`'s work.
pub trait RecommendationSource: Send + Sync {
    /// What one request asks; also the per-run cache's key.
    type Query: Clone + Eq + Hash + Send + Sync;

    /// Asks the source once.
    fn fetch<'a>(
        &'a self,
        query: &'a Self::Query,
    ) -> BoxFuture<'a, Result<Vec<Recommendation>, EngineError>>;
}
