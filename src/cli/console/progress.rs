//! The progress of a run on standard error: a live line on a terminal (indicatif), else a plain line
//! every few seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::report::Report;
use crate::runner::RunProgress;

/// One run's progress line.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last: Mutex<Instant>,
}

impl Progress {
    const PLAIN_EVERY: Duration = Duration::from_secs(5);

    pub(super) fn new() -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            started: now,
            last: Mutex::new(now),
        }
    }

    fn line(&self, r: &Report) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mut line = format!(
            "{} due, {} produced, {} failed",
            r.due,
            r.rendered,
            r.failed.len()
        );
        if r.smtp.is_some() {
            line.push_str(&format!(
                ", {} sent, {} already sent, {} deferred",
                r.sent, r.already_sent, r.deferred
            ));
        }
        line.push_str(&format!(" ({:.0}/s)", r.due as f64 / secs));
        line
    }
}

impl RunProgress for Progress {
    fn show(&self, r: &Report) {
        match &self.bar {
            Some(bar) => bar.set_message(self.line(r)),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Self::PLAIN_EVERY {
                    *last = Instant::now();
                    eprintln!("tripmail: {}", self.line(r));
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
