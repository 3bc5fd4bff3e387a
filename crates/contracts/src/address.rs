//! A postal address as a value: what an order ships to and bills to, what a tax rule or shipping
//! zone matches on. Modules keep it as a snapshot, never a reference to identity's address book.

use comptoir_kernel::country::is_iso_alpha2;
use comptoir_kernel::{Error, FieldError, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// State, province or region, where the country has them (tax rules may match on it).
    #[serde(default)]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 (`FR`, `DE`).
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
}

impl PostalAddress {
    /// Trims and checks every field, naming them under `prefix` (`shipping_address.city`); all
    /// problems are reported together.
    pub fn validated(self, prefix: &str) -> Result<PostalAddress> {
        let mut errors = Vec::new();
        let mut required = |field: &str, value: String, max: usize| {
            let v = value.trim().to_string();
            if v.is_empty() {
                errors.push(FieldError { field: format!("{prefix}.{field}"), message: "must not be empty".into() });
            } else if v.chars().count() > max {
                errors.push(FieldError {
                    field: format!("{prefix}.{field}"),
                    message: format!("must be at most {max} characters"),
                });
            }
            v
        };
        let name = required("name", self.name, 200);
        let line1 = required("line1", self.line1, 200);
        let city = required("city", self.city, 100);
        let postal_code = required("postal_code", self.postal_code, 20);
        let country = self.country.trim().to_ascii_uppercase();
        if !is_iso_alpha2(&country) {
            errors.push(FieldError {
                field: format!("{prefix}.country"),
                message: "must be an ISO 3166-1 alpha-2 country code such as FR or DE".into(),
            });
        }
        let optional = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (line2, region, phone) = (optional(self.line2), optional(self.region), optional(self.phone));
        for (field, value, max) in [("line2", &line2, 200), ("region", &region, 100), ("phone", &phone, 40)] {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                errors.push(FieldError {
                    field: format!("{prefix}.{field}"),
                    message: format!("must be at most {max} characters"),
                });
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation_many(errors));
        }
        Ok(PostalAddress { name, line1, line2, city, postal_code, region, country, phone })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> PostalAddress {
        PostalAddress {
            name: " Ann ".into(),
            line1: "1 rue de Rivoli".into(),
            line2: Some("  ".into()),
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: None,
            country: "fr".into(),
            phone: None,
        }
    }

    #[test]
    fn a_good_address_is_normalised() {
        let a = address().validated("shipping_address").unwrap();
        assert_eq!((a.name.as_str(), a.country.as_str(), a.line2), ("Ann", "FR", None));
    }

    #[test]
    fn every_problem_is_named_under_the_prefix() {
        let bad = PostalAddress { city: " ".into(), country: "XX".into(), ..address() };
        let e = bad.validated("billing_address").unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["billing_address.city", "billing_address.country"]);
    }
}
