//! Compiling a shape: the templates rendered once with a placeholder for every per-email value,
//! checked against the straightforward render for sample emails, then one email filled in.

use std::borrow::Cow;
use std::collections::BTreeMap;

use fluent_bundle::FluentArgs;

use super::{fits, Compiled, ItemField, Messages, Shape, Slot, Slots, Template, SAMPLES};
use crate::bookings::Booking;
use crate::catalog::Money;
use crate::recommend::{ProductId, Recommendation};
use crate::render::details::{presence, sample_details, DetailField, DetailsView};
use crate::render::templates::{mjml_to_html, tidy_text};
use crate::render::views::{title_of, BookingView, ItemView, View};
use crate::render::{
    EmailContent, EmailInput, RenderError, Renderer, BLOCK_HEADING, PER_ITEM_MESSAGES,
};

impl Renderer {
    /// The compiled form of `input`'s shape: the templates rendered with a placeholder for every
    /// value that changes from one email to the next (messages that read the same for everyone
    /// are written in), and the MJML turned into HTML once. It is trusted only when it gives the
    /// straightforward render's bytes for sample emails of the shape whose values differ in every
    /// way a template could tell apart (long and short, case, quotes, `&`, `<`, accents): a
    /// template that filters or tests a value (`truncate`, `upper`, `length`) fails that, and the
    /// shape is rendered the straightforward way. The samples depend on the shape alone, so the
    /// outcome does not depend on which email came first.
    pub(in crate::render) fn compile(&self, input: &EmailInput<'_>) -> Shape {
        let Some(compiled) = self.try_compile(input) else {
            return Shape::Straight;
        };
        let bits = presence(input);
        for sample in SAMPLES {
            let (details, manage) = sample_details(bits, sample);
            let booking = Booking {
                booking_id: format!("SAMPLE-{}", sample.len()),
                customer_first_name: sample.to_string(),
                product_title: sample.to_string(),
                details,
                ..Booking::sample(input.booking.locale)
            };
            let items: Vec<Recommendation> = input
                .items
                .iter()
                .enumerate()
                .map(|(i, r)| Recommendation {
                    product_id: ProductId::Number(1000 + i as u64),
                    title: format!("{sample} {i}"),
                    image_url: match r.image_url.is_empty() {
                        true => String::new(),
                        false => format!("https://images.example/{i}/{}.jpg", sample.len()),
                    },
                    from_price: Money {
                        amount: 12.5 * (i + 1) as f64,
                        currency: "EUR".into(),
                    },
                    url: (i % 2 == 0)
                        .then(|| format!("https://s.example/p/{i}?v={}&w=1", sample.len())),
                    in_stock: true,
                    traits: Default::default(),
                    city: None,
                })
                .collect();
            let unsubscribe = format!("https://u.example/unsubscribe?v={}&w=1", sample.len());
            let sample_input = EmailInput {
                campaign: input.campaign,
                booking: &booking,
                items: &items,
                days_to_travel: 3,
                city: sample,
                block_names_city: input.block_names_city,
                unsubscribe_url: input.unsubscribe_url.map(|_| unsubscribe.as_str()),
                manage_url: manage.as_deref(),
            };
            let same = match (
                self.fill(&compiled, &sample_input, true),
                self.render_straight(sample_input),
            ) {
                (Ok(Some(fast)), Ok(straight)) => fast == straight,
                _ => false,
            };
            if !same {
                tracing::warn!(
                    campaign = input.campaign.name.as_str(),
                    locale = input.booking.locale.as_str(),
                    items = input.items.len(),
                    "{}: this shape of email cannot be compiled (the template does more with a value than print it); rendering it the straightforward way",
                    self.mjml_template(input.campaign).display()
                );
                return Shape::Straight;
            }
        }
        Shape::Compiled(Box::new(compiled))
    }

