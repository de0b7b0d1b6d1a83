//! The "relaxed" canonicalizations of RFC 6376 §3.4.2 (header) and §3.4.4 (body), and the split of a
//! message into its header fields and body.

/// One header field of a message: its name and its raw value (after the colon, folds kept).
pub(super) struct Field<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// The header fields and the body of `message` (CRLF line ends, as lettre writes them); `None` when
/// it has no empty line ending its header.
pub(super) fn split(message: &[u8]) -> Option<(Vec<Field<'_>>, &[u8])> {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n")?;
    let header = std::str::from_utf8(&message[..end + 2]).ok()?;
    let body = &message[end + 4..];
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    // A field runs until a line that does not start with white space (a fold).
    let bytes = header.as_bytes();
    for (i, _) in header.match_indices("\r\n") {
        let next = bytes.get(i + 2);
        if matches!(next, Some(b' ' | b'\t')) {
            continue;
        }
        let line = &header[start..i];
        let (name, value) = line.split_once(':')?;
        fields.push(Field { name, value });
        start = i + 2;
    }
    Some((fields, body))
}

/// `name:value` canonicalized (relaxed), without its CRLF: the name in lower case, folds unfolded,
/// runs of white space made one space, white space around the colon and at the end removed.
pub(super) fn header(name: &str, value: &str) -> String {
    let mut out = name.trim_end().to_ascii_lowercase();
    out.push(':');
    let (mut space, mut started) = (false, false);
    for c in value.chars() {
        match c {
            '\r' | '\n' => {}
            ' ' | '\t' => space = true,
            c => {
                if space && started {
                    out.push(' ');
                }
                (space, started) = (false, true);
                out.push(c);
            }
        }
    }
    out
}

/// The body canonicalized (relaxed): white space runs made one space, white space at line ends
/// removed, empty lines at the end removed; a non-empty body ends with one CRLF.
pub(super) fn body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut empty_lines = 0usize;
    let mut lines = body.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if lines.peek().is_none() && line.is_empty() {
            break; // what follows the last CRLF
        }
        let canonical = relaxed_line(line);
        if canonical.is_empty() {
            empty_lines += 1;
            continue;
        }
        for _ in 0..empty_lines {
            out.extend_from_slice(b"\r\n");
        }
        empty_lines = 0;
        out.extend_from_slice(&canonical);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn relaxed_line(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut space = false;
    for &b in line {
        if b == b' ' || b == b'\t' {
            space = true;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_canonicalizes_as_the_rfc_says() {
        // RFC 6376 §3.4.5, relaxed.
        assert_eq!(header("A", " X"), "a:X");
        assert_eq!(header("C", " a: b"), "c:a: b");
        assert_eq!(header("B ", " Y\t\r\n\tZ  "), "b:Y Z");
        assert_eq!(body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
        assert_eq!(body(b""), b"");
        assert_eq!(body(b"\r\n\r\n"), b"");
        assert_eq!(body(b"a\r\n\r\nb"), b"a\r\n\r\nb\r\n");
    }

    #[test]
    fn folded_fields_are_one_field() {
        let msg = b"Subject: a\r\n b\r\nTo: x@y\r\n\r\nbody\r\n";
        let (fields, body) = split(msg).unwrap();
        let names: Vec<_> = fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["Subject", "To"]);
        assert_eq!(header(fields[0].name, fields[0].value), "subject:a b");
        assert_eq!(body, b"body\r\n");
    }
}
