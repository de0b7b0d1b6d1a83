//! The tables of `plan` and `ledger`, and the plan's CSV: written to any writer, so that a closed
//! standard output is an error the command can take quietly.

use std::io::{self, Write};
use std::path::Path;

use crate::config::Settings;
use crate::ledger::{Entry, SendState};
use crate::plan::{schedule_in_words, Plan, PlanDay};

/// The plan as CSV: one row per date, campaign and locale.
pub(crate) fn write_plan_csv(w: &mut impl Write, plan: &Plan) -> anyhow::Result<()> {
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

/// An instant as the tables show it (`2026-12-10T09:00:00Z`).
fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The plan for people: each campaign's schedule in words, a line per day and campaign with its
/// first recipients, then the totals and what will not go.
pub(crate) fn write_plan_table(
    w: &mut impl Write,
    plan: &Plan,
    settings: &Settings,
) -> io::Result<()> {
    write_plan_schedules(w, plan, settings)?;
    writeln!(w)?;
    writeln!(
        w,
        "{:<10}  {:<3}  {:<16} {:>6}  by locale (then the first recipients: when, in UTC and on their clock)",
        "date", "day", "campaign", "emails"
    )?;
    for day in &plan.days {
        write_plan_day(w, plan, day)?;
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
    write_plan_totals(w, plan, settings)
}

/// The period, then when each campaign planned sends.
fn write_plan_schedules(w: &mut impl Write, plan: &Plan, settings: &Settings) -> io::Result<()> {
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
        let paused = plan.paused.iter().find(|p| p.campaign == c.name);
        if !plan.totals.contains_key(&c.name)
            && !plan.disabled.contains(&c.name)
            && paused.is_none()
        {
            continue;
        }
        let state = match paused {
            Some(p) => format!("PAUSED by {} at {}, nothing planned; ", p.by, stamp(p.at)),
            None => String::new(),
        };
        writeln!(
            w,
            "  {}: {state}{} (customer's time zone)",
            c.name,
            schedule_in_words(c)
        )?;
    }
    Ok(())
}

/// One day of one campaign: the counts by locale, then the first recipients.
fn write_plan_day(w: &mut impl Write, plan: &Plan, day: &PlanDay) -> io::Result<()> {
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
    Ok(())
}

/// The totals, then what is left out: sent already, never sent, disabled.
fn write_plan_totals(w: &mut impl Write, plan: &Plan, settings: &Settings) -> io::Result<()> {
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
    if !plan.held_back.is_empty() {
        writeln!(
            w,
            "held back: {} whose confirmation goes less than min_hours_after_confirmation before (skipped:recent_confirmation):",
            match plan.held_back.len() {
                1 => "1 reminder".to_string(),
                n => format!("{n} reminders"),
            }
        )?;
        for h in &plan.held_back {
            let then = match &h.moved_to {
                Some(t) => format!("moved to {t}"),
                None => "not sent: due no more once the gap has passed".into(),
            };
            writeln!(
                w,
                "  {} {} at {}: confirmation at {}; {then}",
                h.campaign, h.booking_id, h.planned_at, h.confirmation_at
            )?;
        }
    }
    if !plan.disabled.is_empty() {
        writeln!(w, "disabled: {}", plan.disabled.join(", "))?;
    }
    for p in &plan.paused {
        writeln!(
            w,
            "paused: {} (by {} at {}; `tripmail resume {}` to plan it again)",
            p.campaign,
            p.by,
            stamp(p.at),
            p.campaign
        )?;
    }
    Ok(())
}

/// The ledger's rows, then their counts by state.
pub(crate) fn write_ledger_table(
    w: &mut impl Write,
    path: &Path,
    entries: &[Entry],
) -> io::Result<()> {
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

/// The campaigns paused, and the audit list (newest first), after the ledger's table.
pub(crate) fn write_state_table(
    w: &mut impl Write,
    paused: &[crate::state::Pause],
    audit: &[crate::state::AuditEntry],
) -> io::Result<()> {
    for p in paused {
        writeln!(w, "paused: {} (by {} at {})", p.campaign, p.by, stamp(p.at))?;
    }
    if audit.is_empty() {
        return Ok(());
    }
    writeln!(w, "audit (newest first):")?;
    for a in audit {
        writeln!(
            w,
            "  {}  {:<16} {:<8} {}",
            stamp(a.at),
            a.who,
            a.action.to_string(),
            a.campaign
        )?;
    }
    Ok(())
}
