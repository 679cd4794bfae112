//! Checking an incoming request body and turning it into a [`MusicRequest`].
//!
//! This is the boundary where user input is rejected: every error names the field it is about
//! and carries a stable code (`invalid_emotion`, `invalid_intensity`, ...). Once a
//! [`MusicRequest`] exists its values are known to be in range; turning it into provider text
//! is [`crate::prompt`]'s job. Unknown fields are ignored so that older servers accept newer
//! clients.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::emotion::{Emotion, Intensity, IntensityOutOfRange, UnknownEmotion};
use crate::error::ErrorCode;
use crate::text;

/// A field of the request body, as spelled in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// `emotion`, required.
    Emotion,
    /// `intensity`, optional number in `0..=1`.
    Intensity,
    /// `context`, optional free text.
    Context,
    /// `instrumental`, optional boolean.
    Instrumental,
    /// `style`, optional override of the musical style.
    Style,
    /// `title`, optional override of the track title.
    Title,
}

impl Field {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Emotion => "emotion",
            Field::Intensity => "intensity",
            Field::Context => "context",
            Field::Instrumental => "instrumental",
            Field::Style => "style",
            Field::Title => "title",
        }
    }

    /// The error code used for any problem with this field.
    pub fn code(self) -> &'static str {
        match self {
            Field::Emotion => "invalid_emotion",
            Field::Intensity => "invalid_intensity",
            Field::Context => "invalid_context",
            Field::Instrumental => "invalid_instrumental",
            Field::Style => "invalid_style",
            Field::Title => "invalid_title",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request body was refused. Each message starts with the field it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The body could not be parsed as JSON.
    #[error("request body is not valid JSON: {reason}")]
    InvalidJson {
        /// The parser's explanation.
        reason: String,
    },
    /// The body is JSON but not an object.
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// A required field is absent or `null`.
    #[error("{field} is required")]
    Missing {
        /// The missing field.
        field: Field,
    },
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The offending field.
        field: Field,
        /// What was expected, e.g. "a boolean".
        expected: &'static str,
    },
    /// `emotion` is not one of the accepted values.
    #[error("emotion must be one of {}; got {:?}", Emotion::accepted_values(), .0.value)]
    UnknownEmotion(#[from] UnknownEmotion),
    /// `intensity` is outside `0..=1`.
    #[error("intensity must be between 0 and 1, got {}", .0.value)]
    IntensityOutOfRange(#[from] IntensityOutOfRange),
    /// A text field is longer than allowed (counted in characters, after trimming).
    #[error("{field} must be at most {max} characters, got {len}")]
    TooLong {
        /// The offending field.
        field: Field,
        /// The limit.
        max: usize,
        /// The length given.
        len: usize,
    },
}

impl ValidationError {
    /// The field the error is about, if it is about one.
    pub fn field(&self) -> Option<Field> {
        match self {
            ValidationError::InvalidJson { .. } | ValidationError::NotAnObject => None,
            ValidationError::Missing { field }
            | ValidationError::WrongType { field, .. }
            | ValidationError::TooLong { field, .. } => Some(*field),
            ValidationError::UnknownEmotion(_) => Some(Field::Emotion),
            ValidationError::IntensityOutOfRange(_) => Some(Field::Intensity),
        }
    }
}

impl ErrorCode for ValidationError {
    fn code(&self) -> &'static str {
        match self {
            ValidationError::InvalidJson { .. } => "invalid_json",
            ValidationError::NotAnObject => "invalid_body",
            _ => self.field().map_or("invalid_body", Field::code),
        }
    }
}

/// What the listener said about their situation, cleaned and bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Context(String);

impl Context {
    /// The longest context accepted, in characters after cleaning.
    pub const MAX_CHARS: usize = 500;

    /// Cleans `raw` (see [`text::clean`]) and checks its length. Blank text gives `None`.
    pub fn parse(raw: &str) -> Result<Option<Context>, ValidationError> {
        clean_bounded(raw, Field::Context, Context::MAX_CHARS).map(|t| t.map(Context))
    }

    /// The cleaned text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Context {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Context, ValidationError> {
        Ok(Context::parse(&raw)?.unwrap_or(Context(String::new())))
    }
}

impl From<Context> for String {
    fn from(context: Context) -> String {
        context.0
    }
}

