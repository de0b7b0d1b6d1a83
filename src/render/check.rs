//! The check before a run: every campaign rendered in every locale with 0, 2, 3 and 4 items on a
//! sample booking, so that a broken template or translation is found before a run, not in the
//! middle of one.

use super::{EmailInput, RenderError, Renderer};
use crate::bookings::{Booking, Locale};
use crate::catalog::{Catalog, Money};
use crate::config::{CampaignSettings, Settings};
use crate::recommend::{ProductId, Recommendation};

impl Renderer {
    /// Renders every campaign in every locale with 0, 2, 3 and 4 items on a sample booking, so that a
    /// broken template or translation is found before a run, not in the middle of one.
    pub fn check_all(
        &self,
        settings: &Settings,
        catalog: Option<&Catalog>,
    ) -> Result<usize, RenderError> {
        self.check(settings.campaigns.iter(), catalog)
    }

    /// [`Renderer::check_all`] for some campaigns only (those a run sends).
    pub fn check<'c>(
        &self,
        campaigns: impl IntoIterator<Item = &'c CampaignSettings>,
        catalog: Option<&Catalog>,
    ) -> Result<usize, RenderError> {
        self.check_each(campaigns, catalog, |_| {})
    }

    /// [`Renderer::check`], each render shown to `seen` (for `tripmail validate`'s lint).
    pub fn check_each<'c>(
        &self,
        campaigns: impl IntoIterator<Item = &'c CampaignSettings>,
        catalog: Option<&Catalog>,
        mut seen: impl FnMut(Checked<'_>),
    ) -> Result<usize, RenderError> {
        let items = sample_items(catalog);
        let mut checked = 0;
        for campaign in campaigns {
            for locale in Locale::ALL {
                for n in [0, 2, 3, 4] {
                    // Every detail with 2 and 4 items, none otherwise: both ways of each row.
                    let mut booking = Booking::sample(locale);
                    let full = n % 2 == 0 && n > 0;
                    if full {
                        booking.details =
                            super::details::sample_details(u8::MAX, "Sample & <Place>").0;
                    }
                    let unsubscribe_url = campaign
                        .wants_unsubscribe()
                        .then_some("https://example.invalid/unsubscribe?x=1&y=2");
                    let content = self.render(EmailInput {
                        campaign,
                        booking: &booking,
                        items: &items[..n.min(items.len())],
                        days_to_travel: 3,
                        city: &booking.city,
                        // Both headings: the one naming the city, and with 3 items the other.
                        block_names_city: n != 3,
                        unsubscribe_url,
                        manage_url: full
                            .then_some("https://example.invalid/bookings/SAMPLE-1?x=1&y=2"),
                    })?;
                    seen(Checked {
                        campaign,
                        locale,
                        items: n,
                        content: &content,
                        unsubscribe_url,
                    });
                    checked += 1;
                }
            }
        }
        Ok(checked)
    }
}

/// One render of [`Renderer::check_each`].
pub struct Checked<'a> {
    /// The campaign.
    pub campaign: &'a CampaignSettings,
    /// The sample booking's locale.
    pub locale: Locale,
    /// Items in the block (0: none).
    pub items: usize,
    /// The email.
    pub content: &'a super::EmailContent,
    /// The unsubscribe link it was given, when its campaign wants one.
    pub unsubscribe_url: Option<&'a str>,
}

fn sample_items(catalog: Option<&Catalog>) -> Vec<Recommendation> {
    let from_catalog: Vec<Recommendation> = catalog
        .map(|c| {
            c.products()
                .iter()
                .take(4)
                .map(Recommendation::from)
                .collect()
        })
        .unwrap_or_default();
    if from_catalog.len() == 4 {
        return from_catalog;
    }
    (1..=4)
        .map(|i| Recommendation {
            product_id: ProductId::Number(1000 + i),
            title: format!("Sample <product> & {i}"),
            image_url: format!("https://images.example/{i}.jpg"),
            from_price: Money {
                amount: 10.0 * i as f64,
                currency: "EUR".into(),
            },
            url: None,
            in_stock: true,
            traits: Default::default(),
            city: None,
        })
        .collect()
}
