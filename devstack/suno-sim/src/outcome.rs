//! How a task ends. An outcome is chosen at submit: from a `[sim:<outcome>]` marker in the
//! prompt, style or title if there is one, else from the queue filled by
//! `POST /__sim/outcomes`, else `success`. Outcomes are spelled the same way in both places.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Outcome {
    Success,
    SensitiveWord,
    AudioFailed501,
    AudioFailed531,
    CreateTaskFailed,
    /// Audio is produced but the vendor's webhook call failed: `complete` is never sent.
    CallbackException,
    /// Never leaves `PENDING`.
    Stuck,
    /// Reaches `TEXT_SUCCESS` and stays there.
    StuckText,
    /// `SUCCESS` with an empty `sunoData`.
    SuccessWithoutData,
    /// Succeeds, but `record-info` answers `data: null` for this many simulated seconds
    /// (the configured default when `None`).
    LateVisibility(Option<f64>),
}

const NAMES: [(&str, Outcome); 9] = [
    ("success", Outcome::Success),
    ("sensitive_word", Outcome::SensitiveWord),
    ("audio_failed_501", Outcome::AudioFailed501),
    ("audio_failed_531", Outcome::AudioFailed531),
    ("create_task_failed", Outcome::CreateTaskFailed),
    ("callback_exception", Outcome::CallbackException),
    ("stuck", Outcome::Stuck),
    ("stuck_text", Outcome::StuckText),
    ("success_without_data", Outcome::SuccessWithoutData),
];

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("late_visibility") {
            return match rest.strip_prefix('=') {
                None if rest.is_empty() => Ok(Self::LateVisibility(None)),
                Some(secs) => match secs.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(Self::LateVisibility(Some(v))),
                    _ => Err(format!("bad late_visibility seconds in {s:?}")),
                },
                None => Err(format!("unknown outcome {s:?}")),
            };
        }
        NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, o)| *o)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LateVisibility(None) => f.write_str("late_visibility"),
            Self::LateVisibility(Some(secs)) => write!(f, "late_visibility={secs}"),
            other => {
                let name = NAMES.iter().find(|(_, o)| o == other).map(|(n, _)| *n);
                f.write_str(name.unwrap_or("?"))
            }
        }
    }
}

impl TryFrom<String> for Outcome {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Outcome> for String {
    fn from(o: Outcome) -> Self {
        o.to_string()
    }
}

/// Finds a `[sim:<outcome>]` marker in any of `texts`. `Err` names an unknown marker, so
/// a typo in a test is refused rather than silently succeeding.
pub fn marker(texts: &[&str]) -> Result<Option<Outcome>, String> {
    for text in texts {
        if let Some(start) = text.find("[sim:") {
            let rest = &text[start + 5..];
            let Some(end) = rest.find(']') else {
                return Err("unterminated [sim:...] marker".into());
            };
            return rest[..end].parse().map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_name() {
        for (name, outcome) in NAMES {
            assert_eq!(name.parse::<Outcome>().unwrap(), outcome);
            assert_eq!(outcome.to_string(), name);
        }
        let late: Outcome = "late_visibility=12.5".parse().unwrap();
        assert_eq!(late, Outcome::LateVisibility(Some(12.5)));
        assert_eq!(late.to_string(), "late_visibility=12.5");
        assert!("late_visibilityx".parse::<Outcome>().is_err());
        assert!("nope".parse::<Outcome>().is_err());
    }

    #[test]
    fn finds_markers() {
        assert_eq!(marker(&["calm sea", ""]), Ok(None));
        assert_eq!(marker(&["", "lofi [sim:stuck]"]), Ok(Some(Outcome::Stuck)));
        assert!(marker(&["[sim:bogus]"]).is_err());
        assert!(marker(&["[sim:stuck"]).is_err());
    }
}
