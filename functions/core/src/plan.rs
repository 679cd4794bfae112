//! One worker run as a pure state machine: what to call next, and what each outcome means for
//! the request and for the run.
//!
//! The planner owns the whole run: whether to read tasks and claim requests at all, the
//! order of the phases, the spacing of submits, the shared token bucket, and one deadline
//! across every phase. It never sleeps, sends or writes: it answers [`Planner::next`] with a
//! [`Step`] and learns the outcome through a `record_*` call. Following one task after submit
//! is [`crate::poll`]'s decision; admission of a new request is [`crate::admit`]'s.
//!
//! # The run loop, for a shell
//!
//! 1. Read `get_suno_api_status` ([`ProviderStatus::from_row`]) and the queue's
//!    `music_queues` row ([`QueueSettings::from_row`]); build [`Planner::new`] with the
//!    [`Config`] and the start time.
//! 2. Loop on `planner.next(now)` and carry out the step:
//!
//! | step | the shell does | then reports |
//! |---|---|---|
//! | [`Step::Probe`] | `GET /api/v1/generate/credit` | [`Planner::record_probe`] |
//! | [`Step::ClaimPolls`] | `claim_music_polls` (its default limit) | [`Planner::record_polls`] with the row ids |
//! | [`Step::Read`] | `GET record-info`, [`crate::poll::decide_poll`], write the decision | [`Planner::record_read`] with [`crate::poll::PollResult::call_outcome`] |
//! | [`Step::Claim`] | `claim_music_requests(p_limit => limit)` | [`Planner::record_claim`] ([`ClaimedRequest::from_row`]) |
//! | [`Step::TakeToken`] | `take_rate_token()` | [`Planner::record_token`] |
//! | [`Step::Submit`] | `POST /api/v1/generate` for that row | [`Planner::record_submit`], then write its [`RequestDecision`] |
//! | [`Step::Wait`] | sleep until `until_ms` | nothing |
//! | [`Step::Defer`] | `defer_music_request` for each id, `p_delay_seconds` from `until_ms` | nothing |
//! | [`Step::Stop`] | leave the loop | nothing |
//!
//! 3. After every `record_*`, record each of [`Planner::take_checks`] with
//!    `record_suno_status_check` (in order): every call the run made is a check, so the stored
//!    failure streak and pauses follow the same rule across runs ([`crate::health`]).
//!
//! A [`RequestDecision`] maps to one transition: `Submitted` → `mark_music_request_submitted`,
//! `Retry` → `retry_music_request`, `Defer` → `defer_music_request`, `AwaitCallback` → the
//! ambiguous-submit transition, `Fail` → `fail_music_request`. Every delay argument is
//! [`crate::time::delay_seconds`] of the decision's time.
//!
//! # The order of a run
//!
//! Probe first when the stored status is stale (one probe decides; if it fails nothing is
//! claimed or sent). Then read the submitted tasks that are due: they are already paid for,
//! and a read is the truth. Then claim, unless an admin paused the queue or the provider is
//! paused: claiming only to defer would spend attempts and write events for nothing. Then
//! submit the claimed requests in claim order, each one spaced from the last and each one
//! right after a granted token. A full batch sent, claim the next (`batch_size` at a time)
//! while the budget lasts: at the default 2 s spacing a 50 s run drains about 25 requests.
//! The run stops when a claim comes back short (nothing more is due) or, when the queue
//! sets `max_per_run`, once it has claimed that many ([`StopReason::CapReached`]). When the
//! deadline comes, reads left over come due again by themselves and claimed requests are
//! deferred without using an attempt.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::classify::{Class, Classification};
use crate::config::Config;
use crate::health::{CallFacts, Circuit, PauseKind, ProviderState, ProviderStatus, StatusCheck};
use crate::retry::{exhausted, retry_at};
use crate::settings::QueueSettings;
use crate::time::after;

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

impl ClaimedRequest {
    /// Reads a row returned by `claim_music_requests`; `None` if a column is missing.
    pub fn from_row(row: &Value) -> Option<ClaimedRequest> {
        let count = |column: &str| row[column].as_u64().and_then(|n| u32::try_from(n).ok());
        Some(ClaimedRequest {
            id: row["id"].as_str()?.to_owned(),
            attempts: count("attempts")?,
            max_attempts: count("max_attempts")?,
        })
    }
}

