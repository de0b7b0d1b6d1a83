//! The items of a contact-recommendations answer: the API's mandatory fields (`id`, `name`, `url`,
//! `price`, `isInStock`) plus whichever `tags_*` fields of the customer's product feed carry a
//! currency, a picture, a city or the heuristics' meanings (settings `engine.yespo.*_field`, `tags`).
//! An unusable item is left out with the reason; the rest are kept.

use serde_json::{Map, Value};

use crate::catalog::Money;
use crate::config::{Matches, TagMatch, YespoTags};
use crate::recommend::check;
use crate::recommend::{
    check_items, EngineError, ProductId, Recommendation, Traits, MAX_ANSWER_ITEMS,
};

/// How the `tags_*` fields of an item are read.
#[derive(Debug, Clone)]
pub struct ItemFormat {
    /// Currency of `price` when `currency_field` is absent from the item.
    pub currency: String,
    /// A field with the item's currency.
    pub currency_field: Option<String>,
    /// A field with the item's picture URL.
    pub image_field: Option<String>,
    /// A field with the item's city, so that an item of another city than the trip's is not shown.
    pub city_field: Option<String>,
    /// Fields carrying the heuristics' meanings.
    pub tags: YespoTags,
}

/// Reads an answer: the items in the API's order (out-of-stock ones included, marked), and why
/// each unusable item was left out. `Err` when the body is not a JSON array.
pub fn parse_items(
    body: &[u8],
    format: &ItemFormat,
) -> Result<(Vec<Recommendation>, Vec<String>), EngineError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| EngineError::BadJson(e.to_string()))?;
    let Value::Array(list) = value else {
        return Err(EngineError::BadJson(format!(
            "expected a JSON array of items, got {}",
            kind(&value)
        )));
    };
    let mut items = Vec::with_capacity(list.len().min(MAX_ANSWER_ITEMS));
    let mut skipped: Vec<String> = check::too_many_items(list.len()).into_iter().collect();
    for (i, v) in list.iter().take(MAX_ANSWER_ITEMS).enumerate() {
        match item(v, format) {
            Ok(r) => items.push(r),
            Err(why) => skipped.push(format!("item {i} left out: {why}")),
        }
    }
    let (items, notes) = check_items(items);
    skipped.extend(notes);
    Ok((items, skipped))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match o.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(Value::String(_)) => Err(format!("`{key}` is empty")),
        Some(other) => Err(format!("`{key}` is {}, not a string", kind(other))),
        None => Err(format!("no `{key}`")),
    }
}

fn item(v: &Value, format: &ItemFormat) -> Result<Recommendation, String> {
    let Value::Object(o) = v else {
        return Err(format!("{}, not an object", kind(v)));
    };
    // `id` is documented as a string: a feed of our products carries our ids in it, another feed its
    // own SKUs; both are products (compared with the booking's as text).
    let product_id = match o.get("id") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) => ProductId::Number(n),
            None => return Err(format!("id {n} is not a whole number")),
        },
        _ => ProductId::Text(text(o, "id")?.to_string()),
    };
    let id = &product_id;
    let title = text(o, "name")?.to_string();
    let url = text(o, "url")?;
    let amount = match o.get("price") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("id {id}: `price` is not a number"))?;
    // Documented as an int, 1 or 0; whatever does not clearly say "in stock" is not known to be
    // buyable, and is not shown.
    let in_stock = match o.get("isInStock") {
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n > 0),
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            let s = s.trim();
            s == "1" || s.eq_ignore_ascii_case("true")
        }
        _ => false,
    };
    let currency = format
        .currency_field
        .as_deref()
        .and_then(|f| o.get(f))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .map_or_else(|| format.currency.clone(), str::to_ascii_uppercase);
    let field = |f: &Option<String>| {
        f.as_deref()
            .and_then(|f| o.get(f))
            .and_then(|v| match v {
                // A list (as `category` is) names its first element.
                Value::Array(list) => list.first(),
                other => Some(other),
            })
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let image_url = field(&format.image_field).unwrap_or_default().to_string();
    let city = field(&format.city_field).map(str::to_string);
    let t = &format.tags;
    Ok(Recommendation {
        product_id: product_id.clone(),
        title,
        image_url,
        from_price: Money { amount, currency },
        url: Some(url.to_string()),
        in_stock,
        traits: Traits {
            indoor: says(o, &t.indoor),
            outdoor: says(o, &t.outdoor),
            family: says(o, &t.family),
            adults_only: says(o, &t.adults_only),
        },
        city,
    })
}

/// What `matches` make of the item: `None` when none of their fields is there, else whether one
/// matches.
fn says(o: &Map<String, Value>, matches: &Matches) -> Option<bool> {
    let mut seen = false;
    for m in &matches.0 {
        if let Some(v) = o.get(&m.field) {
            seen = true;
            if holds(v, m) {
                return Some(true);
            }
        }
    }
    seen.then_some(false)
}

