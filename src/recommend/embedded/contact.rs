//! The embedded engine's contact-recommendations endpoint,
//! `GET /api/v2/contacts/recoms/{dataSourceId}` (HTTP Basic, the key as the password): see
//! [`contact_recommend`] for what it answers.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{error, list_elements, parse_ids, EngineState};
use crate::catalog::{Catalog, Product};
use crate::config::{IdentifyBy, Secret};

/// The most items in one contact-recommendations answer (a data source's own limit).
pub const MAX_CONTACT_ITEMS: usize = 12;

/// One in this many items of an answer is out of stock for that answer (besides the products the
/// catalog has out of stock), so that every client meets some.
pub const OUT_OF_STOCK_ONE_IN: u64 = 8;

/// A contact-recommendations request, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactParams {
    /// The first identification parameter given, in the documented order, and its value.
    pub identity: (IdentifyBy, String),
    /// `products`, in the order given.
    pub products: Vec<u64>,
    /// `category`: city names.
    pub categories: Vec<String>,
}

/// Parses a contact-recommendations query string.
pub fn parse_contact_params(raw: &str) -> Result<ContactParams, String> {
    let mut ids: Vec<(IdentifyBy, String)> = Vec::new();
    let mut products = Vec::new();
    let mut categories = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if let Some(by) = IdentifyBy::ALL.iter().find(|b| b.param() == key) {
            let v = value.trim();
            if v.is_empty() {
                return Err(format!("{key} is empty"));
            }
            if *by == IdentifyBy::ContactId && v.parse::<i64>().is_err() {
                return Err(format!("contactId must be a whole number, not {v:?}"));
            }
            ids.push((*by, v.to_string()));
            continue;
        }
        match key.as_ref() {
            "products" => products.extend(parse_ids(&key, &value)?),
            "category" => categories.extend(list_elements(&value).map(str::to_string)),
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    let identity = IdentifyBy::ALL
        .iter()
        .find_map(|b| ids.iter().find(|(by, _)| by == b).cloned())
        .ok_or("one of contactId, email, phone, externalCustomerId or webId is needed")?;
    Ok(ContactParams {
        identity,
        products,
        categories,
    })
}

/// FNV-1a: a hash that stays the same across Rust versions and machines, so answers are stable.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A product of a contact-recommendations answer, with whether it is in stock for that answer.
#[derive(Debug, Clone, Copy)]
pub struct ContactItem<'c> {
    /// The product.
    pub product: &'c Product,
    /// `isInStock`.
    pub in_stock: bool,
}

/// The contact-recommendations answer of data source `data_source` for `params`:
/// - the candidates are the products of the cities of the known `products` (else of the cities
///   named by `category`, else of every city), minus the `products` themselves and any product of
///   their experiences;
/// - ranked by commission times a personal factor between 0.75 and 1.25 drawn from the contact's
///   identity, the data source and the product (so each contact and data source has its own order),
///   ties by product id; at most one per experience; at most [`MAX_CONTACT_ITEMS`];
/// - out of stock when the catalog says so, or for one in [`OUT_OF_STOCK_ONE_IN`] items, drawn from
///   the products passed and the item.
pub fn contact_recommend<'c>(
    catalog: &'c Catalog,
    data_source: u64,
    params: &ContactParams,
) -> Vec<ContactItem<'c>> {
    let mut cities: Vec<u64> = params
        .products
        .iter()
        .filter_map(|id| catalog.product(*id))
        .map(|p| p.city_id)
        .collect();
    if cities.is_empty() {
        cities = params
            .categories
            .iter()
            .filter_map(|c| catalog.city_named(c))
            .map(|c| c.id)
            .collect();
    }
    let held: Vec<u64> = params
        .products
        .iter()
        .filter_map(|id| catalog.product(*id))
        .map(|p| p.experience_id)
        .collect();
    let identity = format!("{}={}", params.identity.0.param(), params.identity.1);
    let source = data_source.to_le_bytes();
    let passed: Vec<u8> = params
        .products
        .iter()
        .flat_map(|p| p.to_le_bytes())
        .collect();
    let factor = |p: &Product| {
        let h = fnv1a(&[identity.as_bytes(), &source, &p.product_id.to_le_bytes()]);
        0.75 + 0.5 * (h % 10_000) as f64 / 10_000.0
    };
    let mut candidates: Vec<(&Product, f64)> = catalog
        .products()
        .iter()
        .filter(|p| cities.is_empty() || cities.contains(&p.city_id))
        .filter(|p| !params.products.contains(&p.product_id))
        .filter(|p| !held.contains(&p.experience_id))
        .map(|p| (p, p.commission() * factor(p)))
        .collect();
    candidates.sort_by(|(a, ka), (b, kb)| kb.total_cmp(ka).then(a.product_id.cmp(&b.product_id)));
    let mut experiences = Vec::new();
    let mut out = Vec::new();
    for (p, _) in candidates {
        if experiences.contains(&p.experience_id) {
            continue;
        }
        experiences.push(p.experience_id);
        let drawn =
            fnv1a(&[&passed, &p.product_id.to_le_bytes()]).is_multiple_of(OUT_OF_STOCK_ONE_IN);
        out.push(ContactItem {
            product: p,
            in_stock: p.in_stock && !drawn,
        });
        if out.len() == MAX_CONTACT_ITEMS {
            break;
        }
    }
    out
}

/// A product as the contact-recommendations API describes it: the documented mandatory fields,
/// plus `tags_labels` (the catalog's tag names, lowercase), `tags_image`, `tags_currency` and
/// `tags_city`.
fn contact_item_json(catalog: &Catalog, item: &ContactItem<'_>) -> serde_json::Value {
    let p = item.product;
    let city = catalog.city(p.city_id).map_or("", |c| c.name.as_str());
    let labels: Vec<String> = p
        .tag_ids
        .iter()
        .filter_map(|id| catalog.tags().iter().find(|t| t.id == *id))
        .map(|t| t.name.to_lowercase())
        .collect();
    let mut category = vec![city.to_string()];
    category.extend(labels.iter().cloned());
    json!({
        "id": p.product_id.to_string(),
        "name": p.title,
        "url": catalog.product_url(p.product_id),
        "price": p.from_price.amount,
        "descr": format!("{} in {city}", p.title),
        "brand": city,
        "category": category,
        "isInStock": i32::from(item.in_stock),
        "tags_labels": labels,
        "tags_image": p.image_url,
        "tags_currency": p.from_price.currency,
        "tags_city": city,
    })
}

/// Whether a Basic `Authorization` header carries the key as its password (any user name); with no
/// key, any non-empty password.
fn basic_authorized(headers: &HeaderMap, key: Option<&Secret>) -> bool {
    use base64::Engine as _;
    let password = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_string()))
        .filter(|p| !p.is_empty());
    match (key, password) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(key), Some(p)) => key.expose() == p,
    }
}

/// Answers one contact-recommendations request: the credentials, then the data source, then the
/// parameters.
pub(super) async fn answer(
    State(state): State<Arc<EngineState>>,
    Path(data_source): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !basic_authorized(&headers, state.api_key.as_ref()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong credentials (HTTP Basic, the API key as the password)",
        );
    }
    let Ok(data_source) = data_source.parse::<u64>() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no data source {data_source}"),
        );
    };
    let params = match parse_contact_params(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let items: Vec<_> = contact_recommend(&state.catalog, data_source, &params)
        .iter()
        .map(|item| contact_item_json(&state.catalog, item))
        .collect();
    Json(items).into_response()
}
