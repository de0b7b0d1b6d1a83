//! Scheduling: a simulated fortnight over both spring/autumn daylight-saving changes of 2027 (Europe
//! forward on 28 March, Australia back on 4 April), driven tick by tick through the library with a
//! real SMTP server and a real ledger, compared with what `tripmail plan` said beforehand; and the
//! send windows checked against the customers' clocks by chrono-tz directly.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use tripmail::config::{Overrides, Settings};
use tripmail::deliver::SmtpDelivery;
use tripmail::ledger::{Ledger, SendLedger, SendState};
use tripmail::run::{Campaigns, Outputs, RunOptions, Sending};

use crate::sandbox::{header, FaultServer, Faults};
use crate::util::{root, stderr, tripmail};

const FROM: &str = "2027-03-25T00:00:00Z";
const DAYS: i64 = 14;
const TICK_MINUTES: i64 = 30;

/// Customers' zones, each with a catalog city they travel to and a product of it.
const PEOPLE: [(&str, &str, u64, &str); 6] = [
    ("Europe/Paris", "Rome", 1111476, "fr"),
    ("Europe/London", "Amsterdam", 3301145, "en"),
    ("Australia/Sydney", "Sydney", 6601412, "en"),
    ("Australia/Adelaide", "Singapore", 801623, "en"),
    ("Asia/Kolkata", "Barcelona", 4401208, "es"),
    ("America/New_York", "Paris", 2204518, "de"),
];

const HEADER: &str = "booking_id,customer_email,customer_first_name,locale,product_id,product_title,city,travel_date,booked_at,adults,children,status,marketing_opt_in,latitude,timezone,other_product_ids";

/// One bookings row.
fn row(id: &str, who: usize, travel: &str, booked: &str) -> String {
    let (tz, city, product, locale) = PEOPLE[who];
    format!("{id},{}@example.com,Kim,{locale},{product},Tour,{city},{travel},{booked},2,0,confirmed,true,,{tz},", id.to_lowercase())
}

/// Sixty bookings spread over the fortnight (booked every 5 h 17 min, travelling on a day of it), and
/// the cases the issue names: a confirmation booked at 23:30, reminders due on the change days.
fn bookings() -> String {
    let from: DateTime<Utc> = FROM.parse().unwrap();
    let mut rows = vec![HEADER.to_string()];
    for i in 0..60i64 {
        let booked = from - Duration::hours(30) + Duration::minutes(317 * i);
        let travel = (from + Duration::days(1 + (i * 5) % 14)).date_naive();
        rows.push(row(
            &format!("SIM-{i:03}"),
            (i % 6) as usize,
            &travel.to_string(),
            &booked.to_rfc3339(),
        ));
    }
    // Booked at 23:30 in Paris on Friday 26 March.
    rows.push(row("NIGHT-1", 0, "2027-04-20", "2027-03-26T23:30:00+01:00"));
    // "early" (02:30, two days before) falls on Paris's spring-forward night, 28 March.
    rows.push(row("GAP-1", 0, "2027-03-30", "2027-03-01T10:00:00Z"));
    // The reminder of this one is due from Sunday 28 March, when reminders are not sent.
    rows.push(row("SUNDAY-1", 0, "2027-03-31", "2027-03-01T10:00:00Z"));
    // ...and on Sydney's autumn-back night, 4 April, when 02:30 happens twice.
    rows.push(row("TWICE-1", 2, "2027-04-06", "2027-03-01T10:00:00Z"));
    rows.join("\n") + "\n"
}

