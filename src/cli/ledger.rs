//! `tripmail ledger`: what the send ledger holds (and, from the state in the same file, the
//! campaigns paused and the audit list), as a table or JSON, and the emails in doubt settled by
//! hand (`--resend`, `--close`).

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::console::{self, outln};
use super::Exit;
use crate::config::{Overrides, Settings, StateSettings};
use crate::ledger::{Entry, Ledger, SendLedger, SendState};
use crate::state::{AuditEntry, Pause};

/// The flags of `tripmail ledger`.
#[derive(Debug, clap::Args)]
pub(crate) struct LedgerArgs {
    /// The config file, whose `state.path` is the ledger. This or `--state` is needed.
    #[arg(long, required_unless_present = "state")]
    config: Option<PathBuf>,
    /// The ledger file, instead of the config's. This or `--config` is needed.
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
    /// Copy this SQLite ledger (sends, pauses, audit) into the PostgreSQL database at this URL
    /// (the password from `TRIPMAIL_STATE__PASSWORD` or the URL), so that runners on PostgreSQL
    /// send nothing already sent. Takes the runner lock: not while a run holds the ledger.
    #[arg(long, value_name = "URL", conflicts_with_all = ["only", "resend", "close", "campaign"])]
    copy_to: Option<String>,
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

impl Only {
    fn keeps(self, state: SendState) -> bool {
        match self {
            Only::Sent => state == SendState::Sent,
            Only::Failed => state == SendState::Failed,
            Only::Pending => matches!(state, SendState::Claimed | SendState::Deferred),
            Only::InDoubt => state == SendState::Claimed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

/// Lists the ledger's rows, or settles the emails in doubt named by `--resend` and `--close`.
pub(crate) fn ledger(args: LedgerArgs) -> anyhow::Result<Exit> {
    let state = match (args.state, args.config) {
        (Some(path), _) => StateSettings {
            path,
            ..StateSettings::default()
        },
        (None, Some(c)) => Settings::load(&c, &Overrides::default())?.state,
        (None, None) => anyhow::bail!("give --config FILE or --state PATH"),
    };
    if !args.resend.is_empty() || !args.close.is_empty() {
        return settle_in_doubt(&state, &args.resend, &args.close);
    }
    if let Some(url) = &args.copy_to {
        return copy_to(&state, url);
    }
    let ledger = match crate::store::open_read(&state)? {
        Some(ledger) => ledger,
        // Says that nothing was sent with this file yet.
        None => std::sync::Arc::new(Ledger::open_read(&state.path)?),
    };
    let path = ledger.path().to_path_buf();
    let entries: Vec<Entry> = ledger
        .entries(args.campaign.as_deref())?
        .into_iter()
        .filter(|e| args.only.is_none_or(|only| only.keeps(e.state)))
        .collect();
    let (paused, audit) = state_of(&state, args.campaign.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        ListFormat::Json => {
            let listed = Listed {
                sends: entries,
                paused,
                audit,
            };
            serde_json::to_writer_pretty(&mut stdout, &listed)?;
            writeln!(stdout)?;
        }
        ListFormat::Table => {
            console::write_ledger_table(&mut stdout, &path, &entries)?;
            console::write_state_table(&mut stdout, &paused, &audit)?;
        }
    }
    Ok(Exit::Clean)
}

/// The audit entries `tripmail ledger` lists, newest first.
const AUDIT_LISTED: usize = 50;

/// What `tripmail ledger --format json` prints.
#[derive(serde::Serialize)]
struct Listed {
    /// The ledger's rows.
    sends: Vec<Entry>,
    /// The campaigns paused now.
    paused: Vec<Pause>,
    /// The last pauses and resumes, newest first.
    audit: Vec<AuditEntry>,
}

/// The campaigns paused and the last [`AUDIT_LISTED`] audit entries (one campaign's, if given).
fn state_of(
    state: &StateSettings,
    campaign: Option<&str>,
) -> anyhow::Result<(Vec<Pause>, Vec<AuditEntry>)> {
    let Some(db) = crate::store::open_state_if_exists(state)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let keep = |c: &str| campaign.is_none_or(|only| only == c);
    let mut paused = db.pauses()?;
    paused.retain(|p| keep(&p.campaign));
    let mut audit = db.audit(AUDIT_LISTED)?;
    audit.retain(|a| keep(&a.campaign));
    Ok((paused, audit))
}

/// `tripmail ledger --resend/--close`: settles emails in doubt by hand (the ledger is opened for
/// writing, so not while a run holds it).
fn settle_in_doubt(
    state: &StateSettings,
    resend: &[String],
    close: &[String],
) -> anyhow::Result<Exit> {
    // Settling is for a ledger that exists: a mistyped path must not create one.
    if state.url.is_none() && !state.path.is_file() {
        anyhow::bail!("{}: no ledger there", state.path.display());
    }
    let ledger = crate::store::open_to_settle(state)?;
    let path = ledger.path().to_path_buf();
    let now = super::clock();
    let mut outcome = Exit::Clean;
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
            outln!(
                "{campaign} / {booking}: {}",
                reply.trim_start_matches("in doubt: ")
            );
        } else {
            eprintln!(
                "tripmail: {campaign} / {booking} is not in doubt in {}: left as it is",
                path.display()
            );
            outcome = Exit::Problems;
        }
    }
    Ok(outcome)
}

/// `tripmail ledger --copy-to URL`: the SQLite ledger of `state` into PostgreSQL at `url`.
fn copy_to(state: &StateSettings, url: &str) -> anyhow::Result<Exit> {
    if state.url.is_some() {
        anyhow::bail!("--copy-to copies a SQLite ledger (state.path); this config's ledger is already PostgreSQL (state.url)");
    }
    if !state.path.is_file() {
        anyhow::bail!("{}: no ledger there to copy", state.path.display());
    }
    if crate::ledger::postgres::holds_password(url) {
        anyhow::bail!("--copy-to: give the password in TRIPMAIL_STATE__PASSWORD, not in the URL (a command line is seen by every user of the machine)");
    }
    // The runner lock: no run adds to it while it is copied (and sends listed by a run that could
    // not record them are recorded first).
    let from = Ledger::open(&state.path)?;
    let sends = from.entries(None)?;
    // The pauses and the whole audit list (not the last entries `tripmail ledger` shows).
    let (pauses, audit) = match crate::store::open_state_if_exists(state)? {
        Some(db) => (db.pauses()?, db.audit(usize::MAX)?),
        None => (Vec::new(), Vec::new()),
    };
    let to = crate::ledger::PgLedger::open(&StateSettings {
        url: Some(crate::config::Secret::new(url)),
        password: std::env::var("TRIPMAIL_STATE__PASSWORD")
            .ok()
            .map(crate::config::Secret::new),
        ..state.clone()
    })?;
    let in_doubt = sends
        .iter()
        .filter(|e| e.state == SendState::Claimed)
        .count();
    let copied = to.copy_in(sends, pauses, audit)?;
    outln!(
        "copied {} sends ({} were there already, {} of them brought up to date), {} pauses, {} audit entries from {} to {}",
        copied.sends,
        copied.already + copied.settled,
        copied.settled,
        copied.pauses,
        copied.audit,
        state.path.display(),
        to.path().display()
    );
    if in_doubt > 0 {
        outln!("{in_doubt} of them are in doubt (claimed by a run that died): settle them with `tripmail ledger --resend/--close` on the new ledger, or let the in-doubt policy decide");
    }
    outln!("set state.url to it (and the password in TRIPMAIL_STATE__PASSWORD) for the runners");
    Ok(Exit::Clean)
}
