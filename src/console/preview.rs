//! The preview page: one booking's email as the customer sees it, at 600 and 375 px side by side in
//! sandboxed frames (no script runs in them, whatever the email holds), its text part, its headers
//! and why it holds these items; the same booking in another language or on another date; and a
//! test send to any address, redirected as `run --redirect-to` does, the ledger untouched.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;
use tera::Context;

use super::auth::Authed;
use super::App;
use crate::bookings::{Booking, Locale};
use crate::run::{Preview, PreviewAt};
use crate::schedule::due::When;

/// What to preview: `?booking=ID&campaign=NAME[&lang=de][&as_of=YYYY-MM-DD][&at=INSTANT]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Wanted {
    #[serde(default)]
    booking: String,
    #[serde(default)]
    campaign: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    at: String,
}

/// The test send's form: what to preview, and where to.
#[derive(Debug, Deserialize)]
pub struct TestSend {
    #[serde(flatten)]
    wanted: Wanted,
    #[serde(default)]
    to: String,
    #[serde(default)]
    csrf: String,
}

impl Wanted {
    /// The instant asked for: the email on `as_of`'s date (the customer's), else `at`, else now;
    /// years 1970 to 9000 only (the dates an email can carry).
    fn instant(&self, now: DateTime<Utc>) -> Result<PreviewAt, String> {
        let sane = |year: i32| (1970..=9000).contains(&year);
        if !self.as_of.is_empty() {
            return match self.as_of.parse::<NaiveDate>() {
                Ok(d) if sane(d.year()) => Ok(PreviewAt::AsOf(d)),
                Ok(_) => Err(format!(
                    "as_of={:?}: a date from 1970 to 9000, please",
                    self.as_of
                )),
                Err(e) => Err(format!(
                    "as_of={:?} is not a date (YYYY-MM-DD): {e}",
                    self.as_of
                )),
            };
        }
        if !self.at.is_empty() {
            return match DateTime::parse_from_rfc3339(&self.at) {
                Ok(t) if sane(t.year()) => Ok(PreviewAt::Now(t.with_timezone(&Utc))),
                Ok(_) => Err(format!(
                    "at={:?}: an instant from 1970 to 9000, please",
                    self.at
                )),
                Err(e) => Err(format!("at={:?} is not an RFC 3339 instant: {e}", self.at)),
            };
        }
        Ok(PreviewAt::Now(now))
    }
}

/// `GET /preview`.
pub async fn page(
    State(app): State<Arc<App>>,
    session: Authed,
    Query(wanted): Query<Wanted>,
) -> Response {
    let preview = compose(&app, &wanted).await;
    show(&app, &session, &wanted, preview, None).await
}

/// `POST /preview/send-test`: sends, then the preview again with what happened.
pub async fn send_test(
    State(app): State<Arc<App>>,
    session: Authed,
    Form(form): Form<TestSend>,
) -> Response {
    if let Err(r) = session.check(&form.csrf) {
        return r.into_response();
    }
    // Composed once: what is sent is what the page then shows.
    let preview = compose(&app, &form.wanted).await;
    let outcome = match &preview {
        Ok(preview) => super::live::send_test(&app, preview, form.to.trim()).await,
        Err(e) => Err(e.clone()),
    };
    show(&app, &session, &form.wanted, preview, Some(outcome)).await
}

/// The email of `wanted`.
async fn compose(app: &App, wanted: &Wanted) -> Result<Preview, String> {
    let at = wanted.instant(app.now())?;
    let language = Some(wanted.lang.as_str()).filter(|l| !l.is_empty());
    let loaded = super::loaded(app).await?;
    let booking = loaded.by_id(wanted.booking.trim()).ok_or_else(|| {
        format!(
            "no booking {:?} in {}",
            wanted.booking,
            app.settings.bookings.path.display()
        )
    })?;
    app.campaigns()
        .await?
        .preview_of(Booking::clone(booking), &wanted.campaign, at, language)
        .await
        .map_err(|e| e.to_string())
}

