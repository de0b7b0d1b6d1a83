//! `tripmail validate`: the config, every template in every locale and the bookings header checked
//! before a run meets them, and whether emails are DKIM-signed (with the DNS record to publish);
//! subjects over 60 characters are warned about (`subjects`).

use std::path::PathBuf;

use super::console::outln;
use super::subjects::long_subjects;
use super::Exit;
use crate::catalog::Catalog;
use crate::config::{Overrides, Settings};
use crate::render::{Renderer, SUBJECT_MAX_CHARS};

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
    let renderer = Renderer::new(&settings)?;
    let checked = renderer.check_all(&settings, catalog.as_ref())?;
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
    Ok(Exit::Clean)
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
