//! `tripmail synth`: synthetic bookings for a catalog ([`crate::synth`]), to a file or standard
//! output, with a one-line count of what they hold.

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use super::args::parse_now;
use super::Exit;
use crate::catalog::Catalog;
use crate::synth::{SynthFormat, SynthOptions};

/// The flags of `tripmail synth`.
#[derive(Debug, clap::Args)]
pub(crate) struct SynthArgs {
    /// The catalog the bookings are for.
    #[arg(long)]
    catalog: PathBuf,
    /// How many bookings.
    #[arg(long, value_name = "N")]
    bookings: u64,
    /// The seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CSV (the bookings.csv columns) or JSON Lines.
    #[arg(long, value_enum, default_value_t = SynthFormat::Csv)]
    format: SynthFormat,
    /// The instant the export is made for (RFC 3339): bookings made in the 48 hours before,
    /// trips 3 days after. A fixed instant by default, so that the output depends only on the
    /// flags.
    #[arg(long, value_parser = parse_now, default_value = crate::synth::DEFAULT_NOW)]
    now: DateTime<Utc>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
}

/// Writes the bookings, then counts them on standard error.
pub(crate) fn synth(args: SynthArgs) -> anyhow::Result<Exit> {
    let catalog = Catalog::load(&args.catalog)?;
    let opts = SynthOptions {
        bookings: args.bookings,
        seed: args.seed,
        format: args.format,
        now: args.now,
    };
    let stats = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            crate::synth::write_bookings(&catalog, &opts, file)
                .with_context(|| format!("cannot write {}", path.display()))?
        }
        None => crate::synth::write_bookings(&catalog, &opts, std::io::stdout().lock())?,
    };
    eprintln!(
        "tripmail: {} bookings ({} booked in the last 48 hours, {} travelling within 3 days, {} cancelled, {} families, {} with held products)",
        stats.bookings,
        stats.booked_recently,
        stats.travelling_soon,
        stats.cancelled,
        stats.families,
        stats.with_held
    );
    Ok(Exit::Clean)
}
