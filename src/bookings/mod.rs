//! Bookings, read as a stream from CSV (header row) or JSON Lines. Each row is checked field by field;
//! a bad row becomes a [`RowError`] naming the file, the line (as an editor numbers it) and the reason,
//! and reading goes on with the next row.

mod check;
mod details;
mod loaded;
mod split;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::IdentifyBy;

pub use check::{
    MAX_BOOKING_ID_CHARS, MAX_CITY_CHARS, MAX_EMAIL_CHARS, MAX_HELD_PRODUCTS, MAX_IDENTITY_CHARS,
    MAX_NAME_CHARS, MAX_TITLE_CHARS, MAX_VALUE_CHARS,
};
pub use details::{Details, MAX_ADDRESS_CHARS, MAX_PRICE_PAID, MAX_VENUE_CHARS};
pub use loaded::{BookingsCache, Loaded};
pub use split::MAX_ROW_BYTES;

/// The languages emails are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English
    En,
    /// Dutch
    Nl,
    /// German
    De,
    /// French
    Fr,
    /// Spanish
    Es,
    /// Italian
    It,
}

impl Locale {
    /// Every locale, in a stable order.
    pub const ALL: [Locale; 6] = [
        Locale::En,
        Locale::Nl,
        Locale::De,
        Locale::Fr,
        Locale::Es,
        Locale::It,
    ];

    /// The language code.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Nl => "nl",
            Locale::De => "de",
            Locale::Fr => "fr",
            Locale::Es => "es",
            Locale::It => "it",
        }
    }

    /// Parses `de`, `de-AT`, `de_AT`, …: the language decides.
    pub fn parse(s: &str) -> Option<Locale> {
        let lang = s.split(['-', '_']).next()?.to_ascii_lowercase();
        Locale::ALL.into_iter().find(|l| l.as_str() == lang)
    }
}

/// A booking's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Booked and paid.
    Confirmed,
    /// Cancelled: no emails.
    Cancelled,
}

/// One valid booking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Booking {
    /// Letters, digits, `-`, `_` and `.`; names output files.
    pub booking_id: String,
    /// Where the emails go.
    pub customer_email: lettre::Address,
    /// Used in the greeting.
    pub customer_first_name: String,
    /// The email's language.
    pub locale: Locale,
    /// The main product bought.
    pub product_id: u64,
    /// Its title.
    pub product_title: String,
    /// Its city.
    pub city: String,
    /// Venue-local date of the visit.
    pub travel_date: NaiveDate,
    /// When it was booked.
    pub booked_at: DateTime<FixedOffset>,
    /// Adults on the booking.
    pub adults: u32,
    /// Children on the booking; more than zero makes it a family.
    pub children: u32,
    /// Confirmed or cancelled.
    pub status: Status,
    /// Whether the customer accepts marketing (the block).
    pub marketing_opt_in: bool,
    /// Venue latitude, if the booking carries it.
    pub latitude: Option<f64>,
    /// The customer's time zone (send windows are read in it), if the booking carries it; also the
    /// venue's when the catalog does not know the city.
    pub timezone: Option<Tz>,
    /// Products the customer already holds.
    pub other_product_ids: Vec<u64>,
    /// The distributor's own customer id (Yespo's `externalCustomerId`), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The customer's phone number (Yespo's `phone`), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    /// The customer's Yespo contact id (`contactId`, a whole number when used), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The customer's web-tracking id (Yespo's `webId`), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_id: Option<String>,
    /// Start time, venue, meeting point and price paid, where the booking gives them.
    #[serde(flatten)]
    pub details: Details,
}

impl Booking {
    /// A booking from named fields, each as text, as a CSV row gives them (unknown names are
    /// ignored), or why it cannot be used: a booking written inline (a snapshot case).
    pub fn from_fields<'a>(
        fields: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Booking, String> {
        check::RawRow::from_csv(fields).check()
    }

