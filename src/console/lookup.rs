//! Looking up a booking by id or email: every email of each booking found, sent (when, the server's
//! reply, from the ledger) or planned (when, in UTC and on the customer's clock), each opening on
//! its preview.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tera::Context;

use super::auth::Authed;
use super::campaigns::instant;
use super::App;
use crate::bookings::Booking;
use crate::plan::{BookingEmail, EmailState};
use crate::run::Campaigns;
use crate::state::Pause;

/// Bookings listed for one email address at most.
const FOUND_MAX: usize = 50;
/// How far ahead planned sends are looked for.
const HORIZON_DAYS: u32 = 400;

/// `?q=ID_OR_EMAIL`.
#[derive(Deserialize)]
pub struct Query_ {
    #[serde(default)]
    q: String,
}

/// One booking found, with its emails.
#[derive(Serialize)]
struct Found {
    booking_id: String,
    email: String,
    product: String,
    visit: String,
    locale: String,
    cancelled: bool,
    opted_in: bool,
    emails: Vec<Row>,
}

/// One email of a booking, as the table shows it.
#[derive(Serialize)]
struct Row {
    campaign: String,
    state: &'static str,
    at: Option<String>,
    at_rfc3339: Option<String>,
    local: Option<String>,
    detail: Option<String>,
}

impl Row {
    /// `e` as shown: a planned email of a paused campaign is `paused`.
    fn of(e: BookingEmail, pauses: &[Pause]) -> Row {
        let paused = pauses.iter().find(|p| p.campaign == e.campaign);
        let (state, detail) = match (e.state, paused) {
            (EmailState::Planned, Some(p)) => (
                "paused",
                Some(format!(
                    "would go then, but {} is paused (by {}, {})",
                    p.campaign,
                    p.by,
                    instant(p.at)
                )),
            ),
            (state, _) => (state.as_str(), e.reply.or(e.reason)),
        };
        Row {
            campaign: e.campaign,
            state,
            at: e.at.map(instant),
            at_rfc3339: e
                .at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            local: e.local_time.map(|l| format!("{l} {}", e.timezone)),
            detail,
        }
    }
}

/// `GET /lookup`.
pub async fn page(
    State(app): State<Arc<App>>,
    session: Authed,
    Query(query): Query<Query_>,
) -> Response {
    let q = query.q.trim().to_string();
    let mut ctx = Context::new();
    ctx.insert("page", "lookup");
    ctx.insert("now", &instant(app.now()));
    ctx.insert("q", &q);
    if !q.is_empty() {
        let worker = app.clone();
        let found = match app.campaigns().await {
            Ok(campaigns) => super::blocking(move || find(&worker, &campaigns, &q)).await,
            Err(e) => Err(e),
        };
        match found {
            Ok((found, more)) => {
                ctx.insert("found", &found);
                ctx.insert("more", &more);
            }
            Err(e) => ctx.insert("error", &e),
        }
    }
    app.pages.render("lookup.html", ctx, Some(&session))
}

/// The bookings `q` names (an id, else an email address), with their emails; and how many more
/// there were than listed.
fn find(app: &App, campaigns: &Campaigns, q: &str) -> Result<(Vec<Found>, usize), String> {
    let loaded = app.bookings.get().map_err(|e| e.to_string())?;
    let matches: Vec<&Arc<Booking>> = loaded.find(q);
    let more = matches.len().saturating_sub(FOUND_MAX);
    let now = app.now();
    let pauses = app.state.pauses().map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for b in matches.into_iter().take(FOUND_MAX) {
        let entries = app.ledger_entries(&b.booking_id)?;
        found.push(Found {
            booking_id: b.booking_id.clone(),
            email: b.customer_email.to_string(),
            product: b.product_title.clone(),
            visit: b.travel_date.to_string(),
            locale: b.locale.as_str().to_string(),
            cancelled: b.status != crate::bookings::Status::Confirmed,
            opted_in: b.marketing_opt_in,
            emails: campaigns
                .timeline(b, Some(&entries), now, HORIZON_DAYS, app.every)
                .into_iter()
                .map(|e| Row::of(e, &pauses))
                .collect(),
        });
    }
    Ok((found, more))
}