/// What the worker should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Check the provider (the credit endpoint), then report with [`Planner::record_probe`].
    Probe,
    /// Claim the submitted tasks that are due for a read, then report their ids with
    /// [`Planner::record_polls`].
    ClaimPolls,
    /// Read this task, decide and write what follows, then report with
    /// [`Planner::record_read`].
    Read {
        /// The request id.
        id: String,
    },
    /// Claim up to `limit` waiting requests, then report them with [`Planner::record_claim`].
    Claim {
        /// The most to claim.
        limit: u32,
    },
    /// Take a token from the shared bucket, then report with [`Planner::record_token`].
    TakeToken,
    /// Submit this request now, then report with [`Planner::record_submit`].
    Submit {
        /// The request id.
        id: String,
    },
    /// Sleep until `until_ms`, then ask again.
    Wait {
        /// Epoch ms.
        until_ms: i64,
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
    /// The circuit is open after repeated failures, or a probe failed.
    CircuitOpen,
    /// A rate-limit cool-down is running, or the shared token bucket is empty for too long.
    RateLimited,
    /// The provider is in maintenance.
    Maintenance,
    /// The provider refused our key or our credits.
    Paused,
    /// The run's time budget is spent.
    OutOfTime,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Everything due was handled (or there was nothing to claim).
    Drained,
    /// The provider cannot take requests now; nothing was claimed, or the rest was deferred.
    ProviderUnavailable,
    /// An admin paused the queue: tasks were read, nothing was claimed.
    QueuePaused,
    /// The time budget is spent; the rest was deferred.
    OutOfTime,
    /// The run claimed the queue's `max_per_run`; the rest waits for the next run.
    CapReached,
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
/// `status_after` is the provider status once the outcome was observed: deferrals last until
/// its pause ends. `seed` jitters the backoff.
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

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before claiming the due reads.
    Start,
    /// Reading the claimed tasks.
    Reading,
    /// Before claiming requests.
    Claiming,
    /// Submitting the claimed requests.
    Submitting,
}

/// The plan of one worker run. See the module docs for the loop.
#[derive(Debug, Clone)]
pub struct Planner {
    config: Config,
    queue: QueueSettings,
    status: ProviderStatus,
    phase: Phase,
    reads: VecDeque<String>,
    waiting: VecDeque<ClaimedRequest>,
    sent: Vec<ClaimedRequest>,
    /// Requests claimed by this run so far, across batches (for `max_per_run`).
    claimed: u32,
    /// The last claim returned fewer rows than asked: nothing more is due.
    queue_emptied: bool,
    deadline_ms: i64,
    last_submit_ms: Option<i64>,
    token: Token,
    probe: Probe,
    checks: Vec<StatusCheck>,
    stopped: Option<StopReason>,
}

/// The run's one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    NotAsked,
    Asked,
    Healthy,
    Failed,
}

/// The token for the next submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// None held: take one before submitting.
    None,
    /// Held: submit now.
    Held,
    /// Refused: take again at this time.
    RefusedUntil(i64),
}

impl Planner {
    /// A plan for one run starting at `started_ms`, with the provider `status` and the
    /// `queue` row as read at the start.
    pub fn new(
        status: ProviderStatus,
        queue: &QueueSettings,
        config: &Config,
        started_ms: i64,
    ) -> Planner {
        Planner {
            config: config.clone(),
            queue: queue.clone(),
            status,
            phase: Phase::Start,
            reads: VecDeque::new(),
            waiting: VecDeque::new(),
            sent: Vec::new(),
            claimed: 0,
            queue_emptied: false,
            deadline_ms: after(started_ms, config.worker_budget_ms),
            last_submit_ms: None,
            token: Token::None,
            probe: Probe::NotAsked,
            checks: Vec::new(),
            stopped: None,
        }
    }

    /// The provider status as updated by everything recorded so far.
    pub fn status(&self) -> &ProviderStatus {
        &self.status
    }

