//! The body of a text part, encoded as lettre 0.11 encodes a `String` (`Body::new`), byte for byte,
//! only faster.
//!
//! lettre chooses the Content-Transfer-Encoding with email-encoding 0.4 (`Encoding::choose(text,
//! false)`), copies the text with every LF made CRLF, then hands the copy to quoted_printable 0.5,
//! which appends char by char to a `String`. Here the choice is made from the same counts, and the
//! quoted-printable encoder is one pass over the text as given: runs of plain bytes are copied whole
//! into an output allocated once, and a lone LF is treated as the CRLF lettre would have made of
//! it. Every step of quoted_printable's encoder that decides the output is kept as it is: the
//! 76-column limit with its runs of at most `76 - column - 2` plain bytes, the soft line break put
//! back before the last thing appended when a line is exactly full, a space or tab before a line end
//! (or at the end) encoded, a CR not followed by LF encoded as `=0D`. The base64 case, which the
//! emails do not take, is left to lettre.

use lettre::message::header::ContentTransferEncoding;
use lettre::message::Body;

/// quoted_printable's line length limit, without the CRLF.
const LIMIT: usize = 76;

/// A byte quoted_printable copies as it is: tab and printable ASCII except `=`.
const PLAIN: u8 = 0;
/// A byte written `=XX`.
const ESCAPE: u8 = 1;
const CR: u8 = 2;
const LF: u8 = 3;

/// The class of every byte.
static CLASS: [u8; 256] = {
    let mut t = [ESCAPE; 256];
    let mut b = b' ';
    while b <= b'~' {
        t[b as usize] = PLAIN;
        b += 1;
    }
    t[b'\t' as usize] = PLAIN;
    t[b'=' as usize] = ESCAPE;
    t[b'\r' as usize] = CR;
    t[b'\n' as usize] = LF;
    t
};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// What lettre's `Body::new(text.to_string())` returns.
pub(crate) fn body(text: &str) -> Body {
    let b = text.as_bytes();
    if b.is_ascii() && !line_too_long(b) {
        return Body::dangerous_pre_encoded(crlf(b), ContentTransferEncoding::SevenBit);
    }
    let (unprintable, equals) = counts(b);
    // email-encoding's `quoted_printable_efficient`: at most a third of the bytes need escaping.
    if unprintable > b.len() / 3 {
        return Body::new(text.to_owned());
    }
    Body::dangerous_pre_encoded(
        quoted_printable(b, capacity(b.len(), unprintable, equals)),
        ContentTransferEncoding::QuotedPrintable,
    )
}

/// email-encoding's `line_too_long`: is there a line of 76 bytes or more, where the first line
/// counts its bytes and every later one its bytes and the LF before it? Stops at the first.
fn line_too_long(b: &[u8]) -> bool {
    let mut last = 0;
    loop {
        // email-encoding measures `i - last` at each LF `i` and at the end.
        let end = last + LIMIT;
        if end > b.len() {
            return false;
        }
        match b[last + 1..end].iter().position(|&c| c == b'\n') {
            Some(p) => last += 1 + p,
            None => return true,
        }
    }
}

/// The bytes that are neither tab nor printable ASCII (what email-encoding counts to choose
/// between quoted-printable and base64), and the `=`s, counted in blocks that the compiler turns
/// into vector code.
fn counts(b: &[u8]) -> (usize, usize) {
    let (mut unprintable, mut equals) = (0, 0);
    for block in b.chunks(255) {
        let (mut u, mut e) = (0u8, 0u8);
        for &c in block {
            u += u8::from(!matches!(c, b'\t' | b' '..=b'~'));
            e += u8::from(c == b'=');
        }
        unprintable += usize::from(u);
        equals += usize::from(e);
    }
    (unprintable, equals)
}

/// The text with each LF not after a CR made CRLF: the 7bit body.
fn crlf(b: &[u8]) -> Vec<u8> {
    let lfs = b.iter().filter(|&&c| c == b'\n').count();
    let mut out = Vec::with_capacity(b.len() + lfs);
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' && (i == 0 || b[i - 1] != b'\r') {
            out.extend_from_slice(&b[start..i]);
            out.push(b'\r');
            start = i;
        }
    }
    out.extend_from_slice(&b[start..]);
    out
}

