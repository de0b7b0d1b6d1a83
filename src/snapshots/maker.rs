//! What every user of a case list does first: read the list, read the bookings file when a case
//! names its booking by id, start the campaigns (templates, translations, catalog as they are on
//! disk now); then compose the cases one by one ([`Maker::compose`]). Shared by `snapshots
//! --check`, `validate` (the lint per case) and the console's snapshot pages.

use std::path::Path;
use std::sync::Arc;

use super::{compose, needs_bookings, snapshot, Cases, SnapshotError};
use crate::bookings::Loaded;
use crate::compose::Composed;
use crate::config::Settings;
use crate::run::{Campaigns, FatalError};

/// A case list ready to be made.
pub struct Maker {
    /// The cases.
    pub cases: Cases,
    /// The bookings file, read when a case names its booking by id.
    pub bookings: Option<Arc<Loaded>>,
    /// The campaigns the cases are composed with.
    pub campaigns: Campaigns,
}

/// Why a case list cannot be made at all.
#[derive(Debug, thiserror::Error)]
pub enum MakerError {
    /// The case list cannot be read.
    #[error(transparent)]
    Cases(#[from] SnapshotError),
    /// The campaigns cannot start: a template that does not compile, a catalog, a bookings file.
    #[error(transparent)]
    Start(#[from] FatalError),
}

impl Maker {
    /// Reads the case list at `cases` and starts `settings`' campaigns; the bookings come from
    /// `bookings` when given (a console's copy), else are read from `settings.bookings.path`.
    pub async fn start(
        settings: Settings,
        cases: &Path,
        bookings: Option<Arc<Loaded>>,
    ) -> Result<Maker, MakerError> {
        let cases = Cases::load(cases)?;
        let bookings = match (needs_bookings(&cases), bookings) {
            (false, _) => None,
            (true, Some(b)) => Some(b),
            (true, None) => Some(Arc::new(
                Loaded::load(&settings.bookings.path).map_err(FatalError::from)?,
            )),
        };
        let campaigns = Campaigns::start(settings).await?;
        Ok(Maker {
            cases,
            bookings,
            campaigns,
        })
    }

    /// The email of the case `name`.
    pub async fn compose(&self, name: &str) -> Result<Composed, SnapshotError> {
        compose(&self.campaigns, self.bookings.as_deref(), &self.cases, name).await
    }

    /// The snapshot of the case `name`.
    pub async fn snapshot(&self, name: &str) -> Result<String, SnapshotError> {
        Ok(snapshot(name, &self.compose(name).await?))
    }

    /// The case names, in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.cases.cases.keys()
    }
}
