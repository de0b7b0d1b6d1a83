//! `tripmail ledger`: what the send ledger holds (and, from the state in the same file, the
//! campaigns paused and the audit list), as a table or JSON, and the emails in doubt settled by
//! hand (`--resend`, `--close`).

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::console::{self, outln};
use super::Exit;
use crate::config::{Overrides, Settings, StateSettings};
use crate::ledger::{Entry, Ledger, SendState};
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