/// An upper bound on the quoted-printable length of `len` bytes of which `unprintable` are neither
/// tab nor printable ASCII and `equals` are `=`: each of those takes at most 3 bytes (a lone LF
/// becomes CRLF, a lone CR `=0D`), each line end at most 2 more for an encoded space or tab before
/// it, each soft line break 3 bytes after at least 73 bytes of line; and 8 bytes for the last
/// word of a run, copied whole before the bytes after the run are dropped.
fn capacity(len: usize, unprintable: usize, equals: usize) -> usize {
    let hard = len + 4 * unprintable + 2 * equals + 2;
    hard + 3 * (hard / (LIMIT - 3) + 1) + 8
}

/// quoted_printable's encoder state: the output so far (`out[..len]`; `out` is long enough for
/// all of it), the length of its last line, and where the last thing appended began (its soft line
/// break goes there when a line is exactly full).
struct Qp<'a> {
    out: &'a mut [u8],
    len: usize,
    on_line: usize,
    backup: usize,
}

impl Qp<'_> {
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        self.out[self.len..self.len + N].copy_from_slice(&bytes);
        self.len += N;
    }

    /// quoted_printable's `append`.
    #[inline(always)]
    fn append<const N: usize>(&mut self, item: [u8; N]) {
        if self.on_line + N > LIMIT {
            if self.on_line == LIMIT {
                self.on_line = break_before(self.out, self.len, self.backup);
                self.len += 3;
            } else {
                self.put(*b"=\r\n");
                self.on_line = 0;
            }
        }
        self.put(item);
        self.on_line += N;
        self.backup = self.len - N;
    }

    /// quoted_printable's `encode_trailing_space_tab`: a space or tab may not end a line.
    #[inline(always)]
    fn trailing_space_tab(&mut self) {
        let encoded = match self.len.checked_sub(1).map(|last| self.out[last]) {
            Some(b' ') => *b"=20",
            Some(b'\t') => *b"=09",
            _ => return,
        };
        self.len -= 1;
        self.on_line -= 1;
        self.append(encoded);
    }

    /// A CRLF of the text.
    #[inline(always)]
    fn hard_break(&mut self) {
        self.trailing_space_tab();
        self.put(*b"\r\n");
        self.on_line = 0;
    }

    /// Copies the run of plain bytes that `rest` begins with (its first byte is plain), of at most
    /// `max` bytes, and returns its length. The bytes go 8 at a time, each 8 copied whole and then
    /// cut back to those before the first that is not plain (a tab ends the 8 too: a run cut there
    /// and continued leaves the same output and state, as its end column is the same).
    #[inline(always)]
    fn plain_run(&mut self, rest: &[u8], max: usize) -> usize {
        let mut n = 0;
        let mut words = rest.chunks_exact(8);
        let mut room = self.out[self.len..].chunks_exact_mut(8);
        loop {
            let Some(word) = words.next() else {
                // The last bytes of the text.
                for &c in words.remainder() {
                    if CLASS[usize::from(c)] != PLAIN || n == max {
                        break;
                    }
                    self.out[self.len + n] = c;
                    n += 1;
                }
                break;
            };
            // `capacity` leaves room for the whole 8.
            let to = room.next().expect("room for 8 bytes");
            to.copy_from_slice(word);
            let plain = plain_prefix(u64::from_le_bytes(word.try_into().unwrap_or_default()));
            n += plain;
            if plain < 8 || n >= max {
                break;
            }
        }
        let n = n.clamp(1, max);
        self.len += n;
        n
    }
}

/// The line of `out[..len]` is full and the '=' of a soft line break would not fit: the break goes
/// before the last thing appended (1 to 3 bytes, from `at`), which moves to the next line and is
/// returned as its length.
#[inline(always)]
fn break_before(out: &mut [u8], len: usize, at: usize) -> usize {
    // 3 bytes move, whatever the length of the last thing: those after it are dropped later.
    let moved: [u8; 3] = out[at..at + 3].try_into().unwrap_or_default();
    out[at..at + 3].copy_from_slice(b"=\r\n");
    out[at + 3..at + 6].copy_from_slice(&moved);
    len - at
}

/// How many of the 8 bytes of `word` (first byte lowest) come before the first that is a control
/// (tab included), `=`, DEL or not ASCII.
#[inline]
fn plain_prefix(word: u64) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte, on its low 7 bits so that no carry crosses into the next byte, the high bit is
    // set when the byte is below 0x20, 0x7F, or `=`; and for a byte that is not ASCII.
    let low = word & !HIGH;
    let control = !(low + 0x60 * ONES);
    let del = low + ONES;
    let equals = !((low ^ (u64::from(b'=') * ONES)) + 0x7F * ONES);
    let stops = (word | control | del | equals) & HIGH;
    (stops.trailing_zeros() / 8) as usize
}

