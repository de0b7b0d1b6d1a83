//! The run's record: `report.json` (machine-readable) and `index.html` (one row per email, for review).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::bookings::RowError;

/// One produced email.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmailRecord {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Product ids shown in the block, in order.
    pub items: Vec<u64>,
    /// Which rules fired.
    pub rules: Vec<String>,
    /// Why there is no block, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_block: Option<String>,
    /// Titles of the items, for the review page.
    #[serde(skip)]
    pub item_titles: Vec<String>,
}

/// An email that was due but could not be produced.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedEmail {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// What went wrong.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    /// The instant the run was made for.
    pub now: String,
    /// Emails due.
    pub due: u64,
    /// Emails produced.
    pub rendered: u64,
    /// Emails with a "Complete your trip" block.
    pub with_block: u64,
    /// Emails without one, counted by reason.
    pub without_block: BTreeMap<String, u64>,
    /// Input rows that were skipped.
    pub skipped_rows: Vec<RowError>,
    /// Requests made to the recommendation engine.
    pub engine_requests: u64,
    /// Queries answered from the per-run cache.
    pub cache_hits: u64,
    /// Due emails that could not be produced.
    pub failed: Vec<FailedEmail>,
    /// Every produced email.
    pub emails: Vec<EmailRecord>,
}

impl Report {
    /// Whether anything went wrong: skipped rows or failed emails (exit code 1).
    pub fn has_problems(&self) -> bool {
        !self.skipped_rows.is_empty() || !self.failed.is_empty()
    }

    /// Writes `report.json` and `index.html` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(
            dir.join("index.html"),
            self.index_html().map_err(std::io::Error::other)?,
        )?;
        Ok(())
    }

    /// The review page.
    pub fn index_html(&self) -> Result<String, tera::Error> {
        let mut ctx = tera::Context::new();
        let rows: Vec<_> = self
            .emails
            .iter()
            .map(|e| {
                serde_json::json!({
                    "campaign": e.campaign, "booking_id": e.booking_id, "to": e.to, "subject": e.subject,
                    "items": e.item_titles, "rules": e.rules, "without_block": e.without_block,
                    "href": format!("{}/{}.html", e.campaign, e.booking_id),
                })
            })
            .collect();
        ctx.insert("rows", &rows);
        ctx.insert("report", self);
        tera::Tera::one_off(INDEX_TEMPLATE, &ctx, true)
    }
}

const INDEX_TEMPLATE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tripmail run at {{ report.now }}</title>
<style>
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#1f2933}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e3e7ec;padding:6px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#f6f8fa}.muted{color:#5f6b7a;font-size:12px}
</style></head><body>
<h1>tripmail run at {{ report.now }}</h1>
<p>{{ report.rendered }} emails ({{ report.with_block }} with a block) of {{ report.due }} due;
{{ report.skipped_rows | length }} rows skipped; {{ report.failed | length }} failed;
{{ report.engine_requests }} engine requests, {{ report.cache_hits }} cache hits.</p>
<table><thead><tr><th>Campaign</th><th>Recipient</th><th>Subject</th><th>Complete your trip</th><th>Rules</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.campaign }}</td><td>{{ r.to }}</td><td><a href="{{ r.href }}">{{ r.subject }}</a></td>
<td>{% if r.items %}<ol>{% for i in r.items %}<li>{{ i }}</li>{% endfor %}</ol>{% else %}<span class="muted">no block: {{ r.without_block }}</span>{% endif %}</td>
<td class="muted">{{ r.rules | join(sep=", ") }}</td></tr>
{% endfor %}</tbody></table>
{% if report.skipped_rows %}<h2>Skipped rows</h2><ul>{% for s in report.skipped_rows %}<li>{{ s.file }}:{{ s.line }}: {{ s.reason }}</li>{% endfor %}</ul>{% endif %}
{% if report.failed %}<h2>Failed emails</h2><ul>{% for f in report.failed %}<li>{{ f.campaign }} / {{ f.booking_id }}: {{ f.reason }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"#;
