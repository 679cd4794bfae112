//! Reading the provider's answers from an HTTP status and body bytes.
//!
//! Every answer is an envelope `{code, msg, data}`, and errors usually arrive with HTTP 200 and
//! a non-200 `code`. Reading goes in two layers: [`read_envelope`] turns status and bytes into
//! either an [`Envelope`] with `code` 200 or a [`ProviderError`]; the endpoint parsers then read
//! `data`. The parsers never panic, whatever the bytes. What an error *means* (retry, pause,
//! fail) is [`crate::classify`]'s job.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clip::{clips_in, Clip};
use super::json::{field, integer, number, text, text_field};
use crate::text::{clean, fit};

/// The longest piece of a body kept in an error, in characters.
const SNIPPET_UNITS: usize = 200;

/// An answer that did not carry what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderError {
    /// The envelope's `code` is not 200: the provider refused or failed.
    #[error("provider answered code {code}: {msg}")]
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// The envelope's `code`.
        code: i64,
        /// The envelope's `msg`.
        msg: String,
    },
    /// A non-2xx HTTP status without an envelope explaining it.
    #[error("HTTP {status}: {snippet}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// A 2xx answer whose body is not JSON.
    #[error("response is not JSON (HTTP {status}): {snippet}")]
    NotJson {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// JSON of the wrong shape: no envelope, or `data` without the expected field.
    #[error("unexpected response: {reason}")]
    Malformed {
        /// HTTP status.
        status: u16,
        /// What was missing.
        reason: String,
    },
}

impl ProviderError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            ProviderError::Api { status, .. }
            | ProviderError::Http { status, .. }
            | ProviderError::NotJson { status, .. }
            | ProviderError::Malformed { status, .. } => *status,
        }
    }
}

/// A successful envelope (`code` 200).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Always 200.
    pub code: i64,
    /// The provider's message, e.g. `success`.
    pub msg: String,
    /// The payload; may be `null`.
    pub data: Value,
}

/// Reads the envelope of any answer.
///
/// A non-200 `code` wins over the HTTP status because it is more specific (an HTTP 429 whose
/// body says "insufficient credits" is about credits); otherwise a non-2xx status is an error
/// even when the body claims success.
pub fn read_envelope(status: u16, body: &[u8]) -> Result<Envelope, ProviderError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let envelope = json.as_ref().and_then(envelope_parts);
    if let Some((code, msg, _)) = &envelope {
        if *code != 200 {
            return Err(ProviderError::Api {
                status,
                code: *code,
                msg: msg.clone(),
            });
        }
    }
    if !(200..300).contains(&status) {
        return Err(ProviderError::Http {
            status,
            snippet: snippet(body),
        });
    }
    match (json, envelope) {
        (None, _) => Err(ProviderError::NotJson {
            status,
            snippet: snippet(body),
        }),
        (Some(_), None) => Err(malformed(status, "no `code` in the answer")),
        (Some(_), Some((code, msg, data))) => Ok(Envelope { code, msg, data }),
    }
}

fn envelope_parts(json: &Value) -> Option<(i64, String, Value)> {
    json.as_object()?;
    let code = field(json, &["code"]).and_then(integer)?;
    let msg = text_field(json, &["msg", "message"]).unwrap_or_default();
    let data = json.get("data").cloned().unwrap_or(Value::Null);
    Some((code, msg, data))
}

fn snippet(body: &[u8]) -> String {
    fit(&clean(&String::from_utf8_lossy(body)), SNIPPET_UNITS)
}

fn malformed(status: u16, reason: &str) -> ProviderError {
    ProviderError::Malformed {
        status,
        reason: reason.to_owned(),
    }
}

/// Reads a generate answer: the new task's id.
pub fn parse_generate(status: u16, body: &[u8]) -> Result<String, ProviderError> {
    let envelope = read_envelope(status, body)?;
    text_field(&envelope.data, &["taskId", "task_id"])
        .ok_or_else(|| malformed(status, "no `data.taskId` in a generate answer"))
}

/// Reads a credit answer: the remaining credits.
pub fn parse_credit(status: u16, body: &[u8]) -> Result<f64, ProviderError> {
    let envelope = read_envelope(status, body)?;
    let data = &envelope.data;
    number(data)
        .or_else(|| field(data, &["credits", "credit", "remaining"]).and_then(number))
        .ok_or_else(|| malformed(status, "no number in a credit answer"))
}

/// Where a task stands, as the provider names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// `PENDING`: queued at the provider.
    Pending,
    /// `TEXT_SUCCESS`: lyrics written (~30 s).
    TextSuccess,
    /// `FIRST_SUCCESS`: first clip ready, second still coming (~40 s).
    FirstSuccess,
    /// `SUCCESS`: both clips ready (2–3 min).
    Success,
    /// `CREATE_TASK_FAILED`.
    CreateTaskFailed,
    /// `GENERATE_AUDIO_FAILED` (errorCode 501, or 531 when refunded).
    GenerateAudioFailed,
    /// `CALLBACK_EXCEPTION`: our webhook failed; the audio may be there.
    CallbackException,
    /// `SENSITIVE_WORD_ERROR`: the text was refused.
    SensitiveWordError,
    /// `GENERATING`: another spelling of "in progress" found in some docs.
    Generating,
    /// `FAILED`: another spelling of "generation failed" found in some docs.
    Failed,
    /// Anything else, kept as received.
    Unknown(String),
}

