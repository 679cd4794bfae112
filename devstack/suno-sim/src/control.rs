//! The control API under `/__sim/` (plain JSON, no auth, never logged or faulted): read
//! and change settings, queue outcomes, add faults, move the clock, inspect requests,
//! tasks and callback deliveries, and reset. `README.md` documents every route.

use crate::config::Settings;
use crate::faults::FaultRule;
use crate::outcome::Outcome;
use crate::recorder::Endpoint;
use crate::render;
use crate::state::{Sim, State};
use crate::task::Task;
use axum::extract::{Path, Query, State as Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Upper bound on one outcome request, to keep the queue a sane size.
const MAX_OUTCOME_COUNT: u32 = 10_000;

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/state", get(state))
        .route(
            "/settings",
            get(settings).patch(patch_settings).post(patch_settings),
        )
        .route("/reset", post(reset))
        .route("/advance", post(advance))
        .route("/faults", get(faults).post(add_faults).delete(clear_faults))
        .route(
            "/outcomes",
            get(outcomes).post(add_outcomes).delete(clear_outcomes),
        )
        .route("/requests", get(requests).delete(clear_requests))
        .route("/tasks", get(tasks))
        .route("/tasks/{task_id}", get(task))
        .route("/callbacks", get(callbacks).delete(clear_callbacks))
}

fn bad_request(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

fn overview(st: &State) -> Value {
    json!({
        "settings": st.settings,
        "credits": st.credits,
        "sim_time_secs": st.now(),
        "faults": st.faults,
        "outcomes": st.outcomes,
        "counts": {
            "tasks": st.tasks.len(),
            "requests": st.requests.len(),
            "generate_requests": st.requests.iter().filter(|r| r.endpoint == "generate").count(),
            "callbacks": st.callbacks.len(),
        },
    })
}

async fn state(Shared(sim): Shared<Sim>) -> Json<Value> {
    Json(overview(&sim.lock()))
}

async fn settings(Shared(sim): Shared<Sim>) -> Json<Value> {
    let st = sim.lock();
    let mut view = serde_json::to_value(&st.settings).unwrap_or_default();
    view["credits"] = json!(st.credits);
    Json(view)
}

/// Deep-merges the body into the current settings, so `{"callbacks":{"reorder":true}}`
/// changes one option and keeps the others. `credits` is accepted here too.
async fn patch_settings(Shared(sim): Shared<Sim>, Json(mut patch): Json<Value>) -> Response {
    let Some(obj) = patch.as_object_mut() else {
        return bad_request("expected a JSON object");
    };
    let credits = match obj.remove("credits") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(c) => Some(c),
            None => return bad_request("credits must be an integer"),
        },
    };
    let reseed = obj.contains_key("seed");
    let mut st = sim.lock();
    let mut merged = serde_json::to_value(&st.settings).unwrap_or_default();
    merge(&mut merged, patch);
    let new: Settings = match serde_json::from_value(merged) {
        Ok(s) => s,
        Err(e) => return bad_request(e.to_string()),
    };
    if let Err(e) = new.check() {
        return bad_request(e);
    }
    let scale_changed = new.time_scale != st.settings.time_scale;
    if scale_changed {
        st.clock.set_scale(new.time_scale);
    }
    st.settings = Settings {
        public_base_url: new.public_base_url.trim_end_matches('/').to_owned(),
        ..new
    };
    if let Some(c) = credits {
        st.credits = c;
    }
    if reseed {
        let seed = st.settings.seed;
        st.reseed(seed);
    }
    let view = overview(&st);
    drop(st);
    if scale_changed {
        sim.clock_changed();
    }
    Json(view).into_response()
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

async fn reset(Shared(sim): Shared<Sim>) -> Json<Value> {
    sim.reset();
    Json(overview(&sim.lock()))
}

#[derive(Deserialize)]
struct Advance {
    secs: f64,
}

/// Moves the simulated clock forward: every task ages by `secs` at once.
async fn advance(Shared(sim): Shared<Sim>, Json(body): Json<Advance>) -> Response {
    if !(body.secs.is_finite() && body.secs >= 0.0) {
        return bad_request("secs must be a finite number >= 0");
    }
    let now = {
        let mut st = sim.lock();
        st.clock.advance(body.secs);
        st.now()
    };
    sim.clock_changed();
    Json(json!({ "sim_time_secs": now })).into_response()
}

async fn faults(Shared(sim): Shared<Sim>) -> Json<Value> {
    Json(json!(sim.lock().faults))
}

