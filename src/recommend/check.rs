//! What every recommended item must be before it may reach an email, whatever the source: a title
//! that fits in a heading, links that are web links, a price that is a price. An item that is not
//! is left out with the reason (the others stay); a picture that is not a web link is dropped and the
//! item shown without one.

use super::{ProductId, Recommendation};

/// The longest title shown, in characters (real titles are under 150).
pub const MAX_TITLE_CHARS: usize = 300;

/// The highest "from" price believed, in the item's currency (real ones are under 10,000).
pub const MAX_PRICE: f64 = 1_000_000.0;

/// The longest link or picture address, in bytes.
const MAX_URL_BYTES: usize = 2048;

/// The longest id of a product, in bytes.
const MAX_ID_BYTES: usize = 128;

/// The most items of one answer that are read (real answers hold 10 to 20): the rest are never
/// shown, and choosing among them would only cost time.
pub const MAX_ANSWER_ITEMS: usize = 100;

/// The items fit to show, in the source's order (the first [`MAX_ANSWER_ITEMS`]), and a note for
/// each one left out or changed.
pub fn check_items(mut items: Vec<Recommendation>) -> (Vec<Recommendation>, Vec<String>) {
    let mut notes: Vec<String> = too_many_items(items.len()).into_iter().collect();
    items.truncate(MAX_ANSWER_ITEMS);
    let mut kept = Vec::with_capacity(items.len());
    for (i, mut item) in items.into_iter().enumerate() {
        match check(&mut item) {
            Ok(None) => kept.push(item),
            Ok(Some(note)) => {
                notes.push(format!("item {i} (id {}): {note}", shown(&item.product_id)));
                kept.push(item);
            }
            Err(why) => notes.push(format!(
                "item {i} (id {}) left out: {why}",
                shown(&item.product_id)
            )),
        }
    }
    (kept, notes)
}

/// The note for an answer of `len` items when it holds more than [`MAX_ANSWER_ITEMS`].
pub(super) fn too_many_items(len: usize) -> Option<String> {
    (len > MAX_ANSWER_ITEMS)
        .then(|| format!("the answer holds {len} items: the first {MAX_ANSWER_ITEMS} are read"))
}

/// An id as it may be printed in a log line: at most 40 characters, control characters escaped.
fn shown(id: &ProductId) -> String {
    let text = id.to_string();
    let short: String = text.chars().take(40).collect();
    format!("{:?}", short)
}

/// `Err` when the item may not be shown; `Ok(Some(note))` when it may, changed as the note says.
fn check(item: &mut Recommendation) -> Result<Option<String>, String> {
    if let ProductId::Text(id) = &item.product_id {
        if id.trim().is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
            return Err(format!(
                "the id must be 1 to {MAX_ID_BYTES} bytes without control characters"
            ));
        }
    }
    let title = item.title.trim();
    if title.is_empty() {
        return Err("the title is empty".into());
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!(
            "the title is longer than {MAX_TITLE_CHARS} characters"
        ));
    }
    if let Some(c) = title.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the title holds a control character (U+{:04X})",
            u32::from(c)
        ));
    }
    if title.len() != item.title.len() {
        item.title = title.to_string();
    }
    if let Some(url) = &item.url {
        web_link(url).map_err(|why| format!("the link {why}"))?;
    }
    let price = item.from_price.amount;
    if !(price.is_finite() && (0.0..=MAX_PRICE).contains(&price)) {
        return Err(format!(
            "the price {price} is not between 0 and {MAX_PRICE}"
        ));
    }
    let currency = item.from_price.currency.trim();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "the currency {:?} is not a three-letter code",
            currency.chars().take(10).collect::<String>()
        ));
    }
    if currency != item.from_price.currency || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        item.from_price.currency = currency.to_ascii_uppercase();
    }
    if !item.image_url.is_empty() {
        if let Err(why) = web_link(&item.image_url) {
            item.image_url.clear();
            return Ok(Some(format!("picture dropped: its address {why}")));
        }
    }
    Ok(None)
}

