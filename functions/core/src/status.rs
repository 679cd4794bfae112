//! A request's status, as stored in `music_generation_queue.status`.
//!
//! The SQL API owns every transition; this is the vocabulary the functions read and answer
//! with (the app's `GET ?request_id=` shows it).

use serde::{Deserialize, Serialize};

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting in the queue (new, retried or deferred).
    Pending,
    /// Claimed by a worker, submitted, or being generated.
    Processing,
    /// Finished with music.
    Completed,
    /// Finished without it (a fallback track may be attached).
    Failed,
}

impl RequestStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Processing => "processing",
            RequestStatus::Completed => "completed",
            RequestStatus::Failed => "failed",
        }
    }

    /// Whether nothing will change any more (short of an admin's retry).
    pub fn is_finished(self) -> bool {
        matches!(self, RequestStatus::Completed | RequestStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_stored_spelling() {
        for status in [
            RequestStatus::Pending,
            RequestStatus::Processing,
            RequestStatus::Completed,
            RequestStatus::Failed,
        ] {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(
                serde_json::from_value::<RequestStatus>(json).unwrap(),
                status
            );
        }
        assert!(RequestStatus::Failed.is_finished());
        assert!(!RequestStatus::Processing.is_finished());
        assert!(serde_json::from_str::<RequestStatus>("\"cancelled\"").is_err());
    }
}
