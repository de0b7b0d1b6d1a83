//! One recommended item, whatever the API it came from: its id (a number or a SKU), what the email
//! shows of it, and what the heuristics may read of it (stock, traits, city).

use serde::{Deserialize, Serialize};

use crate::catalog::Money;

/// A recommended product's id as its source gives it: a whole number (the cross-sell API, our
/// catalog) or a string (the contact-recommendations API documents `id` as a string, and a feed may
/// carry SKUs such as `"Y1"`). Ids are compared as text, so `"1002"` and `1002` are one product
/// while `"007"` and `7` are two; the report keeps the form the API used.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ProductId {
    /// A whole number.
    Number(u64),
    /// Any other id, as text.
    Text(String),
}

impl ProductId {
    /// The id as our catalog and the cross-sell API write it, if it is one of those (`"1002"` is,
    /// `"01002"` and `"Y1"` are not).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            ProductId::Number(n) => Some(*n),
            ProductId::Text(s) => s.parse::<u64>().ok().filter(|n| n.to_string() == *s),
        }
    }

    /// Whether this is the product `id` of our catalog (a booking's product, a held one).
    pub fn is(&self, id: u64) -> bool {
        self.as_u64() == Some(id)
    }
}

impl std::fmt::Display for ProductId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProductId::Number(n) => write!(f, "{n}"),
            ProductId::Text(s) => f.write_str(s),
        }
    }
}

impl PartialEq for ProductId {
    fn eq(&self, other: &ProductId) -> bool {
        match (self, other) {
            (ProductId::Number(a), ProductId::Number(b)) => a == b,
            (ProductId::Text(a), ProductId::Text(b)) => a == b,
            (ProductId::Number(n), ProductId::Text(s))
            | (ProductId::Text(s), ProductId::Number(n)) => n.to_string() == *s,
        }
    }
}

impl Eq for ProductId {}

impl std::hash::Hash for ProductId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal ids hash alike: both forms hash their text.
        match self {
            ProductId::Number(n) => n.to_string().hash(state),
            ProductId::Text(s) => s.hash(state),
        }
    }
}

impl From<u64> for ProductId {
    fn from(n: u64) -> ProductId {
        ProductId::Number(n)
    }
}

/// One recommended product, whatever the source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Recommendation {
    /// The product.
    pub product_id: ProductId,
    /// Its title.
    pub title: String,
    /// Its photo.
    pub image_url: String,
    /// Its lowest price.
    pub from_price: Money,
    /// The source's own link to it, if it gives one (else `links.product_url` is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether it can be bought now; an item that cannot is never shown.
    #[serde(skip, default = "in_stock")]
    pub in_stock: bool,
    /// What the source says of it, for sources that describe items (contact recommendations);
    /// the cross-sell API expresses these through its tag filter instead.
    #[serde(skip)]
    pub traits: Traits,
    /// The item's city as the source names it, for sources that say (a contact answer's
    /// `engine.yespo.city_field`); the catalog knows the city of its own products.
    #[serde(skip)]
    pub city: Option<String>,
}

impl From<&crate::catalog::Product> for Recommendation {
    /// A catalog product as the cross-sell API would give it (in stock; the catalog's own link).
    fn from(p: &crate::catalog::Product) -> Recommendation {
        Recommendation {
            product_id: ProductId::Number(p.product_id),
            title: p.title.clone(),
            image_url: p.image_url.clone(),
            from_price: p.from_price.clone(),
            url: None,
            in_stock: true,
            traits: Traits::default(),
            city: None,
        }
    }
}

fn in_stock() -> bool {
    true
}

/// What an item's `tags_*` fields say about it, for the heuristics: `None` when they say nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traits {
    /// An indoor activity.
    pub indoor: Option<bool>,
    /// An outdoor activity.
    pub outdoor: Option<bool>,
    /// Family-friendly.
    pub family: Option<bool>,
    /// Adults only.
    pub adults_only: Option<bool>,
}
