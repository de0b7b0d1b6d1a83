//! The templates: loading them (and the translations) from the templates folder, rendering a view
//! with Tera, turning the MJML into HTML with mrml, and the escaping and tidying both roads share.

use std::path::{Path, PathBuf};

use tera::Tera;

use super::compiled::Shapes;
use super::links::utm_params;
use super::views::{self, Footer, View};
use super::{MoneyFormat, RenderError, Renderer, Translations};
use crate::config::{CampaignSettings, Settings};

/// Escapes text for MJML/HTML content and attribute values. A non-ASCII character that Rust's
/// `{:?}` would escape (a no-break space, a zero-width joiner) is written as a character reference:
/// mrml writes the attributes of HTML inside `mj-text` with `{:?}`, which would turn the French
/// `Photo\u{a0}: …` of an `alt` into the letters `\u{a0}`.
pub fn escape_xml(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    crate::render::compiled::push_escaped(&mut out, input);
    out
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
            support: views::Support::of(&settings.sender),
            footer: footer(settings),
            shapes: Shapes::default(),
        })
    }

    /// Renders the MJML and the plain text (untidied) of a view.
    pub(super) fn render_view(
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

    pub(super) fn mjml_template(&self, campaign: &CampaignSettings) -> PathBuf {
        self.dir
            .join(format!("{}.mjml.tera", campaign.template_name()))
    }
}

/// The footer's company lines from the settings; a blank value counts as absent.
fn footer(settings: &Settings) -> Footer {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    Footer {
        company: given(&settings.sender.company),
        postal_address: given(&settings.sender.postal_address),
        privacy_url: given(&settings.links.privacy_url),
    }
}

/// The plain-text part without the blank runs template tags leave: at most one empty line in a row,
/// no trailing spaces (but the `-- ` signature separator), one final newline.
pub(super) fn tidy_text(text: &str) -> String {
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
