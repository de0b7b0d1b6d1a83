//! One email through a [`Transport`]: claimed in the ledger when the transport is ready for it,
//! sent, and its end recorded; [`settle`] is the one place that decides the ledger state from what
//! the transport reports.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::FutureExt;

use super::produce::{Produced, Stop};
use super::threads::{bug, on_ledger, on_ledger_first};
use super::{Outputs, RunOptions};
use crate::compose::Composed;
use crate::deliver::{Accepted, Delivery, DeliveryError, OutgoingEmail, SendFailure, Transport};
use crate::ledger::{Claim, Recorded, SendLedger, SendState, UnrecordedSend};
use crate::report::{EmailRecord, Unrecorded};
use crate::state::PauseWatch;

/// One due email on its way: the ledger it is recorded in (none for files only, or redirected
/// previews), its key (campaign, booking id), its Message-ID and recipient as the ledger keeps them.
pub(super) struct One<'a> {
    pub(super) ledger: Option<Arc<dyn SendLedger>>,
    pub(super) key: (&'a str, &'a str),
    pub(super) message_id: String,
    pub(super) recipient: String,
    pub(super) opts: &'a RunOptions,
    /// The campaigns paused, asked again right before the claim.
    pub(super) pauses: &'a PauseWatch,
}

impl One<'_> {
    /// Gives the email up for a bug that the same email would meet again (a panic): it is finished
    /// as failed (it never reached the server), so that reruns and a runner's ticks do not stumble
    /// on it again; the reason says to report it. Other emails go on.
    pub(super) async fn give_up(&self, why: String) -> Result<Produced, Stop> {
        if let Some(ledger) = &self.ledger {
            let (message_id, recipient) = (self.message_id.clone(), self.recipient.clone());
            let (reply, run_at, at) = (why.clone(), self.opts.now, (self.opts.clock)());
            on_ledger(ledger, self.key, move |l, c, b| {
                // Not over what another copy of the booking did meanwhile.
                if let Claim::Done(_) = l.claim(c, b, &message_id, &recipient, run_at, at)? {
                    return Ok(Recorded::InLedger);
                }
                l.finish(c, b, SendState::Failed, &reply, 0, at)
            })
            .await?;
        }
        Ok(Produced::Failed(why))
    }

    /// Delivers the email, whose message is `mime`: the review copy first (files), then the send
    /// (when the run sends), recorded in the ledger.
    pub(super) async fn deliver(
        &self,
        composed: Composed,
        mut mime: Vec<u8>,
        out: &Outputs<'_>,
    ) -> Result<Produced, Stop> {
        // Paused while it was being made: neither written nor sent.
        if let Some(p) = self.pauses.get(self.key.0) {
            return Ok(Produced::Paused(p));
        }
        if let Some(files) = out.files {
            // A send needs the message after the copy: the copy then gets its own.
            let copy = match out.send {
                Some(_) => mime.clone(),
                None => std::mem::take(&mut mime),
            };
            if let Some(failed) = self.copy(files, &composed.email, copy).await {
                return failed;
            }
        }
        let Some(send) = &out.send else {
            return Ok(Produced::Written(Box::new(composed.record)));
        };
        // The ledger broke while this email was being made (a write failed, even one that went
        // through when tried again): it is not started, and the run stops, saying why.
        if let Some(ledger) = self.ledger.as_ref().filter(|l| l.is_broken()) {
            let path = ledger.path().to_path_buf();
            return Err(Stop::Ledger(crate::ledger::LedgerError::Stopped { path }));
        }
        self.send(send.transport, composed, mime).await
    }

    /// The review copy (files): `Some` when it failed, with what became of the email.
    pub(super) async fn copy(
        &self,
        files: &dyn Delivery,
        email: &OutgoingEmail,
        mime: Vec<u8>,
    ) -> Option<Result<Produced, Stop>> {
        let delivering = files.deliver_built(email, mime);
        match AssertUnwindSafe(delivering).catch_unwind().await {
            Ok(Ok(())) => None,
            Ok(Err(DeliveryError::Bug(why))) => Some(self.give_up(why).await),
            Err(panic) => Some(self.give_up(bug("writing", &*panic)).await),
            Ok(Err(e)) => Some(Ok(Produced::Failed(e.to_string()))),
        }
    }

    /// Sends it through `transport`, claiming it when a lane is ready for it, and records the end.
    ///
    /// Claimed when a connection is ready for it (the transport's `ready`), and its reply committed
    /// before its turn goes to another email: at most one email per connection is between claim
    /// and commit, which is all a crash can leave in doubt (the README, "Exactly once"). The turn
    /// is taken with the claim (not before: a try that fails before it may back off without holding
    /// one) and kept until the reply is committed.
    pub(super) async fn send(
        &self,
        transport: &dyn Transport,
        composed: Composed,
        mime: Vec<u8>,
    ) -> Result<Produced, Stop> {
        let Composed { email, record, .. } = composed;
        let turn = std::sync::Mutex::new(None);
        let claim_result: std::sync::Mutex<Option<Result<Claim, Stop>>> =
            std::sync::Mutex::new(None);
        let paused = std::sync::Mutex::new(None);
        let claim_now = || async {
            // Paused while it was being made: withdrawn, nothing claimed or sent.
            if let Some(p) = self.pauses.get(self.key.0) {
                *paused.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
                return false;
            }
            let Some(ledger) = &self.ledger else {
                return true;
            };
            let Some(taken) = transport.turn().await else {
                return false; // a stop was asked: withdrawn, nothing sent
            };
            *turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(taken);
            let (message_id, recipient) = (self.message_id.clone(), self.recipient.clone());
            let (run_at, at) = (self.opts.now, (self.opts.clock)());
            // Beside the envelope's round trips (see `SmtpDelivery::send_built`): off this task's
            // thread, like every ledger call.
            let claim = on_ledger(ledger, self.key, move |l, c, b| {
                l.claim(c, b, &message_id, &recipient, run_at, at)
            })
            .await;
            let go = matches!(claim, Ok(Claim::New | Claim::Retry | Claim::InDoubt));
            *claim_result.lock().unwrap_or_else(|p| p.into_inner()) = Some(claim);
            go
        };
        // A panic while sending may come before or after the server got the message: the email is
        // finished as failed rather than sent again, which could send it twice (and would meet the
        // same panic at every run).
        let ready = Box::new(|| claim_now().boxed());
        let sent = AssertUnwindSafe(transport.send(&email, Arc::new(mime), ready))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(SendFailure::Unsendable(bug("sending", &*panic))));
        if let Some(p) = paused.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Produced::Paused(p));
        }
        // What the claim found, if it was asked (none: no connection was had, nothing sent).
        let claimed = match claim_result.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Err(stop)) => return Err(stop),
            Some(Ok(Claim::Done(state))) => return Ok(Produced::AlreadyDone(state)),
            Some(Ok(claim)) => Some(claim),
            None => None,
        };
        let produced = self.record(Box::new(record), sent, claimed).await;
        drop(turn);
        produced
    }

    /// Records in the ledger what became of a send (`claimed`: what its claim found, none when it
    /// was never claimed).
    async fn record(
        &self,
        record: Box<EmailRecord>,
        sent: Result<Accepted, SendFailure>,
        claimed: Option<Claim>,
    ) -> Result<Produced, Stop> {
        // The in-doubt window: from the server's reply (read by the transport) to its commit
        // (logged at debug, target `tripmail::window`, for measurements).
        let replied = (sent.as_ref().ok())
            .and_then(|accepted| accepted.read_at)
            .unwrap_or_else(std::time::Instant::now);
        let Some((state, reply, attempts, produced)) =
            settle(record, sent, claimed == Some(Claim::InDoubt))
        else {
            // Asked to stop before the transaction: nothing sent, and a first try leaves no trace.
            if let Some((ledger, claimed)) = self.ledger.as_ref().zip(claimed) {
                on_ledger_first(ledger, self.key, move |l, c, b| l.release(c, b, claimed)).await?;
            }
            return Ok(Produced::Interrupted);
        };
        let Some(ledger) = &self.ledger else {
            return Ok(produced);
        };
        let at = (self.opts.clock)();
        let reply_ = reply.clone();
        // An email that failed or was deferred before the server waited for its message was never
        // claimed: it is claimed now, so that its end is recorded all the same.
        let unclaimed = claimed.is_none().then(|| {
            (
                self.message_id.clone(),
                self.recipient.clone(),
                self.opts.now,
            )
        });
        let recorded = on_ledger_first(ledger, self.key, move |l, c, b| {
            if let Some((message_id, recipient, run_at)) = &unclaimed {
                // Sent (or being sent) by another copy of the booking meanwhile: left as it is.
                if let Claim::Done(_) = l.claim(c, b, message_id, recipient, *run_at, at)? {
                    return Ok(Recorded::InLedger);
                }
            }
            l.finish(c, b, state, &reply_, attempts, at)
        })
        .await;
        if let Ok(Recorded::InLedger) = recorded {
            tracing::debug!(
                target: "tripmail::window",
                micros = replied.elapsed().as_micros() as u64,
                "reply committed"
            );
            return Ok(produced);
        }
        Ok(self.unrecorded(recorded, produced, state, reply, attempts, at))
    }

    /// Whatever the ledger says, the email went as `produced` says: the report counts it so, and
    /// the run stops starting emails. A sent email the ledger could not take is listed.
    fn unrecorded(
        &self,
        recorded: Result<Recorded, Stop>,
        produced: Produced,
        state: SendState,
        reply: String,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Produced {
        let (unrecorded, why) = match recorded {
            Ok(Recorded::InLedger) => return produced,
            Ok(Recorded::Listed { send, list, error }) => (
                Unrecorded {
                    send,
                    listed_in: Some(list.display().to_string()),
                    error: error.to_string(),
                },
                Stop::Ledger(*error),
            ),
            Err(Stop::Ledger(e)) if state == SendState::Sent => {
                let send = UnrecordedSend {
                    campaign: self.key.0.to_string(),
                    booking_id: self.key.1.to_string(),
                    message_id: self.message_id.clone(),
                    recipient: self.recipient.clone(),
                    reply,
                    attempts,
                    at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
                };
                let error = e.to_string();
                (
                    Unrecorded {
                        send,
                        listed_in: None,
                        error,
                    },
                    Stop::Ledger(e),
                )
            }
            Err(why) => return Produced::Halting(Box::new(produced), why),
        };
        let produced = match produced {
            Produced::Sent {
                record, in_doubt, ..
            } => Produced::Sent {
                record,
                in_doubt,
                unrecorded: Some(unrecorded),
            },
            other => other,
        };
        Produced::Halting(Box::new(produced), why)
    }
}

