//! What a person does on the console's pages, in the words of its page contract: log in, read a
//! campaign's row, press its pause or resume button, take the README's screenshots.

use std::time::Duration;

use super::{screenshots_dir, Browser, Console, TOKEN};

/// How long a page has to show what an action changed.
pub const PAGE_WITHIN: Duration = Duration::from_secs(15);

/// Logs in on `console` as `who` through `form#login`: any page sends there first (303), a good
/// token back to `/`.
#[track_caller]
pub fn log_in(b: &Browser, console: &Console, who: &str) {
    b.goto(&console.url);
    b.wait_for("the login page", PAGE_WITHIN, |b| {
        b.url().ends_with("/login")
    });
    b.find("form#login input[name=who]#who").type_text(who);
    b.find("form#login input[name=token]#token")
        .type_text(TOKEN);
    b.find("form#login button#login-submit").click();
    b.wait_for("the campaigns page after logging in", PAGE_WITHIN, |b| {
        b.url() == console.url && b.try_find("table#campaigns").is_some()
    });
}

/// The `td.state` of campaign `name` on the campaigns page (`running`, `paused`), if shown.
pub fn campaign_state(b: &Browser, name: &str) -> Option<String> {
    let text = b.try_text(&format!(
        "table#campaigns tr[data-campaign={name}] td.state"
    ))?;
    Some(text.trim().to_string())
}

/// On the campaigns page, presses campaign `name`'s `action` button (`pause`, `resume`: the button
/// of `form.ACTION`) and waits for its row to say `then`.
#[track_caller]
pub fn press(b: &Browser, name: &str, action: &str, then: &str) {
    let row = format!("table#campaigns tr[data-campaign={name}]");
    b.find(&format!("{row} form.{action} button.{action}"))
        .click();
    b.wait_for(&format!("{name} to be {then}"), PAGE_WITHIN, |b| {
        campaign_state(b, name).as_deref() == Some(then)
    });
}

/// The text of the newest entry of the audit list (`ul#audit li`, newest first).
#[track_caller]
pub fn newest_audit(b: &Browser) -> String {
    b.find("ul#audit li").text()
}

/// Waits until the page at `url` shows `css` (loading it again while it does not).
#[track_caller]
pub fn wait_shown(b: &Browser, url: &str, css: &str, within: Duration) {
    b.wait_for(&format!("{css} on {url}"), within, |b| {
        if b.try_find(css).is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(400));
        b.goto(url);
        false
    });
}

/// A PNG of the current page, 1280 px wide, as `target/console-screenshots/NAME.png` for the
/// README; its path is printed.
#[track_caller]
pub fn shot(b: &Browser, name: &str) {
    let path = screenshots_dir().join(format!("{name}.png"));
    b.screenshot(&path);
    println!("screenshot: {}", path.display());
}

/// `(day, campaign) -> emails` of `tripmail plan --format csv` on `config` at NOW: what the chart's
/// bars must say.
pub fn cli_plan(config: &std::path::Path) -> std::collections::BTreeMap<(String, String), u64> {
    let out = crate::util::tripmail()
        .arg("plan")
        .arg("--config")
        .arg(config)
        .args(["--now", crate::util::NOW, "--format", "csv"])
        .output()
        .expect("tripmail plan runs");
    crate::util::succeeds(&out);
    let mut days = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [day, campaign, _locale, n] = f[..] else {
            panic!("plan CSV line {line:?}")
        };
        let n: u64 = n.parse().expect("a count");
        *days
            .entry((day.to_string(), campaign.to_string()))
            .or_insert(0) += n;
    }
    days
}
