//! The console on a big day: 100,000 synthetic bookings (`tripmail synth`, seed 0, at
//! 2026-12-10T09:00:00Z), the console served in this process on a loopback port, each page asked
//! for over HTTP with a logged-in session, several times; the median and the slowest are printed,
//! and how many times the bookings file was read (once: pages share one copy, read again only when
//! the file changes). Then the snapshot pages on the shipped demo (its bookings and 26 cases).
//!
//! `cargo bench --bench console` (`-- 10000` for another number of bookings). Figures: README,
//! "The console". Not a test: nothing here asserts a time.

use std::time::{Duration, Instant};

use tripmail::catalog::Catalog;
use tripmail::config::{Overrides, Secret, Settings};
use tripmail::console::{self, Console};
use tripmail::runner::Halt;
use tripmail::synth::{SynthOptions, DEFAULT_NOW};

const TOKEN: &str = "bench-console-token";
const ROUNDS: usize = 9;

type Failure = Box<dyn std::error::Error>;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(DEFAULT_NOW)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

fn main() -> Result<(), Failure> {
    let count: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir()?;
    let bookings = dir.path().join("bookings.csv");
    let catalog = Catalog::load(&root.join("fixtures/catalog.json"))?;
    let opts = SynthOptions {
        bookings: count,
        now: now(),
        ..SynthOptions::default()
    };
    tripmail::synth::write_bookings(&catalog, &opts, std::fs::File::create(&bookings)?)?;
    let settings = Settings::load(
        &root.join("fixtures/campaign.toml"),
        &Overrides {
            bookings_path: Some(bookings.clone()),
            state_path: Some(dir.path().join("state.sqlite")),
            ..Overrides::default()
        },
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench(settings, &bookings, count))?;
    runtime.block_on(snapshot_pages(root))
}

/// The console's clock: the synthetic day's morning.
fn pinned() -> chrono::DateTime<chrono::Utc> {
    now()
}

async fn bench(settings: Settings, bookings: &std::path::Path, count: u64) -> Result<(), Failure> {
    let listener = console::bind("127.0.0.1:0".parse()?, false).await?;
    let addr = listener.local_addr()?;
    let halt = Halt::new();
    // No case list beside the synthetic bookings: the snapshot pages are measured below.
    let c = console_of(settings, &bookings.with_extension("toml"));
    let ready = console::prepare(c).await?;
    let stop = halt.clone();
    let server = tokio::spawn(async move { console::serve(listener, ready, stop).await });
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
    let cookie = log_in(&http, &base).await?;
    let (id, email) = first_booking(bookings)?;
    println!("console over {count} bookings, {ROUNDS} requests per page after a first one:");
    let pages = [
        ("lookup by id", format!("/lookup?q={id}")),
        (
            "lookup by email",
            format!("/lookup?q={}", email.replace('@', "%40")),
        ),
        ("campaigns", "/".to_string()),
        ("plan (14 days)", "/plan".to_string()),
        (
            "preview",
            format!("/preview?booking={id}&campaign=confirmation"),
        ),
        (
            "preview in German",
            format!("/preview?booking={id}&campaign=reminder&lang=de"),
        ),
        ("runs", "/runs".to_string()),
    ];
    let get = |path: String| fetch(&http, &cookie, &base, path);
    measure(&http, &cookie, &base, &pages).await?;
    // The plan made again: each round pauses or resumes a campaign first, which changes the plan.
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (_, page) = get("/".to_string()).await?;
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .ok_or("no csrf field")?
            .to_string();
        let action = if round % 2 == 0 { "pause" } else { "resume" };
        http.post(format!("{base}/campaigns/reminder/{action}"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await?;
        times.push(get("/plan".to_string()).await?.0);
    }
    report("plan after a pause", None, &mut times);
    halt.request();
    server.await??;
    Ok(())
}

/// The console of the bench: `settings`, the bench's token and clock, no runner; its case list
/// beside `config`.
fn console_of(settings: Settings, config: &std::path::Path) -> Console {
    Console {
        settings,
        token: Secret::new(TOKEN),
        clock: pinned,
        remote: false,
        every: None,
        ledger: None,
        state: None,
        snapshots: tripmail::snapshots::Paths::beside(config, None, None),
    }
}

/// Logs in on the console at `base`: the session cookie.
async fn log_in(http: &reqwest::Client, base: &str) -> Result<String, Failure> {
    let login = http
        .post(format!("{base}/login"))
        .form(&[("token", TOKEN), ("who", "bench")])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("no session cookie")?
        .to_string();
    Ok(cookie)
}

/// `GET path`: how long it took and the page.
async fn fetch(
    http: &reqwest::Client,
    cookie: &str,
    base: &str,
    path: String,
) -> Result<(Duration, String), Failure> {
    let t = Instant::now();
    let r = http
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    if !status.is_success() {
        return Err(format!("{path}: {status}: {body}").into());
    }
    Ok((t.elapsed(), body))
}

/// Each page once, then [`ROUNDS`] times: a line each.
async fn measure(
    http: &reqwest::Client,
    cookie: &str,
    base: &str,
    pages: &[(&str, String)],
) -> Result<(), Failure> {
    for (name, path) in pages {
        let mut times = Vec::with_capacity(ROUNDS);
        let (first, _) = fetch(http, cookie, base, path.clone()).await?;
        for _ in 0..ROUNDS {
            times.push(fetch(http, cookie, base, path.clone()).await?.0);
        }
        report(name, Some(first), &mut times);
    }
    Ok(())
}

/// The snapshot pages on the shipped demo (its bookings, its 26 cases): every load makes every
/// case from the templates on disk.
async fn snapshot_pages(root: &std::path::Path) -> Result<(), Failure> {
    let config = root.join("fixtures/campaign.toml");
    let dir = tempfile::tempdir()?;
    let settings = Settings::load(
        &config,
        &Overrides {
            state_path: Some(dir.path().join("state.sqlite")),
            ..Overrides::default()
        },
    )?;
    let listener = console::bind("127.0.0.1:0".parse()?, false).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let halt = Halt::new();
    let c = console_of(settings, &config);
    let ready = console::prepare(c).await?;
    let stop = halt.clone();
    let server = tokio::spawn(async move { console::serve(listener, ready, stop).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
    let cookie = log_in(&http, &base).await?;
    println!("snapshot pages on the shipped demo ({ROUNDS} requests per page after a first one):");
    let pages = [
        ("gallery (26 cases)", "/snapshots".to_string()),
        (
            "one case's review",
            "/snapshots/case/reminder-de-block".to_string(),
        ),
    ];
    measure(&http, &cookie, &base, &pages).await?;
    halt.request();
    server.await??;
    Ok(())
}

/// One line: the first request (when apart), the median and the slowest of the others.
fn report(name: &str, first: Option<Duration>, times: &mut [Duration]) {
    times.sort();
    let first = first
        .map(|f| format!("first {:>8.1} ms · ", ms(f)))
        .unwrap_or_else(|| format!("{:19}", ""));
    println!(
        "  {name:<20} {first}median {:>8.1} ms · slowest {:>8.1} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The first booking's id and email.
fn first_booking(path: &std::path::Path) -> Result<(String, String), Failure> {
    let mut reader = csv::Reader::from_path(path)?;
    let headers = reader.headers()?.clone();
    let row = reader.records().next().ok_or("no booking")??;
    let get = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .map(str::to_string)
            .ok_or(format!("no column {name}"))
    };
    Ok((get("booking_id")?, get("customer_email")?))
}
