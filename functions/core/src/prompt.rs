//! Turning a validated [`MusicRequest`] into the text fields of a generate call.
//!
//! The output is deterministic (same request and model, same text) and always within the
//! model's [`Limits`](crate::model::Limits): the emotion's own words come first and are kept
//! whole where possible; the listener's context gets whatever room is left. Two shapes exist:
//!
//! - instrumental: custom mode, so the style and title are exactly ours;
//! - with vocals: non-custom mode, a description from which the provider writes lyrics.
//!   Custom mode would sing our prompt word for word, so overrides are folded into the text.
//!
//! Wrapping these fields in an HTTP request is [`crate::suno::request`]'s job. The queue
//! stores these fields with the request; [`GenerateParams::from_stored`] reads them back.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::model::{Model, UnknownModel};
use crate::profile::{profile, Profile};
use crate::text::{fit, provider_len};
use crate::validation::MusicRequest;

/// The generation parameters as sent to the provider (and as stored with the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateParams {
    /// The model version.
    pub model: Model,
    /// `true`: `style` and `title` are ours and `prompt` would be sung as lyrics.
    pub custom_mode: bool,
    /// No vocals.
    pub instrumental: bool,
    /// A description (non-custom mode) or the text for the track (custom mode).
    pub prompt: String,
    /// Style tags; custom mode only.
    pub style: Option<String>,
    /// Track title; custom mode only.
    pub title: Option<String>,
}

/// The provider fields of a queued request, as `music_generation_queue` stores them (the
/// columns of the same names; any other column of the row is ignored). Custom mode is not
/// stored: it is implied by a style, as in the table's own constraint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredParams {
    /// The prompt as it will be sent.
    pub prompt: String,
    /// Style tags; set exactly in custom mode.
    pub style: Option<String>,
    /// Track title; custom mode only.
    pub title: Option<String>,
    /// No vocals.
    pub instrumental: bool,
    /// The model chosen at enqueue; `None` means the configured default.
    pub model: Option<String>,
}

/// Why a stored row does not make a valid generate call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredParamsError {
    /// The row is not a queue row with the provider fields.
    #[error("stored request: {0}")]
    Shape(String),
    /// The stored model is not one the provider accepts.
    #[error("stored request: {0}")]
    Model(#[from] UnknownModel),
    /// Custom mode needs a title as well as a style.
    #[error("stored request: a style without a title (custom mode needs both)")]
    StyleWithoutTitle,
}

impl ErrorCode for StoredParamsError {
    fn code(&self) -> &'static str {
        "invalid_stored_request"
    }
}

impl GenerateParams {
    /// Rebuilds the provider fields from a stored queue row (PostgREST's JSON of a
    /// `music_generation_queue` row), so every shell sends a queued request the same way:
    /// custom mode exactly when a style is stored, the stored model or else `default_model`.
    pub fn from_stored(
        row: &serde_json::Value,
        default_model: Model,
    ) -> Result<GenerateParams, StoredParamsError> {
        let stored = StoredParams::deserialize(row)
            .map_err(|error| StoredParamsError::Shape(error.to_string()))?;
        stored.into_params(default_model)
    }
}

impl StoredParams {
    /// The provider fields these stored columns stand for.
    pub fn into_params(self, default_model: Model) -> Result<GenerateParams, StoredParamsError> {
        let model = match self.model.as_deref() {
            Some(name) => Model::parse(name)?,
            None => default_model,
        };
        let custom_mode = self.style.is_some();
        if custom_mode && self.title.is_none() {
            return Err(StoredParamsError::StyleWithoutTitle);
        }
        Ok(GenerateParams {
            model,
            custom_mode,
            instrumental: self.instrumental,
            prompt: self.prompt,
            style: self.style,
            title: if custom_mode { self.title } else { None },
        })
    }
}

/// Leaving less room than this for the context would produce a fragment, not a hint.
const MIN_CONTEXT_UNITS: usize = 16;
const CONTEXT_LEAD: &str = " Inspired by: ";