fn config(dir: &Path, smtp: &str) -> PathBuf {
    let r = root();
    let text = format!(
        r#"
[bookings]
path = "{bookings}"
[engine]
base_url = "embedded"
catalog = "{catalog}"
[heuristics]
indoor_tag_ids = [442]
outdoor_tag_ids = [443]
family_tag_ids = [501]
adults_only_tag_ids = [502]
[links]
product_url = "https://www.wanderly.example/products/{{product_id}}"
unsubscribe_url = "https://www.wanderly.example/unsubscribe"
unsubscribe_secret = "test-secret"
[sender]
from = "Wanderly <trips@wanderly.example>"
[smtp]
url = "{smtp}"
[state]
path = "{state}"
[templates]
dir = "{templates}"

[[campaign]]
name = "welcome"
trigger = "confirmation"
lookback_hours = 48
send_window = "09:00-20:00"

[[campaign]]
name = "receipt"
trigger = "confirmation"
lookback_hours = 48
template = "confirmation"
transactional = true

[[campaign]]
name = "reminder"
trigger = "reminder"
days_before = 3
send_window = "09:00-20:00"
send_at = "10:00"
send_days = ["mon", "tue", "wed", "thu", "fri", "sat"]

[[campaign]]
name = "early"
trigger = "reminder"
template = "reminder"
days_before = 2
send_window = "02:00-04:00"
send_at = "02:30"
"#,
        bookings = dir.join("bookings.csv").display(),
        catalog = r.join("fixtures/catalog.json").display(),
        templates = r.join("templates").display(),
        state = dir.join("state/ledger.sqlite").display(),
    );
    std::fs::write(dir.join("bookings.csv"), bookings()).unwrap();
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// Runs one tick at each `TICK_MINUTES` of the fortnight through the library, as `run --every 30m`
/// does, sending to the SMTP server the config names (`smtp.url`), with the ledger.
fn simulate(config: &Path) -> Vec<tripmail::report::Report> {
    crate::util::runtime().block_on(async {
        let settings = Settings::load_with_env(config, &Overrides::default(), Vec::new()).unwrap();
        let ledger = Arc::new(Ledger::open(&settings.state.path).unwrap());
        let url = settings
            .smtp
            .url
            .as_ref()
            .expect("the config names the server");
        let smtp = SmtpDelivery::new(url, &settings.smtp).unwrap();
        let campaigns = Campaigns::start(settings).await.unwrap();
        let from: DateTime<Utc> = FROM.parse().unwrap();
        let mut reports = Vec::new();
        for k in 0..(DAYS * 24 * 60 / TICK_MINUTES) {
            let now = from + Duration::minutes(TICK_MINUTES * k);
            ledger.begin_run();
            let out = Outputs {
                files: None,
                send: Some(Sending {
                    transport: &smtp,
                    ledger: Some(ledger.clone()),
                }),
                progress: None,
            };
            let opts = RunOptions {
                now,
                campaign: None,
                parallel: 8,
                redirect_to: None,
                clock: epoch,
                cancel: None,
                next_ticks: None,
                dry_run: false,
                straight: false,
                keep_records: true,
            };
            reports.push(campaigns.run(&opts, &out).await.unwrap());
        }
        reports
    })
}

/// The customer's zone and locale of each booking id.
fn customers() -> HashMap<String, (Tz, String)> {
    bookings()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), (f[14].parse().unwrap(), f[3].to_string()))
        })
        .collect()
}

