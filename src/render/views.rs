//! What a template sees: the view of one email (booking, items, messages) and how the
//! straightforward road builds it, message by message.

use fluent_bundle::FluentArgs;
use serde::Serialize;

use super::templates::tidy_text;
use super::{EmailContent, EmailInput, RenderError, Renderer, BLOCK_HEADING, PER_ITEM_MESSAGES};
use crate::bookings::Locale;
use crate::config::CampaignSettings;
use crate::recommend::{ProductId, Recommendation};

#[derive(Serialize)]
pub(super) struct ItemView {
    pub(super) product_id: ProductId,
    pub(super) title: String,
    pub(super) image_url: String,
    pub(super) url: String,
    pub(super) price: String,
    pub(super) from_label: String,
    pub(super) alt: String,
}

#[derive(Serialize)]
pub(super) struct BookingView<'a> {
    pub(super) id: &'a str,
    pub(super) first_name: &'a str,
    pub(super) product_title: &'a str,
    pub(super) city: &'a str,
    pub(super) date: String,
    pub(super) travellers: String,
    /// Start time, venue, address, meeting point, price paid, manage link: each only when known.
    #[serde(flatten)]
    pub(super) details: super::details::DetailsView,
}

/// The support contact of every email (`sender.support_email`, `sender.support_phone`).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Support {
    email: Option<String>,
    phone: Option<String>,
    tel: Option<String>,
}

impl Support {
    pub(crate) fn of(sender: &crate::config::SenderSettings) -> Support {
        Support {
            email: sender.support_email.as_ref().map(ToString::to_string),
            phone: sender.support_phone.clone(),
            tel: sender.support_tel(),
        }
    }
}

/// The company lines of every email's footer, from `[sender]` and `[links]` (each left out when
/// absent or blank).
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Footer {
    pub(super) company: Option<String>,
    pub(super) postal_address: Option<String>,
    pub(super) privacy_url: Option<String>,
}

/// The block's grid: the body is 600 px wide and the block's section has 20 px of padding on each
/// side, so its columns share 560 px; each column has 6 px of padding on each side.
const BLOCK_INNER_PX: u32 = 560;
const COLUMN_PADDING_PX: u32 = 12;

/// Column and picture widths in whole pixels for `per_row` items in a row: the column as official
/// MJML sizes it, the picture as wide as the column less its padding (mrml would give the column's
/// width, ignoring the padding, and a fraction: Outlook then overflows).
fn grid(per_row: usize) -> (u32, u32) {
    let column = BLOCK_INNER_PX / u32::try_from(per_row.max(1)).unwrap_or(1);
    (column, column - COLUMN_PADDING_PX)
}

#[derive(Serialize)]
pub(super) struct View<'a> {
    lang: &'static str,
    brand: &'a str,
    campaign: &'a str,
    subject: &'a str,
    /// The subject as the HTML `<title>` carries it (see [`title_of`]).
    title: &'a str,
    preheader: &'a str,
    t: std::collections::BTreeMap<String, String>,
    booking: BookingView<'a>,
    show_block: bool,
    items: &'a [ItemView],
    item_rows: Vec<&'a [ItemView]>,
    /// Each block column's width, `186px`.
    column_width: String,
    /// The pictures' width in whole pixels, `174`.
    image_width: u32,
    unsubscribe_url: Option<&'a str>,
    support: &'a Support,
    footer: &'a Footer,
}

impl<'a> View<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        (brand, support): (&'a str, &'a Support),
        input: &EmailInput<'a>,
        (subject, preheader, title): (&'a str, &'a str, &'a str),
        t: std::collections::BTreeMap<String, String>,
        booking: BookingView<'a>,
        items: &'a [ItemView],
        unsubscribe_url: Option<&'a str>,
        footer: &'a Footer,
    ) -> View<'a> {
        let item_rows: Vec<&[ItemView]> = match items.len() {
            4 => items.chunks(2).collect(),
            _ => vec![items],
        };
        let per_row = item_rows.first().map_or(2, |r| r.len().max(2));
        let (column, image_width) = grid(per_row);
        View {
            lang: input.booking.locale.as_str(),
            brand,
            campaign: &input.campaign.name,
            subject,
            title,
            preheader,
            booking,
            t,
            show_block: !items.is_empty(),
            items,
            item_rows,
            column_width: format!("{column}px"),
            image_width,
            unsubscribe_url,
            support,
            footer,
        }
    }
}

