//! One worker run as a pure state machine, plus the admission decision of a new request.
//!
//! The worker claims requests, builds a [`Planner`] from them, the provider status and the
//! config, then loops: ask [`Planner::next`] for a [`Step`], carry it out, report the outcome
//! ([`Planner::record_probe`], [`Planner::record_submit`]). The planner decides everything
//! else: probing first when the status is stale, spacing submits, deferring the rest when the
//! provider pauses us or the time budget runs out, failing exhausted requests. It never
//! sleeps, sends or writes; following a task after submit is [`crate::poll`]'s job.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::classify::{Class, Classification};
use crate::config::Config;
use crate::health::{Circuit, ProviderState, ProviderStatus};

/// A request the worker has claimed (the attempt of this run is already counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedRequest {
    /// The request id.
    pub id: String,
    /// Attempts used, including this run's.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
}

/// What the worker should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Check the provider (the credit endpoint), then report with [`Planner::record_probe`].
    Probe,
    /// Sleep until `until_ms`, then ask again.
    Wait {
        /// Epoch ms.
        until_ms: i64,
    },
    /// Submit this request, then report with [`Planner::record_submit`].
    Submit {
        /// The request id.
        id: String,
    },
    /// Hand these requests back to the queue, not before `until_ms`, without using an attempt.
    Defer {
        /// The request ids.
        ids: Vec<String>,
        /// Epoch ms.
        until_ms: i64,
        /// Why.
        reason: DeferReason,
    },
    /// Fail this request now (with a fallback track).
    Fail {
        /// The request id.
        id: String,
        /// Stable error code.
        code: &'static str,
        /// Why, for people.
        message: String,
    },
    /// Nothing more to do in this run.
    Stop {
        /// Why the run ends.
        reason: StopReason,
    },
}

/// Why requests were handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// The circuit is open after repeated failures.
    CircuitOpen,
    /// A rate-limit cool-down is running.
    RateLimited,
    /// The provider is in maintenance.
    Maintenance,
    /// The queue is paused: key refused, credits exhausted or endpoint wrong.
    Paused,
    /// The run's time budget is spent.
    OutOfTime,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every claimed request was handled.
    Drained,
    /// The provider cannot take requests now; the rest were deferred.
    ProviderUnavailable,
    /// The time budget is spent; the rest were deferred.
    OutOfTime,
}

