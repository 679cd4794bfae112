//! A worker run as recorded for the panel: what started it, and its summary.
//!
//! The worker calls `start_music_worker_run(p_trigger, p_worker_id, p_queue)` before its
//! first step and `finish_music_worker_run(p_run_id, p_summary, p_error)` after its last,
//! with [`RunSummary`] as `p_summary`; `?wait=true` answers the same summary. Runs may
//! overlap: every claim and transition is safe under concurrency, and the provider's limit
//! is the shared token bucket. A run that never finishes is marked abandoned by
//! `music_queue_maintenance`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::plan::StopReason;

/// What started a run (`music_worker_runs.trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// pg_cron through pg_net, with the secret key.
    Cron,
    /// The admin panel's "run worker".
    Manual,
    /// `suno-status-check` found the provider back after an outage.
    Recovery,
    /// A provider callback woke a request.
    Callback,
}

impl RunTrigger {
    /// The trigger a caller of the worker asked for: `asked` is `?trigger=` or the body's
    /// `trigger`. The secret key may say `cron` (its default: pg_cron sends it), `manual` or
    /// `recovery`; an admin's run is always `manual`; `callback` is the worker's own.
    pub fn asked(by_admin: bool, asked: Option<&str>) -> Result<RunTrigger, ApiError> {
        if by_admin {
            return Ok(RunTrigger::Manual);
        }
        match asked {
            None | Some("cron") => Ok(RunTrigger::Cron),
            Some("manual") => Ok(RunTrigger::Manual),
            Some("recovery") => Ok(RunTrigger::Recovery),
            Some(_) => Err(ApiError::BadInput {
                code: "invalid_trigger",
                field: Some("trigger".into()),
                message: "trigger must be cron, manual or recovery".into(),
            }),
        }
    }

    /// The trigger of a request to the worker: `query` is `?trigger=`, `body` the request
    /// body, which is empty or a JSON object whose `trigger`, when given, is a string (pg_cron
    /// sends `{"trigger":"cron",…}`, the panel `{}`). The query wins over the body; then
    /// [`RunTrigger::asked`]. A body that is something else is refused, so garbage never
    /// starts a run.
    pub fn from_request(
        by_admin: bool,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<RunTrigger, ApiError> {
        let bad = |code: &'static str, field: Option<&str>, message: String| ApiError::BadInput {
            code,
            field: field.map(str::to_owned),
            message,
        };
        let body: Value = if body.trim_ascii().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(body).map_err(|e| {
                bad(
                    "invalid_json",
                    None,
                    format!("request body is not valid JSON: {e}"),
                )
            })?
        };
        if !body.is_object() {
            let message = "request body must be a JSON object".to_owned();
            return Err(bad("invalid_body", None, message));
        }
        let in_body = match &body["trigger"] {
            Value::Null => None,
            Value::String(trigger) => Some(trigger.as_str()),
            _ => {
                let message = "trigger must be a string: cron, manual or recovery".to_owned();
                return Err(bad("invalid_trigger", Some("trigger"), message));
            }
        };
        RunTrigger::asked(by_admin, query.or(in_body))
    }

    /// Whether a run of this trigger claims waiting requests. A callback's run only reads
    /// the due tasks, so that the result a callback announces is stored at once, without
    /// every callback of every task starting a full run.
    pub fn claims(self) -> bool {
        self != RunTrigger::Callback
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Cron => "cron",
            RunTrigger::Manual => "manual",
            RunTrigger::Recovery => "recovery",
            RunTrigger::Callback => "callback",
        }
    }
}

/// The counts of one run: the panel's figures and the `?wait=true` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Requests claimed (every batch).
    pub claimed: u32,
    /// Requests the provider accepted.
    pub submitted: u32,
    /// Tasks read as finished with music.
    pub completed: u32,
    /// Requests put back with backoff after a failure.
    pub retried: u32,
    /// Requests handed back without using an attempt.
    pub deferred: u32,
    /// Requests failed for good.
    pub failed: u32,
    /// Failed requests that got a fallback track.
    pub fallbacks: u32,
    /// Why the run did less than it could (a paused queue, the provider unavailable, the
    /// per-run cap), `None` when it drained what was due.
    pub skipped_reason: Option<StopReason>,
    /// Wall-clock time of the run.
    pub duration_ms: u64,
}

