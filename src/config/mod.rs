//! Settings: a TOML file, overridden by `TRIPMAIL_<SECTION>__<KEY>` environment variables, overridden
//! by command-line flags. Everything is checked once, up front, so that a bad key stops the run before
//! any email is produced; messages name the key to fix.
//!
//! This file holds the settings tree and its small sections; each larger section has its own file with
//! its checks (`engine`, `yespo`, `links`, `smtp`, `campaign`, `dkim`), reading is in `load`, the order of the
//! checks in `validate`. Values that later code would otherwise parse again are parsed once here: the
//! times of day ([`ClockTime`], [`Window`], [`Days`]), the SMTP URL ([`SmtpUrl`]) and the unsubscribe
//! URL.

use std::path::PathBuf;

use lettre::message::Mailbox;
use serde::Deserialize;

mod campaign;
mod clock;
mod contact;
mod dkim;
mod engine;
mod links;
mod load;
mod review;
mod secret;
mod smtp;
mod smtp_url;
mod validate;
mod yespo;

pub use campaign::{CampaignSettings, SortBy, Trigger};
pub use clock::{ClockTime, Days, Window};
pub use dkim::DkimSettings;
pub(crate) use engine::is_loopback;
pub use engine::{
    EngineSettings, ListFormat, Provider, DEFAULT_MAX_ANSWER_BYTES, EMBEDDED,
    MAX_ENGINE_CONCURRENCY,
};
pub use links::{url_safe, LinksSettings};
pub use load::{ConfigError, Overrides};
pub use review::{ReviewImages, ReviewSettings};
pub use secret::Secret;
pub use smtp::{InDoubt, SmtpSettings};
pub use smtp_url::{SmtpTls, SmtpUrl};
pub use yespo::{CategoryFrom, IdentifyBy, Matches, TagMatch, YespoSettings, YespoTags};

/// The whole configuration of a tripmail installation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the bookings come from.
    pub bookings: BookingsSettings,
    /// The cross-sell engine.
    #[serde(default)]
    pub engine: EngineSettings,
    /// Tag ids that carry the meaning our heuristics need.
    #[serde(default)]
    pub heuristics: HeuristicsSettings,
    /// Links written into emails.
    pub links: LinksSettings,
    /// The sender of every email.
    pub sender: SenderSettings,
    /// Where templates and translations live.
    #[serde(default)]
    pub templates: TemplatesSettings,
    /// The SMTP server emails are sent through (`tripmail run --smtp` or `[smtp] url`).
    #[serde(default)]
    pub smtp: SmtpSettings,
    /// Where the send ledger lives.
    #[serde(default)]
    pub state: StateSettings,
    /// The DKIM key emails are signed with; none: unsigned (the relay must sign).
    #[serde(default)]
    pub dkim: Option<DkimSettings>,
    /// How review copies show pictures offline.
    #[serde(default)]
    pub review: ReviewSettings,
    /// The web console (`tripmail serve`).
    #[serde(default)]
    pub console: ConsoleSettings,
    /// The campaigns, in the order they are produced for each booking.
    #[serde(rename = "campaign")]
    pub campaigns: Vec<CampaignSettings>,
}

/// `[console]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// The login token (`TRIPMAIL_CONSOLE__TOKEN`); none: `tripmail serve` makes one and prints it.
    pub token: Option<Secret>,
}

/// `[state]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    /// The send ledger, a SQLite file (created with its folder when missing).
    pub path: PathBuf,
    /// A PostgreSQL ledger instead (`postgres://USER@HOST:PORT/DB`), shared by several runners.
    /// A secret: the URL may hold the password.
    pub url: Option<Secret>,
    /// The PostgreSQL password (`TRIPMAIL_STATE__PASSWORD`), instead of the URL's.
    pub password: Option<Secret>,
    /// How long a runner's claim on an email holds without being renewed (PostgreSQL): a runner that
    /// dies stops renewing, and its emails go to the others this long after.
    pub lease_seconds: u64,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            path: PathBuf::from("state/tripmail.sqlite"),
            url: None,
            password: None,
            lease_seconds: 60,
        }
    }
}

/// `[bookings]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingsSettings {
    /// A `.csv` or `.jsonl` file.
    pub path: PathBuf,
}

/// `[heuristics]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeuristicsSettings {
    /// Tags of indoor products, preferred in winter.
    pub indoor_tag_ids: Vec<u64>,
    /// Tags of outdoor products, preferred in summer.
    pub outdoor_tag_ids: Vec<u64>,
    /// Tags of family-friendly products: the only ones shown to a family.
    pub family_tag_ids: Vec<u64>,
    /// Tags of adults-only products: never shown to a family.
    pub adults_only_tag_ids: Vec<u64>,
}

/// `[sender]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderSettings {
    /// `Name <address>`; the name is the brand shown in the emails.
    pub from: Mailbox,
    /// The support address shown in emails (a `mailto:` link).
    pub support_email: Option<lettre::Address>,
    /// The support phone number shown in emails (a `tel:` link): digits, spaces, `+`, `-`, `.`,
    /// `(` and `)`.
    pub support_phone: Option<String>,
    /// The company's legal name, shown in every email's footer (left out when absent).
    pub company: Option<String>,
    /// The company's postal address, one line, shown in every email's footer (left out when absent).
    pub postal_address: Option<String>,
}

/// `[templates]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesSettings {
    /// Folder of the Tera templates; translations are in its `i18n/` subfolder.
    pub dir: PathBuf,
}

impl Default for TemplatesSettings {
    fn default() -> Self {
        TemplatesSettings {
            dir: PathBuf::from("templates"),
        }
    }
}

impl Settings {
    /// Whether some campaign asks `provider`.
    pub fn uses(&self, provider: Provider) -> bool {
        self.campaigns
            .iter()
            .any(|c| c.provider(&self.engine) == provider)
    }

    /// The brand shown in emails: the sender's name, or its domain.
    pub fn brand(&self) -> String {
        let mb = &self.sender.from;
        mb.name
            .clone()
            .unwrap_or_else(|| mb.email.domain().to_string())
    }

    /// The campaign called `name`.
    pub fn campaign(&self, name: &str) -> Option<&CampaignSettings> {
        self.campaigns.iter().find(|c| c.name == name)
    }
}
