//! Alerts the worker posts to `ALERT_WEBHOOK_URL`.
//!
//! Whether an alert is due, and that each kind is raised at most once an hour, is the SQL's
//! decision (`record_music_alert_if_due`, one statement): it returns the new alert row, or
//! no row. The worker calls it at the end of each run and posts [`webhook_body`] of the row
//! it got, when the URL is set; no row, no post. A post that fails is logged, not retried:
//! the alert stays recorded for the panel.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ErrorCode;

/// A `music_alerts` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Its id.
    pub id: i64,
    /// What it is about (`failure_rate`).
    pub kind: String,
    /// The queue it concerns.
    pub queue: String,
    /// For people.
    pub message: String,
    /// The numbers behind it (window, finished, failed, rate, threshold).
    pub figures: Value,
    /// When it was raised (ISO-8601, as stored).
    pub created_at: String,
}

/// An alert row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlertRowError {
    /// A column is missing or has the wrong type.
    #[error("music_alerts.{column} is missing or invalid")]
    Column {
        /// The column.
        column: &'static str,
    },
}

impl ErrorCode for AlertRowError {
    fn code(&self) -> &'static str {
        "invalid_alert"
    }
}

impl Alert {
    /// Reads a row returned by `record_music_alert_if_due`.
    pub fn from_row(row: &Value) -> Result<Alert, AlertRowError> {
        let bad = |column| AlertRowError::Column { column };
        let text =
            |column: &'static str| row[column].as_str().map(str::to_owned).ok_or(bad(column));
        let figures = row["figures"].clone();
        if !figures.is_object() {
            return Err(bad("figures"));
        }
        Ok(Alert {
            id: row["id"].as_i64().ok_or(bad("id"))?,
            kind: text("kind")?,
            queue: text("queue")?,
            message: text("message")?,
            figures,
            created_at: text("created_at")?,
        })
    }
}

/// The JSON posted to the webhook: `text` (what chat webhooks show) and the whole `alert`.
pub fn webhook_body(alert: &Alert) -> Value {
    json!({
        "text": format!("[music queue {}] {}", alert.queue, alert.message),
        "alert": alert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Value {
        json!({
            "id": 7, "kind": "failure_rate", "queue": "default",
            "message": "2 of the 5 requests finished in the last hour failed (40.0 %)",
            "figures": {"finished": 5, "failed": 2, "failure_rate": 0.4, "threshold": 0.2},
            "created_at": "2026-11-30T04:00:00.123+00:00",
            "quiet_until": "2026-11-30T05:00:00.123+00:00"
        })
    }

    #[test]
    fn reads_a_row_and_builds_the_webhook_body() {
        let alert = Alert::from_row(&row()).unwrap();
        let body = webhook_body(&alert);
        assert_eq!(
            body["text"],
            "[music queue default] 2 of the 5 requests finished in the last hour failed (40.0 %)"
        );
        assert_eq!(body["alert"]["kind"], "failure_rate");
        assert_eq!(body["alert"]["figures"]["failure_rate"], 0.4);
        assert_eq!(body["alert"]["id"], 7);
    }

    #[test]
    fn a_broken_row_names_its_column() {
        let mut broken = row();
        broken["figures"] = json!(null);
        assert_eq!(
            Alert::from_row(&broken),
            Err(AlertRowError::Column { column: "figures" })
        );
    }
}
