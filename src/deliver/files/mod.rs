//! Files for review: `<dir>/<campaign>/<booking_id>.eml` and `.html`.
//!
//! Each file is written to a temporary name in its folder and renamed over the final one, so that a
//! full disk or a crash leaves the previous file or none, never a truncated one, and so that a
//! symlink planted at the final name is replaced rather than followed (rename replaces the link
//! itself). A campaign folder that is a symlink is refused: it could point anywhere.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::{Delivery, DeliveryError, OutgoingEmail};
use crate::config::ReviewImages;

mod images;

pub use images::{copy_images, localize, IMAGES_FOLDER};

/// Writes each email as an `.eml` file and its HTML beside it.
pub struct FileDelivery {
    dir: PathBuf,
    /// Pictures the `.html` copies show from `<dir>/images/` (`[review]`).
    images: Option<ReviewImages>,
}

/// Writes a file at `path` through a temporary file in the same folder, renamed over `path` once
/// `write` has succeeded: readers see the old file or the whole new one, and a symlink at `path`
/// is replaced, not followed. The temporary file is removed when anything fails.
///
/// Not synced to disk: these are review copies and reports, which the next run writes again; a
/// crash of the machine (not of the process) may leave an empty file where a new one was renamed.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // As `File::create` would (0666 less the umask); a temporary file is 0600 by default.
    #[cfg(unix)]
    let builder = {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666))
    };
    let tmp = builder.tempfile_in(dir)?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Fails when `folder` is a symlink (it would send the files wherever it points).
fn refuse_symlink(folder: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(folder)?.file_type().is_symlink() {
        return Err(std::io::Error::other(
            "the campaign folder is a symlink; tripmail does not write through one (remove it)",
        ));
    }
    Ok(())
}

impl FileDelivery {
    /// Writes under `dir`, creating folders as needed.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileDelivery {
            dir: dir.into(),
            images: None,
        }
    }

    /// The `.html` copies show the pictures of `images` from copies in `<dir>/images/`, linked
    /// relatively (the folder still works when moved); the `.eml` files keep the addresses.
    pub fn with_images(self, images: Option<ReviewImages>) -> Self {
        FileDelivery { images, ..self }
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
        let mime = match mime {
            Some(m) => m,
            None => email.to_mime()?,
        };
        let folder = self.dir.join(&email.campaign);
        let eml = folder.join(format!("{}.eml", email.booking_id));
        let html_path = self
            .dir
            .join(Self::html_path(&email.campaign, &email.booking_id));
        let (html, used) = match &self.images {
            Some(images) => localize(&email.html, images, |name| {
                format!("../{IMAGES_FOLDER}/{name}")
            }),
            None => (email.html.clone(), Vec::new()),
        };
        let images = self.images.clone();
        let images_to = self.dir.join(IMAGES_FOLDER);
        let fail = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DeliveryError::Write { path, source }
        };
        let written = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&folder)
                .and_then(|()| refuse_symlink(&folder))
                .map_err(fail(&folder))?;
            write_atomically(&eml, |w| w.write_all(&mime)).map_err(fail(&eml))?;
            if let Some(images) = &images {
                copy_images(images, &used, &images_to).map_err(fail(&images_to))?;
            }
            write_atomically(&html_path, |w| w.write_all(html.as_bytes())).map_err(fail(&html_path))
        })
        .await;
        written.unwrap_or_else(|e| {
            Err(DeliveryError::Bug(format!(
                "writing the files failed unexpectedly (a bug; please report it): {e}"
            )))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_previous_file_and_leaves_no_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.eml");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomically(&path, |w| {
            w.write_all(b"half a mess")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        write_atomically(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
