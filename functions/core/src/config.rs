//! The deployment's settings, read from environment-like variables: the provider's URL and
//! key, and the tuning of timeouts, backoff and the circuit breaker.
//!
//! Queue behaviour an admin changes at run time (batch size, spacing between submits,
//! attempts per request, the shared rate limit, the manual pause) is not here: it lives once,
//! in SQL rows ([`crate::settings`]).
//!
//! [`Config::from_env`] takes a lookup function instead of reading the process environment, so
//! it stays pure: the shell passes `Deno.env.get`, tests pass a map. Unset or blank variables
//! take their default; a bad value is an error naming the variable and the value (never the
//! API key). Each field's doc names its variable, default and accepted range.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::Serialize;

use crate::error::ErrorCode;
use crate::health::CircuitPolicy;
use crate::model::Model;
use crate::retry::{Backoff, Cooldown};
use crate::suno::SunoApi;

/// A configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable is set to a value that cannot be used.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// The value found.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// A variable needed for the operation asked is not set.
    #[error("{var} is not set")]
    Missing {
        /// The variable.
        var: &'static str,
    },
}

impl ErrorCode for ConfigError {
    fn code(&self) -> &'static str {
        match self {
            ConfigError::Invalid { .. } => "invalid_config",
            ConfigError::Missing { .. } => "missing_config",
        }
    }
}

/// The queue's settings. `Debug` and `Serialize` leave the API key out.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// `SUNO_API_BASE_URL`: the provider's base URL, default `https://api.sunoapi.org`.
    /// Must start with `http://` or `https://`; a trailing `/` is dropped.
    pub suno_base_url: String,
    /// `SUPABASE_URL`: the project's URL, which the provider's callbacks go to; `None` when
    /// unset ([`Config::callback_url`] then fails with [`ConfigError::Missing`]).
    pub supabase_url: Option<String>,
    /// `SUNO_API_KEY`: the provider key; `None` when unset (probes and submits then fail with
    /// [`ConfigError::Missing`] through [`Config::suno_api`]).
    #[serde(skip)]
    pub suno_api_key: Option<String>,
    /// `SUNO_MODEL`: model version, default `V4_5`; one of [`Model::ALL`].
    pub suno_model: Model,
    /// `SUNO_REQUEST_TIMEOUT_MS`: how long one provider call may take, default 30 000,
    /// 1 000–300 000.
    pub suno_request_timeout_ms: u64,
    /// `SUNO_CREDITS_PER_TASK`: credits one generation costs; a lower balance pauses the queue.
    /// Default 12, 0–10 000.
    pub suno_credits_per_task: u32,
    /// `MUSIC_LEASE_SECONDS`: how long a claim is owned, default 120, 10–3 600. Must exceed
    /// the worker budget plus one request timeout, so no lease expires under a live worker.
    pub lease_seconds: u32,
    /// `MUSIC_WORKER_BUDGET_MS`: how long one worker run may keep submitting, default 50 000,
    /// 1 000–600 000; what is left is handed back to the queue.
    pub worker_budget_ms: u64,
    /// `SUNO_POLL_INTERVAL_SECONDS`: pause between two reads of one task, default 20, 1–600.
    /// The provider asks for no more than one read every 15–30 s.
    pub poll_interval_ms: u64,
    /// `MUSIC_STUCK_TASK_SECONDS`: a task without terminal state this long after submit is
    /// stuck, default 900 (15 min), 1–86 400.
    pub stuck_after_ms: u64,
    /// `MUSIC_AMBIGUOUS_WAIT_SECONDS`: after a submit whose answer was lost, how long to wait
    /// for a callback before resubmitting, default 300, 1–3 600.
    pub ambiguous_wait_ms: u64,
    /// `MUSIC_RETRY_BASE_SECONDS`: first retry backoff, default 30, 1–3 600.
    pub retry_base_ms: u64,
    /// `MUSIC_RETRY_CAP_SECONDS`: longest retry backoff, default 900, 1–86 400, at least the base.
    pub retry_cap_ms: u64,
    /// `SUNO_COOLDOWN_BASE_SECONDS`: first rate-limit cool-down, default 10, 10–3 600.
    pub cooldown_base_ms: u64,
    /// `SUNO_COOLDOWN_CAP_SECONDS`: longest cool-down, default 300, 10–86 400, at least the base.
    pub cooldown_cap_ms: u64,
    /// `SUNO_CIRCUIT_FAILURE_THRESHOLD`: consecutive failures that open the circuit, default 3,
    /// 1–100.
    pub circuit_failure_threshold: u32,
    /// `SUNO_CIRCUIT_OPEN_SECONDS`: first open period, default 60, 1–3 600; it doubles per
    /// further failure up to 16 times this value.
    pub circuit_open_ms: u64,
    /// `SUNO_MAINTENANCE_PAUSE_SECONDS`: pause after a maintenance answer, default 300,
    /// 1–86 400.
    pub maintenance_pause_ms: u64,
    /// `SUNO_STATUS_MAX_AGE_SECONDS`: a provider status older than this is probed again before
    /// use, default 60, 1–3 600.
    pub status_max_age_ms: u64,
    /// `SUNO_SLOW_RESPONSE_MS`: answers slower than this mark the provider degraded, default
    /// 10 000, 100–300 000.
    pub slow_response_ms: u64,
}