/// The one place that decides the ledger state of a send from the transport's outcome: the state,
/// reply and tries to record, and what became of the email. `None`: asked to stop before the
/// transaction, nothing sent (the claim, if any, is given back). `in_doubt`: the claim found it
/// claimed by an earlier run that may have handed it to the server.
fn settle(
    record: Box<EmailRecord>,
    sent: Result<Accepted, SendFailure>,
    in_doubt: bool,
) -> Option<(SendState, String, u32, Produced)> {
    let (state, produced) = match &sent {
        Ok(_) => {
            let unrecorded = None;
            let produced = Produced::Sent {
                record,
                in_doubt,
                unrecorded,
            };
            (SendState::Sent, produced)
        }
        Err(f @ (SendFailure::Rejected { .. } | SendFailure::Unsendable(_))) => {
            (SendState::Failed, Produced::Failed(f.to_string()))
        }
        // The server may have it: the claim stays, with what happened (see the README).
        Err(f @ SendFailure::InDoubt { .. }) => {
            let reply = format!("in doubt: {}", f.reply());
            (SendState::Claimed, Produced::InDoubt(reply))
        }
        Err(SendFailure::Stopped { attempts: 0 }) => return None,
        // After temporary failures the email stays deferred, as when its tries run out.
        Err(SendFailure::Stopped { .. }) => (SendState::Deferred, Produced::Interrupted),
        Err(f @ SendFailure::Deferred { .. }) => {
            let reply = f.reply();
            (
                SendState::Deferred,
                Produced::Deferred { reply, stop: None },
            )
        }
        Err(f @ SendFailure::Unavailable { .. }) => {
            let (reply, stop) = (f.reply(), Some(Stop::Unavailable(f.to_string())));
            (SendState::Deferred, Produced::Deferred { reply, stop })
        }
    };
    let (reply, attempts) = match &sent {
        Ok(a) => (a.reply.clone(), a.attempts),
        Err(f @ SendFailure::InDoubt { .. }) => (format!("in doubt: {}", f.reply()), f.attempts()),
        Err(f) => (f.reply(), f.attempts()),
    };
    Some((state, reply, attempts, produced))
}
