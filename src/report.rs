//! The run's record: `report.json` (machine-readable) and `index.html` (one row per email, for review).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bookings::RowError;
use crate::config::Provider;
use crate::deliver::{write_atomically, FileDelivery};
use crate::recommend::ProductId;
use crate::render::escape_xml;

/// One produced email.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmailRecord {
    /// Campaign name.
    pub campaign: String,
    /// Booking id.
    pub booking_id: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The recommendation API asked (`tiqets` or `yespo`).
    pub provider: Provider,
    /// Product ids shown in the block, in order, as the recommendation API wrote them (numbers,
    /// or strings for a contact-recommendations feed).
    pub items: Vec<ProductId>,
    /// Which rules fired.
    pub rules: Vec<String>,
    /// Why there is no block, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_block: Option<String>,
    /// What the recommendation API said, when it failed (`<provider>: <error>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_error: Option<String>,
    /// Titles of the items, for the review page.
    #[serde(skip_serializing, default)]
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

/// An email the SMTP server accepted whose `sent` the ledger could not take (a full disk, an I/O
/// error).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unrecorded {
    /// The send.
    #[serde(flatten)]
    pub send: crate::ledger::UnrecordedSend,
    /// The list the next run records it from before sending anything (`<ledger>.unrecorded.jsonl`);
    /// absent when that could not be written either: then a rerun sends it again unless it is
    /// recorded by hand first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_in: Option<String>,
    /// Why the ledger did not take it.
    pub error: String,
}

/// The file written beside the report when some sends could not be recorded in the ledger.
pub const UNRECORDED_FILE: &str = "unrecorded-sends.json";

/// What a run did.
#[derive(Debug, Default, Serialize)]
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
    /// Each distinct failure of a recommendation API (`<provider>: <error>`), with the number of
    /// emails it left without a block.
    pub engine_errors: BTreeMap<String, u64>,
    /// Emails left without a block because the API refused the credentials (HTTP 401 or 403): a
    /// configuration problem, which makes the run's exit code 1.
    pub engine_refused: u64,
    /// Due emails that could not be produced, or that the SMTP server rejected for good.
    pub failed: Vec<FailedEmail>,
    /// The SMTP server emails went to (without credentials); absent when nothing was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
    /// The address every email went to instead of its customer (a sandbox preview or test send).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirected_to: Option<String>,
    /// Emails the SMTP server accepted.
    pub sent: u64,
    /// Tries made again after a temporary SMTP failure.
    pub retried: u64,
    /// Due emails the ledger says were sent by an earlier run: not sent again.
    pub already_sent: u64,
    /// Due emails an earlier run had rejected for good: not tried again (`tripmail ledger` lists them).
    pub previously_failed: u64,
    /// Emails whose temporary failures outlasted their tries: the next run tries them again.
    pub deferred: u64,
    /// The deferred emails, each with the last reply: printed at the end of the run.
    pub deferred_emails: Vec<FailedEmail>,
    /// Emails whose connection was lost after the whole message was sent, before the server's reply:
    /// the server may have them. Left claimed; the next run sends them again (README, "Exactly once").
    pub in_doubt: Vec<FailedEmail>,
    /// Emails a run that died mid-send had claimed, taken over from it and sent again (their
    /// campaign's `in_doubt` is `resend`; see the README, "Exactly once").
    pub resent_in_doubt: u64,
    /// Emails a run that died mid-send had claimed, not sent again (their campaign's `in_doubt` is
    /// `hold`): `tripmail ledger --only in-doubt` lists them until they are resent or closed.
    pub held_in_doubt: Vec<FailedEmail>,
    /// Due emails not tried because the run stopped early.
    pub not_attempted: u64,
    /// Due emails held for the runner's next tick because a recommendation API failed for them (a
    /// timeout, no connection, 429 or 5xx): nothing was sent; they go at the next tick.
    pub held: u64,
    /// Due emails not started because a signal (SIGINT, SIGTERM) stopped the run; left for the next
    /// run. Not a problem: the emails in flight were finished and recorded.
    pub interrupted: u64,
    /// Emails due but outside their campaign's dates, days or send window at `now`: they go later.
    pub waiting: u64,
    /// Emails due but that their campaign will not send before they stop being due (its dates,
    /// days or window leave no time).
    pub closed: u64,
    /// Why the run stopped before the end, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Emails the server accepted (counted in `sent`) whose `sent` the ledger could not take; also
    /// written to `unrecorded-sends.json` beside the report.
    pub unrecorded: Vec<Unrecorded>,
    /// Every produced email.
    pub emails: EmailLog,
}

