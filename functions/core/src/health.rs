//! The provider's health as the queue sees it: a state, a circuit breaker, and how each
//! observed outcome moves them.
//!
//! [`ProviderStatus`] mirrors the `suno_api_status` row. [`ProviderStatus::observe`] computes
//! the next row from one outcome (a probe, a submit, a read); [`ProviderStatus::circuit`] says
//! whether calls may go out. Both take `now` from the caller. Writing the row is the shell's
//! job; what to do with each request is [`crate::plan`]'s.

use serde::{Deserialize, Serialize};

use crate::classify::{Class, Classification, ConfigFault};
use crate::retry::{Cooldown, MAX_RETRY_AFTER_MS};

/// The provider's state, as stored in `suno_api_status.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderState {
    /// Answering normally.
    #[default]
    Up,
    /// Answering, but slowly or with some failures.
    Degraded,
    /// Failing repeatedly, unreachable, or misconfigured endpoint: circuit open.
    Down,
    /// Asked us to slow down: global cool-down.
    RateLimited,
    /// Refuses our key: queue paused.
    Unauthorized,
    /// Our account has no credits left: queue paused.
    NoCredits,
    /// In maintenance: circuit open.
    Maintenance,
}

impl ProviderState {
    /// Whether requests may be sent in this state (pauses aside).
    pub fn accepts_calls(self) -> bool {
        matches!(self, ProviderState::Up | ProviderState::Degraded)
    }
}

/// A snapshot of the provider's health.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// The current state.
    pub state: ProviderState,
    /// Length of the current streak of failures (rate limits count their own streak).
    pub consecutive_failures: u32,
    /// When the provider was last called, epoch ms; `None` if never.
    pub last_check_ms: Option<i64>,
    /// No calls before this time, epoch ms (circuit open, cool-down, pause).
    pub paused_until_ms: Option<i64>,
}

/// The tuning of the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitPolicy {
    /// Consecutive transient failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit first stays open; doubles with each further failure.
    pub open_ms: u64,
    /// The longest the circuit stays open in one go.
    pub open_cap_ms: u64,
    /// How long a maintenance answer pauses calls.
    pub maintenance_ms: u64,
    /// A status older than this is re-probed before use; also the pause between probes while
    /// the key or the credits are refused.
    pub probe_interval_ms: u64,
    /// Answers slower than this mark the provider degraded.
    pub slow_ms: u64,
    /// The rate-limit cool-down.
    pub cooldown: Cooldown,
}

impl Default for CircuitPolicy {
    fn default() -> CircuitPolicy {
        CircuitPolicy {
            failure_threshold: 3,
            open_ms: 60_000,
            open_cap_ms: 16 * 60_000,
            maintenance_ms: 5 * 60_000,
            probe_interval_ms: 60_000,
            slow_ms: 10_000,
            cooldown: Cooldown::default(),
        }
    }
}

/// Whether calls may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "circuit", rename_all = "snake_case")]
pub enum Circuit {
    /// Healthy and recently checked: call.
    Closed,
    /// Unknown, stale or recovering: one probe decides.
    HalfOpen,
    /// No calls until `until_ms`.
    Open {
        /// Epoch ms when calls may resume (through a probe).
        until_ms: i64,
    },
}

impl ProviderStatus {
    /// Whether calls may go out at `now_ms`.
    pub fn circuit(&self, now_ms: i64, policy: &CircuitPolicy) -> Circuit {
        if let Some(until_ms) = self.paused_until_ms.filter(|&until| until > now_ms) {
            return Circuit::Open { until_ms };
        }
        let stale = self.last_check_ms.map_or(true, |at| {
            now_ms.saturating_sub(at) >= to_i64(policy.probe_interval_ms)
        });
        if self.state.accepts_calls() && !stale {
            Circuit::Closed
        } else {
            Circuit::HalfOpen
        }
    }

    /// Whether a request arriving now could be sent at once.
    pub fn is_available(&self, now_ms: i64) -> bool {
        self.state.accepts_calls() && self.paused_until_ms.map_or(true, |until| until <= now_ms)
    }

