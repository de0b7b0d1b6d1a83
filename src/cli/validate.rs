//! `tripmail validate`: the config, every template in every locale and the bookings header checked
//! before a run meets them, and whether emails are DKIM-signed (with the DNS record to publish);
//! subjects over 60 characters are warned about (`subjects`); every render is linted
//! ([`crate::lint`]: Gmail's clip, alt text, https links, unsubscribe links), and every missing
//! translation listed; so is the email of every snapshot case (`--cases`).

use std::path::PathBuf;

use super::console::outln;
use super::subjects::long_subjects;
use super::Exit;
use crate::catalog::Catalog;
use crate::config::{Overrides, Settings};
use crate::lint::{lint, lint_composed, missing_translations, Finding, GMAIL_CLIP_BYTES};
use crate::render::{Renderer, SUBJECT_MAX_CHARS};
use crate::snapshots::{self, Maker};

/// The flags of `tripmail validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The config file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// A snapshot case list whose emails are linted too; `snapshots.toml` beside the config when
    /// it is there.
    #[arg(long, value_name = "FILE")]
    cases: Option<PathBuf>,
}

/// Loads the config, renders every campaign in every locale, reads the bookings header, and lints
/// every render and every snapshot case.
pub(crate) async fn validate(args: ValidateArgs) -> anyhow::Result<Exit> {
    let settings = Settings::load(&args.config, &Overrides::default())?;
    let catalog = match &settings.engine.catalog {
        Some(path) => Some(Catalog::load(path)?),
        None => None,
    };
    let i18n = settings.templates.dir.join("i18n");
    let missing = missing_translations(&i18n);
    for (locale, ids) in &missing {
        let file = i18n.join(format!("{}.ftl", locale.as_str()));
        for id in ids {
            eprintln!(
                "tripmail: {}: message `{id}`: missing (defined in en.ftl)",
                file.display()
            );
        }
    }
    if !missing.is_empty() {
        let count: usize = missing.iter().map(|(_, ids)| ids.len()).sum();
        anyhow::bail!("{count} translations missing (listed above): every email in those languages would fail");
    }
    let renderer = Renderer::new(&settings)?;
    let mut lints = Lints::default();
    let checked = renderer.check_each(settings.campaigns.iter(), catalog.as_ref(), |r| {
        // Subjects are checked on the bookings too, below: said there once per campaign and locale.
        let found = lint(&r)
            .into_iter()
            .filter(|f| !matches!(f, Finding::LongSubject(_)))
            .collect();
        let what = format!(
            "campaign `{}`, {}, {} items",
            r.campaign.name,
            r.locale.as_str(),
            r.items
        );
        lints.add(&what, r.content.html.len(), found);
    })?;
    let reader = crate::bookings::BookingReader::open(&settings.bookings.path)?;
    crate::run::check_identity_column(&settings, &reader)?;
    let long = long_subjects(&settings, &renderer, catalog.as_ref(), reader)?;
    for l in &long {
        eprintln!(
            "tripmail: warning: campaign `{}`, {}: {} subject{} over {SUBJECT_MAX_CHARS} characters, the longest ({} characters, booking {}): {:?}",
            l.campaign,
            l.locale.as_str(),
            l.count,
            if l.count == 1 { " is" } else { "s are" },
            l.subject.chars().count(),
            l.booking_id,
            l.subject
        );
    }
    outln!(
        "{}: ok ({} campaigns, {} renders checked: every locale with 0, 2, 3 and 4 items)",
        args.config.display(),
        settings.campaigns.len(),
        checked
    );
    outln!("{}", dkim_line(&settings));
    outln!("{}", lints.summary());
    let cases = lint_cases(&args, settings).await?;
    if let Some((c, file)) = &cases {
        outln!("{}", c.cases_summary(file));
    }
    let problems = lints.problems + cases.as_ref().map_or(0, |(c, _)| c.problems + c.unmade);
    Ok(if problems > 0 {
        Exit::Problems
    } else {
        Exit::Clean
    })
}