/// The produced emails' records, in order: in memory up to [`EmailLog::KEEP`] of them, then all in
/// an unnamed temporary file (JSON Lines) written as they come, so that memory stays flat however
/// many emails a run makes; or only counted ([`EmailLog::counting`]), when no report is written.
#[derive(Debug, Default)]
pub struct EmailLog {
    /// Count the records, keep none.
    counting: bool,
    kept: Vec<EmailRecord>,
    spill: Option<Spill>,
    len: u64,
    /// Why the temporary file could not take every record: the report cannot be written whole.
    broken: Option<String>,
}

/// An unnamed temporary file (gone with the process, however it ends), written through a buffer.
#[derive(Debug)]
struct Spill {
    out: BufWriter<File>,
}

/// A record as spilled: with the titles the JSON report leaves out.
#[derive(Serialize, Deserialize)]
struct Spilled {
    #[serde(flatten)]
    record: EmailRecord,
    titles: Vec<String>,
}

impl EmailLog {
    /// Records kept in memory before they all go to a temporary file.
    pub const KEEP: usize = 10_000;

    /// A log that counts records and keeps none (a dry run without a report).
    pub fn counting() -> EmailLog {
        EmailLog {
            counting: true,
            ..EmailLog::default()
        }
    }

    /// Adds a record.
    pub fn push(&mut self, record: EmailRecord) {
        self.len += 1;
        if self.counting {
            return;
        }
        if self.spill.is_none() && self.broken.is_none() && self.kept.len() >= Self::KEEP {
            match Self::open_spill() {
                Ok(mut spill) => {
                    let kept = std::mem::take(&mut self.kept);
                    match kept.into_iter().try_for_each(|r| Self::write(&mut spill, r)) {
                        Ok(()) => self.spill = Some(spill),
                        Err(e) => self.broke(&e),
                    }
                }
                // Memory it is, then.
                Err(e) => tracing::warn!(
                    "cannot open a temporary file for the report's records ({e}); keeping them in memory"
                ),
            }
        }
        match &mut self.spill {
            Some(spill) => {
                if let Err(e) = Self::write(spill, record) {
                    self.broke(&e);
                }
            }
            None if self.broken.is_none() => self.kept.push(record),
            None => {}
        }
    }

    /// The temporary file failed: no more records are kept, and the report will say so.
    fn broke(&mut self, e: &std::io::Error) {
        tracing::warn!("cannot write the report's records to a temporary file: {e}");
        self.broken.get_or_insert_with(|| e.to_string());
        self.spill = None;
        self.kept = Vec::new();
    }

    fn open_spill() -> std::io::Result<Spill> {
        Ok(Spill {
            out: BufWriter::new(tempfile::tempfile()?),
        })
    }

    fn write(spill: &mut Spill, mut record: EmailRecord) -> std::io::Result<()> {
        let titles = std::mem::take(&mut record.item_titles);
        serde_json::to_writer(&mut spill.out, &Spilled { record, titles })?;
        spill.out.write_all(b"\n")
    }

    /// How many records there are.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records, in order, read back from the temporary file when they went there (as far as
    /// [`EmailLog::flush`] wrote them; read each time to the end before pushing more).
    pub fn iter(
        &self,
    ) -> std::io::Result<Box<dyn Iterator<Item = std::io::Result<EmailRecord>> + '_>> {
        if let Some(why) = &self.broken {
            return Err(std::io::Error::other(format!(
                "the report's {} email records could not be kept in a temporary file in {}: {why}",
                self.len,
                std::env::temp_dir().display()
            )));
        }
        let Some(spill) = &self.spill else {
            return Ok(Box::new(self.kept.iter().cloned().map(Ok)));
        };
        // A second handle on the same open file, sharing its position: read from the start, it
        // ends where the next record would be written.
        let mut file = spill.out.get_ref().try_clone()?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
        let reader = std::io::BufReader::new(file);
        Ok(Box::new(std::io::BufRead::lines(reader).map(|line| {
            let s: Spilled = serde_json::from_str(&line?).map_err(std::io::Error::other)?;
            Ok(EmailRecord {
                item_titles: s.titles,
                ..s.record
            })
        })))
    }

    /// Writes what is buffered to the temporary file, so that [`EmailLog::iter`] sees everything.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let flushed = match &mut self.spill {
            Some(spill) => spill.out.flush(),
            None => Ok(()),
        };
        if let Err(e) = &flushed {
            self.broke(e);
        }
        flushed
    }
}

