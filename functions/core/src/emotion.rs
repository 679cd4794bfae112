//! The emotions a listener can ask for, and how strongly.
//!
//! These are words of the public API and values of the `emotion` column: a closed, lowercase
//! set. This module only names and validates them; how each one sounds lives in
//! [`crate::profile`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An emotion the music should fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    /// Happiness, delight.
    Joy,
    /// Peace, rest.
    Calm,
    /// Sadness, melancholy.
    Sad,
    /// Anger, frustration.
    Anger,
    /// Worry, tension.
    Anxious,
    /// Drive, motivation.
    Energetic,
    /// No strong feeling: background music.
    Neutral,
}

/// The error returned when a value is not one of [`Emotion::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown emotion {value:?}; accepted values: {}",
    Emotion::accepted_values()
)]
pub struct UnknownEmotion {
    /// The value that was given, shortened so an error never echoes a huge input.
    pub value: String,
}

impl Emotion {
    /// Every emotion, in the order they are listed to users.
    pub const ALL: [Emotion; 7] = [
        Emotion::Joy,
        Emotion::Calm,
        Emotion::Sad,
        Emotion::Anger,
        Emotion::Anxious,
        Emotion::Energetic,
        Emotion::Neutral,
    ];

    /// The API and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Emotion::Joy => "joy",
            Emotion::Calm => "calm",
            Emotion::Sad => "sad",
            Emotion::Anger => "anger",
            Emotion::Anxious => "anxious",
            Emotion::Energetic => "energetic",
            Emotion::Neutral => "neutral",
        }
    }

    /// The accepted spellings, comma separated, for error messages.
    pub fn accepted_values() -> String {
        Emotion::ALL.map(Emotion::as_str).join(", ")
    }

    /// Parses a value, ignoring case and surrounding spaces.
    pub fn parse(value: &str) -> Result<Emotion, UnknownEmotion> {
        let wanted = value.trim();
        Emotion::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownEmotion {
                value: crate::text::fit(value, 40),
            })
    }
}

impl FromStr for Emotion {
    type Err = UnknownEmotion;

    fn from_str(value: &str) -> Result<Emotion, UnknownEmotion> {
        Emotion::parse(value)
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How strongly the emotion should come through, from 0 (barely) to 1 (fully).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Intensity(f64);

/// The error returned for an intensity outside `0..=1` (or not a number).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("must be a number between 0 and 1, got {value}")]
pub struct IntensityOutOfRange {
    /// The value that was given.
    pub value: f64,
}

/// A coarse reading of [`Intensity`]: profiles have one sound per band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// Intensity below 1/3.
    Low,
    /// Intensity from 1/3 to below 2/3.
    Medium,
    /// Intensity from 2/3 to 1.
    High,
}

impl Intensity {
    /// The intensity used when a request gives none.
    pub const DEFAULT: Intensity = Intensity(0.5);

    /// Accepts any finite value in `0..=1`.
    pub fn new(value: f64) -> Result<Intensity, IntensityOutOfRange> {
        if (0.0..=1.0).contains(&value) {
            Ok(Intensity(value))
        } else {
            Err(IntensityOutOfRange { value })
        }
    }

    /// The value, in `0..=1`.
    pub fn value(self) -> f64 {
        self.0
    }

    /// Which third of the range the value falls in.
    pub fn band(self) -> Band {
        if self.0 < 1.0 / 3.0 {
            Band::Low
        } else if self.0 < 2.0 / 3.0 {
            Band::Medium
        } else {
            Band::High
        }
    }
}

impl Default for Intensity {
    fn default() -> Intensity {
        Intensity::DEFAULT
    }
}

impl TryFrom<f64> for Intensity {
    type Error = IntensityOutOfRange;

    fn try_from(value: f64) -> Result<Intensity, IntensityOutOfRange> {
        Intensity::new(value)
    }
}

impl From<Intensity> for f64 {
    fn from(intensity: Intensity) -> f64 {
        intensity.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_emotion_ignoring_case() {
        for emotion in Emotion::ALL {
            assert_eq!(Emotion::parse(emotion.as_str()), Ok(emotion));
        }
        assert_eq!(Emotion::parse("  JOY "), Ok(Emotion::Joy));
    }

    #[test]
    fn unknown_emotion_names_the_accepted_values() {
        let message = Emotion::parse("banana").unwrap_err().to_string();
        assert_eq!(
            message,
            "unknown emotion \"banana\"; accepted values: \
             joy, calm, sad, anger, anxious, energetic, neutral"
        );
    }

    #[test]
    fn intensity_accepts_the_closed_unit_range() {
        assert!(Intensity::new(0.0).is_ok());
        assert!(Intensity::new(1.0).is_ok());
        assert!(Intensity::new(-0.01).is_err());
        assert!(Intensity::new(1.01).is_err());
        assert!(Intensity::new(f64::NAN).is_err());
        assert_eq!(Intensity::default().value(), 0.5);
    }

    #[test]
    fn intensity_bands_split_the_range_in_thirds() {
        let band = |v| Intensity::new(v).unwrap().band();
        assert_eq!(band(0.0), Band::Low);
        assert_eq!(band(0.33), Band::Low);
        assert_eq!(band(0.34), Band::Medium);
        assert_eq!(band(0.5), Band::Medium);
        assert_eq!(band(0.67), Band::High);
        assert_eq!(band(1.0), Band::High);
    }

    #[test]
    fn intensity_deserialization_validates() {
        assert!(serde_json::from_str::<Intensity>("0.2").is_ok());
        assert!(serde_json::from_str::<Intensity>("2").is_err());
    }
}
