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
use crate::deliver::files::localize;
use crate::run::{Campaigns, PreviewAt};
use crate::snapshot_review::diff_html;
use crate::snapshots::{self, store, CaseBooking, Cases, Paths, HTML_PART};

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

/// The cases of `paths` (all, or the one named `only`), each made from the templates on disk now
/// and compared with its stored snapshot.
async fn make_all(app: &App, paths: &Paths, only: Option<&str>) -> Result<Vec<Made>, Unmade> {
    let cases = Cases::load(&paths.cases).map_err(|e| Unmade {
        title: "The case list cannot be read",
        error: e.to_string(),
    })?;
    let bookings = match snapshots::needs_bookings(&cases) {
        true => Some(super::loaded(app).await.map_err(|error| Unmade {
            title: "The bookings file cannot be read",
            error,
        })?),
        false => None,
    };
    // Started again on every request: the templates, translations and catalog as they are now.
    let campaigns = Campaigns::start(app.settings.clone())
        .await
        .map_err(|e| Unmade {
            title: "The templates do not compile",
            error: crate::runner::with_causes(&e).trim().to_string(),
        })?;
    let mut made = Vec::new();
    for (name, case) in &cases.cases {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        made.push(
            make_one(
                app,
                &campaigns,
                bookings.as_deref(),
                &cases,
                paths,
                name,
                case,
            )
            .await,
        );
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
    Ok(made)
}

async fn make_one(
    app: &App,
    campaigns: &Campaigns,
    bookings: Option<&crate::bookings::Loaded>,
    cases: &Cases,
    paths: &Paths,
    name: &str,
    case: &snapshots::Case,
) -> Made {
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
        snapshot: String::new(),
        sha: String::new(),
        stored: None,
    };
    let composed = match snapshots::compose(campaigns, bookings, cases, name).await {
        Ok(c) => c,
        Err(e) => {
            made.error = Some(e.to_string());
            return made;
        }
    };
    made.stored = match store::stored(&paths.dir, name) {
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
    made.html = for_console(app, &composed.email.html);
    made
}

/// `html` with the demo's pictures served by the console.
fn for_console(app: &App, html: &str) -> String {
    match app.settings.review.images() {
        Some(images) => localize(html, &images, |name| format!("/images/{name}")).0,
        None => html.to_string(),
    }
}

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The HTML part of a snapshot file.
fn html_part(snapshot: &str) -> &str {
    snapshot.split_once(HTML_PART).map_or("", |(_, html)| html)
}

/// What the gallery's redirect after approving says.
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
    if let Some(paths) = app.snapshots.clone() {
        match make_all(&app, &paths, None).await {
            Ok(made) => {
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
            }
            Err(u) => unmade(&mut ctx, u),
        }
    }
    if done.approved > 0 || done.stale > 0 {
        ctx.insert("approved_note", &approved_note(&done));
    }
    app.pages.render("snapshots.html", ctx, Some(&session))
}

/// `GET /snapshots/case/NAME`: one case, stored and new.
pub async fn one(
    State(app): State<Arc<App>>,
    session: Authed,
    Path(name): Path<String>,
    Query(done): Query<Approved>,
) -> Response {
    let Some(paths) = app.snapshots.clone() else {
        return super::pages::not_found().await;
    };
    let mut ctx = context(&app);
    ctx.insert("name", &name);
    ctx.insert(
        "snap_file",
        &store::snap_path(&paths.dir, &name).display().to_string(),
    );
    match make_all(&app, &paths, Some(&name)).await {
        Ok(made) => {
            let Some(m) = made.into_iter().next() else {
                return super::pages::not_found().await;
            };
            if let Some(old) = &m.stored {
                ctx.insert("old_html", &for_console(&app, html_part(old)));
                ctx.insert("diff", &diff_html(old, &m.snapshot));
            }
            ctx.insert("new_html", &for_console(&app, html_part(&m.snapshot)));
            ctx.insert("case", &m);
        }
        Err(u) => unmade(&mut ctx, u),
    }
    if done.approved > 0 || done.stale > 0 {
        ctx.insert("approved_note", &approved_note(&done));
    }
    app.pages.render("snapshot.html", ctx, Some(&session))
}

/// The form of "approve": the cases and the SHA-256 of the snapshot the reviewer saw of each
/// (`NAME:SHA`, space-separated).
#[derive(Deserialize)]
pub struct Approve {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    seen: String,
}

/// `POST /snapshots/approve`: each case seen whose email is still the one seen becomes its
/// snapshot; one that changed since (a template edited meanwhile) is left and counted.
pub async fn approve(
    State(app): State<Arc<App>>,
    session: Authed,
    Form(form): Form<Approve>,
) -> Response {
    if let Err(r) = session.check(&form.csrf) {
        return r.into_response();
    }
    let Some(paths) = app.snapshots.clone() else {
        return super::pages::not_found().await;
    };
    let seen: Vec<(&str, &str)> = form
        .seen
        .split_whitespace()
        .filter_map(|s| s.split_once(':'))
        .collect();
    let made = match make_all(&app, &paths, None).await {
        Ok(made) => made,
        Err(u) => return super::pages::failure(&format!("{}: {}", u.title, u.error)),
    };
    let mut done = Approved::default();
    for (name, sha) in &seen {
        match made.iter().find(|m| m.name == *name && m.error.is_none()) {
            Some(m) if m.sha == *sha => {
                if let Err(e) = store::approve(&paths.dir, name, &m.snapshot) {
                    return super::pages::failure(&e.to_string());
                }
                tracing::info!("snapshot {name} approved by {}", session.who);
                done.approved += 1;
            }
            _ => done.stale += 1,
        }
    }
    let query = format!("approved={}&stale={}", done.approved, done.stale);
    match seen.as_slice() {
        [(name, _)] => Redirect::to(&format!(
            "/snapshots/case/{}?{query}",
            crate::config::url_safe(name)
        )),
        _ => Redirect::to(&format!("/snapshots?{query}")),
    }
    .into_response()
}

fn context(app: &App) -> Context {
    let mut ctx = Context::new();
    ctx.insert("page", "snapshots");
    ctx.insert("now", &super::campaigns::instant(app.now()));
    if let Some(paths) = &app.snapshots {
        ctx.insert("cases_file", &paths.cases.display().to_string());
        ctx.insert("dir", &paths.dir.display().to_string());
    }
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

fn approved_note(done: &Approved) -> String {
    let mut note = match done.approved {
        1 => "Approved: the snapshot is now this email.".to_string(),
        n => format!("Approved {n} snapshots."),
    };
    if done.stale > 0 {
        note.push_str(&format!(
            " {} changed since you looked (a template was edited meanwhile) and were left as they were: look again.",
            done.stale
        ));
    }
    note
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
