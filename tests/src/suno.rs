//! Contract tests of `music-core` against `suno-sim`, over real HTTP.
//!
//! [`Sim`] serves the simulator in-process on an ephemeral port, with its clock frozen so
//! a test moves time only through [`Sim::advance`], and wraps its control API. [`Shell`]
//! is the smallest possible edge-function shell: it sends the [`HttpRequest`] values the
//! core builds with reqwest and hands the HTTP status, `Retry-After` and body bytes, or the
//! transport failure, back to the core as a [`Reply`], which reads and classifies them.
//! Nothing here decides anything the core should decide; the one mapping left is reqwest's
//! errors to a `TransportFailure` (the core documents the same mapping for Deno).

use std::time::Duration;

use music_core::poll::PollResult;
use music_core::suno::{parse_credit, parse_generate, HttpRequest, Method, Reply, SunoApi};
use music_core::{Classification, Config, TransportFailure};
use serde_json::{json, Value};
use suno_sim::SimConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The key the simulator accepts by default.
pub const KEY: &str = "sim-suno-key";

/// How the simulator's request log shows [`KEY`] (masked to its first four characters).
pub const KEY_AS_LOGGED: &str = "Bearer sim-***";

/// A simulator on 127.0.0.1 with a frozen clock; it stops when dropped.
pub struct Sim {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    control: reqwest::Client,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Sim {
    /// Starts a simulator: default key and credits (1000), clock frozen at 0.
    pub async fn start() -> Sim {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let config = SimConfig {
            time_scale: 0.0,
            // Empty: file URLs use the listener's own address.
            public_base_url: String::new(),
            ..SimConfig::default()
        };
        let server = tokio::spawn(suno_sim::serve(listener, config));
        let control = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("control client");
        Sim {
            base,
            control,
            server,
        }
    }

    /// The core's configuration pointed at this simulator with the right key.
    pub fn config(&self) -> Config {
        self.config_with_key(KEY)
    }

    /// The core's configuration pointed at this simulator with `key`.
    pub fn config_with_key(&self, key: &str) -> Config {
        let (base, key) = (self.base.clone(), key.to_owned());
        Config::from_env(move |name| match name {
            "SUNO_API_BASE_URL" => Some(base.clone()),
            "SUNO_API_KEY" => Some(key.clone()),
            _ => None,
        })
        .expect("a valid configuration")
    }

    /// The core's client for this simulator.
    pub fn api(&self) -> SunoApi {
        self.config().suno_api().expect("a key is set")
    }

    /// The simulated clock as the core's `now_ms`: simulated seconds since start, in ms.
    pub async fn now_ms(&self) -> i64 {
        let secs = self.get("/state").await["sim_time_secs"]
            .as_f64()
            .expect("sim_time_secs");
        (secs * 1000.0).round() as i64
    }

    /// Moves the simulated clock forward; every task ages at once.
    pub async fn advance(&self, secs: f64) {
        self.post("/advance", json!({ "secs": secs })).await;
    }

    /// Adds a fault rule (or an array of rules).
    pub async fn fault(&self, rule: Value) {
        self.post("/faults", rule).await;
    }

    /// Queues `outcome` for the next submit.
    pub async fn outcome(&self, outcome: &str) {
        self.post("/outcomes", json!({ "outcome": outcome })).await;
    }

    /// Deep-merges `patch` into the settings (`credits` included).
    pub async fn settings(&self, patch: Value) {
        self.send(reqwest::Method::PATCH, "/settings", Some(patch))
            .await;
    }

    /// Every request the simulator received on `endpoint` (`generate`, `record_info`, ...).
    pub async fn requests(&self, endpoint: &str) -> Vec<Value> {
        let list = self.get(&format!("/requests?endpoint={endpoint}")).await;
        list.as_array().expect("a list").clone()
    }

    /// Every task the simulator holds, in creation order.
    pub async fn tasks(&self) -> Vec<Value> {
        self.get("/tasks").await.as_array().expect("a list").clone()
    }

    /// Waits up to 5 s (real time) for the simulator to hold `n` tasks.
    pub async fn wait_for_tasks(&self, n: usize) -> Vec<Value> {
        for _ in 0..500 {
            let tasks = self.tasks().await;
            if tasks.len() >= n {
                return tasks;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the simulator never held {n} tasks");
    }

    /// Every callback delivery attempt so far.
    pub async fn callbacks(&self) -> Vec<Value> {
        self.get("/callbacks")
            .await
            .as_array()
            .expect("a list")
            .clone()
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .control
            .request(method, format!("{}/__sim{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control API reachable");
        let status = response.status();
        let body: Value = response.json().await.expect("control API answers JSON");
        assert!(status.is_success(), "/__sim{path}: {status} {body}");
        body
    }
}

/// A minimal shell: sends the core's requests and feeds the answers back to the core.
pub struct Shell {
    http: reqwest::Client,
}

impl Shell {
    /// The default client timeout of these tests: generous for a local simulator.
    pub const TIMEOUT: Duration = Duration::from_secs(3);

    /// A shell whose calls give up after [`Shell::TIMEOUT`].
    pub fn new() -> Shell {
        Shell::with_timeout(Shell::TIMEOUT)
    }

    /// A shell whose calls give up after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Shell {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            // One connection per call: a reset or a lost answer cannot leak into the next.
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        Shell { http }
    }

    /// Sends `request` exactly as the core built it.
    pub async fn send(&self, request: &HttpRequest) -> Reply {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut call = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            call = call.header(name, value);
        }
        if let Some(body) = &request.body {
            call = call.body(body.clone());
        }
        let response = match call.send().await {
            Ok(response) => response,
            Err(error) => return Reply::Lost(transport_failure(&error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match response.bytes().await {
            Ok(body) => Reply::Answer {
                status,
                retry_after,
                body: body.to_vec(),
            },
            Err(error) => Reply::Lost(transport_failure(&error)),
        }
    }

    /// Sends a generate request: the task id, or what the core makes of the failure.
    pub async fn submit(&self, request: &HttpRequest) -> Result<String, Classification> {
        let reply = self.send(request).await;
        reply.read(request.endpoint, parse_generate)
    }

    /// Sends a credit request: the balance, or what the core makes of the failure.
    pub async fn credit(&self, request: &HttpRequest) -> Result<f64, Classification> {
        let reply = self.send(request).await;
        reply.read(request.endpoint, parse_credit)
    }

    /// Sends a record-info request and wraps the answer for `decide_poll`.
    pub async fn read_task(&self, request: &HttpRequest) -> PollResult {
        self.send(request).await.read_task()
    }
}

impl Default for Shell {
    fn default() -> Shell {
        Shell::new()
    }
}

/// Only a failure to connect proves nothing was sent. Anything later (a reset, a timeout
/// while waiting for the answer) may come after the provider got the request: the core
/// asks a shell that cannot tell to report it as lost after sending.
fn transport_failure(error: &reqwest::Error) -> TransportFailure {
    if error.is_connect() {
        TransportFailure::NotSent
    } else {
        TransportFailure::LostAfterSend
    }
}
