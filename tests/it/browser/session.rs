//! A headless Chromium session over WebDriver, with blocking calls for the tests: go to a URL, find
//! by CSS, click, type, read text and attributes, run a script, wait (bounded) for a condition, take
//! a PNG screenshot of the whole page.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::driver::{call, headless_chromium, ChromeDriver, WdError};

/// The key of a web element reference in the W3C protocol.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Screenshots and pages are this wide (the README's screenshots).
pub const WIDTH: u32 = 1280;

/// A Chromium session, ended (and ChromeDriver stopped) when dropped.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    driver: ChromeDriver,
    /// Held while the browser lives (dropped last): one Chromium at a time in the test run, so
    /// that two cores shared with the other tests keep each page prompt.
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// See [`Browser::_one_at_a_time`].
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// An element of the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    /// The CSS selector it was found by, for messages.
    pub css: String,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium [`WIDTH`] px wide, once no other test's is running.
    pub fn start() -> Browser {
        // A test that failed while holding it leaves nothing to repair.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let http = reqwest::Client::new();
        let driver = ChromeDriver::start(&rt, &http);
        let caps = headless_chromium(WIDTH, 900);
        let url = format!("{}/session", driver.base);
        let value = rt
            .block_on(call(&http, "POST", &url, Some(caps)))
            .unwrap_or_else(|e| panic!("no Chromium session: {e}\n{}", driver.log_tail()));
        let id = value["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        let session = format!("{}/session/{id}", driver.base);
        Browser {
            rt,
            http,
            session,
            driver,
            _one_at_a_time: turn,
        }
    }

    /// One command on the session (`path` after `/session/ID`).
    pub fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let url = format!("{}{path}", self.session);
        self.rt.block_on(call(&self.http, method, &url, body))
    }

    /// As [`Browser::try_cmd`], panicking with the error and the page's URL.
    #[track_caller]
    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e} (at {})", self.url()))
    }

    /// Loads `url` and waits for the page's load event.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        match self.try_cmd("GET", "/url", None) {
            Ok(v) => v.as_str().unwrap_or("").to_string(),
            Err(e) => format!("(no URL: {e})"),
        }
    }

    /// The current page's HTML as the browser holds it now.
    pub fn source(&self) -> String {
        let v = self.cmd("GET", "/source", None);
        v.as_str().unwrap_or("").to_string()
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let body = json!({ "using": "css selector", "value": css });
        let v = self.try_cmd("POST", "/element", Some(body)).ok()?;
        self.element(&v, css)
    }

    /// The first element matching `css`; panics naming it and the page when there is none.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no {css} at {}", self.url()))
    }

    /// Every element matching `css`, in document order.
    #[track_caller]
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let body = json!({ "using": "css selector", "value": css });
        let v = self.cmd("POST", "/elements", Some(body));
        let list = v.as_array().cloned().unwrap_or_default();
        list.iter().filter_map(|e| self.element(e, css)).collect()
    }

    /// The text of the first element matching `css`, if there is one.
    pub fn try_text(&self, css: &str) -> Option<String> {
        self.try_find(css)?.try_text().ok()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page; its return value.
    #[track_caller]
    pub fn script(&self, script: &str, args: Value) -> Value {
        let body = json!({ "script": script, "args": args });
        self.cmd("POST", "/execute/sync", Some(body))
    }

    /// Waits, at most `within`, until `ready` says yes (asked every 100 ms); panics naming `what`.
    #[track_caller]
    pub fn wait_for(&self, what: &str, within: Duration, mut ready: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + within;
        while !ready(self) {
            if Instant::now() > deadline {
                let page = self.try_text("body").unwrap_or_default();
                let page: String = page.chars().take(600).collect();
                panic!(
                    "waited {within:?} for {what} at {}; the page says:\n{page}",
                    self.url()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Goes into the frame `frame` (an iframe element), so that finds search its document.
    #[track_caller]
    pub fn enter_frame(&self, frame: &Element<'_>) {
        let body = json!({ "id": { ELEMENT_KEY: frame.id } });
        self.cmd("POST", "/frame", Some(body));
    }

    /// Back to the top-level document.
    #[track_caller]
    pub fn leave_frames(&self) {
        self.cmd("POST", "/frame", Some(json!({ "id": null })));
    }

    /// A PNG of the whole page, [`WIDTH`] px wide (the window grows to the page's height, at most
    /// 6000 px, and back), written to `path`.
    #[track_caller]
    pub fn screenshot(&self, path: &Path) {
        let height = self
            .script("return document.documentElement.scrollHeight;", json!([]))
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 6000);
        self.resize(WIDTH, height as u32);
        // Two animation frames, so that what the taller window shows (frames included) is painted.
        let painted = "const done = arguments[0]; \
                       requestAnimationFrame(() => requestAnimationFrame(() => done(true)));";
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": painted, "args": []})),
        );
        let png = self.cmd("GET", "/screenshot", None);
        self.resize(WIDTH, 900);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or(""))
            .expect("the screenshot is base64");
        assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot folder");
        }
        std::fs::write(path, bytes).expect("the screenshot written");
    }

    /// Sets the window's size.
    #[track_caller]
    pub fn resize(&self, width: u32, height: u32) {
        let body = json!({ "width": width, "height": height });
        self.cmd("POST", "/window/rect", Some(body));
    }

    fn element(&self, v: &Value, css: &str) -> Option<Element<'_>> {
        let id = v.get(ELEMENT_KEY)?.as_str()?.to_string();
        Some(Element {
            browser: self,
            id,
            css: css.to_string(),
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium before ChromeDriver is killed, which would leave it running.
        let url = self.session.clone();
        let _ = self.rt.block_on(call(&self.http, "DELETE", &url, None));
        let _ = &self.driver;
    }
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    /// Clicks it (scrolled into view first, as a user would).
    #[track_caller]
    pub fn click(&self) {
        self.browser
            .try_cmd("POST", &self.path("/click"), Some(json!({})))
            .unwrap_or_else(|e| panic!("cannot click {}: {e}", self.css));
    }

    /// Empties it (an input) and types `text` into it.
    #[track_caller]
    pub fn type_text(&self, text: &str) {
        let b = self.browser;
        b.cmd("POST", &self.path("/clear"), Some(json!({})));
        b.cmd("POST", &self.path("/value"), Some(json!({ "text": text })));
    }

    /// Its rendered text.
    pub fn try_text(&self) -> Result<String, WdError> {
        let v = self.browser.try_cmd("GET", &self.path("/text"), None)?;
        Ok(v.as_str().unwrap_or("").to_string())
    }

    /// Its rendered text.
    #[track_caller]
    pub fn text(&self) -> String {
        self.try_text()
            .unwrap_or_else(|e| panic!("no text of {}: {e}", self.css))
    }

    /// Its attribute `name` as written in the HTML, if present.
    #[track_caller]
    pub fn attr(&self, name: &str) -> Option<String> {
        let v = self
            .browser
            .cmd("GET", &self.path(&format!("/attribute/{name}")), None);
        v.as_str().map(str::to_string)
    }

    /// The first element inside it matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let body = json!({ "using": "css selector", "value": css });
        let v = self
            .browser
            .try_cmd("POST", &self.path("/element"), Some(body))
            .ok()?;
        self.browser.element(&v, css)
    }

    /// The first element inside it matching `css`; panics naming both when there is none.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no {css} inside {}", self.css))
    }
}
