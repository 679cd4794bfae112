//! The JSON this function answers with, built from the SQL API's rows.
//!
//! - 202 `{"status":"queued","request_id","position","position_capped",
//!   "estimated_wait_seconds"}`: the position and the wait are the SQL's (the enqueue
//!   ticket; one owner of the estimate). The SQL counts at most 1 000 places:
//!   `position_capped: true` then reads "1 000 or more".
//! - 200 `{"status":"processing","request_id","task_id"}`: the provider took it.
//! - 202 `{"status":"processing","request_id","confirmed":false}`: sent, but the provider's
//!   answer was lost; its callback (or the worker's check) will tell.
//! - 200 `{"status":"failed","request_id","failure":{"code","message"},"fallback_track_id"}`:
//!   the provider refused it for good (sensitive words, too long); a fallback is attached.
//! - A repeated `Idempotency-Key` answers as above for the first request as it is now, with
//!   `"deduplicated": true`.
//!
//! The failure of a request is `failure`, never `error`: `error` is the answer's own failure.

use music_core::ApiError;
use music_edge::http::json;
use serde_json::{json, Value};
use worker::Response;

use crate::direct::Outcome;

/// The answer after the immediate submit (or its absence) of the request of `ticket`.
pub fn after_submit(ticket: &Value, outcome: Outcome) -> Result<Response, ApiError> {
    let id = &ticket["id"];
    match outcome {
        Outcome::Queued(_) => json(202, &queued(ticket)),
        Outcome::Processing(task_id) => json(
            200,
            &json!({"status": "processing", "request_id": id, "task_id": task_id}),
        ),
        Outcome::Unconfirmed => json(
            202,
            &json!({"status": "processing", "request_id": id, "confirmed": false}),
        ),
        Outcome::Failed(row) => json(200, &failed(&row)),
    }
}

/// The answer for a repeated `Idempotency-Key`: the first request, as it is now.
pub fn existing(ticket: &Value) -> Result<Response, ApiError> {
    let (status, mut body) = match ticket["status"].as_str() {
        Some("pending") => (202, queued(ticket)),
        Some("failed") => (200, failed(ticket)),
        _ => (200, view(ticket, None)),
    };
    body["deduplicated"] = json!(true);
    json(status, &body)
}

/// A request as its owner reads it back: status, the tracks of `result`, the fallback
/// track (`fallback`, as read from `music_tracks`) and the failure.
pub fn view(row: &Value, fallback: Option<Value>) -> Value {
    let fallback = fallback.or_else(|| {
        row["fallback_track_id"]
            .as_str()
            .map(|id| json!({"id": id}))
    });
    json!({
        "request_id": row["id"],
        "status": row["status"],
        "emotion": row["emotion"],
        "intensity": row["intensity"],
        "context": row["context"],
        "style": row["asked_style"],
        "title": row["asked_title"],
        "instrumental": row["instrumental"],
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "provider_status": row["provider_status"],
        "tracks": row["result"]["clips"].as_array().cloned().unwrap_or_default(),
        "fallback": fallback,
        "fallback_same_emotion": row["fallback_same_emotion"],
        "failure": failure(row),
        "created_at": row["created_at"],
        "submitted_at": row["submitted_at"],
        "completed_at": row["completed_at"],
        "failed_at": row["failed_at"],
    })
}

fn queued(ticket: &Value) -> Value {
    json!({
        "status": "queued",
        "request_id": ticket["id"],
        "position": ticket["queue_position"],
        "position_capped": ticket["queue_position_capped"],
        "estimated_wait_seconds": ticket["estimated_wait_seconds"],
    })
}

fn failed(row: &Value) -> Value {
    json!({
        "status": "failed",
        "request_id": row["id"],
        "failure": failure(row),
        "fallback_track_id": row["fallback_track_id"],
    })
}

/// `{code, message}` of a failed request, else `null` (a retried request's last error is
/// not its failure).
fn failure(row: &Value) -> Value {
    if row["status"] == "failed" {
        json!({"code": row["error_code"], "message": row["error_message"]})
    } else {
        Value::Null
    }
}
