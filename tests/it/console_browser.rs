//! The console (`tripmail serve`) in a real browser: headless Chromium from the distribution driven
//! over WebDriver (tests/it/browser/), through the "Done when" on a copy of the shipped
//! config: log in; pause the reminder campaign and see the plan lose it and `tripmail run` skip it;
//! resume; look a booking up by id and by email and open its preview; switch it to German; send a
//! test to a real MailDev, redirected, the ledger unchanged; watch a runner tick finish. Each page
//! is saved as a PNG in `target/console-screenshots/` for the README.

use std::path::Path;
use std::time::Duration;

use crate::browser::pages::{
    campaign_state, cli_plan, log_in, newest_audit, press, shot, wait_shown, PAGE_WITHIN,
};
use crate::browser::{png_size, screenshots_dir, Browser, Console, Demo, WIDTH};
use crate::sandbox::{header, MailDev};

/// Who the test logs in as (the name in the audit list).
const WHO: &str = "Ana from QA";

/// The booking looked up: Zoë's Vatican ticket, whose reminder is due at NOW.
const BOOKING: &str = "WT-100001";
const EMAIL: &str = "zoe.hartley@example.com";

/// The pictures it takes, for the README.
const SHOTS: [&str; 6] = ["login", "campaigns", "plan", "lookup", "preview", "runs"];

/// Where the test email goes instead of the customer.
const TEST_TO: &str = "qa-inbox@wanderly.example";

#[test]
fn the_console_pauses_previews_sends_a_test_and_shows_a_tick_in_a_real_browser() {
    let demo = Demo::new(&[]);
    let md = MailDev::start();
    let console = Console::start(&demo.config, &["--smtp", &md.url()]);
    let b = Browser::start();

    // Its own pictures only: the snapshot pages' test writes beside them at the same time.
    for name in SHOTS {
        let _ = std::fs::remove_file(screenshots_dir().join(format!("{name}.png")));
    }
    b.goto(&console.url);
    b.wait_for("the login page", PAGE_WITHIN, |b| {
        b.url().ends_with("/login")
    });
    shot(&b, "login");
    log_in(&b, &console, WHO);

    campaigns_and_plan(&b, &console, &demo);
    pause_and_resume(&b, &console, &demo);
    lookup_and_preview(&b, &console);
    send_a_test(&b, &demo, &md);
    watch_a_tick(&b, &demo, &md);

    for name in SHOTS {
        let (w, _) = png_size(&screenshots_dir().join(format!("{name}.png")));
        assert_eq!(w, WIDTH, "{name}.png is {WIDTH} px wide");
    }
    println!("screenshots in {}", screenshots_dir().display());
}

/// Both campaigns run; the chart's bars say what `tripmail plan` says, day by day.
fn campaigns_and_plan(b: &Browser, console: &Console, demo: &Demo) {
    for name in ["confirmation", "reminder"] {
        assert_eq!(
            campaign_state(b, name).as_deref(),
            Some("running"),
            "{name}"
        );
        let row = format!("table#campaigns tr[data-campaign={name}]");
        assert!(!b
            .find(&format!("{row} td.schedule"))
            .text()
            .trim()
            .is_empty());
        let today = b.find(&format!("{row} td.today")).text();
        assert!(
            today.trim().parse::<u64>().is_ok(),
            "{name} today: {today:?}"
        );
        let csrf = b.find(&format!("{row} form.pause input[name=csrf]"));
        assert!(
            csrf.attr("value").is_some_and(|v| v.len() >= 16),
            "a csrf token"
        );
    }

    b.goto(&console.at("plan"));
    b.find("svg#plan-chart");
    let cli = cli_plan(&demo.config);
    assert!(cli.keys().any(|(_, c)| c == "reminder"), "{cli:?}");
    for ((day, campaign), n) in &cli {
        let bar = format!("svg#plan-chart rect[data-day='{day}'][data-campaign={campaign}]");
        let count = b.find(&bar).attr("data-count");
        assert_eq!(count, Some(n.to_string()), "{bar}: tripmail plan says {n}");
    }
    let first = b.find("section.day a.recipient");
    let href = first.attr("href").unwrap_or_default();
    assert!(href.contains("/preview?booking="), "{href}");
    shot(b, "plan");
}

