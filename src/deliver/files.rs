//! Files for review: `<dir>/<campaign>/<booking_id>.eml` and `.html`.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::{Delivery, DeliveryError, OutgoingEmail};

/// Writes each email as an `.eml` file and its HTML beside it.
pub struct FileDelivery {
    dir: PathBuf,
}

impl FileDelivery {
    /// Writes under `dir`, creating folders as needed.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileDelivery { dir: dir.into() }
    }

    /// The HTML file of an email, relative to the output folder.
    pub fn html_path(campaign: &str, booking_id: &str) -> PathBuf {
        Path::new(campaign).join(format!("{booking_id}.html"))
    }

    async fn write(
        &self,
        email: &OutgoingEmail,
        mime: Option<Vec<u8>>,
    ) -> Result<(), DeliveryError> {
        let folder = self.dir.join(&email.campaign);
        let fail = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DeliveryError::Write { path, source }
        };
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(fail(&folder))?;
        let mime = match mime {
            Some(m) => m,
            None => email.to_mime()?,
        };
        let eml = folder.join(format!("{}.eml", email.booking_id));
        tokio::fs::write(&eml, mime).await.map_err(fail(&eml))?;
        let html = self
            .dir
            .join(Self::html_path(&email.campaign, &email.booking_id));
        tokio::fs::write(&html, &email.html)
            .await
            .map_err(fail(&html))?;
        Ok(())
    }
}

impl Delivery for FileDelivery {
    fn deliver<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.write(email, None))
    }

    fn deliver_built<'a>(
        &'a self,
        email: &'a OutgoingEmail,
        mime: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.write(email, Some(mime)))
    }
}
