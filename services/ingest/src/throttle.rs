//! Limits on the public web chat, which anyone can reach without credentials.
//!
//! Every visitor message may cost model calls, a handoff to the team and a CRM lead, so a script
//! could otherwise flood a tenant's desk or spend its month's budget in minutes. Three rates hold
//! a message — per session, per client address, per tenant — and one holds opening sessions per
//! address; over any of them the answer is 429 with `Retry-After`. The limits live in each
//! instance's memory: on Cloud Run with several ingest instances they hold per instance (a
//! global ceiling belongs in front of the service, Cloud Armor's rate limiting).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpRequest;
use atiende_platform::{ApiError, config::Limits};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

/// The web chat's rate limits.
pub(crate) struct Throttle {
    sessions_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_session: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_tenant: DefaultKeyedRateLimiter<String>,
    trusted_proxy_hops: usize,
    checks: AtomicU64,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &str,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::TooManyRequests {
            message: format!("too many {what}; try again in a moment"),
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}

impl Throttle {
    /// The limits `limits` sets.
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            sessions_per_ip: RateLimiter::keyed(
                Quota::per_hour(nz(limits.webchat_sessions_per_ip_per_hour))
                    .allow_burst(nz(limits.webchat_sessions_per_ip_per_hour.min(5))),
            ),
            per_session: RateLimiter::keyed(Quota::per_minute(nz(
                limits.webchat_messages_per_session_per_minute
            ))),
            per_ip: RateLimiter::keyed(Quota::per_minute(nz(
                limits.webchat_messages_per_ip_per_minute
            ))),
            per_tenant: RateLimiter::keyed(Quota::per_minute(nz(
                limits.webchat_messages_per_tenant_per_minute
            ))),
            trusted_proxy_hops: limits.trusted_proxy_hops,
            checks: AtomicU64::new(0),
        }
    }

    /// The client's address: the connection's, or — behind `trusted_proxy_hops` proxies that
    /// each append the address they saw — the entry of `X-Forwarded-For` the outermost trusted
    /// proxy wrote. Entries to its left were written by the client and are ignored.
    fn client(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr().map(|a| a.ip());
        if self.trusted_proxy_hops == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        forwarded
            .len()
            .checked_sub(self.trusted_proxy_hops)
            .and_then(|i| forwarded.get(i))
            .and_then(|ip| ip.parse().ok())
            .or(peer)
    }

    fn forget_idle_keys(&self) {
        // Keys are per visitor: drop the ones whose limits have fully recovered, now and then.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.sessions_per_ip.retain_recent();
            self.per_session.retain_recent();
            self.per_ip.retain_recent();
            self.per_tenant.retain_recent();
        }
    }

    /// Whether the client may open another session.
    pub(crate) fn new_session(&self, request: &HttpRequest) -> Result<(), ApiError> {
        self.forget_idle_keys();
        match self.client(request) {
            Some(ip) => check(&self.sessions_per_ip, &ip, "new chats from your address"),
            None => Ok(()),
        }
    }

    /// Whether `session` of `tenant` may send another message.
    pub(crate) fn message(
        &self,
        request: &HttpRequest,
        tenant: &str,
        session: &str,
    ) -> Result<(), ApiError> {
        self.forget_idle_keys();
        check(
            &self.per_session,
            &session.to_owned(),
            "messages in this chat",
        )?;
        if let Some(ip) = self.client(request) {
            check(&self.per_ip, &ip, "messages from your address")?;
        }
        check(
            &self.per_tenant,
            &tenant.to_owned(),
            "messages to this business",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_forwarded_address_counts_only_behind_trusted_proxies() {
        let request = TestRequest::default()
            .peer_addr("10.0.0.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.7"))
            .to_http_request();
        let direct = Throttle::new(&Limits::default());
        assert_eq!(direct.client(&request), "10.0.0.9".parse().ok());
        let behind_one = Throttle::new(&Limits {
            trusted_proxy_hops: 1,
            ..Limits::default()
        });
        // The client wrote 6.6.6.6; Cloud Run's front end appended what it saw.
        assert_eq!(behind_one.client(&request), "203.0.113.7".parse().ok());
    }

    #[test]
    fn each_rate_holds_with_a_retry_after() {
        let throttle = Throttle::new(&Limits {
            webchat_messages_per_session_per_minute: 2,
            ..Limits::default()
        });
        let request = TestRequest::default()
            .peer_addr("203.0.113.7:5000".parse().unwrap())
            .to_http_request();
        throttle.message(&request, "demo", "s1").unwrap();
        throttle.message(&request, "demo", "s1").unwrap();
        let Err(ApiError::TooManyRequests {
            retry_after_secs, ..
        }) = throttle.message(&request, "demo", "s1")
        else {
            panic!("the third message in a minute is held");
        };
        assert!((1..=60).contains(&retry_after_secs));
        // Another session is not held by this one's rate.
        throttle.message(&request, "demo", "s2").unwrap();
    }
}
