//! The last lines of a run: what was produced and sent on standard output; each problem once on
//! standard error, with what to do about it.

use crate::report::Report;
use crate::runner::RunDone;

use super::outln;

/// The summary of a run, in the order a reader needs it: the problems, the counts, what waits for a
/// later run, then where things are.
pub(super) fn print_summary(done: &RunDone<'_>) {
    let report = done.report;
    print_problems(report);
    print_counts(report);
    print_paused(report);
    print_later(report);
    print_stopped(report);
    print_unrecorded(report);
    print_whereabouts(done);
}

/// Skipped rows, failed emails, API failures and emails not (known to be) sent, one line each.
fn print_problems(report: &Report) {
    for row in &report.skipped_rows {
        eprintln!("tripmail: skipped {row}");
    }
    for f in &report.failed {
        eprintln!(
            "tripmail: failed {} / {}: {}",
            f.campaign, f.booking_id, f.reason
        );
    }
    for (error, n) in &report.engine_errors {
        let emails = if *n == 1 { "email" } else { "emails" };
        eprintln!("tripmail: engine {error} ({n} {emails} without a block)");
    }
    for f in &report.deferred_emails {
        eprintln!(
            "tripmail: deferred {} / {}: {} (the next run tries it again)",
            f.campaign, f.booking_id, f.reason
        );
    }
    for f in &report.in_doubt {
        eprintln!(
            "tripmail: in doubt {} / {}: {} (the server may have it; the next run sends it again or holds it, as the campaign's in_doubt says)",
            f.campaign, f.booking_id, f.reason
        );
    }
    for f in &report.held_in_doubt {
        eprintln!(
            "tripmail: held in doubt {} / {}: a run that died may have sent it; not sent again until `tripmail ledger --resend {}/{}` (or --close after checking the mailbox)",
            f.campaign, f.booking_id, f.campaign, f.booking_id
        );
    }
}

/// The emails due and produced, and what the SMTP server took.
fn print_counts(report: &Report) {
    let without: Vec<String> = report
        .without_block
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let without = if without.is_empty() {
        String::new()
    } else {
        format!("; without: {}", without.join(", "))
    };
    outln!(
        "{} emails due at {}: {} produced ({} with a block{without}), {} failed, {} rows skipped",
        report.due,
        report.now,
        report.rendered,
        report.with_block,
        report.failed.len(),
        report.skipped_rows.len(),
    );
    if let Some(server) = &report.smtp {
        let to = match &report.redirected_to {
            Some(addr) => format!(" (all redirected to {addr}; ledger untouched)"),
            None => String::new(),
        };
        outln!(
            "smtp {server}{to}: {} sent, {} retried, {} already sent, {} failed before, {} deferred, {} in doubt, {} taken over from a crash and sent again, {} held in doubt",
            report.sent,
            report.retried,
            report.already_sent,
            report.previously_failed,
            report.deferred,
            report.in_doubt.len(),
            report.resent_in_doubt,
            report.held_in_doubt.len(),
        );
    }
}

/// The campaigns paused, each with who paused it and when, and the emails it left.
fn print_paused(report: &Report) {
    for p in &report.paused {
        let emails = if p.emails == 1 { "email" } else { "emails" };
        outln!(
            "paused: {} (by {} at {}): {} due {emails} not sent (`tripmail resume {}` to send them at the next run)",
            p.campaign,
            p.by,
            p.at,
            p.emails,
            p.campaign
        );
    }
}

/// The emails left for a later run, and why.
fn print_later(report: &Report) {
    let later: Vec<String> = [
        (
            report.waiting,
            "waiting for their campaign's window, days or dates",
        ),
        (
            report.held,
            "held for the next tick (the recommendation API failed for them)",
        ),
        (
            report.interrupted,
            "left for the next run (stopped by a signal)",
        ),
        (
            report.closed,
            "due that their campaign will not send before they stop being due",
        ),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .chain(report.skipped.iter().map(|(reason, n)| {
        format!("{n} {reason} (a reminder whose booking's confirmation went less than min_hours_after_confirmation before, or in this run; a later run sends it if still due)")
    }))
    .collect();
    if !later.is_empty() {
        outln!("later: {}", later.join("; "));
    }
}

/// A run stopped early (the SMTP server down, the ledger failing).
fn print_stopped(report: &Report) {
    if let Some(why) = &report.stopped {
        eprintln!(
            "tripmail: stopped early: {why}; {} emails not sent ({} deferred, {} not attempted) are kept for the next run",
            report.deferred + report.not_attempted,
            report.deferred,
            report.not_attempted
        );
    }
}

/// Emails sent but not recorded in the ledger, and whether a rerun knows of them.
fn print_unrecorded(report: &Report) {
    for u in &report.unrecorded {
        let whence = match &u.listed_in {
            Some(list) => format!("listed in {list}; the next run records it before sending"),
            None => {
                "NOT listed anywhere a rerun reads: record it before the next run, or it goes again"
                    .into()
            }
        };
        eprintln!(
            "tripmail: sent but not recorded in the ledger {} / {} <{}> to {}: {} ({whence})",
            u.send.campaign, u.send.booking_id, u.send.message_id, u.send.recipient, u.error
        );
    }
}

/// The ledger, the engine's counts and the review page.
fn print_whereabouts(done: &RunDone<'_>) {
    if let Some(ledger) = done.ledger {
        outln!("ledger: {}", ledger.path().display());
        if !done.recovered.is_empty() {
            outln!(
                "ledger: {} sends an earlier run could not record were recorded as sent from {} first",
                done.recovered.len(),
                ledger.list_path().display()
            );
        }
    }
    let report = done.report;
    let review = done
        .out
        .map(|o| format!("; review: {}", o.join("index.html").display()));
    outln!(
        "engine: {} requests, {} cache hits{}",
        report.engine_requests,
        report.cache_hits,
        review.unwrap_or_default()
    );
}
