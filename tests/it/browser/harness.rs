//! The browser harness itself, on a small page served from 127.0.0.1: typing, clicking and reading
//! work; a script in an iframe without `sandbox` reaches its parent and one in `sandbox=""` does not
//! (so the console's `<script>` test can tell the two apart); other hosts are out of reach; the
//! screenshot is a PNG as wide as asked. Without ChromeDriver, the tests say to run `.ci/setup`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use super::driver::find_chromedriver;
use super::{png_size, Browser, WIDTH};

/// The page: a form whose button writes a greeting, a picture on a host that is not loopback, and
/// two iframes whose scripts mark the parent's body, one of them sandboxed.
const PAGE: &str = r#"<!doctype html><html><head><title>harness</title></head><body>
<form id="f" onsubmit="document.getElementById('out').textContent = 'hello, ' + this.who.value; return false;">
<input id="who" name="who" value="someone"><button id="go">Go</button></form>
<p id="out" data-kind="greeting"></p>
<img id="far" src="http://tripmail-harness.example/x.png" onerror="this.dataset.failed = '1'">
<iframe id="open" srcdoc="<p>open</p><script>parent.document.body.setAttribute('data-open', '1')</script>"></iframe>
<iframe id="boxed" sandbox="" srcdoc="<p id=inner>boxed</p><script>parent.document.body.setAttribute('data-xss', '1')</script>"></iframe>
</body></html>"#;

/// Serves [`PAGE`] to every request on a free 127.0.0.1 port; its URL.
fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                PAGE.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/")
}

#[test]
fn the_harness_types_clicks_reads_and_tells_a_sandboxed_script_from_one_that_runs() {
    let url = serve_page();
    let b = Browser::start();
    b.goto(&url);
    assert_eq!(b.url(), url);

    let who = b.find("form#f input[name=who]#who");
    who.type_text("Ana");
    b.find("button#go").click();
    b.wait_for("the greeting", Duration::from_secs(5), |b| {
        b.try_text("#out").as_deref() == Some("hello, Ana")
    });
    assert_eq!(
        b.find("p#out").attr("data-kind").as_deref(),
        Some("greeting")
    );
    assert_eq!(b.find("#out").attr("data-missing"), None);
    assert_eq!(b.find_all("iframe").len(), 2);
    assert!(b.try_find("#no-such-thing").is_none());

    // The control: a script in an iframe without `sandbox` does mark the parent, so the mark's
    // absence below means the sandboxed one did not run, not that the check is blind.
    b.wait_for("the open iframe's script", Duration::from_secs(5), |b| {
        b.find("body").attr("data-open").as_deref() == Some("1")
    });
    assert_eq!(b.find("iframe#boxed").attr("sandbox").as_deref(), Some(""));
    assert_eq!(
        b.find("body").attr("data-xss"),
        None,
        "a sandboxed script ran"
    );
    b.enter_frame(&b.find("iframe#boxed"));
    assert_eq!(b.find("#inner").text(), "boxed");
    b.leave_frames();

    // Loopback only: the picture on another host fails (fast: its name resolves to nothing).
    b.wait_for("the far picture to fail", Duration::from_secs(10), |b| {
        b.find("#far").attr("data-failed").as_deref() == Some("1")
    });

    let shot = tempfile::tempdir().expect("temp dir");
    let path = shot.path().join("harness.png");
    b.screenshot(&path);
    let (w, h) = png_size(&path);
    assert_eq!(w, WIDTH, "the screenshot is {WIDTH} px wide");
    assert!(h >= 600, "the screenshot is {h} px high");
}

#[test]
fn without_chromedriver_the_browser_tests_say_to_run_ci_setup() {
    let empty = tempfile::tempdir().expect("temp dir");
    let none = find_chromedriver(None, empty.path().as_os_str()).unwrap_err();
    assert!(
        none.contains("chromium-driver") && none.contains(".ci/setup"),
        "{none}"
    );
    let wrong = empty.path().join("chromedriver");
    let named = find_chromedriver(Some(wrong.clone()), "".as_ref()).unwrap_err();
    assert!(
        named.contains("CHROMEDRIVER_BIN") && named.contains(".ci/setup"),
        "{named}"
    );
    std::fs::write(&wrong, "").expect("a file");
    assert_eq!(find_chromedriver(None, empty.path().as_os_str()), Ok(wrong));
}
