//! The runs page: the history of runs and ticks kept in the state database (instant, counts,
//! failures, held, stopped), each opening on its emails; a tick of the runner in this process shows
//! its progress live (the page reloads itself while it runs).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use tera::Context;

use super::auth::Authed;
use super::campaigns::instant;
use super::{pages, App};
use crate::state::{RunEmail, RunRow};

/// Runs listed.
const LISTED: usize = 50;
/// Emails of one run shown on its page.
const EMAILS_SHOWN: usize = 1000;

/// One run as the table shows it.
#[derive(Serialize)]
struct Line {
    id: i64,
    kind: String,
    status: String,
    run_at: String,
    started_at: String,
    took: String,
    counts: String,
    error: Option<String>,
}

fn line(r: &RunRow) -> Line {
    let took = match r.finished_at {
        Some(end) => format!(
            "{:.1} s",
            (end - r.started_at).num_milliseconds() as f64 / 1000.0
        ),
        None => "…".to_string(),
    };
    let c = &r.counts;
    Line {
        id: r.id,
        kind: r.kind.to_string(),
        status: r.status.as_str().to_string(),
        run_at: instant(r.run_at),
        started_at: instant(r.started_at),
        took,
        counts: format!(
            "{} due, {} sent, {} failed, {} held, {} deferred",
            c.due, c.sent, c.failed, c.held, c.deferred
        ),
        error: r.error.clone(),
    }
}

/// `GET /runs`.
pub async fn page(State(app): State<Arc<App>>, session: Authed) -> Response {
    let worker = app.clone();
    let runs = match super::blocking(move || worker.state.runs(LISTED)).await {
        Ok(r) => r,
        Err(e) => return pages::failure(&e),
    };
    let live = app.live.state();
    let mut ctx = Context::new();
    ctx.insert("page", "runs");
    ctx.insert("now", &instant(app.now()));
    ctx.insert("runs", &runs.iter().map(line).collect::<Vec<_>>());
    ctx.insert(
        "refresh",
        &(live.tick.is_some() || runs.iter().any(|r| r.finished_at.is_none())),
    );
    ctx.insert("live", &live);
    app.pages.render("runs.html", ctx, Some(&session))
}

/// `GET /runs/ID`.
pub async fn one(State(app): State<Arc<App>>, session: Authed, Path(id): Path<i64>) -> Response {
    let worker = app.clone();
    let (run, emails) = match super::blocking(move || worker.state.run(id)).await {
        Ok(Some(found)) => found,
        Ok(None) => return pages::not_found().await,
        Err(e) => return pages::failure(&e),
    };
    let total = emails.len();
    let mut ctx = Context::new();
    ctx.insert("page", "runs");
    ctx.insert("now", &instant(app.now()));
    ctx.insert("run", &line(&run));
    ctx.insert("total", &total);
    ctx.insert(
        "emails",
        &emails
            .into_iter()
            .take(EMAILS_SHOWN)
            .collect::<Vec<RunEmail>>(),
    );
    ctx.insert("refresh", &run.finished_at.is_none());
    app.pages.render("run.html", ctx, Some(&session))
}

/// Each campaign's results in the last `n` finished runs, newest first: `2026-12-10 09:00:00 UTC:
/// 12 sent, 1 failed`.
pub fn last_results(app: &App, n: usize) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let runs = app.state.runs(n).unwrap_or_default();
    for run in runs.iter().filter(|r| r.finished_at.is_some()) {
        let mut per: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (campaign, outcome, emails) in app.state.run_outcomes(run.id).unwrap_or_default() {
            per.entry(campaign)
                .or_default()
                .push(format!("{emails} {outcome}"));
        }
        for (campaign, words) in per {
            out.entry(campaign).or_default().push(format!(
                "{}: {}",
                instant(run.run_at),
                words.join(", ")
            ));
        }
    }
    out
}
