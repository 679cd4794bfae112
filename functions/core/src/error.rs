//! The shape every error takes on the wire, and the trait that gives an error its code.
//!
//! Each module owns its error enum ([`crate::ValidationError`], [`crate::ConfigError`],
//! [`crate::suno::ProviderError`], ...). What they share is a stable, machine-readable code,
//! so an HTTP shell can answer `{"error":{"code","message"}}` without knowing the enum. Which
//! HTTP status goes with which error is the shell's decision, not this crate's.

use serde::{Deserialize, Serialize};

/// An error with a stable code for clients and storage.
///
/// Codes are lowercase snake case and never change meaning once published; messages are for
/// people and may be reworded.
pub trait ErrorCode: std::fmt::Display {
    /// The stable code, e.g. `invalid_emotion`.
    fn code(&self) -> &'static str;

    /// The wire form of this error.
    fn to_body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string())
    }
}

/// The JSON body of every error answer: `{"error":{"code":"…","message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation; for input errors it names the field.
    pub message: String,
}

impl ErrorBody {
    /// Builds a body from a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_documented_shape() {
        let body = ErrorBody::new("invalid_emotion", "emotion: unknown");
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "invalid_emotion", "message": "emotion: unknown"}})
        );
    }
}