/// Builds the provider fields for `request` on `model`.
pub fn build(request: &MusicRequest, model: Model) -> GenerateParams {
    let profile = profile(request.emotion, request.intensity.band());
    if request.options.instrumental {
        instrumental(request, profile, model)
    } else {
        with_vocals(request, profile, model)
    }
}

fn instrumental(request: &MusicRequest, profile: &Profile, model: Model) -> GenerateParams {
    let limits = model.limits();
    let style = match &request.options.style {
        Some(custom) => format!("{custom}, {}", feel(profile)),
        None => format!(
            "{}, {}, {}",
            profile.genre,
            feel(profile),
            profile.instruments.join(", ")
        ),
    };
    let title = request.options.title.as_deref().unwrap_or(profile.title);
    let base = format!("{} Instrumental, no vocals.", describe(profile));
    GenerateParams {
        model,
        custom_mode: true,
        instrumental: true,
        prompt: with_context(&base, request, limits.lyrics),
        style: Some(fit(&style, limits.style)),
        title: Some(fit(title, limits.title)),
    }
}

fn with_vocals(request: &MusicRequest, profile: &Profile, model: Model) -> GenerateParams {
    let mut base = describe(profile);
    if let Some(style) = &request.options.style {
        base.push_str(&format!(" Style: {style}."));
    }
    if let Some(title) = &request.options.title {
        base.push_str(&format!(" Title: \"{title}\"."));
    }
    GenerateParams {
        model,
        custom_mode: false,
        instrumental: false,
        prompt: with_context(&base, request, model.limits().description),
        style: None,
        title: None,
    }
}

/// "Warm, content and gently uplifting acoustic folk, relaxed at about 92 BPM, featuring …."
fn describe(profile: &Profile) -> String {
    format!(
        "{} {}, {} at about {} BPM, featuring {}.",
        capitalize(&list(profile.moods)),
        profile.genre,
        profile.tempo,
        profile.bpm,
        list(profile.instruments),
    )
}

/// Moods and tempo as style tags: "warm, content, gently uplifting, relaxed, 92 BPM".
fn feel(profile: &Profile) -> String {
    format!(
        "{}, {}, {} BPM",
        profile.moods.join(", "),
        profile.tempo,
        profile.bpm
    )
}

fn with_context(base: &str, request: &MusicRequest, max: usize) -> String {
    let base = fit(base, max);
    let Some(context) = &request.context else {
        return base;
    };
    let room = max.saturating_sub(provider_len(&base) + provider_len(CONTEXT_LEAD));
    if room < MIN_CONTEXT_UNITS {
        return base;
    }
    format!("{base}{CONTEXT_LEAD}{}", fit(context.as_str(), room))
}

