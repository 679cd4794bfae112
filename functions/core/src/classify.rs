//! What every provider outcome means, and what to do about it.
//!
//! Each signal (a transport failure, an HTTP status, an envelope `code` and `msg`, a task
//! status with its `errorCode`, a callback, a credit balance) maps to one [`Class`] of the
//! provider reference, the [`Action`] that class implies and a stable `code` for storage
//! (`error_code` column, events, metrics). Nothing here decides *when*: backoff lives in
//! [`crate::retry`], provider-wide state in [`crate::health`], per-request decisions in
//! [`crate::plan`] and [`crate::poll`].

use serde::{Deserialize, Serialize};

use crate::suno::{Callback, CallbackStage, Endpoint, ProviderError, TaskInfo, TaskStatus};

/// A call that got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportFailure {
    /// Nothing reached the provider: DNS, refused connection, TLS, timeout while connecting.
    NotSent,
    /// The request may have arrived: timeout or reset after the body was sent. A shell that
    /// cannot tell should report this one; it is the safe side for a charged call.
    LostAfterSend,
}

/// Which part of our own setup the provider refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigFault {
    /// The key is wrong or revoked (code 401, HTTP 401/403).
    Unauthorized,
    /// The base URL or path is wrong (code 404, HTTP 404/405/410, redirects).
    BadEndpoint,
    /// The callback URL was refused (code 422 mentioning `callBackUrl`).
    CallbackUrl,
    /// The account is out of credits (code 429 with credits wording, or a low balance).
    NoCredits,
}

/// The classes of the provider reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", content = "fault", rename_all = "snake_case")]
pub enum Class {
    /// It worked (or is progressing normally).
    Ok,
    /// A transient failure: try again later; counts an attempt.
    Retryable,
    /// The outcome is unknown and repeating could charge twice.
    Ambiguous,
    /// The provider asks us to slow down; no attempt is used.
    RateLimited,
    /// The provider is in maintenance; no attempt is used.
    Maintenance,
    /// Our configuration is wrong; no request is to blame and none is failed.
    FatalConfig(ConfigFault),
    /// This request cannot succeed as it is: fail it now with a fallback.
    FatalRequest,
    /// Looks like an error but is not one (`CALLBACK_EXCEPTION`).
    NotAFailure,
    /// An answer that should not happen (success without audio, task not found).
    Anomaly,
    /// No terminal state long after submitting.
    Stuck,
}

impl Class {
    /// The snake_case name, e.g. `fatal_config`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Retryable => "retryable",
            Class::Ambiguous => "ambiguous",
            Class::RateLimited => "rate_limited",
            Class::Maintenance => "maintenance",
            Class::FatalConfig(_) => "fatal_config",
            Class::FatalRequest => "fatal_request",
            Class::NotAFailure => "not_a_failure",
            Class::Anomaly => "anomaly",
            Class::Stuck => "stuck",
        }
    }
}

/// What the caller should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Use the answer (a task id, a credit balance).
    Proceed,
    /// The task is done: store its clips.
    Complete,
    /// The task is progressing: poll again later.
    KeepPolling,
    /// A callback woke us: read `record-info` now, it is the truth.
    ReadTaskNow,
    /// Try again after an exponential backoff with jitter; counts an attempt.
    RetryWithBackoff,
    /// Do not resubmit now: wait for a callback, then resubmit once if none came.
    AwaitCallback,
    /// Defer without using an attempt and start a global cool-down.
    CoolDown,
    /// Open the circuit for minutes, defer without using an attempt, probe later.
    OpenCircuit,
    /// Pause the whole queue and alert an operator; keep attempts, fail nothing.
    PauseQueue,
    /// Fail the request now with the reason and attach a fallback track.
    FailWithFallback,
    /// Read the task again a few times, then fail it as lost.
    Reread,
    /// Resubmit once, flagged; fail if it was already resubmitted.
    ResubmitOnce,
}

impl Action {
    /// Whether following this action spends one of the request's attempts.
    pub fn counts_attempt(self) -> bool {
        matches!(self, Action::RetryWithBackoff | Action::ResubmitOnce)
    }
}

/// The meaning of one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The reference class.
    #[serde(flatten)]
    pub class: Class,
    /// What to do.
    pub action: Action,
    /// Stable code for storage, e.g. `provider_rate_limited`.
    pub code: &'static str,
    /// What happened, for people (operators, logs, the request's history).
    pub message: String,
    /// A `Retry-After` the provider sent, in milliseconds: waits are never shorter.
    pub retry_after_ms: Option<u64>,
}

