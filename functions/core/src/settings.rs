//! The queue's own settings, as stored in its `music_queues` row.
//!
//! Queue behaviour lives once, in SQL, where an admin changes it (`configure_music_queue`,
//! `pause_music_queue`, `set_rate_limit`); the environment carries only secrets and URLs
//! ([`crate::config`]). The worker reads the row at the start of each run and hands it to the
//! [`crate::plan::Planner`]. Attempts per request live on each request row (copied from the
//! queue row at enqueue) and the shared rate limit is enforced by `take_rate_token`, so the
//! core reads neither.

use serde::Serialize;
use serde_json::Value;

use crate::error::ErrorCode;

/// What one worker run needs from the `music_queues` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSettings {
    /// The queue's name (`default` for the app).
    pub name: String,
    /// An admin paused the queue: nothing is claimed (submitted tasks are still followed).
    pub paused: bool,
    /// Requests claimed per run (`batch_size`).
    pub batch_size: u32,
    /// The pause between two submits of one run (`submit_spacing_ms`).
    pub submit_spacing_ms: u64,
    /// The most requests one run claims (`max_per_run`); `None` (the default) claims batch
    /// after batch while the run's time budget lasts. 5 is the seed's "5 per run".
    pub max_per_run: Option<u32>,
}

/// A `music_queues` row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsRowError {
    /// A column is missing or out of range.
    #[error("music_queues.{column} is missing or invalid")]
    Column {
        /// The column.
        column: &'static str,
    },
}

impl ErrorCode for SettingsRowError {
    fn code(&self) -> &'static str {
        "invalid_queue_settings"
    }
}

impl QueueSettings {
    /// Reads a `music_queues` row as PostgREST returns it.
    pub fn from_row(row: &Value) -> Result<QueueSettings, SettingsRowError> {
        let bad = |column| SettingsRowError::Column { column };
        let number = |column: &'static str| {
            row[column]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(bad(column))
        };
        Ok(QueueSettings {
            name: row["name"].as_str().ok_or(bad("name"))?.to_owned(),
            paused: row["paused"].as_bool().ok_or(bad("paused"))?,
            batch_size: number("batch_size")?.max(1),
            submit_spacing_ms: u64::from(number("submit_spacing_ms")?),
            max_per_run: match row.get("max_per_run") {
                Some(Value::Null) => None,
                Some(_) => Some(number("max_per_run")?.max(1)),
                None => return Err(bad("max_per_run")),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_queue_row() {
        let row = serde_json::json!({
            "name": "default", "paused": false, "paused_at": null, "batch_size": 5,
            "submit_spacing_ms": 2000, "max_attempts": 3, "max_pending_per_user": 5,
            "max_per_run": null
        });
        assert_eq!(
            QueueSettings::from_row(&row),
            Ok(QueueSettings {
                name: "default".into(),
                paused: false,
                batch_size: 5,
                submit_spacing_ms: 2_000,
                max_per_run: None,
            })
        );
        let capped = serde_json::json!({
            "name": "default", "paused": false, "batch_size": 5, "submit_spacing_ms": 2000,
            "max_per_run": 5
        });
        assert_eq!(
            QueueSettings::from_row(&capped).map(|q| q.max_per_run),
            Ok(Some(5))
        );
        let without = serde_json::json!({
            "name": "default", "paused": false, "batch_size": 5, "submit_spacing_ms": 2000
        });
        assert_eq!(
            QueueSettings::from_row(&without),
            Err(SettingsRowError::Column {
                column: "max_per_run"
            })
        );
        let broken = serde_json::json!({"name": "default", "paused": "no"});
        assert_eq!(
            QueueSettings::from_row(&broken),
            Err(SettingsRowError::Column { column: "paused" })
        );
    }
}
