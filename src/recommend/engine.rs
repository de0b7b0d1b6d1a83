//! The embedded engine: serves both recommendation APIs from a catalog file with documented
//! semantics, so anyone can check what a campaign should contain.
//!
//! **Cross-sell**, `GET /v2/products/{id}/recommendations/cross-sell`: recommendations for product P
//! are the other in-stock products of P's city, minus `exclude_product_ids`, and never one of P's
//! experience (another ticket to the museum the customer is visiting completes nothing, as a real
//! cross-sell engine knows); with `product_tag_ids`,
//! only products carrying at least one of them; at most `max_per_experience` per experience; ordered
//! by the `sort_by` key descending, ties by product id ascending; at most [`MAX_ITEMS`].
//!
//! **Contact recommendations**, `GET /api/v2/contacts/recoms/{dataSourceId}` (HTTP Basic, the key as
//! the password): see [`contact_recommend`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::catalog::{Catalog, Product};
use crate::config::IdentifyBy;
use crate::config::{Secret, SortBy};

/// The most items in one answer.
pub const MAX_ITEMS: usize = 10;

/// The parameters of one request, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Sort order (`balanced` when absent).
    pub sort_by: SortBy,
    /// At most this many per experience; no limit when absent.
    pub max_per_experience: Option<usize>,
    /// Only products with one of these tags (empty = no filter).
    pub tag_ids: Vec<u64>,
    /// Never these products.
    pub exclude_ids: Vec<u64>,
}

/// Parses a raw query string; accepts id lists as `[1,2]`, `1,2` or repeated keys.
pub fn parse_params(raw: &str) -> Result<Params, String> {
    let mut params = Params {
        sort_by: SortBy::Balanced,
        max_per_experience: None,
        tag_ids: Vec::new(),
        exclude_ids: Vec::new(),
    };
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "sort_by" => {
                params.sort_by = SortBy::parse(&value).ok_or_else(|| {
                    format!(
                        "sort_by must be balanced, conversion_rate or commission, not {value:?}"
                    )
                })?
            }
            "max_per_experience" => match value.parse::<usize>() {
                Ok(n) if n > 0 => params.max_per_experience = Some(n),
                _ => {
                    return Err(format!(
                        "max_per_experience must be a positive whole number, not {value:?}"
                    ))
                }
            },
            "product_tag_ids" => params.tag_ids.extend(parse_ids(&key, &value)?),
            "exclude_product_ids" => params.exclude_ids.extend(parse_ids(&key, &value)?),
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok(params)
}

/// The elements of a list value written `[a,b]` or `a,b` (a repeated key gives one each).
fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    let inner = value.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(inner);
    inner.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_ids(key: &str, value: &str) -> Result<Vec<u64>, String> {
    list_elements(value)
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| format!("{key} holds {s:?}, not an id"))
        })
        .collect()
}

fn sort_key(p: &Product, sort_by: SortBy) -> f64 {
    match sort_by {
        SortBy::Commission => p.commission(),
        SortBy::ConversionRate => p.conversion_rate,
        SortBy::Balanced => p.conversion_rate * p.commission(),
    }
}

/// The recommendations for `product_id`; `None` when the catalog has no such product.
pub fn recommend<'c>(
    catalog: &'c Catalog,
    product_id: u64,
    params: &Params,
) -> Option<Vec<&'c Product>> {
    let main = catalog.product(product_id)?;
    let mut candidates: Vec<&Product> = catalog
        .products()
        .iter()
        .filter(|p| p.city_id == main.city_id && p.product_id != product_id && p.in_stock)
        .filter(|p| !params.exclude_ids.contains(&p.product_id))
        .filter(|p| p.experience_id != main.experience_id)
        .filter(|p| {
            params.tag_ids.is_empty() || p.tag_ids.iter().any(|t| params.tag_ids.contains(t))
        })
        .collect();
    candidates.sort_by(|a, b| {
        sort_key(b, params.sort_by)
            .total_cmp(&sort_key(a, params.sort_by))
            .then(a.product_id.cmp(&b.product_id))
    });
    let mut per_experience: HashMap<u64, usize> = HashMap::new();
    let mut out = Vec::new();
    for p in candidates {
        let n = per_experience.entry(p.experience_id).or_default();
        if params.max_per_experience.is_some_and(|max| *n >= max) {
            continue;
        }
        *n += 1;
        out.push(p);
        if out.len() == MAX_ITEMS {
            break;
        }
    }
    Some(out)
}

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

struct EngineState {
    catalog: Arc<Catalog>,
    api_key: Option<Secret>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": message, "status": status.as_u16()})),
    )
        .into_response()
}

