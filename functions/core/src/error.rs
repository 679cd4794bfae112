//! The shape every error takes on the wire, the trait that gives an error its code, and the
//! one vocabulary of errors the three edge functions answer with.
//!
//! Each module owns its error enum ([`crate::ValidationError`], [`crate::ConfigError`],
//! [`crate::suno::ProviderError`], ...). What they share is a stable, machine-readable code,
//! so an HTTP shell can answer `{"error":{"code","message"}}` without knowing the enum.
//! [`ApiError`] is what a function answers: each kind has its HTTP status, and
//! [`ApiError::from_postgrest`] turns an error of the SQL API into one, so no shell maps
//! SQLSTATEs or statuses by hand.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Every error an edge function answers with, and its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the input is wrong; names the field when one is to blame.
    #[error("{message}")]
    BadInput {
        /// Stable code, e.g. `invalid_intensity`.
        code: &'static str,
        /// The field to blame.
        field: Option<String>,
        /// What is wrong, for people.
        message: String,
    },
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// 409: the state does not allow it (already finished, already cancelled, ...).
    #[error("{0}")]
    Conflict(String),
    /// 429: the caller has too many unfinished requests.
    #[error("{0}")]
    PerUserLimit(String),
    /// 503: the database or the API in front of it cannot be reached; try again later.
    #[error("{0}")]
    StoreUnavailable(String),
    /// 500: a bug or an unexpected answer; details go to the logs, not to the caller.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadInput { .. } => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::PerUserLimit(_) => 429,
            ApiError::StoreUnavailable(_) => 503,
            ApiError::Internal => 500,
        }
    }

    /// An error answer of PostgREST (`status` and its JSON body `{code, message, details,
    /// hint}`) as the function's own error. The SQL API raises 22023 with `field: <name>` in
    /// the details for bad input, 42501 for refusals, PT429 for the per-user limit, P0002 for
    /// unknown ids.
    pub fn from_postgrest(status: u16, body: &[u8]) -> ApiError {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let sqlstate = json["code"].as_str().unwrap_or("");
        let message = json["message"].as_str().unwrap_or("").to_owned();
        match (sqlstate, status) {
            // 22P05/22021: text Postgres cannot store (a NUL, a bad byte sequence).
            ("22023" | "22P02" | "22001" | "23502" | "23514" | "22P05" | "22021", _) => {
                ApiError::BadInput {
                    code: "invalid_input",
                    field: json["details"]
                        .as_str()
                        .and_then(|d| d.strip_prefix("field: "))
                        .map(str::to_owned),
                    message,
                }
            }
            ("42501", 401) | (_, 401) => ApiError::Unauthorized(message),
            ("42501", _) | (_, 403) => ApiError::Forbidden(message),
            ("PT429", _) => ApiError::PerUserLimit(message),
            ("P0002", _) | (_, 404) => ApiError::NotFound(message),
            ("23505" | "40001" | "55P03", _) | (_, 409) => ApiError::Conflict(message),
            ("57014", _) | (_, 502..=504) => {
                ApiError::StoreUnavailable("the database is unavailable, try again".into())
            }
            (state, _) if is_transient(state) => {
                ApiError::StoreUnavailable("the database is unavailable, try again".into())
            }
            // PostgREST's error shape with an empty code: the database connection broke
            // mid-answer, so libpq had no SQLSTATE to give, and PostgREST answers 400.
            ("", _) if json["code"].is_string() => {
                ApiError::StoreUnavailable("the database is unavailable, try again".into())
            }
            _ => ApiError::Internal,
        }
    }
}

/// Whether `sqlstate` says the database is away for now (restarting, shutting down, out
/// of connections) rather than that the call was wrong: connection exceptions (08),
/// insufficient resources (53), operator intervention on the session (57P), PostgREST's
/// own connection and pool errors (PGRST00x) and its database-library error (PGRSTX00),
/// which a connection cut mid-answer gives.
fn is_transient(sqlstate: &str) -> bool {
    ["08", "53", "57P", "PGRST00", "PGRSTX00"]
        .iter()
        .any(|class| sqlstate.starts_with(class))
}

impl ErrorCode for ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadInput { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PerUserLimit(_) => "too_many_requests",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Internal => "internal",
        }
    }
}

impl From<crate::ValidationError> for ApiError {
    fn from(error: crate::ValidationError) -> ApiError {
        ApiError::BadInput {
            code: error.code(),
            field: error.field().map(|field| field.to_string()),
            message: error.to_string(),
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

    fn postgrest(status: u16, code: &str, details: Option<&str>) -> ApiError {
        let body = serde_json::json!({"code": code, "message": "m", "details": details});
        ApiError::from_postgrest(status, body.to_string().as_bytes())
    }

    #[test]
    fn sql_api_errors_become_one_vocabulary_with_statuses() {
        let bad = postgrest(400, "22023", Some("field: emotion"));
        assert_eq!(
            bad,
            ApiError::BadInput {
                code: "invalid_input",
                field: Some("emotion".into()),
                message: "m".into()
            }
        );
        let cases = [
            (postgrest(400, "22P05", None), 400, "invalid_input"),
            (postgrest(403, "42501", None), 403, "forbidden"),
            (postgrest(401, "42501", None), 401, "unauthorized"),
            (postgrest(429, "PT429", None), 429, "too_many_requests"),
            (postgrest(404, "P0002", None), 404, "not_found"),
            (postgrest(409, "23505", None), 409, "conflict"),
            (postgrest(503, "PGRST001", None), 503, "store_unavailable"),
            (postgrest(500, "57014", None), 503, "store_unavailable"),
            (postgrest(500, "57P01", None), 503, "store_unavailable"),
            (postgrest(500, "57P02", None), 503, "store_unavailable"),
            (postgrest(503, "08006", None), 503, "store_unavailable"),
            (postgrest(503, "53300", None), 503, "store_unavailable"),
            (postgrest(500, "PGRSTX00", None), 503, "store_unavailable"),
            (postgrest(400, "", None), 503, "store_unavailable"),
            (
                ApiError::from_postgrest(400, b"bad request"),
                500,
                "internal",
            ),
            (postgrest(500, "XX000", None), 500, "internal"),
            (
                ApiError::from_postgrest(502, b"<html>"),
                503,
                "store_unavailable",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
        }
        assert_eq!(bad.status(), 400);
        let internal = postgrest(500, "XX000", None).to_body();
        assert_eq!(
            internal.error.message, "internal error",
            "no internals leak"
        );
    }

    #[test]
    fn a_validation_error_keeps_its_code_and_names_its_field() {
        let error = crate::parse_request(br#"{"emotion":"calm","intensity":7}"#).unwrap_err();
        let api = ApiError::from(error);
        assert_eq!((api.status(), api.code()), (400, "invalid_intensity"));
        let ApiError::BadInput { field, .. } = &api else {
            panic!("{api:?}");
        };
        assert_eq!(field.as_deref(), Some("intensity"));
    }
}
