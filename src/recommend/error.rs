//! Why a recommendation API gave no answer for one request ([`EngineError`], counted in the report
//! and never fatal), and why the sources cannot be used at all ([`SourceError`], fatal before the
//! first email).

/// Why a source gave no answer. Cloneable, so that a cached failure answers every booking that asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No answer within the timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// Could not connect or the connection broke.
    #[error("cannot reach the engine: {0}")]
    Unreachable(String),
    /// A non-success status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The body is not the documented JSON.
    #[error("unexpected answer: {0}")]
    BadJson(String),
    /// The answer was longer than the cap; reading stopped there.
    #[error("answer larger than {0} bytes (engine.max_answer_bytes)")]
    TooLarge(usize),
    /// The engine redirected where tripmail does not follow (clear text beyond loopback, too
    /// many redirects); the message says which.
    #[error("{0}")]
    Redirect(String),
}

impl EngineError {
    /// Whether the failure may pass by itself (a timeout, no connection, HTTP 429 or 5xx), as
    /// opposed to one that asks for a change (other statuses, a malformed answer).
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Timeout(_) | EngineError::Unreachable(_) => true,
            EngineError::Status { status, .. } => *status == 429 || *status >= 500,
            EngineError::BadJson(_) | EngineError::TooLarge(_) | EngineError::Redirect(_) => false,
        }
    }

    /// A short machine-readable reason, counted in the report.
    pub fn reason(&self) -> String {
        match self {
            EngineError::Timeout(_) => "engine_timeout".into(),
            EngineError::Unreachable(_) => "engine_unreachable".into(),
            EngineError::Status { status, .. } => format!("engine_http_{status}"),
            EngineError::BadJson(_) => "engine_bad_json".into(),
            EngineError::TooLarge(_) => "engine_answer_too_large".into(),
            EngineError::Redirect(_) => "engine_redirect_refused".into(),
        }
    }
}

/// Why the recommendation sources cannot be used (exit code 2, before the first email).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The embedded engine cannot start, or the client cannot be built.
    #[error("engine: {0}")]
    Engine(String),
    /// The bookings file cannot identify customers the way a campaign's API wants.
    #[error("{file}:1: the header has no `{column}` column, which engine.yespo.identify_by = \"{param}\" needs (campaign {campaign}); add the column or identify by another field")]
    MissingIdentity {
        /// The bookings file.
        file: String,
        /// The missing column.
        column: &'static str,
        /// The identification parameter.
        param: &'static str,
        /// A campaign that needs it.
        campaign: String,
    },
}