async fn cross_sell(
    State(state): State<Arc<EngineState>>,
    Path(product): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let authorized = match (&state.api_key, token) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(key), Some(t)) => key.expose() == t,
    };
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token (Authorization: Token <key>)",
        );
    }
    let params = match parse_params(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let found = product
        .parse::<u64>()
        .ok()
        .and_then(|id| recommend(&state.catalog, id, &params));
    let Some(products) = found else {
        return error(StatusCode::NOT_FOUND, &format!("no product {product}"));
    };
    let recommendations: Vec<_> = products
        .iter()
        .map(|p| {
            json!({
                "product_id": p.product_id,
                "title": p.title,
                "image_url": p.image_url,
                "from_price": {"amount": p.from_price.amount, "currency": p.from_price.currency},
            })
        })
        .collect();
    Json(json!({
        "filters": {
            "exclude_product_ids": params.exclude_ids,
            "product_tag_ids": params.tag_ids,
            "max_per_experience": params.max_per_experience,
        },
        "recommendations": recommendations,
    }))
    .into_response()
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

async fn contact_recoms(
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

/// The engine's routes.
pub fn router(catalog: Arc<Catalog>, api_key: Option<Secret>) -> Router {
    Router::new()
        .route(
            "/v2/products/{product}/recommendations/cross-sell",
            get(cross_sell),
        )
        .route("/api/v2/contacts/recoms/{data_source}", get(contact_recoms))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(Arc::new(EngineState { catalog, api_key }))
}

/// Serves the engine on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    catalog: Arc<Catalog>,
    api_key: Option<Secret>,
) -> std::io::Result<()> {
    axum::serve(listener, router(catalog, api_key)).await
}

/// Starts the engine on an ephemeral 127.0.0.1 port; the engine stops when the handle is aborted or
/// the runtime ends.
pub async fn spawn(
    catalog: Arc<Catalog>,
    api_key: Option<Secret>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    Ok((addr, tokio::spawn(serve(listener, catalog, api_key))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        // City 1: products 1..=6; 2 and 3 share experience 20; 6 is out of stock. City 2: product 9.
        let p = |id: u64,
                 city: u64,
                 exp: u64,
                 tags: &str,
                 amount: f64,
                 rate: f64,
                 conv: f64,
                 stock: bool| {
            format!(
                r#"{{"product_id":{id},"title":"P{id}","city_id":{city},"experience_id":{exp},"tag_ids":{tags},
              "image_url":"https://img.example/{id}.jpg","from_price":{{"amount":{amount},"currency":"EUR"}},
              "conversion_rate":{conv},"commission_rate":{rate},"in_stock":{stock}}}"#
            )
        };
        let products = [
            p(1, 1, 10, "[442]", 20.0, 0.10, 0.05, true),
            p(2, 1, 20, "[442]", 50.0, 0.10, 0.01, true), // commission 5.0
            p(3, 1, 20, "[443]", 40.0, 0.10, 0.02, true), // 4.0, same experience as 2
            p(4, 1, 30, "[443]", 30.0, 0.10, 0.06, true), // 3.0
            p(5, 1, 40, "[442,443]", 30.0, 0.10, 0.03, true), // 3.0, ties with 4
            p(6, 1, 50, "[442]", 90.0, 0.20, 0.09, false),
            p(9, 2, 90, "[442]", 10.0, 0.10, 0.05, true),
        ];
        Catalog::from_json(&format!(
            r#"{{"cities":[{{"id":1,"name":"A","country":"IT","latitude":41.9,"timezone":"Europe/Rome"}},
               {{"id":2,"name":"B","country":"FR","latitude":48.8,"timezone":"Europe/Paris"}}],
               "tags":[{{"id":442,"name":"Indoor"}},{{"id":443,"name":"Outdoor"}}],
               "products":[{}]}}"#,
            products.join(",")
        ))
        .unwrap()
    }

    fn ids(catalog: &Catalog, product: u64, query: &str) -> Vec<u64> {
        let params = parse_params(query).unwrap();
        recommend(catalog, product, &params)
            .unwrap()
            .iter()
            .map(|p| p.product_id)
            .collect()
    }

    #[test]
    fn commission_order_breaks_ties_by_product_id_and_skips_out_of_stock() {
        let c = catalog();
        assert_eq!(ids(&c, 1, "sort_by=commission"), vec![2, 3, 4, 5]);
    }

    #[test]
    fn max_per_experience_keeps_the_best_of_each() {
        let c = catalog();
        assert_eq!(
            ids(&c, 1, "sort_by=commission&max_per_experience=1"),
            vec![2, 4, 5]
        );
    }

    #[test]
    fn conversion_rate_and_balanced_orders() {
        let c = catalog();
        assert_eq!(ids(&c, 1, "sort_by=conversion_rate"), vec![4, 5, 3, 2]);
        // balanced = conversion × commission: 4: .18, 3: .08, 5: .09, 2: .05
        assert_eq!(ids(&c, 1, ""), vec![4, 5, 3, 2]);
    }

    #[test]
    fn all_three_list_formats_filter_the_same() {
        let c = catalog();
        let want = vec![5];
        assert_eq!(
            ids(
                &c,
                1,
                "sort_by=commission&product_tag_ids=[443]&exclude_product_ids=[3,4]"
            ),
            want
        );
        assert_eq!(
            ids(
                &c,
                1,
                "sort_by=commission&product_tag_ids=443&exclude_product_ids=3,4"
            ),
            want
        );
        assert_eq!(
            ids(&c, 1, "sort_by=commission&product_tag_ids=443&exclude_product_ids=3&exclude_product_ids=4"),
            want
        );
        assert_eq!(
            ids(
                &c,
                1,
                "product_tag_ids=%5B443%5D&exclude_product_ids=%5B3%2C4%5D"
            ),
            want
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(parse_params("sort_by=price")
            .unwrap_err()
            .contains("sort_by"));
        assert!(parse_params("max_per_experience=0").is_err());
        assert!(parse_params("product_tag_ids=[a]")
            .unwrap_err()
            .contains("product_tag_ids"));
        assert!(parse_params("color=red")
            .unwrap_err()
            .contains("unknown parameter"));
    }

    #[test]
    fn an_unknown_product_has_no_answer() {
        assert!(recommend(&catalog(), 404, &parse_params("").unwrap()).is_none());
    }
}
