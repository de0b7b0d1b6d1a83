//! The case list a template team keeps (`snapshots.toml`): named cases, each a booking (by id from
//! the bookings file, or written inline as a table of a CSV row's fields), a campaign, an instant
//! (`at`) or a date (`as_of`), optionally a language and a pinned engine answer.
//!
//! ```toml
//! [case.confirmation-de-block]
//! booking = "WT-100005"
//! campaign = "confirmation"
//! at = "2026-12-10T09:00:00Z"
//! lang = "de"                                   # optional: the booking's own otherwise
//! answer = "answers/confirmation-de-block.json" # optional, beside this file
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use super::SnapshotError;
use crate::bookings::Booking;
use crate::run::PreviewAt;

/// The cases of one file, by name (in name order: the order they are checked and reported in).
#[derive(Debug, Clone)]
pub struct Cases {
    /// The file they were read from.
    pub path: PathBuf,
    /// Each case, by name.
    pub cases: BTreeMap<String, Case>,
}

/// One case: one email to keep a snapshot of.
#[derive(Debug, Clone)]
pub struct Case {
    /// The booking.
    pub booking: CaseBooking,
    /// The campaign's name.
    pub campaign: String,
    /// The instant the email is composed at.
    pub at: PreviewAt,
    /// The language, instead of the booking's own.
    pub lang: Option<String>,
    /// The pinned engine answer's file (resolved against the cases file's folder).
    pub answer: Option<PathBuf>,
}

/// A case's booking.
#[derive(Debug, Clone)]
pub enum CaseBooking {
    /// A booking of the bookings file, by id.
    Id(String),
    /// A booking written in the case.
    Inline(Box<Booking>),
}

/// The keys a case may have, as the error for an unknown key lists them.
const KEYS: &str = "booking, campaign, at, as_of, lang, answer";

impl Cases {
    /// Reads and checks `path`; an error names the file, the case and the key.
    pub fn load(path: &Path) -> Result<Cases, SnapshotError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::Io {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| SnapshotError::Cases {
            file: file.clone(),
            reason: e.to_string().trim_end().to_string(),
        })?;
        let err = |reason: String| SnapshotError::Cases {
            file: file.clone(),
            reason,
        };
        if let Some(key) = table.keys().find(|k| *k != "case") {
            return Err(err(format!(
                "unknown key {key:?} (cases are tables [case.NAME])"
            )));
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let mut cases = BTreeMap::new();
        if let Some(all) = table.get("case") {
            let all = all
                .as_table()
                .ok_or_else(|| err("`case` must be tables [case.NAME]".into()))?;
            for (name, value) in all {
                check_name(name).map_err(|r| err(format!("case {name:?}: {r}")))?;
                let case = case(value, base).map_err(|r| err(format!("case {name:?}: {r}")))?;
                cases.insert(name.clone(), case);
            }
        }
        Ok(Cases {
            path: path.to_path_buf(),
            cases,
        })
    }
}

/// A case name names its snapshot file: letters, digits, `-`, `_`, `.`, not starting with `.`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    match ok {
        true => Ok(()),
        false => Err("the name must be letters, digits, '-', '_' or '.' (it names a file)".into()),
    }
}

fn case(value: &toml::Value, base: &Path) -> Result<Case, String> {
    let t = value
        .as_table()
        .ok_or("must be a table of booking, campaign, at …")?;
    if let Some(key) = t
        .keys()
        .find(|k| !KEYS.split(", ").any(|known| known == *k))
    {
        return Err(format!("unknown key {key:?} (a case has {KEYS})"));
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            // `at = 2026-12-10T09:00:00Z` unquoted: TOML's own date-time, taken as its text.
            Some(toml::Value::Datetime(d)) => Ok(Some(d.to_string())),
            Some(_) => Err(format!("{key}: must be a string")),
        }
    };
    let booking = match t.get("booking") {
        None => return Err("booking: missing (a booking id, or a table of its fields)".into()),
        Some(toml::Value::String(id)) => CaseBooking::Id(id.clone()),
        Some(toml::Value::Table(fields)) => CaseBooking::Inline(Box::new(inline(fields)?)),
        Some(_) => return Err("booking: must be a booking id or a table of its fields".into()),
    };
    let campaign = text("campaign")?.ok_or("campaign: missing")?;
    let at = match (text("at")?, text("as_of")?) {
        (Some(at), None) => PreviewAt::Now(instant(&at)?),
        (None, Some(date)) => PreviewAt::AsOf(
            date.parse::<NaiveDate>()
                .map_err(|e| format!("as_of: {date:?} is not a date such as 2026-12-10 ({e})"))?,
        ),
        (Some(_), Some(_)) => return Err("at and as_of: give one of them, not both".into()),
        (None, None) => return Err("at: missing (an RFC 3339 instant; or as_of, a date)".into()),
    };
    let answer = text("answer")?.map(|a| base.join(a));
    Ok(Case {
        booking,
        campaign,
        at,
        lang: text("lang")?,
        answer,
    })
}

/// `at`: an RFC 3339 instant, within the years a preview takes.
fn instant(at: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(at)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            format!("at: {at:?} is not an RFC 3339 instant such as 2026-12-10T09:00:00Z ({e})")
        })
}

/// An inline booking: a CSV row's fields, numbers and booleans taken as their text.
fn inline(fields: &toml::Table) -> Result<Booking, String> {
    let mut texts = Vec::new();
    for (k, v) in fields {
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            _ => return Err(format!("booking.{k}: must be a string, number or boolean")),
        };
        texts.push((k.as_str(), text));
    }
    Booking::from_fields(texts.iter().map(|(k, v)| (*k, v.as_str())))
        .map_err(|reason| format!("booking: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Cases, SnapshotError> {
        let dir = tempfile::tempdir().map_err(|e| SnapshotError::Io {
            path: "temp".into(),
            reason: e.to_string(),
        })?;
        let path = dir.path().join("snapshots.toml");
        std::fs::write(&path, text).map_err(|e| SnapshotError::Io {
            path: "temp".into(),
            reason: e.to_string(),
        })?;
        Cases::load(&path)
    }

    #[test]
    fn toml_dates_unquoted_are_taken_as_their_text() {
        let cases = load(
            "[case.a]\ncampaign = \"reminder\"\nat = 2026-12-10T09:00:00Z\n\
             booking = { booking_id = \"S-1\", customer_email = \"a@example.com\", \
             customer_first_name = \"A\", locale = \"de\", product_id = 1, product_title = \"T\", \
             city = \"Rome\", travel_date = 2026-12-14, booked_at = 2026-11-20T08:31:00+01:00, \
             adults = 2, children = 0, status = \"confirmed\", marketing_opt_in = false }\n",
        );
        let Ok(cases) = cases else {
            panic!("{cases:?}")
        };
        let case = &cases.cases["a"];
        assert_eq!(
            case.at,
            PreviewAt::Now("2026-12-10T09:00:00Z".parse().unwrap_or_default())
        );
        let CaseBooking::Inline(b) = &case.booking else {
            panic!("inline")
        };
        assert_eq!(b.travel_date.to_string(), "2026-12-14");
        assert!(!b.marketing_opt_in);
    }

    #[test]
    fn errors_name_the_case_and_the_key() {
        let e = load("[case.a]\nbooking = 7\ncampaign = \"c\"\nat = \"x\"\n").err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.ends_with("snapshots.toml: case \"a\": booking: must be a booking id or a table of its fields"), "{e}");
        let e = load("[case.\"a b\"]\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("case \"a b\": the name must be"), "{e}");
        let e = load("[cases.a]\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown key \"cases\""), "{e}");
    }
}
