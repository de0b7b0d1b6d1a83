//! The console's doors, without a browser (plain reqwest, no cookie store, no redirects followed):
//! a page without the session is sent to `/login` (303), a change without it is refused (403), a
//! change with the session but without the right `csrf` field is refused (403) and changes nothing;
//! a bad token is refused (401), a good one gives a session cookie (HttpOnly, SameSite=Strict).

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};

use crate::browser::{Console, Demo, TOKEN};

/// A client that keeps no cookies and follows no redirects.
pub(crate) fn plain() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// Logs in with `token`: the response's status and its `tripmail_session` cookie, whole.
pub(crate) async fn log_in(
    http: &Client,
    console: &Console,
    token: &str,
) -> (StatusCode, Option<String>) {
    let form = [("who", "guard test"), ("token", token)];
    let resp = http
        .post(console.at("login"))
        .form(&form)
        .send()
        .await
        .expect("the console answers");
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tripmail_session="))
        .map(str::to_string);
    (resp.status(), cookie)
}

/// Logs in with the test token: the `tripmail_session=…` pair a request sends back.
pub(crate) async fn session(http: &Client, console: &Console) -> String {
    let (_, cookie) = log_in(http, console, TOKEN).await;
    let cookie = cookie.expect("a session");
    cookie.split(';').next().unwrap_or("").to_string()
}

/// The value of the first hidden `csrf` field of `html`.
pub(crate) fn csrf_of(html: &str) -> String {
    html.split("<input")
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""))
        .filter(|tag| attr(tag, "name").as_deref() == Some("csrf"))
        .find_map(|tag| attr(tag, "value"))
        .unwrap_or_else(|| panic!("no input name=csrf with a value in: {html}"))
}

/// The value of attribute `name` in the inside of a tag (`"…"`, `'…'` or bare).
fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &tag[at..];
    let value = match rest.chars().next()? {
        q @ ('"' | '\'') => rest[1..].split(q).next()?,
        _ => rest.split([' ', '/', '>']).next()?,
    };
    Some(value.replace("&#x2B;", "+").replace("&#43;", "+"))
}

/// Whether `tripmail run` on the demo's config now says the reminder is paused.
fn reminder_paused(demo: &Demo) -> bool {
    let out = tempfile::tempdir().expect("temp dir");
    crate::util::succeeds(&demo.run(out.path()));
    let report = crate::util::report(out.path());
    let paused = report["paused"].as_array().cloned().unwrap_or_default();
    paused.iter().any(|p| p["campaign"] == "reminder")
}

#[test]
fn without_the_session_or_the_csrf_field_nothing_is_shown_or_changed() {
    let demo = Demo::new(&[]);
    let console = Console::start(&demo.config, &[]);
    let http = plain();
    let pause = console.at("campaigns/reminder/pause");
    crate::util::runtime().block_on(async {
        for page in [
            "",
            "plan",
            "lookup?q=WT-100001",
            "runs",
            "preview?booking=WT-100001&campaign=reminder",
        ] {
            let resp = http.get(console.at(page)).send().await.expect("an answer");
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "GET /{page}");
            let to = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            assert!(
                to.is_some_and(|l| l.ends_with("/login")),
                "GET /{page} -> {to:?}"
            );
        }
        let resp = http
            .post(&pause)
            .form(&[("csrf", "x")])
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "POST without session");

        let (status, cookie) = log_in(&http, &console, "not-the-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a bad token");
        assert!(cookie.is_none(), "no session for a bad token");
        let (status, cookie) = log_in(&http, &console, TOKEN).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "the good token");
        let cookie = cookie.expect("a tripmail_session cookie");
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(flag), "{flag} in {cookie}");
        }
        assert!(!cookie.contains(TOKEN), "the token is not the cookie");
        let session = cookie.split(';').next().unwrap_or("").to_string();

        let page = http.get(&console.url).header(COOKIE, &session).send().await;
        let page = page.expect("an answer");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("the campaigns page");
        assert!(!html.contains(TOKEN), "the token is not on the page");
        let csrf = csrf_of(&html);

        let refused: [&[(&str, &str)]; 3] = [&[], &[("csrf", "")], &[("csrf", "0123456789abcdef")]];
        for form in refused {
            let resp = http
                .post(&pause)
                .header(COOKIE, &session)
                .form(form)
                .send()
                .await;
            let status = resp.expect("an answer").status();
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "POST with session, form {form:?}"
            );
        }
        assert!(
            !reminder_paused(&demo),
            "a refused POST paused the reminder"
        );

        // The control: the same POST with the page's csrf field is taken.
        let resp = http
            .post(&pause)
            .header(COOKIE, &session)
            .form(&[("csrf", csrf.as_str())]);
        let status = resp.send().await.expect("an answer").status();
        let taken = status.is_redirection() || status.is_success();
        assert!(taken, "POST with session and csrf: {status}");
        assert!(
            reminder_paused(&demo),
            "the accepted POST paused the reminder"
        );
    });
}

#[test]
fn approving_a_snapshot_needs_the_session_and_the_csrf_field() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let templates = crate::util::templates_with(tmp.path(), "i18n/de.ftl", |t| {
        t.replace("Ihre Buchung", "Ihre Reise")
    });
    let dir_line = format!("dir = {:?}", templates.display().to_string());
    let config =
        crate::template_snapshots::demo_copy(tmp.path(), &[("dir = \"templates\"", &dir_line)]);
    let snap = tmp.path().join("snapshots/reminder-de-block.snap");
    let stored = std::fs::read_to_string(&snap).expect("the stored snapshot");
    let console = Console::start(&config, &[]);
    let http = plain();
    let approve = console.at("snapshots/approve");
    crate::util::runtime().block_on(async {
        let session = session(&http, &console).await;
        let page = http
            .get(console.at("snapshots/case/reminder-de-block"))
            .header(COOKIE, &session);
        let html = page
            .send()
            .await
            .expect("an answer")
            .text()
            .await
            .expect("the review");
        let csrf = csrf_of(&html);
        let seen = html
            .split("name=\"seen\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("the approve form's seen field")
            .to_string();
        assert!(seen.starts_with("reminder-de-block:"), "{seen}");

        let without_session = http
            .post(&approve)
            .form(&[("csrf", csrf.as_str()), ("seen", &seen)]);
        let status = without_session.send().await.expect("an answer").status();
        assert_eq!(status, StatusCode::FORBIDDEN, "without the session");
        let without_csrf = http
            .post(&approve)
            .header(COOKIE, &session)
            .form(&[("seen", &seen)]);
        let status = without_csrf.send().await.expect("an answer").status();
        assert_eq!(status, StatusCode::FORBIDDEN, "without the csrf field");
        assert_eq!(
            std::fs::read_to_string(&snap).expect("snapshot"),
            stored,
            "unchanged"
        );

        let taken = http
            .post(&approve)
            .header(COOKIE, &session)
            .form(&[("csrf", csrf.as_str()), ("seen", &seen)]);
        let resp = taken.send().await.expect("an answer");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let now = std::fs::read_to_string(&snap).expect("snapshot");
        assert!(
            now.contains("Ihre Reise") && !now.contains("Ihre Buchung"),
            "{now}"
        );
    });
}
