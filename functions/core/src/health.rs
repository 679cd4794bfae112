//! The provider's health as the queue sees it: a state, a failure streak, a pause, and how
//! each observed call moves them.
//!
//! [`ProviderStatus`] mirrors the `suno_api_status` row ([`ProviderStatus::from_row`] reads
//! it). [`ProviderStatus::check`] turns one observed call (a probe, a submit, a read) into the
//! next status *and* the [`StatusCheck`] to record with `record_suno_status_check`, so no shell
//! maps outcomes to columns by hand. [`ProviderStatus::circuit`] says whether calls may go out.
//! Everything takes `now` from the caller.
//!
//! # One rule with the SQL
//!
//! `record_suno_status_check` owns the stored streak and pause (it computes them from the
//! locked row, so concurrent writers lose nothing); [`ProviderStatus::check`] applies the
//! same rule to the status a run holds in memory. The rule:
//!
//! - a check is *healthy* when the state is `up`, or `degraded` without an error (slow);
//!   healthy resets the failure streak;
//! - a transient failure (`degraded` with an error, or `down`) extends a streak of transient
//!   failures, else starts one at 1; at `failure_threshold` the circuit opens;
//! - `rate_limited`, `maintenance`, `unauthorized` and `no_credits` count their own streak
//!   (+1 when the state repeats, else 1): rate limits never open the failure circuit;
//! - a check may ask for a pause, whose [`PauseKind`] follows from its state. A running pause
//!   that ends later is kept; a healthy check lifts our own pauses (circuit, config) but the
//!   provider's (cool-down, maintenance) run their course.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::classify::{Class, Classification, ConfigFault};
use crate::retry::{Cooldown, MAX_RETRY_AFTER_MS};
use crate::time::{after, format_iso8601, parse_iso8601_ms};

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

    /// States of the transient-failure streak: they extend each other's count.
    fn is_transient(self) -> bool {
        matches!(self, ProviderState::Degraded | ProviderState::Down)
    }
}

/// Who asked for a pause, which decides what ends it (`suno_api_status.pause_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseKind {
    /// Ours: the failure circuit is open. A healthy check closes it.
    Circuit,
    /// The provider's: a rate-limit cool-down. Runs its course.
    Cooldown,
    /// The provider's: maintenance. Runs its course.
    Maintenance,
    /// Ours: the key or the credits were refused. A healthy check lifts it.
    Config,
}

impl PauseKind {
    /// The kind of pause a check in `state` asks for (the SQL derives it the same way).
    pub fn asked_by(state: ProviderState) -> PauseKind {
        match state {
            ProviderState::RateLimited => PauseKind::Cooldown,
            ProviderState::Maintenance => PauseKind::Maintenance,
            ProviderState::Unauthorized | ProviderState::NoCredits => PauseKind::Config,
            ProviderState::Up | ProviderState::Degraded | ProviderState::Down => PauseKind::Circuit,
        }
    }

    /// Whether the pause outlives a healthy check.
    fn outlasts_health(self) -> bool {
        matches!(self, PauseKind::Cooldown | PauseKind::Maintenance)
    }
}

/// A snapshot of the provider's health.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// The current state.
    pub state: ProviderState,
    /// Length of the current streak (see the module docs for what extends it).
    pub consecutive_failures: u32,
    /// When the provider was last called, epoch ms; `None` if never.
    pub last_check_ms: Option<i64>,
    /// No calls before this time, epoch ms (circuit open, cool-down, pause).
    pub paused_until_ms: Option<i64>,
    /// Who asked for the pause; `Some` exactly when `paused_until_ms` is.
    pub pause_kind: Option<PauseKind>,
}

/// A `suno_api_status` row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusRowError {
    /// A column is missing or has a value the core does not know.
    #[error("suno_api_status.{column} is missing or invalid")]
    Column {
        /// The column.
        column: &'static str,
    },
}

impl crate::error::ErrorCode for StatusRowError {
    fn code(&self) -> &'static str {
        "invalid_status_row"
    }
}

/// The tuning of the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What the shell knows about one call besides its classified outcome.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallFacts {
    /// How long the call took, when it got an answer.
    pub response_ms: Option<u64>,
    /// The HTTP status of the answer, when there was one.
    pub http_status: Option<u16>,
    /// The credit balance a probe read.
    pub credits: Option<f64>,
}

