//! One benchmark per stage of an email, on the shipped fixtures (criterion):
//!
//! - `parse`: reading bookings (CSV) into [`Booking`]s, per row;
//! - `choose`: the season and family plan and the choice of items from the engine's answers (as
//!   the per-run cache holds them), per email;
//! - `render`: MJML → HTML and text, compiled shapes (the default) against the straightforward
//!   Tera → mrml render, per email;
//! - `mime`: the whole RFC 5322 message of a rendered email, per email, with the fast body encoder
//!   (the default) and with lettre's own.
//!
//! `cargo bench --bench stages` (add `-- render` for one group). Figures: README, "Speed".

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use tripmail::bookings::{Booking, BookingReader, Status};
use tripmail::catalog::Catalog;
use tripmail::config::{Overrides, Settings};
use tripmail::deliver::OutgoingEmail;
use tripmail::due::{Due, Venue};
use tripmail::fit::Trip;
use tripmail::heuristics::{self, Answers};
use tripmail::recommend::engine::{self, Params};
use tripmail::recommend::Recommendation;
use tripmail::render::{EmailInput, Renderer};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Fixture {
    settings: Settings,
    catalog: Arc<Catalog>,
    bookings: Vec<Booking>,
}

fn fixture() -> Fixture {
    let settings = Settings::load(
        &root().join("fixtures/campaign.toml"),
        &Overrides::default(),
    )
    .expect("the shipped config loads");
    let catalog = Arc::new(Catalog::load(&root().join("fixtures/catalog.json")).expect("catalog"));
    let bookings = BookingReader::open(&root().join("fixtures/bookings.csv"))
        .expect("bookings")
        .filter_map(Result::ok)
        .filter(|b| b.status == Status::Confirmed && b.marketing_opt_in)
        .filter(|b| catalog.product(b.product_id).is_some())
        .collect();
    Fixture {
        settings,
        catalog,
        bookings,
    }
}

fn items(catalog: &Catalog, product_id: u64, tag_ids: &[u64]) -> Vec<Recommendation> {
    let params = Params {
        sort_by: tripmail::config::SortBy::Commission,
        max_per_experience: Some(1),
        tag_ids: tag_ids.to_vec(),
        exclude_ids: Vec::new(),
    };
    engine::recommend(catalog, product_id, &params)
        .unwrap_or_default()
        .into_iter()
        .map(Recommendation::from)
        .collect()
}

/// What the cache holds for one booking: its plan's answers.
struct Asked {
    booking: Booking,
    latitude: Option<f64>,
    base: Vec<Recommendation>,
    preferred: Option<Vec<Recommendation>>,
    adults_only: Option<Vec<Recommendation>>,
}

fn asked(f: &Fixture) -> Vec<Asked> {
    f.bookings
        .iter()
        .map(|b| {
            let latitude = Venue::of(b, Some(&f.catalog)).latitude;
            let plan = heuristics::plan(b, latitude, &f.settings.heuristics);
            let ask =
                |tags: &Option<Vec<u64>>| tags.as_ref().map(|t| items(&f.catalog, b.product_id, t));
            Asked {
                booking: b.clone(),
                latitude,
                base: items(
                    &f.catalog,
                    b.product_id,
                    plan.family.as_deref().unwrap_or(&[]),
                ),
                preferred: ask(&plan.preferred),
                adults_only: ask(&plan.adults_only),
            }
        })
        .collect()
}

fn parse(c: &mut Criterion) {
    let text = std::fs::read_to_string(root().join("fixtures/bookings.csv")).expect("bookings");
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let copies = 100;
    let mut csv = format!("{header}\n");
    for copy in 0..copies {
        for row in &rows {
            let (id, rest) = row.split_once(',').expect("a CSV row");
            csv.push_str(&format!("{id}-{copy},{rest}\n"));
        }
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("bookings.csv");
    std::fs::write(&path, csv).expect("written");
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements((rows.len() * copies) as u64));
    group.bench_function("csv_rows", |b| {
        b.iter(|| {
            BookingReader::open(&path)
                .expect("opens")
                .filter(Result::is_ok)
                .count()
        })
    });
    group.finish();
}

