//! Test doubles, as lettre ships its `StubTransport`: a review-copy [`Delivery`] that records what it was
//! given, and a [`Transport`](super::Transport) that answers each send as scripted.

use std::sync::Mutex;

use futures::future::BoxFuture;

use super::{Delivery, DeliveryError, OutgoingEmail};

mod scripted;

pub use scripted::{Script, ScriptedTransport};

/// Keeps every delivered email in memory.
#[derive(Default)]
pub struct RecordingDelivery {
    sent: Mutex<Vec<OutgoingEmail>>,
}

impl RecordingDelivery {
    /// What was delivered so far, in order.
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Delivery for RecordingDelivery {
    fn deliver<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(email.clone());
            Ok(())
        })
    }
}
