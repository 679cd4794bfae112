//! Shared helpers: a served simulator, request builders, and a callback receiver.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suno_sim::SimConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const KEY: &str = "sim-suno-key";

/// A simulator served on an ephemeral port; stopped when dropped.
pub struct Sim {
    pub base: String,
    pub http: reqwest::Client,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn start() -> Sim {
    start_with(SimConfig {
        // Empty: the simulator uses its own address for file URLs.
        public_base_url: String::new(),
        ..SimConfig::default()
    })
    .await
}

pub async fn start_with(config: SimConfig) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(suno_sim::serve(listener, config));
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Sim { base, http, server }
}

/// A simulator whose clock only moves through `advance`, for exact timelines.
pub async fn start_frozen() -> Sim {
    let sim = start().await;
    sim.settings(json!({"time_scale": 0.0})).await;
    sim
}

/// A valid non-custom submit.
pub fn body(prompt: &str, callback: &str) -> Value {
    json!({
        "customMode": false,
        "instrumental": false,
        "model": "V4_5",
        "prompt": prompt,
        "callBackUrl": callback,
    })
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST /api/v1/generate with the default key; answers the envelope.
    pub async fn generate(&self, body: &Value) -> Value {
        self.http
            .post(self.url("/api/v1/generate"))
            .bearer_auth(KEY)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Submits and returns the task id, failing the test if refused.
    pub async fn submit(&self, body: &Value) -> String {
        let env = self.generate(body).await;
        assert_eq!(env["code"], 200, "submit refused: {env}");
        env["data"]["taskId"].as_str().unwrap().to_owned()
    }

    pub async fn api_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The `data` of record-info.
    pub async fn record(&self, task_id: &str) -> Value {
        let env = self
            .api_get(&format!("/api/v1/generate/record-info?taskId={task_id}"))
            .await;
        assert_eq!(env["code"], 200, "{env}");
        env["data"].clone()
    }

    pub async fn credits(&self) -> i64 {
        self.api_get("/api/v1/generate/credit").await["data"]
            .as_i64()
            .unwrap()
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(&format!("/__sim{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn get_control(&self, path: &str) -> Value {
        self.control(reqwest::Method::GET, path, None).await.1
    }

    pub async fn post_control(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.control(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    pub async fn settings(&self, patch: Value) -> Value {
        let (status, v) = self
            .control(reqwest::Method::PATCH, "/settings", Some(patch))
            .await;
        assert_eq!(status, 200, "settings: {v}");
        v
    }

    pub async fn advance(&self, secs: f64) {
        self.post_control("/advance", json!({ "secs": secs })).await;
    }

    pub async fn fault(&self, rule: Value) {
        self.post_control("/faults", rule).await;
    }

    pub async fn status(&self, task_id: &str) -> String {
        self.record(task_id).await["status"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// Polls `check` every 10 ms until it answers `Some`, or panics after `secs`.
pub async fn eventually<T, F, Fut>(secs: f64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A local webhook that records every body it gets and fails the first `fail_first`
/// deliveries with HTTP 500 (or all of them with `usize::MAX`).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Value>>>,
    fail_first: usize,
    delay: Duration,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Self {
        Self::start_slow(fail_first, Duration::ZERO).await
    }

    /// Like `start`, but every answer waits `delay` first.
    pub async fn start_slow(fail_first: usize, delay: Duration) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            hits: hits.clone(),
            fail_first,
            delay,
        };
        let app = Router::new().route("/cb", post(receive)).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, hits }
    }

    pub fn hits(&self) -> Vec<Value> {
        self.hits.lock().unwrap().clone()
    }

    /// The `callbackType` of every hit, in arrival order.
    pub fn stages(&self) -> Vec<String> {
        self.hits()
            .iter()
            .map(|h| h["data"]["callbackType"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let me = self.clone();
        eventually(5.0, &format!("{n} callbacks"), || {
            let hits = me.hits();
            async move { (hits.len() >= n).then_some(hits) }
        })
        .await
    }
}

async fn receive(State(s): State<ReceiverState>, Json(body): Json<Value>) -> StatusCode {
    tokio::time::sleep(s.delay).await;
    let n = {
        let mut hits = s.hits.lock().unwrap();
        hits.push(body);
        hits.len()
    };
    if n <= s.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}