impl Serialize for EmailLog {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let records = self.iter().map_err(S::Error::custom)?;
        let mut seq = serializer.serialize_seq(usize::try_from(self.len).ok())?;
        for r in records {
            seq.serialize_element(&r.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

impl Report {
    /// Whether anything went wrong: skipped rows, failed or deferred emails, a stopped run (exit code 1).
    pub fn has_problems(&self) -> bool {
        !self.skipped_rows.is_empty()
            || !self.failed.is_empty()
            || self.deferred > 0
            || !self.in_doubt.is_empty()
            || !self.held_in_doubt.is_empty()
            || self.not_attempted > 0
            || self.stopped.is_some()
            || !self.unrecorded.is_empty()
            || self.engine_refused > 0
    }

    /// Writes `report.json` and `index.html` into `dir`, straight to the files (no copy of the whole
    /// report in memory), each through a temporary file renamed over it (never through a symlink).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        self.write_json(&dir.join("report.json"))?;
        write_atomically(&dir.join("index.html"), |w| self.write_index(w))
    }

    /// Writes the JSON report alone, at `path`, through a temporary file renamed over it; and,
    /// when some sends could not be recorded in the ledger, [`UNRECORDED_FILE`] beside it.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
        }
        if !self.unrecorded.is_empty() {
            let beside = dir.unwrap_or(Path::new(".")).join(UNRECORDED_FILE);
            write_atomically(&beside, |w| {
                serde_json::to_writer_pretty(w, &self.unrecorded).map_err(std::io::Error::other)
            })?;
        }
        write_atomically(path, |w| {
            serde_json::to_writer_pretty(w, self).map_err(std::io::Error::other)
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> EmailRecord {
        EmailRecord {
            campaign: "reminder".into(),
            booking_id: format!("B{i}"),
            to: format!("c{i}@example.com"),
            subject: format!("Trip \"{i}\" ✈"),
            provider: Provider::Tiqets,
            items: vec![ProductId::Number(i as u64), ProductId::Text("Y7".into())],
            rules: vec!["season:winter".into()],
            without_block: i.is_multiple_of(3).then(|| "no_opt_in".to_string()),
            engine_error: None,
            item_titles: vec![format!("Title {i}")],
        }
    }

    #[test]
    fn records_past_the_kept_number_come_back_whole_and_in_order() {
        let n = EmailLog::KEEP * 2 + 17;
        let mut log = EmailLog::default();
        for i in 0..n {
            log.push(record(i));
        }
        log.flush().unwrap();
        assert!(log.spill.is_some() && log.kept.is_empty());
        assert_eq!(log.len(), n as u64);
        let back: Vec<EmailRecord> = log.iter().unwrap().map(Result::unwrap).collect();
        assert_eq!(back, (0..n).map(record).collect::<Vec<_>>());
        // The JSON is that of the list itself (titles left out).
        let list: Vec<EmailRecord> = (0..n).map(record).collect();
        assert_eq!(
            serde_json::to_string(&log).unwrap(),
            serde_json::to_string(&list).unwrap()
        );
    }

    #[test]
    fn a_counting_log_keeps_nothing() {
        let mut log = EmailLog::counting();
        for i in 0..EmailLog::KEEP + 5 {
            log.push(record(i));
        }
        assert_eq!(log.len(), EmailLog::KEEP as u64 + 5);
        assert!(log.spill.is_none() && log.kept.is_empty());
    }

    #[test]
    fn a_few_records_stay_in_memory() {
        let mut log = EmailLog::default();
        for i in 0..3 {
            log.push(record(i));
        }
        assert!(log.spill.is_none());
        let back: Vec<EmailRecord> = log.iter().unwrap().map(Result::unwrap).collect();
        assert_eq!(back, (0..3).map(record).collect::<Vec<_>>());
    }
}
