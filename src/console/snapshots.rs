//! The console's snapshot pages, for the people who edit the templates: `/snapshots`, a gallery of
//! every case of the team's case list made now from the templates on disk (an edit is seen on
//! reload; a template that does not compile is said on the page with its file and line), the cases
//! whose email differs from its stored snapshot first; `/snapshots/case/NAME`, one case's stored
//! and new email side by side at 600 and 375 px with the lines that changed; and the "approve"
//! button, which writes the new snapshot as `tripmail snapshots --accept` does, only if the email
//! is still the one the reviewer looked at.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tera::Context;

use super::auth::Authed;
use super::App;
use crate::run::{FatalError, PreviewAt};
use crate::snapshot_review::diff_html;
use crate::snapshots::{self, html_of, store, CaseBooking, Maker, MakerError};

/// One case as made now.
#[derive(Serialize)]
struct Made {
    name: String,
    campaign: String,
    booking: String,
    lang: Option<String>,
    at: String,
    /// `changed`, `new`, `failed` or `same`.
    status: &'static str,
    subject: String,
    /// The email's HTML as sent (pictures from the console).
    html: String,
    /// Why it could not be made.
    error: Option<String>,
    /// Why its block is missing, when the engine failed (the case then shows no block: a
    /// difference that is the engine's, not the templates').
    engine_error: Option<String>,
    /// The snapshot it makes, and its SHA-256 (what "approve" approves).
    #[serde(skip)]
    snapshot: String,
    sha: String,
    /// The stored snapshot.
    #[serde(skip)]
    stored: Option<String>,
}

/// Why no case could be made: the case list, the templates (with file and line) or the bookings.
struct Unmade {
    title: &'static str,
    error: String,
}

/// Where a template that does not parse is wrong, in words, read from Tera's message
/// (`Failed to parse "FILE"` then ` --> LINE:COLUMN`); the error itself is shown below it.
fn located(error: &str) -> Option<String> {
    let file = error
        .split("Failed to parse \"")
        .nth(1)?
        .split('"')
        .next()?;
    let at = error.split(" --> ").nth(1)?.split_whitespace().next()?;
    let (line, column) = at.split_once(':')?;
    Some(format!("{file}, line {line}, column {column}"))
}

