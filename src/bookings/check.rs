//! Checking one row's fields. Every value is checked here, where it is read, for what the later
//! phases cannot take: a control character (mrml refuses it, lettre panics on a line break in the
//! `To` header), a length beyond the limits below (one 50 MB title made a 414 MB email), an address
//! that lettre parses but cannot put back into a `To` header.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde::Deserialize;

use super::{Booking, Locale, Status};

/// Most characters in `customer_first_name`.
pub const MAX_NAME_CHARS: usize = 100;
/// Most characters in `product_title`.
pub const MAX_TITLE_CHARS: usize = 300;
/// Most characters in `city`.
pub const MAX_CITY_CHARS: usize = 100;
/// Most characters in `customer_email` (RFC 5321's limit on a path, brackets excluded).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Most characters in `booking_id` (it names output files).
pub const MAX_BOOKING_ID_CHARS: usize = 64;
/// Most characters in each of `customer_id`, `customer_phone`, `contact_id` and `web_id`.
pub const MAX_IDENTITY_CHARS: usize = 200;
/// Most characters in any other field (a locale, a product id, a date, a count, a time zone…), and
/// in each product id of `other_product_ids`.
pub const MAX_VALUE_CHARS: usize = 64;
/// Most product ids in `other_product_ids`.
pub const MAX_HELD_PRODUCTS: usize = 500;

/// The most characters `column` may have, if tripmail reads it.
pub(super) fn max_chars(column: &str) -> Option<usize> {
    Some(match column {
        "customer_first_name" => MAX_NAME_CHARS,
        "product_title" => MAX_TITLE_CHARS,
        "city" => MAX_CITY_CHARS,
        "customer_email" => MAX_EMAIL_CHARS,
        "booking_id" => MAX_BOOKING_ID_CHARS,
        "customer_id" | "customer_phone" | "contact_id" | "web_id" => MAX_IDENTITY_CHARS,
        "venue_name" | "meeting_point" => super::details::MAX_VENUE_CHARS,
        "venue_address" => super::details::MAX_ADDRESS_CHARS,
        "other_product_ids" => return None,
        c if super::REQUIRED.contains(&c) || super::OPTIONAL.contains(&c) => MAX_VALUE_CHARS,
        _ => return None,
    })
}

/// A field as it came in: text from CSV, or any JSON value from JSON Lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Field {
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

/// Whether `c` may not go into an email: a control character (C0 including TAB, CR and LF, DEL,
/// C1) or a Unicode line or paragraph separator. TAB is refused too: it has no place in a name, a
/// title or an id, and the one rule is easier to state than its exceptions.
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `value` as `name`'s value, if it is short enough and has no control character.
fn checked(value: String, name: &str, max: usize) -> Result<String, String> {
    let chars = value.chars().count();
    if chars > max {
        return Err(format!("{name} is {chars} characters long (at most {max})"));
    }
    if let Some(c) = value.chars().find(|c| is_forbidden(*c)) {
        return Err(format!(
            "{name} {value:?} contains a control character (U+{:04X})",
            u32::from(c)
        ));
    }
    Ok(value)
}

/// A row before checking: every field optional, so that the check can say which one is missing.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawRow {
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
    start_time: Option<Field>,
    venue_name: Option<Field>,
    venue_address: Option<Field>,
    meeting_point: Option<Field>,
    price_paid: Option<Field>,
    currency: Option<Field>,
}

fn required(field: &Option<Field>, name: &str, max: usize) -> Result<String, String> {
    let text = field
        .as_ref()
        .and_then(Field::text)
        .ok_or_else(|| format!("missing {name}"))?;
    checked(text, name, max)
}

pub(super) fn optional(
    field: &Option<Field>,
    name: &str,
    max: usize,
) -> Result<Option<String>, String> {
    field
        .as_ref()
        .and_then(Field::text)
        .map(|text| checked(text, name, max))
        .transpose()
}

/// The most adults, or children, one booking may have (a group booking is a few hundred at most).
pub const MAX_TRAVELLERS: u32 = 1000;

fn count(field: &Option<Field>, name: &str) -> Result<u32, String> {
    let s = required(field, name, MAX_VALUE_CHARS)?;
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("{name} is negative ({n})")),
        Ok(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_TRAVELLERS)
            .ok_or_else(|| format!("{name} is too large ({n}; at most {MAX_TRAVELLERS})")),
        Err(_) => Err(format!("{name} is not a whole number: {s:?}")),
    }
}

fn parse_product_id(s: &str, name: &str) -> Result<u64, String> {
    let s = checked(s.trim().to_string(), name, MAX_VALUE_CHARS)?;
    s.parse::<u64>()
        .map_err(|_| format!("{name} is not a product id: {s:?}"))
}

