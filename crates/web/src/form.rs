//! Reading HTML forms and showing their errors next to the fields.
//!
//! Forms are read leniently (every field as text, missing ones empty) and checked by the handler,
//! so that a bad value comes back to the person as a message beside the field, never as a raw
//! rejection. Errors the modules report (`422` with field names) land beside the same fields.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use comptoir_kernel::{Currency, Error};
use rust_decimal::Decimal;

use crate::present::capitalised;
use crate::view;

/// A posted `application/x-www-form-urlencoded` form, as name/value pairs in order.
#[derive(Debug, Clone, Default)]
pub struct FormData(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            view::message_page(StatusCode::PAYLOAD_TOO_LARGE, "Too much data", "This form sent too much data.")
        })?;
        Ok(FormData(form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

impl FormData {
    #[cfg(test)]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        FormData(pairs)
    }

    /// A query string read the same lenient way (`?q=mug&page=2`).
    pub fn from_query(raw: Option<String>) -> Self {
        FormData(form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The `page` parameter of a list: 1 when absent or not a page number.
    pub fn page_number(&self) -> u32 {
        self.text("page").parse::<u32>().ok().filter(|p| (1..=10_000).contains(p)).unwrap_or(1)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The field's value, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    }

    /// The field's value when present and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// Every non-blank value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(n, v)| n == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_string()).collect()
    }

    /// The email and password of a sign-in form, each required.
    pub fn credentials(&self, errors: &mut FormErrors) -> comptoir_contracts::identity::Credentials {
        let credentials =
            comptoir_contracts::identity::Credentials { email: self.text("email"), password: self.text("password") };
        if credentials.email.is_empty() {
            errors.add("email", "Enter your email address.");
        }
        if credentials.password.is_empty() {
            errors.add("password", "Enter your password.");
        }
        credentials
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(n, v)| n == name && !v.is_empty() && v != "false" && v != "off")
    }

    /// A whole number, or an error beside the field.
    pub fn integer(&self, name: &str, label: &str, errors: &mut FormErrors) -> Option<i64> {
        let value = self.text(name);
        if value.is_empty() {
            errors.add(name, format!("Enter {label}."));
            return None;
        }
        match value.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.add(name, format!("{} must be a whole number.", capitalised(label)));
                None
            }
        }
    }

    /// An amount typed the way people write it (`19.99`, `19,99`) in minor units of `currency`.
    pub fn amount(&self, name: &str, label: &str, currency: Currency, errors: &mut FormErrors) -> Option<i64> {
        let value = self.text(name).replace(',', ".");
        if value.is_empty() {
            errors.add(name, format!("Enter {label}."));
            return None;
        }
        match parse_amount(&value, currency) {
            Some(minor) => Some(minor),
            None => {
                let digits = currency.minor_digits();
                let example =
                    if digits == 0 { "120".to_string() } else { format!("19.{}", "9".repeat(digits as usize)) };
                errors.add(name, format!("{} must be an amount such as {example}, zero or more.", capitalised(label)));
                None
            }
        }
    }
}

/// `19.99` EUR → 1999. `None` for negative amounts, more decimals than the currency has, or text.
pub fn parse_amount(value: &str, currency: Currency) -> Option<i64> {
    let decimal = Decimal::from_str(value.trim()).ok()?;
    if decimal.is_sign_negative() {
        return None;
    }
    let minor = decimal * Decimal::from(10i64.pow(currency.minor_digits() as u32));
    if !minor.fract().is_zero() {
        return None;
    }
    i64::try_from(minor.trunc()).ok()
}

/// What is wrong with a form: a message per field, and one for the form as a whole.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    fields: BTreeMap<String, String>,
    general: Option<String>,
}

impl FormErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields.entry(field.to_string()).or_insert_with(|| message.into());
    }

    pub fn set_general(&mut self, message: impl Into<String>) {
        self.general = Some(message.into());
    }

    /// The message beside `field`, if any.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// `Ok` when no field is wrong; otherwise the first wrong field as the validation error a
    /// module would answer, so that checks made here and the modules' land the same way.
    pub fn check(&self) -> Result<(), Error> {
        match self.fields.iter().next() {
            Some((field, message)) => Err(Error::validation(field.clone(), message.clone())),
            None => Ok(()),
        }
    }

    pub fn general(&self) -> Option<&str> {
        self.general.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// How many fields are wrong, for the summary at the top of the form.
    pub fn count(&self) -> usize {
        self.fields.len()
    }

    /// Places a module's error: field errors beside the form fields, renamed with `rename` (a
    /// module's `shipping_address.city` is the form's `city`); the rest as the general message.
    /// Server-side failures are not the person's to fix: those stay errors.
    pub fn absorb(&mut self, error: Error, rename: impl Fn(&str) -> String) -> Result<(), Error> {
        if error.is_internal() || error.status() >= 500 {
            return Err(error);
        }
        let fields = error.field_errors();
        if fields.is_empty() {
            self.set_general(error.to_string());
        } else {
            for field in fields {
                self.add(&rename(&field.field), sentence(&field.message));
            }
        }
        Ok(())
    }
}

/// A module's message (`must not be empty`) as a sentence (`Must not be empty.`).
fn sentence(message: &str) -> String {
    let mut text = capitalised(message.trim());
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    #[test]
    fn amounts_are_read_as_people_type_them() {
        assert_eq!(parse_amount("19.99", eur()), Some(1999));
        assert_eq!(parse_amount("20", eur()), Some(2000));
        assert_eq!(parse_amount("0.5", eur()), Some(50));
        assert_eq!(parse_amount("19.999", eur()), None);
        assert_eq!(parse_amount("-1", eur()), None);
        assert_eq!(parse_amount("abc", eur()), None);
        assert_eq!(parse_amount("120", "JPY".parse().unwrap()), Some(120));
    }

    #[test]
    fn module_errors_land_beside_the_fields() {
        let mut errors = FormErrors::default();
        let error = Error::validation("shipping_address.city", "must not be empty");
        errors.absorb(error, |f| f.trim_start_matches("shipping_address.").to_string()).unwrap();
        assert_eq!(errors.of("city"), Some("Must not be empty."));
        assert!(errors.absorb(Error::internal("boom"), str::to_string).is_err());
    }

    #[test]
    fn a_form_is_read_leniently() {
        let form = FormData::from_pairs(vec![
            ("name".into(), "  Ann ".into()),
            ("qty".into(), "x".into()),
            ("role".into(), "admin".into()),
            ("role".into(), "support".into()),
        ]);
        let mut errors = FormErrors::default();
        assert_eq!(form.text("name"), "Ann");
        assert_eq!(form.text("missing"), "");
        assert_eq!(form.integer("qty", "a quantity", &mut errors), None);
        assert_eq!(errors.of("qty"), Some("A quantity must be a whole number."));
        assert_eq!(form.all("role"), ["admin", "support"]);
    }
}
