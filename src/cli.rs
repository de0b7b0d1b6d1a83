//! The command line: parses flags, calls the library, prints the outcome once, maps it to an exit code
//! (0 every due email produced, 1 finished with skipped rows or failed emails, 2 fatal).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use crate::campaign::{Campaigns, RunOptions};
use crate::catalog::Catalog;
use crate::config::{Overrides, Secret, Settings};
use crate::deliver::FileDelivery;
use crate::recommend::engine;
use crate::render::Renderer;

/// Post-purchase emails with a "Complete your trip" block.
#[derive(Debug, Parser)]
#[command(name = "tripmail", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct Sources {
    /// The config file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Bookings file (.csv or .jsonl), instead of `bookings.path`.
    #[arg(long)]
    bookings: Option<PathBuf>,
    /// Catalog file, instead of `engine.catalog`.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Engine base URL, or `embedded`, instead of `engine.base_url`.
    #[arg(long)]
    engine_url: Option<String>,
    /// The instant to run at (RFC 3339); the clock by default.
    #[arg(long, value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce every email due at `--now` and write them for review.
    Run {
        #[command(flatten)]
        sources: Sources,
        /// Output folder: `<campaign>/<booking>.eml|.html`, `index.html`, `report.json`.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Emails composed at once.
        #[arg(long, default_value_t = 64)]
        parallel: usize,
    },
    /// Show one booking's email for one campaign.
    Preview {
        #[command(flatten)]
        sources: Sources,
        /// The booking id.
        #[arg(long)]
        booking: String,
        /// The campaign name.
        #[arg(long)]
        campaign: String,
        /// What to show.
        #[arg(long, value_enum, default_value_t = Format::Html)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Check the config, every template in every locale, and the bookings header.
    Validate {
        /// The config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Serve the embedded cross-sell engine over HTTP.
    Engine {
        /// Catalog file to serve.
        #[arg(long)]
        catalog: PathBuf,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: SocketAddr,
        /// Required token; without it any `Token <x>` is accepted (a missing one is still refused).
        #[arg(long, env = "TRIPMAIL_ENGINE__API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Html,
    Mjml,
    Text,
    Eml,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 instant such as 2026-12-10T09:00:00Z ({e})"))
}

/// How a command ended.
enum Outcome {
    Clean,
    Problems,
}

/// Parses the process's arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tripmail: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tripmail: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load(sources: &Sources) -> anyhow::Result<Settings> {
    let overrides = Overrides {
        bookings_path: sources.bookings.clone(),
        catalog: sources.catalog.clone(),
        engine_url: sources.engine_url.clone(),
    };
    Ok(Settings::load(&sources.config, &overrides)?)
}

#[allow(clippy::disallowed_methods)] // the one place the clock is read
fn clock() -> DateTime<Utc> {
    Utc::now()
}

async fn execute(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Run {
            sources,
            out,
            campaign,
            parallel,
        } => {
            let settings = load(&sources)?;
            let campaigns = Campaigns::start(settings).await?;
            let now = sources.now.unwrap_or_else(clock);
            let report = campaigns
                .run(
                    &RunOptions {
                        now,
                        campaign,
                        parallel,
                    },
                    &FileDelivery::new(&out),
                )
                .await?;
            report
                .write(&out)
                .with_context(|| format!("cannot write the report in {}", out.display()))?;
            for row in &report.skipped_rows {
                eprintln!("tripmail: skipped {row}");
            }
            for f in &report.failed {
                eprintln!(
                    "tripmail: failed {} / {}: {}",
                    f.campaign, f.booking_id, f.reason
                );
            }
            let without: Vec<String> = report
                .without_block
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!(
                "{} emails due at {}: {} written to {} ({} with a block{}), {} failed, {} rows skipped",
                report.due,
                report.now,
                report.rendered,
                out.display(),
                report.with_block,
                if without.is_empty() { String::new() } else { format!("; without: {}", without.join(", ")) },
                report.failed.len(),
                report.skipped_rows.len(),
            );
            println!(
                "engine: {} requests, {} cache hits; review: {}",
                report.engine_requests,
                report.cache_hits,
                out.join("index.html").display()
            );
            Ok(if report.has_problems() {
                Outcome::Problems
            } else {
                Outcome::Clean
            })
        }
        Command::Preview {
            sources,
            booking,
            campaign,
            format,
            output,
        } => {
            let settings = load(&sources)?;
            let campaigns = Campaigns::start(settings).await?;
            let now = sources.now.unwrap_or_else(clock);
            let (composed, is_due) = campaigns.preview(&booking, &campaign, now).await?;
            if !is_due {
                eprintln!("tripmail: note: the {campaign} email is not due for {booking} at {now}; showing it anyway");
            }
            let bytes = match format {
                Format::Html => composed.content.html.into_bytes(),
                Format::Mjml => composed.content.mjml.into_bytes(),
                Format::Text => composed.content.text.into_bytes(),
                Format::Eml => composed.email.to_mime()?,
            };
            write_output(output.as_deref(), &bytes)?;
            Ok(Outcome::Clean)
        }
        Command::Validate { config } => {
            let settings = Settings::load(&config, &Overrides::default())?;
            let catalog = match &settings.engine.catalog {
                Some(path) => Some(Catalog::load(path)?),
                None => None,
            };
            let renderer = Renderer::new(&settings)?;
            let checked = renderer.check_all(&settings, catalog.as_ref())?;
            crate::bookings::BookingReader::open(&settings.bookings.path)?;
            println!(
                "{}: ok ({} campaigns, {} renders checked: every locale with 0, 2, 3 and 4 items)",
                config.display(),
                settings.campaigns.len(),
                checked
            );
            Ok(Outcome::Clean)
        }
        Command::Engine {
            catalog,
            listen,
            api_key,
        } => {
            let catalog = Arc::new(Catalog::load(&catalog)?);
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            println!("cross-sell engine on http://{addr}/v2/products/{{id}}/recommendations/cross-sell (Ctrl-C stops)");
            let server = engine::serve(listener, catalog, api_key.map(Secret::new));
            tokio::select! {
                r = server => r?,
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(Outcome::Clean)
        }
    }
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}
