//! Snapshot tests of rendered emails, for the people who edit the templates (`tripmail snapshots`):
//! a case list ([`Cases`], `snapshots.toml`), each case's email composed by a [`Maker`] the way a run and a preview
//! compose it ([`Campaigns::preview_of`], with the block from a pinned answer when the case has
//! one: [`Answer`]), written as a plain file a reviewer reads ([`snapshot`]), compared with the
//! stored one, and accepted ([`store`]); [`generate`] writes a starting case list.

use std::path::{Path, PathBuf};

use crate::bookings::{Loaded, Locale};
use crate::compose::Composed;
use crate::run::Campaigns;

mod cases;
mod generate;
mod maker;
mod pinned;
pub mod store;
mod text;

pub use cases::{Case, CaseBooking, Cases};
pub use generate::{generate, Generated};
pub use maker::{Maker, MakerError};
pub use pinned::Answer;
pub use text::{html_of, normalise_html, snapshot, HTML_PART};

/// Why a case, or the case list, cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file cannot be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The case list is not one.
    #[error("{file}: {reason}")]
    Cases {
        /// The cases file.
        file: String,
        /// What is wrong, naming the case and the key.
        reason: String,
    },
    /// A pinned answer is not one.
    #[error("{file}: {reason}")]
    Answer {
        /// The answer's file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// One case cannot be rendered.
    #[error("{file}: case {case:?}: {reason}")]
    Case {
        /// The cases file.
        file: String,
        /// The case.
        case: String,
        /// Why, naming the key.
        reason: String,
    },
}

/// Where a team keeps its case list and its snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The case list: `snapshots.toml` beside the config unless named.
    pub cases: PathBuf,
    /// The snapshot folder: `snapshots/` beside the case list unless named.
    pub dir: PathBuf,
}

impl Paths {
    /// The paths for the config `config`, the case list and the folder being `cases` and `dir`
    /// when given.
    pub fn beside(config: &Path, cases: Option<&Path>, dir: Option<&Path>) -> Paths {
        let parent = |p: &Path| p.parent().unwrap_or(Path::new("")).to_path_buf();
        let cases = cases.map_or_else(|| parent(config).join("snapshots.toml"), Path::to_path_buf);
        let dir = dir.map_or_else(|| parent(&cases).join("snapshots"), Path::to_path_buf);
        Paths { cases, dir }
    }
}

/// The email of the case `name` of `cases`, composed by `campaigns`, the booking found in
/// `bookings` (the bookings file, read once by the caller) when the case names it by id.
async fn compose(
    campaigns: &Campaigns,
    bookings: Option<&Loaded>,
    cases: &Cases,
    name: &str,
) -> Result<Composed, SnapshotError> {
    let fail = |reason: String| SnapshotError::Case {
        file: cases.path.display().to_string(),
        case: name.to_string(),
        reason,
    };
    let case = cases
        .cases
        .get(name)
        .ok_or_else(|| fail("no such case".into()))?;
    let settings = campaigns.settings();
    let campaign = settings.campaign(&case.campaign).ok_or_else(|| {
        let known: Vec<&str> = settings.campaigns.iter().map(|c| c.name.as_str()).collect();
        fail(format!(
            "campaign: no campaign {:?} in the config (it has {})",
            case.campaign,
            known.join(", ")
        ))
    })?;
    if let Some(lang) = case.lang.as_deref().filter(|l| Locale::parse(l).is_none()) {
        let known = campaigns.locales().join(", ");
        return Err(fail(format!(
            "lang: no language {lang:?} in the templates (they have {known})"
        )));
    }
    let booking = match &case.booking {
        CaseBooking::Inline(b) => (**b).clone(),
        CaseBooking::Id(id) => bookings
            .and_then(|l| l.by_id(id))
            .map(|b| crate::bookings::Booking::clone(b))
            .ok_or_else(|| {
                fail(format!(
                    "booking: no booking {id:?} in {}",
                    settings.bookings.path.display()
                ))
            })?,
    };
    let pinned = match &case.answer {
        Some(path) => Some(pinned::Pinned {
            provider: campaign.provider(&settings.engine),
            answer: Answer::load(path).map_err(|e| fail(format!("answer: {e}")))?,
        }),
        None => None,
    };
    let source = pinned
        .as_ref()
        .map(|p| p as &dyn crate::recommend::BlockSource);
    let preview = campaigns
        .preview_from(
            booking,
            &case.campaign,
            (case.at, case.lang.as_deref()),
            source,
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(preview.composed)
}

/// Whether some case names its booking by id (so the bookings file is needed).
fn needs_bookings(cases: &Cases) -> bool {
    cases
        .cases
        .values()
        .any(|c| matches!(c.booking, CaseBooking::Id(_)))
}
