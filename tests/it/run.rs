//! `tripmail run` on the shipped fixtures and on other inputs: what it writes, and whether the chosen
//! items follow the documented rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use tempfile::TempDir;

use crate::util::{
    config_with, fails_with, preview_cmd, report, root, run_shipped, stderr, tripmail, NOW,
};

/// A bookings CSV row, as a map of column → value.
fn bookings(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn emails(report: &Value) -> &Vec<Value> {
    report["emails"].as_array().unwrap()
}

#[test]
fn shipped_fixtures_give_both_campaigns_in_all_six_locales() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let o = run_shipped(&out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    let locale_of: HashMap<String, String> = bookings(&root().join("fixtures/bookings.csv"))
        .into_iter()
        .map(|b| (b["booking_id"].clone(), b["locale"].clone()))
        .collect();
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in emails(&r) {
        let campaign = e["campaign"].as_str().unwrap();
        let locale = locale_of[e["booking_id"].as_str().unwrap()].as_str();
        seen.entry(campaign).or_default().insert(locale);
        let id = e["booking_id"].as_str().unwrap();
        assert!(out.join(campaign).join(format!("{id}.eml")).is_file());
        assert!(out.join(campaign).join(format!("{id}.html")).is_file());
    }
    let all: BTreeSet<&str> = ["de", "en", "es", "fr", "it", "nl"].into();
    assert_eq!(seen.get("confirmation"), Some(&all));
    assert_eq!(seen.get("reminder"), Some(&all));
    assert_eq!(r["due"], r["rendered"]);
    assert_eq!(r["rendered"].as_u64().unwrap() as usize, emails(&r).len());
    assert!(std::fs::read_to_string(out.join("index.html"))
        .unwrap()
        .contains("WT-100001"));
}

#[test]
fn every_eml_is_multipart_alternative_with_both_parts_for_pythons_email_parser() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(run_shipped(&out, &[]).status.code(), Some(0));
    let o = std::process::Command::new("python3")
        .arg(root().join("tests/it/check_eml.py"))
        .arg(&out)
        .output()
        .expect("python3 is installed");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}\n{}", stderr(&o));
    let checked: usize = text.trim().rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        checked as u64,
        report(&out)["rendered"].as_u64().unwrap(),
        "{text}"
    );
}

#[test]
fn emails_with_a_block_carry_two_to_four_items_shown_in_the_html() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(run_shipped(&out, &[]).status.code(), Some(0));
    let r = report(&out);
    let mut with_block = 0;
    for e in emails(&r) {
        let items = e["items"].as_array().unwrap();
        let html = std::fs::read_to_string(
            out.join(e["campaign"].as_str().unwrap())
                .join(format!("{}.html", e["booking_id"].as_str().unwrap())),
        )
        .unwrap();
        if e["without_block"].is_null() {
            with_block += 1;
            assert!((2..=4).contains(&items.len()), "{e}");
            for id in items {
                assert!(
                    html.contains(&format!("/products/{id}?utm_source=crm")),
                    "{e}: item {id} not linked"
                );
            }
        } else {
            assert!(items.is_empty(), "{e}");
            assert!(
                !html.contains("utm_source=crm"),
                "{e}: a block without items"
            );
        }
    }
    assert_eq!(with_block, r["with_block"].as_u64().unwrap());
    assert!(with_block > 0);
}

#[test]
fn html_has_lang_alt_text_and_stays_under_gmails_clip() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(run_shipped(&out, &[]).status.code(), Some(0));
    let locale_of: HashMap<String, String> = bookings(&root().join("fixtures/bookings.csv"))
        .into_iter()
        .map(|b| (b["booking_id"].clone(), b["locale"].clone()))
        .collect();
    for e in emails(&report(&out)) {
        let id = e["booking_id"].as_str().unwrap();
        let html = std::fs::read_to_string(
            out.join(e["campaign"].as_str().unwrap())
                .join(format!("{id}.html")),
        )
        .unwrap();
        assert!(
            html.len() < tripmail::render::GMAIL_CLIP_BYTES,
            "{id}: {} bytes",
            html.len()
        );
        assert!(
            html.contains(&format!("<html lang=\"{}\"", locale_of[id])),
            "{id}: no lang"
        );
        for img in html.split("<img").skip(1) {
            let tag = &img[..img.find('>').unwrap()];
            let alt = tag
                .split("alt=\"")
                .nth(1)
                .map(|a| &a[..a.find('"').unwrap()]);
            assert!(
                alt.is_some_and(|a| !a.trim().is_empty()),
                "{id}: image without alt: {tag}"
            );
        }
    }
}

