//! Timestamps are UTC. Stored as fixed-width RFC 3339 text so that they sort as text on every backend.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now()
}

/// The storage form of a timestamp: RFC 3339 with microseconds and a `Z`, always the same width.
pub fn to_db(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a timestamp written by [`to_db`] (or any RFC 3339 value).
pub fn from_db(text: &str) -> crate::Result<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| crate::Error::internal(format!("stored timestamp {text:?} is not RFC 3339: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_form_round_trips_and_sorts_as_text() {
        let a = now();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(from_db(&to_db(&a)).unwrap(), a.with_nanosecond_trunc());
        assert!(to_db(&a) < to_db(&b));
    }

    trait Trunc {
        fn with_nanosecond_trunc(self) -> Self;
    }
    impl Trunc for Timestamp {
        fn with_nanosecond_trunc(self) -> Self {
            use chrono::Timelike;
            self.with_nanosecond(self.nanosecond() / 1000 * 1000).unwrap()
        }
    }
}