/// The preview page of `preview` (or why there is none), with the outcome of a test send when
/// there was one.
async fn show(
    app: &App,
    session: &Authed,
    wanted: &Wanted,
    preview: Result<Preview, String>,
    sent: Option<Result<String, String>>,
) -> Response {
    let mut ctx = Context::new();
    ctx.insert("page", "lookup");
    ctx.insert("now", &super::campaigns::instant(app.now()));
    ctx.insert("booking", &wanted.booking);
    ctx.insert("campaign", &wanted.campaign);
    ctx.insert("lang", &wanted.lang);
    ctx.insert("as_of", &wanted.as_of);
    ctx.insert("at", &wanted.at);
    ctx.insert("languages", &Locale::ALL.map(Locale::as_str));
    ctx.insert(
        "campaigns",
        &app.settings
            .campaigns
            .iter()
            .map(|c| &c.name)
            .collect::<Vec<_>>(),
    );
    ctx.insert("can_send", &app.settings.smtp.url.is_some());
    let (worker, campaign) = (app.state.clone(), wanted.campaign.clone());
    if let Ok(Some(p)) = super::blocking(move || worker.is_paused(&campaign)).await {
        ctx.insert(
            "paused",
            &format!(
                "{} is paused (by {}, {}): nothing of it goes until it is resumed.",
                p.campaign,
                p.by,
                super::campaigns::instant(p.at)
            ),
        );
    }
    match &sent {
        Some(Ok(note)) => ctx.insert("sent_note", note),
        Some(Err(e)) => ctx.insert("send_error", e),
        None => {}
    }
    match preview {
        Ok(preview) => fill(app, &mut ctx, &preview),
        Err(e) => ctx.insert("error", &e),
    }
    let mut r = app.pages.render("preview.html", ctx, Some(session));
    if matches!(sent, Some(Err(_))) && r.status() == StatusCode::OK {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// The email's parts, as the page shows them.
fn fill(app: &App, ctx: &mut Context, preview: &Preview) {
    let c = &preview.composed;
    let html = app.for_console(&c.content.html);
    ctx.insert("subject", &c.content.subject);
    ctx.insert("preheader", &c.content.preheader);
    ctx.insert("html", &html);
    ctx.insert("text", &c.content.text);
    ctx.insert("headers", &headers(preview));
    ctx.insert("why", &c.why);
    ctx.insert("to", &c.email.to.to_string());
    ctx.insert("composed_at", &super::campaigns::instant(preview.now));
    ctx.insert("when", &when_in_words(&preview.when, preview.now));
}

/// The message's header fields as sent (folded lines joined), in order.
fn headers(preview: &Preview) -> Vec<(String, String)> {
    let Ok(mime) = preview.composed.email.to_mime() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&mime);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.to_string(), v.trim().to_string()));
        }
    }
    out.into_iter().map(|(k, v)| (k, decoded(&v))).collect()
}

/// What the campaign does about the booking at the instant shown, in words.
fn when_in_words(when: &When, now: DateTime<Utc>) -> String {
    let at = super::campaigns::instant(now);
    match when {
        When::Send(_) => format!("Goes at {at}: this is the email as it will be sent then."),
        When::NotDue => format!("Not due at {at}: shown anyway, as it would be."),
        When::Waiting(t) => format!(
            "Due at {at}, but it waits for its campaign's dates, days or window until {}.",
            super::campaigns::instant(*t)
        ),
        When::Closed => {
            format!("Due at {at}, but its campaign will not send it before it stops being due.")
        }
    }
}

/// `GET /images/NAME`: a picture of `[review] images_dir` (jpg, png, gif, webp only), for the
/// previews' frames; no session needed (they are the catalog's pictures).
pub async fn image(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let Some(images) = app.settings.review.images() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let plain = !name.is_empty()
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\\'));
    let kind = match name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
        Some(e) if e == "png" => "image/png",
        Some(e) if e == "gif" => "image/gif",
        Some(e) if e == "webp" => "image/webp",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !plain {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(images.dir.join(&name)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A header value with its RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded, for
/// reading; a word that does not decode is kept as it is.
fn decoded(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        let Some((text, len)) = encoded_word(word) else {
            out.push_str(before);
            out.push_str("=?");
            rest = &word[2..];
            last_was_word = false;
            continue;
        };
        // White space between two encoded words is not part of the text (RFC 2047, 6.2).
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&text);
        rest = &word[len..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// The text of the encoded word `s` starts with, and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    use base64::Engine as _;
    let body = s.strip_prefix("=?")?;
    let mut parts = body.splitn(3, '?');
    let charset = parts.next()?;
    let encoding = parts.next()?;
    let rest = parts.next()?;
    let end = rest.find("?=")?;
    let data = &rest[..end];
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = match encoding {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?,
        "q" | "Q" => q_decode(data)?,
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((String::from_utf8(bytes).ok()?, len))
}

/// RFC 2047 "Q": `_` is a space, `=XX` a byte.
fn q_decode(data: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b => out.push(b),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decoded, Wanted};

    #[test]
    fn a_date_outside_what_an_email_can_carry_is_refused_not_composed() {
        let now = chrono::DateTime::UNIX_EPOCH;
        for (as_of, at) in [
            ("-262143-01-01", ""),
            ("+100000-01-01", ""),
            ("", "9999-01-01T00:00:00Z"),
        ] {
            let w = Wanted {
                as_of: as_of.into(),
                at: at.into(),
                ..Wanted::default()
            };
            let e = w.instant(now).unwrap_err();
            assert!(e.contains("1970 to 9000"), "{e}");
        }
        let w = Wanted {
            as_of: "2026-12-11".into(),
            ..Wanted::default()
        };
        assert!(w.instant(now).is_ok());
    }

    #[test]
    fn encoded_words_are_read_as_text_and_the_rest_is_kept() {
        assert_eq!(
            decoded("=?utf-8?b?Wm/Dqw==?= <zoe@example.com>"),
            "Zoë <zoe@example.com>"
        );
        assert_eq!(
            decoded("Booking =?utf-8?b?Q29uZmlybcOp?= =?utf-8?q?_now=3F?="),
            "Booking Confirmé now?"
        );
        assert_eq!(decoded("plain =?bad"), "plain =?bad");
        assert_eq!(decoded("=?iso-8859-1?q?x?="), "=?iso-8859-1?q?x?=");
    }
}
