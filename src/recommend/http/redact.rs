//! Taking the API key out of a text an API sent back (an error body), in every form an echo can
//! take: as is, in the `Token` header, percent- or form-encoded, JSON-escaped in any mix (`\/`,
//! `\u002f`, `\u002F`), base64 in either alphabet with or without padding (alone, or inside a longer
//! base64 text), and as the Basic credential.
//!
//! Rather than list every escaped spelling, the text is also read through two decoders (JSON
//! escapes, percent escapes) and each form is looked for in all three readings; what matches is
//! cut out of the original text. Matching ignores ASCII case: hiding a few extra characters is
//! harmless, and `%2f` or `\u002F` are as common as `%2F` and `\u002f`.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// What replaces a secret.
const MASK: &str = "***";

/// The forms of one secret, ready to be looked for.
#[derive(Debug, Clone, Default)]
pub(super) struct Redactor {
    /// ASCII-lowercased, longest first.
    forms: Vec<Vec<u8>>,
}

impl Redactor {
    /// The forms of `key`, sent as `Authorization: Token <key>` or, with `basic_user`, as the
    /// password of HTTP Basic.
    pub(super) fn new(key: &str, basic_user: Option<&str>) -> Redactor {
        if key.is_empty() {
            return Redactor::default();
        }
        let mut forms = vec![
            key.to_string(),
            format!("Token {key}"),
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            url::form_urlencoded::byte_serialize(key.as_bytes()).collect(),
        ];
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            forms.push(engine.encode(key));
        }
        forms.extend(base64_cores(key.as_bytes()));
        if let Some(user) = basic_user {
            forms.push(STANDARD.encode(format!("{user}:{key}")));
        }
        let mut forms: Vec<Vec<u8>> = forms
            .into_iter()
            .filter(|f| !f.is_empty())
            .map(|f| f.to_ascii_lowercase().into_bytes())
            .collect();
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Redactor { forms }
    }

    /// The length in bytes of the longest form, escapes decoded.
    pub(super) fn longest(&self) -> usize {
        self.forms.first().map_or(0, Vec::len)
    }

    /// `text` with every form of the secret replaced by `***`.
    pub(super) fn redact(&self, text: &str) -> String {
        if self.forms.is_empty() {
            return text.to_string();
        }
        let mut spans = Vec::new();
        for view in [View::plain(text), View::json(text), View::percent(text)] {
            for form in &self.forms {
                for at in find_all(&view.bytes, form) {
                    spans.push((view.starts[at], view.ends[at + form.len() - 1]));
                }
            }
        }
        mask(text, spans)
    }
}

/// Replaces the union of `spans` (byte ranges of `text`) with the mask.
fn mask(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (mut start, mut end) in spans {
        // Views map back to whole escapes, but a match may still begin or end inside a
        // character of the original; widen it to whole characters.
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if end <= done {
            continue;
        }
        // A span overlapping the previous one extends its mask.
        if start >= done {
            out.push_str(&text[done..start]);
            out.push_str(MASK);
        }
        done = end;
    }
    out.push_str(&text[done..]);
    out
}

/// Where `needle` occurs in `haystack`, overlapping occurrences included.
fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

/// The parts of `bytes`' base64 encoding that do not depend on what surrounds them, for each of
/// the three alignments `bytes` can have inside a longer base64 text, in both alphabets: an echo
/// that base64-encodes a larger text holding the key still shows one of these.
fn base64_cores(bytes: &[u8]) -> Vec<String> {
    let mut cores = Vec::new();
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        for shift in 0..3usize {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(bytes);
            let encoded = engine.encode(&shifted);
            // Character i carries bits 6i..6i+6: keep those whose bits are all the key's.
            let first = (8 * shift).div_ceil(6);
            let end = 8 * shifted.len() / 6;
            if end >= first + 4 {
                cores.push(encoded[first..end].to_string());
            }
        }
    }
    cores
}

/// A reading of a text, lowercased, with where each of its bytes came from.
struct View {
    bytes: Vec<u8>,
    /// For each byte of `bytes`, the start of what produced it in the original.
    starts: Vec<usize>,
    /// For each byte of `bytes`, the end of what produced it in the original.
    ends: Vec<usize>,
}

