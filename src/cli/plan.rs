//! `tripmail plan`: the period asked for, the plan made by [`crate::plan`], shown as a table, JSON or
//! CSV.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use super::args::{parse_every, parse_now, parse_tz, Sources};
use super::console;
use super::Exit;
use crate::plan::PlanOptions;

/// The flags of `tripmail plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Table,
    Json,
    Csv,
}

/// Plans the period and prints the plan; rows that could not be read make it exit 1.
pub(crate) fn plan(args: PlanArgs) -> anyhow::Result<Exit> {
    let settings = args.sources.load(None, args.state)?;
    let (from, until) = plan_period(args.from.as_deref(), &args.sources, args.days, args.tz)?;
    let opts = PlanOptions {
        from,
        until,
        every: args.every,
        campaign: args.campaign,
        days_in: args.tz,
        recipients: args.recipients,
    };
    let plan = crate::plan::plan(&settings, &opts)?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PlanFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &plan)?;
            writeln!(stdout)?;
        }
        PlanFormat::Csv => {
            console::write_plan_csv(&mut stdout, &plan)?;
            // The CSV is a row per day and locale: a paused campaign has none; said beside it.
            for p in &plan.paused {
                console::paused_note(p);
            }
        }
        PlanFormat::Table => console::write_plan_table(&mut stdout, &plan, &settings)?,
    }
    for row in &plan.skipped_rows {
        eprintln!("tripmail: skipped {row}");
    }
    Ok(if plan.skipped_rows.is_empty() {
        Exit::Clean
    } else {
        Exit::Problems
    })
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
        let from = sources.now();
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
