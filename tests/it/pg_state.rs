//! Pauses on a PostgreSQL ledger act on every runner: a pause from `tripmail pause` is kept by the
//! runs and shown by the console; a resume from the console's button lets the next run send.

use reqwest::header::COOKIE;
use reqwest::StatusCode;

use crate::browser::Console;
use crate::console_guard::{csrf_of, plain, session};
use crate::pg::Cluster;
use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, ledger_of, run_sending, tripmail};

#[test]
fn pg_a_pause_holds_for_the_runs_and_the_console_and_a_resume_from_the_console_too() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let dir = tempfile::tempdir().unwrap();
    let state = format!("path = \"state/tripmail.sqlite\"\nurl = \"{url}\"");
    let cfg = config_with(dir.path(), &[("path = \"state/tripmail.sqlite\"", &state)]);
    let server = FaultServer::start(Faults::default());
    let run = |name: &str| run_sending(&cfg, &server.url(), &dir.path().join(name));
    let o = tripmail()
        .args(["pause", "reminder", "--by", "Ana", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let first = run("first.json");
    assert_eq!(first["paused"][0]["campaign"], "reminder", "{first}");
    assert_eq!(first["paused"][0]["by"], "Ana");
    let reminders = first["paused"][0]["emails"].as_u64().unwrap();
    assert!(reminders > 0);

    let console = Console::start(&cfg, &[]);
    let http = plain();
    crate::util::runtime().block_on(async {
        let session = session(&http, &console).await;
        let page = http
            .get(console.at(""))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        let page = page.text().await.unwrap();
        let row = page
            .split("data-campaign=\"reminder\"")
            .nth(1)
            .expect("the reminder's row");
        assert!(row.contains("state-paused") && row.contains("Ana"), "{row}");
        let resp = http
            .post(console.at("campaigns/reminder/resume"))
            .header(COOKIE, &session)
            .form(&[("csrf", csrf_of(&page).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    });

    let second = run("second.json");
    assert!(second.get("paused").is_none(), "nothing paused: {second}");
    // The reminders go now (one waits a day after its confirmation), and only they.
    let sent: Vec<&serde_json::Value> = second["emails"].as_array().unwrap().iter().collect();
    assert_eq!(second["sent"].as_u64(), Some(sent.len() as u64));
    assert_eq!(sent.len() as u64 + 1, reminders, "{second}");
    assert!(sent.iter().all(|e| e["campaign"] == "reminder"));
    let listed = ledger_of(&cfg);
    let audit: Vec<(String, String)> = listed["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["who"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        [
            ("resumed".into(), "guard test".into()),
            ("paused".into(), "Ana".into())
        ]
    );
}
