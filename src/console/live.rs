//! What is happening now: the in-process runner's tick in progress (an [`Observer`] of the
//! library's runner, read by the runs page), and test sends.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::App;
use crate::report::Report;
use crate::run::Preview;
use crate::runner::{Observer, RunDone, RunProgress, TickError};

/// The runner's state as the runs page shows it.
#[derive(Default)]
pub struct Live {
    now: Mutex<LiveState>,
}

/// A tick in progress, and how the last one ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveState {
    /// The tick running now, if any.
    pub tick: Option<TickNow>,
    /// The last tick's end, in words.
    pub last: Option<String>,
    /// The runner's interval, in words (`5m`), when it runs.
    pub every: Option<String>,
}

/// A tick in progress.
#[derive(Debug, Clone, Serialize)]
pub struct TickNow {
    /// Its instant.
    pub run_at: String,
    /// Seconds since it began.
    pub seconds: u64,
    /// Emails due so far.
    pub due: u64,
    /// Emails made so far.
    pub rendered: u64,
    /// Emails sent so far.
    pub sent: u64,
    /// Emails failed so far.
    pub failed: u64,
    #[serde(skip)]
    started: Option<Instant>,
}

impl Live {
    /// What the runs page shows now.
    pub fn state(&self) -> LiveState {
        let mut s = self.lock().clone();
        if let Some(t) = &mut s.tick {
            t.seconds = t.started.map(|i| i.elapsed().as_secs()).unwrap_or(0);
        }
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Progress<'a>(&'a Live);

impl RunProgress for Progress<'_> {
    fn show(&self, r: &Report) {
        if let Some(t) = &mut self.0.lock().tick {
            t.due = r.due;
            t.rendered = r.rendered;
            t.sent = r.sent;
            t.failed = r.failed.len() as u64;
        }
    }
}

impl Observer for Live {
    fn run_begins(&self) -> Box<dyn RunProgress + '_> {
        Box::new(Progress(self))
    }

    fn serving(&self, every: std::time::Duration) {
        self.lock().every = Some(humantime::format_duration(every).to_string());
    }

    fn tick_begins(&self, now: DateTime<Utc>) {
        self.lock().tick = Some(TickNow {
            run_at: super::campaigns::instant(now),
            seconds: 0,
            due: 0,
            rendered: 0,
            sent: 0,
            failed: 0,
            started: Some(Instant::now()),
        });
    }

    fn run_done(&self, done: &RunDone<'_>) {
        let r = done.report;
        let mut s = self.lock();
        s.tick = None;
        s.last = Some(format!(
            "The tick at {} ended: {} due, {} sent, {} failed, {} held.",
            r.now,
            r.due,
            r.sent,
            r.failed.len(),
            r.held
        ));
    }

    fn tick_failed(&self, now: DateTime<Utc>, next: DateTime<Utc>, error: &TickError) {
        let mut s = self.lock();
        s.tick = None;
        s.last = Some(format!(
            "The tick at {} failed: {error}. The next one, at {}, tries again.",
            super::campaigns::instant(now),
            super::campaigns::instant(next)
        ));
    }
}

/// Sends `preview`'s email to `to` instead of its customer: the note for the page, or why not.
pub async fn send_test(app: &App, preview: &Preview, to: &str) -> Result<String, String> {
    let mailbox: lettre::message::Mailbox = to
        .parse()
        .map_err(|e| format!("{to:?} is not an email address ({e})"))?;
    let reply = crate::run::send_test(&app.settings, preview, &mailbox)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "Test sent to {} (redirected; the customer was not sent anything, and the ledger is untouched). The server said: {reply}",
        mailbox.email
    ))
}