impl Config {
    /// Reads every setting through `lookup` (e.g. `|name| std::env::var(name).ok()`).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env { lookup };
        let retry_base_ms = env.seconds("MUSIC_RETRY_BASE_SECONDS", 30, 1..=3_600)?;
        let cooldown_base_ms = env.seconds("SUNO_COOLDOWN_BASE_SECONDS", 10, 10..=3_600)?;
        let config = Config {
            suno_base_url: env
                .url("SUNO_API_BASE_URL")?
                .unwrap_or_else(default_base_url),
            supabase_url: env.url("SUPABASE_URL")?,
            suno_api_key: env.raw("SUNO_API_KEY"),
            suno_model: env.model("SUNO_MODEL")?,
            suno_request_timeout_ms: env.number(
                "SUNO_REQUEST_TIMEOUT_MS",
                30_000,
                1_000..=300_000,
            )?,
            suno_credits_per_task: env.number("SUNO_CREDITS_PER_TASK", 12, 0..=10_000)?,
            lease_seconds: env.number("MUSIC_LEASE_SECONDS", 120, 10..=3_600)?,
            worker_budget_ms: env.number("MUSIC_WORKER_BUDGET_MS", 50_000, 1_000..=600_000)?,
            poll_interval_ms: env.seconds("SUNO_POLL_INTERVAL_SECONDS", 20, 1..=600)?,
            stuck_after_ms: env.seconds("MUSIC_STUCK_TASK_SECONDS", 900, 1..=86_400)?,
            ambiguous_wait_ms: env.seconds("MUSIC_AMBIGUOUS_WAIT_SECONDS", 300, 1..=3_600)?,
            retry_base_ms,
            retry_cap_ms: env.cap_seconds(
                "MUSIC_RETRY_CAP_SECONDS",
                900,
                "MUSIC_RETRY_BASE_SECONDS",
                retry_base_ms,
            )?,
            cooldown_base_ms,
            cooldown_cap_ms: env.cap_seconds(
                "SUNO_COOLDOWN_CAP_SECONDS",
                300,
                "SUNO_COOLDOWN_BASE_SECONDS",
                cooldown_base_ms,
            )?,
            circuit_failure_threshold: env.number("SUNO_CIRCUIT_FAILURE_THRESHOLD", 3, 1..=100)?,
            circuit_open_ms: env.seconds("SUNO_CIRCUIT_OPEN_SECONDS", 60, 1..=3_600)?,
            maintenance_pause_ms: env.seconds("SUNO_MAINTENANCE_PAUSE_SECONDS", 300, 1..=86_400)?,
            status_max_age_ms: env.seconds("SUNO_STATUS_MAX_AGE_SECONDS", 60, 1..=3_600)?,
            slow_response_ms: env.number("SUNO_SLOW_RESPONSE_MS", 10_000, 100..=300_000)?,
        };
        config.check_lease()?;
        Ok(config)
    }

    /// A client for the provider; fails when `SUNO_API_KEY` is not set.
    pub fn suno_api(&self) -> Result<SunoApi, ConfigError> {
        let key = self.suno_api_key.as_deref().ok_or(ConfigError::Missing {
            var: "SUNO_API_KEY",
        })?;
        Ok(SunoApi::new(&self.suno_base_url, key))
    }

    /// The URL the provider calls back for `request_id`, carrying its `token`; fails when
    /// `SUPABASE_URL` is not set.
    pub fn callback_url(&self, request_id: &str, token: &str) -> Result<String, ConfigError> {
        let project = self.supabase_url.as_deref().ok_or(ConfigError::Missing {
            var: "SUPABASE_URL",
        })?;
        Ok(crate::suno::callback_url(project, request_id, token))
    }

    /// The retry backoff of one request.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.retry_base_ms, self.retry_cap_ms)
    }

    /// The rate-limit cool-down.
    pub fn cooldown(&self) -> Cooldown {
        Cooldown::new(self.cooldown_base_ms, self.cooldown_cap_ms)
    }

    /// The circuit breaker's tuning.
    pub fn circuit_policy(&self) -> CircuitPolicy {
        CircuitPolicy {
            failure_threshold: self.circuit_failure_threshold,
            open_ms: self.circuit_open_ms,
            open_cap_ms: self.circuit_open_ms.saturating_mul(16),
            maintenance_ms: self.maintenance_pause_ms,
            probe_interval_ms: self.status_max_age_ms,
            slow_ms: self.slow_response_ms,
            cooldown: self.cooldown(),
        }
    }

    fn check_lease(&self) -> Result<(), ConfigError> {
        let lease_ms = u64::from(self.lease_seconds) * 1000;
        if lease_ms > self.worker_budget_ms + self.suno_request_timeout_ms {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            var: "MUSIC_LEASE_SECONDS",
            value: self.lease_seconds.to_string(),
            reason: format!(
                "must exceed MUSIC_WORKER_BUDGET_MS + SUNO_REQUEST_TIMEOUT_MS ({} ms) so a lease \
                 cannot expire while its worker still runs",
                self.worker_budget_ms + self.suno_request_timeout_ms
            ),
        })
    }
}

