//! The catalog file: cities, tags and products. It is what the embedded engine serves, and where a
//! booking's latitude and time zone come from when the booking does not carry them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The catalog, as the file holds it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// Cities products are in.
    pub cities: Vec<City>,
    /// Tags products carry.
    pub tags: Vec<Tag>,
    /// Everything sold.
    pub products: Vec<Product>,
    /// The shop's page of a product, with a `{product_id}` placeholder: the `url` the embedded
    /// contact-recommendations API gives its items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_url: Option<String>,
}

/// A city.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    /// Catalog id.
    pub id: u64,
    /// Name, matched against bookings' `city` without regard to case.
    pub name: String,
    /// ISO 3166 country code.
    pub country: String,
    /// Degrees, south negative.
    pub latitude: f64,
    /// IANA time zone of the city.
    pub timezone: Tz,
    /// The city's name as each language writes it (`{"it": "Roma"}`); optional, an extension of the
    /// cross-sell catalog format. Languages not listed use the booking's own spelling.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
}

/// A product tag.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Catalog id.
    pub id: u64,
    /// Human name.
    pub name: String,
}

/// An amount in a currency.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Money {
    /// In the currency's unit (not cents).
    pub amount: f64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A product.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Catalog id.
    pub product_id: u64,
    /// Title shown to customers.
    pub title: String,
    /// The title as each language writes it (`{"de": "…"}`); optional, an extension of the
    /// cross-sell catalog format as the cities' `names` are. Languages not listed use `title`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub titles: BTreeMap<String, String>,
    /// The city it is in.
    pub city_id: u64,
    /// The venue or activity; products of one experience are variations of each other.
    pub experience_id: u64,
    /// Tags it carries.
    pub tag_ids: Vec<u64>,
    /// Product photo.
    pub image_url: String,
    /// Lowest price.
    pub from_price: Money,
    /// Share of views that become bookings.
    pub conversion_rate: f64,
    /// Share of the price the distributor earns.
    pub commission_rate: f64,
    /// Whether it can be booked.
    pub in_stock: bool,
}

impl Product {
    /// The title in `lang` (`de`) when the catalog has it, else `title`.
    pub fn title_in(&self, lang: &str) -> &str {
        self.titles
            .get(lang)
            .map_or(self.title.as_str(), String::as_str)
    }

    /// Earned per sale: from_price.amount × commission_rate.
    pub fn commission(&self) -> f64 {
        self.from_price.amount * self.commission_rate
    }
}

/// A catalog that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("{path}: cannot read the catalog: {source}")]
    Read {
        /// The catalog file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a catalog.
    #[error("{path}: {message}")]
    Parse {
        /// The catalog file.
        path: PathBuf,
        /// What is wrong, with line and column or key.
        message: String,
    },
}

/// A loaded catalog with its look-ups.
#[derive(Debug, Clone)]
pub struct Catalog {
    file: CatalogFile,
    city_by_name: HashMap<String, usize>,
    city_by_id: HashMap<u64, usize>,
    product_by_id: HashMap<u64, usize>,
}