/// How the listener wants the track made, beyond the emotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOptions {
    /// No vocals. Defaults to `true`: see [`RequestOptions::DEFAULT_INSTRUMENTAL`].
    #[serde(default = "default_instrumental")]
    pub instrumental: bool,
    /// Musical style chosen by the listener, used before the emotion's own style words.
    #[serde(default)]
    pub style: Option<String>,
    /// Track title chosen by the listener, used instead of the emotion's title.
    #[serde(default)]
    pub title: Option<String>,
}

impl RequestOptions {
    /// Instrumental unless asked otherwise: vocals would make the provider write lyrics from the
    /// listener's private context and sing them, and only instrumental tracks let us set the
    /// exact style and title (custom mode needs lyrics we do not have).
    pub const DEFAULT_INSTRUMENTAL: bool = true;
    /// The longest style override, in characters: the smallest style limit of any model.
    pub const STYLE_MAX_CHARS: usize = 200;
    /// The longest title override, in characters: the smallest title limit of any model.
    pub const TITLE_MAX_CHARS: usize = 80;
}

impl Default for RequestOptions {
    fn default() -> RequestOptions {
        RequestOptions {
            instrumental: RequestOptions::DEFAULT_INSTRUMENTAL,
            style: None,
            title: None,
        }
    }
}

fn default_instrumental() -> bool {
    RequestOptions::DEFAULT_INSTRUMENTAL
}

/// A validated request for music.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MusicRequest {
    /// The emotion to fit.
    pub emotion: Emotion,
    /// How strongly; [`Intensity::DEFAULT`] when not given.
    #[serde(default)]
    pub intensity: Intensity,
    /// The listener's words about their situation.
    #[serde(default)]
    pub context: Option<Context>,
    /// Instrumental, style and title choices.
    #[serde(flatten)]
    pub options: RequestOptions,
}

impl MusicRequest {
    /// A request with defaults for everything but the emotion.
    pub fn new(emotion: Emotion) -> MusicRequest {
        MusicRequest {
            emotion,
            intensity: Intensity::DEFAULT,
            context: None,
            options: RequestOptions::default(),
        }
    }
}

/// Parses and validates raw body bytes.
pub fn parse_request(body: &[u8]) -> Result<MusicRequest, ValidationError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ValidationError::InvalidJson {
        reason: e.to_string(),
    })?;
    validate_request(&value)
}

/// Validates a JSON body `{emotion, intensity?, context?, instrumental?, style?, title?}`.
///
/// Fields are checked in that order and the first problem is returned. `null` counts as absent.
pub fn validate_request(body: &Value) -> Result<MusicRequest, ValidationError> {
    let object = body.as_object().ok_or(ValidationError::NotAnObject)?;
    let emotion = match present(object, Field::Emotion) {
        None => {
            return Err(ValidationError::Missing {
                field: Field::Emotion,
            })
        }
        Some(value) => Emotion::parse(as_str(value, Field::Emotion)?)?,
    };
    let intensity = match present(object, Field::Intensity) {
        None => Intensity::DEFAULT,
        Some(value) => Intensity::new(value.as_f64().ok_or(ValidationError::WrongType {
            field: Field::Intensity,
            expected: "a number between 0 and 1",
        })?)?,
    };
    let context = optional_text(object, Field::Context, Context::MAX_CHARS)?.map(Context);
    let instrumental = match present(object, Field::Instrumental) {
        None => RequestOptions::DEFAULT_INSTRUMENTAL,
        Some(value) => value.as_bool().ok_or(ValidationError::WrongType {
            field: Field::Instrumental,
            expected: "a boolean",
        })?,
    };
    let style = optional_text(object, Field::Style, RequestOptions::STYLE_MAX_CHARS)?;
    let title = optional_text(object, Field::Title, RequestOptions::TITLE_MAX_CHARS)?;
    Ok(MusicRequest {
        emotion,
        intensity,
        context,
        options: RequestOptions {
            instrumental,
            style,
            title,
        },
    })
}

fn present(object: &Map<String, Value>, field: Field) -> Option<&Value> {
    object.get(field.as_str()).filter(|v| !v.is_null())
}

fn as_str(value: &Value, field: Field) -> Result<&str, ValidationError> {
    value.as_str().ok_or(ValidationError::WrongType {
        field,
        expected: "a string",
    })
}

fn optional_text(
    object: &Map<String, Value>,
    field: Field,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match present(object, field) {
        None => Ok(None),
        Some(value) => clean_bounded(as_str(value, field)?, field, max),
    }
}

