//! Taking the API key out of a text an API sent back (an error body), in every form an echo can
//! take: as is, in the `Token` header, percent- or form-encoded, JSON-escaped, HTML entities
//! (`&#x2F;`, `&#47;`, `&sol;`), up to three of these layered in any mix (`%5C%2F`, `%252F`,
//! `\/` beside `%2F`), hex, base64 in either alphabet with or without padding (of the key or of
//! its percent-encoding, alone or inside a longer base64 text), and as the Basic credential.
//!
//! Rather than list every escaped spelling, the text is read again with one layer of escapes
//! (percent, JSON, HTML) taken off, up to three times, each byte of a reading remembering which
//! bytes of the original it came from; each form is looked for in every reading, and what
//! matches is cut out of the original text. Matching ignores ASCII case: hiding a few extra
//! characters is harmless, and `%2f` or `\u002F` are as common as `%2F` and `\u002f`.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// What replaces a secret.
const MASK: &str = "***";

/// How many layers of escapes are taken off, one after the other: JSON-escaped, then
/// percent-encoded, then percent-encoded again is three.
const LAYERS: usize = 3;

/// The most bytes one byte takes once escaped [`LAYERS`] times by common encoders:
/// `/`, `&#x2F;`, `%26%23x2F%3B`, `%2526%2523x2F%253B` (18), with room to spare.
const MOST_BYTES_PER_BYTE: usize = 24;

/// The forms of one secret, ready to be looked for.
#[derive(Clone, Default)]
pub(super) struct Redactor {
    /// ASCII-lowercased, longest first.
    forms: Vec<Vec<u8>>,
}