/// Pausing the reminder takes it off the plan and out of `tripmail run`; resuming brings it back.
fn pause_and_resume(b: &Browser, console: &Console, demo: &Demo) {
    b.goto(&console.url);
    press(b, "reminder", "pause", "paused");
    assert_eq!(
        campaign_state(b, "confirmation").as_deref(),
        Some("running")
    );
    let audit = newest_audit(b);
    assert!(
        audit.contains(WHO) && audit.contains("pause") && audit.contains("reminder"),
        "audit: {audit}"
    );
    shot(b, "campaigns"); // a paused campaign and the audit list

    b.goto(&console.at("plan"));
    assert!(!on_plan(b, "reminder"), "a paused campaign on the plan");
    assert!(on_plan(b, "confirmation"));
    assert!(b.find("#paused-note").text().contains("reminder"));

    let out = tempfile::tempdir().expect("temp dir");
    crate::util::succeeds(&demo.run(out.path()));
    assert_eq!(
        files_in(&out.path().join("reminder")),
        0,
        "no reminder written"
    );
    assert!(
        files_in(&out.path().join("confirmation")) > 0,
        "confirmations written"
    );
    let report = crate::util::report(out.path());
    let paused = report["paused"].as_array().cloned().unwrap_or_default();
    assert!(
        paused
            .iter()
            .any(|p| p["campaign"] == "reminder" && p["by"] == WHO),
        "report.json names the reminder paused by {WHO}: {}",
        report["paused"]
    );

    b.goto(&console.url);
    press(b, "reminder", "resume", "running");
    let audit = newest_audit(b);
    assert!(
        audit.contains("resume") && audit.contains("reminder"),
        "audit: {audit}"
    );
    b.goto(&console.at("plan"));
    assert!(
        on_plan(b, "reminder"),
        "the resumed campaign is back on the plan"
    );
    let note = b.try_text("#paused-note").unwrap_or_default();
    assert!(!note.contains("reminder"), "{note}");
}

/// Whether the plan page shows `campaign`: bars in the chart, recipients in the days.
fn on_plan(b: &Browser, campaign: &str) -> bool {
    let bars = format!("svg#plan-chart rect[data-campaign={campaign}]");
    let links = format!("section.day a.recipient[href*='campaign={campaign}']");
    let (bars, links) = (b.try_find(&bars).is_some(), b.try_find(&links).is_some());
    assert_eq!(bars, links, "{campaign}: bars {bars}, recipients {links}");
    bars
}

/// The booking by id and by email: its reminder, planned; its preview, then in German.
fn lookup_and_preview(b: &Browser, console: &Console) {
    for q in [EMAIL, BOOKING] {
        b.goto(&console.at("lookup"));
        b.find("form#lookup input[name=q]")
            .type_text(&format!("{q}\u{E007}"));
        b.wait_for("the lookup's results", PAGE_WITHIN, |b| {
            b.try_find("tr.email[data-campaign=reminder]").is_some()
        });
        let row = b.find("tr.email[data-campaign=reminder]");
        assert_eq!(row.attr("data-state").as_deref(), Some("planned"), "{q}");
        assert!(b.url().contains("q="), "{}", b.url());
    }
    shot(b, "lookup");
    b.find("tr.email[data-campaign=reminder] a.open").click();
    b.wait_for("the preview", PAGE_WITHIN, |b| {
        b.try_find("iframe#wide").is_some()
    });
    let url = b.url();
    assert!(url.contains(&format!("booking={BOOKING}")) && url.contains("campaign=reminder"));
    for frame in ["iframe#wide", "iframe#narrow"] {
        assert_eq!(
            b.find(frame).attr("sandbox").as_deref(),
            Some(""),
            "{frame}"
        );
    }
    assert!(b.find("#subject").text().contains("Your trip to Rome"));
    assert!(b.find("pre#text").text().contains("Zoë"));
    assert!(b.find("table#headers").text().contains(EMAIL));
    assert!(!b.find_all("ul#why li").is_empty(), "why these items");
    let wide = frame_text(b, "iframe#wide");
    assert!(
        wide.contains("Tomorrow’s the day, Zoë!"),
        "the 600 px email: {wide}"
    );
    shot(b, "preview");

    b.find("form#switch select[name=lang] option[value=de]")
        .click();
    b.find("form#switch button#switch-submit").click();
    b.wait_for("the German preview", PAGE_WITHIN, |b| {
        b.url().contains("lang=de")
    });
    let subject = b.find("#subject").text();
    assert!(
        subject.contains("Ihre Reise nach"),
        "German subject: {subject}"
    );
    assert!(b.find("pre#text").text().contains("Ihre Buchung"));
    let narrow = frame_text(b, "iframe#narrow");
    assert!(
        narrow.contains("Morgen ist es so weit, Zoë!"),
        "the 375 px email: {narrow}"
    );
}

