//! `tripmail serve` started from a test: the binary with its arguments and environment, its address
//! read from the `tripmail console: http://…/` line it prints once bound (bounded wait), killed when
//! dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The token the tests log in with (`TRIPMAIL_CONSOLE__TOKEN`).
pub const TOKEN: &str = "console-test-token-4f1c";

/// How long `serve` has to print its address.
const BIND_WITHIN: Duration = Duration::from_secs(30);

/// The line `serve` prints once bound, before its address.
const ADDRESS_LINE: &str = "tripmail console: ";

/// A `tripmail serve` process, killed when dropped.
pub struct Console {
    child: Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    stderr: tempfile::NamedTempFile,
}

impl Console {
    /// `tripmail serve --config CONFIG --listen 127.0.0.1:0 --now NOW EXTRA…` with the token
    /// [`TOKEN`] in its environment; waits for its address.
    pub fn start(config: &Path, extra: &[&str]) -> Console {
        let mut cmd = crate::util::tripmail_process();
        cmd.arg("serve").arg("--config").arg(config);
        cmd.args(["--listen", "127.0.0.1:0", "--now", crate::util::NOW]);
        cmd.args(extra).env("TRIPMAIL_CONSOLE__TOKEN", TOKEN);
        Console::spawn(cmd)
    }

    /// Starts `cmd` (a `tripmail serve` command) and waits, at most [`BIND_WITHIN`], for the line
    /// with its address; its later output is read and dropped so that it never blocks on a pipe.
    pub fn spawn(mut cmd: std::process::Command) -> Console {
        let stderr = tempfile::NamedTempFile::new().expect("a temp file for stderr");
        let err_file = stderr.reopen().expect("the stderr file reopened");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err_file)
            .spawn()
            .expect("tripmail serve starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix(ADDRESS_LINE) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let mut console = Console {
            child,
            url: String::new(),
            stderr,
        };
        match rx.recv_timeout(BIND_WITHIN) {
            Ok(url) => console.url = url,
            Err(e) => {
                // Disconnected: stdout closed, the process ended (or is ending).
                let exited = match e {
                    mpsc::RecvTimeoutError::Disconnected => console.child.wait().ok(),
                    mpsc::RecvTimeoutError::Timeout => console.child.try_wait().ok().flatten(),
                };
                panic!(
                    "tripmail serve printed no `{ADDRESS_LINE}http://…/` line in {BIND_WITHIN:?} \
                     (exited: {exited:?}); stderr:\n{}",
                    console.stderr_text()
                );
            }
        }
        assert!(
            console.url.starts_with("http://127.0.0.1:") && console.url.ends_with('/'),
            "the console's address {:?} is not http://127.0.0.1:PORT/",
            console.url
        );
        console
    }

    /// The URL of `path` (no leading slash: `plan`, `lookup?q=…`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    /// What it wrote on stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