#[test]
fn a_fortnight_over_two_dst_changes_sends_what_the_plan_said_inside_every_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = FaultServer::start(Faults::default());
    let config = config(dir.path(), &server.url());

    // The plan, made before anything is sent.
    let o = tripmail()
        .args(["plan", "--config"])
        .arg(&config)
        .args([
            "--from",
            FROM,
            "--days",
            &DAYS.to_string(),
            "--every",
            "30m",
        ])
        .args(["--format", "json", "--recipients", "100000"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    let reports = simulate(&config);
    assert!(reports
        .iter()
        .all(|r| r.failed.is_empty() && r.stopped.is_none()));

    // What was sent, and when (the tick's `now`), from the ledger.
    let ledger = Ledger::open_read(&dir.path().join("state/ledger.sqlite")).unwrap();
    let entries = ledger.entries(None).unwrap();
    assert!(
        entries.iter().all(|e| e.state == SendState::Sent),
        "{entries:?}"
    );
    let sent: BTreeMap<(String, String), DateTime<Utc>> = entries
        .iter()
        .map(|e| {
            let at = DateTime::parse_from_rfc3339(&e.run_at)
                .unwrap()
                .with_timezone(&Utc);
            ((e.campaign.clone(), e.booking_id.clone()), at)
        })
        .collect();

    // Each email reached the server once.
    let accepted = server.accepted();
    let ids: HashSet<String> = accepted
        .iter()
        .map(|a| header(&a.data, "Message-ID").unwrap())
        .collect();
    assert_eq!(accepted.len(), sent.len());
    assert_eq!(ids.len(), sent.len());

    // The plan listed exactly these emails, each at the tick that sent it...
    let mut planned: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
    for day in plan["days"].as_array().unwrap() {
        for e in day["first"].as_array().unwrap() {
            let key = (
                day["campaign"].as_str().unwrap().to_string(),
                e["booking_id"].as_str().unwrap().to_string(),
            );
            planned.insert(key, e["at"].as_str().unwrap().parse().unwrap());
        }
    }
    assert_eq!(planned, sent);
    assert!(
        sent.len() > 150,
        "too few emails to test anything: {}",
        sent.len()
    );
    // ...and its day and locale counts are those of the sends.
    let who = customers();
    let mut counts: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for ((campaign, booking), at) in &sent {
        let locale = who[booking].1.clone();
        *counts
            .entry((at.date_naive().to_string(), campaign.clone()))
            .or_default()
            .entry(locale)
            .or_default() += 1;
    }
    let plan_counts: BTreeMap<(String, String), BTreeMap<String, u64>> = plan["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let key = (
                d["date"].as_str().unwrap().to_string(),
                d["campaign"].as_str().unwrap().to_string(),
            );
            let locales = serde_json::from_value(d["locales"].clone()).unwrap();
            (key, locales)
        })
        .collect();
    assert_eq!(plan_counts, counts);
    // Three emails are due in the fortnight but never inside their window, and the plan says so:
    // two "early" reminders for trips of 26 March in Sydney, whose last 02:00-04:00 window closed
    // before the fortnight began; and a confirmation booked in London at 21:35 on the travel day.
    let unsendable: BTreeSet<(String, String)> = plan["will_not_send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["campaign"].as_str().unwrap().into(),
                u["booking_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("early", "SIM-014"),
        ("early", "SIM-056"),
        ("welcome", "SIM-055"),
    ];
    assert_eq!(
        unsendable,
        expected
            .iter()
            .map(|(c, b)| (c.to_string(), b.to_string()))
            .collect(),
    );

    // No email outside its window on the customer's clock (the transactional one excepted).
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    for ((campaign, booking), at) in &sent {
        let local = at.with_timezone(&who[booking].0);
        let t = local.time();
        let ok = match campaign.as_str() {
            "welcome" => t >= hm(9, 0) && t < hm(20, 0),
            "reminder" => t >= hm(10, 0) && t < hm(20, 0) && local.weekday() != Weekday::Sun,
            "early" => t >= hm(2, 30) && t < hm(4, 0),
            "receipt" => true,
            other => panic!("unexpected campaign {other}"),
        };
        assert!(ok, "{campaign} {booking} sent at {local} ({at})");
    }
    // Transactional confirmations went at the first tick after booking, night or day; some at night.
    let receipts_at_night = sent
        .iter()
        .filter(|((c, b), at)| {
            c == "receipt" && {
                let h = at.with_timezone(&who[b].0).hour();
                !(9..20).contains(&h)
            }
        })
        .count();
    assert!(receipts_at_night > 0);

    let at = |c: &str, b: &str| sent[&(c.to_string(), b.to_string())].to_rfc3339();
    // Booked at 23:30 in Paris: the transactional one at once, the other at 09:00 the next morning.
    assert_eq!(at("receipt", "NIGHT-1"), "2027-03-26T22:30:00+00:00");
    assert_eq!(at("welcome", "NIGHT-1"), "2027-03-27T08:00:00+00:00");
    // 02:30 in Paris on 28 March does not exist: at 03:00 CEST (01:00 UTC), once.
    assert_eq!(at("early", "GAP-1"), "2027-03-28T01:00:00+00:00");
    // 02:30 in Sydney on 4 April happens twice (15:30 and 16:30 UTC): at the first, once.
    assert_eq!(at("early", "TWICE-1"), "2027-04-03T15:30:00+00:00");
    // GAP-1's reminder is due from Saturday 27 March (Rome): 10:00 in Paris, 09:00 UTC in winter.
    assert_eq!(at("reminder", "GAP-1"), "2027-03-27T09:00:00+00:00");
    // SUNDAY-1's is due from Sunday 28 March, a day off: Monday 10:00 in Paris, now 08:00 UTC.
    assert_eq!(at("reminder", "SUNDAY-1"), "2027-03-29T08:00:00+00:00");

    // Reminders the plan held back after a recent confirmation with no chance left
    // (skipped:recent_confirmation, moved nowhere) were not sent; the others went where it moved them.
    let held: BTreeSet<(String, String)> = plan["held_back"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["moved_to"].is_null())
        .map(|h| {
            (
                h["campaign"].as_str().unwrap().into(),
                h["booking_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    for key in &held {
        assert!(!sent.contains_key(key), "{key:?} was held back, yet sent");
    }
    // No reminder skipped otherwise: every booking travelling from 29 March got both reminders.
    for (booking, _) in who.iter().filter(|(b, _)| b.starts_with("SIM-")) {
        let travel = bookings()
            .lines()
            .find(|l| l.starts_with(booking.as_str()))
            .and_then(|l| l.split(',').nth(7).map(String::from))
            .unwrap();
        if travel.as_str() >= "2027-03-29" {
            for c in ["reminder", "early"] {
                if held.contains(&(c.to_string(), booking.clone())) {
                    continue;
                }
                assert!(
                    sent.contains_key(&(c.to_string(), booking.clone())),
                    "{c} for {booking} (travel {travel}) was not sent"
                );
            }
        }
    }

    // Once sent, nothing is planned again: the same plan now finds everything in the ledger.
    let o = tripmail()
        .args(["plan", "--config"])
        .arg(&config)
        .args([
            "--from", FROM, "--days", "14", "--every", "30m", "--format", "json",
        ])
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["days"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["already_done"].as_u64().unwrap() as usize, sent.len());
}
