//! The PostgreSQL programs the harness runs, found once; bounded runs of them (as the `postgres` OS
//! user when the tests run as root, since PostgreSQL refuses to run as root); the watchdog that stops
//! a cluster whose test process died without running `Drop`.

use std::ffi::OsString;
use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where `initdb`, `pg_ctl`, `postgres` and `psql` are, and who runs the server.
pub struct Tools {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
    pub psql: PathBuf,
    /// `postgres`'s uid and gid when this process runs as root (the server then runs as `postgres`).
    pub run_as: Option<(u32, u32)>,
}

/// The tools, looked up on first use: `PG_BIN` (a bin folder), else `pg_config --bindir`, else the
/// highest `/usr/lib/postgresql/*/bin`, else `PATH`. Missing: the set-up hint and a one-line failure.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let bin = bin_dir().unwrap_or_else(|| {
            crate::util::missing_setup(
                "PostgreSQL is not installed (no initdb and pg_ctl in PG_BIN, `pg_config --bindir`, \
                 /usr/lib/postgresql/*/bin or PATH): run .ci/setup (apt postgresql), or set PG_BIN",
            )
        });
        let psql = Some(bin.join("psql"))
            .filter(|p| p.is_file())
            .or_else(|| in_path("psql"))
            .unwrap_or_else(|| crate::util::missing_setup("psql is missing: run .ci/setup"));
        Tools {
            initdb: bin.join("initdb"),
            pg_ctl: bin.join("pg_ctl"),
            psql,
            run_as: run_as(),
        }
    })
}

fn bin_dir() -> Option<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has_server(d));
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    debian.sort();
    let in_path = in_path("initdb").and_then(|p| Some(p.parent()?.to_path_buf()));
    from_pg_config
        .into_iter()
        .chain(debian.into_iter().rev().map(|(_, d)| d))
        .chain(in_path)
        .find(|d| has_server(d))
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `Some((uid, gid))` of the `postgres` user when this process runs as root.
fn run_as() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id(&["-u"]) != Some(0) {
        return None;
    }
    match (id(&["-u", "postgres"]), id(&["-g", "postgres"])) {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        _ => panic!(
            "the tests run as root, which PostgreSQL refuses, and there is no `postgres` OS user to \
             run it as (apt postgresql creates it): run .ci/setup, or run the tests as another user"
        ),
    }
}

impl Tools {
    /// `program`, run as `postgres` (through `runuser`) when this process runs as root.
    pub fn server_cmd(&self, program: &Path) -> Command {
        let mut cmd = if self.run_as.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.env_remove("PGDATA").env_remove("PGPORT");
        cmd
    }

    /// Makes `path` the server user's (when root), so that `postgres` may write there.
    pub fn hand_over(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
        }
    }
}

/// Runs `cmd` (stdin closed, stdout and stderr into files, so that no grandchild can hold a pipe) for
/// at most `limit`, killed past it. `Ok(stdout)` when it exits with 0, else `Err` with what it said.
pub fn run(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let (mut out, mut err) = (
        tempfile::tempfile().expect("temp file"),
        tempfile::tempfile().expect("temp file"),
    );
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .map_err(|e| format!("{what} did not start: {e}"))?;
    let status = wait_for(&mut child, limit);
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        f.rewind().and_then(|_| f.read_to_string(&mut s)).map(|_| s)
    };
    let (stdout, stderr) = (
        read(&mut out).unwrap_or_default(),
        read(&mut err).unwrap_or_default(),
    );
    match status {
        Some(s) if s.success() => Ok(stdout),
        Some(s) => Err(format!(
            "{what} failed ({s}): {}{}",
            stderr.trim(),
            stdout.trim()
        )),
        None => Err(format!(
            "{what} still running after {limit:?}, killed: {}",
            stderr.trim()
        )),
    }
}

/// The exit status of `child` within `limit`; `None` (and the child killed) past it.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `sh` in its own process group (a Ctrl-C on the terminal does not reach it), ignoring INT, HUP
/// and TERM, that reads one line from this process. When the pipe closes without `done` (this
/// process was killed, or died without unwinding), it runs `stop` and removes `dir`.
pub fn watchdog(dir: &Path, stop: &Command) -> (Child, ChildStdin) {
    let script = r#"trap '' INT HUP TERM
read -r word
[ "$word" = done ] && exit 0
dir=$1; shift
"$@" >/dev/null 2>&1
rm -rf "$dir""#;
    let mut args: Vec<OsString> = vec![dir.into(), stop.get_program().into()];
    args.extend(stop.get_args().map(OsString::from));
    let mut child = Command::new("sh")
        .args(["-c", script, "tripmail-pg-watchdog"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("sh starts (the cluster's watchdog)");
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}
