//! The immediate submit of a request that is already stored.
//!
//! The core decides every step ([`admit`], [`after_token`], [`decide_submit`]); this module
//! carries them out, each state change through one SQL transition:
//!
//! 1. read the provider status and whether the queue is paused; [`admit`] with the number of
//!    requests ahead of this one (the ticket's position − 1);
//! 2. `claim_music_request` claims this one row (nothing when the worker got it first, or
//!    the queue or the provider was paused meanwhile);
//! 3. `take_rate_token` from the bucket the worker shares; refused: `defer_music_request`
//!    gives the row back without using its attempt;
//! 4. `POST /api/v1/generate` with the callback URL, recorded as a status check (the one
//!    health rule, [`ProviderStatus::check`]);
//! 5. [`decide_submit`]'s decision as one transition: submitted, retry, defer, await the
//!    callback (the answer was lost after sending), or fail with a fallback.
//!
//! A failure of the store or a misconfiguration on the way is logged and leaves the request
//! queued: it is stored already, so the worker takes it (a claimed row once its lease ends).

use music_core::admit::{admit, after_token, Admission, EnqueueReason};
use music_core::plan::decide_submit;
use music_core::suno::{parse_generate, Endpoint};
use music_core::time::{after, delay_seconds};
use music_core::{
    ApiError, ClaimedRequest, Classification, ErrorCode, GenerateParams, ProviderStatus,
    RequestDecision,
};
use music_edge::runtime::now_ms;
use music_edge::{fetch, Context, Log};
use serde_json::{json, Value};

/// What became of the immediate submit.
#[derive(Debug)]
pub enum Outcome {
    /// Left in (or handed back to) the queue; why, for the logs.
    Queued(String),
    /// The provider took it: its task id.
    Processing(String),
    /// Sent, but the answer was lost: it waits for the provider's callback.
    Unconfirmed,
    /// Failed for good at submit; the row as the transition left it (fallback included).
    Failed(Value),
}

/// Submits the request of `ticket` at once if the core admits it (see the module docs).
pub async fn submit(cx: &Context, ticket: &Value) -> Outcome {
    match try_submit(cx, ticket).await {
        Ok(outcome) => outcome,
        Err(error) => {
            cx.log.warn(
                "direct_submit_abandoned",
                json!({"music_request_id": ticket["id"], "code": error.code(),
                       "message": error.to_string()}),
            );
            Outcome::Queued("direct_submit_abandoned".into())
        }
    }
}

async fn try_submit(cx: &Context, ticket: &Value) -> Result<Outcome, ApiError> {
    let config = &cx.env.config;
    let row = cx.store.rpc("get_suno_api_status", &json!({})).await?;
    let status = ProviderStatus::from_row(&row).map_err(|e| internal(&cx.log, &e))?;
    let paused = queue_paused(cx, ticket).await?;
    let ahead = ticket["queue_position"]
        .as_u64()
        .map_or(u64::MAX, |position| position.saturating_sub(1));
    if let Admission::Enqueue(reason) = admit(&status, ahead, paused, now_ms(), config) {
        return Ok(Outcome::Queued(reason_name(reason)));
    }
    // Checked before the claim, so a missing key never strands a claimed row.
    config.suno_api().map_err(|e| internal(&cx.log, &e))?;
    let claim = json!({"p_request_id": ticket["id"], "p_worker_id": worker_id(cx),
                       "p_lease_seconds": config.lease_seconds});
    let claimed = cx.store.rpc("claim_music_request", &claim).await?;
    let Some(row) = claimed.get(0) else {
        return Ok(Outcome::Queued("claimed_elsewhere".into()));
    };
    let token = cx.store.rpc("take_rate_token", &json!({})).await?;
    if let Admission::Enqueue(reason) = after_token(token[0]["granted"] == true) {
        let now = now_ms();
        let wait_ms = token[0]["wait_ms"].as_u64().unwrap_or(1_000);
        let back = json!({"p_delay_seconds": delay_seconds(after(now, wait_ms), now),
                          "p_reason": "rate_limited"});
        transition(cx, "defer_music_request", row, back).await?;
        return Ok(Outcome::Queued(reason_name(reason)));
    }
    send(cx, row, &status).await
}

