//! What `tripmail validate` says about the emails a team's templates make, beyond "they render":
//! per campaign, locale and block size (the renders `validate` makes anyway) and per snapshot case
//! (the emails the team pinned, with their real bookings and items), the HTML size against
//! Gmail's clip, pictures without alt text, links that are not https, subjects over 60 characters,
//! and an unsubscribe link missing where the campaign needs one; and, per locale, every message the
//! English file has that the locale's file lacks (the renderer stops at the first).
//!
//! The checks read the finished HTML as text: they look for `<img` and `href=` as our templates
//! (and MJML) write them; they are a reviewer's lint, not an HTML validator (the test suite runs
//! html-validate and the caniemail data over the shipped emails).

use std::path::Path;

use crate::bookings::Locale;
use crate::compose::Composed;
use crate::config::CampaignSettings;
use crate::render::{Checked, EmailContent, SUBJECT_MAX_CHARS};

/// Gmail shows "[Message clipped]" and hides the rest of an email whose HTML passes 102 KB.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// One thing wrong with one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The HTML is this many bytes: Gmail clips it.
    Clipped(usize),
    /// A picture without an `alt` attribute (its `src`).
    NoAlt(String),
    /// A link that is not https (its address).
    NotHttps(String),
    /// The subject is this many characters.
    LongSubject(usize),
    /// The campaign needs an unsubscribe link (marketing, `unsubscribe_url` set); the HTML or the
    /// text part lacks it (which).
    NoUnsubscribe(&'static str),
}

impl Finding {
    /// Whether it must be fixed before sending (exit 1), rather than looked at.
    pub fn is_problem(&self) -> bool {
        matches!(self, Finding::Clipped(_) | Finding::NoUnsubscribe(_))
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Clipped(n) => write!(
                f,
                "the HTML is {:.1} KB: Gmail clips it after {} KB (the rest, footer and unsubscribe link included, is hidden)",
                *n as f64 / 1024.0,
                GMAIL_CLIP_BYTES / 1024
            ),
            Finding::NoAlt(src) => write!(f, "a picture without alt text: {src}"),
            Finding::NotHttps(url) => write!(f, "a link that is not https: {url}"),
            Finding::LongSubject(n) => {
                write!(f, "the subject is {n} characters (over {SUBJECT_MAX_CHARS}: cut off in the inbox list)")
            }
            Finding::NoUnsubscribe(part) => {
                write!(f, "no unsubscribe link in the {part}, though the campaign needs one")
            }
        }
    }
}

/// What is wrong with one of `validate`'s renders.
pub fn lint(render: &Checked<'_>) -> Vec<Finding> {
    lint_content(render.content, render.unsubscribe_url)
}

/// What is wrong with one snapshot case's email (`validate` with a case list): as [`lint`], the
/// unsubscribe link being the one the email carries when its campaign wants one.
pub fn lint_composed(campaign: &CampaignSettings, composed: &Composed) -> Vec<Finding> {
    let wanted = campaign.wants_unsubscribe().then(|| {
        composed
            .email
            .list_unsubscribe
            .as_deref()
            .unwrap_or("(the email has no List-Unsubscribe)")
    });
    lint_content(&composed.content, wanted)
}

/// What is wrong with `c`, which needs the link `unsubscribe_url` when given.
fn lint_content(c: &EmailContent, unsubscribe_url: Option<&str>) -> Vec<Finding> {
    let mut found = Vec::new();
    if c.html.len() > GMAIL_CLIP_BYTES {
        found.push(Finding::Clipped(c.html.len()));
    }
    found.extend(images_without_alt(&c.html).into_iter().map(Finding::NoAlt));
    found.extend(links_not_https(&c.html).into_iter().map(Finding::NotHttps));
    let chars = c.subject.chars().count();
    if chars > SUBJECT_MAX_CHARS {
        found.push(Finding::LongSubject(chars));
    }
    if let Some(url) = unsubscribe_url {
        if !c.html.contains(&url.replace('&', "&amp;")) && !c.html.contains(url) {
            found.push(Finding::NoUnsubscribe("HTML"));
        }
        if !c.text.contains(url) {
            found.push(Finding::NoUnsubscribe("text part"));
        }
    }
    found
}

