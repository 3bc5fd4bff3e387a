//! Money is an integer amount in minor units with an ISO 4217 currency. No floating point.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// ISO 4217 codes Comptoir accepts, with their number of minor-unit digits.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

/// An ISO 4217 currency code, validated on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "EUR")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");

    pub fn code(&self) -> &str {
        // Only ASCII uppercase letters are ever stored.
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY).
    pub fn minor_digits(&self) -> u8 {
        CURRENCIES.iter().find(|(c, _)| c.as_bytes() == self.0).map(|(_, d)| *d).unwrap_or(2)
    }
}

impl FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match CURRENCIES.iter().find(|(c, _)| *c == s) {
            Some((c, _)) => {
                let b = c.as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            }
            None => Err(format!("{s:?} is not a supported ISO 4217 currency code")),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// Minor units: 1999 is 19.99 EUR.
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money { amount: 0, currency }
    }

    /// Multiplies by a quantity, refusing to overflow.
    pub fn times(&self, quantity: i64) -> Option<Money> {
        self.amount.checked_mul(quantity).map(|amount| Money { amount, currency: self.currency })
    }

    /// Adds two amounts of the same currency; `None` on a currency mismatch or overflow.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        self.amount.checked_add(other.amount).map(|amount| Money { amount, currency: self.currency })
    }
}

impl Money {
    /// The amount in major units with the currency's minor digits and no currency: `-12.30`,
    /// `1500` for JPY (receipts, CSV, anything that shows the currency apart).
    pub fn major_units(&self) -> String {
        let digits = self.currency.minor_digits() as u32;
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10u64.pow(digits);
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major_units(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_validated() {
        assert_eq!("EUR".parse::<Currency>().unwrap(), Currency::EUR);
        assert!("eur".parse::<Currency>().is_err());
        assert!("XXX".parse::<Currency>().is_err());
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
        assert_eq!(serde_json::to_string(&Currency::USD).unwrap(), "\"USD\"");
    }

    #[test]
    fn money_displays_with_minor_digits() {
        assert_eq!(Money::new(1999, Currency::EUR).to_string(), "19.99 EUR");
        assert_eq!(Money::new(-5, Currency::EUR).to_string(), "-0.05 EUR");
        assert_eq!(Money::new(500, "JPY".parse().unwrap()).to_string(), "500 JPY");
    }

    #[test]
    fn major_units_have_the_currencys_decimals_and_no_currency() {
        assert_eq!(Money::new(123450, Currency::EUR).major_units(), "1234.50");
        assert_eq!(Money::new(-5, Currency::EUR).major_units(), "-0.05");
        assert_eq!(Money::new(-334, Currency::EUR).major_units(), "-3.34");
        assert_eq!(Money::new(1200, "JPY".parse().unwrap()).major_units(), "1200");
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let eur = Money::new(100, Currency::EUR);
        assert!(eur.checked_add(&Money::new(1, Currency::USD)).is_none());
        assert_eq!(eur.times(3).unwrap().amount, 300);
        assert!(Money::new(i64::MAX, Currency::EUR).times(2).is_none());
    }
}
