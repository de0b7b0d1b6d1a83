//! The DKIM private key: read from a PEM file once, when the settings load; its type (RSA or Ed25519)
//! read from the PEM itself; and the DNS record that publishes its public half. The key is a secret:
//! no `Debug`, error or record shows it, only its type and size.

use std::fmt;
use std::path::Path;

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};

/// The smallest RSA key accepted, in bits (RFC 8301: 1024 is refused by verifiers, 2048 advised).
pub const MIN_RSA_BITS: usize = 2048;

/// `1.2.840.113549.1.1.1` (rsaEncryption), DER-encoded, as it stands in a PKCS#8 key.
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
/// `1.3.101.112` (Ed25519), DER-encoded.
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A DKIM signing key.
pub enum DkimKey {
    /// `rsa-sha256`.
    Rsa(RsaKeyPair),
    /// `ed25519-sha256` (RFC 8463).
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkimKey({}, ***)", self.describe())
    }
}

impl DkimKey {
    /// Reads the PEM file at `path`. The error says why in words that never quote the file's content.
    pub fn load(path: &Path) -> Result<DkimKey, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8(text)
            .map_err(|_| format!("{}: not a PEM file (not text)", path.display()))?;
        DkimKey::from_pem(&text).map_err(|why| format!("{}: {why}", path.display()))
    }

    /// Parses a PEM private key: `PRIVATE KEY` (PKCS#8, RSA or Ed25519, told apart by the algorithm
    /// it names) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(text: &str) -> Result<DkimKey, String> {
        let (label, der) = pem_block(text)?;
        match label.as_str() {
            "RSA PRIVATE KEY" => rsa(RsaKeyPair::from_der(&der)),
            "PRIVATE KEY" => {
                let head = &der[..der.len().min(32)];
                if contains(head, ED25519_OID) {
                    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                        .map(DkimKey::Ed25519)
                        .map_err(|e| format!("not a usable Ed25519 key ({e})"))
                } else if contains(head, RSA_OID) {
                    rsa(RsaKeyPair::from_pkcs8(&der))
                } else {
                    Err("a private key of another type than RSA or Ed25519".into())
                }
            }
            "ENCRYPTED PRIVATE KEY" => {
                Err("an encrypted private key: tripmail needs it unencrypted (openssl pkey -in KEY -out PLAIN)".into())
            }
            other => Err(format!(
                "a PEM `{other}` block, not a private key (`PRIVATE KEY` or `RSA PRIVATE KEY`)"
            )),
        }
    }

    /// The `a=` tag: `rsa-sha256` or `ed25519-sha256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            DkimKey::Rsa(_) => "rsa-sha256",
            DkimKey::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// Type and size, for messages: `RSA 2048 bits` or `Ed25519`.
    pub fn describe(&self) -> String {
        match self {
            DkimKey::Rsa(k) => format!("RSA {} bits", k.public().modulus_len() * 8),
            DkimKey::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// The value of the TXT record to publish at `<selector>._domainkey.<domain>`.
    pub fn dns_record(&self) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        match self {
            DkimKey::Rsa(k) => format!("v=DKIM1; k=rsa; p={}", b64(&rsa_spki(k.public().as_ref()))),
            DkimKey::Ed25519(k) => {
                format!("v=DKIM1; k=ed25519; p={}", b64(k.public_key().as_ref()))
            }
        }
    }

    /// The signature of the DKIM hash input `data` (RFC 6376 §3.7): RSASSA-PKCS1-v1_5 over SHA-256,
    /// or Ed25519 over the SHA-256 digest (RFC 8463 §3). Both are deterministic.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            DkimKey::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), data, &mut out)
                    .map_err(|_| "the RSA signature failed".to_string())?;
                Ok(out)
            }
            DkimKey::Ed25519(k) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(k.sign(digest.as_ref()).as_ref().to_vec())
            }
        }
    }
}

fn rsa(parsed: Result<RsaKeyPair, ring::error::KeyRejected>) -> Result<DkimKey, String> {
    match parsed {
        Ok(k) if k.public().modulus_len() * 8 < MIN_RSA_BITS => Err(format!(
            "an RSA key of {} bits: DKIM needs at least {MIN_RSA_BITS}",
            k.public().modulus_len() * 8
        )),
        Ok(k) => Ok(DkimKey::Rsa(k)),
        Err(e) if e.to_string() == "TooSmall" => Err(format!(
            "an RSA key shorter than {MIN_RSA_BITS} bits: DKIM needs at least {MIN_RSA_BITS}"
        )),
        Err(e) => Err(format!("not a usable RSA key ({e})")),
    }
}

/// The label and the decoded content of the first PEM block of `text`.
fn pem_block(text: &str) -> Result<(String, Vec<u8>), String> {
    let no_pem = || "not a PEM private key (no -----BEGIN … KEY----- line)".to_string();
    let mut lines = text.lines().map(str::trim);
    let label = lines
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or_else(no_pem)?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for line in lines.by_ref() {
        if line == end {
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|_| format!("the `{label}` block is not valid base64"))?;
            return Ok((label, der));
        }
        body.push_str(line);
    }
    Err(format!("the `{label}` block has no END line"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A PKCS#1 `RSAPublicKey` wrapped in a `SubjectPublicKeyInfo`, the form DNS records carry.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    let algorithm = [RSA_OID, &[0x05, 0x00]].concat();
    let mut bits = vec![0x00];
    bits.extend_from_slice(pkcs1);
    let content = [der(0x30, &algorithm), der(0x03, &bits)].concat();
    der(0x30, &content)
}

/// One DER element: `tag`, its length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