    /// The checks observed since the last call, to record in order with
    /// `record_suno_status_check`.
    pub fn take_checks(&mut self) -> Vec<StatusCheck> {
        std::mem::take(&mut self.checks)
    }

    /// The next step at `now_ms`. After [`Step::Stop`] every call returns the same stop.
    pub fn next(&mut self, now_ms: i64) -> Step {
        if let Some(reason) = self.stopped {
            return Step::Stop { reason };
        }
        if self.needs_probe(now_ms) {
            self.probe = Probe::Asked;
            return Step::Probe;
        }
        match self.phase {
            Phase::Start => self.start_reading(now_ms),
            Phase::Reading => self.next_read(now_ms),
            Phase::Claiming => self.claim(now_ms),
            Phase::Submitting => self.next_submit(now_ms),
        }
    }

    /// Reports the outcome of a [`Step::Probe`] (see [`crate::classify::classify_credits`]).
    pub fn record_probe(&mut self, outcome: &Classification, facts: &CallFacts, now_ms: i64) {
        self.observe(outcome, facts, now_ms);
        // A healthy check always resets the streak; any failure leaves it at 1 or more.
        self.probe = if self.status.consecutive_failures == 0 {
            Probe::Healthy
        } else {
            Probe::Failed
        };
    }

    /// Reports the requests whose tasks were claimed for a read (in claim order).
    pub fn record_polls(&mut self, ids: Vec<String>) {
        self.reads = ids.into();
        self.phase = Phase::Reading;
    }

    /// Reports one read of a [`Step::Read`]: `outcome` is the *call's* outcome
    /// ([`crate::poll::PollResult::call_outcome`]), not the task's.
    pub fn record_read(&mut self, outcome: &Classification, facts: &CallFacts, now_ms: i64) {
        self.observe(outcome, facts, now_ms);
    }

    /// Reports the requests a [`Step::Claim`] returned (in claim order).
    pub fn record_claim(&mut self, claimed: Vec<ClaimedRequest>) {
        let count = u32::try_from(claimed.len()).unwrap_or(u32::MAX);
        self.queue_emptied = count < self.claim_limit();
        self.claimed = self.claimed.saturating_add(count);
        self.waiting = claimed.into();
        self.phase = Phase::Submitting;
    }

    /// Reports a [`Step::TakeToken`]: `granted`, or refused with the bucket's `wait_ms`.
    pub fn record_token(&mut self, granted: bool, wait_ms: u64, now_ms: i64) {
        self.token = if granted {
            Token::Held
        } else {
            Token::RefusedUntil(after(now_ms, wait_ms.max(1)))
        };
    }

