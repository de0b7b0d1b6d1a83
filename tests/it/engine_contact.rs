//! The embedded engine's contact-recommendations endpoint over real HTTP on 127.0.0.1: Basic auth
//! with the key as the password, refused parameters, and answers stable per contact that differ
//! between contacts and hold some out-of-stock items. (The cross-sell endpoint is in `engine.rs`.)

use std::sync::Arc;

use serde_json::{json, Value};
use tripmail::config::Secret;
use tripmail::recommend::embedded;

use crate::contact_api::{basic, shipped_catalog, KEY, RECOMS};

async fn embedded() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (addr, handle) = embedded::spawn(Arc::new(shipped_catalog()), Some(Secret::new(KEY)))
        .await
        .expect("engine starts");
    (format!("http://{addr}"), handle)
}

async fn get(base: &str, pq: &str, auth: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}{pq}"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("engine answers");
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("JSON body");
    (status, body)
}

#[tokio::test]
async fn the_embedded_endpoint_wants_basic_auth_with_the_key_as_password() {
    let (base, handle) = embedded().await;
    let pq = format!("{RECOMS}/1244?email=a%40example.com&products=1111476");
    for auth in [
        None,
        Some(basic("any", "wrong")),
        Some(format!("Token {KEY}")),
    ] {
        let (status, body) = get(&base, &pq, auth.clone()).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("Basic")),
            "{body}"
        );
    }
    let (status, body) = get(&base, &pq, Some(basic("any-user", KEY))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.as_array().is_some_and(|a| !a.is_empty()), "{body}");
    handle.abort();
}

#[tokio::test]
async fn the_embedded_endpoint_refuses_a_request_without_identity_or_with_unknown_parameters() {
    let (base, handle) = embedded().await;
    let auth = || Some(basic("u", KEY));
    let (status, body) = get(&base, &format!("{RECOMS}/1244?products=1111476"), auth()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("contactId")),
        "{body}"
    );
    let (status, body) = get(&base, &format!("{RECOMS}/1244?contactId=abc"), auth()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(
        &base,
        &format!("{RECOMS}/1244?email=a%40b.c&offset=3"),
        auth(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("offset")),
        "{body}"
    );
    handle.abort();
}

#[tokio::test]
async fn embedded_answers_are_stable_per_contact_differ_between_contacts_and_include_out_of_stock_items(
) {
    let (base, handle) = embedded().await;
    let auth = || Some(basic("u", KEY));
    let ask = |who: &str| format!("{RECOMS}/1244?email={who}&products=1111476");
    let (_, a1) = get(&base, &ask("a%40example.com"), auth()).await;
    let (_, a2) = get(&base, &ask("a%40example.com"), auth()).await;
    assert_eq!(a1, a2, "the same contact gets the same answer");
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|i| i["id"].as_str().expect("id is a string").to_string())
            .collect()
    };
    let mut differ = false;
    let mut out_of_stock = 0;
    for who in ["b", "c", "d", "e", "f", "g"] {
        let (_, other) = get(&base, &ask(&format!("{who}%40example.com")), auth()).await;
        differ |= ids(&other) != ids(&a1);
        out_of_stock += other
            .as_array()
            .expect("array")
            .iter()
            .filter(|i| i["isInStock"] == json!(0))
            .count();
    }
    assert!(differ, "every contact got the same order");
    assert!(out_of_stock > 0, "no item out of stock in 6 answers");
    // The documented fields, and never a product that was passed.
    for i in a1.as_array().expect("array") {
        for field in ["id", "name", "url", "descr", "brand"] {
            assert!(i[field].is_string(), "{field} in {i}");
        }
        assert!(i["price"].is_f64() || i["price"].is_u64(), "{i}");
        assert!(i["category"].is_array() && i["isInStock"].is_i64(), "{i}");
        assert_ne!(i["id"], json!("1111476"));
        assert!(i["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://www.wanderly.example/products/")));
    }
    handle.abort();
}
