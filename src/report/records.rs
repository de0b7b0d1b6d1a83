//! The produced emails' records: one [`EmailRecord`] per email, kept in an [`EmailLog`] that spills to
//! an unnamed temporary file past [`EmailLog::KEEP`] of them, so that memory stays flat however many
//! emails a run makes.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde::{Deserialize, Serialize};

use crate::config::Provider;
use crate::recommend::ProductId;

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
