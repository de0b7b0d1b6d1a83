//! The copy of every email, in Fluent files (`<templates>/i18n/<lang>.ftl`), one per locale. Every
//! locale must define every message the English file defines; dates are written with the locale's
//! own `date-format` pattern and month names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::format::{Item, StrftimeItems};
use chrono::NaiveDate;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

use crate::bookings::Locale;

/// A translation file that cannot be used, or a message that cannot be formatted.
#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    /// Cannot read the file.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The .ftl file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Fluent syntax error.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The .ftl file.
        path: PathBuf,
        /// Line of the error.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A message the English file has is missing, or cannot be used.
    #[error("{path}: message `{id}`: {reason}")]
    Message {
        /// The .ftl file.
        path: PathBuf,
        /// The message id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

struct LocaleCopy {
    path: PathBuf,
    bundle: FluentBundle<FluentResource>,
    date_items: Vec<Item<'static>>,
    chrono_locale: chrono::Locale,
}

/// The copy of every locale.
pub struct Translations {
    copies: Vec<LocaleCopy>,
    ids: Vec<String>,
}

fn chrono_locale(l: Locale) -> chrono::Locale {
    match l {
        Locale::En => chrono::Locale::en_GB,
        Locale::Nl => chrono::Locale::nl_NL,
        Locale::De => chrono::Locale::de_DE,
        Locale::Fr => chrono::Locale::fr_FR,
        Locale::Es => chrono::Locale::es_ES,
        Locale::It => chrono::Locale::it_IT,
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Translations {
    /// Loads `<dir>/<lang>.ftl` for every locale and checks that each defines what English defines.
    pub fn load(dir: &Path) -> Result<Translations, I18nError> {
        let mut copies = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for locale in Locale::ALL {
            let path = dir.join(format!("{}.ftl", locale.as_str()));
            let text = std::fs::read_to_string(&path).map_err(|source| I18nError::Read {
                path: path.clone(),
                source,
            })?;
            let resource = FluentResource::try_new(text.clone()).map_err(|(_, errors)| {
                let first = &errors[0];
                I18nError::Syntax {
                    path: path.clone(),
                    // The entry's start names the message to fix; the error position may be past it.
                    line: line_of(
                        &text,
                        first.slice.as_ref().map_or(first.pos.start, |s| s.start),
                    ),
                    message: first.kind.to_string(),
                }
            })?;
            let own: Vec<String> = resource
                .entries()
                .filter_map(|e| match e {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                    _ => None,
                })
                .collect();
            if ids.is_empty() {
                ids = own.clone();
            }
            if let Some(missing) = ids.iter().find(|id| !own.contains(id)) {
                return Err(I18nError::Message {
                    path,
                    id: missing.clone(),
                    reason: format!("missing (defined in {}.ftl)", Locale::En.as_str()),
                });
            }
            let langid: unic_langid::LanguageIdentifier =
                locale.as_str().parse().map_err(|_| I18nError::Message {
                    path: path.clone(),
                    id: String::new(),
                    reason: "bad language".into(),
                })?;
            let mut bundle = FluentBundle::new_concurrent(vec![langid]);
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errs| I18nError::Message {
                    path: path.clone(),
                    id: String::new(),
                    reason: format!("{errs:?}"),
                })?;
            let mut copy = LocaleCopy {
                path,
                bundle,
                date_items: Vec::new(),
                chrono_locale: chrono_locale(locale),
            };
            let pattern = copy.format("date-format", None)?;
            copy.date_items = StrftimeItems::new_with_locale(&pattern, copy.chrono_locale)
                .parse_to_owned()
                .map_err(|e| I18nError::Message {
                    path: copy.path.clone(),
                    id: "date-format".into(),
                    reason: format!("{pattern:?} is not a strftime pattern: {e}"),
                })?;
            copies.push(copy);
        }
        Ok(Translations { copies, ids })
    }

    fn copy(&self, locale: Locale) -> &LocaleCopy {
        // `load` pushes one copy per locale, in `Locale::ALL` order.
        &self.copies[Locale::ALL.iter().position(|l| *l == locale).unwrap_or(0)]
    }

    /// One message.
    pub fn message(
        &self,
        locale: Locale,
        id: &str,
        args: &FluentArgs,
    ) -> Result<String, I18nError> {
        self.copy(locale).format(id, Some(args))
    }

    /// Every message but `except` and `date-format`, keyed by id with `-` written `_` (so templates
    /// can say `t.block_heading`).
    pub fn all(
        &self,
        locale: Locale,
        args: &FluentArgs,
        except: &[&str],
    ) -> Result<BTreeMap<String, String>, I18nError> {
        let copy = self.copy(locale);
        self.ids
            .iter()
            .filter(|id| id.as_str() != "date-format" && !except.contains(&id.as_str()))
            .map(|id| Ok((id.replace('-', "_"), copy.format(id, Some(args))?)))
            .collect()
    }

    /// The ids of every message (as the English file lists them).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Whether a message reads the same for every email in `locale`: its value is plain text and
    /// literals only (no variable, no reference to another message or term, no function). Anything
    /// else counts as varying, which is always safe.
    pub fn is_constant(&self, locale: Locale, id: &str) -> bool {
        use fluent_syntax::ast::{Expression, InlineExpression, PatternElement};
        let Some(pattern) = self
            .copy(locale)
            .bundle
            .get_message(id)
            .and_then(|m| m.value())
        else {
            return false;
        };
        pattern.elements.iter().all(|e| match e {
            PatternElement::TextElement { .. } => true,
            PatternElement::Placeable {
                expression: Expression::Inline(inline),
            } => matches!(
                inline,
                InlineExpression::StringLiteral { .. } | InlineExpression::NumberLiteral { .. }
            ),
            PatternElement::Placeable { .. } => false,
        })
    }

    /// A date in the locale's long format ("Saturday 12 December 2026", "samedi 12 décembre 2026").
    pub fn date(&self, locale: Locale, date: NaiveDate) -> String {
        let copy = self.copy(locale);
        date.format_localized_with_items(copy.date_items.iter(), copy.chrono_locale)
            .to_string()
    }
}

impl LocaleCopy {
    fn format(&self, id: &str, args: Option<&FluentArgs>) -> Result<String, I18nError> {
        let err = |reason: String| I18nError::Message {
            path: self.path.clone(),
            id: id.to_string(),
            reason,
        };
        let msg = self
            .bundle
            .get_message(id)
            .ok_or_else(|| err("missing".into()))?;
        let pattern = msg.value().ok_or_else(|| err("has no value".into()))?;
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, args, &mut errors);
        if let Some(e) = errors.first() {
            return Err(err(e.to_string()));
        }
        Ok(text.into_owned())
    }
}
