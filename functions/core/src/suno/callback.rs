//! Reading the provider's callbacks (webhooks).
//!
//! A callback is a wake-up, not the truth: it is unsigned, may repeat a stage, may come late
//! or not at all. The shell checks the per-request secret in the URL, parses the body here,
//! then reads `record-info` before changing anything. Classifying a callback for logs and
//! events is [`crate::classify::classify_callback`].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clip::{clips_in, Clip};
use super::json::{field, integer, text, text_field};
use crate::error::ErrorCode;

/// Which stage of a task a callback reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallbackStage {
    /// `text`: lyrics are written.
    Text,
    /// `first`: the first clip is ready.
    First,
    /// `complete`: every clip is ready.
    Complete,
    /// `error`: the task failed.
    Error,
    /// Anything else, kept as received (empty when absent).
    Unknown(String),
}

impl CallbackStage {
    /// Reads a `callbackType`, ignoring case.
    pub fn parse(value: &str) -> CallbackStage {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => CallbackStage::Text,
            "first" => CallbackStage::First,
            "complete" => CallbackStage::Complete,
            "error" => CallbackStage::Error,
            _ => CallbackStage::Unknown(value.trim().to_owned()),
        }
    }

    /// The provider's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            CallbackStage::Text => "text",
            CallbackStage::First => "first",
            CallbackStage::Complete => "complete",
            CallbackStage::Error => "error",
            CallbackStage::Unknown(other) => other,
        }
    }
}

impl fmt::Display for CallbackStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CallbackStage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CallbackStage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(CallbackStage::parse(&value))
    }
}

/// A parsed callback body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Callback {
    /// The envelope's `code`: 200 for progress and success, an error code otherwise.
    pub code: i64,
    /// The envelope's `msg`.
    pub msg: String,
    /// The stage reported.
    pub stage: CallbackStage,
    /// The task, from `task_id` or `taskId`; the request id in the URL is what identifies the
    /// request, so this may be absent.
    pub task_id: Option<String>,
    /// Clips sent with the callback, ready or not.
    pub clips: Vec<Clip>,
}

/// Why a callback body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The body is not JSON.
    #[error("callback body is not valid JSON: {reason}")]
    NotJson {
        /// The parser's explanation.
        reason: String,
    },
    /// The body is JSON but not an object.
    #[error("callback body must be a JSON object")]
    NotAnObject,
}

impl ErrorCode for CallbackError {
    fn code(&self) -> &'static str {
        "invalid_callback"
    }
}

/// Parses a callback body `{code, msg, data: {callbackType, task_id, data: [clips]}}`.
///
/// Missing pieces are tolerated: without `code`, an `error` stage counts as 500 and any other
/// stage as 200.
pub fn parse_callback(body: &[u8]) -> Result<Callback, CallbackError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| CallbackError::NotJson {
        reason: e.to_string(),
    })?;
    if !json.is_object() {
        return Err(CallbackError::NotAnObject);
    }
    let data = field(&json, &["data"]).unwrap_or(&Value::Null);
    let stage = field(data, &["callbackType", "callback_type"])
        .or_else(|| field(&json, &["callbackType", "callback_type"]))
        .and_then(text)
        .map_or(CallbackStage::Unknown(String::new()), |s| {
            CallbackStage::parse(&s)
        });
    let default_code = if stage == CallbackStage::Error {
        500
    } else {
        200
    };
    Ok(Callback {
        code: field(&json, &["code"])
            .and_then(integer)
            .unwrap_or(default_code),
        msg: text_field(&json, &["msg", "message"]).unwrap_or_default(),
        task_id: text_field(data, &["task_id", "taskId"])
            .or_else(|| text_field(&json, &["task_id", "taskId"]))
            .filter(|id| is_task_id(id)),
        clips: clips_in(field(data, &["data", "sunoData", "suno_data"])),
        stage,
    })
}

/// The longest task id stored (`music_generation_queue.suno_task_id`).
pub const TASK_ID_MAX_CHARS: usize = 128;