/// "a, b and c".
fn list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::{Emotion, Intensity};
    use crate::validation::{Context, RequestOptions};

    fn request(emotion: Emotion, intensity: f64) -> MusicRequest {
        MusicRequest {
            intensity: Intensity::new(intensity).unwrap(),
            ..MusicRequest::new(emotion)
        }
    }

    #[test]
    fn instrumental_request_uses_custom_mode_with_profile_style_and_title() {
        let params = build(&request(Emotion::Calm, 0.5), Model::V4_5);
        assert!(params.custom_mode && params.instrumental);
        assert_eq!(params.title.as_deref(), Some("Still Water"));
        assert_eq!(
            params.style.as_deref(),
            Some(
                "ambient, peaceful, soothing, serene, very slow, 64 BPM, \
                 warm synth pads, gentle drones, distant chimes"
            )
        );
        assert_eq!(
            params.prompt,
            "Peaceful, soothing and serene ambient, very slow at about 64 BPM, featuring \
             warm synth pads, gentle drones and distant chimes. Instrumental, no vocals."
        );
    }

    #[test]
    fn vocal_request_uses_a_description_and_folds_overrides_in() {
        let mut req = request(Emotion::Joy, 0.9);
        req.options = RequestOptions {
            instrumental: false,
            style: Some("synthwave".into()),
            title: Some("Up".into()),
        };
        req.context = Context::parse("first day of holidays").unwrap();
        let params = build(&req, Model::V5);
        assert!(!params.custom_mode && !params.instrumental);
        assert_eq!(params.style, None);
        assert_eq!(params.title, None);
        assert!(params
            .prompt
            .starts_with("Exuberant, celebratory and euphoric dance pop"));
        assert!(params.prompt.contains(" Style: synthwave. Title: \"Up\"."));
        assert!(params
            .prompt
            .ends_with(" Inspired by: first day of holidays"));
    }

    #[test]
    fn style_override_keeps_the_emotion_feel() {
        let mut req = request(Emotion::Sad, 0.1);
        req.options.style = Some("jazz".into());
        let params = build(&req, Model::V4);
        assert_eq!(
            params.style.as_deref(),
            Some("jazz, wistful, reflective, bittersweet, slow, 78 BPM")
        );
    }

    #[test]
    fn intensity_changes_the_sound() {
        let low = build(&request(Emotion::Anger, 0.0), Model::V4_5);
        let high = build(&request(Emotion::Anger, 1.0), Model::V4_5);
        assert_ne!(low.style, high.style);
        assert_eq!(high.title.as_deref(), Some("Wildfire"));
    }

    #[test]
    fn long_context_is_cut_to_fit_the_description_limit() {
        let mut req = request(Emotion::Neutral, 0.5);
        req.options.instrumental = false;
        req.context = Context::parse(&"word ".repeat(100)).unwrap();
        let params = build(&req, Model::V4);
        assert_eq!(provider_len(&params.prompt), 500);
        assert!(params.prompt.ends_with('…'));
    }

    #[test]
    fn the_same_request_gives_the_same_text() {
        let req = request(Emotion::Anxious, 0.7);
        assert_eq!(build(&req, Model::V4_5), build(&req, Model::V4_5));
    }

    /// What `enqueue_music_request` stores for `params` (the columns of the same names).
    fn stored_row(params: &GenerateParams) -> serde_json::Value {
        serde_json::json!({
            "id": "5d0c1a52-0000-4000-8000-000000000000",
            "emotion": "calm",
            "prompt": params.prompt,
            "style": params.style,
            "title": params.title,
            "instrumental": params.instrumental,
            "model": params.model.as_str(),
            "asked_style": null,
            "asked_title": null,
        })
    }

    #[test]
    fn a_stored_row_gives_back_the_params_it_was_built_from() {
        let mut vocal = request(Emotion::Joy, 0.9);
        vocal.options.instrumental = false;
        for params in [
            build(&request(Emotion::Calm, 0.5), Model::V4_5),
            build(&vocal, Model::V5),
        ] {
            let again = GenerateParams::from_stored(&stored_row(&params), Model::V4).unwrap();
            assert_eq!(again, params);
        }
    }

    #[test]
    fn a_stored_row_without_a_model_uses_the_default_and_custom_mode_follows_the_style() {
        let row = serde_json::json!({
            "prompt": "calm piano", "style": null, "title": null,
            "instrumental": true, "model": null,
        });
        let params = GenerateParams::from_stored(&row, Model::V4_5).unwrap();
        assert_eq!(params.model, Model::V4_5);
        assert!(!params.custom_mode);
    }

    #[test]
    fn a_stored_row_that_cannot_be_sent_is_an_error() {
        let no_title = serde_json::json!({
            "prompt": "p", "style": "ambient", "title": null, "instrumental": true, "model": null,
        });
        assert_eq!(
            GenerateParams::from_stored(&no_title, Model::V4_5),
            Err(StoredParamsError::StyleWithoutTitle)
        );
        let bad_model = serde_json::json!({
            "prompt": "p", "style": null, "title": null, "instrumental": true, "model": "V9",
        });
        assert!(matches!(
            GenerateParams::from_stored(&bad_model, Model::V4_5),
            Err(StoredParamsError::Model(_))
        ));
        let not_a_row = serde_json::json!({"prompt": 3});
        let error = GenerateParams::from_stored(&not_a_row, Model::V4_5).unwrap_err();
        assert_eq!(error.code(), "invalid_stored_request");
    }

    #[test]
    fn list_joins_with_and() {
        assert_eq!(list(&["a"]), "a");
        assert_eq!(list(&["a", "b"]), "a and b");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
    }
}
