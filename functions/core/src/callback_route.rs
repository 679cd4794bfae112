//! The worker's `/callback` route: what it checks, in which order, and what it answers.
//!
//! The provider calls `POST /functions/v1/music-queue-worker/callback?request_id=…&token=…`
//! (the URL from [`crate::suno::callback_url`]). A callback is a wake-up, never the truth
//! (see [`crate::suno::callback`]), so the route only ever attaches a task id or makes a
//! poll due; the next run reads `record-info` and decides.
//!
//! The route, for a shell:
//!
//! 1. [`parse_callback_query`] the query: a missing or malformed `request_id` (a uuid) or
//!    `token` is a 400 naming the field.
//! 2. Parse the body with [`crate::suno::parse_callback`]; a body that cannot be read still
//!    wakes the request (the read that follows is what counts), it only names no task.
//! 3. When the body names a task, `attach_music_task(p_request_id, p_callback_token,
//!    p_suno_task_id)`: a request whose submit answer was lost learns its task.
//! 4. Unless that attached a row, `wake_music_request(p_request_id, p_callback_token)`: a
//!    submitted request is due for a read now.
//! 5. When neither changed a row, `music_callback_is_late(p_request_id, p_callback_token)`:
//!    is the token the request's own, and the request finished?
//! 6. [`answer_callback`] with the number of rows each call returned and that answer: one of
//!    them changed a row → 200; neither did but the request is finished → 200, a late or
//!    duplicate callback, ignored so the provider stops resending it; otherwise 401: the
//!    token is wrong, or the callback overtook the worker (the task id is not stored yet)
//!    and the provider's retry will find it. The SQL does not say which, so a stranger
//!    learns nothing of which ids exist.
//!
//! Both SQL functions compare the token in constant time; PostgREST or network trouble is a
//! 503 like everywhere else ([`ApiError::from_postgrest`]), so the provider retries.

use serde::Serialize;

use crate::error::ApiError;
use crate::request_id::is_uuid;

/// The callback URL's query, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackQuery {
    /// The request, a uuid in lower case.
    pub request_id: String,
    /// The request's callback token, as given (the SQL compares it).
    pub token: String,
}

/// What the route did, for the 200 answer and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackEffect {
    /// The task id was attached to a request whose submit answer was lost.
    Attached,
    /// The request is due for a read now.
    Woken,
    /// The request is finished (the token is its own): a late callback, nothing changed.
    Ignored,
}

/// Reads `request_id` and `token` from a raw query string (without the `?`).
pub fn parse_callback_query(query: &str) -> Result<CallbackQuery, ApiError> {
    let value = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| percent_decode(value))
            .filter(|value| !value.is_empty())
    };
    let request_id = value("request_id")
        .filter(|id| is_uuid(id))
        .ok_or_else(|| bad("request_id", "request_id must be a request's uuid"))?;
    // A control character is no token's, and a NUL would not even reach the SQL: Postgres
    // text cannot hold one.
    let token = value("token")
        .filter(|token| token.len() <= 256 && !token.chars().any(char::is_control))
        .ok_or_else(|| bad("token", "token is required: the request's callback token"))?;
    Ok(CallbackQuery {
        request_id: request_id.to_ascii_lowercase(),
        token,
    })
}

/// The answer from the rows `attach_music_task` and `wake_music_request` returned (0 for a
/// call not made) and what `music_callback_is_late` said (`false` when not asked).
pub fn answer_callback(
    attached: usize,
    woken: usize,
    late: bool,
) -> Result<CallbackEffect, ApiError> {
    if attached > 0 {
        Ok(CallbackEffect::Attached)
    } else if woken > 0 {
        Ok(CallbackEffect::Woken)
    } else if late {
        Ok(CallbackEffect::Ignored)
    } else {
        Err(ApiError::Unauthorized(
            "the callback token does not match a request waiting for the provider".into(),
        ))
    }
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadInput {
        code: "invalid_callback",
        field: Some(field.to_owned()),
        message: message.to_owned(),
    }
}

/// `%XX` and `+` decoding of one query value; `None` when it is not valid UTF-8 or a `%` is
/// not followed by two hex digits.
fn percent_decode(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            _ => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6f3c1e-8a3d-4c55-9d2e-1f7a2b3c4d5e";

    fn field_of(error: ApiError) -> Option<String> {
        match error {
            ApiError::BadInput { field, .. } => field,
            other => panic!("not a bad input: {other:?}"),
        }
    }

    #[test]
    fn reads_the_request_and_the_token_in_any_order() {
        let query =
            parse_callback_query(&format!("token=ab%2Fcd&request_id={}", ID.to_uppercase()))
                .unwrap();
        assert_eq!(
            query,
            CallbackQuery {
                request_id: ID.into(),
                token: "ab/cd".into()
            }
        );
    }

    #[test]
    fn a_missing_or_malformed_field_is_named() {
        let cases = [
            ("token=t", "request_id"),
            ("request_id=42&token=t", "request_id"),
            (&format!("request_id={ID}x&token=t") as &str, "request_id"),
            (&format!("request_id={ID}") as &str, "token"),
            (&format!("request_id={ID}&token=") as &str, "token"),
            (&format!("request_id={ID}&token=%zz") as &str, "token"),
            (&format!("request_id={ID}&token=a%00b") as &str, "token"),
            (&format!("request_id={ID}&token=a%0Ab") as &str, "token"),
            ("", "request_id"),
        ];
        for (query, field) in cases {
            let error = parse_callback_query(query).unwrap_err();
            assert_eq!(error.status(), 400, "{query}");
            assert_eq!(field_of(error).as_deref(), Some(field), "{query}");
        }
    }

    #[test]
    fn an_attach_or_a_wake_is_a_success_and_neither_is_a_bad_token() {
        assert_eq!(answer_callback(1, 0, false), Ok(CallbackEffect::Attached));
        assert_eq!(answer_callback(0, 1, false), Ok(CallbackEffect::Woken));
        assert_eq!(answer_callback(0, 0, false).unwrap_err().status(), 401);
    }

    #[test]
    fn a_late_callback_for_a_finished_request_is_ignored_not_refused() {
        assert_eq!(answer_callback(0, 0, true), Ok(CallbackEffect::Ignored));
        assert_eq!(answer_callback(0, 1, true), Ok(CallbackEffect::Woken));
    }
}
