//! `index.html`: the review page, one row per email with its chosen items and a link to its HTML,
//! then the skipped rows and the failed emails.

use std::io::Write;

use super::Report;
use crate::deliver::FileDelivery;
use crate::render::escape_xml;

impl Report {
    /// The review page: one row per email, with the chosen items and a link to its HTML.
    pub fn write_index(&self, w: &mut impl Write) -> std::io::Result<()> {
        let e = |s: &str| escape_xml(s);
        writeln!(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tripmail run at {}</title>", e(&self.now))?;
        writeln!(w, "<style>{STYLE}</style></head><body>")?;
        writeln!(w, "<h1>tripmail run at {}</h1>", e(&self.now))?;
        writeln!(
            w,
            "<p>{} emails ({} with a block) of {} due; {} rows skipped; {} failed; {} engine requests, {} cache hits.</p>",
            self.rendered,
            self.with_block,
            self.due,
            self.skipped_rows.len(),
            self.failed.len(),
            self.engine_requests,
            self.cache_hits
        )?;
        if !self.paused.is_empty() {
            writeln!(w, "<h2>Paused campaigns</h2><ul class=\"paused\">")?;
            for p in &self.paused {
                writeln!(
                    w,
                    "<li>{}: paused by {} at {}; {} due emails not produced</li>",
                    e(&p.campaign),
                    e(&p.by),
                    e(&p.at),
                    p.emails
                )?;
            }
            writeln!(w, "</ul>")?;
        }
        writeln!(w, "<table><thead><tr><th>Campaign</th><th>Recipient</th><th>Subject</th><th>Complete your trip</th><th>Rules</th></tr></thead><tbody>")?;
        for r in self.emails.iter()? {
            let r = r?;
            write!(
                w,
                "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td>",
                e(&r.campaign),
                e(&r.to),
                e(&FileDelivery::html_path(&r.campaign, &r.booking_id)
                    .display()
                    .to_string()),
                e(&r.subject)
            )?;
            match &r.without_block {
                None => {
                    write!(w, "<ol>")?;
                    for t in &r.item_titles {
                        write!(w, "<li>{}</li>", e(t))?;
                    }
                    write!(w, "</ol>")?;
                }
                Some(reason) => write!(w, "<span class=\"muted\">no block: {}</span>", e(reason))?,
            }
            writeln!(
                w,
                "</td><td class=\"muted\">{}</td></tr>",
                e(&r.rules.join(", "))
            )?;
        }
        writeln!(w, "</tbody></table>")?;
        if !self.skipped_rows.is_empty() {
            writeln!(w, "<h2>Skipped rows</h2><ul>")?;
            for s in &self.skipped_rows {
                writeln!(w, "<li>{}</li>", e(&s.to_string()))?;
            }
            writeln!(w, "</ul>")?;
        }
        if !self.skipped_emails.is_empty() {
            writeln!(w, "<h2>Not sent on purpose</h2><ul>")?;
            for s in &self.skipped_emails {
                let then = match &s.goes_at {
                    Some(t) => format!("a later run may send it from {t}"),
                    None => "its due window ends first: not sent".into(),
                };
                writeln!(
                    w,
                    "<li>{} / {}: {} (confirmation at {}; {})</li>",
                    e(&s.campaign),
                    e(&s.booking_id),
                    e(&s.reason),
                    e(&s.confirmation_at),
                    e(&then)
                )?;
            }
            writeln!(w, "</ul>")?;
        }
        if !self.failed.is_empty() {
            writeln!(w, "<h2>Failed emails</h2><ul>")?;
            for f in &self.failed {
                writeln!(
                    w,
                    "<li>{} / {}: {}</li>",
                    e(&f.campaign),
                    e(&f.booking_id),
                    e(&f.reason)
                )?;
            }
            writeln!(w, "</ul>")?;
        }
        writeln!(w, "</body></html>")
    }
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#1f2933}\
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e3e7ec;padding:6px 8px;\
text-align:left;vertical-align:top;font-size:14px}th{background:#f6f8fa}.muted{color:#5f6b7a;font-size:12px}";
