//! The command line: parses flags, calls the library, prints the outcome once, maps it to an exit code
//! (0 every due email produced, 1 finished with skipped rows or failed emails, 2 fatal).
//!
//! This file holds the clap definitions and the dispatch; each command is a short file of its own
//! (`run`, `plan`, `preview`, `ledger`, `pause` (and `resume`), `validate`, `snapshots`, `synth`, `engine`) driving library code (the
//! runner is [`crate::runner`]), and `console` is everything printed on the terminal.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

mod args;
mod console;
mod engine;
mod ledger;
mod pause;
mod plan;
mod preview;
mod run;
mod serve;
mod snapshots;
mod subjects;
mod synth;
mod validate;

/// Post-purchase emails with a "Complete your trip" block.
#[derive(Debug, Parser)]
#[command(name = "tripmail", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce every email due at `--now`: write them for review, send them over SMTP, or both.
    Run(run::RunArgs),
    /// Foresee what each campaign will send, per day and locale, with the first recipients: the same
    /// due rules and windows as `run`, leaving out what the ledger says was sent.
    Plan(plan::PlanArgs),
    /// Show one booking's email for one campaign.
    Preview(preview::PreviewArgs),
    /// List what the send ledger holds: sent, failed, and pending (claimed or deferred) emails.
    ///
    /// The ledger is named by `--config FILE` (its `state.path`) or `--state PATH`: one of the two
    /// is needed.
    Ledger(ledger::LedgerArgs),
    /// Pause a campaign: nothing of it is produced, planned or sent (by `run`, `plan`, runners and
    /// the console, at once, even mid-run) until it is resumed. Kept in the state database
    /// (`state.path`) with who did it and when, in the audit list (`tripmail ledger`).
    Pause(pause::PauseArgs),
    /// Resume a paused campaign: the next run sends what is due.
    Resume(pause::PauseArgs),
    /// Check the config, every template in every locale, and the bookings header.
    Validate(validate::ValidateArgs),
    /// Write synthetic bookings for a catalog: one day's export of a large distributor at `--now`
    /// (confirmations due, reminders due, cancellations, families, held products, six locales),
    /// the same bytes for the same seed, streamed (any number of rows in constant memory). For
    /// capacity planning and benchmarks: `tripmail run --bookings FILE --dry-run`.
    Synth(synth::SynthArgs),
    /// Snapshot tests of the rendered emails over a case list (`snapshots.toml`): `--check` renders
    /// every case and compares it with its stored snapshot, `--accept` approves the differences,
    /// `--generate` writes a starting case list.
    Snapshots(snapshots::SnapshotsArgs),
    /// Serve the web console: campaigns (pause, resume), the plan, booking lookup, previews and
    /// test sends, runs; with `--every`, the runner in the same process.
    Serve(serve::ServeArgs),
    /// Serve the embedded engine over HTTP: the cross-sell API and the contact-recommendations API.
    Engine(engine::EngineArgs),
}

/// How a command ended (the exit code of a command that did not fail).
enum Exit {
    /// Everything done: exit 0.
    Clean,
    /// Finished, with something to look at (skipped rows, failed emails): exit 1.
    Problems,
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
    match runtime.block_on(dispatch(cli.command)) {
        Ok(Exit::Clean) => ExitCode::SUCCESS,
        Ok(Exit::Problems) => ExitCode::from(1),
        // `tripmail ledger | head`: the reader went away; nothing more to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tripmail: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Plan(args) => plan::plan(args),
        Command::Preview(args) => preview::preview(args).await,
        Command::Ledger(args) => ledger::ledger(args),
        Command::Pause(args) => pause::pause(args, true),
        Command::Resume(args) => pause::pause(args, false),
        Command::Validate(args) => validate::validate(args).await,
        Command::Synth(args) => synth::synth(args),
        Command::Engine(args) => engine::engine(args).await,
        Command::Snapshots(args) => snapshots::snapshots(args).await,
        Command::Serve(args) => serve::serve(args).await,
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

/// Whether the error is standard output closed by its reader (`plan … | head`), however deep: io
/// errors directly, or inside the JSON and CSV writers' own errors.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(is_broken_pipe_error)
}

fn is_broken_pipe_error(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        // A writer's error wrapped in an io error keeps its kind inside.
        return io.kind() == BrokenPipe || io.get_ref().is_some_and(|e| is_broken_pipe_error(e));
    }
    if let Some(json) = e.downcast_ref::<serde_json::Error>() {
        return json.io_error_kind() == Some(BrokenPipe);
    }
    if let Some(csv) = e.downcast_ref::<csv::Error>() {
        return matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe);
    }
    false
}

#[allow(clippy::disallowed_methods)] // the one place the clock is read
fn clock() -> DateTime<Utc> {
    Utc::now()
}
