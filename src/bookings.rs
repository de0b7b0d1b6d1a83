//! Bookings, read as a stream from CSV (header row) or JSON Lines. Each row is checked field by field;
//! a bad row becomes a [`RowError`] naming the file, the line (as an editor numbers it) and the reason,
//! and reading goes on with the next row.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::config::IdentifyBy;

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
}

impl Booking {
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
pub const OPTIONAL: [&str; 7] = [
    "latitude",
    "timezone",
    "other_product_ids",
    "customer_id",
    "customer_phone",
    "contact_id",
    "web_id",
];

/// A field as it came in: text from CSV, or any JSON value from JSON Lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Field {
    Text(String),
    Bool(bool),
    Number(serde_json::Number),
    List(Vec<serde_json::Value>),
    Null(()),
}

impl Field {
    /// The field as text, `None` when empty or null.
    fn text(&self) -> Option<String> {
        let s = match self {
            Field::Text(s) => s.trim().to_string(),
            Field::Bool(b) => b.to_string(),
            Field::Number(n) => n.to_string(),
            Field::List(_) | Field::Null(()) => return None,
        };
        (!s.is_empty()).then_some(s)
    }
}

/// A row before checking: every field optional, so that the check can say which one is missing.
#[derive(Debug, Default, Deserialize)]
struct RawRow {
    booking_id: Option<Field>,
    customer_email: Option<Field>,
    customer_first_name: Option<Field>,
    locale: Option<Field>,
    product_id: Option<Field>,
    product_title: Option<Field>,
    city: Option<Field>,
    travel_date: Option<Field>,
    booked_at: Option<Field>,
    adults: Option<Field>,
    children: Option<Field>,
    status: Option<Field>,
    marketing_opt_in: Option<Field>,
    latitude: Option<Field>,
    timezone: Option<Field>,
    other_product_ids: Option<Field>,
    customer_id: Option<Field>,
    customer_phone: Option<Field>,
    contact_id: Option<Field>,
    web_id: Option<Field>,
}

fn required(field: &Option<Field>, name: &str) -> Result<String, String> {
    field
        .as_ref()
        .and_then(Field::text)
        .ok_or_else(|| format!("missing {name}"))
}

fn optional(field: &Option<Field>) -> Option<String> {
    field.as_ref().and_then(Field::text)
}

fn count(field: &Option<Field>, name: &str) -> Result<u32, String> {
    let s = required(field, name)?;
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("{name} is negative ({n})")),
        Ok(n) => u32::try_from(n).map_err(|_| format!("{name} is too large ({n})")),
        Err(_) => Err(format!("{name} is not a whole number: {s:?}")),
    }
}

fn parse_product_id(s: &str, name: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("{name} is not a product id: {s:?}"))
}

impl RawRow {
    /// A CSV record, every field taken as text (so that `007` stays `007`); unknown columns are ignored.
    fn from_csv(headers: &csv::StringRecord, record: &csv::StringRecord) -> RawRow {
        let mut raw = RawRow::default();
        for (h, v) in headers.iter().zip(record.iter()) {
            let slot = match h {
                "booking_id" => &mut raw.booking_id,
                "customer_email" => &mut raw.customer_email,
                "customer_first_name" => &mut raw.customer_first_name,
                "locale" => &mut raw.locale,
                "product_id" => &mut raw.product_id,
                "product_title" => &mut raw.product_title,
                "city" => &mut raw.city,
                "travel_date" => &mut raw.travel_date,
                "booked_at" => &mut raw.booked_at,
                "adults" => &mut raw.adults,
                "children" => &mut raw.children,
                "status" => &mut raw.status,
                "marketing_opt_in" => &mut raw.marketing_opt_in,
                "latitude" => &mut raw.latitude,
                "timezone" => &mut raw.timezone,
                "other_product_ids" => &mut raw.other_product_ids,
                "customer_id" => &mut raw.customer_id,
                "customer_phone" => &mut raw.customer_phone,
                "contact_id" => &mut raw.contact_id,
                "web_id" => &mut raw.web_id,
                _ => continue,
            };
            *slot = Some(Field::Text(v.to_string()));
        }
        raw
    }

