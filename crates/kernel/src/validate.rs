//! Small checks shared by the modules' input parsing. Each returns a field-named error.

use crate::{Error, FieldError, Result};

/// Collects field problems so that one answer names all of them.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// The value if `result` is good; otherwise its field errors are kept and `None` returned.
    pub fn check<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                match e.field_errors() {
                    [] => self.0.push(FieldError { field: "input".into(), message: e.to_string() }),
                    errors => self.0.extend(errors.iter().cloned()),
                }
                None
            }
        }
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Problems found so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The parsed value when no problem was found. `value` is `None` only if a check failed.
    pub fn finish<T>(self, value: Option<T>) -> Result<T> {
        if !self.0.is_empty() {
            return Err(Error::validation_many(self.0));
        }
        value.ok_or_else(|| Error::internal("a failed check left no field error"))
    }
}

/// Trims and requires a non-empty string of at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(Error::validation(field, format!("must be at most {max} characters")));
    }
    Ok(v.to_string())
}

/// A lowercase email address with one `@`, a local part and a dotted domain.
pub fn email(field: &str, value: &str) -> Result<String> {
    let v = value.trim().to_lowercase();
    let valid = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(char::is_whitespace)
        });
    if valid { Ok(v) } else { Err(Error::validation(field, "must be a valid email address")) }
}

/// A URL-safe identifier: lowercase letters, digits and dashes (`summer-sale`).
pub fn slug(field: &str, value: &str) -> Result<String> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 120
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok { Ok(v.to_string()) } else { Err(Error::validation(field, "must be lowercase letters, digits and dashes")) }
}

/// Turns a name into a slug (`Blue Shirt!` → `blue-shirt`).
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A strictly positive quantity.
pub fn positive_quantity(field: &str, value: i64) -> Result<i64> {
    if value <= 0 {
        return Err(Error::validation(field, "must be greater than zero"));
    }
    if value > 1_000_000 {
        return Err(Error::validation(field, "must be at most 1000000"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("email", " Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@x.com", "a@b", "a b@c.com", "a@@b.com", "a@.com"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("  Blue Shirt -- XL! "), "blue-shirt-xl");
        assert!(slug("slug", "ok-1").is_ok());
        assert!(slug("slug", "Not Ok").is_err());
    }

    #[test]
    fn problems_are_reported_together() {
        let mut p = Problems::default();
        let email = p.check(email("email", "nope"));
        p.add("name", "must not be empty");
        assert!(email.is_none());
        let e = p.finish(Some(())).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["email", "name"]);
        assert_eq!(Problems::default().finish(Some(7)).unwrap(), 7);
    }

    #[test]
    fn quantities() {
        assert!(positive_quantity("q", 0).is_err());
        assert!(positive_quantity("q", -1).is_err());
        assert!(positive_quantity("q", 3).is_ok());
    }
}
