//! The HTTP edge of a function: [`serve`] runs a handler with a [`Context`], answers CORS
//! preflights, adds CORS headers to every answer, turns every error into the one JSON shape
//! `{"error":{"code","message"}}` with its status, and logs one line per request.
//!
//! The web app runs on another origin, so every answer, errors included, carries the CORS
//! headers; a preflight (`OPTIONS`) is answered 204 before anything else runs.

use std::future::Future;
use std::sync::Once;

use music_core::{ApiError, ErrorCode};
use serde::Serialize;
use serde_json::json;
use worker::web_sys;
use worker::{Headers, Response};

use crate::auth::{identify, Caller};
use crate::runtime::{new_id, now_ms};
use crate::{Env, Log, Store};

/// The headers the web app may send (supabase-js's, plus `Idempotency-Key`).
const ALLOW_HEADERS: &str = "authorization, x-client-info, apikey, content-type, idempotency-key";
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";

/// What a handler gets besides the request: the environment, the SQL API and the logger.
pub struct Context {
    /// The function's environment.
    pub env: Env,
    /// The SQL API.
    pub store: Store,
    /// This request's logger.
    pub log: Log,
}

impl Context {
    /// Who sent `request` (see [`crate::auth`]).
    pub async fn caller(&self, request: &worker::Request) -> Result<Caller, ApiError> {
        identify(request.headers(), &self.env, &self.store).await
    }
}

/// Runs `handler` for one request of `function` and answers (see the module docs). This is
/// the whole body of a function's exported handler.
pub async fn serve<F, Fut>(
    function: &'static str,
    request: web_sys::Request,
    handler: F,
) -> web_sys::Response
where
    F: FnOnce(worker::Request, Context) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    static PANIC_HOOK: Once = Once::new();
    PANIC_HOOK.call_once(console_error_panic_hook::set_once);
    let started = now_ms();
    let request = worker::Request::from(request);
    let request_id = request
        .headers()
        .get("sb-request-id")
        .ok()
        .flatten()
        .unwrap_or_else(new_id);
    let log = Log::new(function, request_id);
    let method = request.method().to_string();
    // The path only: a query may carry a secret (the worker's callback token).
    let path = request.path();
    let answer = if method == "OPTIONS" {
        Ok(preflight())
    } else {
        match Env::from_deno() {
            Ok(env) => {
                let store = Store::new(&env, log.clone());
                let context = Context {
                    env,
                    store,
                    log: log.clone(),
                };
                handler(request, context).await
            }
            Err(error) => {
                log.error(
                    "config",
                    json!({"code": error.code(), "message": error.to_string()}),
                );
                Err(ApiError::Internal)
            }
        }
    };
    let response = answer.unwrap_or_else(|error| {
        let fields = json!({"code": error.code(), "message": error.to_string()});
        if error.status() >= 500 {
            log.error("failed", fields);
        }
        error_response(&error)
    });
    let status = response.status_code();
    let ms = now_ms() - started;
    log.info(
        "answered",
        json!({"method": method, "path": path, "status": status, "ms": ms}),
    );
    with_cors(response).into()
}

/// A JSON answer with `status`.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    Response::from_json(body)
        .map(|response| response.with_status(status))
        .map_err(|_| ApiError::Internal)
}

/// The answer for `error`: its status and `{"error":{"code","message"}}`.
pub fn error_response(error: &ApiError) -> Response {
    json(error.status(), &error.to_body()).unwrap_or_else(|_| {
        Response::error("internal error", 500).expect("a plain-text error builds")
    })
}

/// The value of query parameter `name`, if present.
pub fn query(request: &worker::Request, name: &str) -> Option<String> {
    let url = request.url().ok()?;
    let value = url
        .query_pairs()
        .find(|(key, _)| key == name)?
        .1
        .into_owned();
    Some(value)
}

fn preflight() -> Response {
    Response::empty()
        .expect("an empty answer builds")
        .with_status(204)
}

fn with_cors(response: Response) -> Response {
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        let _ = headers.set(&name, &value);
    }
    let _ = headers.set("access-control-allow-origin", "*");
    let _ = headers.set("access-control-allow-headers", ALLOW_HEADERS);
    let _ = headers.set("access-control-allow-methods", ALLOW_METHODS);
    let _ = headers.set("access-control-max-age", "86400");
    response.with_headers(headers)
}
