//! The embedded cross-sell engine over real HTTP on 127.0.0.1: authentication, error bodies, the
//! three list formats, the documented semantics (on small catalogs whose answers are worked out by
//! hand below), and the `tripmail engine` command as a child process.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tripmail::catalog::Catalog;
use tripmail::config::Secret;
use tripmail::recommend::embedded as engine;

use crate::util::root;

const KEY: &str = "engine-test-key";
const PATH_1111476: &str = "/v2/products/1111476/recommendations/cross-sell";

/// An engine serving on 127.0.0.1, stopped when dropped.
struct Engine {
    base: String,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn start(catalog: Catalog, key: Option<&str>) -> Engine {
    let (addr, handle) = engine::spawn(Arc::new(catalog), key.map(Secret::new))
        .await
        .expect("engine starts");
    assert!(addr.ip().is_loopback(), "engine listens on {addr}");
    Engine {
        base: format!("http://{addr}"),
        handle,
    }
}

fn shipped_catalog() -> Catalog {
    Catalog::load(&root().join("fixtures/catalog.json")).expect("shipped catalog loads")
}

/// One response: status, `Content-Type`, and the body parsed as JSON.
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

/// `GET {base}{path_and_query}` with the `Authorization` header given verbatim (if any).
async fn get_at(base: &str, path_and_query: &str, authorization: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new().get(format!("{base}{path_and_query}"));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("engine answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.expect("body read");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("body of a {status} is not JSON ({e}): {text}"));
    Answer {
        status,
        content_type,
        body,
    }
}

async fn get(engine: &Engine, path_and_query: &str, authorization: Option<&str>) -> Answer {
    get_at(&engine.base, path_and_query, authorization).await
}

/// `GET` with the right token, expecting a 200; the ids of the recommendations, in order.
async fn ids(engine: &Engine, path_and_query: &str) -> Vec<u64> {
    let a = get(engine, path_and_query, Some(&format!("Token {KEY}"))).await;
    assert_eq!(a.status, 200, "{path_and_query}: {}", a.body);
    ids_of(&a.body)
}

fn ids_of(body: &Value) -> Vec<u64> {
    body["recommendations"]
        .as_array()
        .unwrap_or_else(|| panic!("no recommendations[] in {body}"))
        .iter()
        .map(|r| r["product_id"].as_u64().expect("product_id is a number"))
        .collect()
}

/// Asserts the documented error body: `{"error": <non-empty text>, "status": <status>}`, as JSON.
fn assert_error_body(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(
        a.content_type.starts_with("application/json"),
        "content type {:?}",
        a.content_type
    );
    assert_eq!(a.body["status"], json!(status), "{}", a.body);
    let message = a.body["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no error message in {}", a.body);
}

/// One catalog product with a single currency (EUR) and a made-up conversion rate.
fn product(
    id: u64,
    city: u64,
    experience: u64,
    tags: &[u64],
    amount: f64,
    commission_rate: f64,
    in_stock: bool,
) -> Value {
    json!({
        "product_id": id,
        "title": format!("Product {id}"),
        "city_id": city,
        "experience_id": experience,
        "tag_ids": tags,
        "image_url": format!("https://img.example/{id}.jpg"),
        "from_price": {"amount": amount, "currency": "EUR"},
        "conversion_rate": 0.01,
        "commission_rate": commission_rate,
        "in_stock": in_stock,
    })
}

/// A catalog of two cities (1 and 2) and tags 442, 443, 501, holding `products`.
fn inline_catalog(products: Vec<Value>) -> Catalog {
    let doc = json!({
        "cities": [
            {"id": 1, "name": "Rome", "country": "IT", "latitude": 41.9, "timezone": "Europe/Rome"},
            {"id": 2, "name": "Paris", "country": "FR", "latitude": 48.8, "timezone": "Europe/Paris"},
        ],
        "tags": [
            {"id": 442, "name": "Indoor"},
            {"id": 443, "name": "Outdoor"},
            {"id": 501, "name": "Family"},
        ],
        "products": products,
    });
    Catalog::from_json(&doc.to_string()).expect("inline catalog is valid")
}

/// The semantics catalog. Rates are powers of two, so every commission below is exact.
///
/// | id  | city | exp | tags      | amount × rate   | commission | note                       |
/// |-----|------|-----|-----------|-----------------|-----------:|----------------------------|
/// | 100 | 1    | 1   | 442       | 8 × 0.25        | 2.0        | the main product           |
/// | 101 | 1    | 2   | 442       | 20 × 0.25       | 5.0        | same experience as 102     |
/// | 102 | 1    | 2   | 443       | 32 × 0.25       | 8.0        |                            |
/// | 104 | 1    | 4   | 442, 443  | 6 × 0.5         | 3.0        | ties with 103; listed first|
/// | 103 | 1    | 3   | 443       | 12 × 0.25       | 3.0        | ties with 104              |
/// | 105 | 1    | 5   | 442       | 100 × 0.5       | 50.0       | OUT OF STOCK               |
/// | 106 | 1    | 6   | 501       | 64 × 0.03125    | 2.0        | dearest in stock, low rate |
/// | 107 | 1    | 7   | 442       | 24 × 0.25       | 6.0        |                            |
/// | 200 | 2    | 20  | 442       | 400 × 0.5       | 200.0      | OTHER CITY                 |
fn semantics_catalog() -> Catalog {
    inline_catalog(vec![
        product(100, 1, 1, &[442], 8.0, 0.25, true),
        product(101, 1, 2, &[442], 20.0, 0.25, true),
        product(102, 1, 2, &[443], 32.0, 0.25, true),
        product(104, 1, 4, &[442, 443], 6.0, 0.5, true),
        product(103, 1, 3, &[443], 12.0, 0.25, true),
        product(105, 1, 5, &[442], 100.0, 0.5, false),
        product(106, 1, 6, &[501], 64.0, 0.03125, true),
        product(107, 1, 7, &[442], 24.0, 0.25, true),
        product(200, 2, 20, &[442], 400.0, 0.5, true),
    ])
}

const P100: &str = "/v2/products/100/recommendations/cross-sell";

#[tokio::test]
async fn a_request_without_authorization_is_refused_with_401_and_a_json_error() {
    let engine = start(shipped_catalog(), Some(KEY)).await;
    let a = get(&engine, &format!("{PATH_1111476}?sort_by=commission"), None).await;
    assert_error_body(&a, 401);
    assert!(a.body.get("recommendations").is_none(), "{}", a.body);
}

#[tokio::test]
async fn a_wrong_token_or_scheme_is_refused_with_401_and_a_json_error() {
    let engine = start(shipped_catalog(), Some(KEY)).await;
    let pq = format!("{PATH_1111476}?sort_by=commission");
    for auth in [
        "Token wrong-key".to_string(),
        format!("Token {KEY}x"),
        format!("Bearer {KEY}"),
        KEY.to_string(),
        "Token ".to_string(),
    ] {
        let a = get(&engine, &pq, Some(&auth)).await;
        assert_eq!(a.status, 401, "Authorization: {auth:?} got {}", a.body);
        assert_error_body(&a, 401);
    }
}

#[tokio::test]
async fn the_right_token_gets_200_with_recommendations_carrying_the_documented_fields() {
    let catalog = shipped_catalog();
    let engine = start(catalog.clone(), Some(KEY)).await;
    let a = get(
        &engine,
        &format!("{PATH_1111476}?sort_by=commission&max_per_experience=1"),
        Some(&format!("Token {KEY}")),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.content_type.starts_with("application/json"));
    let recs = a.body["recommendations"]
        .as_array()
        .expect("recommendations[]");
    assert!(!recs.is_empty(), "{}", a.body);
    for r in recs {
        let id = r["product_id"].as_u64().expect("product_id");
        let p = catalog.product(id).expect("a catalog product");
        assert_eq!(r["title"], json!(p.title), "{r}");
        assert_eq!(r["image_url"], json!(p.image_url), "{r}");
        assert_eq!(r["from_price"]["amount"], json!(p.from_price.amount), "{r}");
        assert_eq!(
            r["from_price"]["currency"],
            json!(p.from_price.currency),
            "{r}"
        );
    }
    // The top of Rome by commission (amount × rate): Pompeii day trip 139 × 0.10 = 13.9, then the
    // Trastevere food tour 79 × 0.17 = 13.43.
    assert_eq!(&ids_of(&a.body)[..2], &[1190027, 1160512]);
}

#[tokio::test]
async fn an_engine_without_a_key_accepts_any_token_but_still_refuses_a_missing_one() {
    let engine = start(shipped_catalog(), None).await;
    let pq = format!("{PATH_1111476}?sort_by=commission");
    assert_error_body(&get(&engine, &pq, None).await, 401);
    let a = get(&engine, &pq, Some("Token anything")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!ids_of(&a.body).is_empty());
}

#[tokio::test]
async fn an_unknown_product_is_a_404_with_a_json_error() {
    let engine = start(shipped_catalog(), Some(KEY)).await;
    let auth = format!("Token {KEY}");
    for pq in [
        "/v2/products/4040404/recommendations/cross-sell?sort_by=commission",
        "/v2/products/not-a-number/recommendations/cross-sell",
    ] {
        let a = get(&engine, pq, Some(&auth)).await;
        assert_error_body(&a, 404);
    }
    let a = get(
        &engine,
        "/v2/products/4040404/recommendations/cross-sell",
        Some(&auth),
    )
    .await;
    assert!(
        a.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("4040404"),
        "{}",
        a.body
    );
    // An endpoint that does not exist is a JSON 404 too.
    assert_error_body(&get(&engine, "/v2/nothing-here", Some(&auth)).await, 404);
}

#[tokio::test]
async fn a_bad_parameter_is_a_400_with_a_json_error_naming_the_parameter() {
    let engine = start(shipped_catalog(), Some(KEY)).await;
    let auth = format!("Token {KEY}");
    for (query, named) in [
        ("sort_by=price", "sort_by"),
        ("sort_by=commission&product_tag_ids=[x]", "product_tag_ids"),
        ("exclude_product_ids=1,two", "exclude_product_ids"),
        ("max_per_experience=0", "max_per_experience"),
        ("colour=red", "colour"),
    ] {
        let a = get(&engine, &format!("{PATH_1111476}?{query}"), Some(&auth)).await;
        assert_error_body(&a, 400);
        let message = a.body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "{query}: {message:?} does not name {named}"
        );
    }
}

#[tokio::test]
async fn the_three_list_formats_give_identical_answers() {
    let engine = start(shipped_catalog(), Some(KEY)).await;
    let base = format!("{PATH_1111476}?sort_by=commission&max_per_experience=1");
    let forms = [
        "product_tag_ids=[443,502]&exclude_product_ids=[1190027,1160512]",
        "product_tag_ids=443,502&exclude_product_ids=1190027,1160512",
        "product_tag_ids=443&product_tag_ids=502&exclude_product_ids=1190027&exclude_product_ids=1160512",
        "product_tag_ids=%5B443%2C502%5D&exclude_product_ids=%5B1190027%2C1160512%5D",
    ];
    // Rome, in stock, not 1111476, tagged 443 or 502, minus the two excluded, by commission:
    //   1192270 Tivoli       105 × 0.12 = 12.6   (443)  exp 1012
    //   1160547 Wine tasting  65 × 0.18 = 11.7   (502)  exp 1008
    //   1120315 Colosseum     59 × 0.14 = 8.26   (443)  exp 1001
    //   1171906 Pub crawl     25 × 0.22 = 5.5    (502)  exp 1009
    //   1120421 Colosseum    29.9 × 0.10 = 2.99  (443)  exp 1001 again: dropped (max 1)
    //   1141263 Castel S.A.   22 × 0.13 = 2.86   (443)  exp 1005
    // (1120388 is 443 but out of stock; 1190027 and 1160512 are excluded.)
    let want = vec![1192270, 1160547, 1120315, 1171906, 1141263];
    let auth = format!("Token {KEY}");
    let mut bodies = Vec::new();
    for form in forms {
        let a = get(&engine, &format!("{base}&{form}"), Some(&auth)).await;
        assert_eq!(a.status, 200, "{form}: {}", a.body);
        assert_eq!(ids_of(&a.body), want, "{form}");
        bodies.push((form, a.body));
    }
    for (form, body) in &bodies[1..] {
        assert_eq!(
            body, &bodies[0].1,
            "{form} answers differently from {}",
            bodies[0].0
        );
    }
    // Single ids: `[443]` and `443` agree too.
    let one_bracket = ids(&engine, &format!("{base}&product_tag_ids=[443]")).await;
    let one_plain = ids(&engine, &format!("{base}&product_tag_ids=443")).await;
    assert_eq!(one_bracket, one_plain);
    assert!(!one_bracket.is_empty());
}

#[tokio::test]
async fn commission_order_is_descending_with_ties_by_product_id_over_other_in_stock_products_of_the_city(
) {
    let engine = start(semantics_catalog(), Some(KEY)).await;
    // Candidates for 100: city 1, in stock, not 100 itself → 101, 102, 103, 104, 106, 107
    // (105 is out of stock, 200 is in city 2). By commission descending:
    //   102 (8.0), 107 (6.0), 101 (5.0), 103 (3.0) = 104 (3.0) → by id: 103 then 104, 106 (2.0).
    // 106 has the highest price of them all but the lowest commission.
    assert_eq!(
        ids(&engine, &format!("{P100}?sort_by=commission")).await,
        vec![102, 107, 101, 103, 104, 106]
    );
}

#[tokio::test]
async fn max_per_experience_keeps_only_the_best_of_each_experience() {
    let engine = start(semantics_catalog(), Some(KEY)).await;
    // As above, but 101 shares experience 2 with the better 102, so it goes.
    assert_eq!(
        ids(
            &engine,
            &format!("{P100}?sort_by=commission&max_per_experience=1")
        )
        .await,
        vec![102, 107, 103, 104, 106]
    );
}

#[tokio::test]
async fn the_tag_filter_keeps_products_carrying_at_least_one_of_the_tags() {
    let engine = start(semantics_catalog(), Some(KEY)).await;
    // Tag 443: 102 (443), 103 (443), 104 (442+443) → by commission 102, 103, 104.
    assert_eq!(
        ids(
            &engine,
            &format!("{P100}?sort_by=commission&product_tag_ids=[443]")
        )
        .await,
        vec![102, 103, 104]
    );
    // Tags 443 or 501: the same plus 106 (501).
    assert_eq!(
        ids(
            &engine,
            &format!("{P100}?sort_by=commission&product_tag_ids=[443,501]")
        )
        .await,
        vec![102, 103, 104, 106]
    );
}

#[tokio::test]
async fn excluded_products_are_removed_before_the_per_experience_limit() {
    let engine = start(semantics_catalog(), Some(KEY)).await;
    // Excluding 102 and 107 leaves 101 as the best (only) product of experience 2:
    //   101 (5.0), 103 (3.0), 104 (3.0), 106 (2.0).
    assert_eq!(
        ids(
            &engine,
            &format!(
                "{P100}?sort_by=commission&max_per_experience=1&exclude_product_ids=[102,107]"
            )
        )
        .await,
        vec![101, 103, 104, 106]
    );
}

#[tokio::test]
async fn a_product_alone_in_its_city_gets_an_empty_list() {
    let engine = start(semantics_catalog(), Some(KEY)).await;
    // 200 is the only product of city 2; the dearer city-1 products are never offered.
    assert_eq!(
        ids(
            &engine,
            "/v2/products/200/recommendations/cross-sell?sort_by=commission"
        )
        .await,
        Vec::<u64>::new()
    );
}

#[tokio::test]
async fn at_most_ten_items_are_returned_even_when_more_are_eligible() {
    // Main product 300 and 12 others in city 1, each its own experience, rate 0.25, so commission
    // = amount / 4:
    //   301: 4.0  302: 1.0  303: 4.0  304: 2.0  305: 3.0  306: 1.0
    //   307: 2.0  308: 5.0  309: 3.0  310: 1.0  311: 2.0  312: 0.5
    // Descending, ties by id: 308, 301, 303, 305, 309, 304, 307, 311, 302, 306 | 310, 312.
    // The cap cuts 310 even though it ties with 302 and 306, and 312.
    let commissions = [
        (301, 4.0),
        (302, 1.0),
        (303, 4.0),
        (304, 2.0),
        (305, 3.0),
        (306, 1.0),
        (307, 2.0),
        (308, 5.0),
        (309, 3.0),
        (310, 1.0),
        (311, 2.0),
        (312, 0.5),
    ];
    let mut products = vec![product(300, 1, 1000, &[442], 4.0, 0.25, true)];
    products.extend(
        commissions
            .iter()
            .map(|&(id, c)| product(id, 1, id, &[442], c * 4.0, 0.25, true)),
    );
    let engine = start(inline_catalog(products), Some(KEY)).await;
    let pq = "/v2/products/300/recommendations/cross-sell?sort_by=commission";
    let got = ids(&engine, pq).await;
    assert_eq!(got, vec![308, 301, 303, 305, 309, 304, 307, 311, 302, 306]);
    assert_eq!(got.len(), engine::MAX_ITEMS);
    // With the tag filter on, still 10.
    let filtered = ids(&engine, &format!("{pq}&product_tag_ids=[442]")).await;
    assert_eq!(filtered, got);
}

/// A `tripmail engine` child process, killed when dropped.
struct EngineProcess(Child);

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

#[tokio::test]
async fn the_engine_command_serves_the_catalog_over_http_until_killed() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("tripmail"));
    cmd.current_dir(root())
        .args(["engine", "--catalog", "fixtures/catalog.json", "--listen"])
        .arg(addr.to_string())
        .args(["--api-key", "k"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("TRIPMAIL_") {
            cmd.env_remove(k);
        }
    }
    let mut child = EngineProcess(cmd.spawn().expect("tripmail engine starts"));

    let mut accepting = false;
    for _ in 0..200 {
        if let Some(status) = child.0.try_wait().expect("child status") {
            panic!("tripmail engine exited early with {status}");
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            accepting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        accepting,
        "tripmail engine never accepted connections on {addr}"
    );

    let base = format!("http://{addr}");
    let pq = format!("{PATH_1111476}?sort_by=commission&max_per_experience=1");
    assert_error_body(&get_at(&base, &pq, None).await, 401);
    assert_error_body(&get_at(&base, &pq, Some("Token not-k")).await, 401);
    let a = get_at(&base, &pq, Some("Token k")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The same answer as the in-process engine gives for the same catalog.
    let embedded = start(shipped_catalog(), Some("k")).await;
    let b = get(&embedded, &pq, Some("Token k")).await;
    assert_eq!(a.body, b.body);
    assert_eq!(&ids_of(&a.body)[..2], &[1190027, 1160512]);

    drop(child);
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the engine still accepts connections after being killed"
    );
}
