//! `tripmail preview`: one booking's email for one campaign, shown (HTML, MJML, text, the whole
//! message, DKIM-signed when `[dkim]` says so) or sent as a test to `--to`, with a note when it is not due as asked.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::ValueEnum;
use futures::FutureExt;
use lettre::message::Mailbox;

use super::args::{parse_address, Sources};
use super::console::{self, outln};
use super::Exit;
use crate::config::{ReviewImages, Settings};
use crate::deliver;
use crate::deliver::files::{copy_images, localize, IMAGES_FOLDER};
use crate::dkim::DkimSigner;
use crate::run::{Campaigns, Composed, Preview, PreviewAt};

/// The flags of `tripmail preview`.
#[derive(Debug, clap::Args)]
pub(crate) struct PreviewArgs {
    #[command(flatten)]
    sources: Sources,
    /// The booking id.
    #[arg(long)]
    booking: String,
    /// The campaign name.
    #[arg(long)]
    campaign: String,
    /// What to show.
    #[arg(long, value_enum, default_value_t = Format::Html)]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Send it as a test over SMTP to `--to`, instead of showing it (`smtp.url` when no URL).
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    smtp: Option<String>,
    /// The address the test goes to; the customer's is kept in `X-Tripmail-Original-To`.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address, requires = "smtp")]
    to: Option<Mailbox>,
    /// Show the email as it will be on this date of the customer's (YYYY-MM-DD): at the instant
    /// it goes that day, else the window's opening (season, days to travel, Date header).
    #[arg(long, value_name = "DATE", conflicts_with = "now")]
    as_of: Option<chrono::NaiveDate>,
    /// Show it in this language instead of the booking's (en, de, fr, es, it, nl).
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
    /// Also say, on standard error, why the block holds its items ("Why these items:").
    #[arg(long)]
    why: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Html,
    Mjml,
    Text,
    Eml,
}

/// Composes the email, then shows it or sends it as a test.
pub(crate) async fn preview(args: PreviewArgs) -> anyhow::Result<Exit> {
    let settings = args
        .sources
        .load(args.smtp.clone().filter(|u| !u.is_empty()), None)?;
    if args.smtp.is_some() && settings.smtp.url.is_none() {
        anyhow::bail!("--smtp without a URL needs smtp.url in the config");
    }
    let dkim = settings.dkim_signer();
    let images = settings.review.images();
    // Shown all the same (that is what a preview is for), said to be paused.
    let paused = crate::store::open_state_if_exists(&settings.state)?
        .map(|db| db.is_paused(&args.campaign))
        .transpose()?
        .flatten();
    let campaigns = Campaigns::start(settings.clone()).await?;
    let at = match args.as_of {
        Some(date) => PreviewAt::AsOf(date),
        None => PreviewAt::Now(args.sources.now()),
    };
    let (booking, campaign) = (&args.booking, &args.campaign);
    let lang = args.lang.as_deref();
    let preview = std::panic::AssertUnwindSafe(campaigns.preview_in(booking, campaign, at, lang))
        .catch_unwind()
        .await
        .map_err(|panic| {
            anyhow::anyhow!(
                "the {campaign} email for {booking}: composing it failed unexpectedly (a bug; please report it): {}",
                crate::deliver::panic_message(&*panic)
            )
        })??;
    console::preview_note(
        campaign,
        booking,
        &preview.when,
        preview.now,
        args.as_of.is_some(),
    );
    if let Some(p) = &paused {
        console::paused_note(p);
    }
    if args.why {
        console::why_note(&preview.composed.why);
    }
    match args.smtp {
        Some(_) => send_test(&args, &settings, &preview).await,
        None => show(&args, preview.composed, dkim.as_deref(), images.as_ref()),
    }
}

/// Sends the email to `--to` instead of its customer ([`crate::run::send_test`]).
async fn send_test(
    args: &PreviewArgs,
    settings: &Settings,
    preview: &Preview,
) -> anyhow::Result<Exit> {
    let (booking, campaign) = (&args.booking, &args.campaign);
    let to = args.to.as_ref().ok_or_else(|| {
        anyhow::anyhow!("--smtp needs --to ADDRESS: a test goes to you, not to the customer")
    })?;
    let server = settings
        .smtp
        .url
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    match crate::run::send_test(settings, preview, to).await {
        Ok(reply) => {
            outln!(
                "sent a test of {campaign} for {booking} to {} via {server}: {reply}",
                to.email,
            );
            Ok(Exit::Clean)
        }
        Err(e) => {
            eprintln!("tripmail: test of {campaign} for {booking}: {e}");
            Ok(Exit::Problems)
        }
    }
}

/// Writes the email in the format asked for, to `--output` or standard output; the HTML with its
/// pictures from `[review]`'s folder when set (copied beside `--output` into `images/`, or linked
/// as `file://` addresses on standard output).
fn show(
    args: &PreviewArgs,
    composed: Composed,
    dkim: Option<&DkimSigner>,
    images: Option<&ReviewImages>,
) -> anyhow::Result<Exit> {
    let bytes = match (args.format, images) {
        (Format::Html, Some(images)) => local_pictures(&composed.content.html, images, args)?,
        (Format::Html, None) => composed.content.html.into_bytes(),
        (Format::Mjml, _) => composed.content.mjml.into_bytes(),
        (Format::Text, _) => composed.content.text.into_bytes(),
        (Format::Eml, _) => deliver::signed(composed.email.to_mime(), dkim, composed.email.date)
            .with_context(|| format!("the {} email for {}", args.campaign, args.booking))?,
    };
    write_output(args.output.as_deref(), &bytes)?;
    Ok(Exit::Clean)
}

/// `html` with its pictures local: copied beside `--output` (`images/…`), else `file://` addresses
/// of the pictures' folder.
fn local_pictures(
    html: &str,
    images: &ReviewImages,
    args: &PreviewArgs,
) -> anyhow::Result<Vec<u8>> {
    let Some(output) = &args.output else {
        let dir = std::fs::canonicalize(&images.dir)
            .with_context(|| format!("review.images_dir {}", images.dir.display()))?;
        let (html, _) = localize(html, images, |name| {
            format!("file://{}", dir.join(name).display())
        });
        return Ok(html.into_bytes());
    };
    let (html, used) = localize(html, images, |name| format!("{IMAGES_FOLDER}/{name}"));
    let beside = output.parent().unwrap_or(Path::new("")).join(IMAGES_FOLDER);
    copy_images(images, &used, &beside)
        .with_context(|| format!("cannot copy the pictures to {}", beside.display()))?;
    Ok(html.into_bytes())
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}
