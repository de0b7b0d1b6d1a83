//! The console on a big day: 100,000 synthetic bookings (`tripmail synth`, seed 0, at
//! 2026-12-10T09:00:00Z), the console served in this process on a loopback port, each page asked
//! for over HTTP with a logged-in session, several times; the median and the slowest are printed,
//! and how many times the bookings file was read (once: pages share one copy, read again only when
//! the file changes).
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
    runtime.block_on(bench(settings, &bookings, count))
}

/// The console's clock: the synthetic day's morning.
fn pinned() -> chrono::DateTime<chrono::Utc> {
    now()
}

async fn bench(settings: Settings, bookings: &std::path::Path, count: u64) -> Result<(), Failure> {
    let listener = console::bind("127.0.0.1:0".parse()?, false).await?;
    let addr = listener.local_addr()?;
    let halt = Halt::new();
    let c = Console {
        settings,
        token: Secret::new(TOKEN),
        clock: pinned,
        every: None,
        ledger: None,
        state: None,
    };
    let ready = console::prepare(c).await?;
    let stop = halt.clone();
    let server = tokio::spawn(async move { console::serve(listener, ready, stop).await });
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
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
    let (id, email) = first_booking(bookings)?;
    println!("console over {count} bookings, {ROUNDS} requests per page (the first one apart):");
    let pages = [
        ("campaigns", "/".to_string()),
        ("plan (14 days)", "/plan".to_string()),
        ("lookup by id", format!("/lookup?q={id}")),
        (
            "lookup by email",
            format!("/lookup?q={}", email.replace('@', "%40")),
        ),
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
    for (name, path) in pages {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut first = Duration::ZERO;
        for round in 0..=ROUNDS {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = r.status();
            let body = r.bytes().await?;
            if !status.is_success() {
                return Err(format!("{path}: {status}: {}", String::from_utf8_lossy(&body)).into());
            }
            match round {
                0 => first = t.elapsed(),
                _ => times.push(t.elapsed()),
            }
        }
        times.sort();
        println!(
            "  {name:<20} first {:>8.1} ms · median {:>8.1} ms · slowest {:>8.1} ms",
            ms(first),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    halt.request();
    server.await??;
    Ok(())
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
