//! The fast path (compiled template shapes, the fast body encoder, rendering threads) against the
//! straightforward one (Tera → mrml → lettre's encoder for every email), on thousands of synthetic
//! bookings: every message must be the same to the byte. Also `run --dry-run` and the engine
//! requests of a large run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use assert_cmd::Command;
use futures::future::BoxFuture;
use tripmail::catalog::Catalog;
use tripmail::config::{Overrides, Settings};
use tripmail::deliver::{Delivery, DeliveryError, OutgoingEmail};
use tripmail::run::{Campaigns, Outputs, RunOptions};
use tripmail::synth::{SynthFormat, SynthOptions};

use crate::util::{config_with, root, stderr, succeeds, tripmail, NOW};

/// How many synthetic bookings the comparison runs over.
const BOOKINGS: u64 = 3_000;

/// `tripmail run --dry-run` on the shipped config, from the repository root.
fn dry_run_cmd() -> Command {
    let mut cmd = tripmail();
    cmd.current_dir(root()).args([
        "run",
        "--config",
        "fixtures/campaign.toml",
        "--now",
        NOW,
        "--dry-run",
    ]);
    cmd
}

fn synth(dir: &Path, bookings: u64, seed: u64) -> std::path::PathBuf {
    let catalog = Catalog::load(&root().join("fixtures/catalog.json")).unwrap();
    let path = dir.join("bookings.csv");
    let file = std::fs::File::create(&path).unwrap();
    tripmail::synth::write_bookings(
        &catalog,
        &SynthOptions {
            bookings,
            seed,
            format: SynthFormat::Csv,
            now: NOW.parse().unwrap(),
        },
        file,
    )
    .unwrap();
    path
}

/// Keeps each message as the run built it, by (campaign, booking).
#[derive(Default)]
struct Messages(Mutex<BTreeMap<(String, String), Vec<u8>>>);

impl Delivery for Messages {
    fn deliver<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move { self.keep(email, email.to_mime()?) })
    }

    fn deliver_built<'a>(
        &'a self,
        email: &'a OutgoingEmail,
        mime: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move { self.keep(email, mime) })
    }
}

impl Messages {
    fn keep(&self, email: &OutgoingEmail, mime: Vec<u8>) -> Result<(), DeliveryError> {
        let key = (email.campaign.clone(), email.booking_id.clone());
        let previous = self.0.lock().unwrap().insert(key, mime);
        assert!(previous.is_none(), "{} built twice", email.booking_id);
        Ok(())
    }
}

fn run(bookings: &Path, straight: bool) -> (BTreeMap<(String, String), Vec<u8>>, u64) {
    crate::util::runtime().block_on(async {
        let overrides = Overrides {
            bookings_path: Some(bookings.to_path_buf()),
            ..Overrides::default()
        };
        let config = root().join("fixtures/campaign.toml");
        let mut settings = Settings::load_with_env(&config, &overrides, Vec::new()).unwrap();
        settings.engine.catalog = Some(root().join("fixtures/catalog.json"));
        settings.templates.dir = root().join("templates");
        let campaigns = Campaigns::start(settings).await.unwrap();
        let messages = Messages::default();
        let report = campaigns
            .run(
                &RunOptions {
                    now: NOW.parse().unwrap(),
                    campaign: None,
                    parallel: 64,
                    redirect_to: None,
                    clock: || chrono::DateTime::UNIX_EPOCH,
                    cancel: None,
                    next_ticks: None,
                    dry_run: false,
                    straight,
                    keep_records: true,
                },
                &Outputs {
                    files: Some(&messages),
                    send: None,
                    progress: None,
                },
            )
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        (messages.0.into_inner().unwrap(), report.rendered)
    })
}

/// Where two messages first differ, with some context.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let context = |m: &[u8]| {
        String::from_utf8_lossy(&m[at.saturating_sub(80)..(at + 80).min(m.len())]).into_owned()
    };
    format!(
        "lengths {} and {}, first difference at byte {at}:\nfast:   {:?}\nstraight: {:?}",
        a.len(),
        b.len(),
        context(a),
        context(b)
    )
}

#[test]
fn the_fast_path_builds_every_message_byte_for_byte_as_the_straightforward_one() {
    let dir = tempfile::tempdir().unwrap();
    let bookings = synth(dir.path(), BOOKINGS, 7);
    let (fast, made) = run(&bookings, false);
    let (straight, _) = run(&bookings, true);
    // A few thousand emails of every locale, both campaigns, with and without a block.
    assert!(made > BOOKINGS * 8 / 10, "{made} emails");
    assert_eq!(fast.len() as u64, made);
    let keys = |m: &BTreeMap<(String, String), Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&fast), keys(&straight));
    let mut locales = BTreeSet::new();
    let mut shapes = BTreeSet::new();
    for (key, a) in &fast {
        let b = &straight[key];
        assert!(a == b, "{key:?}: {}", first_difference(a, b));
        let text = String::from_utf8_lossy(a);
        if let Some(lang) = text.split("lang=3D\"").nth(1).and_then(|r| r.get(..2)) {
            locales.insert(lang.to_string());
        }
        shapes.insert((key.0.clone(), text.matches("View tickets").count()));
    }
    assert!(locales.len() >= 6, "locales seen: {locales:?}");
    assert!(shapes.len() >= 4, "shapes seen: {shapes:?}");
}

