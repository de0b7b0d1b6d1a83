//! The harness itself: isolation, password authentication, the faults, and nothing left behind.

use super::Cluster;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The command lines of the running processes that mention `needle` (from /proc).
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Nothing of the cluster in `dir` on `port`: no process naming its folder, port closed, folder gone.
fn assert_gone(dir: &Path, port: u16) {
    let needle = dir.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&needle).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(processes_mentioning(&needle), Vec::<String>::new());
    assert!(!listening(port), "port {port} still open");
    assert!(!dir.exists(), "{} still there", dir.display());
}

fn rows(pg: &Cluster, url: &str) -> String {
    pg.psql(url, "SELECT string_agg(v, ',' ORDER BY v) FROM t")
}

#[test]
fn pg_cluster_starts_gives_isolated_databases_and_restarts() {
    let pg = Cluster::start();
    let dir = pg.private().dir.clone();
    let port = pg.port();
    assert!(pg
        .url_admin()
        .contains(&format!("@127.0.0.1:{port}/postgres")));
    assert_eq!(pg.psql("postgres", "SELECT current_user"), "postgres");

    let (a, b) = (pg.database(), pg.database());
    assert_ne!(a, b);
    assert!(a.starts_with("postgres://") && a.contains(&format!("@127.0.0.1:{port}/")));
    pg.psql(
        &a,
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('a2'), ('a1')",
    );
    pg.psql(&b, "CREATE TABLE t (v text); INSERT INTO t VALUES ('b1')");
    assert_eq!(rows(&pg, &a), "a1,a2");
    assert_eq!(rows(&pg, &b), "b1");

    // a's role may not enter b's database; a wrong password is refused (scram-sha-256 over TCP).
    let a_url = url::Url::parse(&a).unwrap();
    let mut cross = a_url.clone();
    cross.set_path(url::Url::parse(&b).unwrap().path());
    let refused = pg.try_psql(cross.as_str(), "SELECT 1").unwrap_err();
    assert!(refused.contains("permission denied"), "{refused}");
    let mut wrong = a_url.clone();
    wrong.set_password(Some("not-the-password")).unwrap();
    let refused = pg.try_psql(wrong.as_str(), "SELECT 1").unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    let method = pg.psql(
        "postgres",
        "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1",
    );
    assert_eq!(method, "scram-sha-256");

    // Restart: same port, same data, and the server really went down (a new postmaster).
    let started = |pg: &Cluster| pg.psql("postgres", "SELECT pg_postmaster_start_time()");
    let before = started(&pg);
    pg.restart();
    assert_eq!(pg.port(), port);
    assert_ne!(started(&pg), before);
    assert_eq!(rows(&pg, &a), "a1,a2");

    // Stopped: refused; started again: same port, same data.
    pg.stop();
    assert!(!listening(port));
    let down = pg.try_psql(&a, "SELECT 1").unwrap_err();
    assert!(down.contains("Connection refused"), "{down}");
    pg.start_again();
    assert_eq!(rows(&pg, &b), "b1");
    pg.psql(&b, "INSERT INTO t VALUES ('b2')");
    assert_eq!(rows(&pg, &b), "b1,b2");

    drop(pg);
    assert_gone(&dir, port);
}

#[test]
fn pg_cluster_is_stopped_and_removed_when_its_test_panics() {
    let (dir, port) = std::thread::spawn(|| {
        let pg = Cluster::start();
        let seen = (pg.private().dir.clone(), pg.port());
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _pg = pg;
            panic!("a failing test");
        }));
        assert!(failed.is_err());
        seen
    })
    .join()
    .unwrap();
    assert_gone(&dir, port);
}

#[test]
fn pg_watchdog_stops_the_cluster_when_the_test_process_is_killed() {
    // This test binary again, running only the helper below, killed with SIGKILL (no Drop runs).
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "pg::tests::pg_helper_cluster_then_wait"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_VAR, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| Some(l.unwrap().split_once("CLUSTER ")?.1.to_string()))
        .expect("the helper started a cluster");
    let (dir, port) = line.rsplit_once(' ').unwrap();
    let (dir, port) = (Path::new(dir), port.parse().unwrap());
    assert!(listening(port) && dir.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_gone(dir, port);
}

const HELPER_VAR: &str = "TRIPMAIL_PG_HELPER";

/// Run by the test above in a child process: starts a cluster, says where, and waits to be killed.
#[test]
#[ignore = "helper of pg_watchdog_stops_the_cluster_when_the_test_process_is_killed"]
fn pg_helper_cluster_then_wait() {
    if std::env::var_os(HELPER_VAR).is_none() {
        return;
    }
    let pg = Cluster::start();
    println!("\nCLUSTER {} {}", pg.private().dir.display(), pg.port());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn pg_shared_gives_databases_and_refuses_faults() {
    let pg = Cluster::shared();
    let url = pg.database();
    assert!(url.contains(&format!(":{}/", pg.port())));
    pg.psql(&url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('x')");
    assert_eq!(rows(&pg, &url), "x");
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(pg.psql(db, "SELECT count(*) FROM t"), "1");
    for fault in [Cluster::restart, Cluster::stop, Cluster::start_again] {
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fault(&pg)));
        let message = *refused.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("refused on Cluster::shared()"),
            "{message}"
        );
    }
    assert_eq!(rows(&pg, &url), "x");
}