    /// The compiled form of `input`'s shape, unchecked; `None` when it cannot be made (a message
    /// that does not format, a template that fails or cuts a placeholder).
    fn try_compile(&self, input: &EmailInput<'_>) -> Option<Compiled> {
        let messages = self.compiled_messages(input.campaign.trigger.as_str());
        let mut slots = Slots::default();
        let t = self.message_tokens(input, &mut slots)?;
        let subject = slots.token(Slot::Subject);
        let title = slots.token(Slot::Title);
        let preheader = slots.token(Slot::Preheader);
        let items = item_tokens(input, &mut slots);
        let (id, first_name) = (slots.token(Slot::BookingId), slots.token(Slot::FirstName));
        let (product_title, city) = (slots.token(Slot::ProductTitle), slots.token(Slot::City));
        let booking = BookingView {
            id: &id,
            first_name: &first_name,
            product_title: &product_title,
            city: &city,
            date: slots.token(Slot::Date),
            travellers: slots.token(Slot::Travellers),
            details: detail_tokens(input, &mut slots),
        };
        let unsubscribe = input
            .unsubscribe_url
            .map(|_| slots.token(Slot::Unsubscribe));
        let view = View::new(
            (&self.brand, &self.support),
            input,
            (&subject, &preheader, &title),
            t,
            booking,
            &items,
            unsubscribe.as_deref(),
            &self.footer,
        );
        let (mjml, text) = self.render_view(input.campaign, &view).ok()?;
        let html = mjml_to_html(&mjml, &self.mjml_template(input.campaign)).ok()?;
        let n = slots.len();
        Some(Compiled::new(
            slots,
            messages,
            [
                Template::split(html, n)?,
                Template::split(mjml, n)?,
                Template::split(text, n)?,
            ],
        ))
    }

    /// Where the subject, preheader and travellers line come from: their messages' indexes.
    fn compiled_messages(&self, trigger: &str) -> Messages {
        let ids = self.translations.ids();
        let index = |key: &str| {
            ids.iter()
                .position(|id| id.replace('-', "_") == key)
                .and_then(|i| u16::try_from(i).ok())
        };
        Messages {
            subject: index(&format!("{trigger}_subject")),
            preheader: index(&format!("{trigger}_preheader")),
            travellers: index("travellers"),
        }
    }