/// The tags `<name …>` of `html`, each as the text between `<name` and `>`.
fn tags<'h>(html: &'h str, name: &str) -> Vec<&'h str> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let end = after.find('>').unwrap_or(after.len());
        if after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            out.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

/// The value of attribute `name` in a tag's inside (`name="…"` or `name='…'`).
fn attr<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || rest[..at].ends_with(|c: char| c.is_whitespace());
        let after = rest[at + name.len()..].trim_start();
        if let (true, Some(value)) = (before_ok, after.strip_prefix('=')) {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                return value[1..].split(quote).next();
            }
            return value.split(|c: char| c.is_whitespace()).next();
        }
        rest = &rest[at + name.len()..];
    }
    None
}

/// The `src` of each `<img>` without an `alt` attribute (an empty one is allowed: a decoration).
fn images_without_alt(html: &str) -> Vec<String> {
    tags(html, "img")
        .into_iter()
        .filter(|t| attr(t, "alt").is_none())
        .map(|t| attr(t, "src").unwrap_or("(no src)").to_string())
        .collect()
}

/// Every `href` that is not https, `mailto:`, `tel:` or a fragment.
fn links_not_https(html: &str) -> Vec<String> {
    tags(html, "a")
        .into_iter()
        .filter_map(|t| attr(t, "href"))
        .filter(|h| {
            let h = h.trim().to_ascii_lowercase();
            !(h.starts_with("https://")
                || h.starts_with("mailto:")
                || h.starts_with("tel:")
                || h.starts_with('#'))
        })
        .map(str::to_string)
        .collect()
}

/// Per locale, every message of `en.ftl` its own file in `dir` lacks (files that cannot be read or
/// parsed are the renderer's to report).
pub fn missing_translations(dir: &Path) -> Vec<(Locale, Vec<String>)> {
    let ids = |locale: Locale| -> Option<Vec<String>> {
        let text = std::fs::read_to_string(dir.join(format!("{}.ftl", locale.as_str()))).ok()?;
        // A file that does not parse is the renderer's to report, with its line.
        let resource = fluent_syntax::parser::parse(text.as_str()).ok()?;
        Some(
            resource
                .body
                .iter()
                .filter_map(|e| match e {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                    _ => None,
                })
                .collect(),
        )
    };
    let Some(english) = ids(Locale::En) else {
        return Vec::new();
    };
    Locale::ALL
        .into_iter()
        .filter(|l| *l != Locale::En)
        .filter_map(|l| {
            let own = ids(l)?;
            let missing: Vec<String> = english
                .iter()
                .filter(|id| !own.contains(id))
                .cloned()
                .collect();
            (!missing.is_empty()).then_some((l, missing))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_without_alt_and_links_not_https_are_found_and_the_rest_is_not() {
        let html = r##"<img src="a.jpg" alt=""><img alt="b" src="b.jpg"><IMG src=x><img src="c.jpg" width="10">
            <a href="https://x">ok</a><a href='http://y/?a=1'>no</a><a href="mailto:a@b">m</a>
            <a class="x" href="tel:+1">t</a><a href="#top">top</a><abbr title="x">a</abbr><a href=ftp://z>f</a>"##;
        assert_eq!(images_without_alt(html), ["c.jpg"]);
        assert_eq!(links_not_https(html), ["http://y/?a=1", "ftp://z"]);
    }

    #[test]
    fn an_attribute_is_read_whole_and_not_inside_another_name() {
        assert_eq!(attr(r#" data-src="no" src="yes""#, "src"), Some("yes"));
        assert_eq!(attr(r#" alt = 'a b'"#, "alt"), Some("a b"));
        assert_eq!(attr(" salt=x", "alt"), None);
    }

    #[test]
    fn every_missing_message_of_every_locale_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let write =
            |l: &str, t: &str| std::fs::write(dir.path().join(format!("{l}.ftl")), t).unwrap();
        write("en", "a = A\nb = B\nc = C\n");
        write("de", "a = A\n");
        write("fr", "a = A\nb = B\nc = C\n");
        let missing = missing_translations(dir.path());
        assert_eq!(
            missing,
            [(Locale::De, vec!["b".to_string(), "c".to_string()])]
        );
    }
}
