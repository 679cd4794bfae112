//! Following a submitted task: what to do with one `record-info` read.
//!
//! The provider finishes a task 1–3 minutes after submit. Callbacks wake us, polling is the
//! fallback, and the read is the truth either way. [`decide_poll`] turns one read (or a failed
//! read) into a [`PollDecision`]: complete, progress, retry the generation, re-read an
//! anomaly, resubmit a stuck task once, fail, or hold when the read itself failed. Writing the
//! decision is the shell's job; provider-wide bookkeeping of the read goes through
//! [`crate::plan::Planner::record_read`] with [`PollResult::call_outcome`].
//!
//! The counters these decisions need are stored with the request
//! ([`SubmittedTask::from_row`] reads them back), and each decision maps to one SQL
//! transition:
//!
//! | decision | RPC |
//! |---|---|
//! | `Complete` | `complete_music_request` |
//! | `Progress` | `record_music_request_progress`, then `schedule_music_poll(next_poll)` |
//! | `Reread` | `schedule_music_poll(at, p_reread => true)` (counts `poll_rereads`) |
//! | `Hold` | `schedule_music_poll(until)` |
//! | `Retry` | `retry_music_request` |
//! | `Resubmit` | `resubmit_stuck_music_request` (sets `stuck_resubmits`) |
//! | `Fail` | `fail_music_request` |

use serde::{Deserialize, Serialize};

use crate::classify::{
    classify_error, classify_missing_task, classify_task, classify_transport, Action, Class,
    Classification, TransportFailure,
};
use crate::config::Config;
use crate::retry::{exhausted, retry_at};
use crate::suno::{parse_record_info, Clip, Endpoint, ProviderError, RecordInfo, TaskStatus};
use crate::time::parse_iso8601_ms;

/// How many times an anomaly (task not found, success without audio) is read again before the
/// task is declared lost. With the default poll interval that is about a minute.
pub const ANOMALY_REREADS: u32 = 3;

/// What the queue knows about a submitted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedTask {
    /// Attempts used so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// When the current task was submitted, epoch ms.
    pub submitted_at_ms: i64,
    /// Anomalous reads so far for the current task.
    pub rereads: u32,
    /// The request was already resubmitted once because a task was stuck.
    pub resubmitted_when_stuck: bool,
}

/// Why a stored row could not be read as a [`SubmittedTask`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRowError {
    /// A column is missing or has the wrong type.
    #[error("stored request: {0}")]
    Shape(String),
    /// The request has no submit time: it is not a submitted task.
    #[error("stored request: not submitted (no submitted_at)")]
    NotSubmitted,
    /// `submitted_at` is not an ISO-8601 time.
    #[error("stored request: submitted_at {0:?} is not a time")]
    BadTime(String),
}

/// The columns of `music_generation_queue` that [`SubmittedTask::from_row`] reads.
#[derive(Deserialize)]
struct TaskRow {
    attempts: u32,
    max_attempts: u32,
    submitted_at: Option<String>,
    poll_rereads: u32,
    stuck_resubmits: u32,
}

impl SubmittedTask {
    /// Reads a stored request (PostgREST's JSON of a `music_generation_queue` row, as
    /// `claim_music_polls` returns it): attempts, the submit time, and the counters that
    /// bound re-reads of a vanished task (`poll_rereads`) and stuck resubmits
    /// (`stuck_resubmits`).
    pub fn from_row(row: &serde_json::Value) -> Result<SubmittedTask, TaskRowError> {
        let row =
            TaskRow::deserialize(row).map_err(|error| TaskRowError::Shape(error.to_string()))?;
        let submitted_at = row.submitted_at.ok_or(TaskRowError::NotSubmitted)?;
        let submitted_at_ms =
            parse_iso8601_ms(&submitted_at).ok_or(TaskRowError::BadTime(submitted_at))?;
        Ok(SubmittedTask {
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            submitted_at_ms,
            rereads: row.poll_rereads,
            resubmitted_when_stuck: row.stuck_resubmits > 0,
        })
    }
}

/// One attempt to read a task.
#[derive(Debug, Clone, PartialEq)]
pub enum PollResult {
    /// The provider answered and the answer was read.
    Answer(RecordInfo),
    /// The provider answered with an error.
    Error(ProviderError),
    /// No answer.
    Transport(TransportFailure),
}

impl PollResult {
    /// Reads an HTTP answer of `record-info`.
    pub fn from_http(status: u16, body: &[u8]) -> PollResult {
        match parse_record_info(status, body) {
            Ok(info) => PollResult::Answer(info),
            Err(error) => PollResult::Error(error),
        }
    }

