//! The `/callback` route, step by step as [`music_core::callback_route`] lays it out: the
//! query, the body, `attach_music_task` and/or `wake_music_request`, the answer.
//!
//! A callback only makes a read due; what the task became is read from the provider. When
//! the callback reports a finished task (`complete` or `error`), a short run that only reads
//! the due tasks starts in `waitUntil`, so the result is stored within seconds instead of at
//! the next cron minute. Duplicates and reordered callbacks change nothing: each read is
//! handed to one caller by `claim_music_polls`, and a finished request is past every guard
//! (a late callback for it, with the right token, is answered 200 and starts no run; one
//! that overtakes the worker is refused, so the provider sends it again).

use music_core::callback_route::{answer_callback, parse_callback_query, CallbackEffect};
use music_core::run::RunTrigger;
use music_core::suno::{parse_callback, CallbackStage};
use music_core::ApiError;
use music_edge::http::json;
use music_edge::runtime::wait_until;
use music_edge::Context;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::run::Run;

pub async fn answer(mut request: Request, cx: Context) -> Result<Response, ApiError> {
    let url = request.url().map_err(|_| ApiError::Internal)?;
    let query = parse_callback_query(url.query().unwrap_or(""))?;
    let body = request.bytes().await.unwrap_or_default();
    let callback = parse_callback(&body).ok();
    let task_id = callback.as_ref().and_then(|c| c.task_id.clone());
    let attached = match &task_id {
        Some(task_id) => {
            let args = json!({"p_request_id": query.request_id,
                              "p_callback_token": query.token, "p_suno_task_id": task_id});
            rows(&cx.store.rpc("attach_music_task", &args).await?)
        }
        None => 0,
    };
    let woken = if attached == 0 {
        let args = json!({"p_request_id": query.request_id, "p_callback_token": query.token});
        rows(&cx.store.rpc("wake_music_request", &args).await?)
    } else {
        0
    };
    let late = if attached == 0 && woken == 0 {
        let args = json!({"p_request_id": query.request_id, "p_callback_token": query.token});
        cx.store.rpc("music_callback_is_late", &args).await? == Value::Bool(true)
    } else {
        false
    };
    let effect = answer_callback(attached, woken, late)?;
    let stage = callback.as_ref().map(|c| c.stage.clone());
    cx.log.info(
        "callback",
        json!({"request": query.request_id, "effect": effect,
               "stage": stage.as_ref().map(|s| s.as_str().to_owned())}),
    );
    let finished = matches!(stage, Some(CallbackStage::Complete | CallbackStage::Error));
    if finished && effect != CallbackEffect::Ignored {
        let run = Run::start(cx, RunTrigger::Callback).await?;
        wait_until(async move {
            let _ = run.work().await;
        });
    }
    json(200, &json!({"ok": true, "effect": effect}))
}

fn rows(answer: &Value) -> usize {
    answer.as_array().map_or(0, Vec::len)
}
