//! A snapshot file: what a reviewer reads in a pull request. The headers that matter (From, To,
//! Subject, List-Unsubscribe; never Date, Message-ID or MIME boundaries), the block's items and
//! rules, the text part, and the HTML one tag or text run per line, so that a change shows as the
//! lines it touched and not as one rewritten line. The unsubscribe link's signature is written
//! `SIGNATURE`: it depends on the secret, not on the templates.

use std::fmt::Write as _;

use crate::compose::Composed;

/// The HTML part of a snapshot file (empty when it has none).
pub fn html_of(snapshot: &str) -> &str {
    snapshot.split_once(HTML_PART).map_or("", |(_, html)| html)
}

/// The snapshot of one case's email: the same email gives the same text on any machine and day.
pub fn snapshot(name: &str, composed: &Composed) -> String {
    let email = &composed.email;
    let record = &composed.record;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# tripmail snapshot: case {name}");
    let _ = writeln!(out, "From: {}", email.from);
    let _ = writeln!(out, "To: {}", email.to);
    let _ = writeln!(out, "Subject: {}", email.subject);
    if let Some(url) = &email.list_unsubscribe {
        let _ = writeln!(out, "List-Unsubscribe: <{url}>");
    }
    match &record.without_block {
        None => {
            let ids: Vec<String> = record.items.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "Block: {}", ids.join(", "));
        }
        Some(reason) => {
            let _ = writeln!(out, "Block: none ({reason})");
        }
    }
    let _ = writeln!(out, "Rules: {}", record.rules.join(", "));
    let _ = writeln!(out, "\n==== text ====");
    out.push_str(email.text.trim_end());
    out.push('\n');
    out.push_str(HTML_PART);
    out.push_str(&normalise_html(&email.html));
    match email.list_unsubscribe.as_deref().and_then(signature) {
        Some(sig) => out.replace(sig, UNSIGNED),
        None => out,
    }
}

/// What stands for the unsubscribe link's signature in a snapshot: it depends on
/// `links.unsubscribe_secret`, which differs between a laptop, CI and production.
pub const UNSIGNED: &str = "SIGNATURE";

/// The line before a snapshot's HTML (normalised: one tag or text run per line).
pub const HTML_PART: &str = "\n==== html ====\n";

/// The `sig` value of an unsubscribe link (long enough not to be found by chance elsewhere).
fn signature(link: &str) -> Option<&str> {
    let query = link.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .filter(|sig| sig.len() >= 16)
}

/// The HTML one token per line: each tag, comment and run of text (white space collapsed) on a
/// line of its own; the contents of `<style>` and `<script>` line by line, trimmed.
pub fn normalise_html(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while !rest.is_empty() {
        let (token, after) = next_token(rest);
        rest = after;
        if token.starts_with('<') {
            line(&mut out, token);
            if let Some(raw) = raw_text_element(token) {
                let end = find_ci(rest, &format!("</{raw}")).unwrap_or(rest.len());
                for l in rest[..end].lines() {
                    line(&mut out, l.trim());
                }
                rest = &rest[end..];
            }
        } else {
            let text = token.split_whitespace().collect::<Vec<_>>().join(" ");
            line(&mut out, &text);
        }
    }
    out
}

/// Adds a non-empty line; a comment over several lines gives one line each.
fn line(out: &mut String, text: &str) {
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        out.push_str(l);
        out.push('\n');
    }
}

/// The first token of `s` and what follows it: a comment, a tag (quotes respected), or text up to
/// the next `<`.
fn next_token(s: &str) -> (&str, &str) {
    if s.starts_with("<!--") {
        let end = s.find("-->").map_or(s.len(), |i| i + 3);
        return s.split_at(end);
    }
    if opens_tag(s) {
        let mut quote = None;
        for (i, c) in s.char_indices().skip(1) {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => return s.split_at(i + 1),
                _ => {}
            }
        }
        return (s, "");
    }
    let end = s
        .char_indices()
        .skip(1)
        .find(|&(i, c)| c == '<' && opens_tag(&s[i..]))
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

/// Whether `s` starts with a tag, a comment or a declaration (`<` then a letter, `/` or `!`).
fn opens_tag(s: &str) -> bool {
    s.strip_prefix('<')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!'))
}

/// `style` or `script` when `tag` opens one (its content is not HTML).
fn raw_text_element(tag: &str) -> Option<&'static str> {
    let name: String = tag[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match name.as_str() {
        "style" => Some("style"),
        "script" => Some("script"),
        _ => None,
    }
}

/// Where `needle` (ASCII) starts in `hay`, ignoring ASCII case.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_line() {
        let html = "<!doctype html><html><head><style>a { color: red; }\n  b {}</style></head>\
                    <body><p class=\"x > y\">Hello,\n   world</p><!--[if mso]><b>x</b><![endif]--> tail</body></html>";
        assert_eq!(
            normalise_html(html),
            "<!doctype html>\n<html>\n<head>\n<style>\na { color: red; }\nb {}\n</style>\n</head>\n\
             <body>\n<p class=\"x > y\">\nHello, world\n</p>\n<!--[if mso]><b>x</b><![endif]-->\ntail\n\
             </body>\n</html>\n"
        );
    }

    #[test]
    fn a_lone_less_than_sign_is_text() {
        assert_eq!(normalise_html("<p>1 < 2</p>"), "<p>\n1 < 2\n</p>\n");
        assert_eq!(normalise_html("<p>x</p"), "<p>\nx\n</p\n");
    }
}
