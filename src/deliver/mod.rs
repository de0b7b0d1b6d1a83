//! Delivery: where finished emails go. A send goes through a [`Transport`] (SMTP; a scripted stub in
//! tests), which says what became of it in words every transport shares ([`Accepted`],
//! [`SendFailure`]); the run records that in its ledger without knowing which transport it drove. A
//! review copy (files; a recorder in tests) goes through a [`Delivery`]: it is not a send, so it has
//! no ledger, turns or in-doubt replies. One folder per implementation.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::Settings;

mod encode;
pub mod files;
mod message;
mod outcome;
mod smtp;
mod stub;

pub(crate) use files::write_atomically;
pub use files::FileDelivery;
pub use message::{signed, OutgoingEmail};
pub use outcome::{Accepted, SendFailure};
pub use smtp::{SharedPace, SmtpDelivery};
pub use stub::{RecordingDelivery, Script, ScriptedTransport};

/// Asked once by a [`Transport`] before it hands an email's message over (the SMTP transport asks
/// it once it has a connection, beside the envelope's round trips, and sends the message only after
/// it): the run claims the email in its ledger there. `false` withdraws the email, nothing of it
/// sent.
pub type Ready<'a> = Box<dyn FnOnce() -> BoxFuture<'a, bool> + Send + 'a>;

/// A turn on one of a transport's lanes (an SMTP connection), held by the run from an email's claim
/// to its commit: at most one email per lane is between the two, which is all a crash can leave in
/// doubt.
pub struct Turn<'a> {
    /// Held for as long as the turn: dropping it gives the lane to another email.
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl<'a> Turn<'a> {
    /// A turn held on one of a bounded number of lanes.
    pub fn held(permit: tokio::sync::SemaphorePermit<'a>) -> Turn<'a> {
        Turn {
            _permit: Some(permit),
        }
    }

    /// A turn of a transport without lanes (unbounded).
    pub fn free() -> Turn<'static> {
        Turn { _permit: None }
    }
}

/// The transport the settings name (`smtp.url`), none when they name none; it starts no more
/// sends once `stop` is set, and keeps `smtp.max_per_second` with the other runners of `pace`
/// (a shared ledger's). The error says why it cannot be used (`smtp: …`).
pub fn transport_of(
    settings: &Settings,
    stop: Option<Arc<AtomicBool>>,
    pace: Option<Arc<dyn SharedPace>>,
) -> Result<Option<Box<dyn Transport>>, String> {
    let Some(url) = &settings.smtp.url else {
        return Ok(None);
    };
    let mut smtp = SmtpDelivery::new(url, &settings.smtp)?;
    if let Some(stop) = stop {
        smtp.stop_when(stop);
    }
    if let Some(pace) = pace {
        smtp.share_pace(pace);
    }
    Ok(Some(Box::new(smtp)))
}

/// Where a send goes: one required method, as lettre's `Transport`.
pub trait Transport: Send + Sync {
    /// Sends one email whose message is `mime` (built once, as [`OutgoingEmail::to_mime`] makes
    /// it; shared, so that a transport can hand it to a task of its own without a copy), trying
    /// again as the transport sees fit, and calling `ready` once before the message goes.
    fn send<'a>(
        &'a self,
        email: &'a OutgoingEmail,
        mime: std::sync::Arc<Vec<u8>>,
        ready: Ready<'a>,
    ) -> BoxFuture<'a, Result<Accepted, SendFailure>>;

    /// A turn to send (see [`Turn`]); `None` once a stop is asked.
    fn turn(&self) -> BoxFuture<'_, Option<Turn<'_>>> {
        Box::pin(async { Some(Turn::free()) })
    }

    /// Where it sends, without credentials (for the report).
    fn name(&self) -> &str;

    /// Tries made again after temporary failures, over the whole run.
    fn retries(&self) -> u64 {
        0
    }

    /// Ends the run's use of it (closes connections), boundedly.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// What a caught panic said (its `&str` or `String` payload).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// An email that could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The message could not be built.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// Building or delivering the message panicked: a bug in tripmail or a library, caught so that
    /// it fails this email only.
    #[error("{0}")]
    Bug(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where review copies go (files; a recorder in tests): not sends, so no ledger, turns or replies.
pub trait Delivery: Send + Sync {
    /// Delivers one email; an error concerns this email only.
    fn deliver<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), DeliveryError>>;

    /// Delivers one email whose message (`email.to_mime()`) was built already, on the rendering
    /// threads.
    fn deliver_built<'a>(
        &'a self,
        email: &'a OutgoingEmail,
        mime: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        drop(mime);
        self.deliver(email)
    }
}
