//! `[dkim]`: the domain, selector and private key emails are signed with. Optional: without it
//! emails go unsigned, and the relay must sign them. The key file is read and parsed here, once,
//! when the settings load; it is a secret, so no message quotes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::load::{invalid, ConfigError};
use super::Settings;
use crate::dkim::{DkimKey, DkimSigner};

/// `[dkim]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    /// `d=`: the signing domain, the From address's domain or a parent of it (DMARC alignment).
    pub domain: String,
    /// `s=`: the public key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// A PEM private key: RSA (2048 bits or more; PKCS#8 or PKCS#1) or Ed25519 (PKCS#8), told apart
    /// by the PEM itself (`TRIPMAIL_DKIM__PRIVATE_KEY_PATH`).
    pub private_key_path: PathBuf,
    /// The signer, made from the key when the settings load.
    #[serde(skip)]
    pub signer: Option<Arc<DkimSigner>>,
}

impl Settings {
    /// Checks `[dkim]` (when there is one) and loads its key.
    pub(super) fn validate_dkim(&mut self, path: &Path) -> Result<(), ConfigError> {
        let from_domain = self.sender.from.email.domain().to_ascii_lowercase();
        let Some(dkim) = &mut self.dkim else {
            return Ok(());
        };
        let bad = invalid(path);
        dkim.domain = dkim.domain.trim_end_matches('.').to_ascii_lowercase();
        if !is_domain(&dkim.domain) || !dkim.domain.contains('.') {
            return Err(bad(
                "dkim.domain",
                format!("{:?} is not a domain name", dkim.domain),
            ));
        }
        if !aligned(&dkim.domain, &from_domain) {
            return Err(bad(
                "dkim.domain",
                format!(
                    "{} is neither the domain of sender.from ({from_domain}) nor a parent or subdomain of it: DMARC would not count the signature (alignment)",
                    dkim.domain
                ),
            ));
        }
        if !is_domain(&dkim.selector) {
            return Err(bad(
                "dkim.selector",
                format!(
                    "{:?} is not a selector (letters, digits and hyphens, dot-separated)",
                    dkim.selector
                ),
            ));
        }
        let key = DkimKey::load(&dkim.private_key_path).map_err(|why| {
            bad(
                "dkim.private_key_path",
                format!("{why} (an unencrypted PEM key: RSA of at least 2048 bits, or Ed25519)"),
            )
        })?;
        dkim.signer = Some(Arc::new(DkimSigner::new(
            dkim.domain.clone(),
            dkim.selector.clone(),
            key,
        )));
        Ok(())
    }

    /// The signer of every email, when `[dkim]` says one.
    pub fn dkim_signer(&self) -> Option<Arc<DkimSigner>> {
        self.dkim.as_ref().and_then(|d| d.signer.clone())
    }
}

/// Dot-separated labels of letters, digits and inner hyphens, each 1 to 63 long, 253 in all.
fn is_domain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Relaxed DMARC alignment without the public suffix list: the same domain, or one under the other.
fn aligned(dkim: &str, from: &str) -> bool {
    let under = |a: &str, b: &str| a.strip_suffix(b).is_some_and(|rest| rest.ends_with('.'));
    dkim == from || under(from, dkim) || under(dkim, from)
}

#[cfg(test)]
mod tests {
    use super::{aligned, is_domain};
    use crate::config::Settings;

    #[test]
    fn the_key_loads_and_never_shows_in_debug() {
        use base64::Engine;
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .expect("a key");
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("k.pem");
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        std::fs::write(&key, pem).expect("written");
        let toml = format!(
            "[bookings]\npath = \"b.csv\"\n[engine]\ncatalog = \"c.json\"\n[links]\nproduct_url = \"https://s.example/p/{{product_id}}\"\n[sender]\nfrom = \"Shop <t@mail.shop.example>\"\n[dkim]\ndomain = \"Shop.Example.\"\nselector = \"s1\"\nprivate_key_path = \"{}\"\n[[campaign]]\nname = \"r\"\ntrigger = \"reminder\"\ndays_before = 3\nlist_unsubscribe = false\n",
            key.display()
        );
        let s = Settings::from_toml(&toml).expect("loads");
        let signer = s.dkim_signer().expect("a signer");
        assert_eq!(
            (signer.domain(), signer.key().algorithm()),
            ("shop.example", "ed25519-sha256")
        );
        let shown = format!("{s:?}");
        assert!(shown.contains("DkimKey(Ed25519, ***)"), "{shown}");
        assert!(!shown.contains(&b64[16..40]), "{shown}");
    }

    #[test]
    fn domains_and_alignment() {
        assert!(is_domain("mail.wanderly.example"));
        assert!(!is_domain("wanderly..example"));
        assert!(!is_domain("-x.example"));
        assert!(!is_domain("x_y.example"));
        assert!(aligned("wanderly.example", "wanderly.example"));
        assert!(aligned("wanderly.example", "mail.wanderly.example"));
        assert!(aligned("mail.wanderly.example", "wanderly.example"));
        assert!(!aligned("wanderly.example", "otherwanderly.example"));
        assert!(!aligned("esp.example", "wanderly.example"));
    }
}
