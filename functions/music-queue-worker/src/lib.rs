//! `music-queue-worker`: one run of the queue's worker, and the provider's callbacks.
//!
//! - `POST /functions/v1/music-queue-worker` (the secret key: pg_cron; or an admin's JWT: the
//!   panel) records a run and answers 202 `{run_id}` at once; the run goes on in
//!   `EdgeRuntime.waitUntil` ([`run`]). With `?wait=true` it answers 200 with the run's
//!   summary instead. The trigger comes from `?trigger=` or the body's `trigger` (the cron
//!   setup sends `cron`): `cron`, `manual` or `recovery` for the secret key (default
//!   `cron`); an admin's run is always `manual`. A body that is neither empty nor a JSON
//!   object is a 400, and starts nothing.
//! - `POST /functions/v1/music-queue-worker/callback?request_id=…&token=…`: a provider
//!   callback ([`callback`]), authenticated by the request's token alone.

mod callback;
mod run;

use music_core::run::RunTrigger;
use music_core::ApiError;
use music_edge::auth::Caller;
use music_edge::http::{json, query, serve};
use music_edge::runtime::wait_until;
use music_edge::Context;
use serde_json::json;
use wasm_bindgen::prelude::*;
use worker::{web_sys, Method, Request, Response};

use run::Run;

/// The function's entry point, served by `index.ts`.
#[wasm_bindgen]
pub async fn handler(request: web_sys::Request) -> web_sys::Response {
    serve("music-queue-worker", request, answer).await
}

async fn answer(mut request: Request, cx: Context) -> Result<Response, ApiError> {
    if request.method() != Method::Post {
        return Err(ApiError::NotFound("only POST is served".into()));
    }
    if request.path().ends_with("/callback") {
        return callback::answer(request, cx).await;
    }
    let caller = cx.caller(&request).await?;
    let body = request.bytes().await.unwrap_or_default();
    let trigger = trigger(&caller, &request, &body)?;
    let wait = query(&request, "wait").is_some_and(|v| v == "true" || v == "1");
    let run = Run::start(cx, trigger).await?;
    let run_id = run.id().to_owned();
    if wait {
        let summary = run.work().await?;
        let mut answer = serde_json::to_value(summary).map_err(|_| ApiError::Internal)?;
        answer["run_id"] = json!(run_id);
        answer["trigger"] = json!(trigger.as_str());
        return json(200, &answer);
    }
    wait_until(async move {
        let _ = run.work().await;
    });
    json(202, &json!({"run_id": run_id, "trigger": trigger.as_str()}))
}

/// Who may start a run (the secret key or an admin), and what started it.
fn trigger(caller: &Caller, request: &Request, body: &[u8]) -> Result<RunTrigger, ApiError> {
    match caller {
        Caller::Service | Caller::Admin { .. } => {}
        Caller::User { .. } => {
            return Err(ApiError::Forbidden(
                "only the secret key or an admin may run the worker".into(),
            ))
        }
        Caller::Public => {
            return Err(ApiError::Unauthorized(
                "the secret key or an admin's JWT is required".into(),
            ))
        }
    }
    let by_admin = matches!(caller, Caller::Admin { .. });
    RunTrigger::from_request(by_admin, query(request, "trigger").as_deref(), body)
}
