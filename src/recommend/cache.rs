//! A per-run cache in front of a source: each distinct query is asked once, and bookings that ask
//! while the first request is in flight wait for its answer instead of asking again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::{EngineError, Recommendation, RecommendationSource};

type Answer = Result<Arc<[Recommendation]>, EngineError>;

/// How the cache was used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests actually made to the source.
    pub requests: u64,
    /// Queries answered from the cache (or from a request already in flight).
    pub hits: u64,
}

/// A source with a per-run cache and in-flight de-duplication.
pub struct Cached<S: RecommendationSource> {
    inner: S,
    cells: Mutex<HashMap<S::Query, Arc<OnceCell<Answer>>>>,
    requests: AtomicU64,
    hits: AtomicU64,
}

impl<S: RecommendationSource> Cached<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Cached {
            inner,
            cells: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// The answer to `query`, asking the source only the first time. Failures are cached too: an
    /// engine that failed for a product is not asked again for it in the same run.
    pub async fn get(&self, query: &S::Query) -> Answer {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            match cells.get(query) {
                Some(cell) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    cell.clone()
                }
                None => {
                    let cell = Arc::new(OnceCell::new());
                    cells.insert(query.clone(), cell.clone());
                    cell
                }
            }
        };
        cell.get_or_init(|| async {
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.inner.fetch(query).await.map(Arc::from)
        })
        .await
        .clone()
    }

    /// Requests made and hits so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            requests: self.requests.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SortBy;
    use crate::recommend::Query;
    use futures::future::BoxFuture;

    struct Counting(AtomicU64);

    impl RecommendationSource for Counting {
        type Query = Query;

        fn fetch<'a>(
            &'a self,
            _q: &'a Query,
        ) -> BoxFuture<'a, Result<Vec<Recommendation>, EngineError>> {
            Box::pin(async move {
                self.0.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(EngineError::Timeout(1))
            })
        }
    }

    fn q(product_id: u64) -> Query {
        Query {
            product_id,
            sort_by: SortBy::Commission,
            tag_ids: vec![],
            exclude_ids: vec![],
            lang: None,
        }
    }

    #[tokio::test]
    async fn concurrent_askers_of_one_query_share_one_request() {
        let cache = Cached::new(Counting(AtomicU64::new(0)));
        let asks = (0..10).map(|i| cache.get(if i % 2 == 0 { &QA } else { &QB }));
        static QA: std::sync::LazyLock<Query> = std::sync::LazyLock::new(|| q(1));
        static QB: std::sync::LazyLock<Query> = std::sync::LazyLock::new(|| q(2));
        let answers = futures::future::join_all(asks).await;
        assert!(answers.iter().all(|a| a == &Err(EngineError::Timeout(1))));
        assert_eq!(cache.inner.0.load(Ordering::SeqCst), 2);
        assert_eq!(
            cache.stats(),
            CacheStats {
                requests: 2,
                hits: 8
            }
        );
    }
}