/// Sends the claimed `row`, records the call, and applies the core's decision.
async fn send(cx: &Context, row: &Value, status: &ProviderStatus) -> Result<Outcome, ApiError> {
    let config = &cx.env.config;
    let internal = |e: &dyn ErrorCode| internal(&cx.log, e);
    let params = GenerateParams::from_stored(row, config.suno_model).map_err(|e| internal(&e))?;
    let text = |column: &str| row[column].as_str().unwrap_or_default();
    let callback = config
        .callback_url(text("id"), text("callback_token"))
        .map_err(|e| internal(&e))?;
    let api = config.suno_api().map_err(|e| internal(&e))?;
    let sent = fetch::send(
        &api.generate(&params, &callback),
        config.suno_request_timeout_ms,
    )
    .await;
    let task = sent.reply.read(Endpoint::Generate, parse_generate);
    let outcome = task.clone().err().unwrap_or_else(Classification::ok);
    let now = now_ms();
    let facts = sent.reply.facts(sent.elapsed_ms, None);
    let (status_after, check) = status.check(&outcome, &facts, now, &config.circuit_policy());
    if let Err(error) = cx.store.rpc("record_suno_status_check", &check).await {
        cx.log
            .warn("check_not_recorded", json!({"message": error.to_string()}));
    }
    let claimed = ClaimedRequest::from_row(row).ok_or(ApiError::Internal)?;
    let decision = decide_submit(&claimed, &outcome, &status_after, now, now as u64, config);
    cx.log.info(
        "submitted",
        json!({"music_request_id": row["id"], "http_status": sent.reply.http_status(),
               "ms": sent.elapsed_ms, "outcome": outcome.code, "decision": decision}),
    );
    apply(cx, row, decision, task.ok(), &params, now).await
}

/// Carries out one [`RequestDecision`] as its SQL transition.
async fn apply(
    cx: &Context,
    row: &Value,
    decision: RequestDecision,
    task_id: Option<String>,
    params: &GenerateParams,
    now: i64,
) -> Result<Outcome, ApiError> {
    let poll_after = cx.env.config.poll_interval_ms.div_ceil(1_000);
    Ok(match decision {
        RequestDecision::Submitted => {
            let task_id = task_id.ok_or(ApiError::Internal)?;
            let args = json!({"p_suno_task_id": task_id, "p_model": params.model.as_str(),
                              "p_poll_after_seconds": poll_after});
            transition(cx, "mark_music_request_submitted", row, args).await?;
            Outcome::Processing(task_id)
        }
        RequestDecision::Retry {
            run_at_ms,
            code,
            message,
        } => {
            let args = json!({"p_delay_seconds": delay_seconds(run_at_ms, now),
                              "p_error_code": code, "p_error_message": message});
            let after = transition(cx, "retry_music_request", row, args).await?;
            match after["status"].as_str() {
                Some("failed") => Outcome::Failed(after),
                _ => Outcome::Queued("retry".into()),
            }
        }
        RequestDecision::Defer { until_ms, code, .. } => {
            let args = json!({"p_delay_seconds": delay_seconds(until_ms, now), "p_reason": code});
            transition(cx, "defer_music_request", row, args).await?;
            Outcome::Queued("deferred".into())
        }
        RequestDecision::AwaitCallback { until_ms, .. } => {
            let wait = delay_seconds(until_ms, now).max(1);
            transition(
                cx,
                "await_music_callback",
                row,
                json!({"p_wait_seconds": wait}),
            )
            .await?;
            Outcome::Unconfirmed
        }
        RequestDecision::Fail { code, message } => {
            let args = json!({"p_error_code": code, "p_error_message": message});
            Outcome::Failed(transition(cx, "fail_music_request", row, args).await?)
        }
    })
}

/// Calls the transition `function` for the claimed `row` (its id and lease) with `args`;
/// the row it changed. None changed (an admin cancelled it meanwhile) is an error.
async fn transition(
    cx: &Context,
    function: &str,
    row: &Value,
    mut args: Value,
) -> Result<Value, ApiError> {
    args["p_request_id"] = row["id"].clone();
    args["p_lease_token"] = row["lease_token"].clone();
    let changed = cx.store.rpc(function, &args).await?;
    changed.get(0).cloned().ok_or_else(|| {
        ApiError::Conflict(format!("{function} changed nothing: the request moved on"))
    })
}

/// The `music_queues.paused` flag of the ticket's queue.
async fn queue_paused(cx: &Context, ticket: &Value) -> Result<bool, ApiError> {
    let queue = ticket["queue"].as_str().unwrap_or("default");
    let rows = cx
        .store
        .read("music_queues", "paused", &[("name", queue)])
        .await?;
    Ok(rows[0]["paused"] != false)
}

/// The lease owner of a direct submit: this function and its request id, for the events.
fn worker_id(cx: &Context) -> String {
    format!("emotion-music-ai:{}", cx.log.request_id())
}

/// The wire name of an [`EnqueueReason`], for the logs.
fn reason_name(reason: EnqueueReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|name| name.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn internal(log: &Log, error: &dyn ErrorCode) -> ApiError {
    log.error(
        "internal",
        json!({"code": error.code(), "message": error.to_string()}),
    );
    ApiError::Internal
}
