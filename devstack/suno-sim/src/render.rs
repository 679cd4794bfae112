//! The JSON a task is seen as: the camelCase `record-info` data and the snake_case
//! callback body. Both come from one list of clip fields so the two spellings cannot drift.

use crate::clock::format_utc;
use crate::task::{Clip, Task};
use crate::timeline::Phase;
use serde_json::{json, Map, Value};

/// How far a clip has come.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// Lyrics, cover and stream URL; no downloadable audio yet.
    Text,
    Full,
}

/// The clips shown in a phase; `None` when there is no `response` at all yet.
fn levels(phase: Phase) -> Option<Vec<Level>> {
    match phase {
        Phase::Pending | Phase::Failed(_) => None,
        Phase::Text => Some(vec![Level::Text, Level::Text]),
        Phase::First => Some(vec![Level::Full, Level::Text]),
        Phase::Complete | Phase::CallbackException => Some(vec![Level::Full, Level::Full]),
        Phase::CompleteEmpty => Some(Vec::new()),
    }
}

/// Suno's internal model names are not documented per model; these are stand-ins that
/// keep the `chirp-` prefix real payloads carry.
pub fn model_name(model: &str) -> String {
    format!("chirp-{}", model.to_lowercase().replace('_', "-"))
}

/// `(camelCase key, snake_case key, value)` for one clip.
fn clip_fields(
    task: &Task,
    clip: &Clip,
    level: Level,
    base: &str,
) -> Vec<(&'static str, &'static str, Value)> {
    let full = level == Level::Full;
    let url = |name: String| json!(format!("{base}/files/{name}"));
    let when_full = |v: Value| if full { v } else { json!("") };
    let id = &clip.id;
    vec![
        ("id", "id", json!(id)),
        ("audioUrl", "audio_url", when_full(url(format!("{id}.mp3")))),
        (
            "sourceAudioUrl",
            "source_audio_url",
            when_full(url(format!("src-{id}.mp3"))),
        ),
        (
            "streamAudioUrl",
            "stream_audio_url",
            url(format!("stream-{id}.mp3")),
        ),
        (
            "sourceStreamAudioUrl",
            "source_stream_audio_url",
            url(format!("src-stream-{id}.mp3")),
        ),
        ("imageUrl", "image_url", url(format!("{id}.jpg"))),
        (
            "sourceImageUrl",
            "source_image_url",
            url(format!("src-{id}.jpg")),
        ),
        ("prompt", "prompt", json!(clip.lyrics)),
        (
            "modelName",
            "model_name",
            json!(model_name(&task.params.model)),
        ),
        ("title", "title", json!(clip.title)),
        ("tags", "tags", json!(clip.tags)),
        (
            "duration",
            "duration",
            if full {
                json!(clip.duration)
            } else {
                Value::Null
            },
        ),
    ]
}

fn clips_json(task: &Task, phase: Phase, base: &str, snake: bool) -> Option<Vec<Value>> {
    let levels = levels(phase)?;
    let clips = task.clips.iter().zip(levels).map(|(clip, level)| {
        let mut obj: Map<String, Value> = clip_fields(task, clip, level, base)
            .into_iter()
            .map(|(camel, snake_key, v)| ((if snake { snake_key } else { camel }).to_owned(), v))
            .collect();
        // Recorded traffic has epoch milliseconds here; the callback docs show a date string.
        let created = if snake {
            json!(format_utc(task.created_ms))
        } else {
            json!(task.created_ms)
        };
        obj.insert("createTime".to_owned(), created);
        Value::Object(obj)
    });
    Some(clips.collect())
}

/// The `data` of a `record-info` answer.
pub fn record_info(task: &Task, phase: Phase, base: &str) -> Value {
    let response = clips_json(task, phase, base, false)
        .map(|clips| json!({"taskId": task.id, "sunoData": clips}));
    let (error_code, error_message) = match phase {
        Phase::Failed(f) => (json!(f.code), json!(f.message)),
        Phase::CallbackException => (Value::Null, json!("The callback to callBackUrl failed.")),
        _ => (Value::Null, Value::Null),
    };
    json!({
        "taskId": task.id,
        "parentMusicId": "",
        "param": task.param_json,
        "response": response,
        "status": phase.status(),
        "type": "GENERATE",
        "operationType": "generate",
        "errorCode": error_code,
        "errorMessage": error_message,
    })
}

/// The body POSTed to `callBackUrl` for `phase`, or `None` if the phase sends nothing.
pub fn callback_body(task: &Task, phase: Phase, base: &str, id_field: &str) -> Option<Value> {
    let stage = phase.stage()?;
    let (code, msg) = match phase {
        Phase::Failed(f) => (f.code, f.message),
        Phase::Text => (200, "Text generation completed."),
        Phase::First => (200, "First track generation completed."),
        _ => (200, "All generated successfully."),
    };
    let clips = clips_json(task, phase, base, true).unwrap_or_default();
    let mut data = Map::new();
    data.insert("callbackType".to_owned(), json!(stage));
    data.insert(id_field.to_owned(), json!(task.id));
    data.insert("data".to_owned(), json!(clips));
    Some(json!({"code": code, "msg": msg, "data": data}))
}
