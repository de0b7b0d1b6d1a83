//! The optional details a traveller acts on: when the visit starts, where (venue and address, or a
//! meeting point) and what was paid. Each is checked like the other fields (plain text, a length
//! limit); a value that is there but wrong skips the row naming the column.

use chrono::NaiveTime;
use serde::Serialize;

use super::check::{optional, Field};

/// Most characters in `venue_name` and `meeting_point`.
pub const MAX_VENUE_CHARS: usize = 200;
/// Most characters in `venue_address`.
pub const MAX_ADDRESS_CHARS: usize = 300;
/// The largest `price_paid` taken (a group booking of a thousand is well below it).
pub const MAX_PRICE_PAID: f64 = 10_000_000.0;

/// The booking's optional details; every one may be missing (the email leaves its line out).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Details {
    /// Local time of day at the venue the visit starts (`start_time`, `HH:MM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<NaiveTime>,
    /// The venue's name (`venue_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue_name: Option<String>,
    /// The venue's postal address, one line (`venue_address`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue_address: Option<String>,
    /// Where to meet the guide (`meeting_point`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_point: Option<String>,
    /// What the customer paid (`price_paid` in `currency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_paid: Option<crate::catalog::Money>,
}

/// The raw detail fields of a row.
pub(super) struct RawDetails<'a> {
    pub start_time: &'a Option<Field>,
    pub venue_name: &'a Option<Field>,
    pub venue_address: &'a Option<Field>,
    pub meeting_point: &'a Option<Field>,
    pub price_paid: &'a Option<Field>,
    pub currency: &'a Option<Field>,
}

impl RawDetails<'_> {
    /// The details, or why one of them cannot be used (naming its column).
    pub(super) fn check(&self) -> Result<Details, String> {
        Ok(Details {
            start_time: start_time(self.start_time)?,
            venue_name: optional(self.venue_name, "venue_name", MAX_VENUE_CHARS)?,
            venue_address: optional(self.venue_address, "venue_address", MAX_ADDRESS_CHARS)?,
            meeting_point: optional(self.meeting_point, "meeting_point", MAX_VENUE_CHARS)?,
            price_paid: price(self.price_paid, self.currency)?,
        })
    }
}

/// `start_time`: `HH:MM` (24-hour clock), `HH:MM:SS` taken too.
fn start_time(field: &Option<Field>) -> Result<Option<NaiveTime>, String> {
    let Some(s) = optional(field, "start_time", 8)? else {
        return Ok(None);
    };
    NaiveTime::parse_from_str(&s, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
        .map(Some)
        .map_err(|_| format!("start_time {s:?} is not a time of day HH:MM (24-hour clock)"))
}

/// `price_paid` (a decimal number, `.` before the cents) with its `currency` (three capital
/// letters); one without the other is refused.
fn price(
    amount: &Option<Field>,
    currency: &Option<Field>,
) -> Result<Option<crate::catalog::Money>, String> {
    let amount = optional(amount, "price_paid", 32)?;
    let currency = optional(currency, "currency", super::MAX_VALUE_CHARS)?;
    let (amount, currency) = match (amount, currency) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err("price_paid is given without its currency".into()),
        (None, Some(_)) => return Err("currency is given without price_paid".into()),
        (Some(a), Some(c)) => (a, c),
    };
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "currency {currency:?} is not an ISO 4217 code (three capital letters)"
        ));
    }
    let decimal = !amount.is_empty()
        && amount.chars().all(|c| c.is_ascii_digit() || c == '.')
        && amount.matches('.').count() <= 1
        && amount.starts_with(|c: char| c.is_ascii_digit());
    match amount.parse::<f64>() {
        Ok(n) if decimal && n.is_finite() && n <= MAX_PRICE_PAID => {
            Ok(Some(crate::catalog::Money {
                amount: n,
                currency,
            }))
        }
        _ => Err(format!(
            "price_paid {amount:?} is not an amount such as 89.00 (0 to {MAX_PRICE_PAID})"
        )),
    }
}
