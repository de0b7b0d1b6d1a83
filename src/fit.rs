//! Whether an item belongs in a trip's "Complete your trip" block, from what is known of it: it must
//! be in the trip's city, and not a product of an experience the customer already has (another
//! ticket to the museum they are visiting completes nothing). The catalog knows its own products;
//! a source may name an item's city (a contact answer's `engine.yespo.city_field`). Where nothing
//! tells an item's city, the block's heading does not name the trip's city.

use crate::bookings::Booking;
use crate::catalog::Catalog;
use crate::item::Recommendation;

/// What is known of one booking's trip, for judging items.
#[derive(Debug, Clone)]
pub struct Trip<'c> {
    catalog: Option<&'c Catalog>,
    /// The catalog's id of the trip's city: the main product's city, else the booking's city by name.
    city_id: Option<u64>,
    /// The names the trip's city goes by, lowercase: the catalog's name and translations, and the
    /// booking's `city`.
    city_names: Vec<String>,
    /// The experiences of the main product and of the held ones, where the catalog knows them.
    experiences: Vec<u64>,
}

/// The verdict on one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// It may be shown; `city_known` says whether its city is known to be the trip's.
    Fits {
        /// The item's city is known, and it is the trip's.
        city_known: bool,
    },
    /// It is known to be in another city.
    OtherCity,
    /// It is a product of the main product's or a held product's experience.
    SameExperience,
}

fn folded(name: &str) -> String {
    name.trim().to_lowercase()
}

