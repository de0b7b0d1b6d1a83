//! Who may use the console: one login token (`console.token`, `TRIPMAIL_CONSOLE__TOKEN`), sessions
//! in a cookie that scripts cannot read and other sites cannot send (`HttpOnly; SameSite=Strict`),
//! and a per-session CSRF token that every change carries in its form.
//!
//! The token is compared in constant time through its SHA-256 digest; session ids and CSRF tokens
//! are 256 random bits from the operating system. Sessions live in memory: a restart logs everyone
//! out, which is what a small team's console wants.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "tripmail_session";
/// A session unused this long is gone.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions; the oldest goes first.
const MAX_SESSIONS: usize = 256;

/// The token and the open sessions.
pub struct Auth {
    digest: [u8; 32],
    /// Mark the cookie `Secure` (the console is reached through TLS: `--allow-remote`).
    secure: bool,
    sessions: Mutex<HashMap<String, Session>>,
}

/// One logged-in browser.
#[derive(Clone)]
struct Session {
    who: String,
    csrf: String,
    used: Instant,
}

/// A request from a logged-in browser: who, and the CSRF token its forms carry.
#[derive(Clone)]
pub struct Authed {
    /// The name given at login, written in the audit list.
    pub who: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Auth {
    /// Accepts `token` (without the white space around it: a token read from a file often ends in
    /// a newline, and the login form's is trimmed too).
    pub fn new(token: &Secret, secure: bool) -> Auth {
        Auth {
            secure,
            digest: Sha256::digest(token.expose().trim().as_bytes()).into(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for `who` when `token` is the console's: the cookie's value.
    pub fn login(&self, token: &str, who: &str) -> Option<String> {
        let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        if !bool::from(given.ct_eq(&self.digest)) {
            return None;
        }
        let id = random_token()?;
        let csrf = random_token()?;
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.used.elapsed() < IDLE);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        let who = clean_name(who);
        sessions.insert(
            id.clone(),
            Session {
                who,
                csrf,
                used: Instant::now(),
            },
        );
        Some(id)
    }

    /// Ends the session `id`.
    pub fn logout(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The session `id`, if it is open (and marks it used).
    fn session(&self, id: &str) -> Option<Authed> {
        let mut sessions = self.lock();
        let s = sessions.get_mut(id)?;
        if s.used.elapsed() >= IDLE {
            sessions.remove(id);
            return None;
        }
        s.used = Instant::now();
        Some(Authed {
            who: s.who.clone(),
            csrf: s.csrf.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Authed {
    /// Refuses a change whose form does not carry this session's CSRF token.
    pub fn check(&self, csrf: &str) -> Result<(), Refused> {
        match bool::from(csrf.as_bytes().ct_eq(self.csrf.as_bytes())) && !csrf.is_empty() {
            true => Ok(()),
            false => Err(Refused(
                "the form's CSRF token is missing or wrong: reload the page",
            )),
        }
    }
}

/// A change refused (403), with the reason.
#[derive(Debug)]
pub struct Refused(&'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        refused(self.0)
    }
}

/// A 403 with a short reason.
pub fn refused(why: &str) -> Response {
    (StatusCode::FORBIDDEN, format!("Forbidden: {why}\n")).into_response()
}

/// The login name as the audit list shows it: printable, trimmed, at most 60 characters.
fn clean_name(who: &str) -> String {
    // Controls, and the format characters that reorder or hide text (U+202E and kin).
    let name: String = who
        .chars()
        .filter(|c| !c.is_control() && !is_format(*c))
        .take(60)
        .collect();
    match name.trim() {
        "" => "console".to_string(),
        n => n.to_string(),
    }
}

/// Unicode's bidirectional controls and invisible format characters.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// 256 random bits, base64url; `None` when the OS has no randomness to give.
pub fn random_token() -> Option<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The values of cookie `name` in a request's `Cookie` headers.
pub fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Auth {
    /// The `Set-Cookie` value of a session (`Secure` too when the console is reached over TLS).
    pub fn session_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}")
    }
}

/// The `Set-Cookie` value that ends a session.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Whether a change comes from another site: its `Origin` (when the browser sends one) is not the
/// `Host` it was sent to.
fn cross_site(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return false;
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, h)| h);
    host.is_none() || origin_host != host
}

/// The shared state a handler's [`Authed`] is read from.
pub trait HasAuth {
    /// The console's sessions.
    fn auth(&self) -> &Auth;
}

impl<S: HasAuth + Send + Sync> FromRequestParts<std::sync::Arc<S>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<S>,
    ) -> Result<Self, Self::Rejection> {
        let reading = matches!(parts.method, Method::GET | Method::HEAD);
        if !reading && cross_site(parts) {
            return Err(refused("a change from another site"));
        }
        match cookies(&parts.headers, COOKIE).find_map(|id| state.auth().session(id)) {
            Some(authed) => Ok(authed),
            None if reading => Err(Redirect::to("/login").into_response()),
            None => Err(refused("not logged in")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_opens_a_session_and_the_session_knows_its_csrf() {
        let auth = Auth::new(&Secret::new("s3cret-token\n"), false);
        assert!(auth.login("wrong", "ana").is_none());
        assert!(auth.login("", "ana").is_none());
        let id = auth.login("s3cret-token", " Ana\u{7}\u{202E} ").unwrap();
        let s = auth.session(&id).unwrap();
        assert_eq!(s.who, "Ana");
        assert!(s.check(&s.csrf).is_ok());
        assert!(s.check("").is_err());
        assert!(s.check("other").is_err());
        assert_ne!(id, s.csrf);
        assert!(!auth.session_cookie(&id).contains("Secure"));
        assert!(Auth::new(&Secret::new("t"), true)
            .session_cookie(&id)
            .ends_with("; Secure"));
        auth.logout(&id);
        assert!(auth.session(&id).is_none());
    }
}
