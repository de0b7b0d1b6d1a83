//! Everything the command line prints on the terminal: the runner's [`Observer`] ([`Terminal`]: the
//! progress line, the summary, the ticks), the notes and warnings of the commands, and the tables
//! ([`tables`]). The library decides; this only words it.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::due::When;
use crate::report::Report;
use crate::runner::{Observer, RunDone, RunProgress, TickError};

mod progress;
mod summary;
mod tables;

pub(crate) use tables::{write_ledger_table, write_plan_csv, write_plan_table, write_state_table};

/// `println!` that says nothing when standard output is closed by its reader (`run … | head`), where
/// `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::console::print_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// One line on standard output (see [`outln!`]).
pub(crate) fn print_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            panic!("failed printing to stdout: {e}");
        }
    }
}

/// An instant as the messages show it (`2026-12-10T09:00:00Z`).
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The runner on the terminal: a progress line on standard error while a run goes, then its summary.
pub(crate) struct Terminal;

impl Observer for Terminal {
    fn run_begins(&self) -> Box<dyn RunProgress + '_> {
        Box::new(progress::Progress::new())
    }

    fn dry_run_done(&self, report: &Report, took: Duration) {
        let secs = took.as_secs_f64();
        let peak = peak_memory_kb()
            .map(|kb| format!(", peak memory {:.1} MB", kb as f64 / 1024.0))
            .unwrap_or_default();
        eprintln!(
            "tripmail: dry run: {} emails produced and dropped in {secs:.2} s ({:.0} emails/s{peak}); nothing written or sent",
            report.rendered,
            report.rendered as f64 / secs.max(1e-9),
        );
    }

    fn run_done(&self, done: &RunDone<'_>) {
        summary::print_summary(done);
    }

    fn serving(&self, every: Duration) {
        eprintln!(
            "tripmail: running every {} until SIGINT or SIGTERM",
            humantime::format_duration(every)
        );
    }

    fn tick_begins(&self, now: DateTime<Utc>) {
        outln!("tick {}:", stamp(now));
    }

    fn tick_failed(&self, now: DateTime<Utc>, next: DateTime<Utc>, error: &TickError) {
        eprintln!(
            "tripmail: tick {}: {}; trying again at {}",
            stamp(now),
            crate::runner::with_causes(error),
            stamp(next)
        );
    }

    fn stopped(&self) {
        eprintln!("tripmail: stopped by signal; the ledger is up to date");
    }
}

/// The process's peak resident memory so far (`VmHWM` in `/proc/self/status`), where the system
/// tells it.
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The first SIGINT or SIGTERM of a run.
pub(crate) fn signal_first(name: &str) {
    eprintln!(
        "tripmail: {name}: finishing the emails in flight, then stopping (again to stop at once)"
    );
}

/// A second signal: the process ends at once.
pub(crate) fn signal_again(name: &str) {
    eprintln!("tripmail: {name} again: stopping now");
}

/// A paused campaign beside a plan's CSV or a preview (on standard error).
pub(crate) fn paused_note(p: &crate::state::Pause) {
    eprintln!(
        "tripmail: {} is paused (by {} at {}): nothing of it is planned or sent until `tripmail resume {}`",
        p.campaign,
        p.by,
        stamp(p.at),
        p.campaign
    );
}

/// A run that sends to customers with the demo unsubscribe secret.
pub(crate) fn warn_demo_secret() {
    eprintln!("tripmail: warning: links.unsubscribe_secret is the demo secret shipped with the example config: anyone can forge an unsubscribe link for any booking; set a secret of your own in TRIPMAIL_LINKS__UNSUBSCRIBE_SECRET (e.g. `openssl rand -hex 32`)");
}

/// Why the previewed email's block holds its items (`preview --why`).
pub(crate) fn why_note(why: &[String]) {
    eprintln!("Why these items:");
    for line in why {
        eprintln!("  - {line}");
    }
}

/// The note of `preview` when the email is not due as asked, or goes at another instant.
pub(crate) fn preview_note(
    campaign: &str,
    booking: &str,
    when: &When,
    now: DateTime<Utc>,
    as_of: bool,
) {
    let now = stamp(now);
    match when {
        When::Send(_) => {
            if as_of {
                eprintln!("tripmail: note: the {campaign} email for {booking} goes at {now}; shown as it will be then");
            }
        }
        When::NotDue => eprintln!("tripmail: note: the {campaign} email is not due for {booking} at {now}; showing it anyway"),
        When::Waiting(t) => eprintln!("tripmail: note: the {campaign} email for {booking} is due at {now} but waits for its campaign's dates, days or window until {}; showing it anyway", stamp(*t)),
        When::Closed => eprintln!("tripmail: note: the {campaign} email for {booking} is due at {now}, but its campaign will not send it before it stops being due; showing it anyway"),
    }
}