/// The console's cases that `only` keeps, each made from the templates on disk now
/// and compared with its stored snapshot; `None` when there is no case list.
async fn make_all(
    app: &App,
    only: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Option<Vec<Made>>, Unmade> {
    let paths = &app.snapshots;
    if !paths.cases.exists() {
        return Ok(None);
    }
    // The console's copy of the bookings when it can be read (else the maker reads and says why).
    let bookings = super::loaded(app).await.ok();
    // Started again on every request: the templates, translations and catalog as they are now.
    let maker = Maker::start(app.settings.clone(), &paths.cases, bookings)
        .await
        .map_err(|e| Unmade {
            title: match &e {
                MakerError::Cases(_) => "The case list cannot be read",
                MakerError::Start(FatalError::Render(_)) => "The templates do not compile",
                MakerError::Start(_) => "The campaigns cannot start",
            },
            error: crate::runner::with_causes(&e).trim().to_string(),
        })?;
    let mut made = Vec::new();
    for (name, case) in &maker.cases.cases {
        if !only(name) {
            continue;
        }
        made.push(make_one(app, &maker, name, case).await);
    }
    let rank = |s: &str| {
        ["failed", "changed", "new", "same"]
            .iter()
            .position(|r| *r == s)
    };
    made.sort_by(|a, b| {
        rank(a.status)
            .cmp(&rank(b.status))
            .then(a.name.cmp(&b.name))
    });
    Ok(Some(made))
}

async fn make_one(app: &App, maker: &Maker, name: &str, case: &snapshots::Case) -> Made {
    let mut made = Made {
        name: name.to_string(),
        campaign: case.campaign.clone(),
        booking: match &case.booking {
            CaseBooking::Id(id) => id.clone(),
            CaseBooking::Inline(b) => format!("{} (written in the case)", b.booking_id),
        },
        lang: case.lang.clone(),
        at: match case.at {
            PreviewAt::Now(t) => super::campaigns::instant(t),
            PreviewAt::AsOf(d) => format!("as of {d} (the customer's date)"),
        },
        status: "failed",
        subject: String::new(),
        html: String::new(),
        error: None,
        engine_error: None,
        snapshot: String::new(),
        sha: String::new(),
        stored: None,
    };
    let composed = match maker.compose(name).await {
        Ok(c) => c,
        Err(e) => {
            made.error = Some(e.to_string());
            return made;
        }
    };
    made.stored = match store::stored(&app.snapshots.dir, name) {
        Ok(s) => s,
        Err(e) => {
            made.error = Some(e.to_string());
            return made;
        }
    };
    made.snapshot = snapshots::snapshot(name, &composed);
    made.sha = sha(&made.snapshot);
    made.status = match made.stored.as_deref() {
        None => "new",
        Some(s) if s == made.snapshot => "same",
        Some(_) => "changed",
    };
    made.subject = composed.email.subject.clone();
    made.engine_error = composed.record.engine_error.clone();
    made.html = app.for_console(&composed.email.html);
    made
}

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the redirect after approving says.
#[derive(Deserialize, Default)]
pub struct Approved {
    #[serde(default)]
    approved: usize,
    #[serde(default)]
    stale: usize,
}

/// `GET /snapshots`: the gallery.
pub async fn gallery(
    State(app): State<Arc<App>>,
    session: Authed,
    Query(done): Query<Approved>,
) -> Response {
    let mut ctx = context(&app);
    match make_all(&app, &|_| true).await {
        Ok(Some(made)) => {
            let count = |s: &str| made.iter().filter(|m| m.status == s).count();
            let waiting: Vec<String> = made
                .iter()
                .filter(|m| m.status == "changed" || m.status == "new")
                .map(|m| format!("{}:{}", m.name, m.sha))
                .collect();
            ctx.insert(
                "summary",
                &format!(
                    "{} cases: {} the same, {} changed, {} new, {} could not be made",
                    made.len(),
                    count("same"),
                    count("changed"),
                    count("new"),
                    count("failed")
                ),
            );
            ctx.insert("waiting", &waiting.len());
            ctx.insert("seen", &waiting.join(" "));
            ctx.insert("cases", &made);
            ctx.insert("has_cases", &true);
        }
        Ok(None) => ctx.insert("has_cases", &false),
        Err(u) => {
            ctx.insert("has_cases", &true);
            unmade(&mut ctx, u);
        }
    }
    note(&mut ctx, &done, false);
    app.pages.render("snapshots.html", ctx, Some(&session))
}

/// `GET /snapshots/case/NAME`: one case, stored and new.
pub async fn one(
    State(app): State<Arc<App>>,
    session: Authed,
    Path(name): Path<String>,
    Query(done): Query<Approved>,
) -> Response {
    let mut ctx = context(&app);
    ctx.insert("name", &name);
    let snap = store::snap_path(&app.snapshots.dir, &name);
    ctx.insert("snap_file", &snap.display().to_string());
    match make_all(&app, &|n| n == name).await {
        Ok(Some(made)) => {
            let Some(m) = made.into_iter().next() else {
                return super::pages::not_found().await;
            };
            if let Some(old) = &m.stored {
                ctx.insert("old_html", &app.for_console(html_of(old)));
                ctx.insert("diff", &diff_html(old, &m.snapshot));
            }
            ctx.insert("new_html", &app.for_console(html_of(&m.snapshot)));
            ctx.insert("case", &m);
        }
        Ok(None) => return super::pages::not_found().await,
        Err(u) => unmade(&mut ctx, u),
    }
    note(&mut ctx, &done, true);
    app.pages.render("snapshot.html", ctx, Some(&session))
}

/// The form of "approve": the cases and the SHA-256 of the snapshot the reviewer saw of each
/// (`NAME:SHA`, space-separated), and the page to go back to (`case` or the gallery).
#[derive(Deserialize)]
pub struct Approve {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    seen: String,
    #[serde(default)]
    back: String,
}

/// `POST /snapshots/approve`: each case seen whose email is still the one seen becomes its
/// snapshot; one that changed since (a template edited meanwhile), or that is not a case, is left
/// and counted. Approvals go one at a time.
pub async fn approve(
    State(app): State<Arc<App>>,
    session: Authed,
    Form(form): Form<Approve>,
) -> Response {
    if let Err(r) = session.check(&form.csrf) {
        return r.into_response();
    }
    let _one_at_a_time = app.approving.lock().await;
    let seen: Vec<(&str, &str)> = form
        .seen
        .split_whitespace()
        .map(|e| e.split_once(':').unwrap_or((e, "")))
        .collect();
    // Only the cases seen are made again.
    let made = match make_all(&app, &|n| seen.iter().any(|(name, _)| *name == n)).await {
        Ok(Some(made)) => made,
        Ok(None) => return super::pages::not_found().await,
        Err(u) => return super::pages::failure(&format!("{}: {}", u.title, u.error)),
    };
    let mut done = Approved::default();
    for (name, sha) in &seen {
        let found = made
            .iter()
            .find(|m| m.name == *name && m.error.is_none() && m.sha == *sha);
        let Some(m) = found else {
            done.stale += 1;
            continue;
        };
        if let Err(e) = store::approve(&app.snapshots.dir, &m.name, &m.snapshot) {
            return super::pages::failure(&e.to_string());
        }
        tracing::info!("snapshot {} approved by {}", m.name, session.who);
        done.approved += 1;
    }
    let query = format!("approved={}&stale={}", done.approved, done.stale);
    match (
        form.back.as_str(),
        seen.last().map(|(name, _)| name.to_string()),
    ) {
        ("case", Some(name)) => Redirect::to(&format!(
            "/snapshots/case/{}?{query}",
            crate::config::url_safe(&name)
        )),
        _ => Redirect::to(&format!("/snapshots?{query}")),
    }
    .into_response()
}

fn context(app: &App) -> Context {
    let mut ctx = Context::new();
    ctx.insert("page", "snapshots");
    ctx.insert("now", &super::campaigns::instant(app.now()));
    let paths = &app.snapshots;
    ctx.insert("cases_file", &paths.cases.display().to_string());
    ctx.insert("dir", &paths.dir.display().to_string());
    ctx.insert(
        "templates",
        &app.settings.templates.dir.display().to_string(),
    );
    ctx
}

fn unmade(ctx: &mut Context, u: Unmade) {
    ctx.insert("error_title", u.title);
    ctx.insert("error_where", &located(&u.error));
    ctx.insert("error", &u.error);
}

/// What an approval did, in words, when the page comes from one (`on_case`: a case's page).
fn note(ctx: &mut Context, done: &Approved, on_case: bool) {
    let note = match (done.approved, done.stale) {
        (0, 0) => return,
        (1, 0) if on_case => "Approved: the snapshot is now this email.".to_string(),
        (1, 0) => "Approved 1 snapshot.".to_string(),
        (n, 0) => format!("Approved {n} snapshots."),
        (0, s) => format!(
            "Nothing approved: {s} changed since you looked (a template was edited meanwhile) \
             and were left as they were: look again."
        ),
        (n, s) => format!(
            "Approved {n}; {s} changed since you looked (a template was edited meanwhile) and \
             were left as they were: look again."
        ),
    };
    let key = if done.stale > 0 {
        "stale_note"
    } else {
        "approved_note"
    };
    ctx.insert(key, &note);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_does_not_parse_is_located_by_file_line_and_column() {
        let tera =
            "\n* Failed to parse \"/t/templates/reminder.mjml.tera\"\n --> 3:218\n  |\n3 | x\n";
        assert_eq!(
            located(tera).as_deref(),
            Some("/t/templates/reminder.mjml.tera, line 3, column 218")
        );
        assert_eq!(
            located("templates/i18n/de.ftl: line 4: expected a value"),
            None
        );
    }
}