#[test]
fn a_dry_run_produces_every_email_and_writes_nothing_but_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let bookings = synth(dir.path(), 500, 3);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let abs = |p: &str| root().join(p).display().to_string();
    let config = config_with(
        &work,
        &[
            (
                "\"fixtures/catalog.json\"",
                &format!("{:?}", abs("fixtures/catalog.json")),
            ),
            (
                "dir = \"templates\"",
                &format!("dir = {:?}", abs("templates")),
            ),
        ],
    );
    let o = tripmail()
        .current_dir(&work)
        .args(["run", "--now", NOW, "--dry-run", "--report", "report.json"])
        .arg("--config")
        .arg(&config)
        .arg("--bookings")
        .arg(&bookings)
        .output()
        .unwrap();
    succeeds(&o);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("report.json")).unwrap()).unwrap();
    let rendered = report["rendered"].as_u64().unwrap();
    assert!(rendered > 400, "{rendered}");
    assert_eq!(report["emails"].as_array().unwrap().len() as u64, rendered);
    assert_eq!(report["sent"], 0);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("dry run: {rendered} emails produced and dropped")),
        "{err}"
    );
    // Nothing but the report: no `out` folder, no ledger.
    let mut written: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, ["campaign.toml", "report.json"]);
}

#[test]
fn a_dry_run_refuses_outputs_it_would_not_write() {
    for flag in [
        ["--out", "x"],
        ["--smtp", "smtp://127.0.0.1:1"],
        ["--state", "x.sqlite"],
    ] {
        let o = dry_run_cmd().args(flag).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag:?}");
        assert!(
            stderr(&o).contains("cannot be used with"),
            "{flag:?}: {}",
            stderr(&o)
        );
    }
}

/// The engine queries a run needs: for each email that asked the engine, its (product, tags) pairs
/// as the heuristics ask them, in the booking's language (the shipped config sends it,
/// `engine.language_param`), read from the report's rules and the bookings file.
fn distinct_queries(report: &serde_json::Value, bookings: &Path) -> (usize, usize) {
    let mut product_of = BTreeMap::new();
    for b in tripmail::bookings::BookingReader::open(bookings).unwrap() {
        let b = b.unwrap();
        product_of.insert(b.booking_id.clone(), (b.product_id, b.locale));
    }
    let mut pairs = BTreeSet::new();
    let mut queries = BTreeSet::new();
    for e in report["emails"].as_array().unwrap() {
        let rules: Vec<&str> = e["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        if rules.contains(&"no_opt_in") {
            continue;
        }
        let (product, locale) = product_of[e["booking_id"].as_str().unwrap()];
        let prefer = rules.iter().find(|r| r.starts_with("prefer:")).copied();
        let family = rules.contains(&"family");
        pairs.insert((product, prefer, family));
        queries.insert((product, locale, if family { "family" } else { "none" }));
        if let Some(p) = prefer {
            queries.insert((product, locale, p));
        }
        if family {
            queries.insert((product, locale, "adults_only"));
        }
    }
    (pairs.len(), queries.len())
}

#[test]
fn engine_requests_are_the_distinct_product_and_preference_queries_whatever_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for n in [2_000, 8_000] {
        let bookings = synth(dir.path(), n, 11);
        let report_path = dir.path().join(format!("report-{n}.json"));
        let o = dry_run_cmd()
            .arg("--bookings")
            .arg(&bookings)
            .arg("--report")
            .arg(&report_path)
            .output()
            .unwrap();
        succeeds(&o);
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
        let (pairs, queries) = distinct_queries(&report, &bookings);
        let requests = report["engine_requests"].as_u64().unwrap() as usize;
        assert_eq!(requests, queries, "{n} bookings: {pairs} pairs");
        // Asked per language (engine.language_param), a product's queries are shared by fewer
        // bookings: 1,511 hits for 1,484 requests at 2,000 bookings, against 441 requests without it.
        assert!(
            report["cache_hits"].as_u64().unwrap() > n / 2,
            "{n}: {} cache hits, {requests} requests",
            report["cache_hits"]
        );
        seen.push((n, pairs, requests));
    }
    // Four times the bookings: more pairs seen, but far fewer than the emails (the catalog has 116
    // products, asked in six languages), and one request per query still.
    assert!(seen[1].2 < 6 * 1_000, "{seen:?}");
    assert!(seen[1].2 < 8_000 / 2, "{seen:?}");
}

#[test]
fn synth_writes_the_same_bookings_for_a_seed_to_a_file_or_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.csv");
    let synth = |extra: &[&str]| {
        tripmail()
            .current_dir(root())
            .args([
                "synth",
                "--catalog",
                "fixtures/catalog.json",
                "--bookings",
                "300",
                "--seed",
                "5",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let to_file = synth(&["--output", file.to_str().unwrap()]);
    succeeds(&to_file);
    assert!(
        stderr(&to_file).contains("300 bookings ("),
        "{}",
        stderr(&to_file)
    );
    let to_stdout = synth(&[]);
    succeeds(&to_stdout);
    assert_eq!(std::fs::read(&file).unwrap(), to_stdout.stdout);
    let library = {
        let mut out = Vec::new();
        let catalog = Catalog::load(&root().join("fixtures/catalog.json")).unwrap();
        tripmail::synth::write_bookings(
            &catalog,
            &SynthOptions {
                bookings: 300,
                seed: 5,
                format: SynthFormat::Csv,
                now: tripmail::synth::DEFAULT_NOW.parse().unwrap(),
            },
            &mut out,
        )
        .unwrap();
        out
    };
    assert_eq!(library, to_stdout.stdout);
    let jsonl = synth(&["--format", "jsonl"]);
    succeeds(&jsonl);
    let lines: Vec<&[u8]> = jsonl
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 300);
    assert!(lines
        .iter()
        .all(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok()));
    let bad = synth(&["--now", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
}
