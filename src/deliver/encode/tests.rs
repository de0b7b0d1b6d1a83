//! `body` against lettre's own encoding: small cases, the limits, random texts, the shipped emails.

use super::*;

/// `body` against lettre, bytes and encoding; the encoding chosen.
fn same(text: &str) -> ContentTransferEncoding {
    let fast = body(text);
    let lettre = Body::new(text.to_string());
    assert_eq!(fast.encoding(), lettre.encoding(), "encoding of {text:?}");
    if fast.as_ref() != lettre.as_ref() {
        panic!(
            "body of {text:?}:\n  fast:   {:?}\n  lettre: {:?}",
            String::from_utf8_lossy(fast.as_ref()),
            String::from_utf8_lossy(lettre.as_ref())
        );
    }
    fast.encoding()
}

#[test]
fn small_cases() {
    for text in [
        "",
        "\n",
        "\r",
        "\r\n",
        "\n\n\n",
        "\r\r\n\n\r",
        " ",
        "\t",
        " \n",
        "\t\r\n",
        "a \r",
        "a \r\n",
        "=",
        "a=b\n",
        "é",
        "Hello, world!",
        "Questo messaggio è corto",
        "Se lo standard 📬 fosse stato più semplice avremmo finito molto prima.",
        "Hello! 📬📬📬📬📬📬📬📬📬📬",
        "\u{0}\u{1}\u{7f}",
    ] {
        same(text);
    }
    same(&"Hello, world!".repeat(100));
    same(&"Привет, мир!".repeat(200));
}

/// Around the third of bytes needing escape where lettre goes from quoted-printable to base64.
#[test]
fn the_base64_threshold() {
    let mut seen = [0; 3];
    for plain in 0..40 {
        for multi in 0..10 {
            for (c, lf) in [("é", ""), ("’", ""), ("😀", "\n"), ("\u{1}", "\r\n")] {
                let text = format!("{}{lf}{}", "a".repeat(plain), c.repeat(multi));
                seen[kind(same(&text))] += 1;
            }
        }
    }
    assert!(seen[1] > 100 && seen[2] > 100, "{seen:?}");
}