    /// A made-up booking (Rome, 2026-12-12, two adults and a child, a title with `&`, quotes and
    /// `<>`) in `locale`, for checking templates.
    pub fn sample(locale: Locale) -> Booking {
        Booking {
            booking_id: "SAMPLE-1".into(),
            customer_email: lettre::Address::new("sample", "example.com")
                .unwrap_or_else(|_| unreachable!("a valid literal address")),
            customer_first_name: "Alex".into(),
            locale,
            product_id: 1,
            product_title: "Sample & \"Quoted\" <Experience>".into(),
            city: "Rome".into(),
            travel_date: NaiveDate::from_ymd_opt(2026, 12, 12).unwrap_or_default(),
            booked_at: chrono::DateTime::UNIX_EPOCH.fixed_offset(),
            adults: 2,
            children: 1,
            status: Status::Confirmed,
            marketing_opt_in: true,
            latitude: None,
            timezone: None,
            other_product_ids: Vec::new(),
            customer_id: None,
            customer_phone: None,
            contact_id: None,
            web_id: None,
            details: Details::default(),
        }
    }

    /// The value identifying the customer the way `by` wants (the field [`IdentifyBy::field`]
    /// names), if the booking has it.
    pub fn identity(&self, by: IdentifyBy) -> Option<String> {
        match by {
            IdentifyBy::Email => Some(self.customer_email.to_string()),
            IdentifyBy::Phone => self.customer_phone.clone(),
            IdentifyBy::ExternalCustomerId => self.customer_id.clone(),
            IdentifyBy::ContactId => self.contact_id.clone(),
            IdentifyBy::WebId => self.web_id.clone(),
        }
    }
}

