//! A rendered text with placeholders, split once into literal runs and values, and filled per email
//! with the values escaped as the template would have escaped them.

use super::{CLOSE, OPEN};

enum Piece {
    /// A byte range of the template's literal text.
    Text(usize, usize),
    /// The value of a slot, by number.
    Value(usize, Form),
}

/// How a value was written where its placeholder is.
#[derive(Clone, Copy)]
enum Form {
    /// As is (escaped for MJML/HTML in those).
    Plain,
    /// In an attribute mrml wrote with Rust's `{:?}` (a string literal's escapes), after the
    /// MJML's own escaping: the placeholder shows as `\u{e000}n\u{e001}`.
    Debug,
}

/// The placeholder as mrml writes it in an attribute.
const DEBUG_OPEN: &str = "\\u{e000}";
const DEBUG_CLOSE: &str = "\\u{e001}";

/// A rendered text with placeholders, split once into literal runs and values.
pub(crate) struct Template {
    text: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Splits `rendered` at its placeholders; `None` when one is malformed (a template cut a value).
    pub(crate) fn split(rendered: String, slots: usize) -> Option<Template> {
        let mut pieces = Vec::new();
        let mut start = 0;
        loop {
            let rest = &rendered[start..];
            let plain = rest.find(OPEN).map(|at| (at, Form::Plain));
            let debug = rest.find(DEBUG_OPEN).map(|at| (at, Form::Debug));
            let Some((at, form)) = [plain, debug]
                .into_iter()
                .flatten()
                .min_by_key(|(at, _)| *at)
            else {
                break;
            };
            let (open, close) = match form {
                Form::Plain => (OPEN.len_utf8(), CLOSE.to_string()),
                Form::Debug => (DEBUG_OPEN.len(), DEBUG_CLOSE.to_string()),
            };
            let after = &rest[at + open..];
            let end = after.find(close.as_str())?;
            let n: usize = after[..end].parse().ok().filter(|n| *n < slots)?;
            if at > 0 {
                pieces.push(Piece::Text(start, start + at));
            }
            pieces.push(Piece::Value(n, form));
            start += at + open + end + close.len();
        }
        let rest = &rendered[start..];
        if rest.contains(CLOSE) || rest.contains(DEBUG_CLOSE) {
            return None;
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(start, rendered.len()));
        }
        Some(Template {
            text: rendered,
            pieces,
        })
    }

    /// The slots the template uses.
    pub(crate) fn used(&self) -> impl Iterator<Item = usize> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Value(n, _) => Some(*n),
            Piece::Text(..) => None,
        })
    }

    /// The text with `values` (by slot number) in place, escaped for MJML/HTML when `escape`.
    pub(crate) fn fill<S: AsRef<str>>(&self, values: &[S], escape: bool) -> String {
        let extra: usize = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Value(n, _) => values
                    .get(*n)
                    .map_or(0, |v| v.as_ref().len() + v.as_ref().len() / 8),
                Piece::Text(..) => 0,
            })
            .sum();
        let mut out = String::with_capacity(self.text.len() + extra);
        let mut scratch = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(a, b) => out.push_str(&self.text[*a..*b]),
                Piece::Value(n, form) => {
                    let v = values.get(*n).map_or("", AsRef::as_ref);
                    match (escape, form) {
                        (false, _) => out.push_str(v),
                        (true, Form::Plain) => push_escaped(&mut out, v),
                        (true, Form::Debug) => {
                            scratch.clear();
                            push_escaped(&mut scratch, v);
                            push_debug(&mut out, &scratch);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Appends `s` as `format!("{s:?}")` writes it, without the quotes.
fn push_debug(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'\\' && b != b'"')
    {
        out.push_str(s);
        return;
    }
    let quoted = format!("{s:?}");
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// Appends `s` escaped as [`crate::render::escape_xml`] says, copying runs without special
/// characters whole.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let entity = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            // The placeholders stay as they are: the compiled form finds them (in attributes as
            // mrml's `\u{e000}`).
            c if !c.is_ascii() && c != OPEN && c != CLOSE && c.escape_debug().nth(1).is_some() => {
                out.push_str(&s[start..i]);
                out.push_str(&format!("&#{};", u32::from(c)));
                start = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(entity);
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::compiled::{Slot, Slots};

    #[test]
    fn a_template_is_split_at_its_placeholders_and_filled() {
        let mut slots = Slots::default();
        let (a, b) = (slots.token(Slot::FirstName), slots.token(Slot::City));
        let t = Template::split(format!("<p>{a}, {b}!{a}</p>"), slots.len()).unwrap();
        let values = ["Zoë & <Co>".to_string(), "Rome".to_string()];
        assert_eq!(
            t.fill(&values, true),
            "<p>Zoë &amp; &lt;Co&gt;, Rome!Zoë &amp; &lt;Co&gt;</p>"
        );
        assert_eq!(t.fill(&values, false), "<p>Zoë & <Co>, Rome!Zoë & <Co></p>");
        assert_eq!(t.used().collect::<Vec<_>>(), vec![0, 1, 0]);
    }

    #[test]
    fn a_cut_or_unknown_placeholder_is_refused() {
        assert!(Template::split(format!("x{OPEN}0"), 1).is_none());
        assert!(Template::split(format!("x{OPEN}7{CLOSE}"), 1).is_none());
        assert!(Template::split(format!("x0{CLOSE}"), 1).is_none());
        assert!(Template::split("plain".into(), 0).is_some());
    }

    #[test]
    fn a_placeholder_written_as_a_debug_string_is_filled_the_same_way() {
        let mut slots = Slots::default();
        let a = slots.token(Slot::Subject);
        let rendered = format!("<div aria-label={a:?}>{a}</div>");
        let t = Template::split(rendered, slots.len()).unwrap();
        for v in [
            "Plain title",
            "Zoë's \"trip\" & more",
            "tab\there\\back",
            "\u{e000}",
        ] {
            let values = [v.to_string()];
            let escaped = crate::render::escape_xml(v);
            assert_eq!(
                t.fill(&values, true),
                format!("<div aria-label={escaped:?}>{escaped}</div>")
            );
        }
    }

    #[test]
    fn characters_debug_would_escape_become_references() {
        let mut out = String::new();
        push_escaped(&mut out, "Photo\u{a0}: «\u{202f}x\u{200c}» é ✈");
        assert_eq!(out, "Photo&#160;: «&#8239;x&#8204;» é ✈");
        assert_eq!(format!("{out:?}"), format!("\"{out}\""));
    }

    #[test]
    fn escaping_matches_escape_xml() {
        for s in ["", "plain", "a&b<c>d\"e'f", "&&", "é’€ & ü"] {
            let mut out = String::new();
            push_escaped(&mut out, s);
            assert_eq!(out, crate::render::escape_xml(s));
        }
    }
}
