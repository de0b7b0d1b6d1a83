//! The plan page: the coming 14 days as a chart (emails per day and campaign, locales on hover and
//! in the lists below), each day with its first recipients linking to their previews. The plan is
//! the library's ([`crate::plan`]): the same due rules, windows, ledger and pauses as `run`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
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

/// The plan of the console's days: from now to the end of the 14th day (UTC); made again when
/// the bookings, the ledger or the pauses changed, or in the next minute (the plan starts at a
/// minute, so that the pages of one minute share it).
pub fn plan_of_days(app: &App) -> Result<Arc<Plan>, crate::run::FatalError> {
    let now = app.now();
    let minute = now - chrono::Duration::seconds(i64::from(now.second()));
    let minute = minute - chrono::Duration::nanoseconds(i64::from(minute.nanosecond()));
    let loaded = app.bookings.get().map_err(crate::run::FatalError::from)?;
    let key = PlanKey {
        bookings: loaded.clone(),
        state: FileStamp::of(&app.settings.state.path),
        pauses: app.state.pauses().map_err(crate::run::FatalError::from)?,
        minute,
    };
    let mut cache = app.plans.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, plan)) = cache.as_ref().filter(|(k, _)| *k == key) {
        return Ok(plan.clone());
    }
    let opts = PlanOptions {
        from: minute,
        until: end_of_days(now, DAYS),
        every: app.every,
        campaign: None,
        days_in: chrono_tz::UTC,
        recipients: RECIPIENTS,
    };
    let plan = Arc::new(crate::plan::plan_of(&app.settings, &opts, loaded.rows())?);
    *cache = Some((key, plan.clone()));
    Ok(plan)
}

/// The last plan made, and what it was made of.
pub type PlanCache = std::sync::Mutex<Option<(PlanKey, Arc<Plan>)>>;

/// What a plan is made of: the bookings (one copy per change of the file, held here so that its
/// address cannot be another copy's), the state file as it was written (sends and pauses), and
/// the minute it starts at.
pub struct PlanKey {
    bookings: Arc<crate::bookings::Loaded>,
    state: FileStamp,
    pauses: Vec<crate::state::Pause>,
    minute: DateTime<Utc>,
}

impl PartialEq for PlanKey {
    fn eq(&self, other: &PlanKey) -> bool {
        Arc::ptr_eq(&self.bookings, &other.bookings)
            && self.state == other.state
            && self.pauses == other.pauses
            && self.minute == other.minute
    }
}

/// The state database's file and its write-ahead log as last written (modification time, length).
#[derive(Debug, PartialEq)]
struct FileStamp(Vec<Option<(std::time::SystemTime, u64)>>);

impl FileStamp {
    fn of(path: &std::path::Path) -> FileStamp {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let stamp = |p: &std::path::Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        FileStamp(vec![stamp(path), stamp(std::path::Path::new(&wal))])
    }
}

/// Midnight (UTC) after the `days`-th day from `now`'s.
fn end_of_days(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let end = now.date_naive() + chrono::Days::new(u64::from(days));
    end.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// `GET /plan`.
pub async fn page(State(app): State<Arc<App>>, session: Authed) -> Response {
    let worker = app.clone();
    let plan = match tokio::task::spawn_blocking(move || plan_of_days(&worker)).await {
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
    // Colours by the config's order, so that pausing one campaign does not recolour the others.
    let campaigns: Vec<String> = app
        .settings
        .campaigns
        .iter()
        .map(|c| c.name.clone())
        .collect();
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
