//! Inbox checks over every email of the shipped runs and every snapshot case (`inbox_emails.rs`),
//! each tool run once over all the files:
//! - caniemail (`@jsx-email/doiuse-email`, `.ci/caniemail.js`) for Gmail, Apple Mail, Outlook and
//!   Yahoo: every feature some client lacks is in `templates/CLIENTS.md` with those clients and the
//!   fallback relied on;
//! - html-validate with the email rules of `.ci/htmlvalidate-email.cjs`: no error;
//! - SpamAssassin, offline rules (`.ci/spamscore.pl`): every shipped email below 1.0.
//!
//! Each prints its figures: `cargo test --locked --test it inbox_checks -- --nocapture`
//! (`.ci/inbox-checks.sh` prints the same over any build).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::inbox_emails::{documented_fallbacks, emails, listed, Emails};
use crate::util::{ci_node_script, ci_tool, missing_setup, root};

/// Per feature, per client: how many files use the feature while the client lacks it.
type Tally = BTreeMap<String, BTreeMap<String, usize>>;

#[test]
fn caniemail_every_feature_some_client_lacks_has_a_documented_fallback() {
    let e = emails();
    let mut cmd = ci_node_script("caniemail.js", "@jsx-email/doiuse-email");
    let out = ran(cmd.args(&e.html).arg(&e.canary_html), "doiuse-email");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), e.html.len() + 1, "one result per file");
    let (shipped, canary) = files.split_at(e.html.len());
    assert!(
        canary[0]["none"].get("hyphens").is_some(),
        "doiuse-email did not see `hyphens` in {}: {}",
        e.name(&e.canary_html),
        canary[0]
    );

    let lacking = tally(shipped, "none");
    print_caniemail(e.html.len(), &lacking, &tally(shipped, "partial"));
    let docs = documented_fallbacks();
    let unused: Vec<&String> = docs.keys().filter(|f| !lacking.contains_key(*f)).collect();
    if !unused.is_empty() {
        println!("  documented in templates/CLIENTS.md but no longer used: {unused:?}");
    }
    let mut undocumented = Vec::new();
    for (feature, clients) in &lacking {
        let documented = docs.get(feature).map(Vec::as_slice).unwrap_or(&[]);
        let missing: Vec<&str> = clients
            .keys()
            .filter(|c| !listed(c, documented))
            .map(String::as_str)
            .collect();
        if let Some(i) = shipped
            .iter()
            .position(|f| f["none"].get(feature).is_some())
        {
            if !missing.is_empty() {
                let (clients, example) = (missing.join(", "), e.name(&e.html[i]));
                undocumented.push(format!("{feature}: {clients} (e.g. {example})"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "features some client lacks, without a fallback for those clients in templates/CLIENTS.md \
         (add a row: clients lacking it, what their readers get instead):\n  {}",
        undocumented.join("\n  ")
    );
}

/// The `level` ("none" or "partial") findings of `files`, per feature and client.
fn tally(files: &[serde_json::Value], level: &str) -> Tally {
    let mut tally = Tally::new();
    for found in files {
        for (feature, clients) in found[level].as_object().unwrap() {
            let counts = tally.entry(feature.clone()).or_default();
            for client in clients.as_array().unwrap() {
                *counts
                    .entry(client.as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    tally
}

fn print_caniemail(emails: usize, lacking: &Tally, partial: &Tally) {
    println!("caniemail over {emails} emails: features some client lacks (emails, clients):");
    for (feature, clients) in lacking {
        let uses = clients.values().max().unwrap_or(&0);
        let names: Vec<&str> = clients.keys().map(String::as_str).collect();
        println!("  {feature}: {uses}; {}", names.join(", "));
    }
    let only_partial: Vec<&str> = partial
        .keys()
        .filter(|f| !lacking.contains_key(*f))
        .map(String::as_str)
        .collect();
    println!(
        "  and only partly supported somewhere: {}",
        only_partial.join(", ")
    );
}

/// html-validate's findings in one rule and message: how many, in which files, the first place.
type Finding = (usize, BTreeSet<PathBuf>, String);

#[test]
fn html_validate_finds_no_error_with_the_email_rules() {
    let e = emails();
    let results = html_validate(e);
    let mut found: BTreeMap<(String, String), Finding> = BTreeMap::new();
    let mut canary_rules = BTreeSet::new();
    for result in results.as_array().unwrap() {
        let file = PathBuf::from(result["filePath"].as_str().unwrap());
        for m in result["messages"].as_array().unwrap() {
            let rule = m["ruleId"].as_str().unwrap_or("?").to_string();
            if file == e.canary_html {
                canary_rules.insert(rule);
                continue;
            }
            let message = m["message"].as_str().unwrap_or("").to_string();
            let place = format!("{}:{}:{}", e.name(&file), m["line"], m["column"]);
            let seen = found
                .entry((rule, message))
                .or_insert((0, BTreeSet::new(), place));
            seen.0 += 1;
            seen.1.insert(file.clone());
        }
    }
    let total = print_html_validate(e.html.len(), &found);
    assert!(
        canary_rules.contains("wcag/h37"),
        "html-validate did not see the picture without alt in {}: {canary_rules:?}",
        e.name(&e.canary_html)
    );
    let lines: Vec<String> = found
        .iter()
        .map(|((rule, message), (count, files, first))| {
            let n = files.len();
            format!("{rule}: {message}: {count} times in {n} files, first {first}")
        })
        .collect();
    assert!(
        lines.is_empty(),
        "html-validate found {total} errors:\n  {}",
        lines.join("\n  ")
    );
}

/// html-validate's JSON report over every email and the canary.
fn html_validate(e: &Emails) -> serde_json::Value {
    let bin = ci_tool("html-validate", "HTML_VALIDATE_BIN");
    // Into a file: a pipe loses what node has not flushed when html-validate exits.
    let report = e.dir.join("html-validate.json");
    let out = Command::new(bin)
        .arg("--config")
        .arg(root().join(".ci/htmlvalidate-email.cjs"))
        .arg(format!("--formatter=json={}", report.display()))
        .args(&e.html)
        .arg(&e.canary_html)
        .output()
        .unwrap();
    // It exits 1 when it finds errors, as it must in the canary: the report says which.
    std::fs::read(&report)
        .ok()
        .and_then(|r| serde_json::from_slice(&r).ok())
        .unwrap_or_else(|| {
            let err = String::from_utf8_lossy(&out.stderr);
            panic!("html-validate wrote no JSON report: {err}")
        })
}

/// Prints the errors by rule; returns how many in all.
fn print_html_validate(emails: usize, found: &BTreeMap<(String, String), Finding>) -> usize {
    let mut by_rule: BTreeMap<&str, (usize, BTreeSet<&PathBuf>)> = BTreeMap::new();
    for ((rule, _), (count, files, _)) in found {
        let r = by_rule.entry(rule).or_default();
        r.0 += count;
        r.1.extend(files);
    }
    let total = by_rule.values().map(|r| r.0).sum();
    println!("html-validate (.ci/htmlvalidate-email.cjs) over {emails} emails: {total} errors");
    for (rule, (count, files)) in &by_rule {
        println!("  {rule}: {count} in {} files", files.len());
    }
    total
}

#[test]
fn spamassassin_scores_every_shipped_email_below_1() {
    let e = emails();
    let mut scores = spam_scores(e);
    let canary = scores.pop().filter(|s| Path::new(&s.1) == e.canary_eml);
    assert!(
        canary.as_ref().is_some_and(|s| s.0 >= 100.0),
        "SpamAssassin did not score the GTUBE canary: {canary:?}"
    );
    assert_eq!(scores.len(), e.eml.len(), "one score per email");
    println!("SpamAssassin (offline rules) over {} emails:", e.eml.len());
    for (score, file, hits) in &scores {
        println!("  {score:.3}  {}  {hits}", e.name(Path::new(file)));
    }
    let mut sorted: Vec<f64> = scores.iter().map(|s| s.0).collect();
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let median = (sorted[(sorted.len() - 1) / 2] + sorted[sorted.len() / 2]) / 2.0;
    println!("  min {min:.3}, median {median:.3}, max {max:.3}");
    let high: Vec<String> = scores
        .iter()
        .filter(|s| s.0 >= 1.0)
        .map(|s| format!("{} scores {:.3}: {}", e.name(Path::new(&s.1)), s.0, s.2))
        .collect();
    assert!(
        high.is_empty(),
        "emails at 1.0 or more:\n  {}",
        high.join("\n  ")
    );
}

/// (score, file, rules hit) of every shipped email, then the canary's, from `.ci/spamscore.pl`.
fn spam_scores(e: &Emails) -> Vec<(f64, String, String)> {
    let has_module = Command::new("perl")
        .args(["-MMail::SpamAssassin", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_module {
        missing_setup(
            "SpamAssassin (its Perl module Mail::SpamAssassin) is missing: run .ci/setup",
        );
    }
    let mut cmd = Command::new("perl");
    cmd.arg(root().join(".ci/spamscore.pl"))
        .args(&e.eml)
        .arg(&e.canary_eml);
    let out = ran(&mut cmd, "spamscore.pl");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|line| {
            let cells: Vec<&str> = line.splitn(3, '\t').collect();
            let [score, file, hits] = cells[..] else {
                panic!("spamscore.pl wrote {line:?}");
            };
            (score.parse().unwrap(), file.to_string(), hits.to_string())
        })
        .collect()
}

/// Runs `cmd`, which must succeed.
fn ran(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