    fn check(&self) -> Result<Booking, String> {
        let booking_id = required(&self.booking_id, "booking_id")?;
        let id_ok = booking_id.len() <= 64
            && booking_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && booking_id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !booking_id.contains("..");
        if !id_ok {
            return Err(format!(
                "booking_id {booking_id:?} must be up to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
            ));
        }
        let email = required(&self.customer_email, "customer_email")?;
        let customer_email = email
            .parse::<lettre::Address>()
            .map_err(|e| format!("customer_email {email:?} is not an email address ({e})"))?;
        let customer_first_name = required(&self.customer_first_name, "customer_first_name")?;
        let locale_s = required(&self.locale, "locale")?;
        let locale = Locale::parse(&locale_s).ok_or_else(|| {
            format!("unknown locale {locale_s:?} (expected one of en, nl, de, fr, es, it)")
        })?;
        let product_id =
            parse_product_id(&required(&self.product_id, "product_id")?, "product_id")?;
        let product_title = required(&self.product_title, "product_title")?;
        let city = required(&self.city, "city")?;
        let date_s = required(&self.travel_date, "travel_date")?;
        let travel_date = NaiveDate::parse_from_str(&date_s, "%Y-%m-%d")
            .map_err(|e| format!("travel_date {date_s:?} is not a date YYYY-MM-DD ({e})"))?;
        let booked_s = required(&self.booked_at, "booked_at")?;
        let booked_at = DateTime::parse_from_rfc3339(&booked_s)
            .map_err(|e| format!("booked_at {booked_s:?} is not an RFC 3339 instant ({e})"))?;
        let adults = count(&self.adults, "adults")?;
        let children = count(&self.children, "children")?;
        if adults + children == 0 {
            return Err("nobody on the booking: adults and children are both 0".into());
        }
        let status = match required(&self.status, "status")?.as_str() {
            "confirmed" => Status::Confirmed,
            "cancelled" => Status::Cancelled,
            other => {
                return Err(format!(
                    "status {other:?} is neither \"confirmed\" nor \"cancelled\""
                ))
            }
        };
        let marketing_opt_in = match required(&self.marketing_opt_in, "marketing_opt_in")?.as_str()
        {
            "true" => true,
            "false" => false,
            other => {
                return Err(format!(
                    "marketing_opt_in {other:?} is neither \"true\" nor \"false\""
                ))
            }
        };
        let latitude = match optional(&self.latitude) {
            None => None,
            Some(s) => match s.parse::<f64>() {
                Ok(l) if (-90.0..=90.0).contains(&l) => Some(l),
                _ => return Err(format!("latitude {s:?} is not a latitude")),
            },
        };
        let timezone = match optional(&self.timezone) {
            None => None,
            Some(s) => Some(
                s.parse::<Tz>()
                    .map_err(|_| format!("timezone {s:?} is not an IANA time zone"))?,
            ),
        };
        let other_product_ids = match &self.other_product_ids {
            Some(Field::List(values)) => values
                .iter()
                .map(|v| match v {
                    serde_json::Value::Number(n) => {
                        parse_product_id(&n.to_string(), "other_product_ids")
                    }
                    serde_json::Value::String(s) => parse_product_id(s, "other_product_ids"),
                    other => Err(format!("other_product_ids holds {other}, not a product id")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            other => match optional(other) {
                None => Vec::new(),
                Some(s) => s
                    .split(';')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| parse_product_id(p, "other_product_ids"))
                    .collect::<Result<Vec<_>, _>>()?,
            },
        };
        Ok(Booking {
            booking_id,
            customer_email,
            customer_first_name,
            locale,
            product_id,
            product_title,
            city,
            travel_date,
            booked_at,
            adults,
            children,
            status,
            marketing_opt_in,
            latitude,
            timezone,
            other_product_ids,
            customer_id: optional(&self.customer_id),
            customer_phone: optional(&self.customer_phone),
            contact_id: optional(&self.contact_id),
            web_id: optional(&self.web_id),
        })
    }
}

/// One item of the stream: a booking, or a row that could not be used.
pub type Row = Result<Booking, RowError>;

enum Source {
    Csv {
        reader: csv::Reader<BufReader<File>>,
        headers: csv::StringRecord,
        record: csv::StringRecord,
    },
    Jsonl {
        lines: std::io::Lines<BufReader<File>>,
        line: u64,
    },
}

/// Reads bookings one row at a time: memory does not grow with the file.
pub struct BookingReader {
    file: String,
    source: Source,
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

    /// Opens a `.csv` or `.jsonl` file; a CSV header must name every required column.
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
        let reader = BufReader::with_capacity(1 << 16, file);
        let source = match ext.as_deref() {
            Some("csv") => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(reader);
                let headers = reader
                    .headers()
                    .map_err(|e| io(std::io::Error::other(e.to_string())))?
                    .clone();
                let trimmed: csv::StringRecord = headers.iter().map(str::trim).collect();
                if let Some(column) = REQUIRED
                    .into_iter()
                    .find(|c| !trimmed.iter().any(|h| h == *c))
                {
                    return Err(BookingsError::MissingColumn {
                        path: path.to_path_buf(),
                        column,
                    });
                }
                Source::Csv {
                    reader,
                    headers: trimmed,
                    record: csv::StringRecord::new(),
                }
            }
            Some("jsonl") | Some("ndjson") => Source::Jsonl {
                lines: reader.lines(),
                line: 0,
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
            done: false,
        })
    }

