//! All simulator state behind one mutex, and the [`Sim`] handle every handler and
//! background task shares. The lock is never held across an `.await`.

use crate::clock::{wall_ms, SimClock};
use crate::config::{Settings, SimConfig};
use crate::faults::FaultRule;
use crate::outcome::Outcome;
use crate::task::Task;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// Oldest entries are dropped beyond this, so a long dev session cannot grow without bound.
const LOG_CAP: usize = 50_000;

/// One request the simulator received (control API excluded).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub seq: u64,
    pub at_ms: u64,
    pub sim_secs: f64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub endpoint: &'static str,
    /// Header values, with the API key in `Authorization` masked.
    pub headers: Value,
    /// The body as JSON when it parses, else as a string; `null` when empty.
    pub body: Value,
    /// The transport fault applied, as configured.
    pub fault: Option<Value>,
    pub http_status: Option<u16>,
    /// The `code` of the JSON envelope answered, when there was one.
    pub code: Option<u16>,
    /// For an accepted generate: the task it created (even if the answer was lost).
    pub task_id: Option<String>,
    pub credits_charged: i64,
}

/// One callback delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct CallbackRecord {
    pub seq: u64,
    pub at_ms: u64,
    pub task_id: String,
    pub stage: &'static str,
    pub attempt: u32,
    /// The late duplicate of a final callback (`callbacks.late_duplicate_secs`).
    pub late: bool,
    pub url: String,
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub body: Value,
}

pub struct State {
    pub initial: SimConfig,
    pub settings: Settings,
    pub clock: SimClock,
    pub credits: i64,
    pub tasks: HashMap<String, Task>,
    pub faults: Vec<FaultRule>,
    /// Draws for the faults' `probability`, from `settings.seed`.
    pub fault_rng: StdRng,
    pub outcomes: VecDeque<Outcome>,
    pub requests: VecDeque<RequestRecord>,
    pub callbacks: VecDeque<CallbackRecord>,
    /// Real-time arrival of the generate requests counted by the rate limit.
    pub window: VecDeque<Instant>,
    next_seq: u64,
    background: Vec<AbortHandle>,
}

impl State {
    fn new(config: SimConfig) -> Self {
        let settings = Settings::from_config(&config);
        Self {
            clock: SimClock::new(settings.time_scale),
            fault_rng: StdRng::seed_from_u64(settings.seed),
            credits: config.initial_credits,
            settings,
            initial: config,
            tasks: HashMap::new(),
            faults: Vec::new(),
            outcomes: VecDeque::new(),
            requests: VecDeque::new(),
            callbacks: VecDeque::new(),
            window: VecDeque::new(),
            next_seq: 0,
            background: Vec::new(),
        }
    }

    /// A fresh sequence number, shared by requests, tasks and callbacks so their order
    /// can be compared.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// Starts the fault draws again from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.settings.seed = seed;
        self.fault_rng = StdRng::seed_from_u64(seed);
    }

    pub fn push_request(&mut self, mut record: RequestRecord) -> u64 {
        record.seq = self.next_seq();
        let seq = record.seq;
        push_capped(&mut self.requests, record);
        seq
    }

    pub fn request_mut(&mut self, seq: u64) -> Option<&mut RequestRecord> {
        // Recent requests are at the back; a linear scan from there is short.
        self.requests.iter_mut().rev().find(|r| r.seq == seq)
    }

    pub fn push_callback(&mut self, mut record: CallbackRecord) {
        record.seq = self.next_seq();
        record.at_ms = wall_ms();
        push_capped(&mut self.callbacks, record);
    }

    pub fn tasks_in_order(&self) -> Vec<&Task> {
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.seq);
        tasks
    }

    /// Back to the startup configuration; background work is stopped.
    pub fn reset(&mut self) {
        self.abort_background();
        *self = Self::new(self.initial.clone());
    }

    fn abort_background(&mut self) {
        for handle in self.background.drain(..) {
            handle.abort();
        }
    }
}

fn push_capped<T>(log: &mut VecDeque<T>, item: T) {
    if log.len() >= LOG_CAP {
        log.pop_front();
    }
    log.push_back(item);
}

/// The shared handle: state, a signal for clock changes, and the callback HTTP client.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped whenever the clock's scale or offset changes, to wake timed waits.
    clock_changed: watch::Sender<u64>,
    http: reqwest::Client,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config)),
                clock_changed: watch::channel(0).0,
                // Callbacks go straight to their URL: a proxy from the environment would
                // make a local webhook unreachable.
                http: reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap_or_default(),
            }),
        }
    }

    /// A poisoned lock only means a handler panicked; the data is still usable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Call after changing the clock so sleepers recompute their deadlines.
    pub fn clock_changed(&self) {
        self.inner.clock_changed.send_modify(|v| *v += 1);
    }

    /// Sleeps until the simulated clock reads `at`, following scale changes and jumps.
    pub async fn sleep_until_sim(&self, at: f64) {
        loop {
            // Subscribe before reading the clock so a change in between is not missed.
            let mut changed = self.inner.clock_changed.subscribe();
            let wait = self.lock().clock.real_until(at);
            match wait {
                Some(d) if d.is_zero() => return,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = changed.changed() => {}
                    }
                }
                None => {
                    if changed.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Spawns work that `reset` (and the end of `serve`) must stop.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(fut).abort_handle();
        let mut st = self.lock();
        st.background.retain(|h| !h.is_finished());
        st.background.push(handle);
    }

    pub fn reset(&self) {
        self.lock().reset();
        self.clock_changed();
    }

    /// Stops background work when dropped; `serve` holds one for its lifetime.
    pub fn background_guard(&self) -> BackgroundGuard {
        BackgroundGuard(self.clone())
    }
}

pub struct BackgroundGuard(Sim);

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        self.0.lock().abort_background();
    }
}
