//! A case's pinned engine answer: the items its block shows, kept in a JSON file beside the cases,
//! so that the case does not change when the catalog or the engine does. It stands in for the
//! campaign's block source; the rules every source shares (no block without the customer's
//! opt-in, none with fewer than two items) still apply.
//!
//! The file: `{"names_city": true, "items": [{"product_id": 1, "title": "…", "image_url": "…",
//! "from_price": {"amount": "12.00", "currency": "EUR"}, "url": "…"}, …]}` (`names_city`, whether
//! the heading may name the trip's city, is false when left out; `url` is optional).

use std::path::Path;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::SnapshotError;
use crate::bookings::Booking;
use crate::config::{CampaignSettings, Provider};
use crate::due::Venue;
use crate::heuristics::Choice;
use crate::recommend::{BlockSource, CacheStats, EngineError, Recommendation};

/// A pinned answer, as its file holds it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Whether the block's heading may name the trip's city.
    #[serde(default)]
    pub names_city: bool,
    /// The items, in the order shown.
    pub items: Vec<Recommendation>,
}

impl Answer {
    /// Reads `path`; the error names the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Answer, SnapshotError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::Io {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| SnapshotError::Answer {
            file,
            reason: e.to_string(),
        })
    }
}

/// The block source of a case with a pinned answer: always that answer.
pub(crate) struct Pinned {
    /// The API the campaign asks (named in the email's record).
    pub(crate) provider: Provider,
    /// The answer.
    pub(crate) answer: Answer,
}

impl BlockSource for Pinned {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn tailor<'a>(
        &'a self,
        _campaign: &'a CampaignSettings,
        _booking: &'a Booking,
        _venue: &'a Venue,
        rules: &'a mut Vec<String>,
        _explain: bool,
    ) -> BoxFuture<'a, Result<Result<Choice, String>, EngineError>> {
        rules.push("pinned_answer".into());
        let choice = Choice {
            items: self.answer.items.clone(),
            dropped_held: 0,
            dropped_adults_only: 0,
            dropped_out_of_stock: 0,
            dropped_other_city: 0,
            dropped_same_experience: 0,
            city_known: self.answer.names_city,
            dropped: Vec::new(),
        };
        Box::pin(std::future::ready(Ok(Ok(choice))))
    }

    fn stats(&self) -> CacheStats {
        CacheStats::default()
    }
}
