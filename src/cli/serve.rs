//! `tripmail serve`: the web console ([`crate::console`]) on loopback, with the runner in the same
//! process when `--every` is given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use super::args::{parse_every, Sources};
use super::console::outln;
use super::Exit;
use crate::config::Secret;
use crate::console::{self, Console};
use crate::runner::{open_for_sending, watch_signals, Halt, SignalSeen};

/// The flags of `tripmail serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    sources: Sources,
    /// The address to listen on: loopback (127.0.0.1, ::1) unless `--allow-remote`.
    #[arg(long, default_value = "127.0.0.1:8025")]
    listen: SocketAddr,
    /// Listen on an address other than loopback (put TLS in front of it).
    #[arg(long)]
    allow_remote: bool,
    /// Run the runner in this process, a tick at each multiple of this interval (`5m`); needs SMTP
    /// and holds the ledger, as `run --every` does.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_every)]
    every: Option<std::time::Duration>,
    /// The SMTP server of test sends and of the runner, instead of `smtp.url`.
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    /// The state database (the send ledger, pauses, run history), instead of `state.path`.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// The snapshot case list of the Snapshots pages; `snapshots.toml` beside the config by
    /// default (looked for at each page, so a list written meanwhile is seen on reload).
    #[arg(long, value_name = "FILE")]
    cases: Option<PathBuf>,
    /// The snapshot folder; `snapshots/` beside the case list by default.
    #[arg(long, value_name = "DIR")]
    snapshot_dir: Option<PathBuf>,
}

/// How far `--now` moved the console's clock from the wall clock.
static SHIFT: OnceLock<chrono::Duration> = OnceLock::new();

/// The wall clock, moved by `--now`.
fn shifted_clock() -> DateTime<Utc> {
    super::clock() + SHIFT.get().copied().unwrap_or_else(chrono::Duration::zero)
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<Exit> {
    let settings = args.sources.load(args.smtp.clone(), args.state.clone())?;
    if let Some(now) = args.sources.now {
        let _ = SHIFT.set(now - super::clock());
    }
    let (ledger, state) = match args.every {
        Some(_) if settings.smtp.url.is_none() => {
            anyhow::bail!("--every sends what is due at each tick: give --smtp URL or set smtp.url")
        }
        Some(_) => {
            let (ledger, state) = open_for_sending(&settings.state, shifted_clock())?;
            (Some(ledger), Some(state))
        }
        None => (None, None),
    };
    let (token, generated) = match settings.console.token.clone() {
        Some(t) if !t.expose().trim().is_empty() => (t, false),
        _ => (
            Secret::new(console::random_token().ok_or_else(|| {
                anyhow::anyhow!("cannot make a login token: the system has no randomness to give; set TRIPMAIL_CONSOLE__TOKEN")
            })?),
            true,
        ),
    };
    if args.allow_remote && token.expose().trim().chars().count() < 16 {
        anyhow::bail!("--allow-remote: the console's token (TRIPMAIL_CONSOLE__TOKEN) must be 16 characters or more when other machines can reach it; leave it unset and one of 256 random bits is made");
    }
    let paths = crate::snapshots::Paths::beside(
        &args.sources.config,
        args.cases.as_deref(),
        args.snapshot_dir.as_deref(),
    );
    if args.cases.is_some() && !paths.cases.exists() {
        anyhow::bail!(
            "--cases {}: no such file (write one with `tripmail snapshots --generate --cases FILE`)",
            paths.cases.display()
        );
    }
    let listener = console::bind(args.listen, args.allow_remote).await?;
    let addr = listener.local_addr()?;
    let ready = console::prepare(Console {
        token: token.clone(),
        settings,
        clock: shifted_clock,
        remote: args.allow_remote,
        every: args.every,
        ledger,
        state,
        snapshots: paths,
    })
    .await?;
    outln!("tripmail console: http://{addr}/");
    if generated {
        // Printed once, for the person who started it; set TRIPMAIL_CONSOLE__TOKEN to choose one.
        outln!("token: {}", token.expose());
    }
    if !addr.ip().is_loopback() {
        eprintln!("tripmail: warning: the console listens on {addr}, beyond this machine; put TLS in front of it");
    }
    let halt = Halt::new();
    watch_signals(&halt, |seen| {
        if let SignalSeen::Again(_) = seen {
            std::process::exit(130);
        }
    });
    console::serve(listener, ready, halt).await?;
    Ok(Exit::Clean)
}
