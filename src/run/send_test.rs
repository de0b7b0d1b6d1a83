//! A test send: a preview's email, redirected to any address as `run --redirect-to` redirects
//! (the customer's address kept in `X-Tripmail-Original-To`, a `preview-…` Message-ID), signed as
//! the run signs, sent once through the configured SMTP server. Never to the customer, never in
//! the ledger: a test is not a send of the campaign.

use std::time::Duration;

use lettre::message::Mailbox;

use super::Preview;
use crate::config::Settings;
use crate::deliver::{self, Ready, SmtpDelivery, Transport};

/// Why a test send did not go; no message holds a secret (the SMTP password, a DKIM key).
#[derive(Debug, thiserror::Error)]
pub enum TestSendError {
    /// The settings name no SMTP server.
    #[error("no smtp.url in the config: a test send needs an SMTP server")]
    NoSmtp,
    /// The SMTP settings cannot be used.
    #[error("smtp: {0}")]
    Smtp(String),
    /// The message could not be built or signed.
    #[error("the test email cannot be built: {0}")]
    Unbuildable(String),
    /// The server refused it, or could not be reached.
    #[error("the test to {to} through {server} did not go: {reason}")]
    Refused {
        /// The address it was for.
        to: String,
        /// The server, without credentials.
        server: String,
        /// What failed.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("the test to {to} through {server} had no answer within {waited:?}")]
    TimedOut {
        /// The address it was for.
        to: String,
        /// The server, without credentials.
        server: String,
        /// How long it waited.
        waited: Duration,
    },
}

/// Sends `preview`'s email to `to` instead of its customer, through `smtp.url`, once (no
/// retries: the person waiting sees the failure at once), waiting at most three times
/// `smtp.timeout_ms`. Returns the server's reply. The ledger is not opened.
pub async fn send_test(
    settings: &Settings,
    preview: &Preview,
    to: &Mailbox,
) -> Result<String, TestSendError> {
    let url = settings.smtp.url.as_ref().ok_or(TestSendError::NoSmtp)?;
    let once = crate::config::SmtpSettings {
        attempts: 1,
        ..settings.smtp.clone()
    };
    let transport = SmtpDelivery::new(url, &once).map_err(TestSendError::Smtp)?;
    let email = preview.composed.email.clone().redirected(to);
    let dkim = settings.dkim_signer();
    let mime = deliver::signed(email.to_mime(), dkim.as_deref(), email.date)
        .map_err(|e| TestSendError::Unbuildable(e.to_string()))?;
    let waited = Duration::from_millis(settings.smtp.timeout_ms).saturating_mul(3);
    let server = url.to_string();
    let ready: Ready<'_> = Box::new(|| Box::pin(async { true }));
    let sent = tokio::time::timeout(
        waited,
        Transport::send(&transport, &email, std::sync::Arc::new(mime), ready),
    )
    .await;
    Transport::close(&transport).await;
    let to = to.email.to_string();
    match sent {
        Ok(Ok(accepted)) => Ok(accepted.reply),
        Ok(Err(e)) => Err(TestSendError::Refused {
            to,
            server,
            reason: e.to_string(),
        }),
        Err(_) => Err(TestSendError::TimedOut { to, server, waited }),
    }
}