impl RunSummary {
    /// Records how the planner stopped: a drained run skipped nothing.
    pub fn stopped(&mut self, reason: StopReason) {
        self.skipped_reason = (reason != StopReason::Drained).then_some(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn the_secret_key_names_its_trigger_and_an_admin_runs_by_hand() {
        assert_eq!(RunTrigger::asked(false, None), Ok(RunTrigger::Cron));
        assert_eq!(
            RunTrigger::asked(false, Some("recovery")),
            Ok(RunTrigger::Recovery)
        );
        assert_eq!(
            RunTrigger::asked(true, Some("recovery")),
            Ok(RunTrigger::Manual)
        );
        let refused = RunTrigger::asked(false, Some("callback")).unwrap_err();
        assert_eq!(refused.status(), 400);
        assert!(!RunTrigger::Callback.claims() && RunTrigger::Cron.claims());
    }

    #[test]
    fn the_trigger_comes_from_the_query_or_a_json_object_body() {
        let from = |query, body: &str| RunTrigger::from_request(false, query, body.as_bytes());
        assert_eq!(from(None, ""), Ok(RunTrigger::Cron));
        assert_eq!(from(None, " \n"), Ok(RunTrigger::Cron));
        assert_eq!(from(None, "{}"), Ok(RunTrigger::Cron));
        assert_eq!(
            from(
                None,
                r#"{"trigger":"cron","scheduled_at":"2026-11-30T00:00:00Z"}"#
            ),
            Ok(RunTrigger::Cron)
        );
        assert_eq!(
            from(Some("recovery"), r#"{"trigger":"manual"}"#),
            Ok(RunTrigger::Recovery)
        );
        assert_eq!(
            from(None, r#"{"trigger":null,"x":[1]}"#),
            Ok(RunTrigger::Cron)
        );
        assert_eq!(
            RunTrigger::from_request(true, None, b"{}"),
            Ok(RunTrigger::Manual)
        );
    }

    #[test]
    fn a_body_that_is_no_json_object_or_a_trigger_of_another_type_is_refused() {
        let cases = [
            ("{not json", "invalid_json"),
            ("[]", "invalid_body"),
            ("\"cron\"", "invalid_body"),
            (r#"{"trigger":1}"#, "invalid_trigger"),
            (r#"{"trigger":"callback"}"#, "invalid_trigger"),
            (r#"{"trigger":""}"#, "invalid_trigger"),
        ];
        for (body, code) in cases {
            let error = RunTrigger::from_request(false, None, body.as_bytes()).unwrap_err();
            assert_eq!((error.status(), error.code()), (400, code), "{body}");
        }
        let by_admin = RunTrigger::from_request(true, None, b"{x").unwrap_err();
        assert_eq!(
            by_admin.code(),
            "invalid_json",
            "an admin's body is checked too"
        );
    }

    #[test]
    fn the_summary_is_the_documented_json() {
        let mut summary = RunSummary {
            claimed: 5,
            submitted: 4,
            deferred: 1,
            duration_ms: 9_100,
            ..RunSummary::default()
        };
        summary.stopped(StopReason::CapReached);
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            serde_json::json!({
                "claimed": 5, "submitted": 4, "completed": 0, "retried": 0, "deferred": 1,
                "failed": 0, "fallbacks": 0, "skipped_reason": "cap_reached", "duration_ms": 9100
            })
        );
        summary.stopped(StopReason::Drained);
        assert_eq!(summary.skipped_reason, None);
        assert_eq!(
            serde_json::to_value(RunTrigger::Recovery).unwrap(),
            RunTrigger::Recovery.as_str()
        );
    }
}
