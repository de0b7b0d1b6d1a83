//! A contact-recommendations API as the tests mock it, shared by the files that test its client,
//! the embedded engine's endpoint, its campaigns and its settings: the key, items as the API
//! documents them, Basic credentials, bookings carrying every identity column, and the shipped
//! `campaign-yespo.toml` pointed at a mock.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use serde_json::{json, Value};
use tripmail::catalog::Catalog;

use crate::util::{config_from, root, run_cmd, NOW};

pub(crate) const KEY: &str = "yespo-k3y-for-tests";
pub(crate) const RECOMS: &str = "/api/v2/contacts/recoms";

/// One item as the API documents it, with the feed's tags.
pub(crate) fn item(id: u64, in_stock: bool, labels: &[&str]) -> Value {
    json!({
        "id": id.to_string(),
        "name": format!("Item {id}"),
        "url": format!("https://shop.example/p/{id}?ref=feed"),
        "price": 10.0 + id as f64 % 100.0,
        "descr": "A description",
        "brand": "Somebody",
        "category": ["Rome"],
        "isInStock": i32::from(in_stock),
        "tags_labels": labels,
        "tags_image": format!("https://img.example/{id}.jpg"),
        "tags_currency": "EUR",
        "tags_city": "Rome",
    })
}

/// An HTTP Basic `Authorization` header.
pub(crate) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub(crate) fn shipped_catalog() -> Catalog {
    Catalog::load(&root().join("fixtures/catalog.json")).expect("shipped catalog loads")
}

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids,customer_id,customer_phone,contact_id,web_id";

/// One confirmed Rome booking per row, due for the confirmation at NOW: `(booking_id, email,
/// children, travel_date, extra columns customer_id..web_id)`.
pub(crate) fn write_bookings(dir: &Path, rows: &[(&str, &str, u32, &str, &str)]) -> PathBuf {
    let mut text = format!("{HEADER}\n");
    for (id, email, children, date, extra) in rows {
        text.push_str(&format!(
            "{id},{email},Guest,en,1111476,Vatican Museums,Rome,{date},2026-12-09T10:00:00Z,2,{children},confirmed,true,,,1120315,{extra}\n"
        ));
    }
    let path = dir.join("bookings.csv");
    std::fs::write(&path, text).expect("bookings written");
    path
}

/// The shipped yespo config pointed at `base_url`, with `replace` pairs applied too.
pub(crate) fn mock_config(dir: &Path, base_url: &str, replace: &[(&str, &str)]) -> PathBuf {
    let url = format!("[engine.yespo]\nbase_url = \"{base_url}\"");
    let key = format!("api_key = \"{KEY}\"");
    let mut pairs = vec![
        ("[engine.yespo]\nbase_url = \"embedded\"", url.as_str()),
        ("# api_key = \"…\"", key.as_str()),
        ("timeout_ms = 2000", "timeout_ms = 300"),
    ];
    pairs.extend_from_slice(replace);
    config_from("fixtures/campaign-yespo.toml", dir, &pairs)
}

pub(crate) async fn run_binary(
    config: &Path,
    bookings: &Path,
    out: &Path,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = run_cmd(config, bookings);
    cmd.args(["--campaign", "confirmation", "--now", NOW, "--out"])
        .arg(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("tripmail runs"))
        .await
        .expect("the run thread ends")
}

pub(crate) fn rules(e: &Value) -> Vec<String> {
    e["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r.as_str().expect("rule").to_string())
        .collect()
}
