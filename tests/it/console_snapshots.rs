//! The console's snapshot pages over plain HTTP: a case list written while the console runs is
//! found on reload; a case that cannot be made says why in its place, the others are shown; "approve
//! all" with one case goes back to the gallery and says what it did.

use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;

use crate::browser::{Console, Demo};
use crate::console_guard::{csrf_of, plain, session};

#[test]
fn a_case_list_written_meanwhile_is_found_and_a_case_that_cannot_be_made_says_why() {
    let demo = Demo::new(&[]);
    let console = Console::start(&demo.config, &[]);
    let http = plain();
    crate::util::runtime().block_on(async {
        let session = session(&http, &console).await;
        let get = |path: &'static str| {
            let (http, session, url) = (&http, &session, console.at(path));
            async move {
                let resp = http.get(url).header(COOKIE, session).send().await.expect("an answer");
                assert_eq!(resp.status(), StatusCode::OK, "/{path}");
                resp.text().await.expect("a page")
            }
        };
        let page = get("snapshots").await;
        assert!(page.contains("id=\"no-cases\""), "{page}");

        // Written while the console runs: an inline case, and one whose booking does not exist.
        let shipped = std::fs::read_to_string(crate::util::root().join("fixtures/snapshots.toml"))
            .expect("the shipped cases");
        let inline = shipped.split("[case.reminder-en-inline]").nth(1).expect("the inline case");
        let cases = format!(
            "[case.paris]{inline}\n[case.ghost]\nbooking = \"WT-NOPE\"\ncampaign = \"reminder\"\nat = \"2026-12-10T09:00:00Z\"\n"
        );
        std::fs::write(demo.dir.path().join("snapshots.toml"), cases).expect("cases written");
        let page = get("snapshots").await;
        assert!(
            page.contains("2 cases: 0 the same, 0 changed, 1 new, 1 could not be made"),
            "{page}"
        );
        let ghost = page
            .split("id=\"case-ghost\"")
            .nth(1)
            .and_then(|p| p.split("</figure>").next())
            .expect("the ghost case's card");
        assert!(ghost.contains("no booking &quot;WT-NOPE&quot;"), "{ghost}");
        assert!(page.contains("id=\"case-paris\" data-status=\"new\""), "{page}");

        // "Approve all 1 changed and new": back to the gallery, which says so.
        let seen = page
            .split("name=\"seen\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("the approve-all form")
            .to_string();
        assert!(seen.starts_with("paris:") && !seen.contains(' '), "{seen}");
        let resp = http
            .post(console.at("snapshots/approve"))
            .header(COOKIE, &session)
            .form(&[("csrf", csrf_of(&page).as_str()), ("seen", &seen), ("back", "gallery")])
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let to = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(to, "/snapshots?approved=1&stale=0");
        assert!(demo.dir.path().join("snapshots/paris.snap").exists());
        let page = get("snapshots?approved=1&stale=0").await;
        assert!(page.contains("Approved 1 snapshot."), "{page}");
        assert!(page.contains("2 cases: 1 the same, 0 changed, 0 new, 1 could not be made"), "{page}");
    });
}