    /// The outcome of the read as a *call*, for provider health. Any answer that could be
    /// read is a healthy call, whatever state the task is in: a failed generation says
    /// nothing about the provider's availability. Only a failed read is a failure.
    pub fn call_outcome(&self) -> Classification {
        match self {
            PollResult::Answer(_) => Classification::ok(),
            PollResult::Error(error) => classify_error(error),
            PollResult::Transport(failure) => classify_transport(*failure, Endpoint::RecordInfo),
        }
    }
}

/// What to do with the request after a read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PollDecision {
    /// Done: store the ready clips.
    Complete {
        /// Clips with audio.
        clips: Vec<Clip>,
    },
    /// Still working: record progress (stream URLs may already play), read again later.
    Progress {
        /// The provider's status.
        status: TaskStatus,
        /// Every clip so far, ready or not.
        clips: Vec<Clip>,
        /// When to read again, epoch ms.
        next_poll_at_ms: i64,
    },
    /// The generation failed: back to the queue for a new submit, not before `run_at_ms`.
    Retry {
        /// Epoch ms.
        run_at_ms: i64,
        /// Stable error code.
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// The task is stuck: submit again now, once, and flag it.
    Resubmit {
        /// Stable error code (`task_stuck`).
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// An anomaly: read again at `at_ms` and count the re-read.
    Reread {
        /// Epoch ms.
        at_ms: i64,
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
    /// The read failed on the provider's side: leave the task as it is and read again at
    /// `until_ms`. A failed read never resubmits: the task may be fine.
    Hold {
        /// Epoch ms.
        until_ms: i64,
        /// Stable error code.
        code: &'static str,
        /// What happened.
        message: String,
    },
}

/// The meaning of a read, for logs and provider health.
pub fn classify_poll(result: &PollResult) -> Classification {
    match result {
        PollResult::Answer(RecordInfo::Task(task)) => classify_task(task),
        PollResult::Answer(RecordInfo::Missing) => classify_missing_task(),
        PollResult::Error(error) => classify_error(error),
        PollResult::Transport(failure) => classify_transport(*failure, Endpoint::RecordInfo),
    }
}

/// Decides what to do after reading a task at `now_ms`; `seed` jitters a retry's backoff.
pub fn decide_poll(
    task: &SubmittedTask,
    result: &PollResult,
    now_ms: i64,
    seed: u64,
    config: &Config,
) -> PollDecision {
    let outcome = classify_poll(result);
    let PollResult::Answer(info) = result else {
        return failed_read(task, outcome, now_ms, config);
    };
    let task_info = match info {
        RecordInfo::Task(info) => Some(info),
        RecordInfo::Missing => None,
    };
    match outcome.action {
        Action::Complete => PollDecision::Complete {
            clips: task_info.map(|t| t.ready_clips()).unwrap_or_default(),
        },
        Action::KeepPolling if is_stuck(task, now_ms, config) => stuck(task, now_ms),
        Action::KeepPolling => PollDecision::Progress {
            status: task_info.map_or(TaskStatus::Unknown(String::new()), |t| t.status.clone()),
            clips: task_info.map(|t| t.clips.clone()).unwrap_or_default(),
            next_poll_at_ms: after(now_ms, config.poll_interval_ms),
        },
        Action::RetryWithBackoff if task.attempts >= task.max_attempts => PollDecision::Fail {
            code: outcome.code,
            message: exhausted(&outcome, task.attempts),
        },
        Action::RetryWithBackoff => PollDecision::Retry {
            run_at_ms: retry_at(task.attempts, &outcome, now_ms, seed, config),
            code: outcome.code,
            message: outcome.message,
        },
        Action::FailWithFallback => PollDecision::Fail {
            code: outcome.code,
            message: outcome.message,
        },
        // `Reread`; the other actions never come from reading a task.
        _ => reread_or_lose(task, outcome, now_ms, config),
    }
}

/// A read that did not produce an answer: hold, except when the answer says the task is gone.
fn failed_read(
    task: &SubmittedTask,
    outcome: Classification,
    now_ms: i64,
    config: &Config,
) -> PollDecision {
    match outcome.class {
        Class::Anomaly | Class::FatalRequest => reread_or_lose(task, outcome, now_ms, config),
        _ => {
            let wait = config
                .poll_interval_ms
                .max(outcome.retry_after_ms.unwrap_or(0));
            PollDecision::Hold {
                until_ms: after(now_ms, wait),
                code: outcome.code,
                message: outcome.message,
            }
        }
    }
}

fn reread_or_lose(
    task: &SubmittedTask,
    outcome: Classification,
    now_ms: i64,
    config: &Config,
) -> PollDecision {
    if task.rereads < ANOMALY_REREADS {
        return PollDecision::Reread {
            at_ms: after(now_ms, config.poll_interval_ms),
            code: outcome.code,
            message: outcome.message,
        };
    }
    PollDecision::Fail {
        code: "task_lost",
        message: format!(
            "{} (still after {} re-reads)",
            outcome.message, task.rereads
        ),
    }
}

fn is_stuck(task: &SubmittedTask, now_ms: i64, config: &Config) -> bool {
    let waited = now_ms.saturating_sub(task.submitted_at_ms);
    waited >= i64::try_from(config.stuck_after_ms).unwrap_or(i64::MAX)
}

fn stuck(task: &SubmittedTask, now_ms: i64) -> PollDecision {
    let waited = u64::try_from(now_ms.saturating_sub(task.submitted_at_ms)).unwrap_or(0);
    let outcome = Classification::stuck(waited);
    if !task.resubmitted_when_stuck && task.attempts < task.max_attempts {
        PollDecision::Resubmit {
            code: outcome.code,
            message: outcome.message,
        }
    } else {
        PollDecision::Fail {
            code: outcome.code,
            message: outcome.message,
        }
    }
}

fn after(now_ms: i64, wait_ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(wait_ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suno::TaskInfo;

    const NOW: i64 = 1_700_000_000_000;

    fn task() -> SubmittedTask {
        SubmittedTask {
            attempts: 1,
            max_attempts: 3,
            submitted_at_ms: NOW - 60_000,
            rereads: 0,
            resubmitted_when_stuck: false,
        }
    }

    fn clip(id: &str, audio: bool) -> Clip {
        Clip {
            id: Some(id.into()),
            audio_url: audio.then(|| format!("https://cdn/{id}.mp3")),
            stream_audio_url: Some(format!("https://stream/{id}")),
            ..Clip::default()
        }
    }

    fn answer(status: TaskStatus, clips: Vec<Clip>) -> PollResult {
        PollResult::Answer(RecordInfo::Task(TaskInfo {
            task_id: Some("t".into()),
            status,
            error_code: None,
            error_message: None,
            clips,
        }))
    }

    fn decide(task: &SubmittedTask, result: &PollResult) -> PollDecision {
        decide_poll(task, result, NOW, 0, &Config::default())
    }

    #[test]
    fn success_completes_with_ready_clips() {
        let result = answer(TaskStatus::Success, vec![clip("a", true), clip("b", true)]);
        let PollDecision::Complete { clips } = decide(&task(), &result) else {
            panic!("expected completion");
        };
        assert_eq!(clips.len(), 2);
    }

    #[test]
    fn first_success_is_progress_with_the_partial_clips() {
        let result = answer(
            TaskStatus::FirstSuccess,
            vec![clip("a", true), clip("b", false)],
        );
        assert_eq!(
            decide(&task(), &result),
            PollDecision::Progress {
                status: TaskStatus::FirstSuccess,
                clips: vec![clip("a", true), clip("b", false)],
                next_poll_at_ms: NOW + 20_000
            }
        );
    }

    #[test]
    fn failed_generation_retries_then_fails() {
        let result = answer(TaskStatus::GenerateAudioFailed, vec![]);
        assert!(matches!(
            decide(&task(), &result),
            PollDecision::Retry {
                code: "generation_failed",
                ..
            }
        ));
        let last = SubmittedTask {
            attempts: 3,
            ..task()
        };
        assert!(matches!(
            decide(&last, &result),
            PollDecision::Fail {
                code: "generation_failed",
                ..
            }
        ));
    }

    #[test]
    fn sensitive_words_fail_at_once() {
        let result = answer(TaskStatus::SensitiveWordError, vec![]);
        assert!(matches!(
            decide(&task(), &result),
            PollDecision::Fail {
                code: "content_rejected",
                ..
            }
        ));
    }

    #[test]
    fn callback_exception_uses_the_audio_when_present() {
        let with_audio = answer(TaskStatus::CallbackException, vec![clip("a", true)]);
        assert!(matches!(
            decide(&task(), &with_audio),
            PollDecision::Complete { .. }
        ));
        let without = answer(TaskStatus::CallbackException, vec![]);
        assert!(matches!(
            decide(&task(), &without),
            PollDecision::Progress { .. }
        ));
    }

    #[test]
    fn missing_task_is_reread_then_lost() {
        let missing = PollResult::Answer(RecordInfo::Missing);
        assert!(matches!(
            decide(&task(), &missing),
            PollDecision::Reread {
                code: "task_not_found",
                ..
            }
        ));
        let tired = SubmittedTask {
            rereads: ANOMALY_REREADS,
            ..task()
        };
        assert!(matches!(
            decide(&tired, &missing),
            PollDecision::Fail {
                code: "task_lost",
                ..
            }
        ));
    }

    #[test]
    fn success_without_audio_is_an_anomaly() {
        let result = answer(TaskStatus::Success, vec![clip("a", false)]);
        assert!(matches!(
            decide(&task(), &result),
            PollDecision::Reread {
                code: "success_without_audio",
                ..
            }
        ));
    }

    #[test]
    fn a_stuck_task_is_resubmitted_once_then_failed() {
        let old = SubmittedTask {
            submitted_at_ms: NOW - 15 * 60_000,
            ..task()
        };
        let pending = answer(TaskStatus::Pending, vec![]);
        assert!(matches!(
            decide(&old, &pending),
            PollDecision::Resubmit {
                code: "task_stuck",
                ..
            }
        ));
        let again = SubmittedTask {
            resubmitted_when_stuck: true,
            ..old.clone()
        };
        assert!(matches!(
            decide(&again, &pending),
            PollDecision::Fail {
                code: "task_stuck",
                ..
            }
        ));
        let out_of_attempts = SubmittedTask { attempts: 3, ..old };
        assert!(matches!(
            decide(&out_of_attempts, &pending),
            PollDecision::Fail { .. }
        ));
    }

    #[test]
    fn a_late_success_still_completes() {
        let old = SubmittedTask {
            submitted_at_ms: NOW - 60 * 60_000,
            ..task()
        };
        let result = answer(TaskStatus::Success, vec![clip("a", true)]);
        assert!(matches!(
            decide(&old, &result),
            PollDecision::Complete { .. }
        ));
    }

    #[test]
    fn failed_reads_hold_and_never_resubmit() {
        let outage = PollResult::from_http(503, b"<html>unavailable</html>");
        assert!(matches!(
            decide(&task(), &outage),
            PollDecision::Hold { until_ms, code: "provider_unavailable", .. } if until_ms == NOW + 20_000
        ));
        let timeout = PollResult::Transport(TransportFailure::LostAfterSend);
        assert!(matches!(
            decide(&task(), &timeout),
            PollDecision::Hold {
                code: "provider_timeout",
                ..
            }
        ));
        let old = SubmittedTask {
            submitted_at_ms: NOW - 60 * 60_000,
            ..task()
        };
        assert!(matches!(decide(&old, &outage), PollDecision::Hold { .. }));
    }

    #[test]
    fn record_does_not_exist_answer_is_an_anomaly() {
        let body = br#"{"code":422,"msg":"Record does not exist"}"#;
        let result = PollResult::from_http(200, body);
        assert!(matches!(
            decide(&task(), &result),
            PollDecision::Reread {
                code: "task_not_found",
                ..
            }
        ));
    }

    /// A row as `claim_music_polls` returns it through PostgREST (the columns read, and a
    /// few others).
    fn stored(rereads: u32, stuck_resubmits: u32) -> serde_json::Value {
        serde_json::json!({
            "id": "5d0c1a52-0000-4000-8000-000000000000",
            "status": "processing",
            "attempts": 1,
            "max_attempts": 3,
            "suno_task_id": "t",
            "submitted_at": "2023-11-14T22:12:20.123456+00:00",
            "poll_rereads": rereads,
            "stuck_resubmits": stuck_resubmits,
        })
    }

    #[test]
    fn a_stored_row_gives_the_task_with_its_counters() {
        let task = SubmittedTask::from_row(&stored(2, 1)).unwrap();
        assert_eq!(
            task,
            SubmittedTask {
                attempts: 1,
                max_attempts: 3,
                submitted_at_ms: 1_700_000_000_000 - 60_000 + 123,
                rereads: 2,
                resubmitted_when_stuck: true,
            }
        );
    }

    #[test]
    fn a_vanished_task_is_lost_once_the_stored_rereads_run_out() {
        let missing = PollResult::Answer(RecordInfo::Missing);
        let fresh = SubmittedTask::from_row(&stored(0, 0)).unwrap();
        assert!(matches!(
            decide(&fresh, &missing),
            PollDecision::Reread { .. }
        ));
        let tired = SubmittedTask::from_row(&stored(ANOMALY_REREADS, 0)).unwrap();
        assert!(matches!(
            decide(&tired, &missing),
            PollDecision::Fail {
                code: "task_lost",
                ..
            }
        ));
    }

    #[test]
    fn a_stored_row_that_is_not_a_submitted_task_is_an_error() {
        let mut row = stored(0, 0);
        row["submitted_at"] = serde_json::Value::Null;
        assert_eq!(
            SubmittedTask::from_row(&row),
            Err(TaskRowError::NotSubmitted)
        );
        row["submitted_at"] = "yesterday".into();
        assert!(matches!(
            SubmittedTask::from_row(&row),
            Err(TaskRowError::BadTime(_))
        ));
        assert!(matches!(
            SubmittedTask::from_row(&serde_json::json!({"attempts": 1})),
            Err(TaskRowError::Shape(_))
        ));
    }

    #[test]
    fn unknown_status_keeps_polling_until_stuck() {
        let result = answer(TaskStatus::Unknown("STREAMING".into()), vec![]);
        assert!(matches!(
            decide(&task(), &result),
            PollDecision::Progress { .. }
        ));
    }
}
