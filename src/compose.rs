//! One email made from a booking and the items chosen for it: rendered (Tera, Fluent, mrml) and
//! addressed. Pure and synchronous: no recommendation API, no MIME message, no delivery. The run
//! gathers the [`Parts`] and calls [`compose`] on the rendering threads.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

use crate::bookings::Booking;
use crate::catalog::Catalog;
use crate::config::CampaignSettings;
use crate::deliver::OutgoingEmail;
use crate::due::Venue;
use crate::recommend::Recommendation;
use crate::render::{EmailContent, EmailInput, RenderError, Renderer};
use crate::report::EmailRecord;
use crate::reservation::{self, Reservation};

/// One email, composed.
#[derive(Debug, Clone)]
pub struct Composed {
    /// Ready to deliver.
    pub email: OutgoingEmail,
    /// Its content, MJML included (unless made [`Make::lean`]).
    pub content: EmailContent,
    /// Its line in the report.
    pub record: EmailRecord,
    /// Whether the block is missing because a recommendation API failed in a way that may pass (a
    /// timeout, no connection, HTTP 429 or 5xx).
    pub engine_transient: bool,
    /// Why the block holds these items, in sentences ([`crate::why`]), when made with [`Make::why`];
    /// else empty.
    pub why: Vec<String>,
}

/// How an email is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Make {
    /// The straightforward way (Tera → mrml, no compiled shapes), for comparisons.
    pub straight: bool,
    /// The email alone, as a run needs it: [`Composed::content`] keeps the subject and preheader
    /// only (no MJML is made; the HTML and text are in [`Composed::email`], not copied).
    pub lean: bool,
    /// Say why the block holds its items ([`Composed::why`]): each item the heuristics leave out is
    /// kept for it. A preview asks; a run does not.
    pub why: bool,
}

/// What one email is made of (owned: it goes to the rendering threads).
#[derive(Debug, Clone)]
pub struct Parts {
    /// The campaign.
    pub campaign: Arc<CampaignSettings>,
    /// The booking.
    pub booking: Arc<Booking>,
    /// The block's items; empty for no block.
    pub items: Vec<Recommendation>,
    /// Days from `now` to the travel date, on the customer's calendar.
    pub days_to_travel: i64,
    /// The trip's city, in the booking's language.
    pub city: String,
    /// Whether the block's heading may name the city (every item is in it).
    pub names_city: bool,
    /// The one-click unsubscribe link, for campaigns that have one.
    pub unsubscribe: Option<String>,
    /// The booking's manage-booking / tickets link, when the config has one.
    pub manage_url: Option<String>,
    /// The venue's time zone: the calendar event's and the JSON-LD's start.
    pub venue_tz: chrono_tz::Tz,
    /// The sender.
    pub from: Mailbox,
    /// The instant the email is made for (its `Date`).
    pub now: DateTime<Utc>,
}

/// The trip's city in the booking's language: the catalog's name of the venue's city when it has
/// one, else the booking's own.
pub fn city_name(catalog: Option<&Catalog>, venue: &Venue, booking: &Booking) -> String {
    catalog
        .zip(venue.city)
        .and_then(|(c, id)| c.city(id))
        .and_then(|c| c.names.get(booking.locale.as_str()))
        .map_or(booking.city.as_str(), String::as_str)
        .to_string()
}

/// The booking as its email tells it: the product's title in the booking's language when the
/// catalog has one for that product, else the booking itself.
pub fn in_its_language(catalog: Option<&Catalog>, booking: &Arc<Booking>) -> Arc<Booking> {
    let lang = booking.locale.as_str();
    match catalog
        .and_then(|c| c.product(booking.product_id))
        .and_then(|p| p.titles.get(lang))
    {
        Some(title) if *title != booking.product_title => Arc::new(Booking {
            product_title: title.clone(),
            ..Booking::clone(booking)
        }),
        _ => Arc::clone(booking),
    }
}

/// Renders and addresses one email.
pub fn compose(
    renderer: &Renderer,
    parts: Parts,
    make: Make,
) -> Result<(EmailContent, OutgoingEmail), RenderError> {
    let Parts {
        campaign,
        booking,
        items,
        days_to_travel,
        city,
        names_city,
        unsubscribe,
        manage_url,
        venue_tz,
        from,
        now,
    } = parts;
    let input = EmailInput {
        campaign: &campaign,
        booking: &booking,
        items: &items,
        days_to_travel,
        city: &city,
        block_names_city: names_city,
        unsubscribe_url: unsubscribe.as_deref(),
        manage_url: manage_url.as_deref(),
    };
    let mut content = match make.straight {
        true => renderer.render_straight(input)?,
        false => renderer.render_with(input, !make.lean)?,
    };
    let reservation = Reservation {
        booking: &booking,
        venue_tz,
        manage_url: manage_url.as_deref(),
        domain: from.email.domain(),
    };
    reservation::add_json_ld(&mut content.html, &reservation::json_ld(&reservation));
    let calendar = reservation::calendar(&reservation);
    let to = Mailbox::new(
        Some(booking.customer_first_name.clone()),
        booking.customer_email.clone(),
    );
    let email = OutgoingEmail {
        campaign: campaign.name.clone(),
        booking_id: booking.booking_id.clone(),
        message_id: OutgoingEmail::message_id_for(&campaign.name, &booking.booking_id, &from),
        from,
        to,
        subject: content.subject.clone(),
        date: now,
        html: match make.lean {
            true => std::mem::take(&mut content.html),
            false => content.html.clone(),
        },
        text: match make.lean {
            true => std::mem::take(&mut content.text),
            false => content.text.clone(),
        },
        list_unsubscribe: unsubscribe,
        original_to: None,
        calendar,
    };
    Ok((content, email))
}
