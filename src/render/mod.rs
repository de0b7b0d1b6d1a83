//! Rendering: Tera templates produce MJML (turned into HTML by mrml) and the plain-text part; the copy
//! comes from the Fluent files, prices from ICU. Everything that comes from bookings or the engine is
//! escaped in the MJML.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use fluent_bundle::FluentArgs;
use serde::Serialize;
use tera::Tera;

use crate::bookings::{Booking, Locale};
use crate::catalog::{Catalog, Money};
use crate::config::{CampaignSettings, Settings};
use crate::recommend::{ProductId, Recommendation};

mod compiled;
mod i18n;
mod money;

use compiled::{Compiled, ItemField, Messages, Shape, ShapeKey, Shapes, Slot, Slots, Template};

pub use i18n::{I18nError, Translations};
pub use money::MoneyFormat;

/// Gmail clips messages whose HTML is larger than this.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// Messages formatted once per item (with `$price` and `$title`), not once per email.
const PER_ITEM_MESSAGES: [&str; 2] = ["item-from", "item-image-alt"];

/// A template or translation that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Tera could not load or render a template.
    #[error("{0}")]
    Template(String),
    /// A translation problem.
    #[error(transparent)]
    I18n(#[from] I18nError),
    /// Rendering panicked: a bug in tripmail or a library, caught so that it fails one email only.
    #[error("{0}")]
    Bug(String),
    /// The MJML a template produced is not valid MJML.
    #[error("{template}: the MJML it produced does not parse: {message} (line {line} of the rendered MJML: {excerpt:?})")]
    Mjml {
        /// The template file.
        template: PathBuf,
        /// mrml's message.
        message: String,
        /// Line in the rendered MJML.
        line: usize,
        /// That line.
        excerpt: String,
    },
}

/// One email's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    /// Subject line.
    pub subject: String,
    /// Inbox preview text.
    pub preheader: String,
    /// The MJML source.
    pub mjml: String,
    /// The HTML part.
    pub html: String,
    /// The plain-text part.
    pub text: String,
}

/// What one email is made of.
#[derive(Debug, Clone, Copy)]
pub struct EmailInput<'a> {
    /// The campaign.
    pub campaign: &'a CampaignSettings,
    /// The booking.
    pub booking: &'a Booking,
    /// The block's items; empty for no block.
    pub items: &'a [Recommendation],
    /// Days from the venue's today to the visit.
    pub days_to_travel: i64,
    /// The city as the email's language writes it.
    pub city: &'a str,
    /// Whether the block's heading may name the city: every item is known to be in it. When not,
    /// the heading is `block-heading-any` ("You may also like").
    pub block_names_city: bool,
    /// The unsubscribe link shown in the footer, for campaigns that have one.
    pub unsubscribe_url: Option<&'a str>,
}

/// Everything but the URL's unreserved characters (RFC 3986: letters, digits, `-`, `.`, `_`, `~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded to sit anywhere in a URL as one value.
fn url_safe(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// The key of the block's heading in the templates' `t`.
const BLOCK_HEADING: &str = "block_heading";

#[derive(Serialize)]
struct ItemView {
    product_id: ProductId,
    title: String,
    image_url: String,
    url: String,
    price: String,
    from_label: String,
    alt: String,
}

#[derive(Serialize)]
struct BookingView<'a> {
    id: &'a str,
    first_name: &'a str,
    product_title: &'a str,
    city: &'a str,
    date: String,
    travellers: String,
}

#[derive(Serialize)]
struct View<'a> {
    lang: &'static str,
    brand: &'a str,
    campaign: &'a str,
    subject: &'a str,
    preheader: &'a str,
    t: std::collections::BTreeMap<String, String>,
    booking: BookingView<'a>,
    show_block: bool,
    items: &'a [ItemView],
    item_rows: Vec<&'a [ItemView]>,
    column_width: &'static str,
    unsubscribe_url: Option<&'a str>,
}

