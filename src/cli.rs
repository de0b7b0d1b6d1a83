//! The command line: parses flags, calls the library, prints the outcome once, maps it to an exit code
//! (0 every due email produced, 1 finished with skipped rows or failed emails, 2 fatal).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use futures::FutureExt;

use std::io::Write;

use lettre::message::Mailbox;

use crate::catalog::Catalog;
use crate::config::{Overrides, Secret, Settings};
use crate::deliver::FileDelivery;
use crate::deliver::{Delivery, SmtpDelivery};
use crate::due::When;
use crate::ledger::{Ledger, SendState};
use crate::plan::{Plan, PlanOptions};
use crate::recommend::engine;
use crate::render::Renderer;
use crate::report::Report;
use crate::run::{Campaigns, Outputs, Preview, PreviewAt, RunOptions, Sending};
use crate::schedule::tick_at_or_after;

/// The most emails a run has in flight (`--parallel`): more gains nothing (the SMTP pool and the
/// rendering threads are far smaller) and costs memory.
const MAX_PARALLEL: u64 = 1024;

/// The unsubscribe secret of the shipped example configs: anyone can sign links with it.
const DEMO_UNSUBSCRIBE_SECRET: &str = "wanderly-demo-unsubscribe-secret";

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
        /// Emails composed and sent at once (1 to 1024: each email in flight holds its message).
        #[arg(long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_PARALLEL))]
        parallel: usize,
        /// Stay up and run a tick at this interval (`5m`, `30s`, `1h`), at its multiples on the
        /// clock, until SIGINT or SIGTERM; each tick sends what is due then. Needs SMTP and the
        /// ledger.
        #[arg(long, value_name = "INTERVAL", value_parser = parse_every)]
        every: Option<std::time::Duration>,
        /// Produce every due email to its last byte (HTML, text, the whole MIME message), then drop
        /// it: nothing is written or sent and the ledger is not touched; only the summary and the
        /// report (`--report`) come out. For capacity planning and benchmarks.
        #[arg(long, conflicts_with_all = ["out", "smtp", "redirect_to", "state", "every"])]
        dry_run: bool,
        /// Make every email the straightforward way (Tera → mrml → lettre's own encoder) instead of
        /// the compiled templates and the fast encoder: the same bytes, several times slower. For
        /// comparisons and benchmarks.
        #[arg(long)]
        straight: bool,
    },
    /// Foresee what each campaign will send, per day and locale, with the first recipients: the same
    /// due rules and windows as `run`, leaving out what the ledger says was sent.
    Plan {
        #[command(flatten)]
        sources: Sources,
        /// The first day (YYYY-MM-DD, from its midnight in `--tz`) or instant (RFC 3339) planned;
        /// `--now` (the clock) by default.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// How many days to plan.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// The runner's interval (`run --every`): each email goes at the first tick it may; without
        /// it, at the first instant.
        #[arg(long, value_name = "INTERVAL", value_parser = parse_every)]
        every: Option<std::time::Duration>,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// The time zone of the days (IANA name).
        #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_tz)]
        tz: chrono_tz::Tz,
        /// Recipients listed per day and campaign.
        #[arg(long, value_name = "N", default_value_t = 3)]
        recipients: usize,
        /// The send ledger, instead of `state.path`.
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
        /// A table for people, JSON for programs, CSV (date, campaign, locale, emails) for
        /// spreadsheets.
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
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
        /// Show the email as it will be on this date of the customer's (YYYY-MM-DD): at the instant
        /// it goes that day, else the window's opening (season, days to travel, Date header).
        #[arg(long, value_name = "DATE", conflicts_with = "now")]
        as_of: Option<chrono::NaiveDate>,
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
        /// Send these emails in doubt again at the next run (`CAMPAIGN/BOOKING_ID`), after checking
        /// the mailbox does not have them.
        #[arg(long, value_name = "CAMPAIGN/BOOKING_ID", conflicts_with = "only")]
        resend: Vec<String>,
        /// Close these emails in doubt as sent (`CAMPAIGN/BOOKING_ID`), after finding them in the
        /// mailbox.
        #[arg(long, value_name = "CAMPAIGN/BOOKING_ID", conflicts_with = "only")]
        close: Vec<String>,
    },
    /// Check the config, every template in every locale, and the bookings header.
    Validate {
        /// The config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Write synthetic bookings for a catalog: one day's export of a large distributor at `--now`
    /// (confirmations due, reminders due, cancellations, families, held products, six locales),
    /// the same bytes for the same seed, streamed (any number of rows in constant memory). For
    /// capacity planning and benchmarks: `tripmail run --bookings FILE --dry-run`.
    Synth {
        /// The catalog the bookings are for.
        #[arg(long)]
        catalog: PathBuf,
        /// How many bookings.
        #[arg(long, value_name = "N")]
        bookings: u64,
        /// The seed: the same seed gives the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// CSV (the bookings.csv columns) or JSON Lines.
        #[arg(long, value_enum, default_value_t = crate::synth::SynthFormat::Csv)]
        format: crate::synth::SynthFormat,
        /// The instant the export is made for (RFC 3339): bookings made in the 48 hours before,
        /// trips 3 days after. A fixed instant by default, so that the output depends only on the
        /// flags.
        #[arg(long, value_parser = parse_now, default_value = crate::synth::DEFAULT_NOW)]
        now: DateTime<Utc>,
        /// Write here instead of standard output.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
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
    /// Claimed by a run that died (when no run is going): the server may have them.
    InDoubt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Table,
    Json,
    Csv,
}

fn parse_every(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not an interval such as 5m, 30s or 1h ({e})"))?;
    if d < std::time::Duration::from_secs(1) || d.subsec_nanos() != 0 {
        return Err(format!(
            "{s:?}: the interval must be a whole number of seconds, at least 1s"
        ));
    }
    Ok(d)
}

fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IANA time zone such as Europe/Paris"))
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

/// Warns, on a run that sends to customers, when its unsubscribe links are signed with the shipped
/// demo secret, which anyone can read in this repository and use to unsubscribe any booking.
fn warn_demo_secret(settings: &Settings) {
    let demo = settings
        .links
        .unsubscribe_secret
        .as_ref()
        .is_some_and(|s| s.expose() == DEMO_UNSUBSCRIBE_SECRET);
    if demo && settings.campaigns.iter().any(|c| c.wants_unsubscribe()) {
        eprintln!("tripmail: warning: links.unsubscribe_secret is the demo secret shipped with the example config: anyone can forge an unsubscribe link for any booking; set a secret of your own in TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET (e.g. `openssl rand -hex 32`)");
    }
}

/// A panic is a bug: say so in one line that tells what to do, then the default message (location,
/// backtrace when asked). The email it happened in, if any, is reported as failed at the end.
fn report_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "tripmail: internal error (a bug; please report it with the lines below): {}",
            crate::deliver::panic_message(info.payload())
        );
        default(info);
    }));
}

