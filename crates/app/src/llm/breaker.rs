//! A circuit breaker per provider: after `failures_to_open` failures in a row the provider is
//! rested for `cooldown`, then one probe decides whether it is back.
//!
//! Without it, every turn during an outage would pay the failing provider's timeout (and its
//! retries) before falling back; with it, turns go straight to the next provider until the probe
//! succeeds. Time is passed in, so the state machine is tested without sleeping.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failures in a row that open the breaker.
    pub failures_to_open: u32,
    /// How long an open breaker rests the provider before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures_to_open: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// The breaker's state, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// One probe call is in flight; others are refused until it ends.
    HalfOpen,
}

impl BreakerState {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// One provider's breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call may go through at `now`. An open breaker past its cooldown lets exactly
    /// one probe through.
    pub fn allow(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } if now >= until => {
                *inner = Inner::HalfOpen;
                true
            }
            Inner::Open { .. } | Inner::HalfOpen => false,
        }
    }

    /// A call succeeded.
    pub fn record_success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// A call failed in a way that counts against the provider.
    pub fn record_failure(&self, now: Instant) {
        let mut inner = self.lock();
        let failures = match *inner {
            Inner::Closed { failures } => failures + 1,
            // A failed probe, or a late failure while open: rest again.
            Inner::HalfOpen | Inner::Open { .. } => self.policy.failures_to_open,
        };
        *inner = if failures >= self.policy.failures_to_open {
            Inner::Open {
                until: now + self.policy.cooldown,
            }
        } else {
            Inner::Closed { failures }
        };
    }

    /// The state at `now` (an open breaker past its cooldown reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_opens_after_failures_in_a_row_and_one_probe_closes_it() {
        let breaker = CircuitBreaker::new(BreakerPolicy {
            failures_to_open: 3,
            cooldown: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        breaker.record_failure(t0);
        breaker.record_failure(t0);
        breaker.record_success();
        breaker.record_failure(t0);
        breaker.record_failure(t0);
        assert!(breaker.allow(t0), "a success resets the count");
        breaker.record_failure(t0);
        assert_eq!(breaker.state(t0), BreakerState::Open);
        assert!(!breaker.allow(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert!(breaker.allow(later), "one probe after the cooldown");
        assert!(!breaker.allow(later), "only one");
        breaker.record_success();
        assert!(breaker.allow(later));
        assert_eq!(breaker.state(later), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_rests_the_provider_again() {
        let breaker = CircuitBreaker::new(BreakerPolicy {
            failures_to_open: 2,
            cooldown: Duration::from_secs(5),
        });
        let t0 = Instant::now();
        breaker.record_failure(t0);
        breaker.record_failure(t0);
        let probe = t0 + Duration::from_secs(5);
        assert!(breaker.allow(probe));
        breaker.record_failure(probe);
        assert!(!breaker.allow(probe + Duration::from_secs(4)));
        assert!(breaker.allow(probe + Duration::from_secs(5)));
    }
}