/// Lints the email of every case of the case list (`--cases`, or `snapshots.toml` beside the
/// config when it is there); the line that says so, when there is a list. A case that cannot be
/// made is an error.
async fn lint_cases(
    args: &ValidateArgs,
    settings: Settings,
) -> anyhow::Result<Option<(Lints, std::path::PathBuf)>> {
    let paths = snapshots::Paths::beside(&args.config, args.cases.as_deref(), None);
    if args.cases.is_none() && !paths.cases.exists() {
        return Ok(None);
    }
    let maker = Maker::start(settings, &paths.cases, None).await?;
    let mut lints = Lints::default();
    for (name, case) in &maker.cases.cases {
        let composed = match maker.compose(name).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("tripmail: error: {e}");
                lints.unmade += 1;
                continue;
            }
        };
        let Some(campaign) = maker.campaigns.settings().campaign(&case.campaign) else {
            continue;
        };
        let what = format!(
            "case {name} (campaign `{}`, booking {}{})",
            case.campaign,
            composed.record.booking_id,
            case.lang
                .as_deref()
                .map(|l| format!(" shown in {l}"))
                .unwrap_or_default()
        );
        let html = composed.content.html.len();
        lints.add(&what, html, lint_composed(campaign, &composed));
    }
    Ok(Some((lints, paths.cases)))
}

/// The lint of every render: each finding printed as it comes, the sizes kept for the summary.
#[derive(Default)]
struct Lints {
    smallest: Option<usize>,
    largest: usize,
    findings: usize,
    problems: usize,
    /// Snapshot cases that could not be made.
    unmade: usize,
    /// Emails linted.
    count: usize,
}

impl Lints {
    /// The findings of the email `what` (its HTML `size` bytes).
    fn add(&mut self, what: &str, size: usize, found: Vec<Finding>) {
        self.count += 1;
        self.smallest = Some(self.smallest.map_or(size, |s| s.min(size)));
        self.largest = self.largest.max(size);
        for f in found {
            let kind = if f.is_problem() { "error" } else { "warning" };
            eprintln!("tripmail: {kind}: {what}: {f}");
            self.findings += 1;
            self.problems += usize::from(f.is_problem());
        }
    }

    /// The line of the snapshot cases: how many were linted, their sizes, the findings.
    fn cases_summary(&self, file: &std::path::Path) -> String {
        let linted = self.count;
        let mut line = format!(
            "cases: {linted} of {} in {} linted",
            linted + self.unmade,
            file.display()
        );
        if self.unmade > 0 {
            line.push_str(&format!(" ({} could not be made: errors)", self.unmade));
        }
        if let Some(smallest) = self.smallest {
            line.push_str(&format!(
                ": HTML {:.1}–{:.1} KB",
                smallest as f64 / 1024.0,
                self.largest as f64 / 1024.0
            ));
        }
        format!(
            "{line}; {} findings ({} to fix)",
            self.findings, self.problems
        )
    }

    fn summary(&self) -> String {
        let kb = |n: usize| n as f64 / 1024.0;
        format!(
            "lint: HTML {:.1}–{:.1} KB (Gmail clips after {} KB); {} finding{} ({} to fix: clipped, or no unsubscribe link)",
            kb(self.smallest.unwrap_or(0)),
            kb(self.largest),
            GMAIL_CLIP_BYTES / 1024,
            self.findings,
            if self.findings == 1 { "" } else { "s" },
            self.problems
        )
    }
}

/// What `[dkim]` makes of the emails: on (domain, selector, key type and the DNS record to publish,
/// which holds the public key only) or off.
fn dkim_line(settings: &Settings) -> String {
    match settings.dkim_signer() {
        Some(s) => format!(
            "dkim: on, d={} s={} ({}, {}); publish: {} TXT \"{}\"",
            s.domain(),
            s.selector(),
            s.key().describe(),
            s.key().algorithm(),
            s.dns_name(),
            s.key().dns_record()
        ),
        None => "dkim: off, emails go unsigned (the relay must sign them; see [dkim])".into(),
    }
}