    /// The status after observing `outcome` of a call at `now_ms` that took `response_ms`.
    ///
    /// Feed it outcomes of calls (probe, submit, read), not task statuses: a generation that
    /// failed says nothing about the provider's availability.
    pub fn observe(
        &self,
        outcome: &Classification,
        response_ms: Option<u64>,
        now_ms: i64,
        policy: &CircuitPolicy,
    ) -> ProviderStatus {
        let failures = self.consecutive_failures.saturating_add(1);
        let streak = |state| if self.state == state { failures } else { 1 };
        let after = |ms: u64| Some(now_ms.saturating_add(to_i64(ms)));
        let retry_after = outcome.retry_after_ms.unwrap_or(0).min(MAX_RETRY_AFTER_MS);
        let (state, consecutive_failures, paused_until_ms) = match outcome.class {
            Class::Ok
            | Class::NotAFailure
            | Class::FatalRequest
            | Class::Anomaly
            | Class::Stuck => {
                let slow = response_ms.is_some_and(|ms| ms > policy.slow_ms);
                let state = if slow {
                    ProviderState::Degraded
                } else {
                    ProviderState::Up
                };
                (state, 0, None)
            }
            Class::Retryable | Class::Ambiguous if failures >= policy.failure_threshold => {
                let open = open_window_ms(policy, failures).max(retry_after);
                (ProviderState::Down, failures, after(open))
            }
            Class::Retryable | Class::Ambiguous => (ProviderState::Degraded, failures, None),
            Class::RateLimited => {
                let streak = streak(ProviderState::RateLimited);
                let pause = policy
                    .cooldown
                    .pause_with_retry_after_ms(streak, Some(retry_after));
                (ProviderState::RateLimited, streak, after(pause))
            }
            Class::Maintenance => {
                let pause = policy.maintenance_ms.max(retry_after);
                (
                    ProviderState::Maintenance,
                    streak(ProviderState::Maintenance),
                    after(pause),
                )
            }
            Class::FatalConfig(fault) => {
                let state = config_state(fault);
                (state, streak(state), after(policy.probe_interval_ms))
            }
        };
        ProviderStatus {
            state,
            consecutive_failures,
            last_check_ms: Some(now_ms),
            paused_until_ms,
        }
    }
}

fn config_state(fault: ConfigFault) -> ProviderState {
    match fault {
        ConfigFault::Unauthorized => ProviderState::Unauthorized,
        ConfigFault::NoCredits => ProviderState::NoCredits,
        // The schema has no "misconfigured" state; "down" keeps the queue paused and probing.
        ConfigFault::BadEndpoint | ConfigFault::CallbackUrl => ProviderState::Down,
    }
}

/// `open_ms` at the threshold, doubling for each failure beyond it, capped.
fn open_window_ms(policy: &CircuitPolicy, failures: u32) -> u64 {
    let beyond = failures.saturating_sub(policy.failure_threshold).min(32);
    policy
        .open_ms
        .saturating_mul(1 << beyond)
        .min(policy.open_cap_ms.max(policy.open_ms))
}

