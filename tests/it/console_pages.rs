//! The console's pages as a program sees them (plain HTTP, a logged-in session): the bookings file
//! read once per change of the file, not once per page; no secret on any page or in the console's
//! output, in any encoding; loopback only unless told; a token made and printed when none is set.

use std::path::Path;

use base64::Engine as _;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::Client;

use crate::browser::{Console, Demo, TOKEN};
use crate::util::{runtime, tripmail_process, NOW};

/// Every page of the console, with a booking and campaign that exist in the shipped demo.
const PAGES: [&str; 8] = [
    "",
    "plan",
    "lookup?q=WT-100001",
    "lookup?q=zoe.hartley%40example.com",
    "preview?booking=WT-100001&campaign=reminder",
    "preview?booking=WT-100001&campaign=confirmation&lang=de",
    "runs",
    "snapshots",
];

/// `serve` on `config` with `env` added to the test token.
fn serve(config: &Path, env: &[(&str, &str)]) -> Console {
    let mut cmd = tripmail_process();
    cmd.arg("serve").arg("--config").arg(config);
    cmd.args(["--listen", "127.0.0.1:0", "--now", NOW]);
    cmd.env("TRIPMAIL_CONSOLE__TOKEN", TOKEN);
    cmd.envs(env.iter().copied());
    Console::spawn(cmd)
}

/// A logged-in session's cookie (`tripmail_session=…`).
async fn session(http: &Client, console: &Console, token: &str) -> String {
    let resp = http
        .post(console.at("login"))
        .form(&[("who", "pages test"), ("token", token)])
        .send()
        .await
        .expect("the console answers");
    assert_eq!(resp.status(), 303, "a good token logs in");
    let cookie = resp.headers().get(SET_COOKIE).expect("a session cookie");
    let cookie = cookie.to_str().expect("ASCII");
    cookie.split(';').next().unwrap_or_default().to_string()
}

