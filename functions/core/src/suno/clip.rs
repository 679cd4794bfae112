//! One generated track ("clip") as the provider describes it, in either spelling.
//!
//! `record-info` uses camelCase (`audioUrl`, `createTime` as epoch milliseconds), callbacks
//! and some docs use snake_case (`audio_url`). Both become the same [`Clip`]. Deciding whether
//! a task is finished is [`crate::classify`]'s job; this module only says whether one clip has
//! its audio yet.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json::{field, integer, number, text, text_field};
use crate::time::parse_iso8601_ms;

/// A generated track. Every field is optional because partial results are normal: during
/// `FIRST_SUCCESS` the second clip exists without an audio URL.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Clip {
    /// The provider's clip id.
    pub id: Option<String>,
    /// The final audio file; `None` until the clip is ready.
    pub audio_url: Option<String>,
    /// A stream that plays while the file is being produced.
    pub stream_audio_url: Option<String>,
    /// Cover image.
    pub image_url: Option<String>,
    /// Title given by the provider.
    pub title: Option<String>,
    /// Style tags.
    pub tags: Option<String>,
    /// Length in seconds.
    pub duration: Option<f64>,
    /// Model that produced the clip, e.g. `chirp-v4`.
    pub model_name: Option<String>,
    /// Creation time, epoch milliseconds.
    pub created_at_ms: Option<i64>,
}

impl Clip {
    /// Reads a clip from a JSON object in either spelling; `None` if `value` is not an object.
    pub fn from_json(value: &Value) -> Option<Clip> {
        value.as_object()?;
        Some(Clip {
            id: text_field(value, &["id", "clipId", "clip_id"]),
            audio_url: text_field(value, &["audioUrl", "audio_url"]),
            stream_audio_url: text_field(value, &["streamAudioUrl", "stream_audio_url"]),
            image_url: text_field(value, &["imageUrl", "image_url"]),
            title: text_field(value, &["title"]),
            tags: text_field(value, &["tags"]),
            duration: field(value, &["duration"]).and_then(number),
            model_name: text_field(value, &["modelName", "model_name"]),
            created_at_ms: field(
                value,
                &["createTime", "create_time", "createdAt", "created_at"],
            )
            .and_then(time_ms),
        })
    }

    /// The clip has its final audio file.
    pub fn is_ready(&self) -> bool {
        self.audio_url.is_some()
    }
}

/// Every clip found in a JSON array; anything else gives none.
pub(crate) fn clips_in(value: Option<&Value>) -> Vec<Clip> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Clip::from_json).collect())
        .unwrap_or_default()
}

/// Below this a timestamp is taken as seconds: epoch milliseconds passed it in 1973.
const SECONDS_THRESHOLD: i64 = 100_000_000_000;

/// A time as epoch milliseconds, from epoch milliseconds or seconds (number or text) or an
/// ISO-8601 date-time.
fn time_ms(value: &Value) -> Option<i64> {
    match integer(value) {
        Some(n) if n.abs() < SECONDS_THRESHOLD => n.checked_mul(1000),
        Some(n) => Some(n),
        None => text(value).as_deref().and_then(parse_iso8601_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_camel_case_clips() {
        let clip = Clip::from_json(&json!({
            "id": "c1", "audioUrl": "https://a/1.mp3", "streamAudioUrl": "https://s/1",
            "imageUrl": "https://i/1.jpg", "title": "T", "tags": "ambient",
            "duration": 182.4, "modelName": "chirp-v4", "createTime": 1_730_000_000_000_i64
        }))
        .unwrap();
        assert_eq!(clip.id.as_deref(), Some("c1"));
        assert_eq!(clip.audio_url.as_deref(), Some("https://a/1.mp3"));
        assert_eq!(clip.duration, Some(182.4));
        assert_eq!(clip.created_at_ms, Some(1_730_000_000_000));
        assert!(clip.is_ready());
    }

    #[test]
    fn reads_snake_case_clips() {
        let clip = Clip::from_json(&json!({
            "id": "c2", "audio_url": "", "stream_audio_url": "https://s/2",
            "image_url": "https://i/2.jpg", "model_name": "chirp-v4", "createTime": "1730000000000"
        }))
        .unwrap();
        assert_eq!(clip.audio_url, None, "an empty URL means not ready");
        assert!(!clip.is_ready());
        assert_eq!(clip.stream_audio_url.as_deref(), Some("https://s/2"));
        assert_eq!(clip.created_at_ms, Some(1_730_000_000_000));
    }

    #[test]
    fn times_in_seconds_and_iso_text_become_milliseconds() {
        let at = |v: Value| {
            Clip::from_json(&json!({ "createTime": v }))
                .unwrap()
                .created_at_ms
        };
        assert_eq!(at(json!(1_730_000_000)), Some(1_730_000_000_000));
        assert_eq!(at(json!("2024-10-27T03:33:20Z")), Some(1_730_000_000_000));
        assert_eq!(
            at(json!("2024-10-27 05:33:20.5+02:00")),
            Some(1_730_000_000_500)
        );
        assert_eq!(at(json!("yesterday")), None);
    }

    #[test]
    fn iso_parser_rejects_nonsense() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601_ms("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso8601_ms("2024-01-01T00:00:00+5"), None);
        assert_eq!(parse_iso8601_ms("2024-01-01T00:00:00."), None);
        assert_eq!(parse_iso8601_ms("+024-01-01T00:00:00Z"), None);
    }

    #[test]
    fn non_objects_are_not_clips() {
        assert_eq!(Clip::from_json(&json!("x")), None);
        assert_eq!(clips_in(Some(&json!([1, {"id": "a"}]))).len(), 1);
        assert!(clips_in(Some(&json!({"id": "a"}))).is_empty());
    }
}