/// Parses the process's arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    report_panics();
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
    let Some(url) = &settings.smtp.url else {
        return Ok(None);
    };
    Ok(Some(
        SmtpDelivery::new(url, &settings.smtp).map_err(|e| anyhow::anyhow!("smtp: {e}"))?,
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
            report,
            campaign,
            parallel,
            every,
            dry_run,
            straight,
        } => {
            let settings = load(&sources, smtp, state)?;
            let sends = settings.smtp.url.is_some() && !dry_run;
            if redirect_to.is_some() && !sends {
                anyhow::bail!("--redirect-to sends emails: give --smtp URL or set smtp.url");
            }
            if every.is_some() {
                if sources.now.is_some() {
                    anyhow::bail!("--every runs on the clock; --now is for a single run");
                }
                if !sends || redirect_to.is_some() {
                    anyhow::bail!("--every sends, and each tick sends only what the ledger says the earlier ones did not: give --smtp URL or set smtp.url, without --redirect-to");
                }
            }
            if let Some(name) = &campaign {
                if settings.campaign(name).is_none() {
                    return Err(crate::run::FatalError::UnknownCampaign(name.clone()).into());
                }
            }
            let out = match (&out, sends || dry_run) {
                (None, false) => Some(PathBuf::from("out")),
                _ => out,
            };
            // Redirected previews are not sends: they neither read nor write the ledger. A runner
            // holds the ledger (and its lock) for its whole life.
            let ledger = match sends && redirect_to.is_none() {
                true => Some(Arc::new(Ledger::open(&settings.state.path)?)),
                false => None,
            };
            if ledger.is_some() {
                warn_demo_secret(&settings);
            }
            let stop = Stop::watch();
            let job = Job {
                settings,
                out,
                redirect_to,
                ledger,
                report_path: report,
                campaign,
                parallel,
                cancel: stop.flag.clone(),
                dry_run,
                straight,
            };
            match every {
                None => {
                    let report = job.tick(sources.now.unwrap_or_else(clock), None).await?;
                    // Stopped by a signal: the rest waits for the next run, which should be known.
                    Ok(if report.has_problems() || report.interrupted > 0 {
                        Outcome::Problems
                    } else {
                        Outcome::Clean
                    })
                }
                Some(every) => {
                    job.serve(every, &stop).await;
                    Ok(Outcome::Clean)
                }
            }
        }
        Command::Plan {
            sources,
            from,
            days,
            every,
            campaign,
            tz,
            recipients,
            state,
            format,
        } => {
            let settings = load(&sources, None, state)?;
            let (from, until) = plan_period(from.as_deref(), &sources, days, tz)?;
            let opts = PlanOptions {
                from,
                until,
                every,
                campaign,
                days_in: tz,
                recipients,
            };
            let plan = crate::plan::plan(&settings, &opts)?;
            let mut stdout = std::io::stdout().lock();
            match format {
                PlanFormat::Json => {
                    serde_json::to_writer_pretty(&mut stdout, &plan)?;
                    writeln!(stdout)?;
                }
                PlanFormat::Csv => write_plan_csv(&mut stdout, &plan)?,
                PlanFormat::Table => write_plan_table(&mut stdout, &plan, &settings)?,
            }
            for row in &plan.skipped_rows {
                eprintln!("tripmail: skipped {row}");
            }
            Ok(if plan.skipped_rows.is_empty() {
                Outcome::Clean
            } else {
                Outcome::Problems
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
            as_of,
        } => {
            let settings = load(&sources, smtp.clone().filter(|u| !u.is_empty()), None)?;
            let transport = match smtp {
                Some(_) => Some(smtp_of(&settings)?.ok_or_else(|| {
                    anyhow::anyhow!("--smtp without a URL needs smtp.url in the config")
                })?),
                None => None,
            };
            let campaigns = Campaigns::start(settings).await?;
            let at = match as_of {
                Some(date) => PreviewAt::AsOf(date),
                None => PreviewAt::Now(sources.now.unwrap_or_else(clock)),
            };
            let Preview {
                composed,
                when,
                now,
            } = std::panic::AssertUnwindSafe(campaigns.preview(&booking, &campaign, at))
                .catch_unwind()
                .await
                .map_err(|panic| {
                    anyhow::anyhow!(
                        "the {campaign} email for {booking}: composing it failed unexpectedly (a bug; please report it): {}",
                        crate::deliver::panic_message(&*panic)
                    )
                })??;
            let now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            match when {
                When::Send(_) => {
                    if as_of.is_some() {
                        eprintln!("tripmail: note: the {campaign} email for {booking} goes at {now}; shown as it will be then");
                    }
                }
                When::NotDue => eprintln!("tripmail: note: the {campaign} email is not due for {booking} at {now}; showing it anyway"),
                When::Waiting(t) => eprintln!("tripmail: note: the {campaign} email for {booking} is due at {now} but waits for its campaign's dates, days or window until {}; showing it anyway", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                When::Closed => eprintln!("tripmail: note: the {campaign} email for {booking} is due at {now}, but its campaign will not send it before it stops being due; showing it anyway"),
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
                Format::Eml => composed
                    .email
                    .to_mime()
                    .with_context(|| format!("the {campaign} email for {booking}"))?,
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
            resend,
            close,
        } => {
            let path = match (state, config) {
                (Some(p), _) => p,
                (None, Some(c)) => Settings::load(&c, &Overrides::default())?.state.path,
                (None, None) => anyhow::bail!("give --config FILE or --state PATH"),
            };
            if !resend.is_empty() || !close.is_empty() {
                return settle_in_doubt(&path, &resend, &close);
            }
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
                    Some(Only::InDoubt) => e.state == SendState::Claimed,
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
            crate::run::check_identity_column(&settings, &reader)?;
            println!(
                "{}: ok ({} campaigns, {} renders checked: every locale with 0, 2, 3 and 4 items)",
                config.display(),
                settings.campaigns.len(),
                checked
            );
            Ok(Outcome::Clean)
        }
        Command::Synth {
            catalog,
            bookings,
            seed,
            format,
            now,
            output,
        } => {
            let catalog = Catalog::load(&catalog)?;
            let opts = crate::synth::SynthOptions {
                bookings,
                seed,
                format,
                now,
            };
            let stats = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    crate::synth::write_bookings(&catalog, &opts, file)
                        .with_context(|| format!("cannot write {}", path.display()))?
                }
                None => crate::synth::write_bookings(&catalog, &opts, std::io::stdout().lock())?,
            };
            eprintln!(
                "tripmail: {} bookings ({} booked in the last 48 hours, {} travelling within 3 days, {} cancelled, {} families, {} with held products)",
                stats.bookings,
                stats.booked_recently,
                stats.travelling_soon,
                stats.cancelled,
                stats.families,
                stats.with_held
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

/// The period `plan` covers: from `--from` (a date: its midnight in `tz`, then whole days in `tz`,
/// 23 or 25 hours on daylight-saving days; an RFC 3339 instant; by default `--now` or the clock) for
/// `days` days.
fn plan_period(
    from: Option<&str>,
    sources: &Sources,
    days: u32,
    tz: chrono_tz::Tz,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let span = chrono::Duration::days(i64::from(days));
    let Some(s) = from else {
        let from = sources.now.unwrap_or_else(clock);
        return Ok((from, from + span));
    };
    if let Ok(date) = s.parse::<chrono::NaiveDate>() {
        let start = crate::schedule::ClockTime::START;
        let end = date
            .checked_add_days(chrono::Days::new(u64::from(days)))
            .ok_or_else(|| anyhow::anyhow!("--from {date}: too far in the future"))?;
        return Ok((start.on(date, tz), start.on(end, tz)));
    }
    let from = parse_now(s).map_err(|_| {
        anyhow::anyhow!("--from {s:?} is neither a date (2026-12-10) nor an RFC 3339 instant (2026-12-10T09:00:00Z)")
    })?;
    Ok((from, from + span))
}

/// SIGINT and SIGTERM: the first asks the run to finish the emails in flight and stop; a second ends
/// the process at once (the ledger stays consistent as after a crash: see the README).
struct Stop {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Stop {
    fn watch() -> Stop {
        let flag = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(tokio::sync::Notify::new());
        let (f, n) = (flag.clone(), notify.clone());
        tokio::spawn(async move {
            let Some(name) = next_signal().await else {
                return;
            };
            f.store(true, Ordering::SeqCst);
            n.notify_one();
            eprintln!("tripmail: {name}: finishing the emails in flight, then stopping (again to stop at once)");
            if let Some(name) = next_signal().await {
                eprintln!("tripmail: {name} again: stopping now");
                std::process::exit(130);
            }
        });
        Stop { flag, notify }
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The next SIGINT or SIGTERM; `None` when they cannot be watched.
async fn next_signal() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok()?;
        let mut int = signal(SignalKind::interrupt()).ok()?;
        tokio::select! {
            _ = int.recv() => Some("SIGINT"),
            _ = term.recv() => Some("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
    }
}

/// What `tripmail run` does, once or at each tick.
struct Job {
    settings: Settings,
    out: Option<PathBuf>,
    redirect_to: Option<Mailbox>,
    ledger: Option<Arc<Ledger>>,
    report_path: Option<PathBuf>,
    campaign: Option<String>,
    parallel: usize,
    cancel: Arc<AtomicBool>,
    dry_run: bool,
    straight: bool,
}

impl Job {
    /// One run at `now`: every email due then, produced, written and sent; the report written and
    /// summed up. `next_ticks`: the runner's next two ticks, for which emails may wait.
    async fn tick(
        &self,
        now: DateTime<Utc>,
        next_ticks: Option<[DateTime<Utc>; 2]>,
    ) -> anyhow::Result<Report> {
        // A fresh connection pool and API caches each tick: a server found down in one tick is
        // asked again in the next, and answers are not kept across ticks.
        let mut smtp = match self.dry_run {
            true => None,
            false => smtp_of(&self.settings)?,
        };
        if let Some(smtp) = &mut smtp {
            smtp.stop_when(self.cancel.clone());
        }
        let campaigns = Campaigns::start(self.settings.clone()).await?;
        if let Some(ledger) = &self.ledger {
            ledger.begin_run();
        }
        let files = self.out.as_ref().map(FileDelivery::new);
        let progress = Progress::new();
        let show = |r: &Report| progress.show(r);
        let outputs = Outputs {
            files: files.as_ref().map(|f| f as &dyn Delivery),
            send: smtp.as_ref().map(|smtp| Sending {
                transport: smtp,
                ledger: self
                    .ledger
                    .clone()
                    .map(|l| l as Arc<dyn crate::ledger::SendLedger>),
            }),
            progress: Some(&show),
        };
        let started = std::time::Instant::now();
        let report = campaigns
            .run(
                &RunOptions {
                    now,
                    campaign: self.campaign.clone(),
                    parallel: self.parallel,
                    redirect_to: self.redirect_to.clone(),
                    clock,
                    cancel: Some(self.cancel.clone()),
                    next_ticks,
                    dry_run: self.dry_run,
                    straight: self.straight,
                    keep_records: !self.dry_run || self.report_path.is_some(),
                },
                &outputs,
            )
            .await?;
        progress.finish();
        if self.dry_run {
            let secs = started.elapsed().as_secs_f64();
            let peak = peak_memory_kb()
                .map(|kb| format!(", peak memory {:.1} MB", kb as f64 / 1024.0))
                .unwrap_or_default();
            eprintln!(
                "tripmail: dry run: {} emails produced and dropped in {secs:.2} s ({:.0} emails/s{peak}); nothing written or sent",
                report.rendered,
                report.rendered as f64 / secs.max(1e-9),
            );
        }
        if let Some(out) = &self.out {
            report
                .write(out)
                .with_context(|| format!("cannot write the report in {}", out.display()))?;
        }
        if let Some(path) = &self.report_path {
            report
                .write_json(path)
                .with_context(|| format!("cannot write the report {}", path.display()))?;
        }
        print_summary(&report, self.out.as_deref(), self.ledger.as_deref());
        Ok(report)
    }

    /// Runs a tick now and at every multiple of `every` on the clock, until a signal. A tick that
    /// fails (the bookings file unreadable, a template broken, the SMTP server down) is reported and
    /// the next one tries again.
    async fn serve(&self, every: std::time::Duration, stop: &Stop) {
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        eprintln!(
            "tripmail: running every {} until SIGINT or SIGTERM",
            humantime::format_duration(every)
        );
        let step = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        let mut now = clock();
        loop {
            let next = tick_at_or_after(now + chrono::Duration::nanoseconds(1), every);
            let after = next.checked_add_signed(step).unwrap_or(next);
            println!("tick {}:", stamp(now));
            if let Err(e) = self.tick(now, Some([next, after])).await {
                eprintln!(
                    "tripmail: tick {}: {e:#}; trying again at {}",
                    stamp(now),
                    stamp(next)
                );
            }
            if stop.is_set() {
                break;
            }
            let wait = (next - clock()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.notify.notified() => {}
            }
            if stop.is_set() {
                break;
            }
            // On time, the tick is the instant planned; late (a tick that ran long, a suspended
            // machine), it runs at once at the clock's instant, so that windows are judged right.
            let woke = clock();
            now = if woke - next > chrono::Duration::seconds(1) {
                woke
            } else {
                next
            };
        }
        eprintln!("tripmail: stopped by signal; the ledger is up to date");
    }
}

/// The process's peak resident memory so far (`VmHWM` in `/proc/self/status`), where the system
/// tells it.
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn write_plan_csv(w: &mut impl Write, plan: &Plan) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(["date", "campaign", "locale", "emails"])?;
    for day in &plan.days {
        for (locale, n) in &day.locales {
            csv.write_record([
                day.date.to_string(),
                day.campaign.clone(),
                locale.clone(),
                n.to_string(),
            ])?;
        }
    }
    csv.flush()?;
    Ok(())
}

fn write_plan_table(w: &mut impl Write, plan: &Plan, settings: &Settings) -> std::io::Result<()> {
    let every = match &plan.every {
        Some(e) => format!(", as a runner ticking every {e} sends them"),
        None => String::new(),
    };
    writeln!(
        w,
        "Plan from {} to {} (days in {}{every})",
        plan.from, plan.until, plan.days_in
    )?;
    for c in &settings.campaigns {
        if !plan.totals.contains_key(&c.name) && !plan.disabled.contains(&c.name) {
            continue;
        }
        let mut rules = Vec::new();
        if !c.enabled {
            rules.push("disabled".to_string());
        } else if c.is_transactional() {
            rules.push("transactional: as soon as due, any hour".to_string());
        } else {
            if let Some(w) = c.send_window {
                rules.push(format!("window {w}"));
            }
            if let Some(at) = c.send_at {
                rules.push(format!("at {at}"));
            }
            if let Some(days) = c.send_days {
                rules.push(format!("on {days}"));
            }
            if rules.is_empty() {
                rules.push("any hour".to_string());
            }
        }
        if let Some(d) = c.starts_on {
            rules.push(format!("from {d}"));
        }
        if let Some(d) = c.ends_on {
            rules.push(format!("until {d}"));
        }
        writeln!(
            w,
            "  {}: {} (customer's time zone)",
            c.name,
            rules.join(", ")
        )?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<10}  {:<3}  {:<16} {:>6}  by locale (then the first recipients: when, in UTC and on their clock)",
        "date", "day", "campaign", "emails"
    )?;
    for day in &plan.days {
        let locales: Vec<String> = day
            .locales
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        writeln!(
            w,
            "{:<10}  {:<3}  {:<16} {:>6}  {}",
            day.date.to_string(),
            day.date.format("%a").to_string(),
            day.campaign,
            day.emails,
            locales.join(", ")
        )?;
        for e in &day.first {
            let at = e.at.get(11..16).unwrap_or(&e.at);
            let mark = if e.at == plan.from { '*' } else { ' ' };
            writeln!(
                w,
                "{:<6}{at} UTC{mark} {:<12} {:<34} {} {}",
                "", e.booking_id, e.to, e.local_time, e.timezone
            )?;
        }
        let more = day.emails.saturating_sub(day.first.len() as u64);
        if more > 0 {
            writeln!(w, "{:<6}… and {more} more", "")?;
        }
    }
    if plan.days.is_empty() {
        writeln!(w, "(nothing to send in this period)")?;
    }
    let overdue = plan
        .days
        .iter()
        .flat_map(|d| &d.first)
        .any(|e| e.at == plan.from);
    if overdue {
        writeln!(
            w,
            "* due already when the plan starts: the first run sends it"
        )?;
    }
    writeln!(w)?;
    let totals: Vec<String> = plan
        .totals
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let sum: u64 = plan.totals.values().sum();
    writeln!(w, "total: {sum} emails ({})", totals.join(", "))?;
    if plan.already_done > 0 {
        writeln!(
            w,
            "not planned: {} already sent (or refused for good) per the ledger {}",
            plan.already_done,
            settings.state.path.display()
        )?;
    }
    if !plan.will_not_send.is_empty() {
        writeln!(
            w,
            "will not be sent: {} due in this period, but their campaign's dates, days or window leave no time before they stop being due:",
            plan.will_not_send.len()
        )?;
        for u in &plan.will_not_send {
            writeln!(
                w,
                "  {} {} (due until {})",
                u.campaign, u.booking_id, u.due_until
            )?;
        }
    }
    if !plan.disabled.is_empty() {
        writeln!(w, "disabled: {}", plan.disabled.join(", "))?;
    }
    Ok(())
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
    for f in &report.deferred_emails {
        eprintln!(
            "tripmail: deferred {} / {}: {} (the next run tries it again)",
            f.campaign, f.booking_id, f.reason
        );
    }
    for f in &report.in_doubt {
        eprintln!(
            "tripmail: in doubt {} / {}: {} (the server may have it; the next run sends it again or holds it, as the campaign's in_doubt says)",
            f.campaign, f.booking_id, f.reason
        );
    }
    for f in &report.held_in_doubt {
        eprintln!(
            "tripmail: held in doubt {} / {}: a run that died may have sent it; not sent again until `tripmail ledger --resend {}/{}` (or --close after checking the mailbox)",
            f.campaign, f.booking_id, f.campaign, f.booking_id
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
            "smtp {server}{to}: {} sent, {} retried, {} already sent, {} failed before, {} deferred, {} in doubt, {} taken over from a crash and sent again, {} held in doubt",
            report.sent,
            report.retried,
            report.already_sent,
            report.previously_failed,
            report.deferred,
            report.in_doubt.len(),
            report.resent_in_doubt,
            report.held_in_doubt.len(),
        );
    }
    let later: Vec<String> = [
        (
            report.waiting,
            "waiting for their campaign's window, days or dates",
        ),
        (
            report.held,
            "held for the next tick (the recommendation API failed for them)",
        ),
        (
            report.interrupted,
            "left for the next run (stopped by a signal)",
        ),
        (
            report.closed,
            "due that their campaign will not send before they stop being due",
        ),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !later.is_empty() {
        println!("later: {}", later.join("; "));
    }
    if let Some(why) = &report.stopped {
        eprintln!(
            "tripmail: stopped early: {why}; {} emails not sent ({} deferred, {} not attempted) are kept for the next run",
            report.deferred + report.not_attempted,
            report.deferred,
            report.not_attempted
        );
    }
    for u in &report.unrecorded {
        let whence = match &u.listed_in {
            Some(list) => format!("listed in {list}; the next run records it before sending"),
            None => {
                "NOT listed anywhere a rerun reads: record it before the next run, or it goes again"
                    .into()
            }
        };
        eprintln!(
            "tripmail: sent but not recorded in the ledger {} / {} <{}> to {}: {} ({whence})",
            u.send.campaign, u.send.booking_id, u.send.message_id, u.send.recipient, u.error
        );
    }
    if let Some(ledger) = ledger {
        println!("ledger: {}", ledger.path().display());
        let recovered = ledger.take_recovered();
        if !recovered.is_empty() {
            println!(
                "ledger: {} sends an earlier run could not record were recorded as sent from {} first",
                recovered.len(),
                ledger.list_path().display()
            );
        }
    }
    let review = out.map(|o| format!("; review: {}", o.join("index.html").display()));
    println!(
        "engine: {} requests, {} cache hits{}",
        report.engine_requests,
        report.cache_hits,
        review.unwrap_or_default()
    );
}

/// `tripmail ledger --resend/--close`: settles emails in doubt by hand (the ledger is opened for
/// writing, so not while a run holds it).
fn settle_in_doubt(path: &Path, resend: &[String], close: &[String]) -> anyhow::Result<Outcome> {
    // Settling is for a ledger that exists: a mistyped path must not create one.
    if !path.is_file() {
        anyhow::bail!("{}: no ledger there", path.display());
    }
    let ledger = Ledger::open(path)?;
    let now = clock();
    let mut outcome = Outcome::Clean;
    let asked = resend
        .iter()
        .map(|k| {
            (
                k,
                SendState::Deferred,
                "in doubt: to be sent again (tripmail ledger --resend)",
            )
        })
        .chain(close.iter().map(|k| {
            (
                k,
                SendState::Sent,
                "in doubt: closed as sent (tripmail ledger --close)",
            )
        }));
    for (key, to, reply) in asked {
        let Some((campaign, booking)) = key.split_once('/') else {
            anyhow::bail!("{key:?} is not CAMPAIGN/BOOKING_ID");
        };
        if ledger.settle_in_doubt(campaign, booking, to, reply, now)? {
            println!(
                "{campaign} / {booking}: {}",
                reply.trim_start_matches("in doubt: ")
            );
        } else {
            eprintln!(
                "tripmail: {campaign} / {booking} is not in doubt in {}: left as it is",
                path.display()
            );
            outcome = Outcome::Problems;
        }
    }
    Ok(outcome)
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
