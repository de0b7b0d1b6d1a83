//! `tripmail validate`: the config, every template in every locale and the bookings header checked
//! before a run meets them, and whether emails are DKIM-signed (with the DNS record to publish);
//! subjects over 60 characters are warned about (`subjects`); every render is linted
//! ([`crate::lint`]: Gmail's clip, alt text, https links, unsubscribe links), and every missing
//! translation listed.

use std::path::PathBuf;

use super::console::outln;
use super::subjects::long_subjects;
use super::Exit;
use crate::catalog::Catalog;
use crate::config::{Overrides, Settings};
use crate::lint::{lint, missing_translations, Finding, GMAIL_CLIP_BYTES};
use crate::render::{Checked, Renderer, SUBJECT_MAX_CHARS};

/// The flags of `tripmail validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The config file (TOML).
    #[arg(long)]
    config: PathBuf,
}

/// Loads the config, renders every campaign in every locale, reads the bookings header.
pub(crate) fn validate(args: ValidateArgs) -> anyhow::Result<Exit> {
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
        lints.add(&r)
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
    Ok(if lints.problems > 0 {
        Exit::Problems
    } else {
        Exit::Clean
    })
}

/// The lint of every render: each finding printed as it comes, the sizes kept for the summary.
#[derive(Default)]
struct Lints {
    smallest: Option<usize>,
    largest: usize,
    findings: usize,
    problems: usize,
}

impl Lints {
    fn add(&mut self, r: &Checked<'_>) {
        let size = r.content.html.len();
        self.smallest = Some(self.smallest.map_or(size, |s| s.min(size)));
        self.largest = self.largest.max(size);
        // Subjects are checked on the bookings too, above: said there once per campaign and locale.
        for f in lint(r)
            .into_iter()
            .filter(|f| !matches!(f, Finding::LongSubject(_)))
        {
            let kind = if f.is_problem() { "error" } else { "warning" };
            eprintln!(
                "tripmail: {kind}: campaign `{}`, {}, {} items: {f}",
                r.campaign.name,
                r.locale.as_str(),
                r.items
            );
            self.findings += 1;
            self.problems += usize::from(f.is_problem());
        }
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
