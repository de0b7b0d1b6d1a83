//! Whether a bookings file can identify customers the way the contact-recommendations API is
//! asked (`engine.yespo.identify_by`): checked on its header, before the first email.

use crate::bookings::BookingReader;
use crate::config::{Provider, Settings};
use crate::recommend::SourceError;

/// Checks that a CSV bookings file has the column each yespo campaign identifies customers by (a
/// JSON Lines file has no header: a booking without it gets no block, `no_identity`).
pub fn check_identity_column(
    settings: &Settings,
    reader: &BookingReader,
) -> Result<(), SourceError> {
    let Some(y) = &settings.engine.yespo else {
        return Ok(());
    };
    let column = y.identify_by.field();
    let Some(campaign) = settings
        .campaigns
        .iter()
        .find(|c| c.provider(&settings.engine) == Provider::Yespo)
    else {
        return Ok(());
    };
    if reader.has_column(column) == Some(false) {
        return Err(SourceError::MissingIdentity {
            file: settings.bookings.path.display().to_string(),
            column,
            param: y.identify_by.param(),
            campaign: campaign.name.clone(),
        });
    }
    Ok(())
}