/// The arguments of `record_suno_status_check`, named as the RPC takes them: serialize it as
/// the JSON body of `POST /rest/v1/rpc/record_suno_status_check`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusCheck {
    /// The state this call shows on its own.
    pub p_state: ProviderState,
    /// How long the call took.
    pub p_response_time_ms: Option<u32>,
    /// What went wrong; `None` for a healthy check.
    pub p_error: Option<String>,
    /// The credit balance, when the call read it.
    pub p_credits: Option<f64>,
    /// The HTTP status (only 100–599; a transport failure has none).
    pub p_http_status: Option<u16>,
    /// The pause this call asks for, as ISO-8601 text.
    pub p_paused_until: Option<String>,
}

/// What one call says on its own, before it meets the status.
struct Verdict {
    state: ProviderState,
    healthy: bool,
    failures: u32,
    asked_pause_until_ms: Option<i64>,
}

impl ProviderStatus {
    /// Reads a `suno_api_status` row as PostgREST returns it (`get_suno_api_status`).
    pub fn from_row(row: &Value) -> Result<ProviderStatus, StatusRowError> {
        let bad = |column| StatusRowError::Column { column };
        let state = serde_json::from_value(row["state"].clone()).map_err(|_| bad("state"))?;
        let consecutive_failures = row["consecutive_failures"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(bad("consecutive_failures"))?;
        let time = |column: &'static str| match &row[column] {
            Value::Null => Ok(None),
            Value::String(text) => parse_iso8601_ms(text).map(Some).ok_or(bad(column)),
            _ => Err(bad(column)),
        };
        let pause_kind = match &row["pause_kind"] {
            Value::Null => None,
            kind => Some(serde_json::from_value(kind.clone()).map_err(|_| bad("pause_kind"))?),
        };
        let paused_until_ms = time("paused_until")?;
        if paused_until_ms.is_some() != pause_kind.is_some() {
            return Err(bad("pause_kind"));
        }
        Ok(ProviderStatus {
            state,
            consecutive_failures,
            last_check_ms: time("last_check_at")?,
            paused_until_ms,
            pause_kind,
        })
    }

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

    /// The status after observing `outcome` of a call at `now_ms` that took `response_ms`:
    /// [`ProviderStatus::check`] without the check, for the tests' sequences.
    #[cfg(test)]
    fn observe(
        &self,
        outcome: &Classification,
        response_ms: Option<u64>,
        now_ms: i64,
        policy: &CircuitPolicy,
    ) -> ProviderStatus {
        let facts = CallFacts {
            response_ms,
            ..CallFacts::default()
        };
        self.check(outcome, &facts, now_ms, policy).0
    }

    /// The status after one call at `now_ms`, and the check to record for it.
    ///
    /// Feed it outcomes of *calls* (probe, submit, read): a generation that failed says
    /// nothing about the provider's availability (see `PollResult::call_outcome`).
    pub fn check(
        &self,
        outcome: &Classification,
        facts: &CallFacts,
        now_ms: i64,
        policy: &CircuitPolicy,
    ) -> (ProviderStatus, StatusCheck) {
        let verdict = self.verdict(outcome, facts.response_ms, now_ms, policy);
        let (paused_until_ms, pause_kind) = self.merge_pause(&verdict, now_ms);
        let status = ProviderStatus {
            state: verdict.state,
            consecutive_failures: verdict.failures,
            last_check_ms: Some(now_ms),
            paused_until_ms,
            pause_kind,
        };
        let check = StatusCheck {
            p_state: verdict.state,
            p_response_time_ms: facts
                .response_ms
                .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
            p_error: (!verdict.healthy).then(|| outcome.message.clone()),
            p_credits: facts.credits,
            p_http_status: facts.http_status.filter(|s| (100..=599).contains(s)),
            p_paused_until: verdict.asked_pause_until_ms.map(format_iso8601),
        };
        (status, check)
    }

