//! Password hashing with argon2id and its default parameters (19 MiB, 2 passes, 1 lane). Hashing is
//! deliberately slow, so it runs on the blocking thread pool, never on the async workers.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use comptoir_kernel::{Error, Result};

/// The hash of a random password nobody knows, made with the same parameters as real hashes.
/// A login with an unknown email is checked against it, so that it takes as long as a login with
/// a known email and the response time does not reveal which emails have an account.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$oY+Csaq7x7+AQgjpkbDIKw$PfsYYzPSXn5HpC9v/uJ+F4EJKTcbJWSZYCFeNMiQRiY";

/// Hashes a password into a PHC string (`$argon2id$v=19$...`) with a fresh random salt.
pub async fn hash(password: String) -> Result<String> {
    on_blocking_pool(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
    })
    .await
}

/// Whether `password` matches the `stored` hash. Without a stored hash (unknown account) the dummy
/// hash is checked all the same, and the answer is `false`.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    on_blocking_pool(move || {
        let known = stored.is_some();
        let hash = stored.as_deref().unwrap_or(DUMMY_HASH);
        let parsed =
            PasswordHash::new(hash).map_err(|e| Error::internal(format!("stored password hash is malformed: {e}")))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await
}

/// At most one hash per core at a time. Each takes 19 MiB: a burst of logins or registrations
/// would otherwise hold tens of them at once, for no gain in throughput, and the memory stays with
/// the process afterwards.
static HASHING_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
});

async fn on_blocking_pool<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let _slot = HASHING_SLOTS.acquire().await.map_err(|e| Error::internal(format!("password slots closed: {e}")))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal(format!("password task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verified() {
        let a = hash("correct horse battery".into()).await.unwrap();
        let b = hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$"));
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("correct horse battery".into(), Some(a.clone())).await.unwrap());
        assert!(!verify("wrong horse battery".into(), Some(a)).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_one_costs_and_never_matches() {
        let real = hash("whatever password".into()).await.unwrap();
        let params = |h: &str| PasswordHash::new(h).unwrap().params.to_string();
        assert_eq!(params(DUMMY_HASH), params(&real), "same argon2 parameters, so the same time");
        assert!(!verify("dummy".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_a_bug_not_a_wrong_password() {
        assert!(verify("x".into(), Some("not a hash".into())).await.unwrap_err().is_internal());
    }
}
