//! The plan page: the coming 14 days as a chart (emails per day and campaign, locales on hover and
//! in the lists below), each day with its first recipients linking to their previews. The plan is
//! the library's ([`crate::plan`]): the same due rules, windows, ledger and pauses as `run`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tera::Context;

use super::auth::Authed;
use super::chart::{self, Segment, PALETTE};
use super::{pages, App};
use crate::plan::{Plan, PlanOptions};

/// Days the page shows.
pub const DAYS: u32 = 14;
/// Recipients listed per day and campaign.
const RECIPIENTS: usize = 5;

/// One day's list.
#[derive(Serialize)]
struct Day {
    date: String,
    title: String,
    emails: u64,
    campaigns: Vec<DayCampaign>,
}

#[derive(Serialize)]
struct DayCampaign {
    campaign: String,
    colour: &'static str,
    emails: u64,
    locales: String,
    first: Vec<crate::plan::PlannedEmail>,
    more: u64,
}

/// The plan of the console's days: from now to the end of the 14th day (UTC).
pub fn plan_of_days(app: &App, recipients: usize) -> Result<Plan, crate::run::FatalError> {
    let now = app.now();
    let opts = PlanOptions {
        from: now,
        until: end_of_days(now, DAYS),
        every: app.every,
        campaign: None,
        days_in: chrono_tz::UTC,
        recipients,
    };
    let loaded = app.bookings.get().map_err(crate::run::FatalError::from)?;
    crate::plan::plan_of(&app.settings, &opts, loaded.rows())
}

/// Midnight (UTC) after the `days`-th day from `now`'s.
fn end_of_days(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let end = now.date_naive() + chrono::Days::new(u64::from(days));
    end.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// `GET /plan`.
pub async fn page(State(app): State<Arc<App>>, session: Authed) -> Response {
    let worker = app.clone();
    let plan = match tokio::task::spawn_blocking(move || plan_of_days(&worker, RECIPIENTS)).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => return pages::failure(&format!("the plan: {e}")),
        Err(e) => return pages::failure(&format!("the plan: {e}")),
    };
    let now = app.now();
    let days: Vec<NaiveDate> = (0..DAYS)
        .filter_map(|i| {
            now.date_naive()
                .checked_add_days(chrono::Days::new(u64::from(i)))
        })
        .collect();
    let campaigns: Vec<String> = plan.totals.keys().cloned().collect();
    let colour = |c: &str| {
        let i = campaigns.iter().position(|x| x == c).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let mut segments = BTreeMap::new();
    let mut lists: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for d in &plan.days {
        segments.insert(
            (d.date, d.campaign.clone()),
            Segment {
                emails: d.emails,
                locales: d.locales.clone(),
            },
        );
        let day = lists.entry(d.date).or_insert_with(|| Day {
            date: d.date.to_string(),
            title: d.date.format("%A %-d %B %Y").to_string(),
            emails: 0,
            campaigns: Vec::new(),
        });
        day.emails += d.emails;
        day.campaigns.push(DayCampaign {
            campaign: d.campaign.clone(),
            colour: colour(&d.campaign),
            emails: d.emails,
            locales: locales_in_words(&d.locales),
            first: d.first.clone(),
            more: d.emails.saturating_sub(d.first.len() as u64),
        });
    }
    let legend: Vec<(String, &str, u64)> = plan
        .totals
        .iter()
        .map(|(c, n)| (c.clone(), colour(c), *n))
        .collect();
    let mut ctx = Context::new();
    ctx.insert("page", "plan");
    ctx.insert("span", &DAYS);
    ctx.insert("now", &super::campaigns::instant(now));
    ctx.insert("chart", &chart::svg(&days, &campaigns, &segments));
    ctx.insert("legend", &legend);
    ctx.insert("days", &lists.into_values().collect::<Vec<_>>());
    ctx.insert("disabled", &plan.disabled);
    ctx.insert("paused", &super::campaigns::paused_list(&app));
    ctx.insert("already_done", &plan.already_done);
    ctx.insert("held_back", &plan.held_back.len());
    ctx.insert("will_not_send", &plan.will_not_send.len());
    ctx.insert("skipped_rows", &plan.skipped_rows.len());
    ctx.insert("from", &days.first().map(|d| d.to_string()));
    ctx.insert("to", &days.last().map(|d| d.to_string()));
    app.pages.render("plan.html", ctx, Some(&session))
}

/// `en 12, de 3`: the locales, most emails first.
pub fn locales_in_words(locales: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = locales.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
