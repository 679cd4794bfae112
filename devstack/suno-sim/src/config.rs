//! Startup configuration (the public [`SimConfig`]) and the runtime [`Settings`] that the
//! control API can change while the simulator runs.

use serde::{Deserialize, Serialize};

/// What the simulator starts with; `POST /__sim/reset` returns to exactly this.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Keys accepted in `Authorization: Bearer <key>`.
    pub api_keys: Vec<String>,
    /// 1.0 = real time; 10.0 = a task's life runs ten times faster; 0.0 = frozen.
    pub time_scale: f64,
    /// Balance answered by `/api/v1/generate/credit` before any submit.
    pub initial_credits: i64,
    /// Prefix of the audio and image URLs the simulator hands out, e.g.
    /// `http://127.0.0.1:54330`. Left empty, `serve` fills in the listener's address.
    pub public_base_url: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_keys: vec!["sim-suno-key".to_owned()],
            time_scale: 1.0,
            initial_credits: 1000,
            public_base_url: "http://127.0.0.1:54330".to_owned(),
        }
    }
}

/// Callback stages, as spelled in `callbackType`.
pub const STAGES: [&str; 4] = ["text", "first", "complete", "error"];

/// Everything that `PATCH /__sim/settings` may change. Unknown fields are refused so a
/// typo in a test fails loudly instead of silently doing nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub api_keys: Vec<String>,
    pub time_scale: f64,
    pub public_base_url: String,
    /// Charged on every accepted submit (sunoapi.org charges about 12 per task).
    pub credits_per_task: i64,
    /// Accepted `model` values; the reference says to keep this list configuration.
    pub models: Vec<String>,
    /// Submits whose prompt, style or title contains one of these (case-insensitive)
    /// are refused at once with body code 400.
    pub banned_words: Vec<String>,
    pub rate_limit: RateLimit,
    pub timeline: Timeline,
    pub callbacks: CallbackOptions,
    /// Seed of the draws behind the faults' `probability`. Setting it (even to the same
    /// value) starts the sequence again, so a test run can be repeated exactly.
    pub seed: u64,
    /// How `record-info` spells statuses and clips.
    pub spelling: Spelling,
}

impl Settings {
    pub fn from_config(config: &SimConfig) -> Self {
        Self {
            api_keys: config.api_keys.clone(),
            // The clock cannot run backwards; a nonsensical scale means real time.
            time_scale: if config.time_scale.is_finite() {
                config.time_scale.max(0.0)
            } else {
                1.0
            },
            public_base_url: config.public_base_url.trim_end_matches('/').to_owned(),
            credits_per_task: 12,
            models: ["V3_5", "V4", "V4_5", "V4_5PLUS", "V4_5ALL", "V5", "V5_5"]
                .map(str::to_owned)
                .to_vec(),
            banned_words: Vec::new(),
            rate_limit: RateLimit::default(),
            timeline: Timeline::default(),
            callbacks: CallbackOptions::default(),
            seed: 0,
            spelling: Spelling::default(),
        }
    }

    /// Checks what serde cannot: ranges and orderings.
    pub fn check(&self) -> Result<(), String> {
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err("time_scale must be a finite number >= 0".into());
        }
        if self.rate_limit.window_ms == 0 {
            return Err("rate_limit.window_ms must be > 0".into());
        }
        if self.callbacks.max_attempts == 0 {
            return Err("callbacks.max_attempts must be >= 1".into());
        }
        let cb = &self.callbacks;
        if let Some(bad) = cb.duplicate.iter().find(|s| !STAGES.contains(&s.as_str())) {
            return Err(format!("callbacks.duplicate: unknown stage {bad:?}"));
        }
        if !["task_id", "taskId"].contains(&cb.task_id_field.as_str()) {
            return Err("callbacks.task_id_field must be \"task_id\" or \"taskId\"".into());
        }
        if cb
            .late_duplicate_secs
            .is_some_and(|s| !(s.is_finite() && s >= 0.0))
        {
            return Err("callbacks.late_duplicate_secs must be a finite number >= 0".into());
        }
        let t = &self.timeline;
        let all = [
            t.text_secs,
            t.first_secs,
            t.complete_secs,
            t.early_fail_secs,
            t.late_visibility_secs,
            self.callbacks.retry_delay_secs,
            self.callbacks.timeout_secs,
        ];
        if all.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err("durations must be finite numbers >= 0".into());
        }
        if !(t.text_secs <= t.first_secs && t.first_secs <= t.complete_secs) {
            return Err("timeline must satisfy text_secs <= first_secs <= complete_secs".into());
        }
        Ok(())
    }
}

/// The documented limit: 20 generate requests per 10 s, counted in real time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub max_requests: usize,
    pub window_ms: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            max_requests: 20,
            window_ms: 10_000,
        }
    }
}

/// When each stage of a task is reached, in simulated seconds after submit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    pub text_secs: f64,
    pub first_secs: f64,
    pub complete_secs: f64,
    /// When `create_task_failed` and `sensitive_word` outcomes fail.
    pub early_fail_secs: f64,
    /// How long a `late_visibility` task answers `data: null` unless its marker says.
    pub late_visibility_secs: f64,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            text_secs: 30.0,
            first_secs: 40.0,
            complete_secs: 120.0,
            early_fail_secs: 10.0,
            late_visibility_secs: 20.0,
        }
    }
}

/// How callbacks are delivered (global, read at each delivery).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallbackOptions {
    pub enabled: bool,
    /// Stages (`text`, `first`, `complete`, `error`) delivered twice.
    pub duplicate: Vec<String>,
    /// Hold the `first` callback back and send it right after `complete`.
    pub reorder: bool,
    /// `task_id` (sunoapi.org) or `taskId` (some other vendors).
    pub task_id_field: String,
    /// Deliveries per callback before giving up; the reference says 3.
    pub max_attempts: u32,
    /// Pause between failed deliveries, in simulated seconds.
    pub retry_delay_secs: f64,
    /// Per-delivery HTTP timeout, in real seconds.
    pub timeout_secs: f64,
    /// When the `complete` callback exhausts its attempts, report the task as
    /// `CALLBACK_EXCEPTION` (audio still present) instead of `SUCCESS`.
    pub mark_callback_exception: bool,
    /// Send the final callback (`complete` or `error`) once more, this many simulated
    /// seconds after it was first due: the late duplicate some vendors send minutes later.
    pub late_duplicate_secs: Option<f64>,
}

impl Default for CallbackOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            duplicate: Vec::new(),
            reorder: false,
            task_id_field: "task_id".to_owned(),
            max_attempts: 3,
            retry_delay_secs: 10.0,
            timeout_secs: 15.0,
            mark_callback_exception: false,
            late_duplicate_secs: None,
        }
    }
}

/// The spellings `record-info` may use. The contract's own (`suno`, `sunoData`) is the
/// default; the others are those some of its docs show, which a client must read too.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spelling {
    pub status: StatusSpelling,
    pub clips: ClipSpelling,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum StatusSpelling {
    /// `PENDING`, `TEXT_SUCCESS`, `FIRST_SUCCESS`, `SUCCESS`, and each failure by name.
    #[default]
    Suno,
    /// `PENDING`, `GENERATING` (text or first clip done), `SUCCESS`, `FAILED` (any
    /// failure, with its `errorCode` and `errorMessage`).
    Generic,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ClipSpelling {
    /// `response.sunoData[]` with camelCase keys (`audioUrl`).
    #[default]
    SunoData,
    /// `response.data[]` with snake_case keys (`audio_url`).
    Data,
}
