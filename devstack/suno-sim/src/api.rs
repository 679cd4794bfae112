//! The three sunoapi.org endpoints: submit, task details and credits, plus the answer to
//! an unknown path. Order of checks on submit: key (401), rate window (430), body (400,
//! 422, 413), banned words and markers (400), credits (429); only then is a task created
//! and charged.

use crate::callbacks;
use crate::clock::wall_ms;
use crate::envelope::{
    self, error, ok, MSG_CREDITS, MSG_FREQUENCY, MSG_NOT_FOUND, MSG_UNAUTHORIZED,
};
use crate::outcome::{self, Outcome};
use crate::recorder::RequestSeq;
use crate::render;
use crate::state::{Sim, State};
use crate::task::{NewTask, Task};
use crate::validate::{self, Rejection};
use axum::body::Bytes;
use axum::extract::{Query, State as Shared};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

pub async fn generate(
    Shared(sim): Shared<Sim>,
    Extension(req): Extension<RequestSeq>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match submit(&sim, req, &headers, &body) {
        Ok(task_id) => {
            callbacks::start(&sim, &task_id);
            ok(json!({ "taskId": task_id }))
        }
        Err(r) => error(r.code, &r.msg),
    }
}

fn refuse(code: u16, msg: impl Into<String>) -> Rejection {
    Rejection {
        code,
        msg: msg.into(),
    }
}

fn submit(
    sim: &Sim,
    req: RequestSeq,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Rejection> {
    let mut st = sim.lock();
    if !authorized(&st, headers) {
        return Err(refuse(401, MSG_UNAUTHORIZED));
    }
    if !admit(&mut st) {
        return Err(refuse(430, MSG_FREQUENCY));
    }
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| refuse(400, "The request body is not valid JSON."))?;
    let params = validate::check(&json, &st.settings.models)?;
    if let Some(word) = validate::banned_word(&params, &st.settings.banned_words) {
        return Err(refuse(
            400,
            format!("The content contains a sensitive word: {word}."),
        ));
    }
    let marker = outcome::marker(&[&params.prompt, &params.style, &params.title])
        .map_err(|e| refuse(400, format!("Simulator marker refused: {e}.")))?;
    let cost = st.settings.credits_per_task;
    if st.credits < cost {
        return Err(refuse(429, MSG_CREDITS));
    }
    // A marker wins and leaves the queue alone, so markers and queued outcomes can mix.
    let outcome = match marker {
        Some(o) => o,
        None => st.outcomes.pop_front().unwrap_or(Outcome::Success),
    };
    st.credits -= cost;
    let new = NewTask {
        seq: st.next_seq(),
        outcome,
        params,
        param_json: json.to_string(),
        created_sim: st.now(),
        created_ms: wall_ms(),
        credits_charged: cost,
        request_seq: Some(req.0),
    };
    let task = Task::new(new, &st.settings.timeline);
    let id = task.id.clone();
    if let Some(record) = st.request_mut(req.0) {
        record.task_id = Some(id.clone());
        record.credits_charged = cost;
    }
    st.tasks.insert(id.clone(), task);
    Ok(id)
}

pub async fn record_info(
    Shared(sim): Shared<Sim>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let st = sim.lock();
    if !authorized(&st, &headers) {
        return error(401, MSG_UNAUTHORIZED);
    }
    let Some(task_id) = query.get("taskId").filter(|s| !s.is_empty()) else {
        return error(400, "Please enter taskId.");
    };
    let now = st.now();
    match st.tasks.get(task_id.as_str()) {
        // Unknown and not-yet-visible tasks look the same: HTTP 200 with `data: null`.
        Some(task) if task.visible(now) => {
            let settings = &st.settings;
            let (base, spelling) = (&settings.public_base_url, &settings.spelling);
            ok(render::record_info(task, task.phase(now), base, spelling))
        }
        _ => ok(Value::Null),
    }
}

pub async fn credit(Shared(sim): Shared<Sim>, headers: HeaderMap) -> Response {
    let st = sim.lock();
    if !authorized(&st, &headers) {
        return error(401, MSG_UNAUTHORIZED);
    }
    ok(json!(st.credits))
}

pub async fn not_found() -> Response {
    envelope::error(404, MSG_NOT_FOUND)
}

fn authorized(st: &State, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.trim().splitn(2, ' ');
    let (Some(scheme), Some(key)) = (parts.next(), parts.next()) else {
        return false;
    };
    let key = key.trim();
    scheme.eq_ignore_ascii_case("bearer") && st.settings.api_keys.iter().any(|k| k == key)
}

/// The sliding window over real time. Every authorised submit that gets past it counts,
/// valid or not; refused ones do not, so a client that waits always gets back in.
/// `max_requests: 0` turns the limit off.
fn admit(st: &mut State) -> bool {
    let limit = st.settings.rate_limit.clone();
    if limit.max_requests == 0 {
        return true;
    }
    let now = Instant::now();
    let window = Duration::from_millis(limit.window_ms);
    while st
        .window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        st.window.pop_front();
    }
    if st.window.len() >= limit.max_requests {
        return false;
    }
    st.window.push_back(now);
    true
}