/// A row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The bookings file.
    pub file: String,
    /// Line as an editor numbers them (a CSV header is line 1).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// A bookings file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum BookingsError {
    /// Cannot open or read.
    #[error("{path}: cannot read the bookings: {source}")]
    Io {
        /// The bookings file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither `.csv` nor `.jsonl`.
    #[error("{path}: bookings must be a .csv or .jsonl file")]
    Format {
        /// The bookings file.
        path: PathBuf,
    },
    /// The CSV header lacks a required column.
    #[error("{path}:1: the header has no `{column}` column")]
    MissingColumn {
        /// The bookings file.
        path: PathBuf,
        /// The missing column.
        column: &'static str,
    },
    /// The CSV header names a column tripmail reads twice: which one would count is a guess.
    #[error("{path}:1: the header has the column `{column}` twice (columns {first} and {second})")]
    RepeatedColumn {
        /// The bookings file.
        path: PathBuf,
        /// The repeated column.
        column: String,
        /// Where it is first (1 is the first column).
        first: usize,
        /// Where it is again.
        second: usize,
    },
    /// The CSV header cannot be read as one.
    #[error("{path}:{line}: the header {reason}")]
    Header {
        /// The bookings file.
        path: PathBuf,
        /// Its line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The columns every bookings file has (a CSV header must name them all).
pub const REQUIRED: [&str; 13] = [
    "booking_id",
    "customer_email",
    "customer_first_name",
    "locale",
    "product_id",
    "product_title",
    "city",
    "travel_date",
    "booked_at",
    "adults",
    "children",
    "status",
    "marketing_opt_in",
];

/// The columns a bookings file may have besides [`REQUIRED`], in the order tripmail writes them.
pub const OPTIONAL: [&str; 13] = [
    "latitude",
    "timezone",
    "other_product_ids",
    "customer_id",
    "customer_phone",
    "contact_id",
    "web_id",
    "start_time",
    "venue_name",
    "venue_address",
    "meeting_point",
    "price_paid",
    "currency",
];

/// One item of the stream: a booking, or a row that could not be used.
pub type Row = Result<Booking, RowError>;

enum Source {
    Csv {
        // Boxed: the parser's tables are large.
        records: Box<split::CsvRecords<BufReader<File>>>,
        headers: Vec<String>,
    },
    Jsonl {
        input: BufReader<File>,
        line: u64,
        text: Vec<u8>,
    },
}

/// Reads bookings one row at a time: memory does not grow with the file, nor with a row (one is
/// kept up to [`MAX_ROW_BYTES`]).
pub struct BookingReader {
    file: String,
    source: Source,
    /// Rows found and not handed out yet: those a quote left open swallowed.
    pending: VecDeque<Row>,
    done: bool,
}

impl BookingReader {
    /// Whether a CSV file's header has `column`; `None` for JSON Lines, which has no header.
    pub fn has_column(&self, column: &str) -> Option<bool> {
        match &self.source {
            Source::Csv { headers, .. } => Some(headers.iter().any(|h| h == column)),
            Source::Jsonl { .. } => None,
        }
    }

    /// Opens a `.csv` or `.jsonl` file; a CSV header must name every required column, and each
    /// column tripmail reads once.
    pub fn open(path: &Path) -> Result<BookingReader, BookingsError> {
        let io = |source| BookingsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let file = File::open(path).map_err(io)?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let source = match ext.as_deref() {
            Some("csv") => {
                if lines_end_in_cr_alone(&mut reader).map_err(io)? {
                    return Err(BookingsError::Header {
                        path: path.to_path_buf(),
                        line: 1,
                        reason: "ends in a carriage return alone (the old Mac format): save the file with LF or CRLF line endings".into(),
                    });
                }
                let mut records = split::CsvRecords::new(reader);
                let headers = match records.next_record().map_err(io)? {
                    // An empty export is a failed export, not a quiet day: say so.
                    None => {
                        return Err(BookingsError::Header {
                            path: path.to_path_buf(),
                            line: 1,
                            reason: "is missing: the file is empty".into(),
                        })
                    }
                    Some(span) => header(path, &records, &span)?,
                };
                Source::Csv {
                    records: Box::new(records),
                    headers,
                }
            }
            Some("jsonl") | Some("ndjson") => Source::Jsonl {
                input: reader,
                line: 0,
                text: Vec::new(),
            },
            _ => {
                return Err(BookingsError::Format {
                    path: path.to_path_buf(),
                })
            }
        };
        Ok(BookingReader {
            file: path.display().to_string(),
            source,
            pending: VecDeque::new(),
            done: false,
        })
    }
}

/// Whether the file's first line ends in `\r` alone (classic Mac line endings), which would put the
/// whole file on one line as far as line numbers go; looked for in the first 64 KiB, not consumed.
fn lines_end_in_cr_alone(reader: &mut BufReader<File>) -> std::io::Result<bool> {
    let buf = reader.fill_buf()?;
    Ok(match buf.iter().position(|b| matches!(b, b'\r' | b'\n')) {
        Some(i) => buf[i] == b'\r' && buf.get(i + 1).is_some_and(|b| *b != b'\n'),
        None => false,
    })
}

/// The CSV header's column names, checked.
fn header(
    path: &Path,
    records: &split::CsvRecords<BufReader<File>>,
    span: &split::Span,
) -> Result<Vec<String>, BookingsError> {
    let error = |reason: String| BookingsError::Header {
        path: path.to_path_buf(),
        line: span.start,
        reason,
    };
    if span.end > span.start || span.unclosed {
        return Err(error(format!(
            "has a quoted field opened on line {} that runs to line {}",
            span.start, span.end
        )));
    }
    if span.too_long {
        return Err(error(format!("is longer than {MAX_ROW_BYTES} bytes")));
    }
    let headers = (0..span.fields)
        .map(|i| std::str::from_utf8(records.field(i)).map(|h| h.trim().to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| error("is not UTF-8 text".into()))?;
    if let Some(column) = REQUIRED
        .into_iter()
        .find(|c| !headers.iter().any(|h| h == c))
    {
        return Err(BookingsError::MissingColumn {
            path: path.to_path_buf(),
            column,
        });
    }
    // A column tripmail does not read may be there twice (spreadsheets add blank ones).
    for (i, h) in headers.iter().enumerate() {
        let read = REQUIRED.contains(&h.as_str()) || OPTIONAL.contains(&h.as_str());
        if let Some(first) = headers[..i].iter().position(|x| x == h).filter(|_| read) {
            return Err(BookingsError::RepeatedColumn {
                path: path.to_path_buf(),
                column: h.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(headers)
}

/// "lines 5–9", "line 5"
fn lines(first: u64, last: u64) -> String {
    match first == last {
        true => format!("line {first}"),
        false => format!("lines {first}\u{2013}{last}"),
    }
}

/// The CSV record `span` as a booking. A record over several lines that is not one row with a
/// line break in a field (which the field checks refuse, naming it) is a quote left open: it is
/// skipped, and every row it swallowed is queued in `swallowed` as skipped too.
fn csv_row(
    records: &split::CsvRecords<BufReader<File>>,
    headers: &[String],
    span: &split::Span,
    swallowed: &mut Vec<(u64, String)>,
) -> Result<Booking, String> {
    let several = span.end > span.start;
    if span.unclosed || (several && (span.fields != headers.len() || span.too_long)) {
        let runs = match span.unclosed {
            true => "is never closed".to_string(),
            false => format!("runs to line {}", span.end),
        };
        let mut reason = format!("a quoted field opened on line {} {runs}", span.start);
        if let (Some(first), Some(last)) = (span.swallowed.first(), span.swallowed.last()) {
            let rows = match span.swallowed.len() {
                1 => "the row",
                _ => "rows",
            };
            reason.push_str(&format!(": {rows} on {} swallowed", lines(*first, *last)));
        }
        for line in &span.swallowed {
            let why = format!(
                "swallowed by the quoted field opened on line {}",
                span.start
            );
            swallowed.push((*line, why));
        }
        return Err(reason);
    }
    if let Some(i) = span.long_field {
        let column = headers.get(i).map_or("a column", String::as_str);
        let limit = match check::max_chars(column) {
            Some(max) => format!("at most {max} characters"),
            None => format!("a row may have {MAX_ROW_BYTES} bytes"),
        };
        return Err(format!(
            "{column} is over {MAX_ROW_BYTES} bytes long ({limit})"
        ));
    }
    if span.fields != headers.len() {
        return Err(format!(
            "has {} fields where the header has {}",
            span.fields,
            headers.len()
        ));
    }
    let mut fields = Vec::with_capacity(span.fields);
    for (i, column) in headers.iter().enumerate() {
        let text = std::str::from_utf8(records.field(i))
            .map_err(|_| format!("{column} is not UTF-8 text"))?;
        fields.push((column.as_str(), text));
    }
    let booking = check::RawRow::from_csv(fields.into_iter()).check();
    match several {
        true => booking.map_err(|reason| format!("{reason} (the row runs to line {})", span.end)),
        false => booking,
    }
}

impl Iterator for BookingReader {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if let Some(row) = self.pending.pop_front() {
            return Some(row);
        }
        if self.done {
            return None;
        }
        let file = &self.file;
        let error = |line: u64, reason: String| RowError {
            file: file.clone(),
            line,
            reason,
        };
        match &mut self.source {
            Source::Csv { records, headers } => match records.next_record() {
                Ok(None) => {
                    self.done = true;
                    None
                }
                Err(e) => {
                    self.done = true;
                    let line = records.line() + 1;
                    Some(Err(error(line, format!("unreadable CSV: {e}"))))
                }
                Ok(Some(span)) => {
                    let mut swallowed = Vec::new();
                    let row = csv_row(records, headers, &span, &mut swallowed);
                    self.pending
                        .extend(swallowed.into_iter().map(|(l, why)| Err(error(l, why))));
                    Some(row.map_err(|reason| error(span.start, reason)))
                }
            },
            Source::Jsonl { input, line, text } => loop {
                *line += 1;
                let n = *line;
                match split::read_line(input, text) {
                    Ok(None) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(error(n, format!("unreadable line: {e}"))));
                    }
                    Ok(Some(split::JsonLine::TooLong(bytes))) => {
                        let reason =
                            format!("the line is {bytes} bytes long (at most {MAX_ROW_BYTES})");
                        return Some(Err(error(n, reason)));
                    }
                    Ok(Some(split::JsonLine::Kept)) if text.iter().all(u8::is_ascii_whitespace) => {
                        continue
                    }
                    Ok(Some(split::JsonLine::Kept)) => {
                        // A byte-order mark before the first line is an editor's, not the row's.
                        let text: &[u8] = match n {
                            1 => text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text),
                            _ => text,
                        };
                        let row = serde_json::from_slice::<check::RawRow>(text)
                            .map_err(|e| format!("not a JSON object of booking fields: {e}"))
                            .and_then(|raw| raw.check());
                        return Some(row.map_err(|reason| error(n, reason)));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
