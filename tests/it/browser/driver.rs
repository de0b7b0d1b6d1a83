//! The ChromeDriver process (`chromium-driver`, installed by `.ci/setup`) and the W3C WebDriver
//! JSON protocol spoken to it over reqwest: one request, one JSON answer or a typed error.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long ChromeDriver has to answer `/status` once started.
const START_WITHIN: Duration = Duration::from_secs(20);

/// How long one WebDriver command may take (a page load included).
const COMMAND_WITHIN: Duration = Duration::from_secs(60);

/// ChromeDriver: `CHROMEDRIVER_BIN`, else `chromedriver` on PATH. When it is not there, the set-up
/// hint and one line, as [`crate::util::ci_tool`] does.
pub fn chromedriver_bin() -> PathBuf {
    let env = std::env::var_os("CHROMEDRIVER_BIN").map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    find_chromedriver(env, &path).unwrap_or_else(|line| crate::util::missing_setup(&line))
}

/// Where ChromeDriver is: `env` (`CHROMEDRIVER_BIN`) when set, else `chromedriver` in a folder of
/// `path` (`PATH`); or the line that says what to do.
pub fn find_chromedriver(env: Option<PathBuf>, path: &OsStr) -> Result<PathBuf, String> {
    if let Some(p) = env {
        return match p.is_file() {
            true => Ok(p),
            false => Err(format!(
                "CHROMEDRIVER_BIN names {}, which is not a file: run .ci/setup or fix it",
                p.display()
            )),
        };
    }
    std::env::split_paths(path)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "chromedriver (apt: chromium-driver) is not on PATH: run .ci/setup (or set CHROMEDRIVER_BIN)"
                .to_string()
        })
}

/// A ChromeDriver process on a free 127.0.0.1 port, killed when dropped; its log in a temp file.
pub struct ChromeDriver {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: tempfile::NamedTempFile,
}

impl ChromeDriver {
    /// Starts ChromeDriver and waits (at most [`START_WITHIN`]) until `/status` says it is ready.
    pub fn start(rt: &tokio::runtime::Runtime, http: &reqwest::Client) -> ChromeDriver {
        let bin = chromedriver_bin();
        let port = crate::sandbox::free_port();
        let log = tempfile::NamedTempFile::new().expect("a temp file for chromedriver's log");
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
        let mut driver = ChromeDriver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + START_WITHIN;
        loop {
            let status = rt.block_on(call(http, "GET", &format!("{}/status", driver.base), None));
            if status.is_ok_and(|v| v["ready"] == json!(true)) {
                return driver;
            }
            if let Ok(Some(code)) = driver.child.try_wait() {
                panic!("chromedriver exited ({code}): {}", driver.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer in {START_WITHIN:?}: {}",
                driver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of ChromeDriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver error: the protocol's `error` code and message, or the transport's failure.
#[derive(Debug)]
pub struct WdError {
    /// The W3C error code (`no such element`, `stale element reference`, …) or `transport`.
    pub code: String,
    /// What the driver said.
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The first line only: ChromeDriver appends a long native stack trace.
        let first = self.message.lines().next().unwrap_or("");
        write!(f, "{}: {first}", self.code)
    }
}

/// One WebDriver command: `method url` with `body`; the answer's `value`, or its error.
pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WdError> {
    let transport = |e: reqwest::Error| WdError {
        code: "transport".into(),
        message: e.to_string(),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| WdError {
        code: "transport".into(),
        message: e.to_string(),
    })?;
    let mut req = http.request(method, url).timeout(COMMAND_WITHIN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.map_err(transport)?;
    let ok = resp.status().is_success();
    let answer: Value = resp.json().await.map_err(transport)?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if ok {
        return Ok(value);
    }
    Err(WdError {
        code: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_string(),
        message: value["message"].as_str().unwrap_or("").to_string(),
    })
}

/// The capabilities of a headless Chromium, `width` px wide, that reaches loopback only: every other
/// host name resolves to nothing and every other address goes to a closed proxy port.
pub fn headless_chromium(width: u32, height: u32) -> Value {
    let mut options = json!({
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            format!("--window-size={width},{height}"),
        ],
    });
    if let Some(bin) = std::env::var_os("CHROMIUM_BIN") {
        options["binary"] = json!(bin.to_string_lossy());
    }
    json!({
        "capabilities": {
            "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": options,
                "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 10_000 },
            }
        }
    })
}
