//! What every recommendation client shares: one HTTP client with a timeout, bounded concurrency, an
//! optional rate limit, answers read up to a cap, retries of temporary failures (after the wait a
//! `Retry-After` asks, within a bound, else with backoff), redirects followed only where the key
//! and the query may go, and errors that keep their cause but never the API key.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::EngineError;
use crate::config::{is_loopback, ListFormat, Secret};
use crate::retry::{backoff, retry_after};

mod redact;

use redact::Redactor;

/// How much of an error body is read: its first 200 characters are all an error keeps.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// Redirects followed for one request; one more is an error.
const MAX_REDIRECTS: usize = 5;

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!(
    "tripmail/",
    env!("CARGO_PKG_VERSION"),
    " (post-purchase cross-sell)"
);

/// How hard a client may press on its API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Requests per second; `None` for no limit.
    pub requests_per_second: Option<u32>,
    /// Tries of one request against a 429, 502, 503, 504 or a broken connection (1 = no retry).
    pub attempts: u32,
    /// First wait between tries; doubled each time, with random jitter.
    pub retry_base: Duration,
    /// The largest answer read; reading stops past it and the request fails.
    pub max_answer_bytes: usize,
    /// The longest wait a `Retry-After` may ask before another try; asked more, the request
    /// fails at once.
    pub max_retry_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(2),
            max_concurrency: 8,
            requests_per_second: None,
            attempts: 1,
            retry_base: Duration::from_millis(250),
            max_answer_bytes: crate::config::DEFAULT_MAX_ANSWER_BYTES,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// How a request proves who sends it.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Token <key>` (the cross-sell API).
    Token(Secret),
    /// HTTP Basic (the contact-recommendations API: the key is the password).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// Nothing.
    None,
}

impl Auth {
    /// Finds the secret in every form it could come back in an error body.
    fn redactor(&self) -> Redactor {
        match self {
            Auth::Token(key) => Redactor::new(key.expose(), None),
            Auth::Basic { username, password } => Redactor::new(password.expose(), Some(username)),
            Auth::None => Redactor::default(),
        }
    }
}

/// The shared HTTP part of a recommendation client.
pub struct Http {
    client: reqwest::Client,
    auth: Auth,
    redactor: Redactor,
    limits: Limits,
    permits: Semaphore,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// A failed try, and how long the server asked to wait before the next one.
struct Failure {
    error: EngineError,
    retry_after: Option<Duration>,
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Failure {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl Http {
    /// A client within `limits`, authenticating with `auth`.
    pub fn new(limits: Limits, auth: Auth) -> Result<Http, EngineError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Covers connecting, the headers and the whole body.
            .timeout(limits.timeout)
            .redirect(redirect_policy())
            .build()
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        let limiter = limits
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rps| RateLimiter::direct(Quota::per_second(rps)));
        Ok(Http {
            client,
            permits: Semaphore::new(limits.max_concurrency.max(1)),
            limiter,
            redactor: auth.redactor(),
            auth,
            limits,
        })
    }

