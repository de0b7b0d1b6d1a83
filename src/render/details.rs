//! The booking's details a traveller acts on, as the templates print them: start time, venue and
//! address or meeting point, price paid (formatted as the block's prices are), the manage link.
//! Each is `None` when the booking or the config does not give it: the template leaves its line out.

use serde::Serialize;

use super::{EmailInput, Renderer};

/// The details, each as text, when known.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct DetailsView {
    pub(super) start_time: Option<String>,
    pub(super) venue: Option<String>,
    pub(super) address: Option<String>,
    pub(super) meeting_point: Option<String>,
    pub(super) price_paid: Option<String>,
    pub(super) manage_url: Option<String>,
}

/// The fields of [`DetailsView`], in the order of their bits in a shape's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DetailField {
    StartTime,
    Venue,
    Address,
    MeetingPoint,
    PricePaid,
    ManageUrl,
}

impl DetailField {
    pub(crate) const ALL: [DetailField; 6] = [
        DetailField::StartTime,
        DetailField::Venue,
        DetailField::Address,
        DetailField::MeetingPoint,
        DetailField::PricePaid,
        DetailField::ManageUrl,
    ];
}

impl DetailsView {
    /// The slot of `field`.
    pub(crate) fn get_mut(&mut self, field: DetailField) -> &mut Option<String> {
        match field {
            DetailField::StartTime => &mut self.start_time,
            DetailField::Venue => &mut self.venue,
            DetailField::Address => &mut self.address,
            DetailField::MeetingPoint => &mut self.meeting_point,
            DetailField::PricePaid => &mut self.price_paid,
            DetailField::ManageUrl => &mut self.manage_url,
        }
    }

    /// `field`'s value.
    pub(crate) fn get(&self, field: DetailField) -> Option<&str> {
        match field {
            DetailField::StartTime => self.start_time.as_deref(),
            DetailField::Venue => self.venue.as_deref(),
            DetailField::Address => self.address.as_deref(),
            DetailField::MeetingPoint => self.meeting_point.as_deref(),
            DetailField::PricePaid => self.price_paid.as_deref(),
            DetailField::ManageUrl => self.manage_url.as_deref(),
        }
    }
}

/// Bit n: the n-th field of [`DetailField::ALL`] is known for `input` .
pub(crate) fn presence(input: &EmailInput<'_>) -> u8 {
    let d = &input.booking.details;
    [
        d.start_time.is_some(),
        d.venue_name.is_some(),
        d.venue_address.is_some(),
        d.meeting_point.is_some(),
        d.price_paid.is_some(),
        input.manage_url.is_some(),
    ]
    .iter()
    .enumerate()
    .filter(|(_, known)| **known)
    .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// A booking like `booking` whose details are `sample` where `bits` says `input` has them, for
/// checking a compiled shape; and the sample manage link, when `input` has one.
pub(crate) fn sample_details(bits: u8, sample: &str) -> (crate::bookings::Details, Option<String>) {
    let has = |f: DetailField| {
        let i = DetailField::ALL.iter().position(|x| *x == f).unwrap_or(0);
        bits & (1 << i) != 0
    };
    let text = |f| has(f).then(|| sample.to_string());
    let details = crate::bookings::Details {
        start_time: has(DetailField::StartTime)
            .then(|| chrono::NaiveTime::from_hms_opt(9, sample.len() as u32 % 60, 0))
            .flatten(),
        venue_name: text(DetailField::Venue),
        venue_address: text(DetailField::Address),
        meeting_point: text(DetailField::MeetingPoint),
        price_paid: has(DetailField::PricePaid).then(|| crate::catalog::Money {
            amount: 12.5 * sample.len() as f64,
            currency: "EUR".into(),
        }),
    };
    let manage = has(DetailField::ManageUrl)
        .then(|| format!("https://m.example/b/{}?v=1&w=2", sample.len()));
    (details, manage)
}

impl Renderer {
    /// The details of `input`'s email.
    pub(super) fn details_view(&self, input: &EmailInput<'_>) -> DetailsView {
        let b = input.booking;
        let d = &b.details;
        DetailsView {
            start_time: d.start_time.map(|t| t.format("%H:%M").to_string()),
            venue: d.venue_name.clone(),
            address: d.venue_address.clone(),
            meeting_point: d.meeting_point.clone(),
            price_paid: d
                .price_paid
                .as_ref()
                .map(|m| self.money.format(b.locale, m)),
            manage_url: input.manage_url.map(str::to_string),
        }
    }
}
