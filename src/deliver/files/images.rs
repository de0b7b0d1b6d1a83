//! Pictures of review copies, offline: every image address under `[review] images_url_prefix` that
//! names a file of `images_dir` is pointed at a local copy instead (the `.html` review copies and
//! `preview`; never the message sent, whose addresses stay the catalog's).

use std::path::Path;

use crate::config::ReviewImages;

/// The folder, inside the output folder, that holds the copies.
pub const IMAGES_FOLDER: &str = "images";

/// `html` with each address `<prefix><name>` whose `<name>` is a file of the folder written as
/// `link(name)`, and the names so replaced (each once, in order of first use). A name is a relative
/// path of letters, digits, `.`, `_`, `-` and `/`, with no empty, `.` or `..` part.
pub fn localize(
    html: &str,
    images: &ReviewImages,
    link: impl Fn(&str) -> String,
) -> (String, Vec<String>) {
    let prefix = images.url_prefix.as_str();
    let mut out = String::with_capacity(html.len());
    let mut used = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(prefix) {
        let after = &rest[at + prefix.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._-/".contains(c)))
            .unwrap_or(after.len());
        let name = &after[..end];
        out.push_str(&rest[..at]);
        if is_plain(name) && images.dir.join(name).is_file() {
            out.push_str(&link(name));
            if !used.iter().any(|u| u == name) {
                used.push(name.to_string());
            }
        } else {
            out.push_str(prefix);
            out.push_str(name);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, used)
}

/// A relative path that stays inside its folder.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

/// Copies `names` from the pictures' folder to `to` (same relative paths), each only when the copy
/// is missing or of another length, through a temporary file renamed over it.
pub fn copy_images(images: &ReviewImages, names: &[String], to: &Path) -> std::io::Result<()> {
    for name in names {
        let from = images.dir.join(name);
        let dest = to.join(name);
        let len = std::fs::metadata(&from)?.len();
        if std::fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == len) {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = std::fs::read(&from)?;
        super::write_atomically(&dest, |w| std::io::Write::write_all(w, &bytes))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_of_files_in_the_folder_are_made_local() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("p")).unwrap();
        std::fs::write(dir.path().join("p/1.jpg"), b"x").unwrap();
        let images = ReviewImages {
            url_prefix: "https://img.example/".into(),
            dir: dir.path().to_path_buf(),
        };
        let html = r#"<img src="https://img.example/p/1.jpg"><img src="https://img.example/p/2.jpg"><img src="https://img.example/../p/1.jpg"><a href="https://img.example/p/1.jpg">"#;
        let (out, used) = localize(html, &images, |n| format!("../images/{n}"));
        assert_eq!(
            out,
            r#"<img src="../images/p/1.jpg"><img src="https://img.example/p/2.jpg"><img src="https://img.example/../p/1.jpg"><a href="../images/p/1.jpg">"#
        );
        assert_eq!(used, ["p/1.jpg"]);
        let to = dir.path().join("out");
        copy_images(&images, &used, &to).unwrap();
        assert_eq!(std::fs::read(to.join("p/1.jpg")).unwrap(), b"x");
    }
}