fn clean_bounded(raw: &str, field: Field, max: usize) -> Result<Option<String>, ValidationError> {
    let cleaned = text::clean(raw);
    let len = text::char_len(&cleaned);
    if len > max {
        return Err(ValidationError::TooLong { field, max, len });
    }
    Ok(Some(cleaned).filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_for(body: Value) -> ValidationError {
        validate_request(&body).unwrap_err()
    }

    #[test]
    fn minimal_body_gets_defaults() {
        let request = validate_request(&json!({"emotion": "calm"})).unwrap();
        assert_eq!(request, MusicRequest::new(Emotion::Calm));
        assert!(request.options.instrumental);
    }

    #[test]
    fn full_body_is_cleaned() {
        let request = validate_request(&json!({
            "emotion": "Joy",
            "intensity": 0.9,
            "context": "  sunny\nmorning  ",
            "instrumental": false,
            "style": " lo-fi ",
            "title": "",
            "unknown": 1,
        }))
        .unwrap();
        assert_eq!(request.emotion, Emotion::Joy);
        assert_eq!(request.intensity.value(), 0.9);
        assert_eq!(request.context.unwrap().as_str(), "sunny morning");
        assert!(!request.options.instrumental);
        assert_eq!(request.options.style.as_deref(), Some("lo-fi"));
        assert_eq!(request.options.title, None);
    }

    #[test]
    fn nulls_count_as_absent() {
        let request = validate_request(&json!({
            "emotion": "sad", "intensity": null, "context": null, "instrumental": null
        }))
        .unwrap();
        assert_eq!(request, MusicRequest::new(Emotion::Sad));
    }

    #[test]
    fn every_error_names_its_field_and_code() {
        let cases = [
            (json!({}), "emotion", "invalid_emotion"),
            (json!({"emotion": 3}), "emotion", "invalid_emotion"),
            (json!({"emotion": "banana"}), "emotion", "invalid_emotion"),
            (
                json!({"emotion": "joy", "intensity": 1.5}),
                "intensity",
                "invalid_intensity",
            ),
            (
                json!({"emotion": "joy", "intensity": -1}),
                "intensity",
                "invalid_intensity",
            ),
            (
                json!({"emotion": "joy", "intensity": "high"}),
                "intensity",
                "invalid_intensity",
            ),
            (
                json!({"emotion": "joy", "context": 5}),
                "context",
                "invalid_context",
            ),
            (
                json!({"emotion": "joy", "context": "x".repeat(501)}),
                "context",
                "invalid_context",
            ),
            (
                json!({"emotion": "joy", "instrumental": "yes"}),
                "instrumental",
                "invalid_instrumental",
            ),
            (
                json!({"emotion": "joy", "style": "s".repeat(201)}),
                "style",
                "invalid_style",
            ),
            (
                json!({"emotion": "joy", "title": ["x"]}),
                "title",
                "invalid_title",
            ),
        ];
        for (body, field, code) in cases {
            let err = error_for(body.clone());
            assert_eq!(err.field().map(Field::as_str), Some(field), "{body}");
            assert_eq!(err.code(), code, "{body}");
            assert!(err.to_string().starts_with(field), "{body}: {err}");
        }
    }

    #[test]
    fn intensity_message_reads_naturally() {
        let err = error_for(json!({"emotion": "joy", "intensity": 2}));
        assert_eq!(err.to_string(), "intensity must be between 0 and 1, got 2");
    }

    #[test]
    fn unknown_emotion_lists_the_accepted_values() {
        let err = error_for(json!({"emotion": "banana"}));
        assert_eq!(
            err.to_string(),
            "emotion must be one of joy, calm, sad, anger, anxious, energetic, neutral; \
             got \"banana\""
        );
    }

    #[test]
    fn context_limit_counts_characters_not_bytes() {
        let ok = "é".repeat(500);
        assert!(validate_request(&json!({"emotion": "joy", "context": ok})).is_ok());
    }

    #[test]
    fn body_level_errors_have_their_own_codes() {
        assert_eq!(error_for(json!([1])).code(), "invalid_body");
        let err = parse_request(b"{not json").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        assert_eq!(err.field(), None);
    }

    #[test]
    fn error_body_uses_the_code() {
        let body = error_for(json!({})).to_body();
        assert_eq!(body.error.code, "invalid_emotion");
        assert_eq!(body.error.message, "emotion is required");
    }

    #[test]
    fn music_request_round_trips_through_serde() {
        let request = validate_request(&json!({
            "emotion": "anger", "intensity": 0.1, "context": "traffic", "title": "Honk"
        }))
        .unwrap();
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["emotion"], "anger");
        assert_eq!(json["instrumental"], true);
        let back: MusicRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, request);
    }
}