    fn error(&self, line: u64, reason: String) -> RowError {
        RowError {
            file: self.file.clone(),
            line,
            reason,
        }
    }
}

impl Iterator for BookingReader {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.done {
            return None;
        }
        match &mut self.source {
            Source::Csv {
                reader,
                headers,
                record,
            } => match reader.read_record(record) {
                Ok(false) => {
                    self.done = true;
                    None
                }
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    if record.len() != headers.len() {
                        let reason = format!(
                            "has {} fields where the header has {}",
                            record.len(),
                            headers.len()
                        );
                        return Some(Err(self.error(line, reason)));
                    }
                    let row = RawRow::from_csv(headers, record).check();
                    Some(row.map_err(|reason| self.error(line, reason)))
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    // A CSV syntax error leaves the reader in an unknown place: stop here.
                    if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                        self.done = true;
                    }
                    Some(Err(self.error(line, format!("unreadable CSV: {e}"))))
                }
            },
            Source::Jsonl { lines, line } => loop {
                *line += 1;
                let n = *line;
                match lines.next() {
                    None => {
                        self.done = true;
                        return None;
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(self.error(n, format!("unreadable line: {e}"))));
                    }
                    Some(Ok(text)) if text.trim().is_empty() => continue,
                    Some(Ok(text)) => {
                        let row = serde_json::from_str::<RawRow>(&text)
                            .map_err(|e| format!("not a JSON object of booking fields: {e}"))
                            .and_then(|raw| raw.check());
                        return Some(row.map_err(|reason| self.error(n, reason)));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

    fn read(ext: &str, body: &str) -> Vec<Row> {
        let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
        f.write_all(body.as_bytes()).unwrap();
        BookingReader::open(f.path()).unwrap().collect()
    }

    fn good() -> String {
        "B1,ana@example.com,Ana,es,7,Colosseum,Rome,2026-12-12,2026-12-09T10:00:00+01:00,2,1,confirmed,true,,,8;9".into()
    }

    #[test]
    fn a_good_csv_row_is_read_with_held_products() {
        let rows = read(".csv", &format!("{HEADER}\n{}\n", good()));
        let b = rows[0].as_ref().unwrap();
        assert_eq!(b.booking_id, "B1");
        assert_eq!(b.locale, Locale::Es);
        assert_eq!(b.children, 1);
        assert_eq!(b.other_product_ids, vec![8, 9]);
        assert_eq!(b.timezone, None);
    }

    #[test]
    fn bad_rows_name_their_line_and_reason_and_the_rest_are_read() {
        let body = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            good().replace("ana@example.com", "ana.example.com"),
            good().replace(",es,", ",pt,"),
            good().replace(",2,1,", ",2,-1,"),
            good().replace("2026-12-12", "2026-02-30"),
        );
        let rows = read(".csv", &format!("{body}{}\n", good()));
        let errs: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errs.len(), 4);
        assert_eq!(errs[0].line, 2);
        assert!(
            errs[0].reason.contains("customer_email"),
            "{}",
            errs[0].reason
        );
        assert_eq!(errs[1].line, 3);
        assert!(errs[1].reason.contains("unknown locale \"pt\""));
        assert!(errs[2].reason.contains("children is negative"));
        assert!(errs[3].reason.contains("travel_date \"2026-02-30\""));
        assert!(rows[4].is_ok());
    }

    #[test]
    fn jsonl_rows_take_numbers_bools_and_arrays() {
        let line = r#"{"booking_id":"B2","customer_email":"jo@example.org","customer_first_name":"Jo","locale":"nl-NL","product_id":7,"product_title":"X","city":"rome","travel_date":"2026-12-12","booked_at":"2026-12-09T10:00:00Z","adults":1,"children":0,"status":"confirmed","marketing_opt_in":false,"latitude":41.9,"timezone":"Europe/Rome","other_product_ids":[3,4]}"#;
        let rows = read(".jsonl", &format!("\n{line}\n{{\"booking_id\":\"B3\"}}\n"));
        let b = rows[0].as_ref().unwrap();
        assert_eq!(b.locale, Locale::Nl);
        assert!(!b.marketing_opt_in);
        assert_eq!(b.other_product_ids, vec![3, 4]);
        assert_eq!(b.timezone, Some(chrono_tz::Europe::Rome));
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.reason, "missing customer_email");
    }

    #[test]
    fn a_header_without_a_required_column_is_refused() {
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(b"booking_id,locale\nB1,en\n").unwrap();
        let err = BookingReader::open(f.path()).err().unwrap();
        assert!(
            err.to_string().contains("no `customer_email` column"),
            "{err}"
        );
    }
}
