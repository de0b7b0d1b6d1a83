//! The emails the inbox checks (`inbox_checks.rs`) look at, made once per test run: every email of
//! both shipped runs (`fixtures/campaign.toml` and `campaign-yespo.toml` at the fixtures' instant),
//! the HTML of every snapshot case, and one canary of each kind, a copy spoiled on purpose that each
//! check must refuse (so a check that stopped looking fails too). Also the documented list of
//! fallbacks, `templates/CLIENTS.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::util::{root, run_shipped_cmd, run_yespo_cmd, succeeds};

/// What the checks run over.
pub struct Emails {
    /// Where everything is (under the test target's scratch folder), for shorter names.
    pub dir: PathBuf,
    /// The HTML of every shipped email and snapshot case, in a stable order.
    pub html: Vec<PathBuf>,
    /// Every shipped `.eml`, in a stable order.
    pub eml: Vec<PathBuf>,
    /// A shipped HTML email with a feature most clients lack (`hyphens`) and a picture without
    /// `alt` (html-validate's `wcag/h37`).
    pub canary_html: PathBuf,
    /// A message with the GTUBE line, which SpamAssassin scores 1000.
    pub canary_eml: PathBuf,
}

impl Emails {
    /// `path` relative to [`Emails::dir`], for messages.
    pub fn name(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// The emails, made by the first check that asks (the others wait for it).
pub fn emails() -> &'static Emails {
    static EMAILS: OnceLock<Emails> = OnceLock::new();
    EMAILS.get_or_init(make)
}

fn make() -> Emails {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inbox-checks");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    succeeds(&run_shipped_cmd(&dir.join("run")).output().unwrap());
    succeeds(
        &run_yespo_cmd()
            .arg("--out")
            .arg(dir.join("yespo"))
            .output()
            .unwrap(),
    );
    let mut html = Vec::new();
    let mut eml = Vec::new();
    for run in ["run", "yespo"] {
        for campaign in sorted_entries(&dir.join(run)) {
            if campaign.is_dir() {
                for file in sorted_entries(&campaign) {
                    match file.extension().and_then(|e| e.to_str()) {
                        Some("html") => html.push(file),
                        Some("eml") => eml.push(file),
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(
        html.len() >= 60 && eml.len() == html.len(),
        "the shipped runs wrote {} HTML and {} .eml files",
        html.len(),
        eml.len()
    );
    html.extend(snapshot_cases(&dir.join("snapshots")));
    let canary_html = dir.join("canary.html");
    let spoiled = std::fs::read_to_string(&html[0]).unwrap().replace(
        "</body>",
        r#"<p style="hyphens:auto">canary</p><img src="https://example.com/c.png" width="8" height="8"></body>"#,
    );
    std::fs::write(&canary_html, spoiled).unwrap();
    let canary_eml = dir.join("canary.eml");
    std::fs::write(&canary_eml, GTUBE_MESSAGE).unwrap();
    Emails {
        dir,
        html,
        eml,
        canary_html,
        canary_eml,
    }
}

const GTUBE_MESSAGE: &str = "From: canary@example.com\r\nTo: qa@example.com\r\n\
Subject: canary\r\nDate: Thu, 10 Dec 2026 09:00:00 +0000\r\nMessage-ID: <canary@example.com>\r\n\r\n\
XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";

/// The HTML of every insta snapshot case (`tests/it/snapshots/*.html.snap`: a header between two
/// `---` lines, then the value) and of every case of the demo's case list, written into `out` as
/// `<case>.html`.
fn snapshot_cases(out: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(out).unwrap();
    let mut files = Vec::new();
    for snap in sorted_entries(&root().join("tests/it/snapshots")) {
        let name = snap.file_name().unwrap().to_string_lossy().into_owned();
        let Some(case) = name.strip_suffix(".html.snap") else {
            continue;
        };
        let text = std::fs::read_to_string(&snap).unwrap();
        let body = text
            .strip_prefix("---\n")
            .and_then(|t| t.split_once("\n---\n"))
            .map(|(_, body)| body)
            .unwrap_or_else(|| panic!("{name}: not an insta snapshot"));
        let file = out.join(format!(
            "{}.html",
            case.trim_start_matches("it__snapshots__")
        ));
        std::fs::write(&file, body).unwrap();
        files.push(file);
    }
    // The demo's own case list (`fixtures/snapshots/*.snap`, HTML after its `==== html ====` line).
    for snap in sorted_entries(&root().join("fixtures/snapshots")) {
        let name = snap.file_name().unwrap().to_string_lossy().into_owned();
        let Some(case) = name.strip_suffix(".snap") else {
            continue;
        };
        let text = std::fs::read_to_string(&snap).unwrap();
        let html = tripmail::snapshots::html_of(&text);
        assert!(!html.is_empty(), "{name}: no HTML part");
        let file = out.join(format!("case-{case}.html"));
        std::fs::write(&file, html).unwrap();
        files.push(file);
    }
    assert!(files.len() >= 40, "{} snapshot cases", files.len());
    files
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// `templates/CLIENTS.md`: each feature some client lacks that the emails may use, with the clients
/// lacking it (caniemail ids, or `family.*`). Every row must give a fallback.
pub fn documented_fallbacks() -> BTreeMap<String, Vec<String>> {
    let path = root().join("templates/CLIENTS.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rows = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some(row) = line.trim().strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = row
            .trim_end_matches('|')
            .splitn(3, '|')
            .map(str::trim)
            .collect();
        let where_ = format!("templates/CLIENTS.md:{}", n + 1);
        let [feature, clients, fallback] = cells[..] else {
            panic!("{where_}: a row is `feature` | clients | fallback");
        };
        let feature = feature.trim_end_matches('`').to_string();
        assert!(!fallback.is_empty(), "{where_}: {feature} has no fallback");
        let clients = clients.split(',').map(|c| c.trim().to_string()).collect();
        assert!(
            rows.insert(feature.clone(), clients).is_none(),
            "{where_}: {feature} twice"
        );
    }
    assert!(!rows.is_empty(), "templates/CLIENTS.md lists no feature");
    rows
}

/// Whether `client` (a caniemail id such as `outlook.windows`) is among `listed`.
pub fn listed(client: &str, listed: &[String]) -> bool {
    listed.iter().any(|l| match l.strip_suffix(".*") {
        Some(family) => client.split('.').next() == Some(family),
        None => l == client,
    })
}