fn choose(c: &mut Criterion) {
    let f = fixture();
    let asked = asked(&f);
    let mut group = c.benchmark_group("choose");
    group.throughput(Throughput::Elements(asked.len() as u64));
    group.bench_function("plan_and_choose", |b| {
        b.iter(|| {
            asked
                .iter()
                .map(|a| {
                    let plan = heuristics::plan(&a.booking, a.latitude, &f.settings.heuristics);
                    let answers = Answers {
                        base: &a.base,
                        preferred: a.preferred.as_deref(),
                        adults_only: a.adults_only.as_deref(),
                    };
                    let trip = Trip::of(&a.booking, Some(&f.catalog));
                    heuristics::choose(&a.booking, &trip, &plan, answers, 3)
                        .items
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

/// The emails of the fixtures, each with its chosen items, as `render` takes them.
struct Email {
    campaign: usize,
    booking: Booking,
    items: Vec<Recommendation>,
    city: String,
    unsubscribe: Option<String>,
}

fn emails(f: &Fixture) -> Vec<Email> {
    let mut out = Vec::new();
    for a in asked(f) {
        let plan = heuristics::plan(&a.booking, a.latitude, &f.settings.heuristics);
        let answers = Answers {
            base: &a.base,
            preferred: a.preferred.as_deref(),
            adults_only: a.adults_only.as_deref(),
        };
        let trip = Trip::of(&a.booking, Some(&f.catalog));
        let chosen = heuristics::choose(&a.booking, &trip, &plan, answers, 3).items;
        let items = if chosen.len() >= 2 {
            chosen
        } else {
            Vec::new()
        };
        let city = f
            .catalog
            .city_named(&a.booking.city)
            .and_then(|c| c.names.get(a.booking.locale.as_str()))
            .cloned()
            .unwrap_or_else(|| a.booking.city.clone());
        for (i, campaign) in f.settings.campaigns.iter().enumerate() {
            out.push(Email {
                campaign: i,
                booking: a.booking.clone(),
                items: items.clone(),
                city: city.clone(),
                unsubscribe: campaign.wants_unsubscribe().then(|| {
                    format!(
                        "https://www.wanderly.example/unsubscribe?booking={}&sig=x",
                        a.booking.booking_id
                    )
                }),
            });
        }
    }
    out
}

fn input<'a>(f: &'a Fixture, e: &'a Email) -> EmailInput<'a> {
    EmailInput {
        campaign: &f.settings.campaigns[e.campaign],
        booking: &e.booking,
        items: &e.items,
        days_to_travel: Due::at(
            &e.booking,
            &Venue::of(&e.booking, Some(&f.catalog)),
            chrono::DateTime::UNIX_EPOCH,
        )
        .days_to_travel
        .clamp(0, 30),
        city: &e.city,
        block_names_city: true,
        unsubscribe_url: e.unsubscribe.as_deref(),
        manage_url: None,
    }
}

fn render(c: &mut Criterion) {
    let f = fixture();
    let renderer = Renderer::new(&f.settings).expect("templates");
    let emails = emails(&f);
    // Compile every shape (and pass its checks) before measuring.
    for _ in 0..4 {
        for e in &emails {
            renderer.render(input(&f, e)).expect("renders");
        }
    }
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(emails.len() as u64));
    group.sample_size(20);
    group.bench_function("compiled", |b| {
        b.iter(|| {
            emails
                .iter()
                .map(|e| renderer.render(input(&f, e)).expect("renders").html.len())
                .sum::<usize>()
        })
    });
    group.bench_function("straightforward", |b| {
        b.iter(|| {
            emails
                .iter()
                .map(|e| {
                    renderer
                        .render_straight(input(&f, e))
                        .expect("renders")
                        .html
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

fn mime(c: &mut Criterion) {
    let f = fixture();
    let renderer = Renderer::new(&f.settings).expect("templates");
    let from = f.settings.sender.from.clone();
    let outgoing: Vec<OutgoingEmail> = emails(&f)
        .iter()
        .map(|e| {
            let content = renderer.render_straight(input(&f, e)).expect("renders");
            let campaign = &f.settings.campaigns[e.campaign].name;
            OutgoingEmail {
                campaign: campaign.clone(),
                booking_id: e.booking.booking_id.clone(),
                message_id: OutgoingEmail::message_id_for(campaign, &e.booking.booking_id, &from),
                from: from.clone(),
                to: lettre::message::Mailbox::new(
                    Some(e.booking.customer_first_name.clone()),
                    e.booking.customer_email.clone(),
                ),
                subject: content.subject,
                date: chrono::DateTime::UNIX_EPOCH,
                html: content.html,
                text: content.text,
                list_unsubscribe: e.unsubscribe.clone(),
                original_to: None,
                calendar: None,
            }
        })
        .collect();
    let mut group = c.benchmark_group("mime");
    group.throughput(Throughput::Elements(outgoing.len() as u64));
    group.bench_function("to_mime_straight", |b| {
        b.iter(|| {
            outgoing
                .iter()
                .map(|e| e.to_mime_straight().expect("builds").len())
                .sum::<usize>()
        })
    });
    group.bench_function("to_mime", |b| {
        b.iter_batched(
            || (),
            |()| {
                outgoing
                    .iter()
                    .map(|e| e.to_mime().expect("builds").len())
                    .sum::<usize>()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, parse, choose, render, mime);
criterion_main!(benches);
