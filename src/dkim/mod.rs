//! DKIM signing (RFC 6376, with Ed25519 from RFC 8463): a finished message gets a `DKIM-Signature`
//! header in front, once, on the rendering threads, so that what is sent and what is written for
//! review carry the same signature. relaxed/relaxed; `t=` is the run's instant, so that the same
//! inputs give the same bytes (RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic).
//!
//! Built on `ring` (already in the tree through rustls) rather than a DKIM crate: those found either
//! sign with the wall clock only (`mail-auth`, lettre's `dkim` feature) or bring a DNS resolver that
//! signing does not need (`cfdkim`). The independent check is in the tests (dkimpy).

use chrono::{DateTime, Utc};

mod canon;
mod key;

pub use key::{DkimKey, MIN_RSA_BITS};

/// The header fields signed, each over-signed (listed once more than it appears), so that none of
/// them can be added after signing: a second `From`, a `List-Unsubscribe` on an email without one.
pub const SIGNED_FIELDS: [&str; 9] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Signs messages for one domain and selector with one key.
#[derive(Debug)]
pub struct DkimSigner {
    domain: String,
    selector: String,
    key: DkimKey,
}

impl DkimSigner {
    /// A signer for `d=domain`, `s=selector`.
    pub fn new(domain: impl Into<String>, selector: impl Into<String>, key: DkimKey) -> Self {
        DkimSigner {
            domain: domain.into(),
            selector: selector.into(),
            key,
        }
    }

    /// `d=`
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `s=`
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The key (its type and public half; it never shows the private one).
    pub fn key(&self) -> &DkimKey {
        &self.key
    }

    /// Where the public key is published: `<selector>._domainkey.<domain>`.
    pub fn dns_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// `message` (CRLF line ends) with a `DKIM-Signature` header in front, `t=` being `now`.
    pub fn sign(&self, message: &[u8], now: DateTime<Utc>) -> Result<Vec<u8>, String> {
        let (fields, body) = canon::split(message)
            .ok_or("DKIM: the message has no header/body separator (a bug; please report it)")?;
        let body_hash = ring::digest::digest(&ring::digest::SHA256, &canon::body(body));
        let mut names = Vec::new();
        let mut data = Vec::with_capacity(1024);
        for wanted in SIGNED_FIELDS {
            let present: Vec<_> = fields
                .iter()
                .filter(|f| f.name.trim_end().eq_ignore_ascii_case(wanted))
                .collect();
            // Bottom up, as verifiers pick them; then once more for none.
            for f in present.iter().rev() {
                data.extend_from_slice(canon::header(f.name, f.value).as_bytes());
                data.extend_from_slice(b"\r\n");
            }
            names.extend(std::iter::repeat_n(
                wanted.to_ascii_lowercase(),
                present.len() + 1,
            ));
        }
        let tags = [
            "v=1".to_string(),
            format!("a={}", self.key.algorithm()),
            "c=relaxed/relaxed".into(),
            format!("d={}", self.domain),
            format!("s={}", self.selector),
            format!("t={}", now.timestamp().max(0)),
            format!("h={}", names.join(":")),
            format!("bh={}", b64(body_hash.as_ref())),
        ];
        let unsigned = format!("{}; b=", tags.join("; "));
        data.extend_from_slice(canon::header("DKIM-Signature", &format!(" {unsigned}")).as_bytes());
        let signature = b64(&self.key.sign(&data)?);
        let mut out = Vec::with_capacity(message.len() + 800);
        out.extend_from_slice(folded(&tags, &signature).as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `DKIM-Signature` field, folded under 78 columns: a tag per line when the line would be longer,
/// `b=` in chunks. Folding is white space, which relaxed canonicalization and `b=` removal ignore.
fn folded(tags: &[String], signature: &str) -> String {
    let mut out = String::from("DKIM-Signature:");
    let mut column = out.len();
    for (i, tag) in tags.iter().enumerate() {
        let sep = if i == 0 { "" } else { ";" };
        if column + tag.len() + 2 > 78 {
            out.push_str(sep);
            out.push_str("\r\n\t");
            column = 1;
        } else {
            out.push_str(sep);
            out.push(' ');
            column += sep.len() + 1;
        }
        out.push_str(tag);
        column += tag.len();
    }
    out.push_str(";\r\n\tb=");
    let chunks = signature.as_bytes().chunks(70);
    let lines: Vec<&str> = chunks.filter_map(|c| std::str::from_utf8(c).ok()).collect();
    out.push_str(&lines.join("\r\n\t  "));
    out.push_str("\r\n");
    out
}