impl View {
    fn with_capacity(n: usize) -> View {
        View {
            bytes: Vec::with_capacity(n),
            starts: Vec::with_capacity(n),
            ends: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, decoded: &[u8], start: usize, end: usize) {
        for &b in decoded {
            self.bytes.push(b.to_ascii_lowercase());
            self.starts.push(start);
            self.ends.push(end);
        }
    }

    /// The text as is.
    fn plain(text: &str) -> View {
        let mut v = View::with_capacity(text.len());
        for (i, b) in text.bytes().enumerate() {
            v.push(&[b], i, i + 1);
        }
        v
    }

    /// The text with `%XX` escapes decoded.
    fn percent(text: &str) -> View {
        let b = text.as_bytes();
        let mut v = View::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = b.get(i + 1..i + 3).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            });
            match (b[i], hex) {
                (b'%', Some(byte)) => {
                    v.push(&[byte], i, i + 3);
                    i += 3;
                }
                (byte, _) => {
                    v.push(&[byte], i, i + 1);
                    i += 1;
                }
            }
        }
        v
    }

    /// The text with JSON string escapes decoded (`\/`, `\"`, `\\`, `\n`…, `\uXXXX` including
    /// surrogate pairs); anything else, a lone surrogate included, is kept as is.
    fn json(text: &str) -> View {
        let b = text.as_bytes();
        let mut v = View::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                if let Some((c, len)) = json_escape(&b[i..]) {
                    let mut buf = [0u8; 4];
                    v.push(c.encode_utf8(&mut buf).as_bytes(), i, i + len);
                    i += len;
                    continue;
                }
            }
            v.push(&[b[i]], i, i + 1);
            i += 1;
        }
        v
    }
}

/// The character a JSON escape at the start of `b` stands for, and the escape's length.
fn json_escape(b: &[u8]) -> Option<(char, usize)> {
    let simple = match b.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = |at: usize| -> Option<u32> {
                let h = std::str::from_utf8(b.get(at..at + 4)?).ok()?;
                u32::from_str_radix(h, 16).ok()
            };
            let first = unit(2)?;
            if let Some(c) = char::from_u32(first) {
                return Some((c, 6));
            }
            // A high surrogate must be followed by `\u` and a low one.
            if (0xD800..0xDC00).contains(&first) && b.get(6..8) == Some(b"\\u") {
                let second = unit(8)?;
                if (0xDC00..0xE000).contains(&second) {
                    let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return char::from_u32(c).map(|c| (c, 12));
                }
            }
            return None;
        }
        _ => return None,
    };
    Some((simple, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "live/Xk29/ab+cd";

    fn token() -> Redactor {
        Redactor::new(KEY, None)
    }

    fn hidden(echo: &str) {
        let text = format!("{{\"error\":\"bad key {echo} given\"}}");
        let out = token().redact(&text);
        assert_eq!(out, "{\"error\":\"bad key *** given\"}", "{echo}");
    }

    #[test]
    fn the_key_is_hidden_as_is_and_in_the_token_header() {
        hidden(KEY);
        hidden(&format!("Token {KEY}"));
        hidden("LIVE/xK29/AB+CD");
    }

    #[test]
    fn the_key_is_hidden_percent_and_form_encoded_in_either_case() {
        hidden("live%2FXk29%2Fab%2Bcd");
        hidden("live%2fXk29%2fab%2bcd");
        hidden("live/Xk29/ab%2Bcd");
        hidden("live%2FXk29%2Fab+cd");
    }

    #[test]
    fn the_key_is_hidden_json_escaped_in_any_mix() {
        hidden(r"live\/Xk29\/ab+cd");
        hidden(r"live\u002fXk29\u002Fab\u002bcd");
        hidden(r"live\/Xk29/ab\u002Bcd");
        let serde = serde_json::to_string(KEY).expect("a string serializes");
        hidden(serde.trim_matches('"'));
    }

    #[test]
    fn non_ascii_and_surrogate_escapes_are_decoded() {
        let r = Redactor::new("clé😀x", None);
        assert_eq!(r.redact(r"k=cl\u00e9\ud83d\ude00x."), "k=***.");
        assert_eq!(r.redact("k=cl%C3%A9%F0%9F%98%80x."), "k=***.");
        assert_eq!(r.redact("k=clé😀x."), "k=***.");
    }

    #[test]
    fn the_key_is_hidden_in_base64_of_either_alphabet_padded_or_not() {
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            hidden(&engine.encode(KEY));
        }
    }

    #[test]
    fn the_key_is_hidden_inside_a_longer_base64_text_whatever_its_alignment() {
        for prefix in ["", "a", "ab", "abc"] {
            let echo = STANDARD.encode(format!("{prefix}{{\"key\":\"{KEY}\"}}"));
            let out = token().redact(&echo);
            assert!(out.contains(MASK), "{prefix:?}: {out}");
            // At most a character or two of the key's bits stay on either side.
            let leaked = out.replace(MASK, "").len();
            assert!(leaked < echo.len() - 16, "{prefix:?}: {out}");
        }
    }

    #[test]
    fn the_basic_credential_is_hidden() {
        let r = Redactor::new("s3cret-key", Some("tripmail"));
        let basic = STANDARD.encode("tripmail:s3cret-key");
        assert_eq!(r.redact(&format!("got Basic {basic}")), "got Basic ***");
    }

    #[test]
    fn overlapping_and_repeated_echoes_become_one_mask_each() {
        let r = Redactor::new("abab", None);
        assert_eq!(r.redact("x ababab y abab"), "x *** y ***");
    }

    #[test]
    fn text_without_the_key_is_unchanged_and_no_key_hides_nothing() {
        let text = r#"plain \u00e9 %zz \ud800 text \";"#;
        assert_eq!(token().redact(text), text);
        assert_eq!(Redactor::new("", None).redact(KEY), KEY);
    }
}
