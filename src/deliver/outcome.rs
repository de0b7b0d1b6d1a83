//! What a transport did with one email, in words every transport shares: accepted with the server's
//! reply, or why not (rejected, deferred, unavailable, in doubt, unsendable, stopped). The run decides
//! the ledger state from this alone, whichever transport it drove.

/// The server accepted the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The server's reply to the end of DATA, e.g. `250 2.0.0 Ok: queued`.
    pub reply: String,
    /// Tries it took (1 when the first one went through).
    pub attempts: u32,
    /// When the transport read the reply, where it knows (the start of the in-doubt window, for
    /// its measurement).
    pub read_at: Option<std::time::Instant>,
}

/// Why an email was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// A permanent rejection (5xx) of this email: not tried again.
    #[error("rejected: {reply}")]
    Rejected {
        /// The server's reply.
        reply: String,
        /// Tries made.
        attempts: u32,
    },
    /// Temporary failures (4xx) of this email, until the tries ran out: the next run tries again.
    #[error("deferred after {attempts} tries: {reply}")]
    Deferred {
        /// The last reply.
        reply: String,
        /// Tries made.
        attempts: u32,
    },
    /// The server cannot be used: refused or dropped connections, timeouts, 421, or a refused login,
    /// until the tries ran out. Nothing more should be sent in this run.
    #[error("SMTP server {server} unavailable ({attempts} tries): {reason}")]
    Unavailable {
        /// The server, without credentials.
        server: String,
        /// The last error.
        reason: String,
        /// Tries made.
        attempts: u32,
    },
    /// The connection was lost after the whole message was sent, before the server's reply: the
    /// server may have accepted it. Not tried again in this run (see the README, "Exactly once").
    #[error("in doubt after {attempts} tries: {reply}")]
    InDoubt {
        /// What happened.
        reply: String,
        /// Tries made.
        attempts: u32,
    },
    /// The message itself cannot be sent (bad address, cannot build): not tried again.
    #[error("cannot send: {0}")]
    Unsendable(String),
    /// The run was asked to stop before this email's (next) transaction began: not sent.
    #[error("not sent: the run was asked to stop")]
    Stopped {
        /// Tries made before (temporary failures).
        attempts: u32,
    },
}

impl SendFailure {
    /// The reply or error to record.
    pub fn reply(&self) -> String {
        match self {
            SendFailure::Rejected { reply, .. }
            | SendFailure::Deferred { reply, .. }
            | SendFailure::InDoubt { reply, .. } => reply.clone(),
            SendFailure::Unavailable { reason, .. } => reason.clone(),
            SendFailure::Unsendable(reason) => reason.clone(),
            SendFailure::Stopped { .. } => self.to_string(),
        }
    }

    /// Tries made.
    pub fn attempts(&self) -> u32 {
        match self {
            SendFailure::Rejected { attempts, .. }
            | SendFailure::Deferred { attempts, .. }
            | SendFailure::InDoubt { attempts, .. }
            | SendFailure::Unavailable { attempts, .. }
            | SendFailure::Stopped { attempts } => *attempts,
            SendFailure::Unsendable(_) => 0,
        }
    }
}
