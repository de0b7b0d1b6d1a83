//! Shapes: what makes two emails of a campaign share a compiled form ([`ShapeKey`]), the compiled form
//! itself, and every shape met so far, shared by the rendering threads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Slots, Template};
use crate::bookings::Locale;

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
    /// Which details the email shows (bits of [`crate::render::details::presence`]).
    pub details: u8,
}

/// The messages an email's subject, preheader and travellers line come from (indexes into
/// [`crate::render::Translations::ids`]; none: empty, as for the straightforward render).
pub(crate) struct Messages {
    pub subject: Option<u16>,
    pub preheader: Option<u16>,
    pub travellers: Option<u16>,
}

impl ShapeKey {
    /// The shape of an email; `None` for more items than a shape can tell apart (rendered the
    /// straightforward way).
    pub(crate) fn of(input: &crate::render::EmailInput<'_>) -> Option<ShapeKey> {
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
            details: crate::render::details::presence(input),
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