impl TaskStatus {
    /// Reads a status, ignoring case and surrounding spaces.
    pub fn parse(value: &str) -> TaskStatus {
        match value.trim().to_ascii_uppercase().as_str() {
            "PENDING" => TaskStatus::Pending,
            "TEXT_SUCCESS" => TaskStatus::TextSuccess,
            "FIRST_SUCCESS" => TaskStatus::FirstSuccess,
            "SUCCESS" => TaskStatus::Success,
            "CREATE_TASK_FAILED" => TaskStatus::CreateTaskFailed,
            "GENERATE_AUDIO_FAILED" => TaskStatus::GenerateAudioFailed,
            "CALLBACK_EXCEPTION" => TaskStatus::CallbackException,
            "SENSITIVE_WORD_ERROR" => TaskStatus::SensitiveWordError,
            "GENERATING" => TaskStatus::Generating,
            "FAILED" => TaskStatus::Failed,
            _ => TaskStatus::Unknown(value.trim().to_owned()),
        }
    }

    /// The provider's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::TextSuccess => "TEXT_SUCCESS",
            TaskStatus::FirstSuccess => "FIRST_SUCCESS",
            TaskStatus::Success => "SUCCESS",
            TaskStatus::CreateTaskFailed => "CREATE_TASK_FAILED",
            TaskStatus::GenerateAudioFailed => "GENERATE_AUDIO_FAILED",
            TaskStatus::CallbackException => "CALLBACK_EXCEPTION",
            TaskStatus::SensitiveWordError => "SENSITIVE_WORD_ERROR",
            TaskStatus::Generating => "GENERATING",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Unknown(other) => other,
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TaskStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaskStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(TaskStatus::parse(&value))
    }
}

/// A task as `record-info` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task id, when echoed.
    pub task_id: Option<String>,
    /// Where the task stands.
    pub status: TaskStatus,
    /// The provider's `errorCode` (e.g. 501, 531).
    pub error_code: Option<i64>,
    /// The provider's `errorMessage`.
    pub error_message: Option<String>,
    /// Clips so far, ready or not.
    pub clips: Vec<Clip>,
}

impl TaskInfo {
    /// The clips that have their audio.
    pub fn ready_clips(&self) -> Vec<Clip> {
        self.clips
            .iter()
            .filter(|c| c.is_ready())
            .cloned()
            .collect()
    }

    /// At least one clip has its audio.
    pub fn has_audio(&self) -> bool {
        self.clips.iter().any(Clip::is_ready)
    }
}

/// The answer of `record-info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum RecordInfo {
    /// `data: null`: the task is unknown, or not visible yet right after submitting.
    Missing,
    /// The task.
    Task(TaskInfo),
}

/// Reads a `record-info` answer.
pub fn parse_record_info(status: u16, body: &[u8]) -> Result<RecordInfo, ProviderError> {
    let envelope = read_envelope(status, body)?;
    let data = &envelope.data;
    if data.is_null() {
        return Ok(RecordInfo::Missing);
    }
    if !data.is_object() {
        return Err(malformed(status, "`data` of record-info is not an object"));
    }
    Ok(RecordInfo::Task(TaskInfo {
        task_id: text_field(data, &["taskId", "task_id"]),
        status: field(data, &["status"])
            .and_then(text)
            .map_or(TaskStatus::Unknown(String::new()), |s| {
                TaskStatus::parse(&s)
            }),
        error_code: field(data, &["errorCode", "error_code"]).and_then(integer),
        error_message: text_field(data, &["errorMessage", "error_message"]),
        clips: task_clips(data),
    }))
}