#[test]
fn runs_are_byte_for_byte_identical() {
    let tmp = TempDir::new().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_eq!(run_shipped(&a, &[]).status.code(), Some(0));
    assert_eq!(run_shipped(&b, &[]).status.code(), Some(0));
    let files = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        walk(dir)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    let (fa, fb) = (files(&a), files(&b));
    assert!(fa.len() > 60);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between runs");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn jsonl_bookings_give_the_same_emails_as_csv() {
    let tmp = TempDir::new().unwrap();
    let (a, b) = (tmp.path().join("csv"), tmp.path().join("jsonl"));
    assert_eq!(run_shipped(&a, &[]).status.code(), Some(0));
    assert_eq!(
        run_shipped(&b, &["--bookings", "fixtures/bookings.jsonl"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(report(&a)["emails"], report(&b)["emails"]);
    assert!(!emails(&report(&b)).is_empty());
}

#[test]
fn bad_rows_are_reported_with_line_and_reason_and_every_other_row_gets_its_email() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let o = run_shipped(&out, &["--bookings", "tests/cases/bad_rows/bookings.csv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = report(&out);
    let skipped: BTreeMap<u64, String> = r["skipped_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["file"], "tests/cases/bad_rows/bookings.csv");
            (
                s["line"].as_u64().unwrap(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // What tests/cases/bad_rows/README.md says each line is wrong with.
    let expected = [
        (3, "missing customer_email"),
        (4, "customer_email \"anna.example.com\""),
        (5, "unknown locale \"pt\""),
        (6, "children is negative"),
        (8, "travel_date \"2026-02-30\""),
        (9, "booked_at \"yesterday\""),
        (10, "status \"maybe\""),
        (11, "marketing_opt_in \"yes\""),
        (12, "adults is not a whole number"),
    ];
    assert_eq!(
        skipped.keys().copied().collect::<Vec<_>>(),
        expected.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    for (line, reason) in expected {
        assert!(
            skipped[&line].contains(reason),
            "line {line}: {:?}",
            skipped[&line]
        );
        assert!(
            stderr(&o).contains(&format!("tests/cases/bad_rows/bookings.csv:{line}: ")),
            "{}",
            stderr(&o)
        );
    }
    let ids: BTreeSet<&str> = emails(&r)
        .iter()
        .map(|e| e["booking_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["WT-200001", "WT-200006", "WT-200012"].into());
}

#[test]
fn an_unknown_campaign_is_a_fatal_error() {
    let tmp = TempDir::new().unwrap();
    let o = run_shipped(&tmp.path().join("out"), &["--campaign", "newsletter"]);
    fails_with(&o, "no campaign named \"newsletter\"");
}

#[test]
fn only_the_campaign_asked_for_is_run() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(
        run_shipped(&out, &["--campaign", "reminder"]).status.code(),
        Some(0)
    );
    let r = report(&out);
    assert!(emails(&r).iter().all(|e| e["campaign"] == "reminder"));
    assert!(!out.join("confirmation").exists());
}

// ---- The chosen items, checked against an independent reading of the rules ----------------------

struct Product {
    id: u64,
    city: u64,
    experience: u64,
    tags: Vec<u64>,
    commission: f64,
    in_stock: bool,
}

/// The rules of the issue, applied straight to the catalog's tags (the tool itself only sees the
/// engine's answers): season-preferred items first, family-friendly only for families and never
/// adults-only, never the main product nor a held one, one per experience, commission order.
fn expected_items(
    catalog: &Value,
    b: &HashMap<String, String>,
    max: usize,
) -> (Vec<u64>, Option<&'static str>) {
    if b["marketing_opt_in"] != "true" {
        return (vec![], Some("no_opt_in"));
    }
    let products: Vec<Product> = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Product {
            id: p["product_id"].as_u64().unwrap(),
            city: p["city_id"].as_u64().unwrap(),
            experience: p["experience_id"].as_u64().unwrap(),
            tags: p["tag_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_u64().unwrap())
                .collect(),
            commission: p["from_price"]["amount"].as_f64().unwrap()
                * p["commission_rate"].as_f64().unwrap(),
            in_stock: p["in_stock"].as_bool().unwrap(),
        })
        .collect();
    let main_id: u64 = b["product_id"].parse().unwrap();
    let Some(main) = products.iter().find(|p| p.id == main_id) else {
        return (vec![], Some("engine_http_404"));
    };
    let latitude = b["latitude"].parse::<f64>().ok().or_else(|| {
        catalog["cities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["name"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case(b["city"].trim())
            })
            .and_then(|c| c["latitude"].as_f64())
    });
    let month = NaiveDate::parse_from_str(&b["travel_date"], "%Y-%m-%d")
        .unwrap()
        .month();
    let preferred_tag = latitude.and_then(|lat| {
        if lat.abs() < 23.44 {
            return None;
        }
        let north_winter = matches!(month, 12 | 1 | 2);
        let north_summer = matches!(month, 6..=8);
        match (lat >= 0.0, north_winter, north_summer) {
            (true, true, _) | (false, _, true) => Some(442), // winter: indoor
            (true, _, true) | (false, true, _) => Some(443), // summer: outdoor
            _ => None,
        }
    });
    let family = b["children"] != "0";
    let held: Vec<u64> = b["other_product_ids"]
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let experience_of = |id: &u64| products.iter().find(|p| p.id == *id).map(|p| p.experience);
    // The engine's answer for a tag filter: best product per experience, by commission, at most 10,
    // never one of the main product's experience; `exclude` is what the engine is told to leave out.
    let answer = |tag: Option<u64>, exclude: &[u64]| -> Vec<u64> {
        let mut c: Vec<&Product> = products
            .iter()
            .filter(|p| {
                p.city == main.city && p.id != main.id && p.in_stock && !exclude.contains(&p.id)
            })
            .filter(|p| p.experience != main.experience)
            .filter(|p| tag.is_none_or(|t| p.tags.contains(&t)))
            .collect();
        c.sort_by(|a, b| b.commission.total_cmp(&a.commission).then(a.id.cmp(&b.id)));
        let mut exps = BTreeSet::new();
        c.into_iter()
            .filter(|p| exps.insert(p.experience))
            .map(|p| p.id)
            .take(10)
            .collect()
    };
    let tags_of = |id: u64| &products.iter().find(|p| p.id == id).unwrap().tags;
    // Held products are dropped from the answers; only when that leaves too few items is the engine
    // asked again with them excluded.
    let pick = |exclude: &[u64]| -> (Vec<u64>, bool) {
        let mut order: Vec<u64> = Vec::new();
        if family {
            let fam = answer(Some(501), exclude);
            if let Some(t) = preferred_tag {
                order.extend(fam.iter().filter(|id| tags_of(**id).contains(&t)));
            }
            order.extend(fam.iter());
        } else {
            if let Some(t) = preferred_tag {
                order.extend(answer(Some(t), exclude));
            }
            order.extend(answer(None, exclude));
        }
        let mut items = Vec::new();
        let mut dropped_held = false;
        for id in order {
            if items.contains(&id) || (family && tags_of(id).contains(&502)) {
                continue;
            }
            // Held, or of an experience the customer holds (the catalog tells).
            let held_experience = experience_of(&id)
                .is_some_and(|e| held.iter().filter_map(experience_of).any(|h| h == e));
            if id == main_id || held.contains(&id) || held_experience {
                dropped_held = true;
                continue;
            }
            items.push(id);
        }
        (items, dropped_held)
    };
    let (mut items, dropped_held) = pick(&[]);
    if dropped_held && items.len() < max {
        items = pick(&held).0;
    }
    items.truncate(max);
    if items.len() < 2 {
        return (vec![], Some("too_few_items"));
    }
    (items, None)
}

fn check_items_follow_the_rules(bookings_file: &str, catalog_file: &str) {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let o = run_shipped(
        &out,
        &["--bookings", bookings_file, "--catalog", catalog_file],
    );
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    let catalog: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(catalog_file)).unwrap()).unwrap();
    let rows: HashMap<String, HashMap<String, String>> = bookings(&root().join(bookings_file))
        .into_iter()
        .map(|b| (b["booking_id"].clone(), b))
        .collect();
    let r = report(&out);
    assert!(!emails(&r).is_empty());
    for e in emails(&r) {
        let b = &rows[e["booking_id"].as_str().unwrap()];
        let (items, reason) = expected_items(&catalog, b, 3);
        let got: Vec<u64> = e["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap())
            .collect();
        assert_eq!(
            got, items,
            "{} {}: rules {}",
            e["campaign"], e["booking_id"], e["rules"]
        );
        assert_eq!(e["without_block"].as_str(), reason, "{}", e["booking_id"]);
    }
}

#[test]
fn chosen_items_follow_the_rules_on_the_shipped_fixtures() {
    check_items_follow_the_rules("fixtures/bookings.csv", "fixtures/catalog.json");
}

#[test]
fn chosen_items_follow_the_rules_on_another_catalog_and_bookings() {
    check_items_follow_the_rules(
        "tests/cases/other_catalog/bookings.csv",
        "tests/cases/other_catalog/catalog.json",
    );
}

#[test]
fn engine_requests_follow_distinct_products_not_bookings() {
    let tmp = TempDir::new().unwrap();
    let header = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";
    // 300 bookings over three Rome products, a third of them families, all due as confirmations.
    let products = [1111476u64, 1111502, 1134090];
    let mut csv = String::from(header);
    for i in 0..300 {
        let p = products[i % 3];
        let children = if i % 3 == 1 { 2 } else { 0 };
        csv.push_str(&format!(
            "\nB{i},c{i}@example.com,C{i},en,{p},Main,Rome,2027-01-15,2026-12-09T10:00:00Z,2,{children},confirmed,true,,,"
        ));
    }
    let file = tmp.path().join("many.csv");
    std::fs::write(&file, csv).unwrap();
    let out = tmp.path().join("out");
    let o = run_shipped(
        &out,
        &[
            "--bookings",
            file.to_str().unwrap(),
            "--campaign",
            "confirmation",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    assert_eq!(r["rendered"], 300);
    // Winter in Rome: adults ask (indoor, none); families ask (family, indoor, adults-only).
    let distinct: BTreeSet<(u64, &str)> = (0..300)
        .flat_map(|i| {
            let fam = i % 3 == 1;
            let filters: &[&str] = if fam {
                &["family", "indoor", "adults_only"]
            } else {
                &["indoor", "none"]
            };
            filters.iter().map(move |f| (products[i % 3], *f))
        })
        .collect();
    let requests = r["engine_requests"].as_u64().unwrap();
    assert!(
        requests <= distinct.len() as u64,
        "{requests} requests for {} distinct",
        distinct.len()
    );
    assert!(requests > 0);
    assert!(
        r["cache_hits"].as_u64().unwrap() >= 300,
        "{}",
        r["cache_hits"]
    );
}

#[test]
fn untrusted_text_is_escaped_in_the_html() {
    let tmp = TempDir::new().unwrap();
    let header = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";
    let csv = format!(
        "{header}\nX1,eve@example.com,<script>alert(1)</script>,en,1111476,\"Colosseum <b>&</b> \"\"more\"\"\",Rome,2027-01-15,2026-12-09T10:00:00Z,2,0,confirmed,true,,,\n"
    );
    let file = tmp.path().join("evil.csv");
    std::fs::write(&file, csv).unwrap();
    let out = tmp.path().join("out");
    let o = run_shipped(&out, &["--bookings", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("confirmation/X1.html")).unwrap();
    assert!(!html.contains("<script>alert"), "unescaped name");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Colosseum &lt;b&gt;&amp;&lt;/b&gt; &quot;more&quot;"));
    assert!(!html.contains("<b>&</b>"));
}

#[test]
fn preview_shows_one_email_in_each_format() {
    let preview = |format: &str| {
        let o = preview_cmd("WT-100003", "reminder")
            .args(["--format", format])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(preview("html").starts_with("<!doctype html>"));
    assert!(preview("mjml").starts_with("<mjml lang=\"fr\">"));
    let text = preview("text");
    assert!(text.contains("WT-100003") && !text.contains('<'));
    let eml = preview("eml");
    assert!(eml.contains("Content-Type: multipart/alternative"));
    assert!(eml.contains("Message-ID: <reminder.WT-100003@wanderly.example>"));
}

#[test]
fn preview_of_an_unknown_booking_says_so() {
    let o = preview_cmd("NOPE", "reminder").output().unwrap();
    fails_with(&o, "fixtures/bookings.csv: no booking \"NOPE\"");
}

#[test]
fn an_engine_url_override_reaches_the_engine_named() {
    // Nothing listens on port 9 of 127.0.0.1: every email goes out without a block, none is lost.
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let cfg = config_with(tmp.path(), &[("timeout_ms = 2000", "timeout_ms = 500")]);
    let o = tripmail()
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--now", NOW, "--engine-url", "http://127.0.0.1:9", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    assert_eq!(r["with_block"], 0);
    assert_eq!(r["rendered"], r["due"]);
    assert!(
        r["without_block"]["engine_unreachable"].as_u64().unwrap() > 0,
        "{r}"
    );
}
