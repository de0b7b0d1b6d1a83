//! Prices as each locale writes them (CLDR, through ICU4X): `€34.50` in English, `€ 34,50` in Dutch,
//! `34,50 €` in German, French, Spanish and Italian, with each currency's own number of decimals.

use std::collections::HashMap;
use std::sync::Mutex;

use fixed_decimal::Decimal;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_experimental::dimension::currency::CurrencyType;

use crate::bookings::Locale;
use crate::catalog::Money;

/// Formats prices, remembering each (locale, currency, amount) it has written: campaigns show the same
/// few hundred prices again and again.
#[derive(Default)]
pub struct MoneyFormat {
    written: Mutex<HashMap<(Locale, String, u64), String>>,
}

impl MoneyFormat {
    /// `money` as `locale` writes it. A currency ICU does not know is written `34.50 XYZ`.
    pub fn format(&self, locale: Locale, money: &Money) -> String {
        let key = (locale, money.currency.clone(), money.amount.to_bits());
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = written.get(&key) {
            return s.clone();
        }
        let s = format_uncached(locale, money)
            .unwrap_or_else(|| format!("{:.2} {}", money.amount, money.currency));
        written.insert(key, s.clone());
        s
    }
}

fn format_uncached(locale: Locale, money: &Money) -> Option<String> {
    let loc = icu_locale_core::Locale::try_from_str(locale.as_str()).ok()?;
    let currency = CurrencyType::try_from_str(&money.currency.to_ascii_lowercase()).ok()?;
    let formatter =
        CurrencyFormatter::try_new_symbol((&loc).into(), currency, Default::default()).ok()?;
    let value: Decimal = money.amount.to_string().parse().ok()?;
    let written = formatter.format_fixed_decimal(&value).to_string();
    Some(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(locale: Locale, amount: f64, currency: &str) -> String {
        MoneyFormat::default().format(
            locale,
            &Money {
                amount,
                currency: currency.into(),
            },
        )
    }

    #[test]
    fn euros_are_written_as_each_locale_writes_them() {
        assert_eq!(fmt(Locale::En, 34.5, "EUR"), "€34.50");
        assert_eq!(fmt(Locale::Nl, 34.5, "EUR"), "€\u{a0}34,50");
        for l in [Locale::De, Locale::Fr, Locale::Es, Locale::It] {
            assert_eq!(fmt(l, 34.5, "EUR"), "34,50\u{a0}€", "{l:?}");
        }
    }

    #[test]
    fn other_currencies_and_grouping() {
        assert_eq!(fmt(Locale::En, 1234.5, "USD"), "$1,234.50");
        assert_eq!(fmt(Locale::De, 1234.5, "USD"), "1.234,50\u{a0}$");
        assert_eq!(fmt(Locale::En, 59.0, "AUD"), "A$59.00");
        assert_eq!(fmt(Locale::Fr, 25000.0, "ARS"), "25\u{202f}000,00\u{a0}$AR");
    }

    #[test]
    fn an_unknown_currency_code_still_reads() {
        assert_eq!(fmt(Locale::En, 5.0, "XQZ"), "XQZ\u{a0}5.00");
    }
}
