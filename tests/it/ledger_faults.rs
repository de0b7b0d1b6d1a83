//! The send ledger under faults: one lock per ledger file whatever path leads to it, and a ledger
//! that fills up mid-run losing no record of an email the server accepted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tripmail::ledger::{Ledger, SendLedger, SendState};

use crate::sandbox::{header, FaultServer, Faults};
use crate::util::{config_with, stderr, tripmail, NOW};

/// `tripmail run` of the shipped campaign at [`NOW`] into `smtp`, with the ledger at `state` and the
/// report in `dir`.
fn send(dir: &Path, state: &Path, smtp: &str, extra: &[&str]) -> Output {
    let cfg = config_with(dir, &[("retry_base_ms = 500", "retry_base_ms = 20")]);
    tripmail()
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .args(["--now", NOW, "--smtp", smtp])
        .arg("--state")
        .arg(state)
        .arg("--report")
        .arg(dir.join("report.json"))
        .args(extra)
        .output()
        .expect("tripmail runs")
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report written");
    serde_json::from_str(&text).expect("report is JSON")
}

/// The Message-IDs the server accepted (brackets removed), with how many times each.
fn accepted(server: &FaultServer) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for a in server.accepted() {
        let id = header(&a.data, "Message-ID").expect("a Message-ID on every email");
        *ids.entry(id.trim_matches(['<', '>']).to_string())
            .or_insert(0) += 1;
    }
    ids
}

#[test]
fn a_second_run_through_a_symlink_to_the_ledger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.sqlite");
    let alias = dir.path().join("alias.sqlite");
    std::os::unix::fs::symlink(&real, &alias).unwrap();
    let server = FaultServer::start(Faults::default());

    // The first runner holds the ledger by its real name; the second comes through the symlink.
    let first = Ledger::open(&real).unwrap();
    let o = send(dir.path(), &alias, &server.url(), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another tripmail run"), "{err}");
    let locked = std::fs::canonicalize(&real).unwrap();
    assert!(
        err.contains(&locked.display().to_string()),
        "names the locked file: {err}"
    );
    assert!(server.accepted().is_empty(), "nothing sent");

    drop(first);
    let o = send(dir.path(), &alias, &server.url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.accepted().len(), 33);
}

/// A tmpfs of `size` mounted on a folder, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(at))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Every email the server accepted is in the ledger as `sent`, or listed beside it for the next
/// run; the listed ones by Message-ID.
fn recorded_or_listed(state: &Path) -> (BTreeMap<String, SendState>, Vec<String>) {
    let ledger = Ledger::open_read(state).unwrap();
    let states = ledger
        .entries(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.message_id, e.state))
        .collect();
    let mut list = state.as_os_str().to_owned();
    list.push(".unrecorded.jsonl");
    let listed = std::fs::read_to_string(PathBuf::from(list))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["message_id"].as_str().unwrap().to_string()
        })
        .collect();
    (states, listed)
}

/// What the first run on a full ledger left: the Message-IDs the server accepted, and those listed
/// beside the ledger for the next run.
struct Filled {
    accepted: BTreeMap<String, usize>,
    listed: Vec<String>,
}

