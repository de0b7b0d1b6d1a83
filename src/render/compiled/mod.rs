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
//!
//! Here: the placeholders (`Slot`, `Slots`) and what a value must be to fit one; `template` splits a
//! rendered text at its placeholders and fills it; `shape` keys and keeps the compiled shapes;
//! `compile` makes a shape's compiled form, checks it, and fills an email into it.

mod compile;
mod shape;
mod template;

pub(crate) use shape::{Compiled, Messages, Shape, ShapeKey, Shapes};
pub(crate) use template::{push_escaped, Template};

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
    /// The subject as the HTML title carries it.
    Title,
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
    /// One of the booking's details.
    Detail(crate::render::details::DetailField),
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
