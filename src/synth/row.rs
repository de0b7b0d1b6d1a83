//! One row's fields, reused from row to row so that the text buffers are allocated once, and how they
//! are written: a CSV record or a JSON Lines object, and the instants in their zone.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, Datelike, Offset, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// `t` as RFC 3339 in `zone` (`+01:00`), or in UTC (`Z`) for `None`.
pub(super) fn write_instant(
    s: &mut String,
    t: DateTime<Utc>,
    zone: Option<Tz>,
) -> std::fmt::Result {
    let (local, offset) = match zone {
        Some(tz) => {
            let at = t.with_timezone(&tz);
            (at.naive_local(), Some(at.offset().fix().local_minus_utc()))
        }
        None => (t.naive_utc(), None),
    };
    write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )?;
    match offset {
        None => s.write_char('Z'),
        Some(secs) => {
            let sign = if secs < 0 { '-' } else { '+' };
            let m = secs.unsigned_abs() / 60;
            write!(s, "{sign}{:02}:{:02}", m / 60, m % 60)
        }
    }
}

/// One row's fields, reused from row to row so that the text buffers are allocated once.
#[derive(Default)]
pub(super) struct RowBuf<'a> {
    pub(super) booking_id: String,
    pub(super) email: String,
    pub(super) first_name: &'static str,
    pub(super) locale: &'static str,
    pub(super) product_id: u64,
    pub(super) product_title: &'a str,
    pub(super) city: &'a str,
    pub(super) travel_date: String,
    pub(super) booked_at: String,
    pub(super) adults: u32,
    pub(super) children: u32,
    pub(super) cancelled: bool,
    pub(super) opt_in: bool,
    pub(super) timezone: Option<&'static str>,
    pub(super) held: [u64; 2],
    pub(super) held_len: usize,
    pub(super) customer_id: String,
    /// Numbers as CSV text.
    pub(super) scratch: String,
}

impl RowBuf<'_> {
    pub(super) fn clear(&mut self) {
        self.booking_id.clear();
        self.email.clear();
        self.travel_date.clear();
        self.booked_at.clear();
        self.customer_id.clear();
    }

    fn status(&self) -> &'static str {
        if self.cancelled {
            "cancelled"
        } else {
            "confirmed"
        }
    }

    pub(super) fn write_csv<W: Write>(&mut self, w: &mut csv::Writer<W>) -> io::Result<()> {
        let status = self.status();
        let s = &mut self.scratch;
        s.clear();
        // product_id, adults, children, other_product_ids, one after the other in `scratch`.
        let fmt = io::Error::other;
        write!(s, "{}", self.product_id).map_err(fmt)?;
        let a = s.len();
        write!(s, "{}", self.adults).map_err(fmt)?;
        let b = s.len();
        write!(s, "{}", self.children).map_err(fmt)?;
        let c = s.len();
        for (k, id) in self.held[..self.held_len].iter().enumerate() {
            if k > 0 {
                s.push(';');
            }
            write!(s, "{id}").map_err(fmt)?;
        }
        let record: [&str; 17] = [
            &self.booking_id,
            &self.email,
            self.first_name,
            self.locale,
            &s[..a],
            self.product_title,
            self.city,
            &self.travel_date,
            &self.booked_at,
            &s[a..b],
            &s[b..c],
            status,
            if self.opt_in { "true" } else { "false" },
            "",
            self.timezone.unwrap_or(""),
            &s[c..],
            &self.customer_id,
        ];
        w.write_record(record)?;
        Ok(())
    }

    pub(super) fn json(&self) -> JsonRow<'_> {
        JsonRow {
            booking_id: &self.booking_id,
            customer_email: &self.email,
            customer_first_name: self.first_name,
            locale: self.locale,
            product_id: self.product_id,
            product_title: self.product_title,
            city: self.city,
            travel_date: &self.travel_date,
            booked_at: &self.booked_at,
            adults: self.adults,
            children: self.children,
            status: self.status(),
            marketing_opt_in: self.opt_in,
            timezone: self.timezone,
            other_product_ids: &self.held[..self.held_len],
            customer_id: &self.customer_id,
        }
    }
}

/// A JSON Lines row, in the CSV's column order; `latitude` always left out (empty).
#[derive(Serialize)]
pub(super) struct JsonRow<'a> {
    booking_id: &'a str,
    customer_email: &'a str,
    customer_first_name: &'a str,
    locale: &'a str,
    product_id: u64,
    product_title: &'a str,
    city: &'a str,
    travel_date: &'a str,
    booked_at: &'a str,
    adults: u32,
    children: u32,
    status: &'a str,
    marketing_opt_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    other_product_ids: &'a [u64],
    customer_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_with_their_zone_offset_or_z() {
        let t: DateTime<Utc> = "2026-12-10T09:00:05Z".parse().unwrap();
        let mut s = String::new();
        write_instant(&mut s, t, None).unwrap();
        s.push(' ');
        write_instant(&mut s, t, Some(chrono_tz::America::New_York)).unwrap();
        s.push(' ');
        write_instant(&mut s, t, Some(chrono_tz::Asia::Kolkata)).unwrap();
        assert_eq!(
            s,
            "2026-12-10T09:00:05Z 2026-12-10T04:00:05-05:00 2026-12-10T14:30:05+05:30"
        );
    }
}