/// The body of GET `path` with the session; it must be 200.
async fn page(http: &Client, console: &Console, cookie: &str, path: &str) -> String {
    let resp = http
        .get(console.at(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("the console answers");
    let status = resp.status();
    let body = resp.text().await.expect("a body");
    assert_eq!(status, 200, "/{path}: {body}");
    body
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// How many times the console says it read the bookings file.
fn reads(console: &Console) -> usize {
    console.stderr_text().matches("bookings file ").count()
}

#[test]
fn the_bookings_file_is_read_once_per_change_of_the_file_not_once_per_page() {
    let demo = Demo::with_bookings(|csv| csv);
    let bookings = demo.dir.path().join("bookings.csv");
    let console = serve(&demo.config, &[("RUST_LOG", "tripmail=info")]);
    let (http, rt) = (client(), runtime());
    rt.block_on(async {
        let cookie = session(&http, &console, TOKEN).await;
        for _ in 0..2 {
            for path in PAGES {
                page(&http, &console, &cookie, path).await;
            }
        }
        assert_eq!(reads(&console), 1, "{}", console.stderr_text());
        // A new export: the next page reads it, once, and shows the new booking.
        let mut text = std::fs::read_to_string(&bookings).expect("bookings");
        let first = text.lines().nth(1).expect("a row").to_string();
        text.push_str(&first.replacen("WT-100001", "WT-999999", 1));
        text.push('\n');
        std::fs::write(&bookings, text).expect("bookings rewritten");
        let found = page(&http, &console, &cookie, "lookup?q=WT-999999").await;
        assert!(found.contains("data-booking=\"WT-999999\""), "{found}");
        page(&http, &console, &cookie, "plan").await;
        assert_eq!(reads(&console), 2, "{}", console.stderr_text());
    });
}

/// `secret` as it could leak: itself, HTML-escaped, percent-encoded, in base64 (standard and URL).
fn encodings(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    vec![
        secret.to_string(),
        secret.replace('-', "&#x2D;"),
        tripmail::config::url_safe(secret),
        b64.trim_end_matches('=').to_string(),
        b64url,
    ]
}

#[test]
fn no_secret_is_on_any_page_nor_in_the_consoles_output_in_any_encoding() {
    let password = "smtp-pass-Qx7-on-no-page";
    let unsubscribe = "wanderly-demo-unsubscribe-secret";
    let demo = Demo::new(&[(
        "max_connections = 4",
        "url = \"smtp://tripmail@127.0.0.1:9\"\nmax_connections = 4",
    )]);
    // The snapshot pages show every case's email too.
    let fixtures = crate::util::root().join("fixtures");
    std::fs::copy(
        fixtures.join("snapshots.toml"),
        demo.dir.path().join("snapshots.toml"),
    )
    .expect("the case list copied");
    let answers = demo.dir.path().join("answers");
    std::fs::create_dir_all(&answers).expect("answers folder");
    for entry in std::fs::read_dir(fixtures.join("answers")).expect("answers") {
        let p = entry.expect("an answer").path();
        std::fs::copy(&p, answers.join(p.file_name().expect("a name"))).expect("copied");
    }
    let console = serve(
        &demo.config,
        &[("TRIPMAIL_SMTP__PASSWORD", password), ("RUST_LOG", "debug")],
    );
    let (http, rt) = (client(), runtime());
    let mut seen = String::new();
    rt.block_on(async {
        let cookie = session(&http, &console, TOKEN).await;
        for path in PAGES.iter().chain(&["snapshots/case/reminder-de-block"]) {
            seen.push_str(&page(&http, &console, &cookie, path).await);
        }
        assert!(
            seen.contains("26 cases: 0 the same, 0 changed, 26 new"),
            "the gallery was shown"
        );
        // A test send that fails (nothing listens on port 9): its error is on the page too.
        let preview = page(&http, &console, &cookie, PAGES[4]).await;
        let csrf = preview
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a csrf field");
        let resp = http
            .post(console.at("preview/send-test"))
            .header(COOKIE, &cookie)
            .form(&[
                ("csrf", csrf),
                ("booking", "WT-100001"),
                ("campaign", "reminder"),
                ("to", "qa@example.com"),
            ])
            .send()
            .await
            .expect("the console answers");
        let body = resp.text().await.expect("a body");
        assert!(body.contains("id=\"send-error\""), "{body}");
        seen.push_str(&body);
        let login = http.get(console.at("login")).send().await.expect("login");
        seen.push_str(&login.text().await.expect("a body"));
    });
    seen.push_str(&console.stderr_text());
    for secret in [password, unsubscribe, TOKEN] {
        for form in encodings(secret) {
            assert!(!seen.contains(&form), "{secret:?} shows as {form:?}");
        }
    }
}

#[test]
fn another_address_than_loopback_is_refused_unless_allowed() {
    let demo = Demo::new(&[]);
    let out = tripmail_process()
        .args(["serve", "--listen", "0.0.0.0:0", "--config"])
        .arg(&demo.config)
        .output()
        .expect("tripmail runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--listen 0.0.0.0:0: not a loopback address"),
        "{err}"
    );
    assert!(err.contains("--allow-remote"), "{err}");
}

#[test]
fn without_a_token_set_one_is_made_printed_once_and_it_logs_in() {
    let demo = Demo::new(&[]);
    let mut cmd = tripmail_process();
    cmd.arg("serve").arg("--config").arg(&demo.config);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tripmail serve starts");
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let wait = std::time::Duration::from_secs(30);
    let url_line = rx.recv_timeout(wait).expect("the address line");
    let token_line = rx.recv_timeout(wait).expect("the token line");
    let url = url_line
        .strip_prefix("tripmail console: ")
        .expect("the address first")
        .to_string();
    let token = token_line.strip_prefix("token: ").expect("then the token");
    assert!(token.len() >= 43, "256 bits: {token}");
    let rt = runtime();
    let http = client();
    let status = rt.block_on(async {
        http.post(format!("{url}login"))
            .form(&[("who", "x"), ("token", token)])
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status.ok(), Some(303));
}