/// Shows how many forms there are, never one of them: each gives the key away.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("forms", &self.forms.len())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// The forms of `key`, sent as `Authorization: Token <key>` or, with `basic_user`, as the
    /// password of HTTP Basic.
    pub(super) fn new(key: &str, basic_user: Option<&str>) -> Redactor {
        if key.is_empty() {
            return Redactor::default();
        }
        let percent =
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut forms = vec![
            key.to_string(),
            format!("Token {key}"),
            url::form_urlencoded::byte_serialize(key.as_bytes()).collect(),
            key.bytes().map(|b| format!("{b:02x}")).collect(),
        ];
        // Base64 of the key, or of the key as a URL carries it.
        for plain in [key, percent.as_str()] {
            for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
                forms.push(engine.encode(plain));
            }
            forms.extend(base64_cores(plain.as_bytes()));
        }
        forms.push(percent);
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

    /// The most bytes of a text one echo of the key can span, in the spellings encoders produce.
    pub(super) fn reach(&self) -> usize {
        self.forms.first().map_or(0, Vec::len) * MOST_BYTES_PER_BYTE
    }

    /// `text` with every form of the secret replaced by `***`.
    pub(super) fn redact(&self, text: &str) -> String {
        if self.forms.is_empty() {
            return text.to_string();
        }
        let mut view = View::plain(text);
        let mut spans = view.matches(&self.forms);
        for _ in 0..LAYERS {
            let Some(next) = view.unescaped() else {
                break;
            };
            spans.extend(next.matches(&self.forms));
            view = next;
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

    /// The spans of the original text where one of `forms` reads in this view.
    fn matches(&self, forms: &[Vec<u8>]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        for form in forms {
            for at in find_all(&self.bytes, form) {
                spans.push((self.starts[at], self.ends[at + form.len() - 1]));
            }
        }
        spans
    }

    /// This view with one layer of escapes taken off, whichever kind each one is (so that
    /// `\/` beside `%2F` reads as two slashes), or `None` when it holds no escape. A byte of the
    /// result comes from where the whole escape it decodes came from.
    fn unescaped(&self) -> Option<View> {
        let b = &self.bytes;
        let mut v = View::with_capacity(b.len());
        let mut changed = false;
        let mut i = 0;
        while i < b.len() {
            let (decoded, len) = match unescape(&b[i..]) {
                Some((c, len)) => {
                    changed = true;
                    (c, len)
                }
                None => (Decoded::Byte(b[i]), 1),
            };
            let (start, end) = (self.starts[i], self.ends[i + len - 1]);
            match decoded {
                Decoded::Byte(byte) => v.push(&[byte], start, end),
                Decoded::Char(c) => v.push(c.encode_utf8(&mut [0; 4]).as_bytes(), start, end),
            }
            i += len;
        }
        changed.then_some(v)
    }
}

/// What an escape stands for: a byte (`%XX` can be part of a UTF-8 sequence) or a character.
enum Decoded {
    Byte(u8),
    Char(char),
}

/// The escape at the start of `b`, if any: percent, JSON or HTML; and its length.
fn unescape(b: &[u8]) -> Option<(Decoded, usize)> {
    match b.first()? {
        b'%' => Some((Decoded::Byte(hex(b.get(1..3)?)? as u8), 3)),
        b'\\' => json_escape(b).map(|(c, len)| (Decoded::Char(c), len)),
        b'&' => html_entity(b).map(|(c, len)| (Decoded::Char(c), len)),
        _ => None,
    }
}

/// The value of `digits`, all hexadecimal (no sign, unlike `from_str_radix`).
fn hex(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 6 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The character a JSON escape at the start of `b` stands for (`\/`, `\"`, `\\`, `\n`…,
/// `\uXXXX` including surrogate pairs), and the escape's length; a lone surrogate is no escape.
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
            let unit = |at: usize| hex(b.get(at..at + 4)?);
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

/// The named HTML entities of ASCII punctuation, lowercased (views are): what a key can hold
/// besides letters and digits.
const ENTITIES: &[(&str, char)] = &[
    ("excl", '!'),
    ("quot", '"'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("amp", '&'),
    ("apos", '\''),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
    ("sol", '/'),
    ("colon", ':'),
    ("semi", ';'),
    ("lt", '<'),
    ("equals", '='),
    ("gt", '>'),
    ("quest", '?'),
    ("commat", '@'),
    ("lsqb", '['),
    ("bsol", '\\'),
    ("rsqb", ']'),
    ("hat", '^'),
    ("lowbar", '_'),
    ("grave", '`'),
    ("lcub", '{'),
    ("verbar", '|'),
    ("rcub", '}'),
];

/// The character an HTML entity at the start of `b` stands for (`&#47;`, `&#x2f;`, `&sol;`),
/// and the entity's length. The `;` is required: encoders write it.
fn html_entity(b: &[u8]) -> Option<(char, usize)> {
    let semi = b.iter().take(10).position(|&c| c == b';')?;
    let body = &b[1..semi];
    let c = match body {
        [b'#', b'x', digits @ ..] => char::from_u32(hex(digits)?)?,
        [b'#', digits @ ..] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            char::from_u32(std::str::from_utf8(digits).ok()?.parse().ok()?)?
        }
        name => ENTITIES
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|&(_, c)| c)?,
    };
    Some((c, semi + 1))
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
    fn the_key_is_hidden_as_html_entities_hex_decimal_or_named() {
        hidden("live&#x2F;Xk29&#x2F;ab&#x2B;cd");
        hidden("live&#x2f;Xk29&#X2f;ab&#x2b;cd");
        hidden("live&#47;Xk29&#47;ab&#43;cd");
        hidden("live&sol;Xk29&sol;ab&plus;cd");
        hidden("live&amp;#47;Xk29&amp;#47;ab&amp;#43;cd");
    }

    #[test]
    fn the_key_is_hidden_json_escaped_then_percent_encoded() {
        hidden("live%5C%2FXk29%5C%2Fab%2Bcd");
        hidden("live%5Cu002fXk29%5Cu002fab%5Cu002bcd");
    }

    #[test]
    fn the_key_is_hidden_with_json_and_percent_escapes_mixed_in_one_echo() {
        hidden(r"live\/Xk29%2Fab+cd");
        hidden(r"live%2FXk29\u002fab%2Bcd");
    }

    #[test]
    fn the_key_is_hidden_percent_encoded_twice_and_three_layers_deep() {
        hidden("live%252FXk29%252Fab%252Bcd");
        hidden("live%252fXk29%252fab%252bcd");
        // HTML, then percent-encoded twice.
        hidden("live%2526%2523x2F%253BXk29%2526%2523x2F%253Bab%2526%2523x2B%253Bcd");
    }

    #[test]
    fn the_key_is_hidden_in_base64_of_its_percent_encoding() {
        hidden("bGl2ZSUyRlhrMjklMkZhYiUyQmNk");
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            hidden(&engine.encode("live%2FXk29%2Fab%2Bcd"));
        }
        // Inside a longer base64 text: a query string.
        let echo = STANDARD.encode("?token=live%2FXk29%2Fab%2Bcd&x=1");
        let out = token().redact(&echo);
        assert!(out.contains(MASK), "{out}");
    }

    #[test]
    fn the_key_is_hidden_in_hex_of_either_case() {
        let lower: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
        hidden(&lower);
        hidden(&lower.to_uppercase());
    }

    #[test]
    fn a_redactor_shown_with_debug_shows_no_form_of_the_key() {
        let r = Redactor::new(KEY, Some("tripmail"));
        let shown = format!("{r:?} {r:#?}").to_lowercase();
        assert!(!shown.contains("xk29"), "{shown}");
        for form in &r.forms {
            let form = String::from_utf8_lossy(form);
            assert!(!shown.contains(&*form), "{form} in {shown}");
        }
        // Nor as the list of bytes a derived `Debug` would print.
        let bytes = format!("{:?}", b"xk29".to_vec());
        assert!(!shown.contains(bytes.trim_matches(['[', ']'])), "{shown}");
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
