//! `[dkim]` settings that `tripmail validate` refuses (exit 2), each naming its key: key files that
//! are missing, not PEM, too short or of another type (made by openssl in the test), and domains or
//! selectors that cannot be used. The signing itself is checked in `dkim.rs`.

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

use crate::config_case::edited;
use crate::dkim::{config, openssl};
use crate::util::{stderr, tripmail};

/// `tripmail validate` on the shipped config with a `[dkim]` whose key file is `key`: its stderr.
fn refused_key(key: &Path) -> String {
    let tmp = TempDir::new().unwrap();
    let cfg = config(tmp.path(), key);
    let o = tripmail()
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    stderr(&o)
}

#[test]
fn short_rsa_and_other_key_types_are_refused_naming_the_key_and_file() {
    let tmp = TempDir::new().unwrap();
    for (name, algorithm, words) in [
        (
            "rsa1024.pem",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"][..],
            "an RSA key shorter than 2048 bits",
        ),
        (
            "p256.pem",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            "a private key of another type than RSA or Ed25519",
        ),
    ] {
        let key = tmp.path().join(name);
        openssl(
            Command::new("openssl")
                .arg("genpkey")
                .args(algorithm)
                .arg("-out")
                .arg(&key),
        );
        let err = refused_key(&key);
        let needle = format!("key `dkim.private_key_path`: {}: {words}", key.display());
        assert!(err.contains(&needle), "expected {needle:?} in: {err}");
        let pem = std::fs::read_to_string(&key).unwrap();
        assert!(pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .all(|l| !err.contains(l)));
    }
}

const DKIM: &str = "[dkim]\ndomain = \"wanderly.example\"\nselector = \"s1\"\nprivate_key_path = \"/nonexistent/dkim.pem\"\n";

fn with_dkim(section: &str) -> String {
    format!("{}\n{section}", edited("fixtures/campaign.toml", &[]))
}

config_case!(
    dkim_key_file_missing,
    with_dkim(DKIM),
    "dkim.private_key_path",
    "cannot read /nonexistent/dkim.pem: No such file"
);
config_case!(
    dkim_key_file_not_pem,
    with_dkim(&DKIM.replace("/nonexistent/dkim.pem", "fixtures/campaign.toml")),
    "dkim.private_key_path",
    "fixtures/campaign.toml: not a PEM private key"
);
config_case!(
    dkim_key_path_from_the_environment,
    with_dkim(&DKIM.replace("/nonexistent/dkim.pem", "fixtures/campaign.toml")),
    env = [("TRIPMAIL_DKIM__PRIVATE_KEY_PATH", "/elsewhere/key.pem")],
    "dkim.private_key_path",
    "cannot read /elsewhere/key.pem"
);
config_case!(
    dkim_domain_not_aligned_with_the_sender,
    with_dkim(&DKIM.replace(
        "domain = \"wanderly.example\"",
        "domain = \"mailer.example\""
    )),
    "dkim.domain",
    "mailer.example is neither the domain of sender.from (wanderly.example)"
);
config_case!(
    dkim_domain_not_a_domain,
    with_dkim(&DKIM.replace(
        "domain = \"wanderly.example\"",
        "domain = \"wanderly example\""
    )),
    "dkim.domain",
    "\"wanderly example\" is not a domain name"
);
config_case!(
    dkim_selector_not_a_label,
    with_dkim(&DKIM.replace("selector = \"s1\"", "selector = \"s_1\"")),
    "dkim.selector",
    "\"s_1\" is not a selector"
);
