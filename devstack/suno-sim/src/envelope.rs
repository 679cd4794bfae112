//! The `{"code","msg","data"}` envelope every API answer uses, sent with HTTP 200 as
//! sunoapi.org does even for errors. The body code is also attached to the response as an
//! extension so the request log can record it without re-parsing the body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The body code of an enveloped answer.
#[derive(Debug, Clone, Copy)]
pub struct BodyCode(pub u16);

pub fn envelope(code: u16, msg: &str, data: Value) -> Response {
    let mut resp = (
        StatusCode::OK,
        Json(json!({"code": code, "msg": msg, "data": data})),
    )
        .into_response();
    resp.extensions_mut().insert(BodyCode(code));
    resp
}

pub fn ok(data: Value) -> Response {
    envelope(200, "success", data)
}

pub fn error(code: u16, msg: &str) -> Response {
    envelope(code, msg, Value::Null)
}

pub const MSG_UNAUTHORIZED: &str = "Unauthorized: the API key is missing or invalid.";
pub const MSG_NOT_FOUND: &str = "The requested path does not exist.";
pub const MSG_FREQUENCY: &str = "Your call frequency is too high. Please try again later.";
pub const MSG_CREDITS: &str = "The current credits are insufficient. Please top up.";

/// A default message for a body code injected by a fault.
pub fn default_msg(code: u16) -> &'static str {
    match code {
        400 => "Invalid parameters.",
        401 => MSG_UNAUTHORIZED,
        404 => MSG_NOT_FOUND,
        405 => "Rate limited. Please try again later.",
        413 => "The prompt or style is too long.",
        422 => "Record does not exist.",
        429 => MSG_CREDITS,
        430 => MSG_FREQUENCY,
        455 => "The system is under maintenance. Please try again later.",
        500 => "Server error. Please try again later.",
        _ => "Simulated error.",
    }
}