/// Every string of up to 4 characters from a small alphabet, after a first line and a plain run
/// ending at each column around the limit: the soft breaks, the backup, trailing spaces and
/// tabs, CR and LF right at the boundary.
#[test]
fn exhaustive_around_the_limit() {
    const ALPHABET: [&str; 7] = ["a", " ", "\t", "=", "\r", "\n", "é"];
    let mut tails = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..4 {
        last = last
            .iter()
            .flat_map(|s| ALPHABET.iter().map(move |c| format!("{s}{c}")))
            .collect();
        tails.extend(last.iter().cloned());
    }
    let mut seen = [0; 3];
    for first in ["", "x\n", "x\r\ny y\n"] {
        for k in (0..4).chain(68..=80).chain(146..=154) {
            let head = format!("{first}{}", "a".repeat(k));
            for tail in &tails {
                let text = format!("{head}{tail}");
                seen[kind(same(&text))] += 1;
                seen[kind(same(&format!("{text}b")))] += 1;
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
}

fn kind(e: ContentTransferEncoding) -> usize {
    match e {
        ContentTransferEncoding::SevenBit => 0,
        ContentTransferEncoding::QuotedPrintable => 1,
        ContentTransferEncoding::Base64 => 2,
        other => panic!("lettre chose {other:?}"),
    }
}

/// A random text: lines of 0 to 300 characters (some much longer, some ending at the columns
/// around the limit), of ASCII, spaces, tabs, `=`, CR, LF, CRLF and multi-byte UTF-8.
fn random_text(rng: &mut fastrand::Rng, mix: usize) -> String {
    const PIECES: [&str; 16] = [
        " ", "\t", "=", "\r", "\n", "\r\n", "é", "’", "😀", "中文", "  ", " \t", "=3D", "\u{1}",
        "\u{7f}", ".",
    ];
    let mut s = String::new();
    for _ in 0..rng.usize(0..6) {
        let len = match rng.u8(0..10) {
            0 => rng.usize(0..3),
            1..=3 => rng.usize(70..82),
            4 => rng.usize(140..160),
            5 => rng.usize(990..1100),
            _ => rng.usize(0..300),
        };
        let start = s.len();
        while s.len() - start < len {
            if rng.usize(0..100) < mix {
                s.push_str(PIECES[rng.usize(..PIECES.len())]);
            } else if rng.u8(0..8) == 0 {
                s.push(' ');
            } else {
                s.push(rng.alphanumeric());
            }
        }
        match rng.u8(0..6) {
            0 => s.push_str(" \n"),
            1 => s.push_str("\t\r\n"),
            2 => s.push_str("\r\n"),
            3 => s.push('\r'),
            _ => s.push('\n'),
        }
        if rng.bool() {
            s.pop();
        }
    }
    s
}

#[test]
fn random_texts() {
    let mut seen = [0; 3];
    for seed in 0..8 {
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..1500 {
            let mix = [0, 0, 1, 5, 20, 60, 100][rng.usize(..7)];
            seen[kind(same(&random_text(&mut rng, mix)))] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
}

#[test]
fn only_newlines_and_whitespace() {
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..3000 {
        let len = rng.usize(0..200);
        let text: String = (0..len)
            .map(|_| [' ', '\t', '\r', '\n', 'a'][rng.usize(..5)])
            .collect();
        same(&text);
    }
}

#[test]
fn plain_prefixes_and_counts() {
    for c in 0..=255u8 {
        for at in 0..20 {
            let mut text = vec![b'a'; 20];
            text[at] = c;
            let stops = CLASS[usize::from(c)] != PLAIN || c == b'\t';
            let word = u64::from_le_bytes(text[..8].try_into().unwrap());
            let expected = if stops && at < 8 { at } else { 8 };
            assert_eq!(plain_prefix(word), expected, "{c:#x} at {at}");
            let unprintable = usize::from(!matches!(c, b'\t' | b' '..=b'~'));
            assert_eq!(counts(&text), (unprintable, usize::from(c == b'=')));
        }
    }
    let text = "=é\t".repeat(1000);
    assert_eq!(counts(text.as_bytes()), (2000, 1000));
}

/// The rendered emails of the snapshot tests (every locale, both campaigns; the insta cases and
/// the demo's case list): what is shipped.
pub(super) fn shipped() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".html.snap") || name.ends_with(".text.snap") {
            let snap = std::fs::read_to_string(&path).unwrap();
            // After insta's header: `---`, metadata, `---`.
            let (_, content) = snap
                .strip_prefix("---\n")
                .and_then(|s| s.split_once("\n---\n"))
                .unwrap();
            found.push((name, content.to_string()));
        }
    }
    // The demo's own case list: each case's text and HTML parts (the HTML one tag per line).
    let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/snapshots");
    for entry in std::fs::read_dir(&cases).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(case) = name.strip_suffix(".snap") {
            let snap = std::fs::read_to_string(&path).unwrap();
            let (head, html) = snap.split_once(crate::snapshots::HTML_PART).unwrap();
            let (headers, text) = head.split_once("\n==== text ====\n").unwrap();
            // As the insta cases: the subject line first.
            let subject = headers
                .lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap();
            found.push((
                format!("case-{case}.text.snap"),
                format!("{subject}\n\n{text}"),
            ));
            found.push((format!("case-{case}.html.snap"), html.to_string()));
        }
    }
    found.sort();
    assert!(
        found.len() >= 80,
        "{} snapshots in {}",
        found.len(),
        dir.display()
    );
    found
}

#[test]
fn shipped_emails() {
    for (name, content) in shipped() {
        assert_eq!(
            same(&content),
            ContentTransferEncoding::QuotedPrintable,
            "{name}"
        );
        // And as a text of LFs made CRLF beforehand.
        same(&content.replace('\n', "\r\n"));
    }
}

#[test]
fn the_capacity_is_enough() {
    let mut rng = fastrand::Rng::with_seed(7);
    let texts = (0..3000).map(|_| random_text(&mut rng, 30));
    // Worst cases: every byte escaped, a line end after every byte, a space before every one.
    let worst = ["\u{1}\n", " \n", "\t\r\n", "\r", "=", "é", "a", " "]
        .map(|s| s.repeat(300))
        .into_iter();
    for text in texts
        .chain(worst)
        .chain(shipped().into_iter().map(|(_, c)| c))
    {
        let b = text.as_bytes();
        let (unprintable, equals) = counts(b);
        let cap = capacity(b.len(), unprintable, equals);
        // A write past it would panic; and 8 bytes are left for the last word of a run.
        assert!(quoted_printable(b, cap).len() + 8 <= cap, "{text:?}");
    }
}

/// The shipped emails as [`OutgoingEmail`]s, with and without the optional headers.
fn emails() -> Vec<crate::deliver::OutgoingEmail> {
    let shipped = shipped();
    let mut emails = Vec::new();
    for (name, html) in &shipped {
        let Some(case) = name.strip_suffix(".html.snap") else {
            continue;
        };
        let text = &shipped
            .iter()
            .find(|(n, _)| n.strip_suffix(".text.snap") == Some(case))
            .unwrap()
            .1;
        let subject = text.lines().next().unwrap().trim_start_matches("Subject: ");
        let i = emails.len();
        emails.push(crate::deliver::OutgoingEmail {
            campaign: "confirmation".into(),
            booking_id: format!("WT-{i}"),
            from: "Wanderly <trips@wanderly.example>".parse().unwrap(),
            to: "Chloë Whitfield <chloe@example.com>".parse().unwrap(),
            subject: subject.to_string(),
            message_id: format!("confirmation.WT-{i}@wanderly.example"),
            date: "2026-12-10T09:00:00Z".parse().unwrap(),
            html: html.clone(),
            text: text.clone(),
            list_unsubscribe: (i % 2 == 0).then(|| format!("https://wanderly.example/u/{i}?t=abc")),
            original_to: (i % 3 == 0).then(|| "someone@example.com".to_string()),
            calendar: None,
        });
    }
    assert!(emails.len() >= 20);
    emails
}

#[test]
fn to_mime_is_unchanged() {
    for email in emails() {
        let fast = email.to_mime().unwrap();
        let lettre = email.to_mime_straight().unwrap();
        assert!(fast == lettre, "{}", email.booking_id);
    }
    // A text that lettre sends as 7bit and an HTML it sends as base64.
    let mut email = emails().remove(0);
    email.text = "Short lines.\nOnly ASCII.\n".into();
    email.html = "<p>日本語のテキスト</p>".repeat(20);
    let fast = email.to_mime().unwrap();
    assert!(fast == email.to_mime_straight().unwrap());
    let fast = String::from_utf8(fast).unwrap();
    assert!(fast.contains("Content-Transfer-Encoding: 7bit"));
    assert!(fast.contains("Content-Transfer-Encoding: base64"));
}

/// Timings in release mode, medians of single calls:
/// `cargo test --release --lib deliver::encode -- --ignored --nocapture`.
#[test]
#[ignore]
fn timings() {
    use std::time::{Duration, Instant};

    fn median(mut f: impl FnMut()) -> Duration {
        for _ in 0..200 {
            f();
        }
        let mut times: Vec<Duration> = (0..3000)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    }

    let email = emails().into_iter().max_by_key(|e| e.html.len()).unwrap();
    let mime = email.to_mime().unwrap().len();
    println!(
        "email: html {} B, text {} B, message {mime} B",
        email.html.len(),
        email.text.len()
    );
    let old = median(|| {
        std::hint::black_box(email.to_mime_straight().unwrap());
    });
    let new = median(|| {
        std::hint::black_box(email.to_mime().unwrap());
    });
    println!("to_mime: lettre {old:?}, encode {new:?}");
    let html = std::hint::black_box(email.html.as_str());
    let old = median(|| {
        std::hint::black_box(Body::new(html.to_string()));
    });
    let new = median(|| {
        std::hint::black_box(body(html));
    });
    println!("html body: lettre {old:?}, encode {new:?}");
    let b = html.as_bytes();
    let counts = median(|| {
        std::hint::black_box(b.is_ascii());
        std::hint::black_box(counts(b));
    });
    println!("  of which the choice and the capacity: {counts:?}");
}
