//! The JSON a task is seen as: the camelCase `record-info` data (or the doc spellings of
//! [`Spelling`]) and the snake_case callback body. Both come from one list of clip fields
//! so the spellings cannot drift.

use crate::clock::format_utc;
use crate::config::{ClipSpelling, Spelling, StatusSpelling};
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

/// How a list of clips is written: key case, and `createTime` as a date string (the
/// callback docs) or epoch milliseconds (recorded `record-info` traffic).
#[derive(Clone, Copy)]
struct ClipStyle {
    snake_keys: bool,
    date_text: bool,
}

const RECORD_CAMEL: ClipStyle = ClipStyle {
    snake_keys: false,
    date_text: false,
};
const RECORD_SNAKE: ClipStyle = ClipStyle {
    snake_keys: true,
    date_text: false,
};
const CALLBACK: ClipStyle = ClipStyle {
    snake_keys: true,
    date_text: true,
};

fn clips_json(task: &Task, phase: Phase, base: &str, style: ClipStyle) -> Option<Vec<Value>> {
    let levels = levels(phase)?;
    let clips = task.clips.iter().zip(levels).map(|(clip, level)| {
        let mut obj: Map<String, Value> = clip_fields(task, clip, level, base)
            .into_iter()
            .map(|(camel, snake, v)| ((if style.snake_keys { snake } else { camel }).to_owned(), v))
            .collect();
        let created = if style.date_text {
            json!(format_utc(task.created_ms))
        } else {
            json!(task.created_ms)
        };
        obj.insert("createTime".to_owned(), created);
        Value::Object(obj)
    });
    Some(clips.collect())
}

/// The status as `spelling` names it: the generic one folds the in-between stages into
/// `GENERATING` and every failure into `FAILED`.
fn status_name(phase: Phase, spelling: StatusSpelling) -> &'static str {
    match (spelling, phase) {
        (StatusSpelling::Suno, _) => phase.status(),
        (StatusSpelling::Generic, Phase::Text | Phase::First) => "GENERATING",
        (StatusSpelling::Generic, Phase::Failed(_)) => "FAILED",
        (StatusSpelling::Generic, _) => phase.status(),
    }
}

/// The `data` of a `record-info` answer, spelled as `spelling` says.
pub fn record_info(task: &Task, phase: Phase, base: &str, spelling: &Spelling) -> Value {
    let response = match spelling.clips {
        ClipSpelling::SunoData => clips_json(task, phase, base, RECORD_CAMEL)
            .map(|clips| json!({"taskId": task.id, "sunoData": clips})),
        ClipSpelling::Data => clips_json(task, phase, base, RECORD_SNAKE)
            .map(|clips| json!({"taskId": task.id, "data": clips})),
    };
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
        "status": status_name(phase, spelling.status),
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
    let clips = clips_json(task, phase, base, CALLBACK).unwrap_or_default();
    let mut data = Map::new();
    data.insert("callbackType".to_owned(), json!(stage));
    data.insert(id_field.to_owned(), json!(task.id));
    data.insert("data".to_owned(), json!(clips));
    Some(json!({"code": code, "msg": msg, "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Timeline;
    use crate::outcome::Outcome;
    use crate::task::NewTask;
    use crate::timeline::phase_at;
    use crate::validate::GenerateParams;

    fn task(outcome: Outcome) -> Task {
        let params = GenerateParams {
            custom_mode: false,
            instrumental: true,
            model: "V4_5".into(),
            prompt: "rain on a window".into(),
            style: String::new(),
            title: String::new(),
            callback_url: "http://cb".into(),
        };
        let n = NewTask {
            seq: 1,
            outcome,
            params,
            param_json: "{}".into(),
            created_sim: 0.0,
            created_ms: 1_767_000_000_000,
            credits_charged: 12,
            request_seq: None,
        };
        Task::new(n, &Timeline::default())
    }

    fn generic() -> Spelling {
        Spelling {
            status: StatusSpelling::Generic,
            clips: ClipSpelling::Data,
        }
    }

    fn status_at(task: &Task, secs: f64, spelling: &Spelling) -> Value {
        record_info(task, phase_at(&task.script, secs), "http://sim", spelling)["status"].clone()
    }

    #[test]
    fn the_generic_spelling_folds_stages_and_failures() {
        let ok = task(Outcome::Success);
        let names: Vec<Value> = [0.0, 30.0, 40.0, 120.0]
            .iter()
            .map(|secs| status_at(&ok, *secs, &generic()))
            .collect();
        assert_eq!(names, ["PENDING", "GENERATING", "GENERATING", "SUCCESS"]);
        let failed = task(Outcome::AudioFailed531);
        let record = record_info(&failed, phase_at(&failed.script, 60.0), "", &generic());
        assert_eq!(record["status"], "FAILED");
        assert_eq!(record["errorCode"], 531, "the code says which failure");
        assert_eq!(
            status_at(&failed, 60.0, &Spelling::default()),
            "GENERATE_AUDIO_FAILED"
        );
    }

    #[test]
    fn the_data_spelling_lists_snake_case_clips_under_response_data() {
        let ok = task(Outcome::Success);
        let record = record_info(&ok, Phase::Complete, "http://sim", &generic());
        assert!(record["response"].get("sunoData").is_none());
        let clips = record["response"]["data"].as_array().unwrap();
        assert_eq!(clips.len(), 2);
        let url = clips[0]["audio_url"].as_str().unwrap();
        assert!(url.starts_with("http://sim/files/") && url.ends_with(".mp3"));
        assert!(clips[0].get("audioUrl").is_none());
        assert_eq!(clips[0]["createTime"], 1_767_000_000_000_u64);
        let standard = record_info(&ok, Phase::Complete, "http://sim", &Spelling::default());
        assert_eq!(
            standard["response"]["sunoData"][1]["audioUrl"],
            clips[1]["audio_url"]
        );
    }
}