impl Default for Config {
    /// Every setting at its default, no API key.
    fn default() -> Config {
        Config::from_env(|_| None).expect("the defaults are valid")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.suno_api_key.as_ref().map(|_| "***");
        let mut shown = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        shown["suno_api_key"] = serde_json::json!(key);
        write!(f, "Config {shown}")
    }
}

fn default_base_url() -> String {
    "https://api.sunoapi.org".to_owned()
}

/// Reads variables through the caller's lookup.
struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The trimmed value; blank counts as unset.
    fn raw(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn number<T>(
        &self,
        var: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(value) = self.raw(var) else {
            return Ok(default);
        };
        let reason = || {
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            )
        };
        match value.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                var,
                value,
                reason: reason(),
            }),
        }
    }

    /// A number of seconds, returned in milliseconds.
    fn seconds(
        &self,
        var: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        Ok(self.number(var, default, range)? * 1000)
    }

    /// A cap in seconds that may not be below its base (`base_var`, already read as
    /// `base_ms`); returned in milliseconds. A default below the base is raised to it.
    fn cap_seconds(
        &self,
        var: &'static str,
        default: u64,
        base_var: &'static str,
        base_ms: u64,
    ) -> Result<u64, ConfigError> {
        const MAX_SECONDS: u64 = 86_400;
        let floor = base_ms / 1000;
        let Some(value) = self.raw(var) else {
            return Ok(default.max(floor) * 1000);
        };
        match value.parse::<u64>() {
            Ok(n) if (floor..=MAX_SECONDS).contains(&n) => Ok(n * 1000),
            _ => Err(ConfigError::Invalid {
                var,
                value,
                reason: format!(
                    "expected a whole number from {floor} (the value of {base_var}) to {MAX_SECONDS}"
                ),
            }),
        }
    }

    fn model(&self, var: &'static str) -> Result<Model, ConfigError> {
        match self.raw(var) {
            None => Ok(Model::default()),
            Some(value) => Model::parse(&value).map_err(|_| ConfigError::Invalid {
                var,
                value,
                reason: format!("expected one of {}", Model::accepted_values()),
            }),
        }
    }

    fn url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.raw(var) else {
            return Ok(None);
        };
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                Ok(Some(value.trim_end_matches('/').to_owned()))
            }
            _ => Err(ConfigError::Invalid {
                var,
                value,
                reason: "expected an http:// or https:// URL".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(|name| map.get(name).cloned())
    }

    fn invalid_var(vars: &[(&str, &str)]) -> (&'static str, String) {
        match config(vars).unwrap_err() {
            ConfigError::Invalid { var, value, .. } => (var, value),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.suno_base_url, "https://api.sunoapi.org");
        assert_eq!(c.suno_api_key, None);
        assert_eq!(c.suno_model, Model::V4_5);
        assert_eq!(c.lease_seconds, 120);
        assert_eq!(c.stuck_after_ms, 15 * 60_000);
        assert_eq!((c.retry_base_ms, c.retry_cap_ms), (30_000, 900_000));
        assert_eq!(c.cooldown_base_ms, 10_000);
    }

    #[test]
    fn values_are_read_and_trimmed() {
        let c = config(&[
            ("SUNO_API_BASE_URL", " http://127.0.0.1:9999/ "),
            ("SUNO_API_KEY", "sk-1"),
            ("SUNO_MODEL", "v5"),
            ("SUNO_POLL_INTERVAL_SECONDS", "2"),
        ])
        .unwrap();
        assert_eq!(c.suno_base_url, "http://127.0.0.1:9999");
        assert_eq!(c.suno_api_key.as_deref(), Some("sk-1"));
        assert_eq!(c.suno_model, Model::V5);
        assert_eq!(c.poll_interval_ms, 2_000);
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = config(&[("SUNO_API_KEY", "  "), ("SUNO_MODEL", "")]).unwrap();
        assert_eq!(c.suno_api_key, None);
        assert_eq!(c.suno_model, Model::V4_5);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        assert_eq!(
            invalid_var(&[("SUNO_REQUEST_TIMEOUT_MS", "lots")]),
            ("SUNO_REQUEST_TIMEOUT_MS", "lots".into())
        );
        assert_eq!(
            invalid_var(&[("SUNO_POLL_INTERVAL_SECONDS", "0")]),
            ("SUNO_POLL_INTERVAL_SECONDS", "0".into())
        );
        assert_eq!(
            invalid_var(&[("SUNO_MODEL", "V9")]),
            ("SUNO_MODEL", "V9".into())
        );
        assert_eq!(
            invalid_var(&[("SUNO_API_BASE_URL", "api.sunoapi.org")]).0,
            "SUNO_API_BASE_URL"
        );
        assert_eq!(
            invalid_var(&[("MUSIC_WORKER_BUDGET_MS", "-5")]).0,
            "MUSIC_WORKER_BUDGET_MS"
        );
        let message = config(&[("SUNO_MODEL", "V9")]).unwrap_err().to_string();
        assert!(
            message.starts_with("SUNO_MODEL=\"V9\" is invalid"),
            "{message}"
        );
        assert!(message.contains("V4_5PLUS"), "{message}");
    }

    #[test]
    fn cool_down_may_not_go_below_ten_seconds() {
        assert_eq!(
            invalid_var(&[("SUNO_COOLDOWN_BASE_SECONDS", "5")]).0,
            "SUNO_COOLDOWN_BASE_SECONDS"
        );
    }

    #[test]
    fn caps_may_not_be_below_their_base() {
        let err = config(&[
            ("MUSIC_RETRY_BASE_SECONDS", "60"),
            ("MUSIC_RETRY_CAP_SECONDS", "30"),
        ])
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "MUSIC_RETRY_CAP_SECONDS",
                ..
            }
        ));
        assert!(
            err.to_string().contains("MUSIC_RETRY_BASE_SECONDS"),
            "{err}"
        );
        // A raised base lifts the default cap's floor instead of failing.
        let c = config(&[("MUSIC_RETRY_BASE_SECONDS", "1200")]).unwrap();
        assert_eq!(c.retry_cap_ms, 1_200_000);
    }

    #[test]
    fn a_lease_shorter_than_a_worker_run_is_refused() {
        let err = config(&[("MUSIC_LEASE_SECONDS", "60")]).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    var: "MUSIC_LEASE_SECONDS",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.code(), "invalid_config");
    }

    #[test]
    fn the_key_is_needed_only_to_call_the_provider() {
        let err = Config::default().suno_api().unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "SUNO_API_KEY"
            }
        );
        assert_eq!(err.code(), "missing_config");
        let with_key = config(&[("SUNO_API_KEY", "sk-1")]).unwrap();
        assert_eq!(
            with_key.suno_api().unwrap().base_url(),
            "https://api.sunoapi.org"
        );
    }

    #[test]
    fn the_callback_url_comes_from_supabase_url() {
        assert_eq!(
            Config::default().callback_url("r1", "t1"),
            Err(ConfigError::Missing {
                var: "SUPABASE_URL"
            })
        );
        let c = config(&[("SUPABASE_URL", "https://abc.supabase.co")]).unwrap();
        assert_eq!(
            c.callback_url("r1", "t1").unwrap(),
            "https://abc.supabase.co/functions/v1/music-queue-worker/callback?request_id=r1&token=t1"
        );
    }

    #[test]
    fn the_key_never_shows() {
        let c = config(&[("SUNO_API_KEY", "sk-secret")]).unwrap();
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("sk-secret"), "{shown}");
    }

    #[test]
    fn queue_behaviour_is_not_read_from_the_environment() {
        // Batch size, spacing, attempts and the rate limit live in SQL rows: these variables
        // mean nothing here, so even nonsense in them is no error.
        let c = config(&[
            ("MUSIC_WORKER_BATCH_SIZE", "lots"),
            ("MUSIC_WORKER_SPACING_MS", "-5"),
            ("MUSIC_MAX_ATTEMPTS", "0"),
            ("SUNO_RATE_LIMIT_PER_WINDOW", "none"),
            ("SUNO_RATE_LIMIT_WINDOW_SECONDS", "never"),
        ]);
        assert_eq!(c, Ok(Config::default()));
    }
}
