//! `tripmail snapshots`: snapshot tests of the rendered emails over a case list (`--check`,
//! `--accept`, `--generate`; the library is [`crate::snapshots`]).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::args::Sources;
use super::console::outln;
use super::Exit;
use crate::bookings::Loaded;
use crate::run::Campaigns;
use crate::snapshot_review as review;
use crate::snapshots::store::{Decision, Outcome};
use crate::snapshots::{self, store, Cases, Maker};

/// The flags of `tripmail snapshots`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["check", "accept", "generate", "review"]))]
pub(crate) struct SnapshotsArgs {
    #[command(flatten)]
    sources: Sources,
    /// The case list; `snapshots.toml` beside the config by default.
    #[arg(long, value_name = "FILE")]
    cases: Option<PathBuf>,
    /// The snapshot folder; `snapshots/` beside the case list by default.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Render every case and compare with its snapshot: exit 1 on any difference (each shown as a
    /// diff, the new version written beside the old as `<case>.snap.new`), 0 when all are the same.
    #[arg(long)]
    check: bool,
    /// Accept the new versions `--check` wrote: of every case, or of the cases named.
    #[arg(long, value_name = "CASE", num_args = 0..)]
    accept: Option<Vec<String>>,
    /// As `--check`, asking after each difference whether to accept it (on a terminal).
    #[arg(long)]
    review: bool,
    /// Write a starting case list (to `--cases`; refused when it exists) covering every campaign ×
    /// locale × block / no block the bookings give at `--now`.
    #[arg(long)]
    generate: bool,
}

/// Runs the mode asked for.
pub(crate) async fn snapshots(args: SnapshotsArgs) -> anyhow::Result<Exit> {
    let snapshots::Paths {
        cases: cases_path,
        dir,
    } = snapshots::Paths::beside(
        &args.sources.config,
        args.cases.as_deref(),
        args.dir.as_deref(),
    );
    if args.generate {
        return generate(&args, &cases_path).await;
    }
    if let Some(names) = &args.accept {
        return accept(&cases_path, &dir, names);
    }
    check(&args, &cases_path, &dir).await
}

/// `--check`; with `--review`, each difference is accepted or not as the reviewer says.
async fn check(args: &SnapshotsArgs, cases_path: &Path, dir: &Path) -> anyhow::Result<Exit> {
    if args.review && !std::io::stdin().is_terminal() {
        anyhow::bail!("--review asks on a terminal; elsewhere use --check, then --accept [CASE…]");
    }
    let mut asking = args.review;
    let settings = args.sources.load(None, None)?;
    let maker = Maker::start(settings, cases_path, None).await?;
    let cases = &maker.cases;
    let (mut same, mut changed, mut failed) = (0, Vec::new(), 0);
    for name in maker.names() {
        let rendered = match maker.snapshot(name).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tripmail: {e}");
                failed += 1;
                continue;
            }
        };
        match store::compare(dir, name, &rendered)? {
            Outcome::Same => same += 1,
            Outcome::New => {
                outln!(
                    "new: {name} (no snapshot yet; written to {})",
                    store::new_path(dir, name).display()
                );
                changed.push(name.clone());
            }
            Outcome::Changed(diff) => {
                outln!("changed: {name}\n{diff}");
                changed.push(name.clone());
            }
        }
        if asking && changed.last() == Some(name) {
            asking = review(dir, name, &mut changed)?;
        }
    }
    for stale in store::obsolete(dir, |c| cases.cases.contains_key(c))? {
        outln!(
            "note: {} is no case's any more (delete it if the case is gone for good)",
            store::snap_path(dir, &stale).display()
        );
    }
    outln!(
        "{} cases: {same} the same, {} changed or new{}",
        cases.cases.len(),
        changed.len(),
        match failed {
            0 => String::new(),
            n => format!(", {n} could not be rendered"),
        }
    );
    if failed > 0 {
        anyhow::bail!(
            "{failed} cases of {} could not be rendered (above)",
            cases_path.display()
        );
    }
    if changed.is_empty() {
        return Ok(Exit::Clean);
    }
    picture(dir, &changed)?;
    outln!(
        "to accept: tripmail snapshots --config {} --accept {}",
        args.sources.config.display(),
        changed.join(" ")
    );
    Ok(Exit::Problems)
}

