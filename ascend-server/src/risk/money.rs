//! Amounts with their currencies, in US dollars, and whether the money leaves the organisation.
//!
//! An amount is read from the amount keys ([`tables::AMOUNT_KEYS`]), its currency from a currency
//! key or from the amount string itself (`"€75,000"`, `"48,900.00 USD"`). Card-processor APIs
//! (Stripe) take amounts in the currency's minor unit, so `2500` `usd` there is 25 dollars. The
//! conversion rates of [`tables::USD_RATES`] are coarse on purpose: the engine compares amounts
//! with thresholds a factor of ten apart, not to the cent.

use serde_json::{Map, Value};

use super::content::args_of;
use super::{features, tables};

type Maps<'a> = [Option<&'a Map<String, Value>>; 4];

/// An amount read from an action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount {
    /// Value in US dollars.
    pub usd: f64,
    /// The currency code it was given in (upper case), `USD` when none was given.
    pub currency: &'static str,
    /// The amount as given, in the currency's major unit.
    pub major: f64,
}

fn currency_in(s: &str) -> Option<&'static str> {
    for (sym, code) in tables::CURRENCY_SYMBOLS {
        if s.contains(sym) {
            return Some(code);
        }
    }
    s.split(|c: char| !c.is_ascii_alphabetic()).find_map(|w| {
        tables::USD_RATES
            .iter()
            .find(|(code, _)| w.eq_ignore_ascii_case(code))
            .map(|(code, _)| *code)
    })
}

fn decimal(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let cleaned: String = s
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            cleaned.parse::<f64>().ok()
        }
        _ => None,
    }
    .filter(|f| f.is_finite())
    .map(f64::abs)
}

/// Read the amount of an action. `minor_units`: the API counts in cents (Stripe and alike).
pub fn amount(maps: &Maps<'_>, minor_units: bool) -> Option<Amount> {
    let (raw, key) = tables::AMOUNT_KEYS
        .iter()
        .chain(tables::MINOR_AMOUNT_KEYS)
        .find_map(|k| args_of(maps, k).next().map(|v| (v, *k)))?;
    let mut value = decimal(raw)?;
    let currency = tables::CURRENCY_KEYS
        .iter()
        .find_map(|k| args_of(maps, k).find_map(Value::as_str))
        .and_then(currency_in)
        .or_else(|| raw.as_str().and_then(currency_in))
        .unwrap_or("USD");
    let zero_decimal = tables::ZERO_DECIMAL_CURRENCIES.contains(&currency);
    if (minor_units || tables::MINOR_AMOUNT_KEYS.contains(&key)) && !zero_decimal {
        value /= 100.0;
    }
    let rate = tables::USD_RATES
        .iter()
        .find(|(c, _)| *c == currency)
        .map_or(1.0, |(_, r)| *r);
    Some(Amount {
        usd: value * rate,
        currency,
        major: value,
    })
}

/// Whether the money is marked as staying inside the organisation.
pub fn marked_internal(maps: &Maps<'_>) -> bool {
    args_of(maps, "internal").any(|v| v.as_bool() == Some(true))
        || tables::DESTINATION_KEYS.iter().any(|k| {
            args_of(maps, k).any(|v| {
                v.as_str().is_some_and(|s| {
                    let s = s.trim().to_ascii_lowercase();
                    s == "internal" || s.starts_with("internal:") || s == "own"
                })
            })
        })
}

/// Whether the action names a beneficiary (someone the money goes to).
pub fn names_beneficiary(maps: &Maps<'_>) -> bool {
    tables::BENEFICIARY_KEYS
        .iter()
        .any(|k| args_of(maps, k).next().is_some())
}

/// Whole dollars for the `amount` feature.
pub fn whole(usd: f64) -> i64 {
    features::number(&Value::from(usd.floor().min(1e15))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn amount_of(v: Value, minor: bool) -> Option<Amount> {
        let m = v.as_object().cloned().unwrap_or_default();
        amount(&[Some(&m), None, None, None], minor)
    }

    #[test]
    fn amounts_with_currencies() {
        let a = amount_of(json!({"amount": "€75,000"}), false).expect("amount");
        assert_eq!(a.currency, "EUR");
        assert!((a.usd - 82_500.0).abs() < 1.0);
        let a = amount_of(json!({"amount": "48,900.00 USD"}), false).expect("amount");
        assert!((a.usd - 48_900.0).abs() < 0.01);
        let a = amount_of(json!({"amount": 7_500_000, "currency": "JPY"}), false).expect("amount");
        assert!(a.usd > 40_000.0 && a.usd < 60_000.0);
        // Stripe counts cents, except in zero-decimal currencies.
        let a = amount_of(json!({"amount": 2500, "currency": "usd"}), true).expect("amount");
        assert!((a.usd - 25.0).abs() < 0.01);
        let a = amount_of(json!({"amount": 5000, "currency": "jpy"}), true).expect("amount");
        assert!((a.major - 5000.0).abs() < 0.01);
        let a = amount_of(json!({"amount": 3.5, "asset": "BTC"}), false).expect("amount");
        assert!(a.usd > 100_000.0);
        assert!(amount_of(json!({"to": "x"}), false).is_none());
    }
}
