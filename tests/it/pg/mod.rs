//! Real PostgreSQL for the tests: throwaway clusters started from the distribution's binaries
//! (`initdb`, `pg_ctl`; `.ci/setup` installs them), one fresh database and login role per test, and
//! the faults a ledger must live through (restart, server down then up again).
//!
//! - [`Cluster::shared`]: the server `.ci/run` started (`TEST_POSTGRES_URL`, a superuser
//!   URL), or, when unset, a private cluster for this test. Restarting or stopping it is refused.
//! - [`Cluster::start`]: a private cluster, for the tests that restart or stop the server.
//!
//! A private cluster lives in a temp folder, listens on a free 127.0.0.1 port with password
//! (scram-sha-256) authentication, and is stopped and removed when dropped, also when the test
//! panics. If the test process is killed (no `Drop`), a watchdog process stops and removes it.
#![allow(dead_code)]

mod tools;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tools::{run, tools, wait_for, watchdog};

/// The superuser URL of the server `.ci/run` started for the whole test run.
// Not TRIPMAIL_…: tripmail reads every TRIPMAIL_ variable as a setting (and refuses unknown ones).
pub const SHARED_URL_VAR: &str = "TEST_POSTGRES_URL";

/// How long `pg_ctl` may take to start, stop or restart the server, and `psql` to answer.
const PG_CTL_WAIT: Duration = Duration::from_secs(30);
const PSQL_WAIT: Duration = Duration::from_secs(30);

/// A PostgreSQL server for tests: private (stopped and removed on drop) or the shared one.
pub struct Cluster {
    admin: String,
    host: String,
    port: u16,
    /// From [`Cluster::shared`]: restart and stop are refused (the server may be `.ci/run`'s).
    shared: bool,
    private: Option<Private>,
}

/// What a private cluster owns.
struct Private {
    /// The temp folder: `data/`, `sock/`, `log`.
    dir: PathBuf,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

impl Cluster {
    /// A private cluster: `initdb` into a fresh temp folder (superuser `postgres` with a random
    /// password, scram-sha-256 over TCP), started on a free 127.0.0.1 port (another port if that
    /// one was taken meanwhile).
    pub fn start() -> Cluster {
        let t = tools();
        let dir = tempfile::Builder::new()
            .prefix("tripmail-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        t.hand_over(&dir);
        let sock = dir.join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        t.hand_over(&sock);
        // The watchdog comes first: no window where a kill would leave a server or the folder.
        let mut stop = t.server_cmd(&t.pg_ctl);
        stop.arg("stop").arg("-D").arg(dir.join("data"));
        stop.args(["-m", "immediate", "-w", "-t", "15"]);
        let mut cluster = Cluster {
            admin: String::new(),
            host: "127.0.0.1".into(),
            port: 0,
            shared: false,
            private: Some(Private {
                watchdog: Mutex::new(Some(watchdog(&dir, &stop))),
                dir: dir.clone(),
            }),
        };
        let password = format!("pw{:016x}", fastrand::u64(..));
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).expect("password file");
        t.hand_over(&pwfile);
        let init = run(
            t.server_cmd(&t.initdb)
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-U", "postgres", "--no-sync", "--no-locale", "-E", "UTF8"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display()))
                .current_dir(&dir),
            Duration::from_secs(60),
        );
        let _ = std::fs::remove_file(&pwfile);
        init.unwrap_or_else(|e| panic!("initdb failed: {e}"));
        for attempt in 1..=5 {
            cluster.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let _ = std::fs::remove_file(cluster.private().dir.join("log"));
            match cluster.pg_ctl(&["start"]) {
                Ok(_) => break,
                Err(e) if attempt < 5 && cluster.log_tail().contains("could not bind") => {
                    eprintln!("port {} taken, another one: {e}", cluster.port)
                }
                Err(e) => panic!("PostgreSQL did not start: {e}\n{}", cluster.log_tail()),
            }
        }
        cluster.admin = format!(
            "postgres://postgres:{password}@127.0.0.1:{}/postgres",
            cluster.port
        );
        cluster
    }

    /// The server of `TEST_POSTGRES_URL` (set by `.ci/run`), else a private cluster for
    /// this test ([`Cluster::start`]). Either way [`Cluster::restart`] and [`Cluster::stop`] are
    /// refused: a test that needs them starts its own.
    pub fn shared() -> Cluster {
        let Some(admin) = std::env::var(SHARED_URL_VAR).ok().filter(|u| !u.is_empty()) else {
            let mut private = Cluster::start();
            private.shared = true;
            return private;
        };
        let url = url::Url::parse(&admin)
            .unwrap_or_else(|e| panic!("{SHARED_URL_VAR} is not a URL ({e})"));
        let cluster = Cluster {
            host: url.host_str().unwrap_or("127.0.0.1").to_string(),
            port: url.port().unwrap_or(5432),
            admin,
            shared: true,
            private: None,
        };
        if let Err(e) = cluster.try_psql(&cluster.admin, "SELECT 1") {
            panic!(
                "the PostgreSQL of {SHARED_URL_VAR} ({}:{}) does not answer: {e}",
                cluster.host, cluster.port
            );
        }
        cluster
    }

