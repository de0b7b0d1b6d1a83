//! The schema.org `EventReservation` in the HTML, as Gmail reads it
//! (<https://developers.google.com/gmail/markup/reference/event-reservation>).

use serde_json::{json, Map, Value};

use super::{Reservation, Start};

/// The JSON-LD of `r`'s booking, safe inside a `<script>` element: `<`, `>` and `&` are written
/// as `\u003c`, `\u003e`, `\u0026` (they only occur inside strings), so that no title can close
/// the element.
pub fn json_ld(r: &Reservation<'_>) -> String {
    let b = r.booking;
    let d = &b.details;
    let start = match r.start() {
        Start::At(at) => at.to_rfc3339(),
        Start::Day(day) => day.format("%Y-%m-%d").to_string(),
    };
    let mut address = Map::new();
    address.insert("@type".into(), "PostalAddress".into());
    if let Some(a) = d.venue_address.as_ref().or(d.meeting_point.as_ref()) {
        address.insert("streetAddress".into(), a.as_str().into());
    }
    address.insert("addressLocality".into(), b.city.as_str().into());
    let place = json!({
        "@type": "Place",
        "name": d.venue_name.as_deref().or(d.meeting_point.as_deref()).unwrap_or(&b.city),
        "address": Value::Object(address),
    });
    let mut reservation = json!({
        "@context": "http://schema.org",
        "@type": "EventReservation",
        "reservationNumber": b.booking_id,
        "reservationStatus": "http://schema.org/ReservationConfirmed",
        "underName": {
            "@type": "Person",
            "name": b.customer_first_name,
            "email": b.customer_email.to_string(),
        },
        "reservationFor": {
            "@type": "Event",
            "name": b.product_title,
            "startDate": start,
            "location": place,
        },
    });
    if let (Some(url), Some(object)) = (r.manage_url, reservation.as_object_mut()) {
        object.insert("modifyReservationUrl".into(), url.into());
        object.insert("url".into(), url.into());
    }
    let json = reservation.to_string();
    let mut safe = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            c => safe.push(c),
        }
    }
    safe
}

/// Puts `json` in a `<script type="application/ld+json">` at the end of `html`'s head (at the
/// start when it has none), in place.
pub fn add_json_ld(html: &mut String, json: &str) {
    let script = format!("<script type=\"application/ld+json\">{json}</script>");
    let at = html.find("</head>").unwrap_or(0);
    html.insert_str(at, &script);
}
