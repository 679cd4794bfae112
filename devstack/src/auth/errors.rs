//! The errors of the sign-in service, answered as Supabase Auth (GoTrue)
//! answers them.
//!
//! GoTrue has two error bodies, chosen by the request's
//! `X-Supabase-Api-Version` header: from `2024-01-01` on (what supabase-js v2
//! sends) `{"code": "<error code>", "message": …}` with the header echoed;
//! without it the older `{"code": <status>, "error_code": …, "msg": …}`.
//! supabase-js turns either into an `AuthApiError` with the status and code.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Request header (and echoed response header) naming the API version.
pub const API_VERSION_HEADER: &str = "x-supabase-api-version";

/// The first (and current) dated version of GoTrue's error body.
const API_VERSION_2024_01_01: &str = "2024-01-01";

/// Every way a request to the sign-in service fails.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Invalid login credentials")]
    InvalidCredentials,
    #[error("Email not confirmed")]
    EmailNotConfirmed,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("{0}")]
    Validation(&'static str),
    #[error("Could not parse request body as JSON: {0}")]
    BadJson(String),
    #[error("Invalid Refresh Token: Refresh Token Not Found")]
    RefreshTokenNotFound,
    #[error("Invalid Refresh Token: Already Used")]
    RefreshTokenAlreadyUsed,
    #[error("This endpoint requires a valid Bearer token")]
    NoAuthorization,
    #[error("invalid JWT: {0}")]
    BadJwt(&'static str),
    #[error("User from sub claim in JWT does not exist")]
    UserNotFound,
    #[error("Session from session_id claim in JWT does not exist")]
    SessionNotFound,
    #[error("User not allowed")]
    NotAdmin,
    #[error("Signups not allowed for this instance")]
    SignupDisabled,
    #[error("A user with this email address has already been registered")]
    EmailExists,
    #[error("Password should be at least 6 characters.")]
    WeakPassword,
    #[error("Password cannot be longer than 72 characters")]
    PasswordTooLong,
    #[error("Not Found")]
    NotFound,
    #[error("Database error: {0}")]
    Database(#[from] tokio_postgres::Error),
}

impl AuthError {
    /// HTTP status and GoTrue error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use AuthError::*;
        match self {
            InvalidCredentials => (StatusCode::BAD_REQUEST, "invalid_credentials"),
            EmailNotConfirmed => (StatusCode::BAD_REQUEST, "email_not_confirmed"),
            // GoTrue files an unknown grant under invalid_credentials.
            UnsupportedGrantType => (StatusCode::BAD_REQUEST, "invalid_credentials"),
            Validation(_) => (StatusCode::BAD_REQUEST, "validation_failed"),
            BadJson(_) => (StatusCode::BAD_REQUEST, "bad_json"),
            RefreshTokenNotFound => (StatusCode::BAD_REQUEST, "refresh_token_not_found"),
            RefreshTokenAlreadyUsed => (StatusCode::BAD_REQUEST, "refresh_token_already_used"),
            NoAuthorization => (StatusCode::UNAUTHORIZED, "no_authorization"),
            BadJwt(_) => (StatusCode::FORBIDDEN, "bad_jwt"),
            UserNotFound => (StatusCode::FORBIDDEN, "user_not_found"),
            SessionNotFound => (StatusCode::FORBIDDEN, "session_not_found"),
            NotAdmin => (StatusCode::FORBIDDEN, "not_admin"),
            SignupDisabled => (StatusCode::UNPROCESSABLE_ENTITY, "signup_disabled"),
            EmailExists => (StatusCode::UNPROCESSABLE_ENTITY, "email_exists"),
            WeakPassword => (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
            PasswordTooLong => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unexpected_failure"),
        }
    }

    /// The JSON body for a caller that asked for `version` (the raw header).
    pub fn body(&self, version: Option<&str>) -> Value {
        let (status, code) = self.status_and_code();
        let mut body = if is_dated(version) {
            json!({ "code": code, "message": self.to_string() })
        } else {
            json!({ "code": status.as_u16(), "error_code": code, "msg": self.to_string() })
        };
        if matches!(self, AuthError::WeakPassword) {
            body["weak_password"] = json!({ "reasons": ["length"] });
        }
        body
    }

    /// The whole answer, with the version header echoed as GoTrue does.
    pub fn response(&self, version: Option<&str>) -> Response {
        let (status, _) = self.status_and_code();
        let mut response = (status, axum::Json(self.body(version))).into_response();
        if is_dated(version) {
            response.headers_mut().insert(
                API_VERSION_HEADER,
                HeaderValue::from_static(API_VERSION_2024_01_01),
            );
        }
        response
    }
}

/// Whether the request named a dated API version (`YYYY-MM-DD`, on or after
/// 2024-01-01); anything else gets the original body, as in GoTrue.
fn is_dated(version: Option<&str>) -> bool {
    let Some(version) = version else {
        return false;
    };
    let shaped = version.len() == 10
        && version.char_indices().all(|(index, c)| match index {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    shaped && version >= API_VERSION_2024_01_01
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_callers_get_code_and_message() {
        let body = AuthError::InvalidCredentials.body(Some("2024-01-01"));
        assert_eq!(
            body,
            json!({ "code": "invalid_credentials", "message": "Invalid login credentials" })
        );
    }

    #[test]
    fn other_callers_get_the_original_body() {
        for version in [None, Some("2023-12-31"), Some("garbage")] {
            let body = AuthError::InvalidCredentials.body(version);
            assert_eq!(
                body,
                json!({
                    "code": 400,
                    "error_code": "invalid_credentials",
                    "msg": "Invalid login credentials"
                })
            );
        }
    }

    #[test]
    fn an_unknown_grant_is_filed_under_invalid_credentials() {
        let body = AuthError::UnsupportedGrantType.body(None);
        assert_eq!(
            body,
            json!({ "code": 400, "error_code": "invalid_credentials", "msg": "unsupported_grant_type" })
        );
    }

    #[test]
    fn signup_is_disabled_with_422_and_weak_passwords_name_the_reason() {
        let (status, code) = AuthError::SignupDisabled.status_and_code();
        assert_eq!((status.as_u16(), code), (422, "signup_disabled"));
        let weak = AuthError::WeakPassword.body(Some("2024-01-01"));
        assert_eq!(weak["code"], "weak_password");
        assert_eq!(weak["weak_password"]["reasons"], json!(["length"]));
    }

    #[test]
    fn the_version_header_is_echoed_only_to_dated_callers() {
        let dated = AuthError::NotAdmin.response(Some("2024-01-01"));
        assert_eq!(dated.status(), StatusCode::FORBIDDEN);
        assert_eq!(dated.headers()[API_VERSION_HEADER], "2024-01-01");
        let plain = AuthError::NotAdmin.response(None);
        assert!(plain.headers().get(API_VERSION_HEADER).is_none());
    }
}