    /// `GET url` for a JSON body: the body of a 2xx answer, after retrying temporary failures.
    pub async fn get_json(&self, url: &str) -> Result<Vec<u8>, EngineError> {
        let mut attempt = 1;
        loop {
            let failure = match self.get_once(url).await {
                Ok(body) => return Ok(body),
                Err(f) => f,
            };
            if attempt >= self.limits.attempts || !is_temporary(&failure.error) {
                return Err(failure.error);
            }
            let wait = match failure.retry_after {
                Some(asked) if asked > self.limits.max_retry_after => {
                    return Err(too_long_a_wait(failure.error, asked, &self.limits));
                }
                Some(asked) => asked,
                None => backoff(self.limits.retry_base, attempt),
            };
            tracing::debug!(
                "engine: {}; try {} of {} in {} ms",
                failure.error,
                attempt + 1,
                self.limits.attempts,
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn get_once(&self, url: &str) -> Result<Vec<u8>, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let mut req = self.client.get(url).header("Accept", "application/json");
        req = match &self.auth {
            Auth::Token(key) => req.header("Authorization", format!("Token {}", key.expose())),
            Auth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
            Auth::None => req,
        };
        let mut resp = req.send().await.map_err(|e| self.classify(e))?;
        let status = resp.status();
        if status.is_success() {
            let max = self.limits.max_answer_bytes;
            if resp.content_length().is_some_and(|n| n > max as u64) {
                return Err(EngineError::TooLarge(max).into());
            }
            return match read_capped(&mut resp, max, false).await {
                Ok((body, false)) => Ok(body),
                Ok((_, true)) => Err(EngineError::TooLarge(max).into()),
                Err(e) => Err(self.classify(e).into()),
            };
        }
        let retry_after = matches!(status.as_u16(), 429 | 503)
            .then(|| resp.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        // A status with a body that breaks off still is that status.
        let (body, cut) = read_capped(&mut resp, ERROR_BODY_BYTES, true)
            .await
            .unwrap_or_default();
        Err(Failure {
            error: EngineError::Status {
                status: status.as_u16(),
                body: self.excerpt(&body, cut),
            },
            retry_after,
        })
    }

    /// The start of an error body, without the API key: at most 200 characters.
    fn excerpt(&self, body: &[u8], cut: bool) -> String {
        let mut body = body;
        if cut {
            // Reading stopped at a byte count, maybe inside an echo of the key, which would then
            // not be recognised: leave out the tail where that could be.
            body = &body[..body.len().saturating_sub(self.redactor.reach())];
        }
        // Redacting before cutting: an echo is replaced whole before the cut can split it.
        let text = self.redactor.redact(&String::from_utf8_lossy(body));
        let text = text.trim();
        let mut excerpt: String = text.chars().take(200).collect();
        if cut || excerpt.len() < text.len() {
            excerpt.push('…');
        }
        excerpt
    }

    fn classify(&self, e: reqwest::Error) -> EngineError {
        if e.is_timeout() {
            return EngineError::Timeout(self.limits.timeout.as_millis() as u64);
        }
        // reqwest's own message is generic ("error sending request"): keep the causes too, but
        // not the URL (its query names the customer) nor anything of the key.
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        let e = e.without_url();
        if e.is_redirect() && !causes.is_empty() {
            // The cause is the policy's refusal, which says it all.
            return EngineError::Redirect(self.redactor.redact(&causes.join(": ")));
        }
        causes.insert(0, e.to_string());
        EngineError::Unreachable(self.redactor.redact(&causes.join(": ")))
    }
}

/// Follows a redirect only where the first request could have gone (`engine.base_url` is
/// refused in clear text beyond loopback): the key and the query, which names the customer,
/// would go along. Refusals name the target's origin, never its path or query.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        // `previous` holds the first URL and each one followed since.
        if attempt.previous().len() > MAX_REDIRECTS {
            let refusal = format!("redirect refused: more than {MAX_REDIRECTS} in a row");
            return attempt.error(refusal);
        }
        let url = attempt.url();
        let refusal = match url.scheme() {
            "https" => None,
            "http" if is_loopback(url) => None,
            "http" => Some(format!(
                "redirect to {} refused: clear text beyond loopback",
                url.origin().ascii_serialization()
            )),
            other => Some(format!("redirect to a {other}: URL refused: not http(s)")),
        };
        match refusal {
            Some(refusal) => attempt.error(refusal),
            None => attempt.follow(),
        }
    })
}

/// The body of `resp`, read a chunk at a time until its end or until more than `max` bytes came:
/// then what came, up to `max` (nothing unless `keep_cut`), and `true`.
async fn read_capped(
    resp: &mut reqwest::Response,
    max: usize,
    keep_cut: bool,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    // Chunks are kept as they come and joined once at the end: one buffer grown by doubling
    // would hold up to one and a half times the cap, per request, while it copies.
    let mut chunks = Vec::new();
    let mut len = 0;
    while let Some(mut chunk) = resp.chunk().await? {
        let room = max - len;
        if chunk.len() > room {
            if !keep_cut {
                return Ok((Vec::new(), true));
            }
            chunk.truncate(room);
            chunks.push(chunk);
            return Ok((chunks.concat(), true));
        }
        len += chunk.len();
        chunks.push(chunk);
    }
    Ok((chunks.concat(), false))
}

/// The failure when the server asks to wait longer than tripmail would: still the server's
/// status (so, temporary), saying how long it asked.
fn too_long_a_wait(error: EngineError, asked: Duration, limits: &Limits) -> EngineError {
    let note = format!(
        "the server asked to wait {} s (Retry-After), longer than the {} s tripmail waits",
        asked.as_secs(),
        limits.max_retry_after.as_secs()
    );
    match error {
        EngineError::Status { status, body } if body.is_empty() => {
            EngineError::Status { status, body: note }
        }
        EngineError::Status { status, body } => EngineError::Status {
            status,
            body: format!("{body} ({note})"),
        },
        other => other,
    }
}

/// Worth another try: the server asked to slow down, a gateway failed, or the connection broke. Not
/// a timeout (the next try would likely wait as long) nor any other status.
fn is_temporary(e: &EngineError) -> bool {
    match e {
        EngineError::Unreachable(_) => true,
        EngineError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
        EngineError::Timeout(_)
        | EngineError::BadJson(_)
        | EngineError::TooLarge(_)
        | EngineError::Redirect(_) => false,
    }
}

/// Writes `ids` under `key` in `format`, into `parts`.
pub(crate) fn push_list(parts: &mut Vec<String>, key: &str, ids: &[u64], format: ListFormat) {
    if ids.is_empty() {
        return;
    }
    let joined = ids.iter().map(u64::to_string).collect::<Vec<_>>();
    match format {
        ListFormat::Brackets => parts.push(format!("{key}=[{}]", joined.join(","))),
        ListFormat::Comma => parts.push(format!("{key}={}", joined.join(","))),
        ListFormat::Repeat => parts.extend(joined.iter().map(|id| format!("{key}={id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "live/Xk29/ab+cd";

    fn http() -> Result<Http, EngineError> {
        Http::new(Limits::default(), Auth::Token(Secret::new(KEY)))
    }

    #[test]
    fn an_echo_of_the_key_at_the_200_character_cut_is_masked_whole() -> Result<(), EngineError> {
        let http = http()?;
        for before in [190, 195, 199] {
            let body = format!("{}{KEY} and more", "a".repeat(before));
            let excerpt = http.excerpt(body.as_bytes(), false);
            assert!(!excerpt.contains("live"), "{before}: {excerpt}");
            assert!(excerpt.starts_with(&"a".repeat(before)), "{excerpt}");
        }
        Ok(())
    }

    #[test]
    fn a_body_cut_by_the_read_cap_inside_an_echo_leaves_the_started_echo_out(
    ) -> Result<(), EngineError> {
        let http = http()?;
        // Leading blanks, trimmed, bring the cut within the excerpt's 200 characters.
        let body = format!("{}error: {}", " ".repeat(5000), &KEY[..9]);
        let excerpt = http.excerpt(body.as_bytes(), true);
        assert!(!excerpt.contains("live"), "{excerpt}");
        assert!(excerpt.ends_with('…'), "{excerpt}");
        Ok(())
    }

    #[test]
    fn an_unreachable_message_keeps_neither_the_url_nor_the_key() -> Result<(), EngineError> {
        let http = http()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        // Port 9 of loopback: nothing listens; the URL carries a password and the key.
        let url = format!("http://user:pw-{KEY}@127.0.0.1:9/x?key={KEY}");
        let e = rt.block_on(http.get_json(&url));
        let shown = format!("{e:?}");
        assert!(matches!(e, Err(EngineError::Unreachable(_))), "{shown}");
        assert!(!shown.contains("Xk29") && !shown.contains("pw-"), "{shown}");
        Ok(())
    }
}
