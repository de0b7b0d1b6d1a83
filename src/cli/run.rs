//! `tripmail run`: the flags of a run, checked together, turned into a [`Job`] that runs once or stays
//! up (`--every`); the runner itself is the library's ([`crate::runner`]).

use std::path::PathBuf;

use lettre::message::Mailbox;

use super::args::{parse_address, parse_every, Sources};
use super::console::{self, Terminal};
use super::Exit;
use crate::config::Settings;
use crate::runner::{
    open_for_sending, signs_with_demo_secret, watch_signals, Halt, Job, SignalSeen,
    DEFAULT_PARALLEL,
};

/// The most emails a run has in flight (`--parallel`): more gains nothing (the SMTP pool and the
/// rendering threads are far smaller) and costs memory.
const MAX_PARALLEL: u64 = 1024;

/// The flags of `tripmail run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
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
    #[arg(long, default_value_t = DEFAULT_PARALLEL, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_PARALLEL))]
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
}

/// Runs once at `--now`, or a tick at each multiple of `--every` until a signal.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let settings = args.sources.load(args.smtp.clone(), args.state.clone())?;
    let sends = settings.smtp.url.is_some() && !args.dry_run;
    check(&args, &settings, sends)?;
    let job = job(&args, settings, sends)?;
    let halt = job.halt.clone();
    watch_signals(&halt, |seen| match seen {
        SignalSeen::First(name) => console::signal_first(name),
        SignalSeen::Again(name) => {
            console::signal_again(name);
            std::process::exit(130);
        }
    });
    match args.every {
        None => {
            let report = job.tick(args.sources.now(), None, &Terminal).await?;
            // Stopped by a signal: the rest waits for the next run, which should be known.
            Ok(if report.has_problems() || report.interrupted > 0 {
                Exit::Problems
            } else {
                Exit::Clean
            })
        }
        Some(every) => {
            job.serve(every, &Terminal).await;
            Ok(Exit::Clean)
        }
    }
}

/// The flags that only make sense together.
fn check(args: &RunArgs, settings: &Settings, sends: bool) -> anyhow::Result<()> {
    if args.redirect_to.is_some() && !sends {
        anyhow::bail!("--redirect-to sends emails: give --smtp URL or set smtp.url");
    }
    if args.every.is_some() {
        if args.sources.now.is_some() {
            anyhow::bail!("--every runs on the clock; --now is for a single run");
        }
        if !sends || args.redirect_to.is_some() {
            anyhow::bail!("--every sends, and each tick sends only what the ledger says the earlier ones did not: give --smtp URL or set smtp.url, without --redirect-to");
        }
    }
    if let Some(name) = &args.campaign {
        if settings.campaign(name).is_none() {
            return Err(crate::run::FatalError::UnknownCampaign(name.clone()).into());
        }
    }
    Ok(())
}

/// The job the flags describe: where the emails go, and the ledger, held for the job's whole life.
fn job(args: &RunArgs, settings: Settings, sends: bool) -> anyhow::Result<Job> {
    let out = match (&args.out, sends || args.dry_run) {
        (None, false) => Some(PathBuf::from("out")),
        _ => args.out.clone(),
    };
    // Redirected previews are not sends: they neither read nor write the ledger. A runner holds the
    // ledger (and its lock) for its whole life.
    let (ledger, state) = match sends && args.redirect_to.is_none() {
        true => {
            let (ledger, state) = open_for_sending(&settings.state, super::clock())?;
            (Some(ledger), Some(state))
        }
        false => (None, None),
    };
    if ledger.is_some() && signs_with_demo_secret(&settings) {
        console::warn_demo_secret();
    }
    Ok(Job {
        settings,
        out,
        redirect_to: args.redirect_to.clone(),
        ledger,
        report_path: args.report.clone(),
        campaign: args.campaign.clone(),
        parallel: args.parallel,
        halt: Halt::new(),
        dry_run: args.dry_run,
        straight: args.straight,
        clock: super::clock,
        state,
    })
}