/// `Ok` for an absolute `http` or `https` URL of reasonable length; `Err` says what it is instead.
fn web_link(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("is longer than {MAX_URL_BYTES} bytes"));
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "is a {}: URL, not http(s)",
            u.scheme().chars().take(20).collect::<String>()
        )),
        Err(e) => Err(format!("is not a URL ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Money;

    fn item(id: u64) -> Recommendation {
        Recommendation {
            product_id: ProductId::Number(id),
            title: format!("Tour {id}"),
            image_url: format!("https://img.example/{id}.jpg"),
            from_price: Money {
                amount: 20.0,
                currency: "EUR".into(),
            },
            url: Some(format!("https://shop.example/{id}")),
            in_stock: true,
            traits: Default::default(),
            city: None,
        }
    }

    #[test]
    fn links_that_are_not_web_links_leave_the_item_out_and_pictures_are_dropped() {
        let mut script = item(1);
        script.url = Some("javascript:alert(1)".into());
        let mut picture = item(2);
        picture.image_url = "javascript:alert(2)".into();
        let mut data = item(3);
        data.url = Some("data:text/html,<script>x</script>".into());
        let (kept, notes) = check_items(vec![script, picture, data, item(4)]);
        let ids: Vec<String> = kept.iter().map(|r| r.product_id.to_string()).collect();
        assert_eq!(ids, ["2", "4"]);
        assert_eq!(kept[0].image_url, "");
        assert!(
            notes[0].contains("javascript: URL, not http(s)"),
            "{notes:?}"
        );
        assert!(notes[1].contains("picture dropped"), "{notes:?}");
        assert!(notes[2].contains("left out"), "{notes:?}");
    }

    #[test]
    fn prices_must_be_finite_non_negative_and_believable() {
        let priced = |amount: f64| {
            let mut r = item(1);
            r.from_price.amount = amount;
            check_items(vec![r]).0.len()
        };
        assert_eq!(priced(-99.5), 0);
        assert_eq!(priced(1e308), 0);
        assert_eq!(priced(f64::NAN), 0);
        assert_eq!(priced(f64::INFINITY), 0);
        assert_eq!(priced(0.0), 1);
        assert_eq!(priced(34.5), 1);
    }

    #[test]
    fn titles_must_be_short_plain_text() {
        let titled = |title: String| {
            let mut r = item(1);
            r.title = title;
            check_items(vec![r])
        };
        assert_eq!(titled("x".repeat(MAX_TITLE_CHARS + 1)).0.len(), 0);
        assert_eq!(titled("Tour\u{1b}[31m".into()).0.len(), 0);
        assert_eq!(titled("  ".into()).0.len(), 0);
        let (kept, _) = titled("  Colosseum & Forum  ".into());
        assert_eq!(kept[0].title, "Colosseum & Forum");
    }

    #[test]
    fn currencies_are_three_letters_and_string_ids_are_kept() {
        let mut r = item(1);
        r.from_price.currency = "usd".into();
        r.product_id = ProductId::Text("Y1".into());
        let (kept, _) = check_items(vec![r]);
        assert_eq!(kept[0].from_price.currency, "USD");
        assert_eq!(kept[0].product_id.to_string(), "Y1");
        let mut r = item(1);
        r.from_price.currency = "EURO".into();
        assert!(check_items(vec![r]).0.is_empty());
    }

    #[test]
    fn only_the_first_hundred_items_of_an_answer_are_read() {
        let (kept, notes) = check_items((0..150).map(item).collect());
        assert_eq!(kept.len(), MAX_ANSWER_ITEMS);
        assert_eq!(kept[99].product_id.to_string(), "99");
        assert_eq!(
            notes,
            ["the answer holds 150 items: the first 100 are read"]
        );
    }
}
