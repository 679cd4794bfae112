//! The gateway's own answers, with the status and JSON body a hosted project
//! sends for each, so that client code parsing them locally parses what it
//! will get in production.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Why the gateway answered instead of the service behind it.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `/rest/v1` without an `apikey` header or query parameter.
    #[error("No API key found in request")]
    MissingApiKey,
    /// An `apikey` that is no key of this project.
    #[error("Invalid API key")]
    InvalidApiKey,
    /// `verify_jwt`: no `Authorization` header.
    #[error("Missing authorization header")]
    MissingAuthorization,
    /// `verify_jwt`: not a bearer JWT signed with the project's secret, or
    /// expired.
    #[error("Invalid JWT")]
    InvalidJwt,
    /// `/functions/v1/<name>` with no such function.
    #[error("Requested function was not found")]
    FunctionNotFound,
    /// The function sent no answer within the request idle timeout.
    #[error("The function did not respond within the request idle timeout")]
    FunctionIdleTimeout,
    /// The function's process ended while handling the request (heap cap,
    /// wall clock), the local form of the runtime's resource-limit answer.
    #[error("Function failed due to not having enough compute resources (please check logs)")]
    FunctionWorkerLimit,
    /// The function's process did not come up (again) in time.
    #[error("Function failed to start (please check logs)")]
    FunctionBootError,
    /// PostgREST (or another upstream) could not be reached.
    #[error("An invalid response was received from the upstream server")]
    BadGateway,
    /// A request body above the gateway's limit.
    #[error("Request body too large")]
    PayloadTooLarge,
    /// A path no route serves.
    #[error("no Route matched with those values")]
    NoRoute,
}

impl GatewayError {
    fn status(&self) -> StatusCode {
        match self {
            Self::MissingApiKey
            | Self::InvalidApiKey
            | Self::MissingAuthorization
            | Self::InvalidJwt => StatusCode::UNAUTHORIZED,
            Self::FunctionNotFound | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::FunctionIdleTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::FunctionWorkerLimit => {
                StatusCode::from_u16(546).expect("546 is a valid status code")
            }
            Self::FunctionBootError => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The hosted body: `message` (+ `hint`) from the API gateway, `code` +
    /// `message` from the functions gateway.
    fn body(&self) -> Value {
        let message = self.to_string();
        match self {
            Self::MissingApiKey => json!({
                "message": message,
                "hint": "No `apikey` request header or url param was found.",
            }),
            Self::InvalidApiKey => json!({
                "message": message,
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            }),
            Self::MissingAuthorization | Self::InvalidJwt => {
                json!({ "code": 401, "message": message })
            }
            Self::FunctionNotFound => json!({ "code": "NOT_FOUND", "message": message }),
            Self::FunctionIdleTimeout => json!({ "code": "IDLE_TIMEOUT", "message": message }),
            Self::FunctionWorkerLimit => json!({ "code": "WORKER_LIMIT", "message": message }),
            Self::FunctionBootError => json!({ "code": "BOOT_ERROR", "message": message }),
            Self::BadGateway | Self::PayloadTooLarge | Self::NoRoute => {
                json!({ "message": message })
            }
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_the_hosted_ones() {
        assert_eq!(
            GatewayError::MissingApiKey.body(),
            json!({
                "message": "No API key found in request",
                "hint": "No `apikey` request header or url param was found.",
            })
        );
        assert_eq!(
            GatewayError::InvalidJwt.body(),
            json!({ "code": 401, "message": "Invalid JWT" })
        );
        assert_eq!(
            GatewayError::FunctionNotFound.body(),
            json!({ "code": "NOT_FOUND", "message": "Requested function was not found" })
        );
        assert_eq!(GatewayError::FunctionWorkerLimit.status().as_u16(), 546);
    }
}