/// A test of the German preview goes to MailDev, to the test address; the ledger does not move.
fn send_a_test(b: &Browser, demo: &Demo, md: &MailDev) {
    let before = demo.ledger();
    b.find("form#send-test input[name=to]#to")
        .type_text(TEST_TO);
    b.find("form#send-test button#send-test-submit").click();
    b.wait_for("the sent note", PAGE_WITHIN, |b| {
        b.try_find("#sent-note").is_some()
    });
    let note = b.find("#sent-note").text();
    assert!(note.contains(TEST_TO) && note.contains("ledger"), "{note}");
    let emails = md.emails();
    assert_eq!(emails.len(), 1, "one test email: {emails:?}");
    assert_eq!(emails[0]["to"][0]["address"], TEST_TO);
    let subject = emails[0]["subject"].as_str().unwrap_or("");
    assert!(
        subject.contains("Ihre Reise nach"),
        "the German email: {subject}"
    );
    let source = md.source(emails[0]["id"].as_str().expect("an id"));
    assert_eq!(
        header(&source, "X-Tripmail-Original-To").as_deref(),
        Some(EMAIL)
    );
    assert_eq!(demo.ledger(), before, "the ledger is untouched");
    md.clear();
}

/// A second `serve` with the runner (`--every 1m`) on the same config and ledger: its tick shows
/// on `/runs`, reaches `done`, and lists the emails MailDev received.
fn watch_a_tick(b: &Browser, demo: &Demo, md: &MailDev) {
    let runner = Console::start(&demo.config, &["--every", "1m", "--smtp", &md.url()]);
    log_in(b, &runner, WHO);
    let runs = runner.at("runs");
    b.goto(&runs);
    let tick = "table#runs tr.run[data-kind=tick]";
    wait_shown(b, &runs, tick, Duration::from_secs(60));
    let done = format!("{tick}[data-status=done]");
    let mut live_seen = false;
    b.wait_for("the tick to be done", Duration::from_secs(120), |b| {
        if b.try_find(&format!("{tick}[data-status=running]"))
            .is_some()
        {
            // Caught while it runs (it may be too quick to catch): its progress is shown.
            assert!(
                b.try_find("#live").is_some(),
                "a running tick without #live"
            );
            live_seen = true;
        }
        if b.try_find(&done).is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(300));
        b.goto(&runs);
        false
    });
    println!("a running tick seen with #live: {live_seen}");
    assert!(md.count() > 0, "the tick sent the due emails");
    shot(b, "runs");
    b.find(&format!("{done} a.open")).click();
    b.wait_for("the run's emails", PAGE_WITHIN, |b| {
        b.try_find("table#run-emails tr").is_some()
    });
    let rows = b.find_all("table#run-emails tr").len();
    assert!(
        rows >= md.count(),
        "{rows} rows for {} emails sent",
        md.count()
    );
}

/// The text of the document in the iframe `css` (as written: `textContent`, not upper-cased by CSS).
fn frame_text(b: &Browser, css: &str) -> String {
    b.enter_frame(&b.find(css));
    let text = b.script("return document.body.textContent;", serde_json::json!([]));
    let text = text.as_str().unwrap_or("").to_string();
    b.leave_frames();
    text
}

/// How many files `dir` holds (none when it does not exist).
fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// A product title that would mark the console's page if it ran anywhere.
const SCRIPT: &str = "<script>parent.document.body.setAttribute('data-xss','1')</script>";

#[test]
fn a_script_in_a_product_title_runs_nowhere_in_the_preview() {
    let title = "Vatican Museums & Sistine Chapel Skip-the-Line Ticket";
    // Quoted: the script holds a comma.
    let demo = Demo::with_bookings(|csv| csv.replacen(title, &format!("\"{SCRIPT}\""), 1));
    let console = Console::start(&demo.config, &[]);
    let b = Browser::start();
    log_in(&b, &console, WHO);
    b.goto(&console.at(&format!("preview?booking={BOOKING}&campaign=reminder")));
    for frame in ["iframe#wide", "iframe#narrow"] {
        assert_eq!(
            b.find(frame).attr("sandbox").as_deref(),
            Some(""),
            "{frame}"
        );
        // The email is there, its title shown as text.
        assert!(
            frame_text(&b, frame).contains(SCRIPT),
            "{frame} shows the title"
        );
    }
    assert!(
        b.find("pre#text").text().contains(SCRIPT),
        "the text part shows it"
    );
    // Time for anything that would run to have run.
    std::thread::sleep(Duration::from_millis(500));
    let marked = b.script(
        "return document.body.getAttribute('data-xss');",
        serde_json::json!([]),
    );
    assert_eq!(marked, serde_json::Value::Null, "a script of the title ran");
    assert_eq!(b.find("body").attr("data-xss"), None);
}