/// The customer's address, refused here if lettre would refuse it later: it parses some addresses
/// (`a@[127.0.0.1]`, `"a b"@example.com`) that its `To` header parser cannot read back, and a
/// message built with one has no recipient. So the mailbox is written and read back exactly as the
/// message builder does.
fn address(email: &str, first_name: &str) -> Result<lettre::Address, String> {
    use lettre::message::Mailbox;
    let address = email
        .parse::<lettre::Address>()
        .map_err(|e| format!("customer_email {email:?} is not an email address ({e})"))?;
    if plain(&address) {
        return Ok(address);
    }
    let reads_back = |name: Option<&str>| {
        let mailbox = Mailbox::new(name.map(String::from), address.clone());
        let mut header = String::new();
        write!(header, "{mailbox}").is_ok()
            && header.parse::<Mailbox>().is_ok_and(|m| m.email == address)
    };
    if !reads_back(None) {
        let why = if address.domain().starts_with('[') {
            "an IP address for a domain"
        } else if address.user().starts_with('"') {
            "a quoted local part"
        } else {
            "an address form"
        };
        return Err(format!(
            "customer_email {email:?} has {why} that the mailer cannot send to"
        ));
    }
    if !reads_back(Some(first_name)) {
        return Err(format!(
            "customer_first_name {first_name:?} cannot go into the To header"
        ));
    }
    Ok(address)
}

