//! A transport that answers each send as its script says, the way SMTP would: `ready` (the run's
//! claim) is asked when the message would go, except when the server is out of reach or a stop came
//! first. With it the run's ledger states can be tested without a socket.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::future::BoxFuture;

use crate::deliver::{Accepted, OutgoingEmail, Ready, SendFailure, Transport};

/// What the scripted transport does with one email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Accepted at the first try.
    Accept,
    /// Refused for good (5xx) at its first try.
    Reject,
    /// Refused for now (4xx) at each of 3 tries.
    Defer,
    /// The connection lost after the message: the server may have it.
    InDoubt,
    /// The server could not be reached (3 tries): `ready` is not asked.
    Unavailable,
    /// A stop was asked before the transaction: `ready` is not asked, nothing sent.
    Stop,
    /// A stop was asked after 2 tries refused for now: `ready` asked at the first.
    StopAfterTries,
}

/// Answers sends in the order of its script, then [`Script::Accept`] to the rest.
#[derive(Default)]
pub struct ScriptedTransport {
    script: Mutex<VecDeque<Script>>,
    accepted: Mutex<Vec<OutgoingEmail>>,
    asked: Mutex<u32>,
}

impl ScriptedTransport {
    /// A transport that answers the first sends as `script` says.
    pub fn new(script: impl IntoIterator<Item = Script>) -> ScriptedTransport {
        ScriptedTransport {
            script: Mutex::new(script.into_iter().collect()),
            ..ScriptedTransport::default()
        }
    }

    /// The emails it accepted, in order.
    pub fn accepted(&self) -> Vec<OutgoingEmail> {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many times it asked `ready`.
    pub fn asked(&self) -> u32 {
        *self.asked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next(&self) -> Script {
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(Script::Accept)
    }

    async fn answer(
        &self,
        email: &OutgoingEmail,
        ready: Ready<'_>,
    ) -> Result<Accepted, SendFailure> {
        let (asks, outcome) = self.outcome(self.next());
        if asks {
            *self.asked.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            if !ready().await {
                return Err(SendFailure::Stopped { attempts: 0 });
            }
        }
        if outcome.is_ok() {
            self.accepted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(email.clone());
        }
        outcome
    }

    /// Whether `script` reaches the point where `ready` is asked, and what it ends in.
    fn outcome(&self, script: Script) -> (bool, Result<Accepted, SendFailure>) {
        match script {
            Script::Accept => (
                true,
                Ok(Accepted {
                    reply: "250 2.0.0 Ok: queued".into(),
                    attempts: 1,
                    read_at: None,
                }),
            ),
            Script::Reject => (
                true,
                Err(SendFailure::Rejected {
                    reply: "550 5.1.1 no such user".into(),
                    attempts: 1,
                }),
            ),
            Script::Defer => (
                true,
                Err(SendFailure::Deferred {
                    reply: "451 4.3.0 try again later".into(),
                    attempts: 3,
                }),
            ),
            Script::InDoubt => (
                true,
                Err(SendFailure::InDoubt {
                    reply: "no answer within the timeout (Message)".into(),
                    attempts: 1,
                }),
            ),
            Script::StopAfterTries => (true, Err(SendFailure::Stopped { attempts: 2 })),
            Script::Unavailable => (
                false,
                Err(SendFailure::Unavailable {
                    server: self.name().to_string(),
                    reason: "cannot connect: Connection refused (os error 111)".into(),
                    attempts: 3,
                }),
            ),
            Script::Stop => (false, Err(SendFailure::Stopped { attempts: 0 })),
        }
    }
}

impl Transport for ScriptedTransport {
    fn send<'a>(
        &'a self,
        email: &'a OutgoingEmail,
        _mime: std::sync::Arc<Vec<u8>>,
        ready: Ready<'a>,
    ) -> BoxFuture<'a, Result<Accepted, SendFailure>> {
        Box::pin(self.answer(email, ready))
    }

    fn name(&self) -> &str {
        "scripted"
    }
}
