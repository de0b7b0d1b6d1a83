//! What every recommendation client shares: one HTTP client with a timeout, bounded concurrency, an
//! optional rate limit, retries of temporary failures with backoff, and errors that keep their cause
//! but never the API key.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::EngineError;
use crate::config::Secret;
use crate::retry::backoff;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(2),
            max_concurrency: 8,
            requests_per_second: None,
            attempts: 1,
            retry_base: Duration::from_millis(250),
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
    /// Every form in which the secret could come back in an error body: as is, percent- and
    /// form-encoded, and as the Basic credential.
    fn secret_forms(&self) -> Vec<String> {
        use base64::Engine as _;
        let (key, basic) = match self {
            Auth::Token(s) => (s.expose(), None),
            Auth::Basic { username, password } => (
                password.expose(),
                Some(
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{}", password.expose())),
                ),
            ),
            Auth::None => return Vec::new(),
        };
        if key.is_empty() {
            return Vec::new();
        }
        let mut forms = vec![
            key.to_string(),
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            url::form_urlencoded::byte_serialize(key.as_bytes()).collect(),
        ];
        forms.extend(basic);
        // Longest first, so that a form containing another is replaced whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        forms
    }
}

/// The shared HTTP part of a recommendation client.
pub struct Http {
    client: reqwest::Client,
    auth: Auth,
    limits: Limits,
    permits: Semaphore,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Http {
    /// A client within `limits`, authenticating with `auth`.
    pub fn new(limits: Limits, auth: Auth) -> Result<Http, EngineError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(limits.timeout)
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
            auth,
            limits,
        })
    }

    /// `GET url` for a JSON body: the body of a 2xx answer, after retrying temporary failures.
    pub async fn get_json(&self, url: &str) -> Result<Vec<u8>, EngineError> {
        let mut attempt = 1;
        loop {
            match self.get_once(url).await {
                Err(e) if attempt < self.limits.attempts && is_temporary(&e) => {
                    tracing::debug!(
                        "engine: {e}; try {} of {}",
                        attempt + 1,
                        self.limits.attempts
                    );
                    tokio::time::sleep(backoff(self.limits.retry_base, attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn get_once(&self, url: &str) -> Result<Vec<u8>, EngineError> {
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
        let timeout_ms = self.limits.timeout.as_millis() as u64;
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                EngineError::Timeout(timeout_ms)
            } else {
                // reqwest's own message is generic ("error sending request"): keep the cause too.
                let mut causes = String::new();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    causes.push_str(": ");
                    causes.push_str(&s.to_string());
                    source = s.source();
                }
                EngineError::Unreachable(format!("{}{causes}", e.without_url()))
            }
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(classify)?;
        if !status.is_success() {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            // An API that echoes the key in its error must not put it in our logs.
            for secret in self.auth.secret_forms() {
                text = text.replace(&secret, "***");
            }
            let mut excerpt: String = text.trim().chars().take(200).collect();
            if excerpt.len() < text.trim().len() {
                excerpt.push('…');
            }
            return Err(EngineError::Status {
                status: status.as_u16(),
                body: excerpt,
            });
        }
        Ok(body.to_vec())
    }
}

/// Worth another try: the server asked to slow down, a gateway failed, or the connection broke. Not
/// a timeout (the next try would likely wait as long) nor any other status.
fn is_temporary(e: &EngineError) -> bool {
    match e {
        EngineError::Unreachable(_) => true,
        EngineError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
        EngineError::Timeout(_) | EngineError::BadJson(_) => false,
    }
}
