//! The fast path: a template's MJML is turned into HTML once per shape of email (campaign, locale,
//! number of items, which items have a picture, unsubscribe link or not), with a placeholder where
//! each per-email value goes, and every email of that shape is then filled in, instead of running
//! Tera and mrml for each one.
//!
//! A placeholder is `U+E000 <slot number> U+E001` (private-use characters, which no escaping and no
//! MJML rule touches). A template that does more with a value than print it (a filter, a test)
//! would make a compiled shape differ from the straightforward render, so each shape is checked
//! when compiled against sample emails whose values differ in every way a template could tell
//! apart ([`SAMPLES`]); a shape that differs is rendered the straightforward way. A value the
//! compiled form cannot hold as Tera and mrml would (see [`fits`]) sends its email the
//! straightforward way.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::bookings::Locale;

/// The values of the sample emails a compiled shape is checked against: long and short, upper and
/// lower case, quotes, `&`, `<`, accents and symbols, so that a filter or test on a value
/// (`truncate`, `upper`, `length`) gives a different render.
pub(crate) const SAMPLES: [&str; 2] = [
    "Ab \"Quoted\" & <Tagged> 'Single' Éñü ✈ Ab \"Quoted\" & <Tagged> 'Single' Éñü ✈ Ab \"Quoted\" & <Tagged> 'Single' Éñü ✈ Ab \"Quoted\" & <Tagged> 'Single' Éñü ✈",
    "zq",
];

/// Whether a value goes into a compiled shape as it would into the template: not empty or blank
/// (mrml drops a text node that is only white space, and an empty attribute may change what it
/// writes) and without a control character other than tab, CR and LF (which mrml refuses in MJML).
pub(crate) fn fits(value: &str) -> bool {
    !value.trim().is_empty()
        && !value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Subject,
    Preheader,
    BookingId,
    FirstName,
    ProductTitle,
    City,
    Date,
    Travellers,
    Unsubscribe,
    /// A message of the translations, by its index in [`super::Translations::ids`].
    Message(u16),
    /// A field of the block's n-th item.
    Item(u8, ItemField),
}

/// The fields of an item that templates print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemField {
    Title,
    ImageUrl,
    Url,
    Price,
    FromLabel,
    Alt,
}

/// The slots a shape offers, numbered as their placeholders are.
#[derive(Debug, Default)]
pub(crate) struct Slots(Vec<Slot>);

impl Slots {
    /// The placeholder of `slot`, numbering it.
    pub(crate) fn token(&mut self, slot: Slot) -> String {
        let n = match self.0.iter().position(|s| *s == slot) {
            Some(n) => n,
            None => {
                self.0.push(slot);
                self.0.len() - 1
            }
        };
        format!("{OPEN}{n}{CLOSE}")
    }

