//! Rendering: Tera templates produce MJML (turned into HTML by mrml) and the plain-text part; the copy
//! comes from the Fluent files, prices from ICU. Everything that comes from bookings or the engine is
//! escaped in the MJML.
//!
//! This file holds what an email is made of and gives back ([`EmailInput`], [`EmailContent`]) and the
//! [`Renderer`]'s two roads: the straightforward one (Tera then mrml, for each email) and the
//! compiled fast path (`compiled`), which gives the same bytes. The rest, by concern: `templates`
//! (loading the templates, Tera, mrml, escaping), `views` (what a template sees), `links` (product
//! links and their `utm_*` parameters), `check` (every campaign rendered once before a run), `i18n`
//! (Fluent) and `money` (ICU prices).

use std::path::PathBuf;

use tera::Tera;

use crate::bookings::Booking;
use crate::config::CampaignSettings;
use crate::recommend::Recommendation;

mod check;
mod compiled;
mod details;
mod i18n;
mod links;
mod money;
mod subject;
mod templates;
mod views;

use compiled::{Shape, ShapeKey, Shapes};

pub use check::Checked;
pub use i18n::{I18nError, Translations};
pub use links::with_params;
pub use money::MoneyFormat;
pub use subject::SUBJECT_MAX_CHARS;
pub use templates::{escape_xml, mjml_to_html};

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
    /// The booking's manage-booking / tickets link, when the config has one.
    pub manage_url: Option<&'a str>,
}

/// The key of the block's heading in the templates' `t`.
const BLOCK_HEADING: &str = "block_heading";

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
    /// `sender.support_email`, `sender.support_phone` and its `tel:` URI, shown in every email.
    support: views::Support,
    /// The company lines of the footer.
    footer: views::Footer,
    /// The compiled shapes met so far (the fast path).
    shapes: Shapes,
}

impl Renderer {
    /// One whole email, the straightforward way: Tera, then mrml for the HTML. [`Renderer::render`]
    /// gives the same bytes faster.
    pub fn render_straight(&self, input: EmailInput<'_>) -> Result<EmailContent, RenderError> {
        let mut content = self.render_sources(input)?;
        content.html = mjml_to_html(&content.mjml, &self.mjml_template(input.campaign))?;
        Ok(content)
    }

    /// One whole email: MJML, HTML and text, filled into its shape's compiled form (see the
    /// `compiled` module), compiled at the shape's first email and checked against the
    /// straightforward render for the first few.
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
}
