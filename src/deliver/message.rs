//! The finished email and its RFC 5322 message, built once (on the rendering threads) and handed to
//! every transport as it is.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, IntoBody, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::{encode, panic_message, DeliveryError};

/// A finished email, ready to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// Sender.
    pub from: Mailbox,
    /// Recipient.
    pub to: Mailbox,
    /// Subject line.
    pub subject: String,
    /// Stable for a (campaign, booking): `<campaign.booking@sender-domain>`.
    pub message_id: String,
    /// The `Date` header: the run's `now`.
    pub date: DateTime<Utc>,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
    /// The one-click unsubscribe URL: `List-Unsubscribe` and `List-Unsubscribe-Post` headers.
    pub list_unsubscribe: Option<String>,
    /// The booking as a calendar event (`.ics`, RFC 5545), attached as `booking-<id>.ics`; the
    /// message is then multipart/mixed around the multipart/alternative.
    pub calendar: Option<String>,
    /// When redirected (a preview or test send), the customer it was meant for:
    /// `X-Tripmail-Original-To`.
    pub original_to: Option<String>,
}

/// The signature a redirected email's unsubscribe link carries instead of the customer's: no
/// unsubscribe endpoint accepts it.
pub const TEST_SIGNATURE: &str = "test-send-not-signed";

/// `url` with the value of its `sig` parameter replaced by [`TEST_SIGNATURE`].
fn unsigned(url: &str) -> String {
    let Some(at) = url
        .find("sig=")
        .filter(|&i| i > 0 && matches!(&url[i - 1..i], "?" | "&"))
    else {
        return url.to_string();
    };
    let value = at + "sig=".len();
    let end = url[value..].find('&').map_or(url.len(), |e| value + e);
    format!("{}{TEST_SIGNATURE}{}", &url[..value], &url[end..])
}

impl OutgoingEmail {
    /// The Message-ID for a campaign and booking, without angle brackets.
    pub fn message_id_for(campaign: &str, booking_id: &str, from: &Mailbox) -> String {
        format!("{campaign}.{booking_id}@{}", from.email.domain())
    }

    /// The same email sent to `to` instead of the customer, for a sandbox or a test send: the
    /// customer's address goes into `X-Tripmail-Original-To`, the subject is unchanged, and the
    /// Message-ID is the preview's own (`preview-<unix time>.` before it), so that a mailbox that
    /// keeps one message per Message-ID does not hide a second test behind the first or the real one.
    ///
    /// Its unsubscribe link (header and body) loses its signature (`sig=test-send-not-signed`): it
    /// looks the same, and whoever gets the test cannot unsubscribe the customer with it.
    pub fn redirected(mut self, to: &Mailbox) -> OutgoingEmail {
        self.original_to = Some(self.to.email.to_string());
        self.to = Mailbox::new(self.to.name.clone(), to.email.clone());
        self.message_id = format!("preview-{}.{}", self.date.timestamp(), self.message_id);
        if let Some(url) = self.list_unsubscribe.take() {
            let unsigned = unsigned(&url);
            self.text = self.text.replace(&url, &unsigned);
            self.html = self
                .html
                .replace(&url.replace('&', "&amp;"), &unsigned.replace('&', "&amp;"))
                .replace(&url, &unsigned);
            self.list_unsubscribe = Some(unsigned);
        }
        self
    }

    /// The RFC 5322 message: multipart/alternative with text/plain then text/html, UTF-8; inside
    /// multipart/mixed with the calendar attachment when there is one.
    ///
    /// The parts are encoded by `encode::body`, byte for byte as lettre encodes a `String`.
    pub fn to_mime(&self) -> Result<Vec<u8>, DeliveryError> {
        self.mime(encode::body(&self.text), encode::body(&self.html))
    }

    /// [`to_mime`](Self::to_mime) with the parts encoded by lettre itself (`Body::new`): the
    /// straightforward way, which the fast one is compared with.
    pub fn to_mime_straight(&self) -> Result<Vec<u8>, DeliveryError> {
        self.mime(self.text.clone(), self.html.clone())
    }

    fn mime(&self, text: impl IntoBody, html: impl IntoBody) -> Result<Vec<u8>, DeliveryError> {
        // lettre panics on some values instead of returning an error (a display name with a line
        // break: "a Display implementation returned an error"). Whatever the reader lets through,
        // one such email must fail alone, not end the run.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.build(text, html)))
            .unwrap_or_else(|panic| {
                Err(DeliveryError::Bug(format!(
                    "building the message failed unexpectedly (a bug; please report it): {}",
                    panic_message(&*panic)
                )))
            })
    }

    fn build(&self, text: impl IntoBody, html: impl IntoBody) -> Result<Vec<u8>, DeliveryError> {
        let boundary = format!("=_tripmail_{:016x}", fnv(self.message_id.as_bytes()));
        let secs = u64::try_from(self.date.timestamp()).unwrap_or(0);
        let mut builder = Message::builder();
        if let Some(url) = &self.list_unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        if let Some(original) = &self.original_to {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Tripmail-Original-To"),
                original.clone(),
            ));
        }
        let message = builder
            .from(self.from.clone())
            .to(self.to.clone())
            .subject(self.subject.clone())
            .message_id(Some(format!("<{}>", self.message_id)))
            .date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let alternative = MultiPart::alternative()
            .boundary(boundary.clone())
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            );
        let message = match &self.calendar {
            None => message.multipart(alternative),
            Some(ics) => message.multipart(
                MultiPart::mixed()
                    .boundary(format!("{boundary}_mixed"))
                    .multipart(alternative)
                    .singlepart(self.attachment(ics)?),
            ),
        }
        .map_err(|e| DeliveryError::Build(e.to_string()))?;
        Ok(message.formatted())
    }
}

impl OutgoingEmail {
    /// The calendar attachment: `text/calendar; method=PUBLISH` (an event to add, not an invitation).
    fn attachment(&self, ics: &str) -> Result<SinglePart, DeliveryError> {
        let kind = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
            .map_err(|e| DeliveryError::Build(e.to_string()))?;
        Ok(Attachment::new(format!("booking-{}.ics", self.booking_id)).body(ics.to_string(), kind))
    }
}

/// A small stable hash (FNV-1a): the MIME boundary must not change between runs.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// `mime` signed by `signer` at `now` (as it is without one): the step every path that builds a
/// message ends with.
pub fn signed(
    mime: Result<Vec<u8>, DeliveryError>,
    signer: Option<&crate::dkim::DkimSigner>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, DeliveryError> {
    match signer {
        Some(signer) => signer.sign(&mime?, now).map_err(DeliveryError::Build),
        None => mime,
    }
}