/// What happens to one request after its submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RequestDecision {
    /// The provider accepted it: store the task id and follow it.
    Submitted,
    /// Back to the queue, not before `run_at_ms`; the attempt stays spent.
    Retry {
        /// Epoch ms.
        run_at_ms: i64,
        /// Stable error code of the failure.
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// Back to the queue, not before `until_ms`, with the attempt given back.
    Defer {
        /// Epoch ms.
        until_ms: i64,
        /// Stable error code of the cause.
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// The submit may have reached the provider: wait for its callback until `until_ms`, then
    /// resubmit once.
    AwaitCallback {
        /// Epoch ms.
        until_ms: i64,
        /// Stable error code.
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// Failed for good: store the reason and attach a fallback track.
    Fail {
        /// Stable error code.
        code: &'static str,
        /// What happened.
        message: String,
    },
}

/// Decides the fate of `request` after a submit whose outcome is `outcome`.
///
/// `status_after` is the provider status once the outcome was observed
/// ([`ProviderStatus::observe`]): deferrals last until its pause ends. `seed` jitters the
/// backoff.
pub fn decide_submit(
    request: &ClaimedRequest,
    outcome: &Classification,
    status_after: &ProviderStatus,
    now_ms: i64,
    seed: u64,
    config: &Config,
) -> RequestDecision {
    let code = outcome.code;
    let message = outcome.message.clone();
    let paused_until = status_after.paused_until_ms.filter(|&until| until > now_ms);
    match outcome.class {
        Class::Ok | Class::NotAFailure => RequestDecision::Submitted,
        Class::FatalRequest => RequestDecision::Fail { code, message },
        Class::Ambiguous => RequestDecision::AwaitCallback {
            until_ms: after(now_ms, config.ambiguous_wait_ms),
            code,
            message,
        },
        Class::RateLimited | Class::Maintenance | Class::FatalConfig(_) => RequestDecision::Defer {
            until_ms: paused_until.unwrap_or(after(now_ms, config.status_max_age_ms)),
            code,
            message,
        },
        Class::Retryable | Class::Anomaly | Class::Stuck
            if request.attempts >= request.max_attempts =>
        {
            RequestDecision::Fail {
                code,
                message: exhausted(outcome, request.attempts),
            }
        }
        Class::Retryable | Class::Anomaly | Class::Stuck => {
            let run_at = retry_at(request.attempts, outcome, now_ms, seed, config);
            RequestDecision::Retry {
                // A retry never runs while the provider is paused.
                run_at_ms: run_at.max(paused_until.unwrap_or(run_at)),
                code,
                message,
            }
        }
    }
}

/// When to try again after failed attempt number `attempt`: the backoff, or the provider's
/// `Retry-After` when longer.
pub(crate) fn retry_at(
    attempt: u32,
    outcome: &Classification,
    now_ms: i64,
    seed: u64,
    config: &Config,
) -> i64 {
    let wait = config
        .backoff()
        .delay_with_retry_after_ms(attempt, seed, outcome.retry_after_ms);
    after(now_ms, wait)
}

/// The failure message once every attempt is spent.
pub(crate) fn exhausted(outcome: &Classification, attempts: u32) -> String {
    format!("{} (after {attempts} attempts)", outcome.message)
}

/// The plan of one worker run. See the module docs for the loop.
#[derive(Debug, Clone)]
pub struct Planner {
    config: Config,
    status: ProviderStatus,
    waiting: VecDeque<ClaimedRequest>,
    sent: Vec<ClaimedRequest>,
    deadline_ms: i64,
    last_submit_ms: Option<i64>,
    probe_asked: bool,
    stopped: Option<StopReason>,
}

impl Planner {
    /// A plan for `claimed` (in claim order) starting at `started_ms`.
    pub fn new(
        status: ProviderStatus,
        claimed: Vec<ClaimedRequest>,
        config: &Config,
        started_ms: i64,
    ) -> Planner {
        Planner {
            config: config.clone(),
            status,
            waiting: claimed.into(),
            sent: Vec::new(),
            deadline_ms: after(started_ms, config.worker_budget_ms),
            last_submit_ms: None,
            probe_asked: false,
            stopped: None,
        }
    }

    /// The provider status as updated by everything recorded so far: write it back.
    pub fn status(&self) -> &ProviderStatus {
        &self.status
    }

    /// The next step at `now_ms`. After [`Step::Stop`] every call returns the same stop.
    pub fn next(&mut self, now_ms: i64) -> Step {
        if let Some(reason) = self.stopped {
            return Step::Stop { reason };
        }
        if let Some(exhausted) = self.take_exhausted() {
            let message = format!(
                "{} attempts used of {} allowed",
                exhausted.attempts, exhausted.max_attempts
            );
            return Step::Fail {
                id: exhausted.id,
                code: "attempts_exhausted",
                message,
            };
        }
        if self.waiting.is_empty() {
            return self.stop(StopReason::Drained);
        }
        match self.status.circuit(now_ms, &self.config.circuit_policy()) {
            Circuit::Open { until_ms } => {
                let reason = defer_reason(self.status.state);
                return self.defer_all(until_ms, reason, StopReason::ProviderUnavailable);
            }
            Circuit::HalfOpen if !self.probe_asked => {
                self.probe_asked = true;
                return Step::Probe;
            }
            Circuit::HalfOpen => {
                // The probe did not settle the provider's health: try again in a later run.
                let until = after(now_ms, self.config.status_max_age_ms);
                let reason = defer_reason(self.status.state);
                return self.defer_all(until, reason, StopReason::ProviderUnavailable);
            }
            Circuit::Closed => {}
        }
        let slot = self
            .last_submit_ms
            .map_or(now_ms, |last| after(last, self.config.submit_spacing_ms()));
        if now_ms >= self.deadline_ms || slot > self.deadline_ms {
            return self.defer_all(now_ms, DeferReason::OutOfTime, StopReason::OutOfTime);
        }
        if now_ms < slot {
            return Step::Wait { until_ms: slot };
        }
        let request = self.waiting.pop_front().expect("checked non-empty above");
        let id = request.id.clone();
        self.sent.push(request);
        self.last_submit_ms = Some(now_ms);
        Step::Submit { id }
    }

    /// Reports the outcome of a [`Step::Probe`] (see [`crate::classify::classify_credits`]).
    pub fn record_probe(
        &mut self,
        outcome: &Classification,
        response_ms: Option<u64>,
        now_ms: i64,
    ) {
        self.observe(outcome, response_ms, now_ms);
    }

    /// Reports the outcome of a [`Step::Submit`] and returns what to do with that request.
    pub fn record_submit(
        &mut self,
        id: &str,
        outcome: &Classification,
        response_ms: Option<u64>,
        now_ms: i64,
        seed: u64,
    ) -> RequestDecision {
        // An id never handed out is treated as out of attempts: failing is safer than paying.
        let request = self
            .sent
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .unwrap_or_else(|| ClaimedRequest {
                id: id.to_owned(),
                attempts: self.config.max_attempts,
                max_attempts: self.config.max_attempts,
            });
        self.observe(outcome, response_ms, now_ms);
        decide_submit(&request, outcome, &self.status, now_ms, seed, &self.config)
    }

    fn observe(&mut self, outcome: &Classification, response_ms: Option<u64>, now_ms: i64) {
        let policy = self.config.circuit_policy();
        self.status = self.status.observe(outcome, response_ms, now_ms, &policy);
    }

    fn take_exhausted(&mut self) -> Option<ClaimedRequest> {
        let at = self
            .waiting
            .iter()
            .position(|r| r.attempts > r.max_attempts)?;
        self.waiting.remove(at)
    }

    fn defer_all(&mut self, until_ms: i64, reason: DeferReason, stop: StopReason) -> Step {
        let ids: Vec<String> = self.waiting.drain(..).map(|r| r.id).collect();
        self.stopped = Some(stop);
        if ids.is_empty() {
            return Step::Stop { reason: stop };
        }
        Step::Defer {
            ids,
            until_ms,
            reason,
        }
    }

    fn stop(&mut self, reason: StopReason) -> Step {
        self.stopped = Some(reason);
        Step::Stop { reason }
    }
}

fn defer_reason(state: ProviderState) -> DeferReason {
    match state {
        ProviderState::RateLimited => DeferReason::RateLimited,
        ProviderState::Maintenance => DeferReason::Maintenance,
        ProviderState::Unauthorized | ProviderState::NoCredits => DeferReason::Paused,
        ProviderState::Up | ProviderState::Degraded | ProviderState::Down => {
            DeferReason::CircuitOpen
        }
    }
}

/// What to do with a request that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "admission", content = "reason", rename_all = "snake_case")]
pub enum Admission {
    /// The provider is healthy and nobody is waiting: submit at once.
    SubmitNow,
    /// Store it in the queue and answer 202.
    Enqueue(EnqueueReason),
}

/// Why a new request goes to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnqueueReason {
    /// Others are waiting; jumping ahead would be unfair and break the rate limit.
    QueueNotEmpty,
    /// The provider is down, paused or rate-limited.
    ProviderUnavailable,
    /// The provider has not been checked recently enough to trust.
    StatusUnknown,
}

/// Decides whether a new request is submitted at once or queued.
///
/// The status check runs every minute, so a status up to three check periods old is still
/// trusted here; the worker is stricter and probes after one.
pub fn admit(status: &ProviderStatus, waiting: u64, now_ms: i64, config: &Config) -> Admission {
    if waiting > 0 {
        return Admission::Enqueue(EnqueueReason::QueueNotEmpty);
    }
    if !status.is_available(now_ms) {
        return Admission::Enqueue(EnqueueReason::ProviderUnavailable);
    }
    let trusted_for = config.status_max_age_ms.saturating_mul(3);
    let fresh = status.last_check_ms.is_some_and(|at| {
        now_ms.saturating_sub(at) <= i64::try_from(trusted_for).unwrap_or(i64::MAX)
    });
    if fresh {
        Admission::SubmitNow
    } else {
        Admission::Enqueue(EnqueueReason::StatusUnknown)
    }
}

/// How often pg_cron starts the worker.
pub const WORKER_PERIOD_SECONDS: u64 = 60;
/// How long the provider usually takes from submit to both clips.
pub const TYPICAL_GENERATION_SECONDS: u64 = 150;

/// A rough wait, in seconds, until a request at queue `position` (1 = next) has its music,
/// assuming a healthy provider: the runs ahead of it, its slot in its run, then generation.
pub fn estimate_wait_seconds(position: u64, config: &Config) -> u64 {
    let ahead = position.max(1) - 1;
    let batch = u64::from(config.batch_size.max(1));
    let spacing_seconds = config.submit_spacing_ms().div_ceil(1000);
    WORKER_PERIOD_SECONDS / 2
        + (ahead / batch) * WORKER_PERIOD_SECONDS
        + (ahead % batch) * spacing_seconds
        + TYPICAL_GENERATION_SECONDS
}

fn after(now_ms: i64, wait_ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(wait_ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{
        classify_body, classify_http_status, classify_transport, TransportFailure,
    };
    use crate::suno::Endpoint;

    const NOW: i64 = 1_700_000_000_000;

    fn healthy() -> ProviderStatus {
        ProviderStatus {
            state: ProviderState::Up,
            consecutive_failures: 0,
            last_check_ms: Some(NOW - 5_000),
            paused_until_ms: None,
        }
    }

    fn claimed(ids: &[&str]) -> Vec<ClaimedRequest> {
        ids.iter()
            .map(|id| ClaimedRequest {
                id: (*id).to_owned(),
                attempts: 1,
                max_attempts: 3,
            })
            .collect()
    }

    fn planner(status: ProviderStatus, ids: &[&str]) -> Planner {
        Planner::new(status, claimed(ids), &Config::default(), NOW)
    }

    fn submit(id: &str) -> Step {
        Step::Submit { id: id.to_owned() }
    }

    #[test]
    fn healthy_provider_submits_in_order_spaced_by_two_seconds() {
        let mut plan = planner(healthy(), &["a", "b"]);
        assert_eq!(plan.next(NOW), submit("a"));
        assert_eq!(
            plan.record_submit("a", &Classification::ok(), None, NOW, 1),
            RequestDecision::Submitted
        );
        assert_eq!(
            plan.next(NOW + 10),
            Step::Wait {
                until_ms: NOW + 2_000
            }
        );
        assert_eq!(plan.next(NOW + 2_000), submit("b"));
        plan.record_submit("b", &Classification::ok(), None, NOW + 2_000, 1);
        assert_eq!(
            plan.next(NOW + 2_100),
            Step::Stop {
                reason: StopReason::Drained
            }
        );
        assert_eq!(
            plan.next(NOW + 9_999),
            Step::Stop {
                reason: StopReason::Drained
            }
        );
    }

    #[test]
    fn stale_status_probes_first_then_submits() {
        let stale = ProviderStatus {
            last_check_ms: None,
            ..healthy()
        };
        let mut plan = planner(stale, &["a"]);
        assert_eq!(plan.next(NOW), Step::Probe);
        plan.record_probe(&Classification::ok(), Some(300), NOW);
        assert_eq!(plan.next(NOW), submit("a"));
    }

    #[test]
    fn failed_probe_after_an_open_circuit_defers_everything() {
        let down = ProviderStatus {
            state: ProviderState::Down,
            consecutive_failures: 3,
            last_check_ms: Some(NOW - 120_000),
            paused_until_ms: Some(NOW - 1),
        };
        let mut plan = planner(down, &["a", "b"]);
        assert_eq!(plan.next(NOW), Step::Probe);
        plan.record_probe(&classify_http_status(503), None, NOW);
        assert_eq!(
            plan.next(NOW),
            Step::Defer {
                ids: vec!["a".into(), "b".into()],
                until_ms: NOW + 120_000,
                reason: DeferReason::CircuitOpen
            }
        );
        assert_eq!(
            plan.next(NOW),
            Step::Stop {
                reason: StopReason::ProviderUnavailable
            }
        );
    }

    #[test]
    fn open_circuit_defers_without_probing() {
        let limited = ProviderStatus {
            state: ProviderState::RateLimited,
            paused_until_ms: Some(NOW + 10_000),
            ..healthy()
        };
        let mut plan = planner(limited, &["a"]);
        assert_eq!(
            plan.next(NOW),
            Step::Defer {
                ids: vec!["a".into()],
                until_ms: NOW + 10_000,
                reason: DeferReason::RateLimited
            }
        );
    }

    #[test]
    fn paused_queue_defers_with_the_paused_reason() {
        let no_credits = ProviderStatus {
            state: ProviderState::NoCredits,
            paused_until_ms: Some(NOW + 30_000),
            ..healthy()
        };
        let step = planner(no_credits, &["a"]).next(NOW);
        assert!(
            matches!(
                step,
                Step::Defer {
                    reason: DeferReason::Paused,
                    ..
                }
            ),
            "{step:?}"
        );
    }

    #[test]
    fn rate_limit_mid_batch_defers_the_rest_without_attempts() {
        let mut plan = planner(healthy(), &["a", "b", "c"]);
        assert_eq!(plan.next(NOW), submit("a"));
        let decision = plan.record_submit("a", &classify_body(430, "too frequent"), None, NOW, 7);
        assert_eq!(
            decision,
            RequestDecision::Defer {
                until_ms: NOW + 10_000,
                code: "provider_rate_limited",
                message: "provider code 430: too frequent".into()
            }
        );
        assert_eq!(
            plan.next(NOW + 100),
            Step::Defer {
                ids: vec!["b".into(), "c".into()],
                until_ms: NOW + 10_000,
                reason: DeferReason::RateLimited
            }
        );
        assert_eq!(plan.status().state, ProviderState::RateLimited);
    }

    #[test]
    fn transient_failure_retries_with_backoff_and_the_batch_goes_on() {
        let mut plan = planner(healthy(), &["a", "b"]);
        plan.next(NOW);
        let decision = plan.record_submit("a", &classify_http_status(502), None, NOW, 3);
        let RequestDecision::Retry {
            run_at_ms, code, ..
        } = decision
        else {
            panic!("expected a retry, got {decision:?}");
        };
        assert_eq!(code, "provider_unavailable");
        assert!(
            (NOW + 30_000..=NOW + 45_000).contains(&run_at_ms),
            "{run_at_ms}"
        );
        assert_eq!(plan.next(NOW + 2_000), submit("b"));
    }

    #[test]
    fn last_attempt_failure_fails_the_request() {
        let request = ClaimedRequest {
            id: "a".into(),
            attempts: 3,
            max_attempts: 3,
        };
        let outcome = classify_http_status(500);
        let decision = decide_submit(&request, &outcome, &healthy(), NOW, 0, &Config::default());
        assert_eq!(
            decision,
            RequestDecision::Fail {
                code: "provider_unavailable",
                message: "HTTP 500 (after 3 attempts)".into()
            }
        );
    }

    #[test]
    fn fatal_request_fails_at_once() {
        let mut plan = planner(healthy(), &["a"]);
        plan.next(NOW);
        let decision =
            plan.record_submit("a", &classify_body(413, "prompt too long"), None, NOW, 0);
        assert!(matches!(
            decision,
            RequestDecision::Fail {
                code: "prompt_too_long",
                ..
            }
        ));
        assert_eq!(plan.status().state, ProviderState::Up);
    }

    #[test]
    fn lost_submit_waits_for_a_callback() {
        let mut plan = planner(healthy(), &["a"]);
        plan.next(NOW);
        let lost = classify_transport(TransportFailure::LostAfterSend, Endpoint::Generate);
        let decision = plan.record_submit("a", &lost, None, NOW, 0);
        assert!(
            matches!(decision, RequestDecision::AwaitCallback { until_ms, .. } if until_ms == NOW + 300_000),
            "{decision:?}"
        );
    }

    #[test]
    fn unauthorized_submit_pauses_and_defers_the_request() {
        let mut plan = planner(healthy(), &["a", "b"]);
        plan.next(NOW);
        let decision = plan.record_submit("a", &classify_body(401, "invalid key"), None, NOW, 0);
        assert!(
            matches!(decision, RequestDecision::Defer { until_ms, .. } if until_ms == NOW + 60_000)
        );
        let step = plan.next(NOW + 1);
        assert!(
            matches!(
                step,
                Step::Defer {
                    reason: DeferReason::Paused,
                    ..
                }
            ),
            "{step:?}"
        );
    }

    #[test]
    fn exhausted_claims_fail_before_anything_is_sent() {
        let mut requests = claimed(&["a"]);
        requests[0].attempts = 4;
        let mut plan = Planner::new(healthy(), requests, &Config::default(), NOW);
        assert!(matches!(
            plan.next(NOW),
            Step::Fail {
                code: "attempts_exhausted",
                ..
            }
        ));
        assert_eq!(
            plan.next(NOW),
            Step::Stop {
                reason: StopReason::Drained
            }
        );
    }

    #[test]
    fn the_time_budget_hands_the_rest_back() {
        let config = Config {
            worker_budget_ms: 3_000,
            ..Config::default()
        };
        let mut plan = Planner::new(healthy(), claimed(&["a", "b", "c"]), &config, NOW);
        assert_eq!(plan.next(NOW), submit("a"));
        assert_eq!(plan.next(NOW + 2_000), submit("b"));
        assert_eq!(
            plan.next(NOW + 2_500),
            Step::Defer {
                ids: vec!["c".into()],
                until_ms: NOW + 2_500,
                reason: DeferReason::OutOfTime
            }
        );
        assert_eq!(
            plan.next(NOW + 2_500),
            Step::Stop {
                reason: StopReason::OutOfTime
            }
        );
    }

    #[test]
    fn nothing_claimed_stops_at_once() {
        assert_eq!(
            planner(healthy(), &[]).next(NOW),
            Step::Stop {
                reason: StopReason::Drained
            }
        );
    }

    #[test]
    fn steps_serialize_with_a_tag() {
        let json = serde_json::to_value(submit("a")).unwrap();
        assert_eq!(json, serde_json::json!({"step": "submit", "id": "a"}));
    }

    #[test]
    fn admission_submits_only_when_healthy_fresh_and_nobody_waits() {
        let config = Config::default();
        assert_eq!(admit(&healthy(), 0, NOW, &config), Admission::SubmitNow);
        assert_eq!(
            admit(&healthy(), 2, NOW, &config),
            Admission::Enqueue(EnqueueReason::QueueNotEmpty)
        );
        let down = ProviderStatus {
            state: ProviderState::Down,
            ..healthy()
        };
        assert_eq!(
            admit(&down, 0, NOW, &config),
            Admission::Enqueue(EnqueueReason::ProviderUnavailable)
        );
        let old = ProviderStatus {
            last_check_ms: Some(NOW - 600_000),
            ..healthy()
        };
        assert_eq!(
            admit(&old, 0, NOW, &config),
            Admission::Enqueue(EnqueueReason::StatusUnknown)
        );
    }

    #[test]
    fn wait_estimate_grows_with_position() {
        let config = Config::default();
        assert_eq!(estimate_wait_seconds(1, &config), 30 + 150);
        assert_eq!(estimate_wait_seconds(2, &config), 30 + 2 + 150);
        assert_eq!(estimate_wait_seconds(6, &config), 30 + 60 + 150);
        assert!(estimate_wait_seconds(100, &config) > estimate_wait_seconds(10, &config));
    }
}
