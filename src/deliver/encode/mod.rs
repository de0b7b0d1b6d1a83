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
mod tests;