    /// The templates' `t`: each message that reads the same for everyone written in, a placeholder
    /// for the others (per-item messages and the date format are not in it).
    fn message_tokens(
        &self,
        input: &EmailInput<'_>,
        slots: &mut Slots,
    ) -> Option<BTreeMap<String, String>> {
        let locale = input.booking.locale;
        let ids = self.translations.ids();
        let mut t = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            if id == "date-format" || PER_ITEM_MESSAGES.contains(&id.as_str()) {
                continue;
            }
            let value = if self.translations.is_constant(locale, id) {
                self.translations
                    .message(locale, id, &FluentArgs::new())
                    .ok()?
            } else {
                slots.token(Slot::Message(u16::try_from(i).ok()?))
            };
            t.insert(id.replace('-', "_"), value);
        }
        if !input.block_names_city {
            t.insert(BLOCK_HEADING.into(), self.heading_any(locale).ok()?);
        }
        Some(t)
    }

    /// One email filled into a compiled shape.
    pub(in crate::render) fn fill(
        &self,
        c: &Compiled,
        input: &EmailInput<'_>,
        with_mjml: bool,
    ) -> Result<Option<EmailContent>, RenderError> {
        let b = input.booking;
        let locale = b.locale;
        let date = self.translations.date(locale, b.travel_date);
        let args = self.args(input, &date);
        let ids = self.translations.ids();
        let message = |i: Option<u16>| -> Result<String, RenderError> {
            match i.and_then(|i| ids.get(usize::from(i))) {
                Some(id) => Ok(self.translations.message(locale, id, &args)?),
                None => Ok(String::new()),
            }
        };
        let subject = match c.messages.subject.and_then(|i| ids.get(usize::from(i))) {
            Some(id) => self.subject(locale, id, &args, &b.product_title)?,
            None => String::new(),
        };
        let preheader = message(c.messages.preheader)?;
        let items: Vec<ItemView> = input
            .items
            .iter()
            .map(|r| self.item_view(locale, input.campaign, r))
            .collect::<Result<_, _>>()?;
        let details = self.details_view(input);
        // Borrowed where the value exists already; only messages are made per email.
        let mut values: Vec<Cow<'_, str>> = Vec::with_capacity(c.slots.len());
        for n in 0..c.slots.len() {
            let value = match c.slots.get(n).filter(|_| c.used[n]) {
                None => Cow::Borrowed(""),
                Some(Slot::Subject) => Cow::Borrowed(subject.as_str()),
                Some(Slot::Title) => Cow::Owned(title_of(&subject)),
                Some(Slot::Preheader) => Cow::Borrowed(preheader.as_str()),
                Some(Slot::BookingId) => Cow::Borrowed(b.booking_id.as_str()),
                Some(Slot::FirstName) => Cow::Borrowed(b.customer_first_name.as_str()),
                Some(Slot::ProductTitle) => Cow::Borrowed(b.product_title.as_str()),
                Some(Slot::City) => Cow::Borrowed(input.city),
                Some(Slot::Date) => Cow::Borrowed(date.as_str()),
                Some(Slot::Travellers) => Cow::Owned(message(c.messages.travellers)?),
                Some(Slot::Unsubscribe) => Cow::Borrowed(input.unsubscribe_url.unwrap_or("")),
                Some(Slot::Message(i)) => Cow::Owned(message(Some(i))?),
                Some(Slot::Detail(f)) => Cow::Borrowed(details.get(f).unwrap_or("")),
                Some(Slot::Item(i, field)) => match items.get(usize::from(i)) {
                    None => Cow::Borrowed(""),
                    Some(item) => Cow::Borrowed(match field {
                        ItemField::Title => item.title.as_str(),
                        ItemField::ImageUrl => item.image_url.as_str(),
                        ItemField::Url => item.url.as_str(),
                        ItemField::Price => item.price.as_str(),
                        ItemField::FromLabel => item.from_label.as_str(),
                        ItemField::Alt => item.alt.as_str(),
                    }),
                },
            };
            values.push(value);
        }
        if values
            .iter()
            .zip(&c.used)
            .any(|(v, used)| *used && !fits(v))
        {
            return Ok(None);
        }
        let [html, mjml, text] = &c.parts;
        let (html, text, mjml) = (
            html.fill(&values, true),
            tidy_text(&text.fill(&values, false)),
            match with_mjml {
                true => mjml.fill(&values, true),
                false => String::new(),
            },
        );
        drop(values);
        Ok(Some(EmailContent {
            subject,
            preheader,
            mjml,
            html,
            text,
        }))
    }
}

/// The booking's details as placeholders, those the email has.
fn detail_tokens(input: &EmailInput<'_>, slots: &mut Slots) -> DetailsView {
    let bits = presence(input);
    let mut details = DetailsView::default();
    for (i, field) in DetailField::ALL.into_iter().enumerate() {
        if bits & (1 << i) != 0 {
            *details.get_mut(field) = Some(slots.token(Slot::Detail(field)));
        }
    }
    details
}

/// The block's items as placeholders (a picture's only when the item has one).
fn item_tokens(input: &EmailInput<'_>, slots: &mut Slots) -> Vec<ItemView> {
    (0..input.items.len())
        .map(|i| {
            let n = u8::try_from(i).unwrap_or(u8::MAX);
            let mut field = |f| slots.token(Slot::Item(n, f));
            ItemView {
                product_id: ProductId::Number(0),
                title: field(ItemField::Title),
                image_url: if input.items[i].image_url.is_empty() {
                    String::new()
                } else {
                    field(ItemField::ImageUrl)
                },
                url: field(ItemField::Url),
                price: field(ItemField::Price),
                from_label: field(ItemField::FromLabel),
                alt: field(ItemField::Alt),
            }
        })
        .collect()
}