/// Runs the shipped campaign, one email at a time, with its ledger on a 256 KB tmpfs (the disk
/// fills mid-run, on a `sent` at this size), checks that every email the server accepted is
/// recorded or listed and counted as sent, then frees space and reruns: none is sent twice.
/// `prepare` runs on the empty tmpfs first. `None` when no tmpfs can be mounted.
fn fill_then_rerun(prepare: impl FnOnce(&Path)) -> Option<Filled> {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(dir.path().join("disk"), "256k") else {
        // Not root, or no tmpfs: the library test of a full ledger (SQLite's max_page_count,
        // `ledger::sqlite::unrecorded::tests`) covers the listing; this one needs a real full
        // filesystem.
        eprintln!("cannot mount a tmpfs here: skipped");
        return None;
    };
    prepare(&disk.0);
    let state = disk.0.join("ledger.sqlite");
    let server = FaultServer::start(Faults::default());

    let o = send(dir.path(), &state, &server.url(), &["--parallel", "1"]);
    let err = stderr(&o);
    let first = report(dir.path());
    let sent_first = accepted(&server);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        first["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("ledger")),
        "stopped by the full ledger: {first}\n{err}"
    );
    assert!(
        !sent_first.is_empty() && sent_first.len() < 33,
        "the disk filled mid-run: {} sent\n{err}",
        sent_first.len()
    );
    // The report tells the truth about what went out.
    assert_eq!(
        first["sent"].as_u64(),
        Some(sent_first.len() as u64),
        "{first}"
    );

    let (states, listed) = recorded_or_listed(&state);
    for id in sent_first.keys() {
        assert!(
            states.get(id) == Some(&SendState::Sent) || listed.contains(id),
            "{id} was delivered but is neither recorded nor listed: {:?}\n{err}",
            states.get(id)
        );
    }
    eprintln!(
        "full ledger: {} accepted, {} recorded as sent, {} listed",
        sent_first.len(),
        states.values().filter(|s| **s == SendState::Sent).count(),
        listed.len(),
    );
    let unrecorded = first["unrecorded"].as_array().unwrap();
    assert_eq!(unrecorded.len(), listed.len(), "{first}");
    for u in unrecorded {
        assert!(u["listed_in"].is_string(), "{u}");
        let id = u["message_id"].as_str().unwrap();
        assert!(err.contains(id), "the summary names {id}: {err}");
    }
    if !listed.is_empty() {
        let beside: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("unrecorded-sends.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(&beside, &first["unrecorded"]);
    }

    // Room again: the rerun records the listed ones, sends the rest, none of the first run's again.
    disk.resize("8m");
    let o = send(dir.path(), &state, &server.url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    if !listed.is_empty() {
        let stdout = String::from_utf8_lossy(&o.stdout);
        let said = format!(
            "ledger: {} sends an earlier run could not record",
            listed.len()
        );
        assert!(stdout.contains(&said), "{stdout}");
    }
    let all = accepted(&server);
    let twice: Vec<_> = all.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(all.len(), 33);
    let (states, _) = recorded_or_listed(&state);
    assert!(states.values().all(|s| *s == SendState::Sent), "{states:?}");
    Some(Filled {
        accepted: sent_first,
        listed,
    })
}

#[test]
fn a_ledger_on_a_full_filesystem_loses_no_record_of_a_delivery() {
    let reserve = std::cell::Cell::new(PathBuf::new());
    let Some(filled) = fill_then_rerun(|disk| reserve.set(disk.join("ledger.sqlite.reserve")))
    else {
        return;
    };
    // The `sent` that found the disk full took the reserve and went into the ledger.
    assert!(
        !reserve.take().exists(),
        "a `sent` failed and took the reserve"
    );
    assert!(filled.listed.is_empty(), "{:?}", filled.listed);
    assert!(!filled.accepted.is_empty());
}

#[test]
fn a_sent_the_full_ledger_cannot_take_is_listed_and_recorded_by_the_rerun_first() {
    // No room for the ledger's reserve (a folder stands in its name): the `sent` cannot be written
    // and goes to the list beside the ledger.
    let Some(filled) = fill_then_rerun(|disk| {
        std::fs::create_dir(disk.join("ledger.sqlite.reserve")).unwrap();
    }) else {
        return;
    };
    // Which write finds the disk full, a claim (nothing is sent under it) or a `sent` (listed), is
    // down to timing since claims are taken just before the transaction; the library test in
    // `ledger::sqlite::unrecorded` lists one for certain. Whatever was listed was delivered.
    for id in &filled.listed {
        assert!(filled.accepted.contains_key(id), "{id} listed but not sent");
    }
}