/// Whether `address` is a dot-atom at a host name, as nearly every address is: lettre's header parser
/// reads those back, and a name without a line break (the only thing its header writer refuses)
/// goes with them. Writing and reading back the mailbox is slow (a parser combinator; it made
/// reading 100k rows four times slower), so only other addresses take that road.
fn plain(address: &lettre::Address) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let user = address.user();
    let domain = address.domain();
    user.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl RawRow {
    /// A CSV record, every field taken as text (so that `007` stays `007`); unknown columns are
    /// ignored.
    pub(super) fn from_csv<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> RawRow {
        let mut raw = RawRow::default();
        for (h, v) in fields {
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
                "start_time" => &mut raw.start_time,
                "venue_name" => &mut raw.venue_name,
                "venue_address" => &mut raw.venue_address,
                "meeting_point" => &mut raw.meeting_point,
                "price_paid" => &mut raw.price_paid,
                "currency" => &mut raw.currency,
                _ => continue,
            };
            *slot = Some(Field::Text(v.to_string()));
        }
        raw
    }

    /// The booking, or why the row cannot be used; once its id is known, the reason names it
    /// (`booking WT-1: …`), so that a skipped row can be found by the id a user knows.
    pub(super) fn check(&self) -> Result<Booking, String> {
        // Checking is pure: a panic in it (a bug) skips this row, and reading goes on.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.check_row())).unwrap_or_else(
            |_| Err("checking this row failed unexpectedly (a bug; please report it)".into()),
        )
    }

    fn check_row(&self) -> Result<Booking, String> {
        let booking_id = self.booking_id()?;
        self.check_fields(booking_id.clone())
            .map_err(|reason| format!("booking {booking_id}: {reason}"))
    }

    fn booking_id(&self) -> Result<String, String> {
        let booking_id = required(&self.booking_id, "booking_id", MAX_BOOKING_ID_CHARS)?;
        let id_ok = booking_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && booking_id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !booking_id.contains("..");
        if !id_ok {
            return Err(format!(
                "booking_id {booking_id:?} must be up to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
            ));
        }
        Ok(booking_id)
    }

    fn check_fields(&self, booking_id: String) -> Result<Booking, String> {
        let email = required(&self.customer_email, "customer_email", MAX_EMAIL_CHARS)?;
        let customer_first_name = required(
            &self.customer_first_name,
            "customer_first_name",
            MAX_NAME_CHARS,
        )?;
        let customer_email = address(&email, &customer_first_name)?;
        let locale_s = required(&self.locale, "locale", MAX_VALUE_CHARS)?;
        let locale = Locale::parse(&locale_s).ok_or_else(|| {
            format!("unknown locale {locale_s:?} (expected one of en, nl, de, fr, es, it)")
        })?;
        let product_id = parse_product_id(
            &required(&self.product_id, "product_id", MAX_VALUE_CHARS)?,
            "product_id",
        )?;
        let product_title = required(&self.product_title, "product_title", MAX_TITLE_CHARS)?;
        let city = required(&self.city, "city", MAX_CITY_CHARS)?;
        let date_s = required(&self.travel_date, "travel_date", MAX_VALUE_CHARS)?;
        let travel_date = NaiveDate::parse_from_str(&date_s, "%Y-%m-%d")
            .map_err(|e| format!("travel_date {date_s:?} is not a date YYYY-MM-DD ({e})"))?;
        let booked_s = required(&self.booked_at, "booked_at", MAX_VALUE_CHARS)?;
        let booked_at = DateTime::parse_from_rfc3339(&booked_s)
            .map_err(|e| format!("booked_at {booked_s:?} is not an RFC 3339 instant ({e})"))?;
        let adults = count(&self.adults, "adults")?;
        let children = count(&self.children, "children")?;
        if adults == 0 && children == 0 {
            return Err("nobody on the booking: adults and children are both 0".into());
        }
        let status = self.status()?;
        let marketing_opt_in = self.marketing_opt_in()?;
        let latitude = self.latitude()?;
        let timezone = self.timezone()?;
        let other_product_ids = self.held_products()?;
        let identity =
            |field: &Option<Field>, name: &str| optional(field, name, MAX_IDENTITY_CHARS);
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
            customer_id: identity(&self.customer_id, "customer_id")?,
            customer_phone: identity(&self.customer_phone, "customer_phone")?,
            contact_id: identity(&self.contact_id, "contact_id")?,
            web_id: identity(&self.web_id, "web_id")?,
            details: self.details()?,
        })
    }

    /// The optional details (start time, venue, price paid).
    fn details(&self) -> Result<super::Details, String> {
        super::details::RawDetails {
            start_time: &self.start_time,
            venue_name: &self.venue_name,
            venue_address: &self.venue_address,
            meeting_point: &self.meeting_point,
            price_paid: &self.price_paid,
            currency: &self.currency,
        }
        .check()
    }

    /// `status`: `confirmed` or `cancelled`.
    fn status(&self) -> Result<Status, String> {
        let status = required(&self.status, "status", MAX_VALUE_CHARS)?;
        match status.as_str() {
            "confirmed" => Ok(Status::Confirmed),
            "cancelled" => Ok(Status::Cancelled),
            other => Err(format!(
                "status {other:?} is neither \"confirmed\" nor \"cancelled\""
            )),
        }
    }

    /// `marketing_opt_in`: `true` or `false`.
    fn marketing_opt_in(&self) -> Result<bool, String> {
        let opt_in = required(&self.marketing_opt_in, "marketing_opt_in", MAX_VALUE_CHARS)?;
        match opt_in.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!(
                "marketing_opt_in {other:?} is neither \"true\" nor \"false\""
            )),
        }
    }

    /// `latitude`, when given: a number from -90 to 90.
    fn latitude(&self) -> Result<Option<f64>, String> {
        let Some(s) = optional(&self.latitude, "latitude", MAX_VALUE_CHARS)? else {
            return Ok(None);
        };
        match s.parse::<f64>() {
            Ok(l) if (-90.0..=90.0).contains(&l) => Ok(Some(l)),
            _ => Err(format!("latitude {s:?} is not a latitude")),
        }
    }

    /// `timezone`, when given: an IANA time zone.
    fn timezone(&self) -> Result<Option<Tz>, String> {
        let Some(s) = optional(&self.timezone, "timezone", MAX_VALUE_CHARS)? else {
            return Ok(None);
        };
        s.parse::<Tz>()
            .map(Some)
            .map_err(|_| format!("timezone {s:?} is not an IANA time zone"))
    }

    /// `other_product_ids`: a JSON array, or `;`-separated text.
    fn held_products(&self) -> Result<Vec<u64>, String> {
        const NAME: &str = "other_product_ids";
        let ids = match &self.other_product_ids {
            Some(Field::List(values)) => {
                check_held_count(values.len())?;
                values
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::Number(n) => parse_product_id(&n.to_string(), NAME),
                        serde_json::Value::String(s) => parse_product_id(s, NAME),
                        serde_json::Value::Null | serde_json::Value::Bool(_) => {
                            Err(format!("{NAME} holds {v}, not a product id"))
                        }
                        serde_json::Value::Array(_) | serde_json::Value::Object(_) => Err(format!(
                            "{NAME} holds a JSON array or object, not a product id"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            other => match other.as_ref().and_then(Field::text) {
                None => Vec::new(),
                Some(s) => {
                    let parts: Vec<&str> = s.split(';').filter(|p| !p.trim().is_empty()).collect();
                    check_held_count(parts.len())?;
                    parts
                        .into_iter()
                        .map(|p| parse_product_id(p, NAME))
                        .collect::<Result<Vec<_>, _>>()?
                }
            },
        };
        Ok(ids)
    }
}

fn check_held_count(n: usize) -> Result<(), String> {
    if n > MAX_HELD_PRODUCTS {
        return Err(format!(
            "other_product_ids has {n} product ids (at most {MAX_HELD_PRODUCTS})"
        ));
    }
    Ok(())
}
