//! Splitting a bookings file into records with bounded memory: a CSV record or a JSON line is kept
//! up to [`MAX_ROW_BYTES`]; the rest of a longer one is read past, not kept.
//!
//! CSV is parsed by `csv_core` (the csv crate's parser, so a record is what the csv crate would
//! make of it), fed from here so that each record's lines are known: since a field may not hold a
//! line break, a record over several lines is a quote left open, and the rows it swallowed are
//! counted.

use std::io::{self, BufRead};

use csv_core::ReadRecordResult;

/// Most bytes kept of one CSV record or JSON line: well above any real booking (its fields' limits
/// add up to a few kilobytes).
pub const MAX_ROW_BYTES: usize = 64 * 1024;

/// Most fields kept of one CSV record.
const MAX_FIELDS: usize = 1024;

/// One CSV record and where it sat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    /// The line it starts on (1 is the first).
    pub start: u64,
    /// The line it ends on.
    pub end: u64,
    /// How many fields it has.
    pub fields: usize,
    /// Whether its bytes went past [`MAX_ROW_BYTES`] (its fields were not kept).
    pub too_long: bool,
    /// The field that went past [`MAX_ROW_BYTES`], if one did (0 is the first).
    pub long_field: Option<usize>,
    /// Whether the file ended inside a quoted field.
    pub unclosed: bool,
    /// The lines after `start` with something on them: rows a quote left open swallowed.
    pub swallowed: Vec<u64>,
}

/// CSV records, one at a time.
pub(super) struct CsvRecords<R> {
    input: R,
    parser: Parser,
}

/// The parser and the last record it read.
struct Parser {
    core: csv_core::Reader,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// Fields of the record being read that were not kept.
    dropped_fields: usize,
    /// Lines read to their end.
    line: u64,
    /// Whether the line being read has anything but spaces.
    line_has_content: bool,
    /// The last byte fed to the parser.
    last: u8,
}

impl<R: BufRead> CsvRecords<R> {
    pub(super) fn new(input: R) -> CsvRecords<R> {
        CsvRecords {
            input,
            parser: Parser {
                core: csv_core::Reader::new(),
                out: vec![0; 4096],
                out_len: 0,
                ends: vec![0; 64],
                ends_len: 0,
                dropped_fields: 0,
                line: 0,
                line_has_content: false,
                last: b'\n',
            },
        }
    }

    /// Lines read to their end.
    pub(super) fn line(&self) -> u64 {
        self.parser.line
    }

    /// Field `i` of the last record read, as bytes (empty if it was not kept).
    pub(super) fn field(&self, i: usize) -> &[u8] {
        let p = &self.parser;
        let ends = &p.ends[..p.ends_len];
        let end = ends.get(i).copied().unwrap_or(0);
        let start = match i {
            0 => 0,
            _ => ends.get(i - 1).copied().unwrap_or(end),
        };
        p.out[..p.out_len].get(start..end).unwrap_or_default()
    }

    /// The next record, `None` at the end of the file.
    pub(super) fn next_record(&mut self) -> io::Result<Option<Span>> {
        let p = &mut self.parser;
        p.out_len = 0;
        p.ends_len = 0;
        p.dropped_fields = 0;
        let mut span = Span {
            start: 0,
            end: 0,
            fields: 0,
            too_long: false,
            long_field: None,
            unclosed: false,
            swallowed: Vec::new(),
        };
        let mut started = false;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                if !started {
                    return Ok(None);
                }
                // The end of the file inside a record. A record still open after a line break is
                // inside a quoted field; after a last line without one, one more line break tells.
                let mut unclosed = true;
                if p.last != b'\n' {
                    unclosed = !p.feed(b"\n", &mut span).1;
                    p.end_line(&mut span);
                    p.last = b'\n';
                }
                if unclosed {
                    p.feed(b"", &mut span);
                }
                span.unclosed = unclosed;
                span.end = p.line;
                return Ok(Some(span));
            }
            if !started {
                // Blank lines between records are no record (the parser skips them too).
                let blank = buf
                    .iter()
                    .take_while(|b| matches!(b, b'\n' | b'\r'))
                    .count();
                if blank > 0 {
                    p.line += buf[..blank].iter().filter(|b| **b == b'\n').count() as u64;
                    p.last = buf[blank - 1];
                    self.input.consume(blank);
                    continue;
                }
                started = true;
                span.start = p.line + 1;
            }
            let (used, ended) = p.feed(buf, &mut span);
            p.count_lines(&buf[..used], &mut span);
            self.input.consume(used);
            if ended {
                // A record ends at its line break, or at the `\r` of a `\r\n`, whose `\n` is then
                // read as a blank line before the next record.
                span.end = p.line;
                if p.last != b'\n' {
                    span.end += 1;
                    if p.line_has_content && span.end > span.start {
                        span.swallowed.push(span.end);
                    }
                    p.line_has_content = false;
                }
                return Ok(Some(span));
            }
        }
    }
}

