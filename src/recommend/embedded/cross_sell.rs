//! The embedded engine's cross-sell endpoint, `GET /v2/products/{id}/recommendations/cross-sell`:
//! recommendations for product P are the other in-stock products of P's city, minus
//! `exclude_product_ids`, and never one of P's experience (another ticket to the museum the customer
//! is visiting completes nothing, as a real cross-sell engine knows); with `product_tag_ids`,
//! only products carrying at least one of them; at most `max_per_experience` per experience; ordered
//! by the `sort_by` key descending, ties by product id ascending; at most [`MAX_ITEMS`]. With
//! `lang`, titles in that language where the catalog has them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{error, parse_ids, EngineState};
use crate::catalog::{Catalog, Product};
use crate::config::SortBy;

/// The parameter naming the language of the answer's titles (`lang=de`): a catalog title in that
/// language when it has one, else the title as written.
pub const LANG: &str = "lang";

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
            // The language of the titles, read by `answer`.
            LANG => {}
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok(params)
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

/// Answers one cross-sell request: the token, then the parameters, then the product.
pub(super) async fn answer(
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
    let lang = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == LANG)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let recommendations: Vec<_> = products
        .iter()
        .map(|p| {
            json!({
                "product_id": p.product_id,
                "title": p.title_in(&lang),
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
