//! The snapshot folder: `<case>.snap` for each accepted snapshot, `<case>.snap.new` beside it for a
//! rendering that differs (or a case without a snapshot yet), until it is accepted.

use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::SnapshotError;

/// How a case's rendering compares with its stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The same: nothing to do.
    Same,
    /// No snapshot yet: the rendering is written as `.snap.new`.
    New,
    /// Different: the rendering is written as `.snap.new`; the unified diff, old to new.
    Changed(String),
}

/// The accepted snapshot of `case`.
pub fn snap_path(dir: &Path, case: &str) -> PathBuf {
    dir.join(format!("{case}.snap"))
}

/// The rendering of `case` waiting to be accepted.
pub fn new_path(dir: &Path, case: &str) -> PathBuf {
    dir.join(format!("{case}.snap.new"))
}

fn io(path: &Path, e: std::io::Error) -> SnapshotError {
    SnapshotError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Compares `rendered` with `case`'s snapshot in `dir`: when they differ (or there is none) the
/// rendering is written beside it as `.snap.new`; when they are the same, a `.snap.new` left from
/// before is removed (there is nothing to accept).
pub fn compare(dir: &Path, case: &str, rendered: &str) -> Result<Outcome, SnapshotError> {
    let new = new_path(dir, case);
    let old = stored(dir, case)?;
    if old.as_deref() == Some(rendered) {
        match std::fs::remove_file(&new) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&new, e)),
            _ => return Ok(Outcome::Same),
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    std::fs::write(&new, rendered).map_err(|e| io(&new, e))?;
    Ok(match old {
        None => Outcome::New,
        Some(old) => Outcome::Changed(diff(case, &old, rendered)),
    })
}

/// `case`'s accepted snapshot in `dir`, if it has one.
pub fn stored(dir: &Path, case: &str) -> Result<Option<String>, SnapshotError> {
    let snap = snap_path(dir, case);
    match std::fs::read_to_string(&snap) {
        Ok(old) => Ok(Some(old)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&snap, e)),
    }
}

/// Makes `rendered` `case`'s snapshot (the console's "approve"): written to a file of its own
/// beside it, then moved over it, so that a reader never sees half a file and two approvals at
/// once, or a `--check` writing its `.snap.new` meanwhile, never mix; a `.snap.new` left waiting is
/// removed (it was this rendering or an older one).
pub fn approve(dir: &Path, case: &str, rendered: &str) -> Result<(), SnapshotError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| io(dir, e))?;
    std::io::Write::write_all(&mut file, rendered.as_bytes()).map_err(|e| io(file.path(), e))?;
    let snap = snap_path(dir, case);
    file.persist(&snap).map_err(|e| io(&snap, e.error))?;
    let new = new_path(dir, case);
    match std::fs::remove_file(&new) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&new, e)),
        _ => Ok(()),
    }
}

/// The unified diff from `old` to `new`, three lines of context, headed with the case's files.
pub fn diff(case: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{case}.snap"), &format!("{case}.snap.new"))
        .to_string()
}

/// The cases with a rendering waiting in `dir` (a `.snap.new`), in name order.
pub fn pending(dir: &Path) -> Result<Vec<String>, SnapshotError> {
    names_ending(dir, ".snap.new")
}

/// The snapshots in `dir` that no case in `cases` makes any more, in name order.
pub fn obsolete<'a>(
    dir: &Path,
    cases: impl Fn(&str) -> bool + 'a,
) -> Result<Vec<String>, SnapshotError> {
    let mut names = names_ending(dir, ".snap")?;
    names.retain(|case| !cases(case));
    Ok(names)
}

/// The names of the files of `dir` ending in `suffix`, without it, in order (none when `dir` is
/// not there).
fn names_ending(dir: &Path, suffix: &str) -> Result<Vec<String>, SnapshotError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let file = entry.file_name();
        if let Some(case) = file.to_str().and_then(|f| f.strip_suffix(suffix)) {
            names.push(case.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Moves `case`'s waiting rendering over its snapshot.
pub fn accept(dir: &Path, case: &str) -> Result<(), SnapshotError> {
    let (snap, new) = (snap_path(dir, case), new_path(dir, case));
    std::fs::rename(&new, &snap).map_err(|e| io(&new, e))
}

/// What the reviewer said of one case (`tripmail snapshots --review`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Accept its new version.
    Accept,
    /// Leave it waiting.
    Skip,
    /// Stop asking (end of input too).
    Quit,
}

/// Asks on `output` whether to accept `case`, reading the answer from `input` (asked again until
/// it is y, n or q).
pub fn ask(
    input: &mut impl std::io::BufRead,
    output: &mut impl std::io::Write,
    case: &str,
) -> std::io::Result<Decision> {
    loop {
        write!(output, "accept {case}? [y]es, [n]o, [q]uit: ")?;
        output.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(Decision::Quit);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(Decision::Accept),
            "n" | "no" => return Ok(Decision::Skip),
            "q" | "quit" => return Ok(Decision::Quit),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_until_answered() {
        let mut out = Vec::new();
        let mut input = std::io::Cursor::new("maybe\nY\nn\n");
        assert_eq!(ask(&mut input, &mut out, "a").ok(), Some(Decision::Accept));
        assert_eq!(ask(&mut input, &mut out, "b").ok(), Some(Decision::Skip));
        assert_eq!(ask(&mut input, &mut out, "c").ok(), Some(Decision::Quit));
        let asked = String::from_utf8_lossy(&out);
        assert_eq!(asked.matches("accept a? [y]es, [n]o, [q]uit: ").count(), 2);
    }

    #[test]
    fn a_change_is_written_beside_and_accepted_over() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let d = dir.path();
        assert_eq!(compare(d, "a", "one\ntwo\n").ok(), Some(Outcome::New));
        assert_eq!(pending(d).ok(), Some(vec!["a".to_string()]));
        accept(d, "a").expect("accepted");
        assert_eq!(compare(d, "a", "one\ntwo\n").ok(), Some(Outcome::Same));
        let Ok(Outcome::Changed(diff)) = compare(d, "a", "one\nthree\n") else {
            panic!("a change")
        };
        assert!(diff.contains("-two\n+three\n"), "{diff}");
        assert!(diff.starts_with("--- a.snap\n+++ a.snap.new\n"), "{diff}");
        // Back to the snapshot: the waiting rendering is gone.
        assert_eq!(compare(d, "a", "one\ntwo\n").ok(), Some(Outcome::Same));
        assert_eq!(pending(d).ok(), Some(vec![]));
        assert_eq!(obsolete(d, |c| c == "b").ok(), Some(vec!["a".to_string()]));
    }
}
