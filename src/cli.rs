//! The command line: parses flags, calls the library, prints the outcome once, maps it to an exit code
//! (0 every due email produced, 1 finished with skipped rows or failed emails, 2 fatal).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

use std::io::Write;

use lettre::message::Mailbox;

use crate::campaign::{Campaigns, Outputs, RunOptions, Sending};
use crate::catalog::Catalog;
use crate::config::{Overrides, Secret, Settings, SmtpUrl};
use crate::deliver::FileDelivery;
use crate::deliver::{Delivery, SmtpDelivery};
use crate::ledger::{Ledger, SendState};
use crate::recommend::engine;
use crate::render::Renderer;
use crate::report::Report;

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
    /// Produce every email due at `--now`: write them for review, send them over SMTP, or both.
    Run {
        #[command(flatten)]
        sources: Sources,
        /// Output folder: `<campaign>/<booking>.eml|.html`, `index.html`, `report.json`. `out` by
        /// default when nothing is sent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Send over SMTP (`smtp://host:port`, `smtp://host:port?tls=starttls`, `smtps://host:port`),
        /// instead of `smtp.url`. Each email goes once per the ledger (`state.path`).
        #[arg(long, value_name = "URL")]
        smtp: Option<String>,
        /// Send every email to this address instead of its customer (sandbox previews); the ledger is
        /// not touched, so this may be repeated freely.
        #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
        redirect_to: Option<Mailbox>,
        /// The send ledger, instead of `state.path`.
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
        /// Also write the JSON report here.
        #[arg(long, value_name = "PATH")]
        report: Option<PathBuf>,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Emails composed and sent at once.
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
        /// Send it as a test over SMTP to `--to`, instead of showing it (`smtp.url` when no URL).
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        smtp: Option<String>,
        /// The address the test goes to; the customer's is kept in `X-Tripmail-Original-To`.
        #[arg(long, value_name = "ADDRESS", value_parser = parse_address, requires = "smtp")]
        to: Option<Mailbox>,
    },
    /// List what the send ledger holds: sent, failed, and pending (claimed or deferred) emails.
    Ledger {
        /// The config file, whose `state.path` is the ledger.
        #[arg(long, required_unless_present = "state")]
        config: Option<PathBuf>,
        /// The ledger file, instead of the config's.
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Only rows in this state.
        #[arg(long, value_enum)]
        only: Option<Only>,
        /// Table for people, JSON for programs.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Check the config, every template in every locale, and the bookings header.
    Validate {
        /// The config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Serve the embedded engine over HTTP: the cross-sell API and the contact-recommendations API.
    Engine {
        /// Catalog file to serve.
        #[arg(long)]
        catalog: PathBuf,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: SocketAddr,
        /// Required key: `Token <key>` (cross-sell) or the Basic password (contact recommendations);
        /// without it any non-empty one is accepted (a missing one is still refused).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    Sent,
    Failed,
    /// Claimed or deferred: not (known to be) sent yet.
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

fn parse_address(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("{s:?} is not an email address ({e})"))
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
        // `tripmail ledger | head`: the reader went away; nothing more to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tripmail: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn load(
    sources: &Sources,
    smtp_url: Option<String>,
    state: Option<PathBuf>,
) -> anyhow::Result<Settings> {
    let overrides = Overrides {
        bookings_path: sources.bookings.clone(),
        catalog: sources.catalog.clone(),
        engine_url: sources.engine_url.clone(),
        smtp_url,
        state_path: state,
    };
    Ok(Settings::load(&sources.config, &overrides)?)
}

/// The SMTP transport of the settings, when they name a server.
fn smtp_of(settings: &Settings) -> anyhow::Result<Option<SmtpDelivery>> {
    let Some(url) = settings.smtp.url.as_deref() else {
        return Ok(None);
    };
    let url = SmtpUrl::parse(url).map_err(|e| anyhow::anyhow!("smtp url: {e}"))?;
    Ok(Some(
        SmtpDelivery::new(&url, &settings.smtp).map_err(|e| anyhow::anyhow!("smtp: {e}"))?,
    ))
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
            smtp,
            redirect_to,
            state,
            report: report_path,
            campaign,
            parallel,
        } => {
            let settings = load(&sources, smtp, state)?;
            let smtp = smtp_of(&settings)?;
            if redirect_to.is_some() && smtp.is_none() {
                anyhow::bail!("--redirect-to sends emails: give --smtp URL or set smtp.url");
            }
            let out = match (&out, &smtp) {
                (None, None) => Some(PathBuf::from("out")),
                _ => out,
            };
            // Redirected previews are not sends: they neither read nor write the ledger.
            let ledger = match (&smtp, &redirect_to) {
                (Some(_), None) => Some(Arc::new(Ledger::open(&settings.state.path)?)),
                _ => None,
            };
            let campaigns = Campaigns::start(settings).await?;
            let now = sources.now.unwrap_or_else(clock);
            let files = out.as_ref().map(FileDelivery::new);
            let progress = Progress::new();
            let show = |r: &Report| progress.show(r);
            let outputs = Outputs {
                files: files.as_ref().map(|f| f as &dyn Delivery),
                send: smtp.as_ref().map(|smtp| Sending {
                    smtp,
                    ledger: ledger.clone(),
                }),
                progress: Some(&show),
            };
            let report = campaigns
                .run(
                    &RunOptions {
                        now,
                        campaign,
                        parallel,
                        redirect_to,
                        clock,
                    },
                    &outputs,
                )
                .await?;
            progress.finish();
            if let Some(out) = &out {
                report
                    .write(out)
                    .with_context(|| format!("cannot write the report in {}", out.display()))?;
            }
            if let Some(path) = &report_path {
                report
                    .write_json(path)
                    .with_context(|| format!("cannot write the report {}", path.display()))?;
            }
            print_summary(&report, out.as_deref(), ledger.as_deref());
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
            smtp,
            to,
        } => {
            let settings = load(&sources, smtp.clone().filter(|u| !u.is_empty()), None)?;
            let transport = match smtp {
                Some(_) => Some(smtp_of(&settings)?.ok_or_else(|| {
                    anyhow::anyhow!("--smtp without a URL needs smtp.url in the config")
                })?),
                None => None,
            };
            let campaigns = Campaigns::start(settings).await?;
            let now = sources.now.unwrap_or_else(clock);
            let (composed, is_due) = campaigns.preview(&booking, &campaign, now).await?;
            if !is_due {
                eprintln!("tripmail: note: the {campaign} email is not due for {booking} at {now}; showing it anyway");
            }
            if let Some(transport) = transport {
                let to = to.ok_or_else(|| {
                    anyhow::anyhow!(
                        "--smtp needs --to ADDRESS: a test goes to you, not to the customer"
                    )
                })?;
                let email = composed.email.redirected(&to);
                let result = transport.send(&email).await;
                transport.close().await;
                return match result {
                    Ok(accepted) => {
                        println!(
                            "sent a test of {campaign} for {booking} to {} via {}: {}",
                            to.email,
                            transport.server(),
                            accepted.reply
                        );
                        Ok(Outcome::Clean)
                    }
                    Err(e) => {
                        eprintln!(
                            "tripmail: test of {campaign} for {booking} to {}: {e}",
                            to.email
                        );
                        Ok(Outcome::Problems)
                    }
                };
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
        Command::Ledger {
            config,
            state,
            campaign,
            only,
            format,
        } => {
            let path = match (state, config) {
                (Some(p), _) => p,
                (None, Some(c)) => Settings::load(&c, &Overrides::default())?.state.path,
                (None, None) => anyhow::bail!("give --config FILE or --state PATH"),
            };
            let ledger = Ledger::open_read(&path)?;
            let entries: Vec<_> = ledger
                .entries(campaign.as_deref())?
                .into_iter()
                .filter(|e| match only {
                    None => true,
                    Some(Only::Sent) => e.state == SendState::Sent,
                    Some(Only::Failed) => e.state == SendState::Failed,
                    Some(Only::Pending) => {
                        matches!(e.state, SendState::Claimed | SendState::Deferred)
                    }
                })
                .collect();
            let mut stdout = std::io::stdout().lock();
            match format {
                ListFormat::Json => {
                    serde_json::to_writer_pretty(&mut stdout, &entries)?;
                    writeln!(stdout)?;
                }
                ListFormat::Table => write_ledger_table(&mut stdout, &path, &entries)?,
            }
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
            let reader = crate::bookings::BookingReader::open(&settings.bookings.path)?;
            crate::campaign::check_identity_column(&settings, &reader)?;
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
            println!("contact recommendations on http://{addr}/api/v2/contacts/recoms/{{dataSourceId}}?email=…&products=…");
            let server = engine::serve(listener, catalog, api_key.map(Secret::new));
            tokio::select! {
                r = server => r?,
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(Outcome::Clean)
        }
    }
}

/// The last lines of a run: what was produced, sent, and what to do about what was not.
fn print_summary(report: &Report, out: Option<&Path>, ledger: Option<&Ledger>) {
    for row in &report.skipped_rows {
        eprintln!("tripmail: skipped {row}");
    }
    for f in &report.failed {
        eprintln!(
            "tripmail: failed {} / {}: {}",
            f.campaign, f.booking_id, f.reason
        );
    }
    for (error, n) in &report.engine_errors {
        let emails = if *n == 1 { "email" } else { "emails" };
        eprintln!("tripmail: engine {error} ({n} {emails} without a block)");
    }
    for f in &report.in_doubt {
        eprintln!(
            "tripmail: in doubt {} / {}: {} (the server may have it; the next run sends it again)",
            f.campaign, f.booking_id, f.reason
        );
    }
    let without: Vec<String> = report
        .without_block
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let without = if without.is_empty() {
        String::new()
    } else {
        format!("; without: {}", without.join(", "))
    };
    println!(
        "{} emails due at {}: {} produced ({} with a block{without}), {} failed, {} rows skipped",
        report.due,
        report.now,
        report.rendered,
        report.with_block,
        report.failed.len(),
        report.skipped_rows.len(),
    );
    if let Some(server) = &report.smtp {
        let to = match &report.redirected_to {
            Some(addr) => format!(" (all redirected to {addr}; ledger untouched)"),
            None => String::new(),
        };
        println!(
            "smtp {server}{to}: {} sent, {} retried, {} already sent, {} failed before, {} deferred, {} in doubt, {} resent after a crash",
            report.sent,
            report.retried,
            report.already_sent,
            report.previously_failed,
            report.deferred,
            report.in_doubt.len(),
            report.resent_in_doubt,
        );
    }
    if let Some(why) = &report.stopped {
        eprintln!(
            "tripmail: stopped early: {why}; {} emails not sent ({} deferred, {} not attempted) are kept for the next run",
            report.deferred + report.not_attempted,
            report.deferred,
            report.not_attempted
        );
    }
    if let Some(ledger) = ledger {
        println!("ledger: {}", ledger.path().display());
    }
    let review = out.map(|o| format!("; review: {}", o.join("index.html").display()));
    println!(
        "engine: {} requests, {} cache hits{}",
        report.engine_requests,
        report.cache_hits,
        review.unwrap_or_default()
    );
}

fn write_ledger_table(
    w: &mut impl Write,
    path: &Path,
    entries: &[crate::ledger::Entry],
) -> std::io::Result<()> {
    writeln!(
        w,
        "{:<16} {:<20} {:<9} {:>3}  {:<24}  {:<32} reply",
        "campaign", "booking", "state", "try", "updated", "recipient"
    )?;
    for e in entries {
        writeln!(
            w,
            "{:<16} {:<20} {:<9} {:>3}  {:<24}  {:<32} {}",
            e.campaign,
            e.booking_id,
            e.state.to_string(),
            e.attempts,
            e.updated_at,
            e.recipient,
            e.reply.as_deref().unwrap_or("")
        )?;
    }
    let count = |s: &[SendState]| entries.iter().filter(|e| s.contains(&e.state)).count();
    writeln!(
        w,
        "{}: {} sent, {} failed, {} pending ({} claimed, {} deferred)",
        path.display(),
        count(&[SendState::Sent]),
        count(&[SendState::Failed]),
        count(&[SendState::Claimed, SendState::Deferred]),
        count(&[SendState::Claimed]),
        count(&[SendState::Deferred]),
    )
}

/// Progress of a run on standard error: a live line on a terminal (indicatif), else a plain line
/// every few seconds.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    last: std::sync::Mutex<std::time::Instant>,
}

impl Progress {
    const PLAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    fn new() -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        let now = std::time::Instant::now();
        Progress {
            bar,
            started: now,
            last: std::sync::Mutex::new(now),
        }
    }

    fn line(&self, r: &Report) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mut line = format!(
            "{} due, {} produced, {} failed",
            r.due,
            r.rendered,
            r.failed.len()
        );
        if r.smtp.is_some() {
            line.push_str(&format!(
                ", {} sent, {} already sent, {} deferred",
                r.sent, r.already_sent, r.deferred
            ));
        }
        line.push_str(&format!(" ({:.0}/s)", r.due as f64 / secs));
        line
    }

    fn show(&self, r: &Report) {
        match &self.bar {
            Some(bar) => bar.set_message(self.line(r)),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Self::PLAIN_EVERY {
                    *last = std::time::Instant::now();
                    eprintln!("tripmail: {}", self.line(r));
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}