/// `DIR/review/review.html`: each changed case's email old and new, pictured by headless Chromium
/// when it is installed (said when it is not), with the difference.
fn picture(dir: &Path, changed: &[String]) -> anyhow::Result<()> {
    let html_of = |path: PathBuf| -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(snapshots::html_of(&text).to_string())
    };
    let sides: Vec<(&String, Option<String>, String)> = changed
        .iter()
        .filter_map(|name| {
            let new = html_of(store::new_path(dir, name))?;
            Some((name, html_of(store::snap_path(dir, name)), new))
        })
        .collect();
    let cases: Vec<review::Case<'_>> = sides
        .iter()
        .map(|(name, old, new)| review::Case {
            name,
            old: old.as_deref(),
            new,
        })
        .collect();
    let chromium = review::find_chromium();
    let out = dir.join("review");
    let made = review::write_review(&out, &cases, chromium.as_deref())
        .with_context(|| format!("cannot write the review in {}", out.display()))?;
    match &made.no_pictures {
        None => outln!(
            "review: {} ({} pictures)",
            made.page.display(),
            made.pictures
        ),
        Some(why) => outln!("review: {} ({why})", made.page.display()),
    }
    Ok(())
}

/// Asks whether to accept `name`'s new version (the last of `changed`), and does: accepted, it is
/// no longer changed. Whether to go on asking.
fn review(dir: &Path, name: &str, changed: &mut Vec<String>) -> anyhow::Result<bool> {
    let decision = store::ask(&mut std::io::stdin().lock(), &mut std::io::stdout(), name)?;
    if decision == Decision::Accept {
        store::accept(dir, name)?;
        changed.pop();
        outln!("accepted: {name}");
    }
    Ok(decision != Decision::Quit)
}

/// `--accept [CASE…]`.
fn accept(cases_path: &Path, dir: &Path, names: &[String]) -> anyhow::Result<Exit> {
    let waiting = store::pending(dir)?;
    let chosen = match names.is_empty() {
        true => waiting,
        false => {
            let cases = Cases::load(cases_path)?;
            if let Some(unknown) = names.iter().find(|n| !cases.cases.contains_key(*n)) {
                anyhow::bail!("{}: no case {unknown:?}", cases_path.display());
            }
            names
                .iter()
                .filter(|n| waiting.contains(n))
                .cloned()
                .collect()
        }
    };
    for name in names.iter().filter(|n| !chosen.contains(n)) {
        outln!("{name}: nothing to accept (run --check first, or it is the same)");
    }
    for name in &chosen {
        store::accept(dir, name)?;
        outln!("accepted: {name}");
    }
    if chosen.is_empty() && names.is_empty() {
        outln!("nothing to accept in {}", dir.display());
    }
    Ok(Exit::Clean)
}

/// `--generate`.
async fn generate(args: &SnapshotsArgs, cases_path: &Path) -> anyhow::Result<Exit> {
    if cases_path.exists() {
        anyhow::bail!(
            "{} exists: --generate writes a new case list only (name another with --cases)",
            cases_path.display()
        );
    }
    let settings = args.sources.load(None, None)?;
    let bookings = Loaded::load(&settings.bookings.path)?;
    let campaigns = Campaigns::start(settings).await?;
    let at = args.sources.now();
    let generated = snapshots::generate(&campaigns, &bookings, at).await;
    std::fs::write(cases_path, &generated.toml)
        .with_context(|| format!("cannot write {}", cases_path.display()))?;
    outln!("wrote {}", cases_path.display());
    if !generated.missing.is_empty() {
        outln!("no booking gives: {}", generated.missing.join(", "));
    }
    if !bookings.unreadable().is_empty() {
        outln!(
            "{} rows of the bookings file could not be read (`tripmail run` lists them)",
            bookings.unreadable().len()
        );
    }
    Ok(Exit::Clean)
}