/// The subject as the HTML `<title>` (and mrml's `aria-label` of the email) carries it: no-break
/// spaces as plain ones, which the escaping would write as six-character `&#160;` (validators count
/// a title's length in its source; nobody sees a title wrap).
pub(super) fn title_of(subject: &str) -> String {
    subject.replace('\u{a0}', " ")
}

impl Renderer {
    /// The Fluent arguments of one email.
    pub(super) fn args<'a>(&'a self, input: &EmailInput<'a>, date: &'a str) -> FluentArgs<'a> {
        let b = input.booking;
        let mut args = FluentArgs::new();
        args.set("first_name", b.customer_first_name.as_str());
        args.set("product", b.product_title.as_str());
        args.set("city", input.city);
        args.set("date", date);
        args.set("days", input.days_to_travel);
        args.set("adults", b.adults);
        args.set("children", b.children);
        args.set("brand", self.brand.as_str());
        args
    }

    /// Subject, preheader, MJML and text of one email (no HTML yet), the straightforward way: every
    /// message formatted, both templates rendered by Tera.
    pub fn render_sources(&self, input: EmailInput<'_>) -> Result<EmailContent, RenderError> {
        let b = input.booking;
        let locale = b.locale;
        let date = self.translations.date(locale, b.travel_date);
        let args = self.args(&input, &date);
        let mut t = self.translations.all(locale, &args, &PER_ITEM_MESSAGES)?;
        if !input.block_names_city {
            t.insert(BLOCK_HEADING.into(), self.heading_any(locale)?);
        }
        let trigger = input.campaign.trigger.as_str();
        let pick = |id: &str| {
            t.get(&format!("{trigger}_{id}"))
                .cloned()
                .unwrap_or_default()
        };
        let subject = self.subject(
            locale,
            &format!("{trigger}-subject"),
            &args,
            &b.product_title,
        )?;
        let preheader = pick("preheader");
        let items: Vec<ItemView> = input
            .items
            .iter()
            .map(|r| self.item_view(locale, input.campaign, r))
            .collect::<Result<_, _>>()?;
        let travellers = t.get("travellers").cloned().unwrap_or_default();
        let title = title_of(&subject);
        let view = View::new(
            (&self.brand, &self.support),
            &input,
            (&subject, &preheader, &title),
            t,
            BookingView {
                id: &b.booking_id,
                first_name: &b.customer_first_name,
                product_title: &b.product_title,
                city: input.city,
                travellers,
                date: date.clone(),
                details: self.details_view(&input),
            },
            &items,
            input.unsubscribe_url,
            &self.footer,
        );
        let (mjml, text) = self.render_view(input.campaign, &view)?;
        Ok(EmailContent {
            subject,
            preheader,
            mjml,
            html: String::new(),
            text: tidy_text(&text),
        })
    }

    /// The block's heading when it may not name the city.
    pub(super) fn heading_any(&self, locale: Locale) -> Result<String, RenderError> {
        Ok(self
            .translations
            .message(locale, "block-heading-any", &FluentArgs::new())?)
    }

    pub(super) fn item_view(
        &self,
        locale: Locale,
        campaign: &CampaignSettings,
        r: &Recommendation,
    ) -> Result<ItemView, RenderError> {
        let price = self.money.format(locale, &r.from_price);
        let mut args = FluentArgs::new();
        args.set("price", price.as_str());
        args.set("title", r.title.as_str());
        Ok(ItemView {
            product_id: r.product_id.clone(),
            title: r.title.clone(),
            image_url: r.image_url.clone(),
            url: self.product_link(&campaign.name, r),
            from_label: self.translations.message(locale, "item-from", &args)?,
            alt: self.translations.message(locale, "item-image-alt", &args)?,
            price,
        })
    }
}
