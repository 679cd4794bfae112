//! Outbound HTTP with a timeout (`AbortSignal.timeout`), as a `music_core` [`Reply`].
//!
//! A failed call is classified once, by [`music_core::suno::fetch_failure`]: only a failure
//! to connect is `NotSent`; a timeout, a reset or a failed body read after sending is
//! `LostAfterSend`, because the other side may have acted on the request.

use music_core::suno::{fetch_failure, HttpRequest, Reply};
use wasm_bindgen::prelude::*;
use worker::{Fetch, Headers, Method, RequestInit};

use crate::runtime::now_ms;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_signal_timeout(ms: f64) -> worker::web_sys::AbortSignal;
}

/// What one call gave back, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The answer, or why there was none.
    pub reply: Reply,
    /// Milliseconds from sending to the end of the body (or the failure).
    pub elapsed_ms: u64,
}

/// Sends a provider request built by the core, giving up after `timeout_ms`. The answer
/// comes back without the request's secrets ([`Reply::without`]).
pub async fn send(request: &HttpRequest, timeout_ms: u64) -> Sent {
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let method = request.method.as_str();
    let sent = send_raw(
        method,
        &request.url,
        &headers,
        request.body.as_deref(),
        timeout_ms,
    )
    .await;
    Sent {
        reply: sent.reply.without(&request.secrets()),
        ..sent
    }
}

/// Sends any request (`method`, `url`, `headers`, an optional text body), giving up after
/// `timeout_ms`: for calls that are not the provider's (webhooks, another function).
pub async fn send_raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout_ms: u64,
) -> Sent {
    let started = now_ms();
    let reply = exchange(method, url, headers, body, timeout_ms).await;
    let elapsed_ms = u64::try_from(now_ms() - started).unwrap_or(0);
    Sent { reply, elapsed_ms }
}

async fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout_ms: u64,
) -> Reply {
    let request = match build(method, url, headers, body) {
        Ok(request) => request,
        // A request that cannot even be built (bad URL) never left.
        Err(error) => return Reply::Lost(failure(&error, false)),
    };
    let signal = worker::AbortSignal::from(abort_signal_timeout(timeout_ms as f64));
    let mut response = match Fetch::Request(request).send_with_signal(&signal).await {
        Ok(response) => response,
        Err(error) => return Reply::Lost(failure(&error, false)),
    };
    let status = response.status_code();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    match response.bytes().await {
        Ok(body) => Reply::Answer {
            status,
            retry_after,
            body,
        },
        Err(error) => Reply::Lost(failure(&error, true)),
    }
}

fn build(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> worker::Result<worker::Request> {
    let sent_headers = Headers::new();
    for (name, value) in headers {
        sent_headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(method.to_owned()))
        .with_headers(sent_headers)
        .with_body(body.map(JsValue::from_str));
    worker::Request::new_with_init(url, &init)
}

fn failure(error: &worker::Error, answer_started: bool) -> music_core::TransportFailure {
    match error {
        worker::Error::UnknownJsError { name, message, .. } => {
            fetch_failure(name.as_deref().unwrap_or(""), message, answer_started)
        }
        other => fetch_failure("", &other.to_string(), answer_started),
    }
}