    /// A fresh database and a login role owning it, both named uniquely, that no other role may
    /// connect to; its URL, `postgres://ROLE:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}_{:04x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            fastrand::u16(..)
        );
        let password = format!("pw{:016x}", fastrand::u64(..));
        let sql = [
            format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
            format!("CREATE DATABASE {name} OWNER {name}"),
            format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC"),
        ];
        let mut cmd = self.psql_cmd(&self.admin);
        for s in &sql {
            cmd.args(["-c", s]);
        }
        run(&mut cmd, PSQL_WAIT).unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        format!(
            "postgres://{name}:{password}@{}:{}/{name}",
            self.host, self.port
        )
    }

    /// The superuser URL (database `postgres`).
    pub fn url_admin(&self) -> String {
        self.admin.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` through `psql` (unaligned, tuples only: `a|b` per row) on `target`, a URL or the
    /// name of a database (reached as the superuser); its output, without the last newline.
    pub fn psql(&self, target: &str, sql: &str) -> String {
        self.try_psql(target, sql)
            .unwrap_or_else(|e| panic!("psql: {e}"))
    }

    /// [`Cluster::psql`], `Err` with psql's message when it fails (refused, SQL error, timeout).
    pub fn try_psql(&self, target: &str, sql: &str) -> Result<String, String> {
        let url = if target.contains("://") {
            target.to_string()
        } else {
            let mut u = url::Url::parse(&self.admin).expect("admin URL");
            u.set_path(target);
            u.to_string()
        };
        let out = run(self.psql_cmd(&url).args(["-c", sql]), PSQL_WAIT)?;
        Ok(out.trim_end_matches('\n').to_string())
    }

    fn psql_cmd(&self, url: &str) -> Command {
        let mut cmd = Command::new(&tools().psql);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
            .env("PGCONNECT_TIMEOUT", "5");
        cmd
    }

    /// `pg_ctl restart -m fast`: clients are cut off, the server comes back on the same port with
    /// the same data.
    pub fn restart(&self) {
        self.fault("restart");
        self.pg_ctl(&["restart", "-m", "fast"])
            .unwrap_or_else(|e| panic!("restart failed: {e}\n{}", self.log_tail()));
    }

    /// `pg_ctl stop -m fast`: the server is down (connections refused) until
    /// [`Cluster::start_again`].
    pub fn stop(&self) {
        self.fault("stop");
        self.pg_ctl(&["stop", "-m", "fast"])
            .unwrap_or_else(|e| panic!("stop failed: {e}\n{}", self.log_tail()));
    }

    /// Starts the server stopped by [`Cluster::stop`], same port, same data.
    pub fn start_again(&self) {
        self.fault("start_again");
        self.pg_ctl(&["start"])
            .unwrap_or_else(|e| panic!("start again failed: {e}\n{}", self.log_tail()));
    }

    fn fault(&self, what: &str) {
        assert!(
            !self.shared,
            "Cluster::{what} is refused on Cluster::shared() (it may be .ci/run's server for all \
             the tests): start a private one with Cluster::start()"
        );
    }

    fn private(&self) -> &Private {
        self.private.as_ref().expect("a private cluster")
    }

    /// `pg_ctl ACTION -w` on this cluster's data, with its port, socket folder and log.
    fn pg_ctl(&self, action: &[&str]) -> Result<String, String> {
        let t = tools();
        let dir = &self.private().dir;
        let options = format!(
            "-p {} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            dir.join("sock").display()
        );
        let wait = PG_CTL_WAIT.as_secs().to_string();
        run(
            t.server_cmd(&t.pg_ctl)
                .args(action)
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "-t", &wait, "-o", &options])
                .current_dir(dir),
            PG_CTL_WAIT + Duration::from_secs(10),
        )
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let Some(p) = &self.private else {
            return String::new();
        };
        let log = std::fs::read_to_string(p.dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("server log ({}):\n{tail}", p.dir.join("log").display())
    }
}

impl Drop for Cluster {
    /// Stops a private server (immediate shutdown, bounded; SIGKILL if that fails) and removes its
    /// folder. Never panics (it runs while a failed test unwinds).
    fn drop(&mut self) {
        let Some(p) = &self.private else { return };
        let pid_file = p.dir.join("data/postmaster.pid");
        if pid_file.exists() {
            if let Err(e) = self.pg_ctl(&["stop", "-m", "immediate"]) {
                eprintln!("pg_ctl stop failed ({e}); killing the postmaster");
                kill_postmaster(&pid_file);
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&p.dir) {
            eprintln!("removing {}: {e}", p.dir.display());
        }
        let watchdog = p.watchdog.lock().map(|mut w| w.take());
        if let Ok(Some((mut child, mut stdin))) = watchdog {
            let _ = stdin.write_all(b"done\n");
            drop(stdin);
            wait_for(&mut child, Duration::from_secs(5));
        }
    }
}

/// SIGKILL to the postmaster of `pid_file` (its first line); its backends exit when it is gone.
fn kill_postmaster(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file).unwrap_or_default();
    if let Some(pid) = pid.lines().next().filter(|l| l.parse::<u32>().is_ok()) {
        let _ = run(
            Command::new("kill").args(["-KILL", pid]),
            Duration::from_secs(5),
        );
    }
}
