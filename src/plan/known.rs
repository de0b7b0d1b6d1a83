//! What the plan knows before it places anything: the ledger's sent and failed emails, the
//! campaigns paused, and when each booking's confirmations go or went (for the reminders held
//! back after them).

use crate::config::StateSettings;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::PlanOptions;
use crate::bookings::Booking;
use crate::config::{CampaignSettings, Settings, Trigger};
use crate::due::{due_span, next_send_on_ticks, Venue};
use crate::ledger::SendState;
use crate::run::FatalError;
use crate::state::Pause;

/// The (campaign, booking) pairs the ledger holds as sent, with the `--now` of the run that sent
/// each, or as failed (no instant: it did not go).
pub(super) type SentAt = HashMap<(String, String), Option<DateTime<Utc>>>;

/// The bookings the ledger at `path` holds as sent or failed, per campaign, and when the sent ones
/// went; none when it does not exist yet.
pub(super) fn done_in_ledger(
    state: &StateSettings,
) -> Result<(HashMap<String, HashSet<String>>, SentAt), FatalError> {
    let mut done: HashMap<String, HashSet<String>> = HashMap::new();
    let mut sent = SentAt::new();
    let Some(ledger) = crate::store::open_read(state)? else {
        return Ok((done, sent));
    };
    for e in ledger.entries(None)? {
        if matches!(e.state, SendState::Sent | SendState::Failed) {
            let at = DateTime::parse_from_rfc3339(&e.run_at).ok();
            let at = at.filter(|_| e.state == SendState::Sent);
            let key = (e.campaign.clone(), e.booking_id.clone());
            sent.insert(key, at.map(|t| t.with_timezone(&Utc)));
            done.entry(e.campaign).or_default().insert(e.booking_id);
        }
    }
    Ok((done, sent))
}

/// The campaigns among `campaigns` paused in the state file at `path` (not created when missing).
pub(super) fn paused_among(
    state: &StateSettings,
    campaigns: &[&CampaignSettings],
) -> Result<Vec<Pause>, FatalError> {
    let mut paused = match crate::store::open_state_if_exists(state)? {
        Some(store) => store.pauses()?,
        None => Vec::new(),
    };
    paused.retain(|p| campaigns.iter().any(|c| c.name == p.campaign));
    Ok(paused)
}

impl super::Plan {
    /// The plan with `paused` listed, and left out of the totals.
    pub(super) fn pausing(mut self, paused: Vec<Pause>) -> super::Plan {
        self.totals
            .retain(|c, _| !paused.iter().any(|p| &p.campaign == c));
        self.paused = paused;
        self
    }
}

/// When `booking`'s confirmations go or went, as the plan sees them: per enabled confirmation
/// campaign of the config, when the ledger's run sent it; else, unless it failed or its campaign is
/// paused, when the plan places it, and without a ledger also its first instant to go (a runner
/// would have sent it then).
pub(super) fn confirmations(
    settings: &Settings,
    booking: &Booking,
    venue: &Venue,
    opts: &PlanOptions,
    (sent_at, paused): (&SentAt, &[Pause]),
    no_ledger: bool,
) -> Vec<DateTime<Utc>> {
    let mut at = Vec::new();
    let confirmation = |c: &&CampaignSettings| c.enabled && c.trigger == Trigger::Confirmation;
    for c in settings.campaigns.iter().filter(confirmation) {
        let key = (c.name.clone(), booking.booking_id.clone());
        if let Some(sent) = sent_at.get(&key) {
            at.extend(*sent);
            continue;
        }
        if paused.iter().any(|p| p.campaign == c.name) {
            continue;
        }
        at.extend(next_send_on_ticks(c, booking, venue, opts.from, opts.every));
        if no_ledger {
            let first = due_span(c, booking, venue).map(|(start, _)| start);
            at.extend(first.and_then(|s| next_send_on_ticks(c, booking, venue, s, opts.every)));
        }
    }
    at
}
