//! The campaigns page: each campaign's schedule in words (the plan's wording), whether it runs or is
//! paused (and by whom), today's and tomorrow's emails, its last runs; pause and resume, kept in the
//! state database (so `run`, `plan`, every runner and the console honour them at once) with an audit
//! list of who did what when.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tera::Context;

use super::auth::Authed;
use super::{pages, App};
use crate::config::Trigger;
use crate::plan::schedule_in_words;

/// An instant as the console writes it: `2026-12-10 09:00:00 UTC`.
pub fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// One row of the table.
#[derive(Serialize)]
struct Row {
    name: String,
    trigger: &'static str,
    schedule: String,
    state: &'static str,
    paused_by: Option<String>,
    paused_at: Option<String>,
    today: u64,
    tomorrow: u64,
    last_runs: Vec<String>,
}

/// A paused campaign, as pages list it.
#[derive(Serialize)]
pub struct PausedNote {
    campaign: String,
    by: String,
    at: String,
}

/// The campaigns paused now (none when the state cannot be read: the page says so elsewhere).
pub fn paused_list(app: &App) -> Vec<PausedNote> {
    app.state
        .pauses()
        .unwrap_or_default()
        .into_iter()
        .map(|p| PausedNote {
            campaign: p.campaign,
            by: p.by,
            at: instant(p.at),
        })
        .collect()
}

/// `GET /`.
pub async fn page(State(app): State<Arc<App>>, session: Authed) -> Response {
    let worker = app.clone();
    let read = super::blocking(move || {
        let counts = day_counts(&worker);
        let pauses = worker.state.pauses()?;
        let audit = worker.state.audit(30).unwrap_or_default();
        Ok::<_, crate::ledger::LedgerError>((
            counts,
            pauses,
            audit,
            super::runs::last_results(&worker, 3),
        ))
    });
    let (counts, pauses, audit, last) = match read.await {
        Ok(read) => read,
        Err(e) => return pages::failure(&e),
    };
    let (counts, plan_error) = match counts {
        Ok(c) => (c, None),
        Err(e) => (BTreeMap::new(), Some(e)),
    };
    let rows: Vec<Row> = app
        .settings
        .campaigns
        .iter()
        .map(|c| {
            let paused = pauses.iter().find(|p| p.campaign == c.name);
            let (today, tomorrow) = counts.get(&c.name).copied().unwrap_or((0, 0));
            Row {
                name: c.name.clone(),
                trigger: match c.trigger {
                    Trigger::Confirmation => "confirmation",
                    Trigger::Reminder => "reminder",
                },
                schedule: schedule_in_words(c),
                state: match (c.enabled, paused.is_some()) {
                    (false, _) => "disabled",
                    (true, true) => "paused",
                    (true, false) => "running",
                },
                paused_by: paused.map(|p| p.by.clone()),
                paused_at: paused.map(|p| instant(p.at)),
                today,
                tomorrow,
                last_runs: last.get(&c.name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let audit: Vec<(String, String, String, String)> = audit
        .into_iter()
        .map(|a| (instant(a.at), a.who, a.action.to_string(), a.campaign))
        .collect();
    let mut ctx = Context::new();
    ctx.insert("page", "campaigns");
    ctx.insert("now", &instant(app.now()));
    ctx.insert("rows", &rows);
    ctx.insert("audit", &audit);
    ctx.insert("plan_error", &plan_error);
    ctx.insert("runner", &app.live.state());
    app.pages.render("campaigns.html", ctx, Some(&session))
}

/// Today's and tomorrow's emails (UTC dates) per campaign.
fn day_counts(app: &App) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let plan = super::plan::plan_of_days(app).map_err(|e| format!("the plan: {e}"))?;
    let today = app.now().date_naive();
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in &plan.days {
        let entry = counts.entry(d.campaign.clone()).or_default();
        match (d.date - today).num_days() {
            0 => entry.0 += d.emails,
            1 => entry.1 += d.emails,
            _ => {}
        }
    }
    Ok(counts)
}

/// `POST /campaigns/NAME/pause` and `…/resume`.
pub async fn change(
    State(app): State<Arc<App>>,
    session: Authed,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<pages::Change>,
) -> Response {
    if let Err(r) = session.check(form.csrf()) {
        return r.into_response();
    }
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        _ => return pages::not_found().await,
    };
    if app.settings.campaign(&name).is_none() {
        return (
            StatusCode::NOT_FOUND,
            format!("No campaign named {name:?}.\n"),
        )
            .into_response();
    }
    let (worker, who, at) = (app.clone(), session.who.clone(), app.now());
    match super::blocking(move || worker.state.set_paused(&name, paused, &who, at)).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => pages::failure(&e),
    }
}