/// quoted_printable 0.5's `encode` (Text mode, 76 columns) of the text with CRLF line endings,
/// in at most `capacity` bytes.
fn quoted_printable(input: &[u8], capacity: usize) -> Vec<u8> {
    let mut out = vec![0; capacity];
    let mut q = Qp {
        out: &mut out,
        len: 0,
        on_line: 0,
        backup: 0,
    };
    let mut was_cr = false;
    let mut i = 0;
    while let Some(&byte) = input.get(i) {
        if was_cr {
            was_cr = false;
            if byte == b'\n' {
                q.hard_break();
                i += 1;
                continue;
            }
            q.append(*b"=0D");
        }
        match CLASS[usize::from(byte)] {
            PLAIN if LIMIT - q.on_line >= 3 => {
                // A run, ending 2 columns before the limit at most.
                let n = q.plain_run(&input[i..], LIMIT - q.on_line - 2);
                q.on_line += n;
                q.backup = q.len;
                i += n;
                continue;
            }
            PLAIN => {
                // The line is 74 or 75 long. At 74 with 3 plain bytes to come (the common end of
                // a line), quoted_printable appends 2 to fill the line, then puts the soft line
                // break before the second for the third: done here at once.
                if q.on_line == LIMIT - 2 {
                    if let Some(&[b2, b3]) = input.get(i + 1..i + 3) {
                        if CLASS[usize::from(b2)] == PLAIN && CLASS[usize::from(b3)] == PLAIN {
                            q.put([byte, b'=', b'\r', b'\n', b2, b3]);
                            q.on_line = 2;
                            q.backup = q.len - 1;
                            i += 3;
                            continue;
                        }
                    }
                }
                q.append([byte]);
            }
            // Held back: CRLF is a line end, anything else after it makes it `=0D`.
            CR => was_cr = true,
            // A LF without a CR before it: lettre made it CRLF.
            LF => q.hard_break(),
            _ => q.append([
                b'=',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]),
        }
        i += 1;
    }
    if was_cr {
        q.append(*b"=0D");
    } else {
        q.trailing_space_tab();
    }
    let len = q.len;
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `body` against lettre, bytes and encoding; the encoding chosen.
    fn same(text: &str) -> ContentTransferEncoding {
        let fast = body(text);
        let lettre = Body::new(text.to_string());
        assert_eq!(fast.encoding(), lettre.encoding(), "encoding of {text:?}");
        if fast.as_ref() != lettre.as_ref() {
            panic!(
                "body of {text:?}:\n  fast:   {:?}\n  lettre: {:?}",
                String::from_utf8_lossy(fast.as_ref()),
                String::from_utf8_lossy(lettre.as_ref())
            );
        }
        fast.encoding()
    }

    #[test]
    fn small_cases() {
        for text in [
            "",
            "\n",
            "\r",
            "\r\n",
            "\n\n\n",
            "\r\r\n\n\r",
            " ",
            "\t",
            " \n",
            "\t\r\n",
            "a \r",
            "a \r\n",
            "=",
            "a=b\n",
            "é",
            "Hello, world!",
            "Questo messaggio è corto",
            "Se lo standard 📬 fosse stato più semplice avremmo finito molto prima.",
            "Hello! 📬📬📬📬📬📬📬📬📬📬",
            "\u{0}\u{1}\u{7f}",
        ] {
            same(text);
        }
        same(&"Hello, world!".repeat(100));
        same(&"Привет, мир!".repeat(200));
    }

    /// Around the third of bytes needing escape where lettre goes from quoted-printable to base64.
    #[test]
    fn the_base64_threshold() {
        let mut seen = [0; 3];
        for plain in 0..40 {
            for multi in 0..10 {
                for (c, lf) in [("é", ""), ("’", ""), ("😀", "\n"), ("\u{1}", "\r\n")] {
                    let text = format!("{}{lf}{}", "a".repeat(plain), c.repeat(multi));
                    seen[kind(same(&text))] += 1;
                }
            }
        }
        assert!(seen[1] > 100 && seen[2] > 100, "{seen:?}");
    }

    /// Every string of up to 4 characters from a small alphabet, after a first line and a plain run
    /// ending at each column around the limit: the soft breaks, the backup, trailing spaces and
    /// tabs, CR and LF right at the boundary.
    #[test]
    fn exhaustive_around_the_limit() {
        const ALPHABET: [&str; 7] = ["a", " ", "\t", "=", "\r", "\n", "é"];
        let mut tails = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|s| ALPHABET.iter().map(move |c| format!("{s}{c}")))
                .collect();
            tails.extend(last.iter().cloned());
        }
        let mut seen = [0; 3];
        for first in ["", "x\n", "x\r\ny y\n"] {
            for k in (0..4).chain(68..=80).chain(146..=154) {
                let head = format!("{first}{}", "a".repeat(k));
                for tail in &tails {
                    let text = format!("{head}{tail}");
                    seen[kind(same(&text))] += 1;
                    seen[kind(same(&format!("{text}b")))] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    fn kind(e: ContentTransferEncoding) -> usize {
        match e {
            ContentTransferEncoding::SevenBit => 0,
            ContentTransferEncoding::QuotedPrintable => 1,
            ContentTransferEncoding::Base64 => 2,
            other => panic!("lettre chose {other:?}"),
        }
    }

    /// A random text: lines of 0 to 300 characters (some much longer, some ending at the columns
    /// around the limit), of ASCII, spaces, tabs, `=`, CR, LF, CRLF and multi-byte UTF-8.
    fn random_text(rng: &mut fastrand::Rng, mix: usize) -> String {
        const PIECES: [&str; 16] = [
            " ", "\t", "=", "\r", "\n", "\r\n", "é", "’", "😀", "中文", "  ", " \t", "=3D",
            "\u{1}", "\u{7f}", ".",
        ];
        let mut s = String::new();
        for _ in 0..rng.usize(0..6) {
            let len = match rng.u8(0..10) {
                0 => rng.usize(0..3),
                1..=3 => rng.usize(70..82),
                4 => rng.usize(140..160),
                5 => rng.usize(990..1100),
                _ => rng.usize(0..300),
            };
            let start = s.len();
            while s.len() - start < len {
                if rng.usize(0..100) < mix {
                    s.push_str(PIECES[rng.usize(..PIECES.len())]);
                } else if rng.u8(0..8) == 0 {
                    s.push(' ');
                } else {
                    s.push(rng.alphanumeric());
                }
            }
            match rng.u8(0..6) {
                0 => s.push_str(" \n"),
                1 => s.push_str("\t\r\n"),
                2 => s.push_str("\r\n"),
                3 => s.push('\r'),
                _ => s.push('\n'),
            }
            if rng.bool() {
                s.pop();
            }
        }
        s
    }

    #[test]
    fn random_texts() {
        let mut seen = [0; 3];
        for seed in 0..8 {
            let mut rng = fastrand::Rng::with_seed(seed);
            for _ in 0..1500 {
                let mix = [0, 0, 1, 5, 20, 60, 100][rng.usize(..7)];
                seen[kind(same(&random_text(&mut rng, mix)))] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    #[test]
    fn only_newlines_and_whitespace() {
        let mut rng = fastrand::Rng::with_seed(42);
        for _ in 0..3000 {
            let len = rng.usize(0..200);
            let text: String = (0..len)
                .map(|_| [' ', '\t', '\r', '\n', 'a'][rng.usize(..5)])
                .collect();
            same(&text);
        }
    }

    #[test]
    fn plain_prefixes_and_counts() {
        for c in 0..=255u8 {
            for at in 0..20 {
                let mut text = vec![b'a'; 20];
                text[at] = c;
                let stops = CLASS[usize::from(c)] != PLAIN || c == b'\t';
                let word = u64::from_le_bytes(text[..8].try_into().unwrap());
                let expected = if stops && at < 8 { at } else { 8 };
                assert_eq!(plain_prefix(word), expected, "{c:#x} at {at}");
                let unprintable = usize::from(!matches!(c, b'\t' | b' '..=b'~'));
                assert_eq!(counts(&text), (unprintable, usize::from(c == b'=')));
            }
        }
        let text = "=é\t".repeat(1000);
        assert_eq!(counts(text.as_bytes()), (2000, 1000));
    }

    /// The rendered emails of the snapshot tests (every locale, both campaigns): what is shipped.
    pub(super) fn shipped() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".html.snap") || name.ends_with(".text.snap") {
                let snap = std::fs::read_to_string(&path).unwrap();
                // After insta's header: `---`, metadata, `---`.
                let (_, content) = snap
                    .strip_prefix("---\n")
                    .and_then(|s| s.split_once("\n---\n"))
                    .unwrap();
                found.push((name, content.to_string()));
            }
        }
        found.sort();
        assert!(
            found.len() >= 40,
            "{} snapshots in {}",
            found.len(),
            dir.display()
        );
        found
    }

    #[test]
    fn shipped_emails() {
        for (name, content) in shipped() {
            assert_eq!(
                same(&content),
                ContentTransferEncoding::QuotedPrintable,
                "{name}"
            );
            // And as a text of LFs made CRLF beforehand.
            same(&content.replace('\n', "\r\n"));
        }
    }

    #[test]
    fn the_capacity_is_enough() {
        let mut rng = fastrand::Rng::with_seed(7);
        let texts = (0..3000).map(|_| random_text(&mut rng, 30));
        // Worst cases: every byte escaped, a line end after every byte, a space before every one.
        let worst = ["\u{1}\n", " \n", "\t\r\n", "\r", "=", "é", "a", " "]
            .map(|s| s.repeat(300))
            .into_iter();
        for text in texts
            .chain(worst)
            .chain(shipped().into_iter().map(|(_, c)| c))
        {
            let b = text.as_bytes();
            let (unprintable, equals) = counts(b);
            let cap = capacity(b.len(), unprintable, equals);
            // A write past it would panic; and 8 bytes are left for the last word of a run.
            assert!(quoted_printable(b, cap).len() + 8 <= cap, "{text:?}");
        }
    }

    /// The shipped emails as [`OutgoingEmail`]s, with and without the optional headers.
    fn emails() -> Vec<crate::deliver::OutgoingEmail> {
        let shipped = shipped();
        let mut emails = Vec::new();
        for (name, html) in &shipped {
            let Some(case) = name.strip_suffix(".html.snap") else {
                continue;
            };
            let text = &shipped
                .iter()
                .find(|(n, _)| n.strip_suffix(".text.snap") == Some(case))
                .unwrap()
                .1;
            let subject = text.lines().next().unwrap().trim_start_matches("Subject: ");
            let i = emails.len();
            emails.push(crate::deliver::OutgoingEmail {
                campaign: "confirmation".into(),
                booking_id: format!("WT-{i}"),
                from: "Wanderly <trips@wanderly.example>".parse().unwrap(),
                to: "Chloë Whitfield <chloe@example.com>".parse().unwrap(),
                subject: subject.to_string(),
                message_id: format!("confirmation.WT-{i}@wanderly.example"),
                date: "2026-12-10T09:00:00Z".parse().unwrap(),
                html: html.clone(),
                text: text.clone(),
                list_unsubscribe: (i % 2 == 0)
                    .then(|| format!("https://wanderly.example/u/{i}?t=abc")),
                original_to: (i % 3 == 0).then(|| "someone@example.com".to_string()),
            });
        }
        assert!(emails.len() >= 20);
        emails
    }

    #[test]
    fn to_mime_is_unchanged() {
        for email in emails() {
            let fast = email.to_mime().unwrap();
            let lettre = email.to_mime_straight().unwrap();
            assert!(fast == lettre, "{}", email.booking_id);
        }
        // A text that lettre sends as 7bit and an HTML it sends as base64.
        let mut email = emails().remove(0);
        email.text = "Short lines.\nOnly ASCII.\n".into();
        email.html = "<p>日本語のテキスト</p>".repeat(20);
        let fast = email.to_mime().unwrap();
        assert!(fast == email.to_mime_straight().unwrap());
        let fast = String::from_utf8(fast).unwrap();
        assert!(fast.contains("Content-Transfer-Encoding: 7bit"));
        assert!(fast.contains("Content-Transfer-Encoding: base64"));
    }

    /// Timings in release mode, medians of single calls:
    /// `cargo test --release --lib deliver::encode -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timings() {
        use std::time::{Duration, Instant};

        fn median(mut f: impl FnMut()) -> Duration {
            for _ in 0..200 {
                f();
            }
            let mut times: Vec<Duration> = (0..3000)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed()
                })
                .collect();
            times.sort();
            times[times.len() / 2]
        }

        let email = emails().into_iter().max_by_key(|e| e.html.len()).unwrap();
        let mime = email.to_mime().unwrap().len();
        println!(
            "email: html {} B, text {} B, message {mime} B",
            email.html.len(),
            email.text.len()
        );
        let old = median(|| {
            std::hint::black_box(email.to_mime_straight().unwrap());
        });
        let new = median(|| {
            std::hint::black_box(email.to_mime().unwrap());
        });
        println!("to_mime: lettre {old:?}, encode {new:?}");
        let html = std::hint::black_box(email.html.as_str());
        let old = median(|| {
            std::hint::black_box(Body::new(html.to_string()));
        });
        let new = median(|| {
            std::hint::black_box(body(html));
        });
        println!("html body: lettre {old:?}, encode {new:?}");
        let b = html.as_bytes();
        let counts = median(|| {
            std::hint::black_box(b.is_ascii());
            std::hint::black_box(counts(b));
        });
        println!("  of which the choice and the capacity: {counts:?}");
    }
}