    fn verdict(
        &self,
        outcome: &Classification,
        response_ms: Option<u64>,
        now_ms: i64,
        policy: &CircuitPolicy,
    ) -> Verdict {
        let retry_after = outcome.retry_after_ms.unwrap_or(0).min(MAX_RETRY_AFTER_MS);
        let failed = |state: ProviderState, pause_ms: Option<u64>| Verdict {
            state,
            healthy: false,
            failures: self.streak(state),
            asked_pause_until_ms: pause_ms.map(|ms| after(now_ms, ms)),
        };
        match outcome.class {
            Class::Ok
            | Class::NotAFailure
            | Class::FatalRequest
            | Class::Anomaly
            | Class::Stuck => {
                let slow = response_ms.is_some_and(|ms| ms > policy.slow_ms);
                Verdict {
                    state: if slow {
                        ProviderState::Degraded
                    } else {
                        ProviderState::Up
                    },
                    healthy: true,
                    failures: 0,
                    asked_pause_until_ms: None,
                }
            }
            Class::Retryable | Class::Ambiguous => {
                let failures = self.streak(ProviderState::Degraded);
                if failures >= policy.failure_threshold {
                    let open = open_window_ms(policy, failures).max(retry_after);
                    failed(ProviderState::Down, Some(open))
                } else {
                    failed(ProviderState::Degraded, None)
                }
            }
            Class::RateLimited => {
                let streak = self.streak(ProviderState::RateLimited);
                let pause = policy
                    .cooldown
                    .pause_with_retry_after_ms(streak, Some(retry_after));
                failed(ProviderState::RateLimited, Some(pause))
            }
            Class::Maintenance => failed(
                ProviderState::Maintenance,
                Some(policy.maintenance_ms.max(retry_after)),
            ),
            Class::FatalConfig(fault) => {
                failed(config_state(fault), Some(policy.probe_interval_ms))
            }
        }
    }

    /// The streak after one more failure in `state` (see the module docs).
    fn streak(&self, state: ProviderState) -> u32 {
        let extends = if state.is_transient() {
            self.state.is_transient()
        } else {
            self.state == state
        };
        if extends {
            self.consecutive_failures.saturating_add(1)
        } else {
            1
        }
    }

