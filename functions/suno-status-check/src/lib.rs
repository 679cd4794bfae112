//! `suno-status-check`: the provider's public status, probed afresh when it matters.
//!
//! `GET|POST /functions/v1/suno-status-check` answers `{state, is_available,
//! response_time_ms, last_check_at}`. Anyone may read it. A fresh probe of the credit
//! endpoint runs first for the secret key or an admin, or when the stored status is stale
//! ([`should_probe`]), and only for the caller that wins `take_suno_probe_lease`: at most one
//! probe is in flight across callers. The core turns what it found into the check
//! `record_suno_status_check` stores (which also ends the lease). A probe that finds the
//! provider available after it was not ([`is_recovery`]) starts a worker run at once
//! (`?trigger=recovery`), in `waitUntil`.

use music_core::health::ProviderStatus;
use music_core::probe::{
    is_recovery, lease_condition_seconds, should_probe, PROBE_LEASE_TTL_SECONDS,
};
use music_core::{ApiError, ErrorCode};
use music_edge::http::{json, serve};
use music_edge::runtime::{now_ms, wait_until};
use music_edge::{fetch, provider, Context, Env, Log};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use worker::{web_sys, Method, Request, Response};

/// The function's entry point, served by `index.ts`.
#[wasm_bindgen]
pub async fn handler(request: web_sys::Request) -> web_sys::Response {
    serve("suno-status-check", request, answer).await
}

async fn answer(request: Request, cx: Context) -> Result<Response, ApiError> {
    if !matches!(request.method(), Method::Get | Method::Post) {
        return Err(ApiError::NotFound("only GET and POST are served".into()));
    }
    let caller = cx.caller(&request).await?;
    let row = cx.store.rpc("get_suno_api_status", &json!({})).await?;
    let before_ms = now_ms();
    let before = ProviderStatus::from_row(&row).map_err(|error| internal(&cx.log, &error))?;
    let privileged = caller.is_privileged();
    if !should_probe(privileged, before.last_check_ms, before_ms)
        || !won_lease(&cx, privileged).await?
    {
        return json(200, &public_status(&row));
    }
    let row = probe_and_record(&cx, &before).await?;
    let after = ProviderStatus::from_row(&row).map_err(|error| internal(&cx.log, &error))?;
    if is_recovery(&before, before_ms, &after, now_ms()) {
        wait_until(start_worker_run(cx.env.clone(), cx.log.clone()));
    }
    json(200, &public_status(&row))
}

/// Takes the probe lease: only its winner probes (see [`music_core::probe`]).
async fn won_lease(cx: &Context, privileged: bool) -> Result<bool, ApiError> {
    let args = json!({"p_ttl_seconds": PROBE_LEASE_TTL_SECONDS,
                      "p_if_older_than_seconds": lease_condition_seconds(privileged)});
    let won = cx.store.rpc("take_suno_probe_lease", &args).await? == true;
    cx.log.info("probe_lease", json!({"won": won}));
    Ok(won)
}

/// Probes the provider and records the check; the stored status after it.
async fn probe_and_record(cx: &Context, stored: &ProviderStatus) -> Result<Value, ApiError> {
    let config = &cx.env.config;
    let probe = provider::probe(config)
        .await
        .map_err(|error| internal(&cx.log, &error))?;
    let (_, check) = stored.check(
        &probe.outcome,
        &probe.facts,
        now_ms(),
        &config.circuit_policy(),
    );
    cx.log.info(
        "probed",
        json!({"state": check.p_state, "code": probe.outcome.code, "http_status": check.p_http_status,
               "ms": check.p_response_time_ms}),
    );
    Ok(cx.store.rpc("record_suno_status_check", &check).await?)
}

/// The fields anyone may read.
fn public_status(row: &Value) -> Value {
    json!({
        "state": row["state"],
        "is_available": row["is_available"],
        "response_time_ms": row["response_time_ms"],
        "last_check_at": row["last_check_at"],
    })
}

/// The provider is back: start a worker run now rather than at the next cron minute.
async fn start_worker_run(env: Env, log: Log) {
    let bearer = format!("Bearer {}", env.secret_key);
    let headers = [
        ("apikey", env.secret_key.as_str()),
        ("authorization", bearer.as_str()),
    ];
    let url = format!(
        "{}?trigger=recovery",
        env.function_url("music-queue-worker")
    );
    let sent = fetch::send_raw("POST", &url, &headers, Some("{}"), 10_000).await;
    log.info(
        "worker_run_requested",
        json!({"status": sent.reply.http_status(), "ms": sent.elapsed_ms}),
    );
}

fn internal(log: &Log, error: &impl ErrorCode) -> ApiError {
    log.error(
        "internal",
        json!({"code": error.code(), "message": error.to_string()}),
    );
    ApiError::Internal
}