/// Whether `id` can be a provider's task id: at most [`TASK_ID_MAX_CHARS`] characters and no
/// control character (Postgres text cannot even hold a NUL). Anything else names no task, as
/// if the body had none: the read that follows is what counts.
fn is_task_id(id: &str) -> bool {
    id.chars().count() <= TASK_ID_MAX_CHARS && !id.chars().any(char::is_control)
}

/// The route of the worker that receives callbacks, below the project URL.
pub const CALLBACK_ROUTE: &str = "/functions/v1/music-queue-worker/callback";

/// The callback URL given to the provider for one request: the project URL (`SUPABASE_URL`),
/// the worker's callback route, the request id and its per-request token.
pub fn callback_url(project_url: &str, request_id: &str, token: &str) -> String {
    format!(
        "{}{CALLBACK_ROUTE}?request_id={}&token={}",
        project_url.trim().trim_end_matches('/'),
        encode_query_value(request_id),
        encode_query_value(token)
    )
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_id_no_provider_would_send_names_no_task() {
        let long = "t".repeat(TASK_ID_MAX_CHARS + 1);
        let fits = "t".repeat(TASK_ID_MAX_CHARS);
        for (id, kept) in [
            ("t1", true),
            (&fits as &str, true),
            (&long, false),
            ("a\u{0}b", false),
            ("a\nb", false),
        ] {
            let body = json!({"data": {"callbackType": "complete", "task_id": id}});
            let callback = parse_callback(body.to_string().as_bytes()).unwrap();
            assert_eq!(callback.task_id.is_some(), kept, "{id:?}");
        }
    }

    #[test]
    fn reads_a_complete_callback() {
        let body = json!({"code": 200, "msg": "All generated successfully.", "data": {
            "callbackType": "complete", "task_id": "t1", "data": [
                {"id": "a", "audio_url": "https://a.mp3", "stream_audio_url": "https://s/a",
                 "image_url": "https://i/a", "title": "T", "tags": "calm", "duration": 120.5,
                 "model_name": "chirp-v4", "createTime": 1_730_000_000_000_i64},
                {"id": "b", "audio_url": "https://b.mp3"}
            ]
        }});
        let callback = parse_callback(body.to_string().as_bytes()).unwrap();
        assert_eq!(callback.code, 200);
        assert_eq!(callback.stage, CallbackStage::Complete);
        assert_eq!(callback.task_id.as_deref(), Some("t1"));
        assert_eq!(callback.clips.len(), 2);
        assert_eq!(callback.clips[0].duration, Some(120.5));
    }

    #[test]
    fn accepts_the_camel_case_task_id() {
        let body = json!({"code": 200, "data": {"callbackType": "first", "taskId": "t2"}});
        let callback = parse_callback(body.to_string().as_bytes()).unwrap();
        assert_eq!(callback.task_id.as_deref(), Some("t2"));
        assert_eq!(callback.stage, CallbackStage::First);
        assert!(callback.clips.is_empty());
    }

    #[test]
    fn an_error_stage_without_code_counts_as_500() {
        let body = json!({"data": {"callbackType": "error", "task_id": "t3"}});
        let callback = parse_callback(body.to_string().as_bytes()).unwrap();
        assert_eq!(callback.code, 500);
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        assert!(matches!(
            parse_callback(b"nope"),
            Err(CallbackError::NotJson { .. })
        ));
        assert_eq!(parse_callback(b"[]"), Err(CallbackError::NotAnObject));
        assert_eq!(CallbackError::NotAnObject.code(), "invalid_callback");
    }

    #[test]
    fn the_callback_url_carries_the_request_and_its_token() {
        assert_eq!(
            callback_url("https://abc.supabase.co/", "0b6c-1", "f00d"),
            "https://abc.supabase.co/functions/v1/music-queue-worker/callback?request_id=0b6c-1&token=f00d"
        );
        assert!(
            callback_url("http://x", "a b", "t&u=v").ends_with("request_id=a%20b&token=t%26u%3Dv")
        );
    }
}