    /// The pause after a check: the running one if it ends later and this check may not lift
    /// it, else the one the check asks for.
    fn merge_pause(&self, verdict: &Verdict, now_ms: i64) -> (Option<i64>, Option<PauseKind>) {
        let asked = verdict.asked_pause_until_ms;
        let kept = self
            .paused_until_ms
            .zip(self.pause_kind)
            .filter(|&(until, kind)| {
                until > now_ms
                    && (!verdict.healthy || kind.outlasts_health())
                    && asked.map_or(true, |asked| until >= asked)
            });
        match kept {
            Some((until, kind)) => (Some(until), Some(kind)),
            None => (asked, asked.map(|_| PauseKind::asked_by(verdict.state))),
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
            pause_kind: None,
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
    fn rate_limits_cool_down_doubling_and_the_streak_resets_on_success() {
        let limited = classify_body(430, "too frequent");
        let once = observe_all(healthy(), std::slice::from_ref(&limited));
        assert_eq!(once.state, ProviderState::RateLimited);
        assert_eq!(once.paused_until_ms, Some(NOW + 10_000));
        assert_eq!(once.pause_kind, Some(PauseKind::Cooldown));
        let twice = observe_all(once, std::slice::from_ref(&limited));
        assert_eq!(twice.paused_until_ms, Some(NOW + 20_000));
        let recovered = observe_all(twice, &[Classification::ok()]);
        assert_eq!(recovered.state, ProviderState::Up);
        assert_eq!(recovered.consecutive_failures, 0);
    }

    #[test]
    fn a_cooldown_outlasts_healthy_checks_until_it_ends() {
        let policy = CircuitPolicy::default();
        let limited = classify_body(430, "too frequent").with_retry_after(Some(60_000));
        let cooling = healthy().observe(&limited, None, NOW, &policy);
        let first = cooling.observe(&Classification::ok(), Some(200), NOW + 1_000, &policy);
        let second = first.observe(&Classification::ok(), Some(200), NOW + 2_000, &policy);
        assert_eq!(second.state, ProviderState::Up);
        assert_eq!(second.paused_until_ms, Some(NOW + 60_000));
        assert_eq!(second.pause_kind, Some(PauseKind::Cooldown));
        assert_eq!(
            second.circuit(NOW + 2_000, &policy),
            Circuit::Open {
                until_ms: NOW + 60_000
            }
        );
        let after_it = second.observe(&Classification::ok(), None, NOW + 60_000, &policy);
        assert_eq!(after_it.paused_until_ms, None);
        assert_eq!(after_it.pause_kind, None);
    }

    #[test]
    fn a_healthy_check_closes_our_own_pauses_at_once() {
        let policy = CircuitPolicy::default();
        let down = observe_all(healthy(), &vec![classify_http_status(503); 3]);
        assert_eq!(down.pause_kind, Some(PauseKind::Circuit));
        let closed = down.observe(&Classification::ok(), None, NOW + 1, &policy);
        assert_eq!((closed.paused_until_ms, closed.pause_kind), (None, None));
        let refused = observe_all(healthy(), &[classify_body(401, "bad key")]);
        assert_eq!(refused.pause_kind, Some(PauseKind::Config));
        let fixed = refused.observe(&Classification::ok(), None, NOW + 1, &policy);
        assert_eq!(fixed.paused_until_ms, None);
    }

    #[test]
    fn a_failure_below_the_threshold_keeps_a_running_cooldown() {
        let cooling = observe_all(healthy(), &[classify_body(430, "too frequent")]);
        let failed = observe_all(cooling, &[classify_http_status(503)]);
        assert_eq!(failed.state, ProviderState::Degraded);
        assert_eq!(failed.paused_until_ms, Some(NOW + 10_000));
        assert_eq!(failed.pause_kind, Some(PauseKind::Cooldown));
    }

    #[test]
    fn rate_limits_and_maintenance_do_not_count_toward_the_failure_streak() {
        let policy = CircuitPolicy::default();
        let mixed = observe_all(
            healthy(),
            &[
                classify_body(430, "too frequent"),
                classify_body(430, "too frequent"),
                classify_http_status(503),
            ],
        );
        assert_eq!(mixed.state, ProviderState::Degraded);
        assert_eq!(mixed.consecutive_failures, 1);
        let after_maintenance = observe_all(
            healthy(),
            &[
                classify_http_status(503),
                classify_body(455, "maintenance"),
                classify_http_status(503),
            ],
        );
        assert_eq!(after_maintenance.consecutive_failures, 1);
        assert_ne!(
            after_maintenance.circuit(NOW + 400_000, &policy),
            Circuit::Open {
                until_ms: NOW + 60_000
            }
        );
    }

    #[test]
    fn a_streak_carried_in_the_stored_row_opens_the_circuit() {
        // What the next run reads back after two 503s recorded by earlier runs.
        let row = serde_json::json!({
            "id": true, "state": "degraded", "is_available": true, "consecutive_failures": 2,
            "last_check_at": "2023-11-14T22:13:19.000000+00:00", "paused_until": null,
            "pause_kind": null, "credits": 100, "last_error": "HTTP 503"
        });
        let stored = ProviderStatus::from_row(&row).unwrap();
        assert_eq!(stored.last_check_ms, Some(NOW - 1_000));
        let third = observe_all(stored, &[classify_http_status(503)]);
        assert_eq!(third.state, ProviderState::Down);
        assert_eq!(third.pause_kind, Some(PauseKind::Circuit));
    }

    #[test]
    fn from_row_refuses_what_it_cannot_read() {
        let row = serde_json::json!({"state": "sleeping", "consecutive_failures": 0});
        assert_eq!(
            ProviderStatus::from_row(&row),
            Err(StatusRowError::Column { column: "state" })
        );
        let row = serde_json::json!({"state": "up", "consecutive_failures": 0,
            "last_check_at": null, "paused_until": "2023-11-14T22:13:20Z", "pause_kind": null});
        assert_eq!(
            ProviderStatus::from_row(&row),
            Err(StatusRowError::Column {
                column: "pause_kind"
            })
        );
    }

    #[test]
    fn a_check_carries_every_rpc_argument() {
        let policy = CircuitPolicy::default();
        let facts = CallFacts {
            response_ms: Some(420),
            http_status: Some(200),
            credits: Some(88.0),
        };
        let limited = classify_body(430, "too frequent");
        let (_, check) = healthy().check(&limited, &facts, NOW, &policy);
        assert_eq!(
            serde_json::to_value(&check).unwrap(),
            serde_json::json!({
                "p_state": "rate_limited", "p_response_time_ms": 420,
                "p_error": "provider code 430: too frequent", "p_credits": 88.0,
                "p_http_status": 200, "p_paused_until": "2023-11-14T22:13:30.000Z"
            })
        );
        let (_, ok) = healthy().check(&Classification::ok(), &facts, NOW, &policy);
        assert_eq!((ok.p_error, ok.p_paused_until), (None, None));
        let lost = CallFacts {
            http_status: Some(0),
            ..facts
        };
        let (_, none) = healthy().check(&Classification::ok(), &lost, NOW, &policy);
        assert_eq!(none.p_http_status, None);
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
