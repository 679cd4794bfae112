//! The function's environment, read once per request into one typed [`Env`].
//!
//! Env carries only secrets and URLs; queue behaviour lives in SQL rows. The provider's
//! settings (`SUNO_API_KEY`, `SUNO_API_BASE_URL`, timeouts) are parsed by
//! [`music_core::Config`]; this module adds the project's own keys.

use music_core::{Config, ConfigError};
use serde_json::Value;

/// Everything a function reads from its environment. `Debug` shows no key.
#[derive(Clone)]
pub struct Env {
    /// `SUPABASE_URL`: the project, e.g. `https://abc.supabase.co` (no trailing `/`).
    pub supabase_url: String,
    /// The key the function calls the SQL API with: `SUPABASE_SECRET_KEYS`' `default`, else
    /// `SUPABASE_SECRET_KEY`, else the legacy `SUPABASE_SERVICE_ROLE_KEY`.
    pub secret_key: String,
    /// Every key a caller may present as the secret key: all values of
    /// `SUPABASE_SECRET_KEYS`, `SUPABASE_SECRET_KEY` and `SUPABASE_SERVICE_ROLE_KEY`.
    pub accepted_keys: Vec<String>,
    /// The public key sent as `apikey` beside a user's JWT: `SUPABASE_PUBLISHABLE_KEYS`'
    /// `default`, else `SUPABASE_ANON_KEY`.
    pub public_key: String,
    /// `ALERT_WEBHOOK_URL`: where alerts are posted, when set.
    pub alert_webhook_url: Option<String>,
    /// The provider's settings (`SUNO_*`, `MUSIC_*`), parsed by the core.
    pub config: Config,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("supabase_url", &self.supabase_url)
            .field("accepted_keys", &self.accepted_keys.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Env {
    /// Reads the environment of the running function (`Deno.env.get`).
    pub fn from_deno() -> Result<Env, ConfigError> {
        Env::from_lookup(crate::runtime::env_var)
    }

    /// Reads every variable through `lookup`; blank counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Env, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let missing = |var| ConfigError::Missing { var };
        let secret_keys = key_set(get("SUPABASE_SECRET_KEYS"), "SUPABASE_SECRET_KEYS")?;
        let legacy = [get("SUPABASE_SECRET_KEY"), get("SUPABASE_SERVICE_ROLE_KEY")];
        let secret_key = secret_keys
            .default
            .clone()
            .or_else(|| legacy.iter().flatten().next().cloned())
            .ok_or(missing("SUPABASE_SECRET_KEYS"))?;
        let mut accepted_keys = secret_keys.all;
        accepted_keys.extend(legacy.into_iter().flatten());
        let public_keys = key_set(
            get("SUPABASE_PUBLISHABLE_KEYS"),
            "SUPABASE_PUBLISHABLE_KEYS",
        )?;
        let public_key = public_keys
            .default
            .or_else(|| get("SUPABASE_ANON_KEY"))
            .ok_or(missing("SUPABASE_ANON_KEY"))?;
        let config = Config::from_env(&lookup)?;
        let supabase_url = config.supabase_url.clone().ok_or(missing("SUPABASE_URL"))?;
        Ok(Env {
            supabase_url,
            secret_key,
            accepted_keys,
            public_key,
            alert_webhook_url: get("ALERT_WEBHOOK_URL"),
            config,
        })
    }

    /// The URL of another function of this project, e.g. `music-queue-worker`.
    pub fn function_url(&self, name: &str) -> String {
        format!("{}/functions/v1/{name}", self.supabase_url)
    }
}

/// The keys of a `{"default":"sb_…","other":"sb_…"}` variable.
struct KeySet {
    default: Option<String>,
    all: Vec<String>,
}

fn key_set(value: Option<String>, var: &'static str) -> Result<KeySet, ConfigError> {
    let Some(text) = value else {
        return Ok(KeySet {
            default: None,
            all: Vec::new(),
        });
    };
    let invalid = || ConfigError::Invalid {
        var,
        value: "(hidden)".into(),
        reason: "expected a JSON object of key names to keys".into(),
    };
    let Value::Object(map) = serde_json::from_str(&text).map_err(|_| invalid())? else {
        return Err(invalid());
    };
    let key = |value: &Value| value.as_str().filter(|k| !k.is_empty()).map(str::to_owned);
    Ok(KeySet {
        default: map.get("default").and_then(key),
        all: map.values().filter_map(key).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Result<Env, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("SUPABASE_URL", "http://localhost:1"),
        ("SUPABASE_ANON_KEY", "anon"),
    ];

    #[test]
    fn the_secret_key_comes_from_the_key_set_first_and_every_key_is_accepted() {
        let mut vars = BASE.to_vec();
        vars.push((
            "SUPABASE_SECRET_KEYS",
            r#"{"default":"sb_secret_a","ci":"sb_secret_b"}"#,
        ));
        vars.push(("SUPABASE_SERVICE_ROLE_KEY", "eyJ.legacy.jwt"));
        let env = env(&vars).unwrap();
        assert_eq!(env.secret_key, "sb_secret_a");
        let mut accepted = env.accepted_keys.clone();
        accepted.sort();
        assert_eq!(accepted, ["eyJ.legacy.jwt", "sb_secret_a", "sb_secret_b"]);
    }

    #[test]
    fn the_legacy_service_role_key_is_the_last_resort() {
        let mut vars = BASE.to_vec();
        vars.push(("SUPABASE_SERVICE_ROLE_KEY", "eyJ.legacy.jwt"));
        assert_eq!(env(&vars).unwrap().secret_key, "eyJ.legacy.jwt");
        let mut vars = BASE.to_vec();
        vars.push(("SUPABASE_SECRET_KEY", "sb_secret_c"));
        vars.push(("SUPABASE_SERVICE_ROLE_KEY", "eyJ.legacy.jwt"));
        assert_eq!(env(&vars).unwrap().secret_key, "sb_secret_c");
    }

    #[test]
    fn a_missing_secret_key_or_url_is_named() {
        assert_eq!(
            env(&BASE).unwrap_err(),
            ConfigError::Missing {
                var: "SUPABASE_SECRET_KEYS"
            }
        );
        let err = env(&[("SUPABASE_ANON_KEY", "a"), ("SUPABASE_SECRET_KEY", "s")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "SUPABASE_URL"
            }
        );
    }

    #[test]
    fn a_malformed_key_set_is_refused_without_showing_it() {
        let mut vars = BASE.to_vec();
        vars.push(("SUPABASE_SECRET_KEYS", "sb_secret_not_json"));
        let err = env(&vars).unwrap_err().to_string();
        assert!(
            err.contains("SUPABASE_SECRET_KEYS") && !err.contains("not_json"),
            "{err}"
        );
    }
}