impl<'a> View<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        brand: &'a str,
        input: &EmailInput<'a>,
        (subject, preheader): (&'a str, &'a str),
        t: std::collections::BTreeMap<String, String>,
        booking: BookingView<'a>,
        items: &'a [ItemView],
        unsubscribe_url: Option<&'a str>,
    ) -> View<'a> {
        let (item_rows, column_width): (Vec<&[ItemView]>, _) = match items.len() {
            4 => (items.chunks(2).collect(), "50%"),
            3 => (vec![items], "33.33%"),
            _ => (vec![items], "50%"),
        };
        View {
            lang: input.booking.locale.as_str(),
            brand,
            campaign: &input.campaign.name,
            subject,
            preheader,
            booking,
            t,
            show_block: !items.is_empty(),
            items,
            item_rows,
            column_width,
            unsubscribe_url,
        }
    }
}

/// The `utm_*` pairs (any case) of a link template's query string, decoded; values may still hold
/// `{product_id}` and `{campaign}`.
fn utm_params(template: &str) -> Vec<(String, String)> {
    let query = template
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `url` with each of `params` set once: a parameter already there (compared without regard to
/// case) takes the new value in its place (later copies of it are dropped), a missing one is
/// appended; every other part of the URL stays as written. Values are form-encoded.
pub fn with_params(url: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let key_of = |segment: &str| {
        let raw = segment.split('=').next().unwrap_or("");
        url::form_urlencoded::parse(raw.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default()
    };
    let mut done = vec![false; params.len()];
    let mut segments: Vec<String> = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let key = key_of(segment);
        match params
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some(i) if done[i] => {}
            Some(i) => {
                done[i] = true;
                segments.push(format!("{}={}", params[i].0, encode(&params[i].1)));
            }
            None => segments.push(segment.to_string()),
        }
    }
    for (i, (k, v)) in params.iter().enumerate() {
        if !done[i] {
            segments.push(format!("{k}={}", encode(v)));
        }
    }
    let mut out = format!("{base}?{}", segments.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Escapes text for MJML/HTML content and attribute values.
pub fn escape_xml(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders every email of a run.
pub struct Renderer {
    tera: Tera,
    dir: PathBuf,
    translations: Translations,
    money: MoneyFormat,
    product_url: String,
    /// The `utm_*` parameters of `links.product_url`, still with `{campaign}`: added to links the
    /// source gives.
    utm: Vec<(String, String)>,
    brand: String,
    /// The compiled shapes met so far (the fast path).
    shapes: Shapes,
}

fn tera_error(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

impl Renderer {
    /// Loads the templates and translations `settings` name, and checks that every campaign has its
    /// two templates.
    pub fn new(settings: &Settings) -> Result<Renderer, RenderError> {
        let dir = settings.templates.dir.clone();
        if !dir.is_dir() {
            return Err(RenderError::Template(format!(
                "{}: the templates folder does not exist",
                dir.display()
            )));
        }
        let glob = format!("{}/**/*.tera", dir.display());
        let mut tera = Tera::new(&glob).map_err(|e| RenderError::Template(tera_error(&e)))?;
        tera.autoescape_on(vec![".mjml.tera"]);
        tera.set_escape_fn(escape_xml);
        for c in &settings.campaigns {
            for kind in ["mjml", "txt"] {
                let name = format!("{}.{kind}.tera", c.template_name());
                if !tera.get_template_names().any(|n| n == name) {
                    return Err(RenderError::Template(format!(
                        "{}: missing (template of campaign `{}`)",
                        dir.join(&name).display(),
                        c.name
                    )));
                }
            }
        }
        let translations = Translations::load(&dir.join("i18n"))?;
        Ok(Renderer {
            tera,
            dir,
            translations,
            money: MoneyFormat::default(),
            product_url: settings.links.product_url.clone(),
            utm: utm_params(&settings.links.product_url),
            brand: settings.brand(),
            shapes: Shapes::default(),
        })
    }

    /// The link to a recommended product.
    pub fn product_link(&self, campaign: &str, item: &Recommendation) -> String {
        match &item.url {
            Some(url) => {
                let utm: Vec<(&str, String)> = self
                    .utm
                    .iter()
                    .map(|(k, v)| {
                        let v = v
                            .replace("{product_id}", &item.product_id.to_string())
                            .replace("{campaign}", campaign);
                        (k.as_str(), v)
                    })
                    .collect();
                with_params(url, &utm)
            }
            // A feed's own id (any text) goes into our link percent-encoded: it cannot add a path,
            // a query or a fragment of its own.
            None => self
                .product_url
                .replace("{product_id}", &url_safe(&item.product_id.to_string()))
                .replace("{campaign}", campaign),
        }
    }

    /// The Fluent arguments of one email.
    fn args<'a>(&'a self, input: &EmailInput<'a>, date: &'a str) -> FluentArgs<'a> {
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

    /// Renders the MJML and the plain text (untidied) of a view.
    fn render_view(
        &self,
        campaign: &CampaignSettings,
        view: &View<'_>,
    ) -> Result<(String, String), RenderError> {
        let ctx = tera::Context::from_serialize(view)
            .map_err(|e| RenderError::Template(tera_error(&e)))?;
        let name = campaign.template_name();
        let render = |file: String| {
            self.tera.render(&file, &ctx).map_err(|e| {
                RenderError::Template(format!(
                    "{}: {}",
                    self.dir.join(&file).display(),
                    tera_error(&e)
                ))
            })
        };
        Ok((
            render(format!("{name}.mjml.tera"))?,
            render(format!("{name}.txt.tera"))?,
        ))
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
        let subject = pick("subject");
        let preheader = pick("preheader");
        let items: Vec<ItemView> = input
            .items
            .iter()
            .map(|r| self.item_view(locale, input.campaign, r))
            .collect::<Result<_, _>>()?;
        let travellers = t.get("travellers").cloned().unwrap_or_default();
        let view = View::new(
            &self.brand,
            &input,
            (&subject, &preheader),
            t,
            BookingView {
                id: &b.booking_id,
                first_name: &b.customer_first_name,
                product_title: &b.product_title,
                city: input.city,
                travellers,
                date: date.clone(),
            },
            &items,
            input.unsubscribe_url,
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

    /// One whole email, the straightforward way: Tera, then mrml for the HTML. [`Renderer::render`]
    /// gives the same bytes faster.
    pub fn render_straight(&self, input: EmailInput<'_>) -> Result<EmailContent, RenderError> {
        let mut content = self.render_sources(input)?;
        content.html = mjml_to_html(&content.mjml, &self.mjml_template(input.campaign))?;
        Ok(content)
    }

    fn mjml_template(&self, campaign: &CampaignSettings) -> PathBuf {
        self.dir
            .join(format!("{}.mjml.tera", campaign.template_name()))
    }

    /// One whole email: MJML, HTML and text, filled into its shape's compiled form (see
    /// [`compiled`]), compiled at the shape's first email and checked against the straightforward
    /// render for the first few.
    pub fn render(&self, input: EmailInput<'_>) -> Result<EmailContent, RenderError> {
        self.render_with(input, true)
    }

    /// [`Renderer::render`], with the MJML only when `mjml` (a run sends HTML and text; previews
    /// and snapshots show the MJML).
    pub fn render_with(
        &self,
        input: EmailInput<'_>,
        mjml: bool,
    ) -> Result<EmailContent, RenderError> {
        let Some(key) = ShapeKey::of(&input) else {
            return self.render_straight(input);
        };
        let name = input.campaign.name.as_str();
        let shape = match self.shapes.get(name, &key) {
            Some(shape) => shape,
            None => self.shapes.insert(name, key, self.compile(&input)),
        };
        let Shape::Compiled(c) = &*shape else {
            return self.render_straight(input);
        };
        match self.fill(c, &input, mjml)? {
            Some(content) => Ok(content),
            // A value the compiled form cannot hold as Tera and mrml would: this email alone the
            // straightforward way.
            None => self.render_straight(input),
        }
    }

    /// The compiled form of `input`'s shape: the templates rendered with a placeholder for every
    /// value that changes from one email to the next (messages that read the same for everyone
    /// are written in), and the MJML turned into HTML once. It is trusted only when it gives the
    /// straightforward render's bytes for sample emails of the shape whose values differ in every
    /// way a template could tell apart (long and short, case, quotes, `&`, `<`, accents): a
    /// template that filters or tests a value (`truncate`, `upper`, `length`) fails that, and the
    /// shape is rendered the straightforward way. The samples depend on the shape alone, so the
    /// outcome does not depend on which email came first.
    fn compile(&self, input: &EmailInput<'_>) -> Shape {
        let Some(compiled) = self.try_compile(input) else {
            return Shape::Straight;
        };
        for sample in compiled::SAMPLES {
            let booking = Booking {
                booking_id: format!("SAMPLE-{}", sample.len()),
                customer_first_name: sample.to_string(),
                product_title: sample.to_string(),
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

    fn try_compile(&self, input: &EmailInput<'_>) -> Option<Compiled> {
        let locale = input.booking.locale;
        let ids = self.translations.ids();
        let index = |key: &str| {
            ids.iter()
                .position(|id| id.replace('-', "_") == key)
                .and_then(|i| u16::try_from(i).ok())
        };
        let trigger = input.campaign.trigger.as_str();
        let messages = Messages {
            subject: index(&format!("{trigger}_subject")),
            preheader: index(&format!("{trigger}_preheader")),
            travellers: index("travellers"),
        };
        let mut slots = Slots::default();
        let mut t = std::collections::BTreeMap::new();
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
        let subject = slots.token(Slot::Subject);
        let preheader = slots.token(Slot::Preheader);
        let items: Vec<ItemView> = (0..input.items.len())
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
            .collect();
        let (id, first_name) = (slots.token(Slot::BookingId), slots.token(Slot::FirstName));
        let (product_title, city) = (slots.token(Slot::ProductTitle), slots.token(Slot::City));
        let booking = BookingView {
            id: &id,
            first_name: &first_name,
            product_title: &product_title,
            city: &city,
            date: slots.token(Slot::Date),
            travellers: slots.token(Slot::Travellers),
        };
        let unsubscribe = input
            .unsubscribe_url
            .map(|_| slots.token(Slot::Unsubscribe));
        let view = View::new(
            &self.brand,
            input,
            (&subject, &preheader),
            t,
            booking,
            &items,
            unsubscribe.as_deref(),
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

    /// One email filled into a compiled shape.
    fn fill(
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
        let subject = message(c.messages.subject)?;
        let preheader = message(c.messages.preheader)?;
        let items: Vec<ItemView> = input
            .items
            .iter()
            .map(|r| self.item_view(locale, input.campaign, r))
            .collect::<Result<_, _>>()?;
        // Borrowed where the value exists already; only messages are made per email.
        let mut values: Vec<Cow<'_, str>> = Vec::with_capacity(c.slots.len());
        for n in 0..c.slots.len() {
            let value = match c.slots.get(n).filter(|_| c.used[n]) {
                None => Cow::Borrowed(""),
                Some(Slot::Subject) => Cow::Borrowed(subject.as_str()),
                Some(Slot::Preheader) => Cow::Borrowed(preheader.as_str()),
                Some(Slot::BookingId) => Cow::Borrowed(b.booking_id.as_str()),
                Some(Slot::FirstName) => Cow::Borrowed(b.customer_first_name.as_str()),
                Some(Slot::ProductTitle) => Cow::Borrowed(b.product_title.as_str()),
                Some(Slot::City) => Cow::Borrowed(input.city),
                Some(Slot::Date) => Cow::Borrowed(date.as_str()),
                Some(Slot::Travellers) => Cow::Owned(message(c.messages.travellers)?),
                Some(Slot::Unsubscribe) => Cow::Borrowed(input.unsubscribe_url.unwrap_or("")),
                Some(Slot::Message(i)) => Cow::Owned(message(Some(i))?),
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
            .any(|(v, used)| *used && !compiled::fits(v))
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

    /// The block's heading when it may not name the city.
    fn heading_any(&self, locale: Locale) -> Result<String, RenderError> {
        Ok(self
            .translations
            .message(locale, "block-heading-any", &FluentArgs::new())?)
    }

    fn item_view(
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

    /// Renders every campaign in every locale with 0, 2, 3 and 4 items on a sample booking, so that a
    /// broken template or translation is found before a run, not in the middle of one.
    pub fn check_all(
        &self,
        settings: &Settings,
        catalog: Option<&Catalog>,
    ) -> Result<usize, RenderError> {
        self.check(settings.campaigns.iter(), catalog)
    }

    /// [`Renderer::check_all`] for some campaigns only (those a run sends).
    pub fn check<'c>(
        &self,
        campaigns: impl IntoIterator<Item = &'c CampaignSettings>,
        catalog: Option<&Catalog>,
    ) -> Result<usize, RenderError> {
        let items = sample_items(catalog);
        let mut checked = 0;
        for campaign in campaigns {
            for locale in Locale::ALL {
                for n in [0, 2, 3, 4] {
                    let booking = Booking::sample(locale);
                    self.render(EmailInput {
                        campaign,
                        booking: &booking,
                        items: &items[..n.min(items.len())],
                        days_to_travel: 3,
                        city: &booking.city,
                        // Both headings: the one naming the city, and with 3 items the other.
                        block_names_city: n != 3,
                        unsubscribe_url: campaign
                            .wants_unsubscribe()
                            .then_some("https://example.invalid/unsubscribe?x=1&y=2"),
                    })?;
                    checked += 1;
                }
            }
        }
        Ok(checked)
    }
}

/// The plain-text part without the blank runs template tags leave: at most one empty line in a row,
/// no trailing spaces (but the `-- ` signature separator), one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim().lines() {
        let line = if line == "-- " { line } else { line.trim_end() };
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank < 2 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Turns MJML into HTML; a parse error names the template and the line of the rendered MJML.
pub fn mjml_to_html(mjml: &str, template: &Path) -> Result<String, RenderError> {
    let fail = |message: String, at: Option<usize>| {
        let line = at.map_or(0, |pos| {
            mjml.as_bytes()[..pos.min(mjml.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1
        });
        RenderError::Mjml {
            template: template.to_path_buf(),
            message,
            line,
            excerpt: mjml
                .lines()
                .nth(line.saturating_sub(1))
                .unwrap_or("")
                .trim()
                .chars()
                .take(120)
                .collect(),
        }
    };
    let parsed = mrml::parse(mjml).map_err(|e| {
        use mrml::prelude::parser::Error as E;
        let at = match &e {
            E::UnexpectedElement { position, .. }
            | E::UnexpectedToken { position, .. }
            | E::MissingAttribute { position, .. }
            | E::InvalidAttribute { position, .. }
            | E::InvalidFormat { position, .. }
            | E::IncludeLoaderError { position, .. } => Some(position.start),
            _ => None,
        };
        fail(e.to_string(), at)
    })?;
    parsed
        .element
        .render(&mrml::prelude::render::RenderOptions::default())
        .map_err(|e| fail(e.to_string(), None))
}

fn sample_items(catalog: Option<&Catalog>) -> Vec<Recommendation> {
    let from_catalog: Vec<Recommendation> = catalog
        .map(|c| {
            c.products()
                .iter()
                .take(4)
                .map(Recommendation::from)
                .collect()
        })
        .unwrap_or_default();
    if from_catalog.len() == 4 {
        return from_catalog;
    }
    (1..=4)
        .map(|i| Recommendation {
            product_id: ProductId::Number(1000 + i),
            title: format!("Sample <product> & {i}"),
            image_url: format!("https://images.example/{i}.jpg"),
            from_price: Money {
                amount: 10.0 * i as f64,
                currency: "EUR".into(),
            },
            url: None,
            in_stock: true,
            traits: Default::default(),
            city: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utm(campaign: &str) -> Vec<(&'static str, String)> {
        vec![
            ("utm_source", "crm".into()),
            ("utm_medium", "email".into()),
            ("utm_campaign", campaign.into()),
        ]
    }

    #[test]
    fn a_text_id_goes_into_a_link_as_one_encoded_value() {
        assert_eq!(url_safe("1111476"), "1111476");
        assert_eq!(url_safe("SKU-9_a.b~c"), "SKU-9_a.b~c");
        assert_eq!(
            url_safe("../x?next=//evil.example/0#f"),
            "..%2Fx%3Fnext%3D%2F%2Fevil.example%2F0%23f"
        );
    }

    #[test]
    fn the_utm_parameters_of_the_link_template_are_found() {
        let t = "https://w.example/p/{product_id}?ref=x&utm_source=crm&utm_medium=email&utm_campaign={campaign}#top";
        assert_eq!(
            utm_params(t),
            vec![
                ("utm_source".to_string(), "crm".to_string()),
                ("utm_medium".to_string(), "email".to_string()),
                ("utm_campaign".to_string(), "{campaign}".to_string()),
            ]
        );
        assert!(utm_params("https://w.example/p/{product_id}").is_empty());
    }

    #[test]
    fn utm_parameters_are_appended_keeping_the_rest_as_written() {
        assert_eq!(
            with_params("https://s.example/p/1?ref=a%20b&x=1#photos", &utm("reminder")),
            "https://s.example/p/1?ref=a%20b&x=1&utm_source=crm&utm_medium=email&utm_campaign=reminder#photos"
        );
        assert_eq!(
            with_params("https://s.example/p/1", &utm("c")),
            "https://s.example/p/1?utm_source=crm&utm_medium=email&utm_campaign=c"
        );
    }

    #[test]
    fn template_values_are_decoded_once_and_encoded_once() {
        let t = "https://w.example/p/{product_id}?utm_source=crm%20mail&utm_content=a+b&UTM_Term=x";
        let params = utm_params(t);
        assert_eq!(
            params,
            vec![
                ("utm_source".to_string(), "crm mail".to_string()),
                ("utm_content".to_string(), "a b".to_string()),
                ("UTM_Term".to_string(), "x".to_string()),
            ]
        );
        let refs: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(
            with_params("https://s.example/p/1", &refs),
            "https://s.example/p/1?utm_source=crm+mail&utm_content=a+b&UTM_Term=x"
        );
    }

    #[test]
    fn keys_are_matched_without_regard_to_case() {
        assert_eq!(
            with_params(
                "https://s.example/p/1?UTM_Source=feed&utm_campaign=feed#x",
                &utm("r")
            ),
            "https://s.example/p/1?utm_source=crm&utm_campaign=r&utm_medium=email#x"
        );
    }

    #[test]
    fn a_utm_parameter_already_there_is_set_once_in_its_place() {
        assert_eq!(
            with_params(
                "https://s.example/p/1?utm_campaign=feed&a=1&utm_source=crm&utm_campaign=again",
                &utm("reminder")
            ),
            "https://s.example/p/1?utm_campaign=reminder&a=1&utm_source=crm&utm_medium=email"
        );
    }
}
