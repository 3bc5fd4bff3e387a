//! Payment service providers (PSPs) behind one interface, and the two built in: `test`, which
//! answers from the card token so that every checkout path can be exercised without a PSP, and
//! `cash`, for payments taken at a point of sale.

use async_trait::async_trait;
use comptoir_contracts::payment::test_cards;
use comptoir_kernel::{Error, Money, Result, new_id};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How a provider answered an authorisation request. A decline is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The amount is held; `reference` names the charge at the provider from now on.
    Approved { reference: String },
    /// Why, in words a customer can read.
    Declined { reason: String },
}

/// A payment service provider. Errors mean the provider could not answer (`Error::unavailable`,
/// the caller may retry) or the input is unusable for it (`Error::validation`).
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The name payments are made with (`PaymentMethodInput::provider`) and stored under.
    fn name(&self) -> &'static str;

    /// Holds `amount` on the payment method. A repeated `idempotency_key` must come back as the same
    /// authorisation (same reference, no second hold): two concurrent charges with the same key
    /// may both reach the provider, and only this keeps them one charge.
    async fn authorize(&self, amount: Money, token: Option<&str>, idempotency_key: &str) -> Result<Authorization>;

    /// Takes the held amount.
    async fn capture(&self, reference: &str, amount: Money) -> Result<()>;

    /// Releases a hold that will not be captured.
    async fn void(&self, reference: &str) -> Result<()>;

    /// Gives back part or all of a captured amount; returns the provider's reference for the refund.
    async fn refund(&self, reference: &str, amount: Money) -> Result<String>;
}

/// The token as given, or `None` when it is missing or blank.
fn present(token: Option<&str>) -> Option<&str> {
    token.map(str::trim).filter(|t| !t.is_empty())
}

/// The built-in test provider: approves any token except the test cards that decline or fail.
/// It is idempotent like a real PSP: the charge reference derives from the idempotency key.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestProvider;

impl TestProvider {
    pub const NAME: &'static str = "test";
}

/// A charge reference that is the same for the same idempotency key, as a PSP would answer.
fn derived_id(idempotency_key: &str) -> Uuid {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[async_trait]
impl PaymentProvider for TestProvider {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn authorize(&self, _amount: Money, token: Option<&str>, idempotency_key: &str) -> Result<Authorization> {
        let Some(token) = present(token) else {
            return Err(Error::validation("payment.token", "is required by the test provider"));
        };
        let declined = |reason: &str| Ok(Authorization::Declined { reason: reason.to_string() });
        match token {
            test_cards::DECLINED_INSUFFICIENT_FUNDS => declined("insufficient funds"),
            test_cards::DECLINED_STOLEN => declined("card reported stolen"),
            test_cards::PROVIDER_UNAVAILABLE => Err(Error::unavailable("the test payment provider is unavailable")),
            _ => Ok(Authorization::Approved { reference: format!("test_ch_{}", derived_id(idempotency_key)) }),
        }
    }

    async fn capture(&self, _reference: &str, _amount: Money) -> Result<()> {
        Ok(())
    }

    async fn void(&self, _reference: &str) -> Result<()> {
        Ok(())
    }

    async fn refund(&self, _reference: &str, _amount: Money) -> Result<String> {
        Ok(format!("test_re_{}", new_id()))
    }
}

/// Cash taken at a point of sale: always approved, and there is no card token to give.
#[derive(Debug, Clone, Copy, Default)]
pub struct CashProvider;

impl CashProvider {
    pub const NAME: &'static str = "cash";
}

#[async_trait]
impl PaymentProvider for CashProvider {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn authorize(&self, _amount: Money, token: Option<&str>, _idempotency_key: &str) -> Result<Authorization> {
        if present(token).is_some() {
            return Err(Error::validation("payment.token", "must be empty for cash payments"));
        }
        Ok(Authorization::Approved { reference: format!("cash_{}", new_id()) })
    }

    async fn capture(&self, _reference: &str, _amount: Money) -> Result<()> {
        Ok(())
    }

    async fn void(&self, _reference: &str) -> Result<()> {
        Ok(())
    }

    async fn refund(&self, _reference: &str, _amount: Money) -> Result<String> {
        Ok(format!("cash_re_{}", new_id()))
    }
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::Currency;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    async fn authorize(provider: &dyn PaymentProvider, token: Option<&str>) -> Result<Authorization> {
        provider.authorize(eur(1000), token, "key-1").await
    }

    fn field(e: &Error) -> &str {
        e.field_errors().first().map(|f| f.field.as_str()).unwrap_or("")
    }

    #[tokio::test]
    async fn the_test_provider_approves_any_other_token_with_a_test_reference() {
        for token in [test_cards::APPROVED, "tok_anything"] {
            let Authorization::Approved { reference } = authorize(&TestProvider, Some(token)).await.unwrap() else {
                panic!("{token} should be approved");
            };
            let id = reference.strip_prefix("test_ch_").expect("test_ch_ prefix");
            assert!(Uuid::parse_str(id).is_ok(), "{reference}");
        }
    }

    #[tokio::test]
    async fn the_test_provider_declines_the_decline_cards() {
        let cases = [
            (test_cards::DECLINED_INSUFFICIENT_FUNDS, "insufficient funds"),
            (test_cards::DECLINED_STOLEN, "card reported stolen"),
        ];
        for (token, reason) in cases {
            assert_eq!(
                authorize(&TestProvider, Some(token)).await.unwrap(),
                Authorization::Declined { reason: reason.into() }
            );
        }
    }

    #[tokio::test]
    async fn the_test_provider_can_be_unavailable_and_needs_a_token() {
        let e = authorize(&TestProvider, Some(test_cards::PROVIDER_UNAVAILABLE)).await.unwrap_err();
        assert_eq!(e.status(), 503);
        for token in [None, Some(""), Some("   ")] {
            let e = authorize(&TestProvider, token).await.unwrap_err();
            assert_eq!((e.status(), field(&e)), (422, "payment.token"), "{token:?}");
        }
    }

    #[tokio::test]
    async fn the_test_provider_is_idempotent_by_key() {
        let approve = |key: &'static str| TestProvider.authorize(eur(1000), Some(test_cards::APPROVED), key);
        assert_eq!(approve("key-1").await.unwrap(), approve("key-1").await.unwrap());
        assert_ne!(approve("key-1").await.unwrap(), approve("key-2").await.unwrap());
        let refund = TestProvider.refund("test_ch_x", eur(100)).await.unwrap();
        assert!(refund.starts_with("test_re_"), "{refund}");
    }

    #[tokio::test]
    async fn cash_is_always_approved_and_takes_no_token() {
        for token in [None, Some("")] {
            let Authorization::Approved { reference } = authorize(&CashProvider, token).await.unwrap() else {
                panic!("cash is approved");
            };
            assert!(reference.starts_with("cash_"), "{reference}");
        }
        let e = authorize(&CashProvider, Some(test_cards::APPROVED)).await.unwrap_err();
        assert_eq!((e.status(), field(&e)), (422, "payment.token"));
    }
}