fn holds(v: &Value, m: &TagMatch) -> bool {
    match v {
        Value::Array(list) => list.iter().any(|x| holds(x, m)),
        Value::Null | Value::Object(_) => false,
        scalar => {
            let s = match scalar {
                Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            match &m.value {
                Some(want) => s.eq_ignore_ascii_case(want),
                None => ["1", "true", "yes", "y"]
                    .iter()
                    .any(|t| s.eq_ignore_ascii_case(t)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn format() -> ItemFormat {
        ItemFormat {
            currency: "EUR".into(),
            currency_field: Some("tags_currency".into()),
            image_field: Some("tags_image".into()),
            city_field: Some("tags_city".into()),
            tags: YespoTags {
                indoor: Matches(vec![TagMatch::parse("tags_setting=indoor")]),
                outdoor: Matches(vec![TagMatch::parse("tags_setting=outdoor")]),
                family: Matches(vec![TagMatch::parse("tags_family")]),
                adults_only: Matches(vec![TagMatch::parse("tags_audience=Adults only")]),
            },
        }
    }

    fn parse(v: Value) -> (Vec<Recommendation>, Vec<String>) {
        parse_items(v.to_string().as_bytes(), &format()).unwrap()
    }

    #[test]
    fn the_documented_fields_and_tags_are_read() {
        let (items, skipped) = parse(json!([{
            "id": "1111476", "name": "Vatican Museums", "url": "https://shop.example/p/1111476",
            "price": 34.5, "descr": "Skip the line", "brand": "Wanderly", "category": ["Rome"],
            "isInStock": 1, "tags_setting": ["indoor", "museum"], "tags_family": "yes",
            "tags_audience": "everyone", "tags_currency": "usd",
            "tags_image": "https://img.example/1.jpg"
        }]));
        assert!(skipped.is_empty());
        let r = &items[0];
        assert_eq!(r.product_id, ProductId::Text("1111476".into()));
        assert!(r.product_id.is(1111476));
        assert_eq!(r.title, "Vatican Museums");
        assert_eq!(r.url.as_deref(), Some("https://shop.example/p/1111476"));
        assert_eq!(r.from_price.amount, 34.5);
        assert_eq!(r.from_price.currency, "USD");
        assert_eq!(r.image_url, "https://img.example/1.jpg");
        assert!(r.in_stock);
        assert_eq!(
            r.traits,
            Traits {
                indoor: Some(true),
                outdoor: Some(false),
                family: Some(true),
                adults_only: Some(false),
            }
        );
    }

    #[test]
    fn missing_tags_say_nothing_and_the_default_currency_applies() {
        let (items, _) = parse(json!([{
            "id": "7", "name": "X", "url": "https://shop.example/7", "price": "12.00",
            "descr": "", "brand": "", "category": [], "isInStock": 0
        }]));
        assert_eq!(items[0].traits, Traits::default());
        assert_eq!(items[0].from_price.currency, "EUR");
        assert_eq!(items[0].from_price.amount, 12.0);
        assert!(!items[0].in_stock);
        assert_eq!(items[0].image_url, "");
    }

    #[test]
    fn unusable_items_are_left_out_with_the_reason_and_the_rest_kept() {
        let ok = json!({"id": "8", "name": "Y", "url": "https://shop.example/8", "price": 5, "isInStock": 1});
        let (items, skipped) = parse(json!([
            {"id": 9.5, "name": "Z", "url": "https://shop.example/9", "price": 5, "isInStock": 1},
            {"id": "10", "name": "Z", "url": "javascript:alert(1)", "price": 5, "isInStock": 1},
            {"id": "11", "url": "https://shop.example/11", "price": 5, "isInStock": 1},
            {"id": "12", "name": "Z", "url": "https://shop.example/12", "price": -1, "isInStock": 1},
            "nonsense",
            ok,
        ]));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].product_id, ProductId::Text("8".into()));
        assert_eq!(skipped.len(), 5, "{skipped:?}");
        // The items refused while read, then those refused by the checks every source shares.
        assert!(
            skipped[0].contains("9.5 is not a whole number"),
            "{skipped:?}"
        );
        assert!(skipped[1].contains("no `name`"));
        assert!(skipped[2].contains("a string, not an object"));
        assert!(skipped[3].contains("javascript: URL, not http(s)"));
        assert!(skipped[4].contains("the price -1 is not between 0"));
    }

    #[test]
    fn string_ids_are_products_and_the_city_field_is_read() {
        let (items, skipped) = parse(json!([
            {"id": "Y1", "name": "Harbour cruise", "url": "https://shop.example/Y1", "price": 5,
             "isInStock": 1, "tags_city": ["Reykjavik"]},
            {"id": "007", "name": "Spy tour", "url": "https://shop.example/007", "price": 5,
             "isInStock": 1},
        ]));
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(items[0].product_id.to_string(), "Y1");
        assert_eq!(items[0].city.as_deref(), Some("Reykjavik"));
        assert_eq!(
            items[1].product_id.as_u64(),
            None,
            "\"007\" is not product 7"
        );
        assert!(!items[1].product_id.is(7));
        assert_eq!(items[1].city, None);
    }

    #[test]
    fn only_a_clear_yes_is_in_stock() {
        let stock = |v: Value| {
            let (items, _) = parse(json!([
                {"id": "8", "name": "Y", "url": "https://shop.example/8", "price": 5, "isInStock": v}
            ]));
            items[0].in_stock
        };
        for yes in [json!(1), json!("1"), json!("True"), json!(true)] {
            assert!(stock(yes.clone()), "{yes}");
        }
        for no in [
            json!(0),
            json!(0.5),
            json!("0"),
            json!("False"),
            json!("no"),
            json!("0.0"),
            json!(null),
            json!(-1),
        ] {
            assert!(!stock(no.clone()), "{no}");
        }
    }

    #[test]
    fn a_body_that_is_not_an_array_is_bad_json() {
        let e = parse_items(br#"{"items": []}"#, &format()).unwrap_err();
        assert_eq!(
            e,
            EngineError::BadJson("expected a JSON array of items, got an object".into())
        );
        assert!(matches!(
            parse_items(b"<html>", &format()),
            Err(EngineError::BadJson(_))
        ));
    }
}