impl Classification {
    fn new(class: Class, action: Action, code: &'static str, message: impl Into<String>) -> Self {
        Classification {
            class,
            action,
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A plain success: use the answer.
    pub fn ok() -> Classification {
        Classification::new(Class::Ok, Action::Proceed, "ok", "ok")
    }

    /// A task with no terminal state long after it was submitted.
    pub fn stuck(waited_ms: u64) -> Classification {
        let minutes = waited_ms / 60_000;
        let message = format!("no terminal state {minutes} min after submitting");
        Classification::new(Class::Stuck, Action::ResubmitOnce, "task_stuck", message)
    }

    /// Attaches a `Retry-After` given by the provider (already converted to milliseconds).
    pub fn with_retry_after(mut self, retry_after_ms: Option<u64>) -> Classification {
        self.retry_after_ms = retry_after_ms;
        self
    }

    /// Whether the class is [`Class::Ok`].
    pub fn is_ok(&self) -> bool {
        self.class == Class::Ok
    }
}

fn retryable(code: &'static str, message: String) -> Classification {
    Classification::new(Class::Retryable, Action::RetryWithBackoff, code, message)
}

fn rate_limited(message: String) -> Classification {
    Classification::new(
        Class::RateLimited,
        Action::CoolDown,
        "provider_rate_limited",
        message,
    )
}

fn maintenance(message: String) -> Classification {
    Classification::new(
        Class::Maintenance,
        Action::OpenCircuit,
        "provider_maintenance",
        message,
    )
}

fn fatal_config(fault: ConfigFault, message: String) -> Classification {
    let code = match fault {
        ConfigFault::Unauthorized => "provider_unauthorized",
        ConfigFault::BadEndpoint => "provider_bad_endpoint",
        ConfigFault::CallbackUrl => "provider_callback_url_rejected",
        ConfigFault::NoCredits => "provider_no_credits",
    };
    Classification::new(Class::FatalConfig(fault), Action::PauseQueue, code, message)
}

fn fatal_request(code: &'static str, message: String) -> Classification {
    Classification::new(Class::FatalRequest, Action::FailWithFallback, code, message)
}

fn anomaly(code: &'static str, message: String) -> Classification {
    Classification::new(Class::Anomaly, Action::Reread, code, message)
}

fn progress(code: &'static str, message: String) -> Classification {
    Classification::new(Class::Ok, Action::KeepPolling, code, message)
}

/// A call that got no answer at all.
pub fn classify_transport(failure: TransportFailure, endpoint: Endpoint) -> Classification {
    match failure {
        TransportFailure::NotSent => retryable(
            "provider_unreachable",
            "the provider could not be reached".into(),
        ),
        // A lost generate may have created (and charged) a task: never resubmit blindly.
        TransportFailure::LostAfterSend if !endpoint.is_idempotent() => Classification::new(
            Class::Ambiguous,
            Action::AwaitCallback,
            "submit_outcome_unknown",
            "no answer after the request was sent; the task may exist",
        ),
        TransportFailure::LostAfterSend => retryable(
            "provider_timeout",
            "no answer after the request was sent".into(),
        ),
    }
}

/// Any [`ProviderError`] from the response parsers.
pub fn classify_error(error: &ProviderError) -> Classification {
    match error {
        ProviderError::Api { code, msg, .. } => classify_body(*code, msg),
        ProviderError::Http { status, snippet } => {
            let mut classification = classify_http_status(*status);
            if !snippet.is_empty() {
                classification.message = format!("{}: {snippet}", classification.message);
            }
            classification
        }
        ProviderError::NotJson { .. } | ProviderError::Malformed { .. } => {
            retryable("provider_bad_response", error.to_string())
        }
    }
}

/// An HTTP status whose body did not explain itself with an envelope `code`.
pub fn classify_http_status(status: u16) -> Classification {
    let message = format!("HTTP {status}");
    match status {
        200..=299 => Classification::ok(),
        401 | 403 => fatal_config(ConfigFault::Unauthorized, message),
        // A redirect or an unknown path means the base URL is wrong, not the request.
        300..=399 | 404 | 405 | 410 => fatal_config(ConfigFault::BadEndpoint, message),
        408 | 425 => retryable("provider_unavailable", message),
        429 => rate_limited(message),
        413 => fatal_request("prompt_too_long", message),
        400..=499 => fatal_request("provider_bad_request", message),
        _ => retryable("provider_unavailable", message),
    }
}

/// An envelope `code` and `msg` (answers and callbacks).
pub fn classify_body(code: i64, msg: &str) -> Classification {
    let message = format!("provider code {code}: {msg}");
    match code {
        200 => Classification::ok(),
        401 => fatal_config(ConfigFault::Unauthorized, message),
        404 => fatal_config(ConfigFault::BadEndpoint, message),
        405 | 430 => rate_limited(message),
        // sunoapi.org means "out of credits"; kie.ai means "too frequent". Only the wording
        // tells them apart, and credits is checked first because "generate" contains "rate".
        429 if mentions(msg, CREDIT_WORDS) => fatal_config(ConfigFault::NoCredits, message),
        429 if mentions(msg, RATE_WORDS) => rate_limited(message),
        429 => fatal_config(ConfigFault::NoCredits, message),
        455 => maintenance(message),
        413 => fatal_request("prompt_too_long", message),
        422 if mentions(msg, &["callback"]) => fatal_config(ConfigFault::CallbackUrl, message),
        422 if mentions(msg, MISSING_WORDS) => anomaly("task_not_found", message),
        // A server error is the provider's fault whatever its text says ("moderation
        // service timeout"): content words only decide for the other codes.
        500..=599 => retryable("provider_server_error", message),
        _ if mentions(msg, CONTENT_WORDS) => fatal_request("content_rejected", message),
        400 | 422 => fatal_request("provider_bad_request", message),
        // An undocumented code: retrying is bounded by the attempts and pauses nothing.
        _ => retryable("provider_unknown_code", message),
    }
}

/// A task as read from `record-info`.
pub fn classify_task(task: &TaskInfo) -> Classification {
    let status = task.status.as_str();
    match &task.status {
        TaskStatus::Pending | TaskStatus::TextSuccess | TaskStatus::Generating => {
            progress("in_progress", format!("task is {status}"))
        }
        TaskStatus::FirstSuccess => progress("first_clip_ready", "first clip is ready".into()),
        TaskStatus::Success if task.has_audio() => {
            Classification::new(Class::Ok, Action::Complete, "completed", "task succeeded")
        }
        TaskStatus::Success => anomaly("success_without_audio", "SUCCESS without audio".into()),
        TaskStatus::CallbackException => {
            // Our webhook failed, not the generation: the audio may well be there.
            let action = if task.has_audio() {
                Action::Complete
            } else {
                Action::KeepPolling
            };
            let message = "the provider could not deliver our callback";
            Classification::new(Class::NotAFailure, action, "callback_exception", message)
        }
        TaskStatus::SensitiveWordError => fatal_request("content_rejected", task_failure(task)),
        TaskStatus::CreateTaskFailed => failed_task(task, "task_creation_failed"),
        TaskStatus::GenerateAudioFailed | TaskStatus::Failed => {
            failed_task(task, "generation_failed")
        }
        // A status added after this was written: keep polling; the stuck timeout bounds it.
        TaskStatus::Unknown(_) => Classification::new(
            Class::Anomaly,
            Action::KeepPolling,
            "unknown_task_status",
            format!("unknown task status {status:?}"),
        ),
    }
}

fn failed_task(task: &TaskInfo, code: &'static str) -> Classification {
    let message = task_failure(task);
    let refused = matches!(task.error_code, Some(400 | 413))
        || task
            .error_message
            .as_deref()
            .is_some_and(|m| mentions(m, CONTENT_WORDS));
    if refused {
        fatal_request("content_rejected", message)
    } else {
        retryable(code, message)
    }
}

fn task_failure(task: &TaskInfo) -> String {
    let mut message = task.status.to_string();
    if let Some(code) = task.error_code {
        message.push_str(&format!(" (errorCode {code})"));
    }
    if let Some(text) = &task.error_message {
        message.push_str(&format!(": {text}"));
    }
    message
}

/// A `record-info` answer with `data: null`: the task is unknown, or not visible yet right
/// after submitting.
pub fn classify_missing_task() -> Classification {
    anomaly(
        "task_not_found",
        "the provider does not know the task (yet)".to_owned(),
    )
}

/// A callback, for logs and events. Its action is always [`Action::ReadTaskNow`]: a callback
/// is an unsigned wake-up that may repeat, come late or lie, so it never drives a retry, a
/// pause or a failure by itself. The read of `record-info` that follows is the truth, and
/// only that read is decided on ([`crate::poll::decide_poll`]).
pub fn classify_callback(callback: &Callback) -> Classification {
    let mut meaning = callback_meaning(callback);
    meaning.action = Action::ReadTaskNow;
    meaning
}

/// What the callback says happened, before it is reduced to a wake-up.
fn callback_meaning(callback: &Callback) -> Classification {
    let stage = &callback.stage;
    match (callback.code, stage) {
        (200, CallbackStage::Complete) => Classification::new(
            Class::Ok,
            Action::ReadTaskNow,
            "callback_received",
            "complete callback received",
        ),
        (200, CallbackStage::First) => progress("first_clip_ready", "first callback".into()),
        (200, CallbackStage::Error) => {
            callback_failure(&format!("error callback: {}", callback.msg), &callback.msg)
        }
        (200, _) => progress("in_progress", format!("{stage} callback")),
        (500 | 501 | 531, _) => callback_failure(
            &format!("{stage} callback code {}: {}", callback.code, callback.msg),
            &callback.msg,
        ),
        (code, _) => classify_body(code, &callback.msg),
    }
}

fn callback_failure(message: &str, msg: &str) -> Classification {
    if mentions(msg, CONTENT_WORDS) {
        fatal_request("content_rejected", message.to_owned())
    } else {
        retryable("generation_failed", message.to_owned())
    }
}

/// A credit balance against the cost of one generation.
pub fn classify_credits(credits: f64, cost: f64) -> Classification {
    if credits >= cost {
        return Classification::ok();
    }
    let message = format!("{credits} credits left, a generation costs {cost}");
    fatal_config(ConfigFault::NoCredits, message)
}

const CREDIT_WORDS: &[&str] = &["credit", "balance", "insufficient", "recharge", "top up"];
const RATE_WORDS: &[&str] = &[
    "frequen",
    "too many",
    "rate limit",
    "rate-limit",
    "ratelimit",
    "rate exceeded",
    "too fast",
    "throttl",
];
const MISSING_WORDS: &[&str] = &["not exist", "not found", "no record"];
const CONTENT_WORDS: &[&str] = &[
    "sensitive",
    "artist",
    "copyright",
    "inappropriate",
    "prohibited",
    "moderat",
    "content polic",
    "violat",
    "offensive",
];

fn mentions(text: &str, needles: &[&str]) -> bool {
    let text = text.to_lowercase();
    needles.iter().any(|needle| text.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_wording_is_checked_before_rate_wording() {
        let c = classify_body(429, "Insufficient credits to generate");
        assert_eq!(c.class, Class::FatalConfig(ConfigFault::NoCredits));
    }

    #[test]
    fn a_server_error_is_retried_whatever_its_words() {
        for (code, msg) in [
            (500, "moderation service timeout"),
            (503, "artist lookup service down"),
            (531, "policy violation checker unavailable"),
        ] {
            let c = classify_body(code, msg);
            assert_eq!(c.class, Class::Retryable, "{code} {msg}");
            assert_eq!(c.code, "provider_server_error");
        }
        let refused = classify_body(400, "lyrics violate the artist policy");
        assert_eq!(refused.code, "content_rejected");
    }

    #[test]
    fn classification_serializes_flat() {
        let json = serde_json::to_value(classify_body(429, "credits")).unwrap();
        assert_eq!(json["class"], "fatal_config");
        assert_eq!(json["fault"], "no_credits");
        assert_eq!(json["action"], "pause_queue");
        assert_eq!(json["code"], "provider_no_credits");
        let json = serde_json::to_value(Classification::ok()).unwrap();
        assert_eq!(json["class"], "ok");
    }

    #[test]
    fn credit_balance_below_cost_pauses() {
        assert!(classify_credits(12.0, 12.0).is_ok());
        let low = classify_credits(11.0, 12.0);
        assert_eq!(low.code, "provider_no_credits");
        assert_eq!(low.action, Action::PauseQueue);
    }

    #[test]
    fn stuck_resubmits_once() {
        let c = Classification::stuck(900_000);
        assert_eq!(
            (c.class, c.action, c.code),
            (Class::Stuck, Action::ResubmitOnce, "task_stuck")
        );
        assert!(c.message.contains("15 min"));
    }
}