impl Parser {
    /// Feeds `input` to the parser until it wants more or ends a record: the bytes it used, and
    /// whether a record ended. An empty `input` is the end of the file.
    fn feed(&mut self, input: &[u8], span: &mut Span) -> (usize, bool) {
        let mut used = 0;
        loop {
            let (res, nin, nout, nend) = self.core.read_record(
                &input[used..],
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            used += nin;
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => return (used, false),
                ReadRecordResult::Record | ReadRecordResult::End => {
                    span.fields = self.dropped_fields + self.ends_len;
                    return (used, true);
                }
                ReadRecordResult::OutputFull if self.out.len() >= MAX_ROW_BYTES => {
                    // Read on to the record's end without keeping it.
                    if !span.too_long {
                        span.long_field = Some(self.dropped_fields + self.ends_len);
                    }
                    span.too_long = true;
                    self.out_len = 0;
                }
                ReadRecordResult::OutputFull => {
                    let len = (self.out.len() * 2).min(MAX_ROW_BYTES);
                    self.out.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull if self.ends.len() >= MAX_FIELDS => {
                    span.too_long = true;
                    self.dropped_fields += self.ends_len;
                    self.ends_len = 0;
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
            }
        }
    }

    /// Counts the lines in `bytes`, just fed to the parser as part of the record `span`.
    fn count_lines(&mut self, bytes: &[u8], span: &mut Span) {
        for &b in bytes {
            if b == b'\n' {
                self.end_line(span);
            } else if !b.is_ascii_whitespace() {
                self.line_has_content = true;
            }
        }
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
    }

    /// The line being read ends, inside the record `span`.
    fn end_line(&mut self, span: &mut Span) {
        self.line += 1;
        if self.line_has_content && self.line > span.start {
            span.swallowed.push(self.line);
        }
        self.line_has_content = false;
    }
}

/// One line of a JSON Lines file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum JsonLine {
    /// The line's bytes, without its line break.
    Kept,
    /// A line longer than [`MAX_ROW_BYTES`], read past; its length in bytes.
    TooLong(u64),
}

/// Reads the next line into `line` (cleared first), keeping at most [`MAX_ROW_BYTES`] of it;
/// `None` at the end of the file.
pub(super) fn read_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> io::Result<Option<JsonLine>> {
    line.clear();
    let mut total: u64 = 0;
    let mut any = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        any = true;
        let (chunk, used, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        total += chunk.len() as u64;
        if total <= MAX_ROW_BYTES as u64 {
            line.extend_from_slice(chunk);
        } else {
            line.clear();
        }
        input.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if total > MAX_ROW_BYTES as u64 {
        return Ok(Some(JsonLine::TooLong(total)));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(JsonLine::Kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(Span, Vec<String>)> {
        let mut r = CsvRecords::new(io::BufReader::with_capacity(7, text.as_bytes()));
        let mut all = Vec::new();
        while let Some(span) = r.next_record().unwrap() {
            let fields = (0..span.fields.min(r.parser.ends_len))
                .map(|i| String::from_utf8_lossy(r.field(i)).into_owned())
                .collect();
            all.push((span, fields));
        }
        all
    }

    fn lines(all: &[(Span, Vec<String>)]) -> Vec<(u64, u64)> {
        all.iter().map(|(s, _)| (s.start, s.end)).collect()
    }

    #[test]
    fn records_know_their_lines_with_blank_lines_and_crlf() {
        let all = spans("a,b\r\n\r\n1,\"x,y\"\r\n2,z");
        assert_eq!(lines(&all), vec![(1, 1), (3, 3), (4, 4)]);
        assert_eq!(all[1].1, vec!["1", "x,y"]);
        assert_eq!(all[2].1, vec!["2", "z"]);
        assert!(all
            .iter()
            .all(|(s, _)| s.swallowed.is_empty() && !s.unclosed));
    }

    #[test]
    fn a_quote_left_open_runs_to_the_next_quote_and_its_lines_are_known() {
        let all = spans("h1,h2\n1,\"a\n2,b\n\n3,\"c\",d\n4,e\n");
        assert_eq!(lines(&all), vec![(1, 1), (2, 5), (6, 6)]);
        assert_eq!(all[1].0.swallowed, vec![3, 5]);
        assert!(!all[1].0.unclosed);
    }

    #[test]
    fn a_quote_left_open_at_the_end_runs_to_the_end() {
        for text in ["h\n1,\"a\n2,b\n3,c\n", "h\n1,\"a\n2,b\n3,c"] {
            let all = spans(text);
            assert_eq!(lines(&all), vec![(1, 1), (2, 4)], "{text:?}");
            assert_eq!(all[1].0.swallowed, vec![3, 4]);
            assert!(all[1].0.unclosed, "{text:?}");
        }
        let all = spans("h\n1,\"a");
        assert_eq!(lines(&all), vec![(1, 1), (2, 2)]);
        assert!(all[1].0.unclosed && all[1].0.swallowed.is_empty());
    }

    #[test]
    fn a_record_past_the_limit_is_read_past_not_kept() {
        let big = "x".repeat(3 * MAX_ROW_BYTES);
        let all = spans(&format!("h\n1,{big}\n2,y\n"));
        assert_eq!(lines(&all), vec![(1, 1), (2, 2), (3, 3)]);
        assert!(all[1].0.too_long);
        assert_eq!(all[2].1, vec!["2", "y"]);
    }

    #[test]
    fn a_json_line_past_the_limit_is_read_past_not_kept() {
        let big = "x".repeat(MAX_ROW_BYTES + 1);
        let text = format!("a\r\n{big}\nb");
        let mut input = io::BufReader::with_capacity(5, text.as_bytes());
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(l) = read_line(&mut input, &mut line).unwrap() {
            got.push((l, String::from_utf8_lossy(&line).into_owned()));
        }
        assert_eq!(
            got,
            vec![
                (JsonLine::Kept, "a".to_string()),
                (JsonLine::TooLong(MAX_ROW_BYTES as u64 + 1), String::new()),
                (JsonLine::Kept, "b".to_string()),
            ]
        );
    }
}