    pub(crate) fn get(&self, n: usize) -> Option<Slot> {
        self.0.get(n).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

enum Piece {
    /// A byte range of the template's literal text.
    Text(usize, usize),
    /// The value of a slot, by number.
    Value(usize, Form),
}

/// How a value was written where its placeholder is.
#[derive(Clone, Copy)]
enum Form {
    /// As is (escaped for MJML/HTML in those).
    Plain,
    /// In an attribute mrml wrote with Rust's `{:?}` (a string literal's escapes), after the
    /// MJML's own escaping: the placeholder shows as `\u{e000}n\u{e001}`.
    Debug,
}

/// The placeholder as mrml writes it in an attribute.
const DEBUG_OPEN: &str = "\\u{e000}";
const DEBUG_CLOSE: &str = "\\u{e001}";

/// A rendered text with placeholders, split once into literal runs and values.
pub(crate) struct Template {
    text: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Splits `rendered` at its placeholders; `None` when one is malformed (a template cut a value).
    pub(crate) fn split(rendered: String, slots: usize) -> Option<Template> {
        let mut pieces = Vec::new();
        let mut start = 0;
        loop {
            let rest = &rendered[start..];
            let plain = rest.find(OPEN).map(|at| (at, Form::Plain));
            let debug = rest.find(DEBUG_OPEN).map(|at| (at, Form::Debug));
            let Some((at, form)) = [plain, debug]
                .into_iter()
                .flatten()
                .min_by_key(|(at, _)| *at)
            else {
                break;
            };
            let (open, close) = match form {
                Form::Plain => (OPEN.len_utf8(), CLOSE.to_string()),
                Form::Debug => (DEBUG_OPEN.len(), DEBUG_CLOSE.to_string()),
            };
            let after = &rest[at + open..];
            let end = after.find(close.as_str())?;
            let n: usize = after[..end].parse().ok().filter(|n| *n < slots)?;
            if at > 0 {
                pieces.push(Piece::Text(start, start + at));
            }
            pieces.push(Piece::Value(n, form));
            start += at + open + end + close.len();
        }
        let rest = &rendered[start..];
        if rest.contains(CLOSE) || rest.contains(DEBUG_CLOSE) {
            return None;
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(start, rendered.len()));
        }
        Some(Template {
            text: rendered,
            pieces,
        })
    }

    /// The slots the template uses.
    pub(crate) fn used(&self) -> impl Iterator<Item = usize> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Value(n, _) => Some(*n),
            Piece::Text(..) => None,
        })
    }

    /// The text with `values` (by slot number) in place, escaped for MJML/HTML when `escape`.
    pub(crate) fn fill<S: AsRef<str>>(&self, values: &[S], escape: bool) -> String {
        let extra: usize = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Value(n, _) => values
                    .get(*n)
                    .map_or(0, |v| v.as_ref().len() + v.as_ref().len() / 8),
                Piece::Text(..) => 0,
            })
            .sum();
        let mut out = String::with_capacity(self.text.len() + extra);
        let mut scratch = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(a, b) => out.push_str(&self.text[*a..*b]),
                Piece::Value(n, form) => {
                    let v = values.get(*n).map_or("", AsRef::as_ref);
                    match (escape, form) {
                        (false, _) => out.push_str(v),
                        (true, Form::Plain) => push_escaped(&mut out, v),
                        (true, Form::Debug) => {
                            scratch.clear();
                            push_escaped(&mut scratch, v);
                            push_debug(&mut out, &scratch);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Appends `s` as `format!("{s:?}")` writes it, without the quotes.
fn push_debug(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'\\' && b != b'"')
    {
        out.push_str(s);
        return;
    }
    let quoted = format!("{s:?}");
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// Appends `s` escaped as [`super::escape_xml`] does, copying runs without special characters whole.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// What makes two emails of a campaign share a compiled form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ShapeKey {
    pub locale: Locale,
    pub items: u8,
    /// Bit n: the n-th item has a picture.
    pub pictures: u8,
    pub unsubscribe: bool,
    /// The block's heading names the city.
    pub names_city: bool,
}

/// The messages an email's subject, preheader and travellers line come from (indexes into
/// [`super::Translations::ids`]; none: empty, as for the straightforward render).
pub(crate) struct Messages {
    pub subject: Option<u16>,
    pub preheader: Option<u16>,
    pub travellers: Option<u16>,
}

impl ShapeKey {
    /// The shape of an email; `None` for more items than a shape can tell apart (rendered the
    /// straightforward way).
    pub(crate) fn of(input: &super::EmailInput<'_>) -> Option<ShapeKey> {
        if input.items.len() > 8 {
            return None;
        }
        let pictures = input
            .items
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.image_url.is_empty())
            .fold(0u8, |bits, (i, _)| bits | 1 << i);
        Some(ShapeKey {
            locale: input.booking.locale,
            items: u8::try_from(input.items.len()).ok()?,
            pictures,
            unsubscribe: input.unsubscribe_url.is_some(),
            names_city: input.block_names_city,
        })
    }
}

/// A shape compiled: the HTML, MJML and text with placeholders.
pub(crate) struct Compiled {
    pub slots: Slots,
    pub messages: Messages,
    /// HTML, MJML, text.
    pub parts: [Template; 3],
    /// Slots any of the three uses.
    pub used: Vec<bool>,
}

impl Compiled {
    pub(crate) fn new(slots: Slots, messages: Messages, parts: [Template; 3]) -> Compiled {
        let mut used = vec![false; slots.len()];
        for n in parts.iter().flat_map(Template::used) {
            used[n] = true;
        }
        Compiled {
            slots,
            messages,
            parts,
            used,
        }
    }
}

/// A shape's way of rendering.
pub(crate) enum Shape {
    Compiled(Box<Compiled>),
    /// The compiled form differed from the straightforward render (or could not be made).
    Straight,
}

/// Every shape met so far, per campaign.
#[derive(Default)]
pub(crate) struct Shapes(RwLock<HashMap<String, HashMap<ShapeKey, Arc<Shape>>>>);

impl Shapes {
    pub(crate) fn get(&self, campaign: &str, key: &ShapeKey) -> Option<Arc<Shape>> {
        let shapes = self.0.read().unwrap_or_else(|p| p.into_inner());
        shapes.get(campaign)?.get(key).cloned()
    }

    /// Records `shape` unless another thread has recorded one already; returns the one kept.
    pub(crate) fn insert(&self, campaign: &str, key: ShapeKey, shape: Shape) -> Arc<Shape> {
        let mut shapes = self.0.write().unwrap_or_else(|p| p.into_inner());
        shapes
            .entry(campaign.to_string())
            .or_default()
            .entry(key)
            .or_insert_with(|| Arc::new(shape))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_split_at_its_placeholders_and_filled() {
        let mut slots = Slots::default();
        let (a, b) = (slots.token(Slot::FirstName), slots.token(Slot::City));
        let t = Template::split(format!("<p>{a}, {b}!{a}</p>"), slots.len()).unwrap();
        let values = ["Zoë & <Co>".to_string(), "Rome".to_string()];
        assert_eq!(
            t.fill(&values, true),
            "<p>Zoë &amp; &lt;Co&gt;, Rome!Zoë &amp; &lt;Co&gt;</p>"
        );
        assert_eq!(t.fill(&values, false), "<p>Zoë & <Co>, Rome!Zoë & <Co></p>");
        assert_eq!(t.used().collect::<Vec<_>>(), vec![0, 1, 0]);
    }

    #[test]
    fn a_cut_or_unknown_placeholder_is_refused() {
        assert!(Template::split(format!("x{OPEN}0"), 1).is_none());
        assert!(Template::split(format!("x{OPEN}7{CLOSE}"), 1).is_none());
        assert!(Template::split(format!("x0{CLOSE}"), 1).is_none());
        assert!(Template::split("plain".into(), 0).is_some());
    }

    #[test]
    fn a_placeholder_written_as_a_debug_string_is_filled_the_same_way() {
        let mut slots = Slots::default();
        let a = slots.token(Slot::Subject);
        let rendered = format!("<div aria-label={a:?}>{a}</div>");
        let t = Template::split(rendered, slots.len()).unwrap();
        for v in [
            "Plain title",
            "Zoë's \"trip\" & more",
            "tab\there\\back",
            "\u{e000}",
        ] {
            let values = [v.to_string()];
            let escaped = super::super::escape_xml(v);
            assert_eq!(
                t.fill(&values, true),
                format!("<div aria-label={escaped:?}>{escaped}</div>")
            );
        }
    }

    #[test]
    fn escaping_matches_escape_xml() {
        for s in ["", "plain", "a&b<c>d\"e'f", "&&", "é’€ & ü"] {
            let mut out = String::new();
            push_escaped(&mut out, s);
            assert_eq!(out, super::super::escape_xml(s));
        }
    }
}
