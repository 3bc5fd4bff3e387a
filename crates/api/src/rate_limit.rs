//! Rate limits, per client IP (before anything else runs) and per customer, staff member or API
//! key (once the caller is known). Over the limit: 429 with `Retry-After`. Token buckets: each
//! limit is a sustained rate per second with a burst of twice that.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use comptoir_contracts::identity::Principal;
use comptoir_kernel::{Error, Result};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::ApiState;

/// Requests per second; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub per_ip: u32,
    pub per_customer: u32,
    pub per_api_key: u32,
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits { per_ip: 0, per_customer: 0, per_api_key: 0 };
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits { per_ip: 100, per_customer: 20, per_api_key: 100 }
    }
}

/// Buckets kept before the idle ones are dropped.
const PRUNE_ABOVE: usize = 50_000;

pub struct RateLimiter {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_user: Option<DefaultKeyedRateLimiter<Uuid>>,
    per_api_key: Option<DefaultKeyedRateLimiter<Uuid>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            per_ip: keyed(limits.per_ip),
            per_user: keyed(limits.per_customer),
            per_api_key: keyed(limits.per_api_key),
        }
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<()> {
        check(self.per_ip.as_ref(), &ip, "from this address")
    }

    /// Customers and staff are limited per person, applications per API key.
    pub fn check_principal(&self, principal: &Principal) -> Result<()> {
        match principal {
            Principal::Customer { id, .. } | Principal::Staff { id, .. } => {
                check(self.per_user.as_ref(), id, "for this account")
            }
            Principal::App { key_id, .. } => check(self.per_api_key.as_ref(), key_id, "for this API key"),
        }
    }
}

fn keyed<K: Hash + Eq + Clone>(per_second: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
    Some(governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

fn check<K: Hash + Eq + Clone>(limiter: Option<&DefaultKeyedRateLimiter<K>>, key: &K, whom: &str) -> Result<()> {
    let Some(limiter) = limiter else { return Ok(()) };
    if limiter.len() > PRUNE_ABOVE {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        metrics::counter!("comptoir_rate_limited_total").increment(1);
        Error::rate_limited(
            format!("too many requests {whom}; try again in {} ms", wait.as_millis().max(1)),
            wait.as_secs_f64().ceil().max(1.0) as u64,
        )
    })
}

/// The per-IP limit, before authentication or any handler. The address is the TCP peer's (serve
/// with `into_make_service_with_connect_info`); without it the IP limit does not apply.
pub async fn limit_by_ip(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(e) = state.rate_limiter.check_ip(peer.ip())
    {
        return ApiError(e).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_burst_is_told_when_to_come_back() {
        let limiter = RateLimiter::new(RateLimits { per_ip: 1, ..RateLimits::OFF });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.check_ip(ip).is_ok() && limiter.check_ip(ip).is_ok(), "a burst of two");
        let e = limiter.check_ip(ip).unwrap_err();
        assert_eq!(e.status(), 429);
        assert!(matches!(e, Error::RateLimited { retry_after_secs: 1, .. }));
        assert!(limiter.check_ip("10.0.0.2".parse().unwrap()).is_ok(), "each address has its own bucket");
    }

    #[test]
    fn limits_at_zero_are_off() {
        let limiter = RateLimiter::new(RateLimits::OFF);
        for _ in 0..1000 {
            limiter.check_ip("10.0.0.1".parse().unwrap()).unwrap();
        }
    }
}
