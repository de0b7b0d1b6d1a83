//! Subject lines that fit an inbox: at most [`SUBJECT_MAX_CHARS`] characters. A subject that names
//! a long product title is written again with the title cut at a word and ended with `…`; one
//! that is still too long (a long translation or city) is what `tripmail validate` warns about.

use fluent_bundle::FluentArgs;

use super::{EmailInput, RenderError, Renderer};
use crate::bookings::{Booking, Locale};
use crate::config::CampaignSettings;

/// The longest subject, in characters, that inbox lists show whole on most screens.
pub const SUBJECT_MAX_CHARS: usize = 60;

/// The Fluent variable a subject may be shortened on.
const PRODUCT: &str = "product";

impl Renderer {
    /// The subject `campaign` gives `booking` (its city as `city`), `days_to_travel` days before
    /// the trip, as an email would carry it.
    pub fn subject_for(
        &self,
        campaign: &CampaignSettings,
        booking: &Booking,
        city: &str,
        days_to_travel: i64,
    ) -> Result<String, RenderError> {
        let input = EmailInput {
            campaign,
            booking,
            items: &[],
            days_to_travel,
            city,
            block_names_city: true,
            unsubscribe_url: None,
            manage_url: None,
        };
        let date = self.translations.date(booking.locale, booking.travel_date);
        let args = self.args(&input, &date);
        let id = format!("{}-subject", campaign.trigger.as_str());
        self.subject(booking.locale, &id, &args, &booking.product_title)
    }

    /// The message `id` (a subject) formatted with `args`; when it is over [`SUBJECT_MAX_CHARS`]
    /// characters and names `$product`, again with the product's title cut to fit.
    pub(super) fn subject(
        &self,
        locale: Locale,
        id: &str,
        args: &FluentArgs<'_>,
        product: &str,
    ) -> Result<String, RenderError> {
        let full = self.translations.message(locale, id, args)?;
        let over = full.chars().count().saturating_sub(SUBJECT_MAX_CHARS);
        if over == 0 {
            return Ok(full);
        }
        let keep = product.chars().count().saturating_sub(over + 1);
        let short = shorten(product, keep);
        if short == product {
            return Ok(full);
        }
        let mut args: FluentArgs<'_> = args.iter().map(|(k, v)| (k, v.clone())).collect();
        args.set(PRODUCT, short);
        Ok(self.translations.message(locale, id, &args)?)
    }
}

/// `text` cut to at most `keep` characters and `…` (so at most `keep + 1`): at the last space
/// inside, without a dangling sign (`&`, `:`, `,`, `-`) before it; at `keep` characters when the
/// first word alone is longer. `text` itself when it fits.
pub(crate) fn shorten(text: &str, keep: usize) -> String {
    if text.chars().count() <= keep + 1 {
        return text.to_string();
    }
    let head: String = text.chars().take(keep).collect();
    let cut = match head.rfind(' ') {
        Some(at) if at > 0 => &head[..at],
        _ => head.as_str(),
    };
    let cut = cut.trim_end_matches(|c: char| c.is_whitespace() || "&:,;-–—+/(".contains(c));
    match cut.is_empty() {
        true => format!("{}…", head.trim_end()),
        false => format!("{cut}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn a_title_is_cut_at_a_word_without_a_dangling_sign() {
        let t = "Vatican Museums, Sistine Chapel & St. Peter's Basilica Guided Tour";
        assert_eq!(shorten(t, 35), "Vatican Museums, Sistine Chapel…");
        assert_eq!(shorten(t, 20), "Vatican Museums…");
        assert_eq!(
            shorten("Golden Circle Day Trip", 40),
            "Golden Circle Day Trip"
        );
        assert_eq!(
            shorten("Donaudampfschifffahrtsgesellschaft", 10),
            "Donaudampf…"
        );
    }
}
