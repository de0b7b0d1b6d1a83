//! The console's pages: Tera templates compiled into the binary (the console is part of the
//! product, not something a team edits), rendered with HTML escaping on, and sent with the headers
//! that keep them safe (a Content Security Policy that lets no script but ours run, no framing, no
//! caching, no referrer). Also the login and logout handlers, which need no session.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tera::{Context, Tera};

use super::auth::{self, Authed};
use super::App;

/// The policy of every console page. Scripts: none at all (the console has none). Styles inline are allowed for
/// the emails shown in `srcdoc` frames (which inherit this policy), whose CSS is inline; pictures
/// from anywhere https, as an inbox shows them. The frames are sandboxed besides.
const POLICY: &str = "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: https:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'";

const TEMPLATES: [(&str, &str); 10] = [
    (
        "base.html",
        include_str!("../../templates/console/base.html"),
    ),
    (
        "login.html",
        include_str!("../../templates/console/login.html"),
    ),
    (
        "campaigns.html",
        include_str!("../../templates/console/campaigns.html"),
    ),
    (
        "plan.html",
        include_str!("../../templates/console/plan.html"),
    ),
    (
        "lookup.html",
        include_str!("../../templates/console/lookup.html"),
    ),
    (
        "preview.html",
        include_str!("../../templates/console/preview.html"),
    ),
    (
        "runs.html",
        include_str!("../../templates/console/runs.html"),
    ),
    ("run.html", include_str!("../../templates/console/run.html")),
    (
        "snapshots.html",
        include_str!("../../templates/console/snapshots.html"),
    ),
    (
        "snapshot.html",
        include_str!("../../templates/console/snapshot.html"),
    ),
];

const STYLESHEET: &str = include_str!("../../templates/console/console.css");

/// The compiled templates.
pub struct Pages {
    tera: Option<Tera>,
}

impl Pages {
    /// Compiles the templates (a broken one is a bug, shown on every page rather than a panic).
    pub fn new() -> Pages {
        let mut tera = Tera::default();
        tera.register_filter("urlencode_strict", urlencode_strict);
        let tera = match tera.add_raw_templates(TEMPLATES) {
            Ok(()) => Some(tera),
            Err(e) => {
                tracing::error!("console templates: {e:?}");
                None
            }
        };
        Pages { tera }
    }

    /// `name` rendered with `ctx` (which gets `who` and `csrf` of the session), as a page.
    pub fn render(&self, name: &str, mut ctx: Context, session: Option<&Authed>) -> Response {
        if let Some(s) = session {
            ctx.insert("who", &s.who);
            ctx.insert("csrf", &s.csrf);
        }
        match self.tera.as_ref().map(|t| t.render(name, &ctx)) {
            Some(Ok(body)) => html(StatusCode::OK, body),
            Some(Err(e)) => failure(&format!("page {name}: {}", crate::runner::with_causes(&e))),
            None => failure("the console's templates did not compile (a bug)"),
        }
    }
}

/// `{{ value | urlencode_strict }}`: every byte but letters, digits, `-._~` percent-encoded (a query
/// value or a path segment).
fn urlencode_strict(
    value: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let s = match value {
        tera::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(tera::Value::String(crate::config::url_safe(&s)))
}

/// A page with the console's headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    secure(r.headers_mut(), "text/html; charset=utf-8");
    r
}

/// A 500 page saying what went wrong (never a secret: the messages come from our errors, which
/// hold none).
pub fn failure(what: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>tripmail: error</title>\
         <link rel=stylesheet href=/static/console.css><main><h1>Something went wrong</h1>\
         <p id=error>{}</p><p><a href=/>Back to the campaigns</a></p></main>",
        tera::escape_html(what)
    );
    html(StatusCode::INTERNAL_SERVER_ERROR, body)
}

/// The headers every console response carries.
fn secure(h: &mut HeaderMap, content_type: &'static str) {
    let set = |h: &mut HeaderMap, k, v| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_TYPE, content_type);
    set(h, header::CONTENT_SECURITY_POLICY, POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // Not `no-referrer`: with it a browser sends `Origin: null` on our own forms, which the CSRF
    // check refuses.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
}

/// The console's stylesheet.
pub async fn stylesheet() -> Response {
    let mut r = STYLESHEET.into_response();
    secure(r.headers_mut(), "text/css; charset=utf-8");
    r
}

/// Any other address.
pub async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "<!doctype html><meta charset=utf-8><title>Not found</title><p>No such page. \
         <a href=/>The campaigns</a></p>"
            .to_string(),
    )
}

/// The login form.
pub async fn login_form(State(app): State<Arc<App>>) -> Response {
    app.pages.render("login.html", Context::new(), None)
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct Login {
    token: String,
    #[serde(default)]
    who: String,
}

/// Opens a session for the right token; the form again, with an error, for a wrong one.
pub async fn login(State(app): State<Arc<App>>, Form(form): Form<Login>) -> Response {
    match app.auth.login(form.token.trim(), &form.who) {
        Some(id) => {
            let mut r = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&app.auth.session_cookie(&id)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => {
            // A wrong token costs a second: guessing one is slow.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let mut ctx = Context::new();
            ctx.insert("error", "That is not the console's token.");
            ctx.insert("who_value", &form.who);
            let mut r = app.pages.render("login.html", ctx, None);
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

/// The fields of a form that changes something: the CSRF token.
#[derive(Deserialize)]
pub struct Change {
    #[serde(default)]
    csrf: String,
}

impl Change {
    /// The CSRF token the form carried.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Ends the session.
pub async fn logout(
    State(app): State<Arc<App>>,
    session: Authed,
    headers: HeaderMap,
    Form(form): Form<Change>,
) -> Response {
    if let Err(r) = session.check(&form.csrf) {
        return r.into_response();
    }
    for id in auth::cookies(&headers, auth::COOKIE) {
        app.auth.logout(id);
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::cleared_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