impl<'c> Trip<'c> {
    /// The trip of `booking`, as far as `catalog` knows it.
    pub fn of(booking: &Booking, catalog: Option<&'c Catalog>) -> Trip<'c> {
        let main = catalog.and_then(|c| c.product(booking.product_id));
        let city_id = main.map(|p| p.city_id).or_else(|| {
            catalog
                .and_then(|c| c.city_named(&booking.city))
                .map(|c| c.id)
        });
        let mut city_names = vec![folded(&booking.city)];
        if let Some(city) = catalog.zip(city_id).and_then(|(c, id)| c.city(id)) {
            city_names.push(folded(&city.name));
            city_names.extend(city.names.values().map(|n| folded(n)));
        }
        city_names.sort();
        city_names.dedup();
        let experiences = std::iter::once(booking.product_id)
            .chain(booking.other_product_ids.iter().copied())
            .filter_map(|id| catalog.and_then(|c| c.product(id)))
            .map(|p| p.experience_id)
            .collect();
        Trip {
            catalog,
            city_id,
            city_names,
            experiences,
        }
    }

    /// Whether `item` may be shown on this trip's block.
    pub fn judge(&self, item: &Recommendation) -> Fit {
        let product = self
            .catalog
            .zip(item.product_id.as_u64())
            .and_then(|(c, id)| c.product(id));
        if let Some(p) = product {
            if self.experiences.contains(&p.experience_id) {
                return Fit::SameExperience;
            }
            let same_city = match self.city_id {
                Some(id) => p.city_id == id,
                None => self
                    .catalog
                    .and_then(|c| c.city(p.city_id))
                    .is_some_and(|c| self.city_names.contains(&folded(&c.name))),
            };
            return match same_city {
                true => Fit::Fits { city_known: true },
                false => Fit::OtherCity,
            };
        }
        match &item.city {
            Some(name) if self.city_names.contains(&folded(name)) => Fit::Fits { city_known: true },
            Some(_) => Fit::OtherCity,
            None => Fit::Fits { city_known: false },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::ProductId;

    fn catalog() -> Catalog {
        Catalog::from_json(
            r#"{
              "cities": [
                {"id": 1, "name": "Rome", "country": "IT", "latitude": 41.9, "timezone": "Europe/Rome",
                 "names": {"it": "Roma", "de": "Rom"}},
                {"id": 2, "name": "Buenos Aires", "country": "AR", "latitude": -34.6,
                 "timezone": "America/Argentina/Buenos_Aires"}
              ],
              "tags": [],
              "products": [
                {"product_id": 10, "title": "Vatican ticket", "city_id": 1, "experience_id": 100,
                 "tag_ids": [], "image_url": "", "from_price": {"amount": 20, "currency": "EUR"},
                 "conversion_rate": 0.1, "commission_rate": 0.1, "in_stock": true},
                {"product_id": 11, "title": "Vatican guided tour", "city_id": 1, "experience_id": 100,
                 "tag_ids": [], "image_url": "", "from_price": {"amount": 40, "currency": "EUR"},
                 "conversion_rate": 0.1, "commission_rate": 0.1, "in_stock": true},
                {"product_id": 12, "title": "Colosseum", "city_id": 1, "experience_id": 101,
                 "tag_ids": [], "image_url": "", "from_price": {"amount": 20, "currency": "EUR"},
                 "conversion_rate": 0.1, "commission_rate": 0.1, "in_stock": true},
                {"product_id": 20, "title": "Tango show", "city_id": 2, "experience_id": 200,
                 "tag_ids": [], "image_url": "", "from_price": {"amount": 30, "currency": "EUR"},
                 "conversion_rate": 0.1, "commission_rate": 0.1, "in_stock": true}
              ]
            }"#,
        )
        .unwrap()
    }

    fn item(id: ProductId, city: Option<&str>) -> Recommendation {
        let mut r = Recommendation::from(&catalog().products()[0]);
        r.product_id = id;
        r.city = city.map(str::to_string);
        r
    }

    fn booking(product_id: u64, city: &str) -> Booking {
        Booking {
            product_id,
            city: city.into(),
            ..Booking::sample(crate::bookings::Locale::En)
        }
    }

    #[test]
    fn an_item_of_the_booked_experience_is_never_shown() {
        let c = catalog();
        let trip = Trip::of(&booking(10, "Rome"), Some(&c));
        assert_eq!(trip.judge(&item(11.into(), None)), Fit::SameExperience);
        // The same product given as the contact API's string id.
        let text = item(ProductId::Text("11".into()), None);
        assert_eq!(trip.judge(&text), Fit::SameExperience);
        assert_eq!(
            trip.judge(&item(12.into(), None)),
            Fit::Fits { city_known: true }
        );
    }

    #[test]
    fn a_held_products_experience_is_never_shown_either() {
        let c = catalog();
        let mut b = booking(12, "Rome");
        b.other_product_ids = vec![10];
        let trip = Trip::of(&b, Some(&c));
        assert_eq!(trip.judge(&item(11.into(), None)), Fit::SameExperience);
    }

    #[test]
    fn an_item_of_another_city_is_known_by_the_catalog_or_the_sources_city_field() {
        let c = catalog();
        let trip = Trip::of(&booking(12, "Rome"), Some(&c));
        assert_eq!(trip.judge(&item(20.into(), None)), Fit::OtherCity);
        let sku = |city| item(ProductId::Text("Y1".into()), city);
        assert_eq!(trip.judge(&sku(Some("Buenos Aires"))), Fit::OtherCity);
        assert_eq!(
            trip.judge(&sku(Some("roma"))),
            Fit::Fits { city_known: true }
        );
        assert_eq!(trip.judge(&sku(None)), Fit::Fits { city_known: false });
    }

    #[test]
    fn without_a_catalog_only_the_sources_city_tells() {
        let trip = Trip::of(&booking(999, "Reykjavik"), None);
        assert_eq!(
            trip.judge(&item(12.into(), None)),
            Fit::Fits { city_known: false }
        );
        assert_eq!(
            trip.judge(&item(12.into(), Some("Buenos Aires"))),
            Fit::OtherCity
        );
        assert_eq!(
            trip.judge(&item(12.into(), Some(" reykjavik "))),
            Fit::Fits { city_known: true }
        );
    }
}
