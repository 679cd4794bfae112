//! The Suno model versions and the length limits each one accepts.
//!
//! The model is configuration (`SUNO_MODEL`), never user input. The limits come from the
//! provider contract and are counted with [`crate::text::provider_len`]. Building text that
//! respects them is [`crate::prompt`]'s job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Suno model version as the provider spells it in the `model` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Model {
    /// `V3_5`: only in older provider docs; kept for providers that still serve it.
    #[serde(rename = "V3_5")]
    V3_5,
    /// `V4`.
    #[serde(rename = "V4")]
    V4,
    /// `V4_5`: the default.
    #[default]
    #[serde(rename = "V4_5")]
    V4_5,
    /// `V4_5PLUS`.
    #[serde(rename = "V4_5PLUS")]
    V4_5Plus,
    /// `V4_5ALL`.
    #[serde(rename = "V4_5ALL")]
    V4_5All,
    /// `V5`.
    #[serde(rename = "V5")]
    V5,
    /// `V5_5`.
    #[serde(rename = "V5_5")]
    V5_5,
}

/// Maximum lengths of the text fields of a generate request for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// `prompt` in non-custom mode (a description; lyrics are written by the provider).
    pub description: usize,
    /// `prompt` in custom mode (sung as lyrics).
    pub lyrics: usize,
    /// `style`, custom mode only.
    pub style: usize,
    /// `title`, custom mode only.
    pub title: usize,
}

/// The error returned when a configured model name is not one of [`Model::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown model {value:?}; accepted values: {}",
    Model::accepted_values()
)]
pub struct UnknownModel {
    /// The value that was given.
    pub value: String,
}

impl Model {
    /// Every model, oldest first.
    pub const ALL: [Model; 7] = [
        Model::V3_5,
        Model::V4,
        Model::V4_5,
        Model::V4_5Plus,
        Model::V4_5All,
        Model::V5,
        Model::V5_5,
    ];

    /// The provider's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::V3_5 => "V3_5",
            Model::V4 => "V4",
            Model::V4_5 => "V4_5",
            Model::V4_5Plus => "V4_5PLUS",
            Model::V4_5All => "V4_5ALL",
            Model::V5 => "V5",
            Model::V5_5 => "V5_5",
        }
    }

    /// Parses a configuration value, ignoring case and surrounding spaces.
    pub fn parse(value: &str) -> Result<Model, UnknownModel> {
        let wanted = value.trim();
        Model::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownModel {
                value: crate::text::fit(value, 40),
            })
    }

    /// The accepted spellings, comma separated, for error messages.
    pub fn accepted_values() -> String {
        Model::ALL.map(Model::as_str).join(", ")
    }

    /// The field limits this model accepts.
    pub fn limits(self) -> Limits {
        // V3_5 and V4 are the "short" generation; everything later raised lyrics and style.
        let early = matches!(self, Model::V3_5 | Model::V4);
        // The wider title is documented for these four only; V4_5ALL stayed at 80.
        let wide_title = matches!(
            self,
            Model::V4_5 | Model::V4_5Plus | Model::V5 | Model::V5_5
        );
        Limits {
            description: 500,
            lyrics: if early { 3000 } else { 5000 },
            style: if early { 200 } else { 1000 },
            title: if wide_title { 100 } else { 80 },
        }
    }
}

impl FromStr for Model {
    type Err = UnknownModel;

    fn from_str(value: &str) -> Result<Model, UnknownModel> {
        Model::parse(value)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_case_insensitively() {
        for model in Model::ALL {
            assert_eq!(Model::parse(model.as_str()), Ok(model));
            assert_eq!(Model::parse(&model.as_str().to_lowercase()), Ok(model));
        }
        assert_eq!(Model::parse(" v4_5plus "), Ok(Model::V4_5Plus));
    }

    #[test]
    fn unknown_model_lists_accepted_values() {
        let err = Model::parse("V9").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"V9\""), "{message}");
        assert!(message.contains("V4_5PLUS"), "{message}");
    }

    #[test]
    fn limits_follow_the_contract() {
        let v4 = Model::V4.limits();
        assert_eq!((v4.lyrics, v4.style, v4.title), (3000, 200, 80));
        let v45 = Model::V4_5.limits();
        assert_eq!((v45.lyrics, v45.style, v45.title), (5000, 1000, 100));
        assert_eq!(Model::V4_5All.limits().title, 80);
        assert_eq!(Model::V5_5.limits().title, 100);
        assert!(Model::ALL.iter().all(|m| m.limits().description == 500));
    }

    #[test]
    fn serializes_as_the_provider_spelling() {
        let json = serde_json::to_string(&Model::V4_5Plus).unwrap();
        assert_eq!(json, "\"V4_5PLUS\"");
        let back: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Model::V4_5Plus);
    }
}
