//! Admission: is a request that just arrived submitted at once, or queued?
//!
//! `emotion-music-ai` stores every request first (durable before any call), then asks
//! [`admit`]. On [`Admission::SubmitNow`] it claims its own row (`claim_music_request`),
//! takes a token (`take_rate_token`) and asks [`after_token`]; any `Enqueue` answers 202
//! with the position and wait that `enqueue_music_request` returned (the SQL owns the wait
//! estimate).

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::health::ProviderStatus;
use crate::time::after;

/// What to do with a request that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "admission", content = "reason", rename_all = "snake_case")]
pub enum Admission {
    /// The provider is healthy and nobody is waiting: submit at once.
    SubmitNow,
    /// Leave it in the queue and answer 202.
    Enqueue(EnqueueReason),
}

/// Why a new request stays in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnqueueReason {
    /// Others are waiting; jumping ahead would be unfair and break the rate limit.
    QueueNotEmpty,
    /// An admin paused the queue.
    QueuePaused,
    /// The provider is down, paused or cooling down.
    ProviderUnavailable,
    /// The provider has not been checked recently enough to trust.
    StatusUnknown,
    /// The shared token bucket refused the submit.
    RateLimited,
}

/// Decides whether a new request is submitted at once or queued.
///
/// `waiting` counts the requests ahead of this one (the new request excluded);
/// `queue_paused` is the `music_queues.paused` flag. The status check runs every minute, so
/// a status up to three check periods old is still trusted here; the worker is stricter and
/// probes after one.
pub fn admit(
    status: &ProviderStatus,
    waiting: u64,
    queue_paused: bool,
    now_ms: i64,
    config: &Config,
) -> Admission {
    if queue_paused {
        return Admission::Enqueue(EnqueueReason::QueuePaused);
    }
    if waiting > 0 {
        return Admission::Enqueue(EnqueueReason::QueueNotEmpty);
    }
    if !status.is_available(now_ms) {
        return Admission::Enqueue(EnqueueReason::ProviderUnavailable);
    }
    let trusted_until = status
        .last_check_ms
        .map(|at| after(at, config.status_max_age_ms.saturating_mul(3)));
    if trusted_until.is_some_and(|until| now_ms <= until) {
        Admission::SubmitNow
    } else {
        Admission::Enqueue(EnqueueReason::StatusUnknown)
    }
}

/// The last gate of an immediate submit: the token bucket's answer.
pub fn after_token(granted: bool) -> Admission {
    if granted {
        Admission::SubmitNow
    } else {
        Admission::Enqueue(EnqueueReason::RateLimited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{PauseKind, ProviderState};

    const NOW: i64 = 1_700_000_000_000;

    fn healthy() -> ProviderStatus {
        ProviderStatus {
            last_check_ms: Some(NOW - 5_000),
            ..ProviderStatus::default()
        }
    }

    #[test]
    fn submits_only_when_healthy_fresh_open_and_nobody_waits() {
        let config = Config::default();
        let admit =
            |status: &ProviderStatus, waiting, paused| admit(status, waiting, paused, NOW, &config);
        assert_eq!(admit(&healthy(), 0, false), Admission::SubmitNow);
        assert_eq!(
            admit(&healthy(), 2, false),
            Admission::Enqueue(EnqueueReason::QueueNotEmpty)
        );
        assert_eq!(
            admit(&healthy(), 0, true),
            Admission::Enqueue(EnqueueReason::QueuePaused)
        );
        let down = ProviderStatus {
            state: ProviderState::Down,
            ..healthy()
        };
        assert_eq!(
            admit(&down, 0, false),
            Admission::Enqueue(EnqueueReason::ProviderUnavailable)
        );
        let cooling = ProviderStatus {
            paused_until_ms: Some(NOW + 1_000),
            pause_kind: Some(PauseKind::Cooldown),
            ..healthy()
        };
        assert_eq!(
            admit(&cooling, 0, false),
            Admission::Enqueue(EnqueueReason::ProviderUnavailable)
        );
        let old = ProviderStatus {
            last_check_ms: Some(NOW - 600_000),
            ..healthy()
        };
        assert_eq!(
            admit(&old, 0, false),
            Admission::Enqueue(EnqueueReason::StatusUnknown)
        );
    }

    #[test]
    fn a_refused_token_queues_the_request() {
        assert_eq!(after_token(true), Admission::SubmitNow);
        assert_eq!(
            after_token(false),
            Admission::Enqueue(EnqueueReason::RateLimited)
        );
    }
}