    /// Reports the outcome of a [`Step::Submit`] and returns what to do with that request.
    pub fn record_submit(
        &mut self,
        id: &str,
        outcome: &Classification,
        facts: &CallFacts,
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
                attempts: 1,
                max_attempts: 1,
            });
        self.observe(outcome, facts, now_ms);
        decide_submit(&request, outcome, &self.status, now_ms, seed, &self.config)
    }

    fn observe(&mut self, outcome: &Classification, facts: &CallFacts, now_ms: i64) {
        let policy = self.config.circuit_policy();
        let (status, check) = self.status.check(outcome, facts, now_ms, &policy);
        self.status = status;
        self.checks.push(check);
    }

    /// A stale status is probed once per run, before anything else goes out.
    fn needs_probe(&self, now_ms: i64) -> bool {
        let circuit = self.status.circuit(now_ms, &self.config.circuit_policy());
        self.probe == Probe::NotAsked && circuit == Circuit::HalfOpen
    }

    /// Whether calls may go out now, and if not, until when and why. A failed probe blocks
    /// the run even when the status it left looks usable: one probe decides.
    fn blocked(&self, now_ms: i64) -> Option<(i64, DeferReason)> {
        let retry_later = after(now_ms, self.config.status_max_age_ms);
        match self.status.circuit(now_ms, &self.config.circuit_policy()) {
            Circuit::Closed if self.probe != Probe::Failed => None,
            Circuit::Open { until_ms } => Some((until_ms, self.pause_reason())),
            Circuit::Closed | Circuit::HalfOpen => Some((retry_later, self.pause_reason())),
        }
    }

    fn start_reading(&mut self, now_ms: i64) -> Step {
        // Reads are not limited by a cool-down (it concerns submits), only by the provider
        // being down, paused or in maintenance.
        let reads_blocked =
            self.blocked(now_ms).is_some() && self.status.pause_kind != Some(PauseKind::Cooldown);
        if reads_blocked || now_ms >= self.deadline_ms {
            self.phase = Phase::Claiming;
            return self.claim(now_ms);
        }
        self.phase = Phase::Reading;
        Step::ClaimPolls
    }

    fn next_read(&mut self, now_ms: i64) -> Step {
        if now_ms >= self.deadline_ms {
            // Unread tasks come due again by themselves.
            return self.stop(StopReason::OutOfTime);
        }
        match self.reads.pop_front() {
            Some(id) => Step::Read { id },
            None => {
                self.phase = Phase::Claiming;
                self.claim(now_ms)
            }
        }
    }

    fn claim(&mut self, now_ms: i64) -> Step {
        if self.queue.paused {
            return self.stop(StopReason::QueuePaused);
        }
        if self.blocked(now_ms).is_some() {
            return self.stop(StopReason::ProviderUnavailable);
        }
        if now_ms >= self.deadline_ms {
            return self.stop(StopReason::OutOfTime);
        }
        Step::Claim {
            limit: self.claim_limit(),
        }
    }

    /// The next batch: `batch_size`, or less when the run's cap is nearer.
    fn claim_limit(&self) -> u32 {
        match self.queue.max_per_run {
            Some(cap) => self.queue.batch_size.min(cap.saturating_sub(self.claimed)),
            None => self.queue.batch_size,
        }
    }

    /// A batch is sent: claim the next while the budget lasts, unless the last claim came
    /// back short (nothing more is due) or the run's cap is reached.
    fn after_batch(&mut self, now_ms: i64) -> Step {
        if self.queue_emptied {
            return self.stop(StopReason::Drained);
        }
        if self.claim_limit() == 0 {
            return self.stop(StopReason::CapReached);
        }
        self.phase = Phase::Claiming;
        self.claim(now_ms)
    }

    fn next_submit(&mut self, now_ms: i64) -> Step {
        if self.waiting.is_empty() {
            return self.after_batch(now_ms);
        }
        if let Some((until_ms, reason)) = self.blocked(now_ms) {
            return self.defer_all(until_ms, reason, StopReason::ProviderUnavailable);
        }
        let slot = self
            .last_submit_ms
            .map_or(now_ms, |last| after(last, self.queue.submit_spacing_ms));
        let slot = match self.token {
            Token::RefusedUntil(at) => slot.max(at),
            Token::None | Token::Held => slot,
        };
        if now_ms >= self.deadline_ms || slot > self.deadline_ms {
            let refused = matches!(self.token, Token::RefusedUntil(at) if at > self.deadline_ms);
            let (until_ms, reason) = if refused {
                (slot, DeferReason::RateLimited)
            } else {
                (now_ms, DeferReason::OutOfTime)
            };
            return self.defer_all(until_ms, reason, StopReason::OutOfTime);
        }
        if now_ms < slot {
            return Step::Wait { until_ms: slot };
        }
        if self.token != Token::Held {
            return Step::TakeToken;
        }
        self.token = Token::None;
        let request = self.waiting.pop_front().expect("checked non-empty above");
        let id = request.id.clone();
        self.sent.push(request);
        self.last_submit_ms = Some(now_ms);
        Step::Submit { id }
    }

    fn pause_reason(&self) -> DeferReason {
        match self.status.state {
            ProviderState::RateLimited => DeferReason::RateLimited,
            ProviderState::Maintenance => DeferReason::Maintenance,
            ProviderState::Unauthorized | ProviderState::NoCredits => DeferReason::Paused,
            ProviderState::Up | ProviderState::Degraded | ProviderState::Down => {
                match self.status.pause_kind {
                    Some(PauseKind::Cooldown) => DeferReason::RateLimited,
                    Some(PauseKind::Maintenance) => DeferReason::Maintenance,
                    Some(PauseKind::Config) => DeferReason::Paused,
                    Some(PauseKind::Circuit) | None => DeferReason::CircuitOpen,
                }
            }
        }
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
            pause_kind: None,
        }
    }

    fn paused(state: ProviderState, kind: PauseKind, until_ms: i64) -> ProviderStatus {
        ProviderStatus {
            state,
            paused_until_ms: Some(until_ms),
            pause_kind: Some(kind),
            ..healthy()
        }
    }

    fn queue() -> QueueSettings {
        QueueSettings {
            name: "default".into(),
            paused: false,
            batch_size: 5,
            submit_spacing_ms: 2_000,
            max_per_run: None,
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

    fn planner(status: ProviderStatus) -> Planner {
        Planner::new(status, &queue(), &Config::default(), NOW)
    }

    /// A healthy planner past the read phase with `ids` claimed.
    fn claiming(ids: &[&str]) -> Planner {
        let mut plan = planner(healthy());
        assert_eq!(plan.next(NOW), Step::ClaimPolls);
        plan.record_polls(vec![]);
        assert_eq!(plan.next(NOW), Step::Claim { limit: 5 });
        plan.record_claim(claimed(ids));
        plan
    }

    /// Takes a granted token and expects the submit of `id`.
    fn submit_with_token(plan: &mut Planner, id: &str, now: i64) {
        assert_eq!(plan.next(now), Step::TakeToken);
        plan.record_token(true, 0, now);
        assert_eq!(plan.next(now), Step::Submit { id: id.into() });
    }

    fn stop(reason: StopReason) -> Step {
        Step::Stop { reason }
    }

    fn ok() -> CallFacts {
        CallFacts::default()
    }

    #[test]
    fn a_healthy_run_reads_then_claims_then_submits_each_after_a_token() {
        let mut plan = planner(healthy());
        assert_eq!(plan.next(NOW), Step::ClaimPolls);
        plan.record_polls(vec!["p".into()]);
        assert_eq!(plan.next(NOW), Step::Read { id: "p".into() });
        plan.record_read(&Classification::ok(), &ok(), NOW);
        assert_eq!(plan.next(NOW + 100), Step::Claim { limit: 5 });
        plan.record_claim(claimed(&["a", "b"]));
        submit_with_token(&mut plan, "a", NOW + 100);
        let decision = plan.record_submit("a", &Classification::ok(), &ok(), NOW + 100, 1);
        assert_eq!(decision, RequestDecision::Submitted);
        assert_eq!(
            plan.next(NOW + 200),
            Step::Wait {
                until_ms: NOW + 2_100
            }
        );
        submit_with_token(&mut plan, "b", NOW + 2_100);
        plan.record_submit("b", &Classification::ok(), &ok(), NOW + 2_100, 1);
        assert_eq!(plan.next(NOW + 2_200), stop(StopReason::Drained));
        assert_eq!(plan.next(NOW + 9_999), stop(StopReason::Drained));
    }

    #[test]
    fn a_refused_token_becomes_a_wait_then_a_new_take() {
        let mut plan = claiming(&["a"]);
        assert_eq!(plan.next(NOW), Step::TakeToken);
        plan.record_token(false, 700, NOW);
        assert_eq!(
            plan.next(NOW),
            Step::Wait {
                until_ms: NOW + 700
            }
        );
        submit_with_token(&mut plan, "a", NOW + 700);
    }

    #[test]
    fn a_token_refused_past_the_deadline_defers_the_rest_as_rate_limited() {
        let config = Config {
            worker_budget_ms: 3_000,
            ..Config::default()
        };
        let mut plan = Planner::new(healthy(), &queue(), &config, NOW);
        plan.next(NOW);
        plan.record_polls(vec![]);
        plan.next(NOW);
        plan.record_claim(claimed(&["a", "b"]));
        assert_eq!(plan.next(NOW), Step::TakeToken);
        plan.record_token(false, 5_000, NOW);
        assert_eq!(
            plan.next(NOW),
            Step::Defer {
                ids: vec!["a".into(), "b".into()],
                until_ms: NOW + 5_000,
                reason: DeferReason::RateLimited
            }
        );
    }

    #[test]
    fn a_stale_status_is_probed_before_anything_else() {
        let stale = ProviderStatus {
            last_check_ms: None,
            ..healthy()
        };
        let mut plan = planner(stale);
        assert_eq!(plan.next(NOW), Step::Probe);
        plan.record_probe(&Classification::ok(), &ok(), NOW);
        assert_eq!(plan.next(NOW), Step::ClaimPolls);
    }

    #[test]
    fn a_failed_half_open_probe_claims_and_sends_nothing() {
        let stale = ProviderStatus {
            last_check_ms: Some(NOW - 120_000),
            ..healthy()
        };
        let mut plan = planner(stale);
        assert_eq!(plan.next(NOW), Step::Probe);
        plan.record_probe(&classify_http_status(503), &ok(), NOW);
        // One failure leaves the status "degraded" and fresh, which alone would submit.
        assert_eq!(plan.status().state, ProviderState::Degraded);
        assert_eq!(plan.next(NOW), stop(StopReason::ProviderUnavailable));
    }

    #[test]
    fn an_open_circuit_neither_reads_nor_claims() {
        let down = paused(ProviderState::Down, PauseKind::Circuit, NOW + 60_000);
        assert_eq!(
            planner(down).next(NOW),
            stop(StopReason::ProviderUnavailable)
        );
    }

    #[test]
    fn a_cooldown_still_reads_but_claims_nothing() {
        let cooling = paused(ProviderState::Up, PauseKind::Cooldown, NOW + 30_000);
        let mut plan = planner(cooling);
        assert_eq!(plan.next(NOW), Step::ClaimPolls);
        plan.record_polls(vec![]);
        assert_eq!(plan.next(NOW), stop(StopReason::ProviderUnavailable));
    }

    #[test]
    fn a_paused_queue_reads_but_claims_nothing() {
        let held = QueueSettings {
            paused: true,
            ..queue()
        };
        let mut plan = Planner::new(healthy(), &held, &Config::default(), NOW);
        assert_eq!(plan.next(NOW), Step::ClaimPolls);
        plan.record_polls(vec![]);
        assert_eq!(plan.next(NOW), stop(StopReason::QueuePaused));
    }

    #[test]
    fn one_deadline_covers_reads_and_submits() {
        let config = Config {
            worker_budget_ms: 3_000,
            ..Config::default()
        };
        let mut plan = Planner::new(healthy(), &queue(), &config, NOW);
        assert_eq!(plan.next(NOW), Step::ClaimPolls);
        plan.record_polls(vec!["p1".into(), "p2".into()]);
        assert_eq!(plan.next(NOW), Step::Read { id: "p1".into() });
        plan.record_read(&Classification::ok(), &ok(), NOW + 3_000);
        assert_eq!(plan.next(NOW + 3_000), stop(StopReason::OutOfTime));
    }

    #[test]
    fn a_rate_limit_mid_batch_defers_the_rest_without_attempts() {
        let mut plan = claiming(&["a", "b", "c"]);
        submit_with_token(&mut plan, "a", NOW);
        let limited = classify_body(430, "too frequent");
        let decision = plan.record_submit("a", &limited, &ok(), NOW, 7);
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
        assert_eq!(plan.next(NOW + 100), stop(StopReason::ProviderUnavailable));
    }

    #[test]
    fn a_transient_failure_retries_with_backoff_and_the_batch_goes_on() {
        let mut plan = claiming(&["a", "b"]);
        submit_with_token(&mut plan, "a", NOW);
        let decision = plan.record_submit("a", &classify_http_status(502), &ok(), NOW, 3);
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
        submit_with_token(&mut plan, "b", NOW + 2_000);
    }

    #[test]
    fn the_last_attempt_failing_fails_the_request() {
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
    fn a_fatal_request_fails_at_once_and_the_provider_stays_up() {
        let mut plan = claiming(&["a"]);
        submit_with_token(&mut plan, "a", NOW);
        let refused = classify_body(413, "prompt too long");
        let decision = plan.record_submit("a", &refused, &ok(), NOW, 0);
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
    fn a_lost_submit_waits_for_a_callback() {
        let mut plan = claiming(&["a"]);
        submit_with_token(&mut plan, "a", NOW);
        let lost = classify_transport(TransportFailure::LostAfterSend, Endpoint::Generate);
        let decision = plan.record_submit("a", &lost, &ok(), NOW, 0);
        assert!(
            matches!(decision, RequestDecision::AwaitCallback { until_ms, .. } if until_ms == NOW + 300_000),
            "{decision:?}"
        );
    }

    #[test]
    fn an_unauthorized_submit_pauses_and_defers_the_rest() {
        let mut plan = claiming(&["a", "b"]);
        submit_with_token(&mut plan, "a", NOW);
        let refused = classify_body(401, "invalid key");
        let decision = plan.record_submit("a", &refused, &ok(), NOW, 0);
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
    fn the_time_budget_hands_the_rest_back() {
        let config = Config {
            worker_budget_ms: 3_000,
            ..Config::default()
        };
        let mut plan = Planner::new(healthy(), &queue(), &config, NOW);
        plan.next(NOW);
        plan.record_polls(vec![]);
        plan.next(NOW);
        plan.record_claim(claimed(&["a", "b", "c"]));
        submit_with_token(&mut plan, "a", NOW);
        submit_with_token(&mut plan, "b", NOW + 2_000);
        assert_eq!(
            plan.next(NOW + 2_500),
            Step::Defer {
                ids: vec!["c".into()],
                until_ms: NOW + 2_500,
                reason: DeferReason::OutOfTime
            }
        );
        assert_eq!(plan.next(NOW + 2_500), stop(StopReason::OutOfTime));
    }

    /// Submits every id in order with a granted token, each 2 s after the last.
    fn submit_all(plan: &mut Planner, ids: &[&str], mut now: i64) -> i64 {
        for id in ids {
            if let Step::Wait { until_ms } = plan.next(now) {
                now = until_ms;
            }
            submit_with_token(plan, id, now);
            plan.record_submit(id, &Classification::ok(), &ok(), now, 1);
        }
        now
    }

    #[test]
    fn a_full_batch_is_followed_by_another_claim_while_the_budget_lasts() {
        let mut plan = claiming(&["a", "b", "c", "d", "e"]);
        let now = submit_all(&mut plan, &["a", "b", "c", "d", "e"], NOW);
        assert_eq!(plan.next(now + 1), Step::Claim { limit: 5 });
        plan.record_claim(claimed(&["f"]));
        // The spacing runs on from the last batch's submit.
        assert_eq!(
            plan.next(now + 1),
            Step::Wait {
                until_ms: now + 2_000
            }
        );
        submit_all(&mut plan, &["f"], now + 2_000);
        // A short batch means nothing more is due.
        assert_eq!(plan.next(now + 2_100), stop(StopReason::Drained));
    }

    #[test]
    fn max_per_run_caps_the_claims_of_a_run() {
        let capped = QueueSettings {
            max_per_run: Some(7),
            ..queue()
        };
        let mut plan = Planner::new(healthy(), &capped, &Config::default(), NOW);
        plan.next(NOW);
        plan.record_polls(vec![]);
        assert_eq!(plan.next(NOW), Step::Claim { limit: 5 });
        plan.record_claim(claimed(&["a", "b", "c", "d", "e"]));
        let now = submit_all(&mut plan, &["a", "b", "c", "d", "e"], NOW);
        assert_eq!(plan.next(now + 1), Step::Claim { limit: 2 });
        plan.record_claim(claimed(&["f", "g"]));
        let now = submit_all(&mut plan, &["f", "g"], now + 1);
        assert_eq!(plan.next(now + 1), stop(StopReason::CapReached));
    }

    #[test]
    fn a_cap_of_five_is_the_seeds_five_per_run() {
        let seed = QueueSettings {
            max_per_run: Some(5),
            ..queue()
        };
        let mut plan = Planner::new(healthy(), &seed, &Config::default(), NOW);
        plan.next(NOW);
        plan.record_polls(vec![]);
        assert_eq!(plan.next(NOW), Step::Claim { limit: 5 });
        plan.record_claim(claimed(&["a", "b", "c", "d", "e"]));
        let now = submit_all(&mut plan, &["a", "b", "c", "d", "e"], NOW);
        assert_eq!(plan.next(now + 1), stop(StopReason::CapReached));
    }

    #[test]
    fn batches_stop_when_the_budget_is_spent() {
        let config = Config {
            worker_budget_ms: 9_000,
            ..Config::default()
        };
        let mut plan = Planner::new(healthy(), &queue(), &config, NOW);
        plan.next(NOW);
        plan.record_polls(vec![]);
        plan.next(NOW);
        plan.record_claim(claimed(&["a", "b", "c", "d", "e"]));
        let now = submit_all(&mut plan, &["a", "b", "c", "d", "e"], NOW);
        assert_eq!(now, NOW + 8_000);
        assert_eq!(plan.next(NOW + 9_000), stop(StopReason::OutOfTime));
    }

    #[test]
    fn nothing_claimed_stops_at_once() {
        let mut plan = claiming(&[]);
        assert_eq!(plan.next(NOW), stop(StopReason::Drained));
    }

    #[test]
    fn every_call_becomes_a_check_to_record() {
        let stale = ProviderStatus {
            last_check_ms: None,
            ..healthy()
        };
        let mut plan = planner(stale);
        plan.next(NOW);
        let facts = CallFacts {
            response_ms: Some(120),
            http_status: Some(200),
            credits: Some(500.0),
        };
        plan.record_probe(&Classification::ok(), &facts, NOW);
        plan.next(NOW);
        plan.record_polls(vec!["p".into()]);
        plan.next(NOW);
        plan.record_read(&classify_http_status(503), &ok(), NOW);
        let checks = plan.take_checks();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].p_credits, Some(500.0));
        assert_eq!(checks[1].p_state, ProviderState::Degraded);
        assert!(plan.take_checks().is_empty());
    }

    #[test]
    fn a_read_of_a_failed_task_is_a_healthy_call() {
        let failed_task = serde_json::json!({"code": 200, "msg": "success", "data": {
            "taskId": "t1", "status": "GENERATE_AUDIO_FAILED", "errorCode": 531,
            "errorMessage": "failed"}});
        let read = crate::poll::PollResult::from_http(200, failed_task.to_string().as_bytes());
        let mut plan = planner(healthy());
        plan.next(NOW);
        plan.record_polls(vec!["a".into(), "b".into(), "c".into()]);
        for _ in 0..3 {
            assert!(matches!(plan.next(NOW), Step::Read { .. }));
            plan.record_read(&read.call_outcome(), &ok(), NOW);
        }
        assert_eq!(plan.status().state, ProviderState::Up);
        assert_eq!(plan.next(NOW), Step::Claim { limit: 5 });
        let lost = crate::poll::PollResult::Transport(TransportFailure::NotSent);
        assert_eq!(lost.call_outcome().class, Class::Retryable);
    }

    #[test]
    fn a_claimed_row_is_read_from_postgrest() {
        let row = serde_json::json!({"id": "0b6c", "attempts": 2, "max_attempts": 3, "status": "processing"});
        assert_eq!(
            ClaimedRequest::from_row(&row),
            Some(ClaimedRequest {
                id: "0b6c".into(),
                attempts: 2,
                max_attempts: 3
            })
        );
        assert_eq!(
            ClaimedRequest::from_row(&serde_json::json!({"id": 1})),
            None
        );
    }

    #[test]
    fn steps_serialize_with_a_tag() {
        let json = serde_json::to_value(Step::Submit { id: "a".into() }).unwrap();
        assert_eq!(json, serde_json::json!({"step": "submit", "id": "a"}));
        let json = serde_json::to_value(Step::Claim { limit: 5 }).unwrap();
        assert_eq!(json, serde_json::json!({"step": "claim", "limit": 5}));
    }
}
