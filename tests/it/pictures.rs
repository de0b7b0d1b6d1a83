//! The demo shows pictures offline: review copies point at local copies of `[review]
//! images_dir`, the messages keep the catalog's addresses.

use crate::util::{config_with, preview_cmd, run_config, run_shipped, succeeds, tripmail};

/// Width and height of a baseline or progressive JPEG (its SOF segment); `None` when `bytes` is
/// not one.
fn jpeg_size(bytes: &[u8]) -> Option<(u16, u16)> {
    if bytes.get(..3)? != [0xFF, 0xD8, 0xFF] {
        return None;
    }
    let mut i = 2;
    while i + 9 < bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if (0xC0..=0xC2).contains(&marker) {
            let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]);
            let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// The `src` addresses of the images of `html`.
fn sources(html: &str) -> Vec<String> {
    html.split("<img")
        .skip(1)
        .filter_map(|tag| {
            let rest = &tag[tag.find("src=\"")? + 5..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

#[test]
fn review_copies_show_local_pictures_and_the_messages_keep_the_catalogs_addresses() {
    let dir = tempfile::tempdir().unwrap();
    succeeds(&run_shipped(dir.path(), &[]));
    let mut shown = 0;
    for campaign in ["confirmation", "reminder"] {
        for entry in std::fs::read_dir(dir.path().join(campaign)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "html") {
                let html = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !html.contains("images.wanderly.example"),
                    "{}",
                    path.display()
                );
                for src in sources(&html) {
                    assert!(src.starts_with("../images/products/"), "{src}");
                    let file = path.parent().unwrap().join(&src);
                    let bytes = std::fs::read(&file).unwrap();
                    assert_eq!(jpeg_size(&bytes), Some((600, 400)), "{}", file.display());
                    shown += 1;
                }
            }
            if path.extension().is_some_and(|e| e == "eml") {
                let eml = std::fs::read_to_string(&path).unwrap();
                assert!(!eml.contains("../images"), "{}", path.display());
            }
        }
    }
    assert!(shown >= 80, "every block's pictures: {shown}");
    // The message keeps the catalog's address (its HTML part unfolded from quoted-printable).
    let eml = std::fs::read_to_string(dir.path().join("reminder/WT-100001.eml")).unwrap();
    let unfolded = eml
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let html = std::fs::read_to_string(dir.path().join("reminder/WT-100001.html")).unwrap();
    assert_eq!(sources(&html).len(), 3);
    for src in sources(&html) {
        let name = src.trim_start_matches("../images/");
        let address = format!("src=\"https://images.wanderly.example/{name}\"");
        assert!(unfolded.contains(&address), "{address}");
    }
}

#[test]
fn without_the_review_keys_the_review_copies_keep_the_catalogs_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(
        dir.path(),
        &[
            ("images_dir = \"fixtures/images\"", ""),
            (
                "images_url_prefix = \"https://images.wanderly.example/\"",
                "",
            ),
        ],
    );
    let out = dir.path().join("out");
    let o = run_config(&cfg, &out);
    succeeds(&o);
    let html = std::fs::read_to_string(out.join("reminder/WT-100001.html")).unwrap();
    let src = sources(&html);
    assert!(!src.is_empty());
    assert!(
        src.iter()
            .all(|s| s.starts_with("https://images.wanderly.example/")),
        "{src:?}"
    );
    assert!(!out.join("images").exists());
}

#[test]
fn one_key_without_the_other_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), &[("images_dir = \"fixtures/images\"", "")]);
    let o = tripmail()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    crate::util::fails_with(&o, "review.images_dir");
}

#[test]
fn a_preview_written_to_a_file_takes_its_pictures_along() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let o = preview_cmd("WT-100001", "reminder")
        .arg("--output")
        .arg(&page)
        .output()
        .unwrap();
    succeeds(&o);
    let html = std::fs::read_to_string(&page).unwrap();
    let src = sources(&html);
    assert!(!src.is_empty());
    for s in src {
        assert!(s.starts_with("images/products/"), "{s}");
        let bytes = std::fs::read(dir.path().join(&s)).unwrap();
        assert_eq!(jpeg_size(&bytes), Some((600, 400)));
    }
}