/// Clips live in `response.sunoData` (real payloads) or `response.data` (some docs).
fn task_clips(data: &Value) -> Vec<Clip> {
    let response = field(data, &["response"]);
    let nested = response.and_then(|r| field(r, &["sunoData", "suno_data", "data"]));
    let list = nested
        .or(response.filter(|r| r.is_array()))
        .or_else(|| field(data, &["sunoData", "suno_data"]));
    clips_in(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn generate_answer_gives_the_task_id() {
        let body = bytes(json!({"code": 200, "msg": "success", "data": {"taskId": "5c79be8e"}}));
        assert_eq!(parse_generate(200, &body), Ok("5c79be8e".into()));
    }

    #[test]
    fn body_code_wins_over_http_200() {
        let body = bytes(json!({"code": 430, "msg": "Your call frequency is too high."}));
        let err = parse_generate(200, &body).unwrap_err();
        assert!(
            matches!(err, ProviderError::Api { code: 430, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn body_code_wins_over_http_error_status() {
        let body = bytes(json!({"code": 429, "msg": "insufficient credits"}));
        let err = parse_credit(429, &body).unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Api {
                code: 429,
                status: 429,
                ..
            }
        ));
    }

    #[test]
    fn html_error_page_is_an_http_error() {
        let err = parse_generate(502, b"<html><body>Bad Gateway</body></html>").unwrap_err();
        assert_eq!(
            err,
            ProviderError::Http {
                status: 502,
                snippet: "<html><body>Bad Gateway</body></html>".into()
            }
        );
    }

    #[test]
    fn non_json_with_200_is_not_json() {
        let err = parse_credit(200, b"OK").unwrap_err();
        assert!(matches!(err, ProviderError::NotJson { status: 200, .. }));
    }

    #[test]
    fn success_without_task_id_is_malformed() {
        let body = bytes(json!({"code": 200, "msg": "success", "data": {}}));
        assert!(matches!(
            parse_generate(200, &body),
            Err(ProviderError::Malformed { .. })
        ));
    }

    #[test]
    fn credit_accepts_numbers_and_text() {
        let answer = |data: Value| parse_credit(200, &bytes(json!({"code": 200, "data": data})));
        assert_eq!(answer(json!(120)), Ok(120.0));
        assert_eq!(answer(json!("85.5")), Ok(85.5));
        assert_eq!(answer(json!({"credits": 3})), Ok(3.0));
        assert!(answer(json!(null)).is_err());
    }

    #[test]
    fn record_info_reads_a_finished_task() {
        let body = bytes(json!({"code": 200, "msg": "success", "data": {
            "taskId": "t1", "status": "SUCCESS", "type": "GENERATE",
            "param": "{\"prompt\":\"x\"}", "errorCode": null, "errorMessage": null,
            "response": {"taskId": "t1", "sunoData": [
                {"id": "a", "audioUrl": "https://a.mp3", "createTime": 1_730_000_000_000_i64},
                {"id": "b", "audioUrl": "https://b.mp3", "createTime": "1730000000000"}
            ]}
        }}));
        let RecordInfo::Task(task) = parse_record_info(200, &body).unwrap() else {
            panic!("expected a task");
        };
        assert_eq!(task.status, TaskStatus::Success);
        assert_eq!(task.task_id.as_deref(), Some("t1"));
        assert_eq!(task.ready_clips().len(), 2);
    }

    #[test]
    fn record_info_reads_the_snake_case_doc_shape() {
        let body = bytes(json!({"code": 200, "data": {
            "status": "GENERATING",
            "response": {"data": [{"id": "a", "audio_url": ""}]}
        }}));
        let RecordInfo::Task(task) = parse_record_info(200, &body).unwrap() else {
            panic!("expected a task");
        };
        assert_eq!(task.status, TaskStatus::Generating);
        assert_eq!(task.clips.len(), 1);
        assert!(!task.has_audio());
    }

    #[test]
    fn record_info_with_null_data_is_missing() {
        let body = bytes(json!({"code": 200, "msg": "success", "data": null}));
        assert_eq!(parse_record_info(200, &body), Ok(RecordInfo::Missing));
    }

    #[test]
    fn record_info_keeps_error_fields() {
        let body = bytes(json!({"code": 200, "data": {
            "status": "GENERATE_AUDIO_FAILED", "errorCode": "531", "errorMessage": "refunded"
        }}));
        let RecordInfo::Task(task) = parse_record_info(200, &body).unwrap() else {
            panic!("expected a task");
        };
        assert_eq!(task.error_code, Some(531));
        assert_eq!(task.error_message.as_deref(), Some("refunded"));
    }

    #[test]
    fn task_status_round_trips_and_keeps_unknown_values() {
        for s in [
            "PENDING",
            "TEXT_SUCCESS",
            "FIRST_SUCCESS",
            "SUCCESS",
            "CREATE_TASK_FAILED",
            "GENERATE_AUDIO_FAILED",
            "CALLBACK_EXCEPTION",
            "SENSITIVE_WORD_ERROR",
            "GENERATING",
            "FAILED",
        ] {
            let status = TaskStatus::parse(s);
            assert!(!matches!(status, TaskStatus::Unknown(_)), "{s}");
            assert_eq!(status.as_str(), s);
        }
        assert_eq!(TaskStatus::parse("first_success"), TaskStatus::FirstSuccess);
        assert_eq!(
            TaskStatus::parse("QUEUED"),
            TaskStatus::Unknown("QUEUED".into())
        );
        let json = serde_json::to_string(&TaskStatus::Success).unwrap();
        assert_eq!(json, "\"SUCCESS\"");
    }

    #[test]
    fn snippets_are_short() {
        let err = parse_generate(500, "x".repeat(10_000).as_bytes()).unwrap_err();
        let ProviderError::Http { snippet, .. } = err else {
            panic!("expected an HTTP error");
        };
        assert!(snippet.chars().count() <= SNIPPET_UNITS);
    }
}
