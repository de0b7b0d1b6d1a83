//! `tripmail pause` and `tripmail resume`: a campaign paused or resumed in the state database
//! (`state.path`), with who did it in the audit list; every run, plan and runner honours it at once.

use std::path::PathBuf;

use super::console::outln;
use super::Exit;
use crate::config::{Overrides, Settings};
use crate::run::FatalError;

/// The flags of `tripmail pause` and `tripmail resume`.
#[derive(Debug, clap::Args)]
pub(crate) struct PauseArgs {
    /// The campaign, as the config names it.
    campaign: String,
    /// The config file: its campaigns, and its `state.path`.
    #[arg(long)]
    config: PathBuf,
    /// The state file (the ledger's), instead of `state.path`.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Who does it, for the audit list: `$USER` by default, else `cli`.
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

/// Pauses (`paused`) or resumes the campaign; doing it again changes nothing and says so.
pub(crate) fn pause(args: PauseArgs, paused: bool) -> anyhow::Result<Exit> {
    let overrides = Overrides {
        state_path: args.state.clone(),
        ..Overrides::default()
    };
    let settings = Settings::load(&args.config, &overrides)?;
    if settings.campaign(&args.campaign).is_none() {
        return Err(FatalError::UnknownCampaign(args.campaign).into());
    }
    let who = who(args.by.as_deref())?;
    let db = crate::store::open_state(&settings.state)?;
    let path = db.path().to_path_buf();
    let name = &args.campaign;
    if db.set_paused(name, paused, &who, super::clock())? {
        let (done, then) = match paused {
            true => ("paused", "its emails are not sent until `tripmail resume`"),
            false => ("resumed", "the next run sends what is due"),
        };
        outln!(
            "{name}: {done} by {who} ({then}); state: {}",
            path.display()
        );
        return Ok(Exit::Clean);
    }
    match db.is_paused(name)? {
        Some(p) => outln!(
            "{name}: already paused (by {} at {}); nothing changed",
            p.by,
            p.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => outln!("{name}: not paused; nothing changed"),
    }
    Ok(Exit::Clean)
}

/// The name the audit list keeps: `--by`, else `$USER`, else `cli`.
fn who(by: Option<&str>) -> anyhow::Result<String> {
    if let Some(by) = by {
        let by = by.trim();
        if by.is_empty() || by.chars().any(char::is_control) {
            anyhow::bail!("--by {by:?}: give a name, without control characters");
        }
        return Ok(by.to_string());
    }
    let user = std::env::var("USER").ok();
    let user = user.filter(|u| !u.trim().is_empty() && !u.chars().any(char::is_control));
    Ok(user.unwrap_or_else(|| "cli".into()))
}