/// Takes one rule or an array of rules; they are appended after the existing ones.
async fn add_faults(Shared(sim): Shared<Sim>, Json(body): Json<Value>) -> Response {
    let list = if body.is_array() {
        body
    } else {
        Value::Array(vec![body])
    };
    let Value::Array(items) = list else {
        return bad_request("expected a rule or an array of rules");
    };
    let rules: Vec<FaultRule> = match items.into_iter().map(FaultRule::parse).collect() {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let mut st = sim.lock();
    let now = st.now();
    st.faults
        .extend(rules.into_iter().map(|rule| rule.anchored(now)));
    Json(json!(st.faults)).into_response()
}

async fn clear_faults(Shared(sim): Shared<Sim>) -> Json<Value> {
    sim.lock().faults.clear();
    Json(json!([]))
}

async fn outcomes(Shared(sim): Shared<Sim>) -> Json<Value> {
    Json(json!(sim.lock().outcomes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeRequest {
    outcome: Outcome,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

/// Queues an outcome for the next `count` submits that carry no marker.
async fn add_outcomes(Shared(sim): Shared<Sim>, Json(body): Json<Value>) -> Response {
    let req: OutcomeRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => return bad_request(e.to_string()),
    };
    if req.count == 0 || req.count > MAX_OUTCOME_COUNT {
        return bad_request(format!("count must be 1..={MAX_OUTCOME_COUNT}"));
    }
    let mut st = sim.lock();
    let copies = std::iter::repeat(req.outcome).take(req.count as usize);
    st.outcomes.extend(copies);
    Json(json!(st.outcomes)).into_response()
}

async fn clear_outcomes(Shared(sim): Shared<Sim>) -> Json<Value> {
    sim.lock().outcomes.clear();
    Json(json!([]))
}

/// `?endpoint=generate` keeps one endpoint; `?since=<seq>` keeps later entries.
async fn requests(Shared(sim): Shared<Sim>, Query(q): Query<HashMap<String, String>>) -> Response {
    let endpoint = match q.get("endpoint") {
        None => None,
        Some(e) => match serde_json::from_value::<Endpoint>(json!(e)) {
            Ok(e) => Some(e.name()),
            Err(_) => return bad_request(format!("unknown endpoint {e:?}")),
        },
    };
    let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let st = sim.lock();
    let list: Vec<_> = st
        .requests
        .iter()
        .filter(|r| r.seq > since && endpoint.map_or(true, |e| r.endpoint == e))
        .collect();
    Json(json!(list)).into_response()
}

async fn clear_requests(Shared(sim): Shared<Sim>) -> Json<Value> {
    sim.lock().requests.clear();
    Json(json!([]))
}

fn task_view(st: &State, task: &Task) -> Value {
    let now = st.now();
    let phase = task.phase(now);
    let mut view = Map::new();
    view.insert("task_id".into(), json!(task.id));
    view.insert("seq".into(), json!(task.seq));
    view.insert("outcome".into(), json!(task.outcome));
    view.insert("status".into(), json!(phase.status()));
    view.insert("age_sim_secs".into(), json!(now - task.created_sim));
    view.insert("visible".into(), json!(task.visible(now)));
    view.insert("created_ms".into(), json!(task.created_ms));
    view.insert("credits_charged".into(), json!(task.credits_charged));
    view.insert("refunded".into(), json!(task.refunded));
    view.insert("callback_url".into(), json!(task.params.callback_url));
    view.insert("request_seq".into(), json!(task.request_seq));
    let (base, spelling) = (&st.settings.public_base_url, &st.settings.spelling);
    view.insert(
        "record".into(),
        render::record_info(task, phase, base, spelling),
    );
    Value::Object(view)
}

async fn tasks(Shared(sim): Shared<Sim>) -> Json<Value> {
    let st = sim.lock();
    let list: Vec<Value> = st
        .tasks_in_order()
        .into_iter()
        .map(|t| task_view(&st, t))
        .collect();
    Json(json!(list))
}

async fn task(Shared(sim): Shared<Sim>, Path(task_id): Path<String>) -> Response {
    let st = sim.lock();
    match st.tasks.get(&task_id) {
        Some(t) => Json(task_view(&st, t)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such task" })),
        )
            .into_response(),
    }
}

/// `?task_id=` keeps one task's deliveries.
async fn callbacks(
    Shared(sim): Shared<Sim>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let st = sim.lock();
    let task_id = q.get("task_id");
    let list: Vec<_> = st
        .callbacks
        .iter()
        .filter(|c| task_id.map_or(true, |id| &c.task_id == id))
        .collect();
    Json(json!(list))
}

async fn clear_callbacks(Shared(sim): Shared<Sim>) -> Json<Value> {
    sim.lock().callbacks.clear();
    Json(json!([]))
}
