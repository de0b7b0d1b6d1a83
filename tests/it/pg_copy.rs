//! `tripmail ledger --copy-to postgres://…`: the SQLite ledger of a finished campaign moved into
//! PostgreSQL; a rerun on PostgreSQL sends nothing; copying again changes nothing.

use crate::pg::Cluster;
use crate::sandbox::{FaultServer, Faults};
use crate::util::{config_with, ledger_of, run_sending, tripmail};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn pg_a_copied_ledger_sends_nothing_again_and_a_second_copy_changes_nothing() {
    let cluster = Cluster::shared();
    let url = cluster.database();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir
        .path()
        .join("state/tripmail.sqlite")
        .display()
        .to_string();
    let cfg = config_with(dir.path(), &[("state/tripmail.sqlite", &sqlite)]);
    let server = FaultServer::start(Faults::default());
    let run = |config: &std::path::Path, report: &str| {
        run_sending(config, &server.url(), &dir.path().join(report))
    };
    let first = run(&cfg, "first.json");
    let sent = first["sent"].as_u64().unwrap();
    assert!(sent >= 30, "{first}");
    for action in ["pause", "resume"] {
        let o = tripmail()
            .args([action, "reminder", "--by", "Ana", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
    }

    // The password in the environment, not on the command line (which is refused).
    let (role_pw, host) = url
        .trim_start_matches("postgres://")
        .split_once('@')
        .unwrap();
    let (role, password) = role_pw.split_once(':').unwrap();
    let bare = format!("postgres://{role}@{host}");
    let o = tripmail()
        .args(["ledger", "--copy-to", &url, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("TRIPMAIL_STATE__PASSWORD, not in the URL"));
    let copy = || {
        let o = tripmail()
            .args(["ledger", "--copy-to", &bare, "--config"])
            .arg(&cfg)
            .env("TRIPMAIL_STATE__PASSWORD", password)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout(&o)
    };
    let said = copy();
    assert!(
        said.contains(&format!(
            "copied {sent} sends (0 were there already, 0 of them brought up to date), 0 pauses, 2 audit entries"
        )),
        "{said}"
    );
    assert!(!said.contains(password), "no password: {said}");

    // The runners on PostgreSQL: nothing is sent again.
    let on_pg = dir.path().join("pg.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("path = \"{sqlite}\""),
        &format!("path = \"{sqlite}\"\nurl = \"{url}\""),
    );
    std::fs::write(&on_pg, text).unwrap();
    let before = server.accepted().len();
    let again = run(&on_pg, "again.json");
    assert_eq!(again["sent"], 0, "{again}");
    assert_eq!(again["already_sent"].as_u64(), Some(sent), "{again}");
    assert_eq!(server.accepted().len(), before);
    let listed = ledger_of(&on_pg);
    assert_eq!(listed["audit"].as_array().map(Vec::len), Some(2));

    let said = copy();
    assert!(
        said.contains(&format!(
            "copied 0 sends ({sent} were there already, 0 of them brought up to date), 0 pauses, 0 audit entries"
        )),
        "{said}"
    );
}