fn to_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{classify_body, classify_http_status};

    const NOW: i64 = 1_700_000_000_000;

    fn healthy() -> ProviderStatus {
        ProviderStatus {
            state: ProviderState::Up,
            consecutive_failures: 0,
            last_check_ms: Some(NOW - 1_000),
            paused_until_ms: None,
        }
    }

    fn observe_all(mut status: ProviderStatus, outcomes: &[Classification]) -> ProviderStatus {
        for outcome in outcomes {
            status = status.observe(outcome, None, NOW, &CircuitPolicy::default());
        }
        status
    }

    #[test]
    fn recent_healthy_status_is_closed() {
        assert_eq!(
            healthy().circuit(NOW, &CircuitPolicy::default()),
            Circuit::Closed
        );
    }

    #[test]
    fn unknown_or_stale_status_needs_a_probe() {
        let policy = CircuitPolicy::default();
        assert_eq!(
            ProviderStatus::default().circuit(NOW, &policy),
            Circuit::HalfOpen
        );
        let stale = ProviderStatus {
            last_check_ms: Some(NOW - 60_000),
            ..healthy()
        };
        assert_eq!(stale.circuit(NOW, &policy), Circuit::HalfOpen);
    }

    #[test]
    fn failures_open_the_circuit_at_the_threshold_then_double() {
        let policy = CircuitPolicy::default();
        let failure = classify_http_status(503);
        let two = observe_all(healthy(), &[failure.clone(), failure.clone()]);
        assert_eq!(two.state, ProviderState::Degraded);
        assert_eq!(two.circuit(NOW, &policy), Circuit::Closed);
        let three = observe_all(two, std::slice::from_ref(&failure));
        assert_eq!(three.state, ProviderState::Down);
        assert_eq!(
            three.circuit(NOW, &policy),
            Circuit::Open {
                until_ms: NOW + 60_000
            }
        );
        let four = observe_all(three, std::slice::from_ref(&failure));
        assert_eq!(four.paused_until_ms, Some(NOW + 120_000));
        let many = observe_all(four, &vec![failure; 20]);
        assert_eq!(many.paused_until_ms, Some(NOW + 16 * 60_000));
    }

    #[test]
    fn an_expired_pause_goes_half_open() {
        let policy = CircuitPolicy::default();
        let down = observe_all(healthy(), &vec![classify_http_status(502); 3]);
        assert_eq!(down.circuit(NOW + 60_000, &policy), Circuit::HalfOpen);
    }

    #[test]
    fn rate_limits_cool_down_doubling_and_reset_on_success() {
        let limited = classify_body(430, "too frequent");
        let once = observe_all(healthy(), std::slice::from_ref(&limited));
        assert_eq!(once.state, ProviderState::RateLimited);
        assert_eq!(once.paused_until_ms, Some(NOW + 10_000));
        let twice = observe_all(once, std::slice::from_ref(&limited));
        assert_eq!(twice.paused_until_ms, Some(NOW + 20_000));
        let recovered = observe_all(twice, &[Classification::ok()]);
        assert_eq!(
            recovered,
            ProviderStatus {
                last_check_ms: Some(NOW),
                ..healthy()
            }
        );
    }

    #[test]
    fn retry_after_lengthens_a_cool_down() {
        let limited = classify_body(430, "slow down").with_retry_after(Some(45_000));
        let status = observe_all(healthy(), &[limited]);
        assert_eq!(status.paused_until_ms, Some(NOW + 45_000));
    }

    #[test]
    fn fatal_config_pauses_until_the_next_probe() {
        let status = observe_all(healthy(), &[classify_body(401, "bad key")]);
        assert_eq!(status.state, ProviderState::Unauthorized);
        assert_eq!(status.paused_until_ms, Some(NOW + 60_000));
        assert!(
            !status.is_available(NOW + 120_000),
            "still unauthorized until a good probe"
        );
        let credits = observe_all(healthy(), &[classify_body(429, "credits insufficient")]);
        assert_eq!(credits.state, ProviderState::NoCredits);
    }

    #[test]
    fn maintenance_pauses_for_minutes() {
        let status = observe_all(healthy(), &[classify_body(455, "maintenance")]);
        assert_eq!(status.state, ProviderState::Maintenance);
        assert_eq!(status.paused_until_ms, Some(NOW + 300_000));
    }

    #[test]
    fn slow_success_is_degraded() {
        let policy = CircuitPolicy::default();
        let status = healthy().observe(&Classification::ok(), Some(15_000), NOW, &policy);
        assert_eq!(status.state, ProviderState::Degraded);
        assert!(status.is_available(NOW));
    }

    #[test]
    fn a_rejected_request_says_the_provider_is_up() {
        let status = observe_all(healthy(), &[classify_body(413, "too long")]);
        assert_eq!(status.state, ProviderState::Up);
    }

    #[test]
    fn state_serializes_as_the_sql_value() {
        let json = serde_json::to_string(&ProviderState::NoCredits).unwrap();
        assert_eq!(json, "\"no_credits\"");
    }
}