impl Catalog {
    /// Reads and checks a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Catalog::from_json(&text).map_err(|message| CatalogError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and checks a catalog; the error names the line or key.
    pub fn from_json(text: &str) -> Result<Catalog, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let file: CatalogFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            format!(
                "line {}, column {} (at `{path}`): {inner}",
                inner.line(),
                inner.column()
            )
        })?;
        Catalog::new(file)
    }

    /// Indexes a catalog, refusing duplicate ids and products in unknown cities.
    pub fn new(file: CatalogFile) -> Result<Catalog, String> {
        let mut city_by_name = HashMap::new();
        let mut city_by_id = HashMap::new();
        for (i, c) in file.cities.iter().enumerate() {
            if city_by_id.insert(c.id, i).is_some() {
                return Err(format!("cities[{i}]: city id {} is used twice", c.id));
            }
            if !(-90.0..=90.0).contains(&c.latitude) {
                return Err(format!(
                    "cities[{i}].latitude: {} is not a latitude",
                    c.latitude
                ));
            }
            city_by_name.insert(c.name.to_lowercase(), i);
        }
        if let Some(u) = &file.product_url {
            let sample = u.replace("{product_id}", "1");
            if !u.contains("{product_id}") || url::Url::parse(&sample).is_err() {
                return Err(format!(
                    "product_url: {u:?} must be a URL with a {{product_id}} placeholder"
                ));
            }
        }
        let tags: HashSet<u64> = file.tags.iter().map(|t| t.id).collect();
        let mut product_by_id = HashMap::new();
        for (i, p) in file.products.iter().enumerate() {
            if product_by_id.insert(p.product_id, i).is_some() {
                return Err(format!(
                    "products[{i}]: product id {} is used twice",
                    p.product_id
                ));
            }
            if !city_by_id.contains_key(&p.city_id) {
                return Err(format!("products[{i}].city_id: no city {}", p.city_id));
            }
            if let Some(t) = p.tag_ids.iter().find(|t| !tags.contains(t)) {
                return Err(format!("products[{i}].tag_ids: no tag {t}"));
            }
            let cur = &p.from_price.currency;
            if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "products[{i}].from_price.currency: {cur:?} is not an ISO 4217 code"
                ));
            }
            if !(p.from_price.amount.is_finite() && p.from_price.amount >= 0.0) {
                return Err(format!(
                    "products[{i}].from_price.amount: must be a positive number"
                ));
            }
        }
        Ok(Catalog {
            file,
            city_by_name,
            city_by_id,
            product_by_id,
        })
    }

    /// The city of that name, without regard to case.
    pub fn city_named(&self, name: &str) -> Option<&City> {
        self.city_by_name
            .get(&name.trim().to_lowercase())
            .map(|&i| &self.file.cities[i])
    }

    /// The city with that id.
    pub fn city(&self, id: u64) -> Option<&City> {
        self.city_by_id.get(&id).map(|&i| &self.file.cities[i])
    }

    /// The product with that id.
    pub fn product(&self, id: u64) -> Option<&Product> {
        self.product_by_id.get(&id).map(|&i| &self.file.products[i])
    }

    /// Every product.
    pub fn products(&self) -> &[Product] {
        &self.file.products
    }

    /// Every city.
    pub fn cities(&self) -> &[City] {
        &self.file.cities
    }

    /// Every tag.
    pub fn tags(&self) -> &[Tag] {
        &self.file.tags
    }

    /// The shop's page of a product (the file's `product_url`, else an `example.com` page).
    pub fn product_url(&self, product_id: u64) -> String {
        self.file
            .product_url
            .as_deref()
            .unwrap_or("https://shop.example.com/products/{product_id}")
            .replace("{product_id}", &product_id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"cities":[{"id":1,"name":"Rome","country":"IT","latitude":41.9,"timezone":"Europe/Rome"}],
        "tags":[{"id":442,"name":"Indoor"}],
        "products":[{"product_id":7,"title":"Colosseum","city_id":1,"experience_id":1,"tag_ids":[442],
          "image_url":"https://img.example/7.jpg","from_price":{"amount":34.5,"currency":"EUR"},
          "conversion_rate":0.04,"commission_rate":0.1,"in_stock":true}]}"#;

    #[test]
    fn cities_are_found_without_regard_to_case() {
        let c = Catalog::from_json(SMALL).unwrap();
        assert_eq!(c.city_named("ROME").map(|c| c.id), Some(1));
        assert_eq!(c.city_named(" rome ").map(|c| c.id), Some(1));
        assert!(c.city_named("Paris").is_none());
    }

    #[test]
    fn a_bad_time_zone_is_reported_with_its_key() {
        let bad = SMALL.replace("Europe/Rome", "Europe/Atlantis");
        let err = Catalog::from_json(&bad).unwrap_err();
        assert!(err.contains("cities[0].timezone"), "{err}");
    }

    #[test]
    fn a_product_in_an_unknown_city_is_refused() {
        let bad = SMALL.replace("\"city_id\":1", "\"city_id\":9");
        let err = Catalog::from_json(&bad).unwrap_err();
        assert!(err.contains("products[0].city_id: no city 9"), "{err}");
    }
}
