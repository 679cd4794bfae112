//! Table-driven checks of every signal in the provider reference's error-class table.
//!
//! Each row goes through the same path as production: bytes and an HTTP status are parsed by
//! the `suno` readers, then classified. A row names the class, the action and the stored code.
//! The tables are kept aligned by hand (`rustfmt::skip`) so they read like the reference.

use music_core::classify::{
    classify_callback, classify_credits, classify_error, classify_task, classify_transport,
};
use music_core::poll::{classify_poll, PollResult};
use music_core::suno::{parse_callback, parse_generate, parse_record_info, Endpoint, RecordInfo};
use music_core::{Action, Class, Classification, ConfigFault, TransportFailure};
use serde_json::{json, Value};

use Action::*;
use Class::{Ambiguous, Anomaly, FatalRequest, Maintenance, NotAFailure, RateLimited, Retryable};
use TransportFailure::{LostAfterSend, NotSent};

const OK: Class = Class::Ok;
const UNAUTHORIZED: Class = Class::FatalConfig(ConfigFault::Unauthorized);
const BAD_ENDPOINT: Class = Class::FatalConfig(ConfigFault::BadEndpoint);
const CALLBACK_URL: Class = Class::FatalConfig(ConfigFault::CallbackUrl);
const NO_CREDITS: Class = Class::FatalConfig(ConfigFault::NoCredits);

/// Envelope `code` and `msg` in an HTTP 200 answer to a generate call.
#[rustfmt::skip]
const BODY_CODES: &[(i64, &str, Class, Action, &str)] = &[
    (400, "Invalid parameters",               FatalRequest, FailWithFallback, "provider_bad_request"),
    (400, "Prompt contains an artist name",   FatalRequest, FailWithFallback, "content_rejected"),
    (401, "Unauthorized access",              UNAUTHORIZED, PauseQueue,       "provider_unauthorized"),
    (404, "Invalid request method or path",   BAD_ENDPOINT, PauseQueue,       "provider_bad_endpoint"),
    (405, "Rate limit exceeded",              RateLimited,  CoolDown,         "provider_rate_limited"),
    (413, "Theme or prompt too long",         FatalRequest, FailWithFallback, "prompt_too_long"),
    (422, "Please enter callBackUrl.",        CALLBACK_URL, PauseQueue,       "provider_callback_url_rejected"),
    (422, "The model is not supported",       FatalRequest, FailWithFallback, "provider_bad_request"),
    (422, "Record does not exist",            Anomaly,      Reread,           "task_not_found"),
    (429, "Insufficient credits",             NO_CREDITS,   PauseQueue,       "provider_no_credits"),
    (429, "Your balance is not enough",       NO_CREDITS,   PauseQueue,       "provider_no_credits"),
    (429, "",                                 NO_CREDITS,   PauseQueue,       "provider_no_credits"),
    (429, "The call frequency is too high",   RateLimited,  CoolDown,         "provider_rate_limited"),
    (429, "Too many requests",                RateLimited,  CoolDown,         "provider_rate_limited"),
    (429, "Rate limit reached",               RateLimited,  CoolDown,         "provider_rate_limited"),
    (430, "Your call frequency is too high.", RateLimited,  CoolDown,         "provider_rate_limited"),
    (455, "System maintenance",               Maintenance,  OpenCircuit,      "provider_maintenance"),
    (500, "Server error",                     Retryable,    RetryWithBackoff, "provider_server_error"),
    (503, "Busy",                             Retryable,    RetryWithBackoff, "provider_server_error"),
    (999, "Something new",                    Retryable,    RetryWithBackoff, "provider_unknown_code"),
];

/// HTTP statuses whose body carries no envelope (HTML pages, plain text, odd JSON).
#[rustfmt::skip]
const HTTP_STATUSES: &[(u16, &str, Class, Action, &str)] = &[
    (200, "not json at all",                         Retryable,    RetryWithBackoff, "provider_bad_response"),
    (200, "",                                        Retryable,    RetryWithBackoff, "provider_bad_response"),
    (200, r#"{"status":"ok"}"#,                      Retryable,    RetryWithBackoff, "provider_bad_response"),
    (200, r#"{"code":200,"data":{}}"#,               Retryable,    RetryWithBackoff, "provider_bad_response"),
    (301, "",                                        BAD_ENDPOINT, PauseQueue,       "provider_bad_endpoint"),
    (400, HTML,                                      FatalRequest, FailWithFallback, "provider_bad_request"),
    (401, HTML,                                      UNAUTHORIZED, PauseQueue,       "provider_unauthorized"),
    (403, "Forbidden",                               UNAUTHORIZED, PauseQueue,       "provider_unauthorized"),
    (404, HTML,                                      BAD_ENDPOINT, PauseQueue,       "provider_bad_endpoint"),
    (408, "",                                        Retryable,    RetryWithBackoff, "provider_unavailable"),
    (413, "",                                        FatalRequest, FailWithFallback, "prompt_too_long"),
    (429, "Too Many Requests",                       RateLimited,  CoolDown,         "provider_rate_limited"),
    (500, HTML,                                      Retryable,    RetryWithBackoff, "provider_unavailable"),
    (502, HTML,                                      Retryable,    RetryWithBackoff, "provider_unavailable"),
    (503, "",                                        Retryable,    RetryWithBackoff, "provider_unavailable"),
    (504, "upstream timed out",                      Retryable,    RetryWithBackoff, "provider_unavailable"),
    (520, "{}",                                      Retryable,    RetryWithBackoff, "provider_unavailable"),
];

const HTML: &str = "<html><head><title>502 Bad Gateway</title></head></html>";

/// Calls that got no answer, per endpoint.
#[rustfmt::skip]
const TRANSPORT: &[(TransportFailure, Endpoint, Class, Action, &str)] = &[
    (NotSent,       Endpoint::Generate,   Retryable, RetryWithBackoff, "provider_unreachable"),
    (NotSent,       Endpoint::Credit,     Retryable, RetryWithBackoff, "provider_unreachable"),
    (LostAfterSend, Endpoint::Generate,   Ambiguous, AwaitCallback,    "submit_outcome_unknown"),
    (LostAfterSend, Endpoint::RecordInfo, Retryable, RetryWithBackoff, "provider_timeout"),
    (LostAfterSend, Endpoint::Credit,     Retryable, RetryWithBackoff, "provider_timeout"),
];

/// Which clips a `record-info` answer carries.
#[derive(Debug, Clone, Copy)]
enum Clips {
    None,
    FirstOnly,
    Both,
}

/// `status`, `errorCode`, `errorMessage` and clips of a task, then the expected class,
/// action and code.
type TaskRow = (
    &'static str,
    Option<i64>,
    &'static str,
    Clips,
    Class,
    Action,
    &'static str,
);

/// Every task status of a `record-info` answer.
#[rustfmt::skip]
const TASK_STATUSES: &[TaskRow] = &[
    ("PENDING",               None,      "",                  Clips::None,      OK,           KeepPolling,      "in_progress"),
    ("TEXT_SUCCESS",          None,      "",                  Clips::None,      OK,           KeepPolling,      "in_progress"),
    ("GENERATING",            None,      "",                  Clips::None,      OK,           KeepPolling,      "in_progress"),
    ("FIRST_SUCCESS",         None,      "",                  Clips::FirstOnly, OK,           KeepPolling,      "first_clip_ready"),
    ("SUCCESS",               None,      "",                  Clips::Both,      OK,           Complete,         "completed"),
    ("SUCCESS",               None,      "",                  Clips::None,      Anomaly,      Reread,           "success_without_audio"),
    ("CREATE_TASK_FAILED",    None,      "create failed",     Clips::None,      Retryable,    RetryWithBackoff, "task_creation_failed"),
    ("GENERATE_AUDIO_FAILED", Some(501), "generation failed", Clips::None,      Retryable,    RetryWithBackoff, "generation_failed"),
    ("GENERATE_AUDIO_FAILED", Some(531), "refunded",          Clips::None,      Retryable,    RetryWithBackoff, "generation_failed"),
    ("GENERATE_AUDIO_FAILED", Some(400), "copyrighted work",  Clips::None,      FatalRequest, FailWithFallback, "content_rejected"),
    ("FAILED",                None,      "",                  Clips::None,      Retryable,    RetryWithBackoff, "generation_failed"),
    ("SENSITIVE_WORD_ERROR",  None,      "sensitive words",   Clips::None,      FatalRequest, FailWithFallback, "content_rejected"),
    ("CALLBACK_EXCEPTION",    None,      "callback failed",   Clips::Both,      NotAFailure,  Complete,         "callback_exception"),
    ("CALLBACK_EXCEPTION",    None,      "callback failed",   Clips::None,      NotAFailure,  KeepPolling,      "callback_exception"),
    ("SOMETHING_NEW",         None,      "",                  Clips::None,      Anomaly,      KeepPolling,      "unknown_task_status"),
];

/// Callback `code`, stage (`callbackType`) and `msg`.
#[rustfmt::skip]
/// A callback's action is always a read; its class and code are for logs.
const CALLBACKS: &[(i64, &str, &str, Class, Action, &str)] = &[
    (200, "text",     "Text generation completed.",   OK,           ReadTaskNow,      "in_progress"),
    (200, "first",    "First track completed.",       OK,           ReadTaskNow,      "first_clip_ready"),
    (200, "complete", "All generated successfully.",  OK,           ReadTaskNow,      "callback_received"),
    (200, "error",    "Generation failed",            Retryable,    ReadTaskNow,      "generation_failed"),
    (400, "error",    "Contains sensitive words",     FatalRequest, ReadTaskNow,      "content_rejected"),
    (413, "error",    "Prompt too long",              FatalRequest, ReadTaskNow,      "prompt_too_long"),
    (455, "error",    "Maintenance",                  Maintenance,  ReadTaskNow,      "provider_maintenance"),
    (500, "error",    "Internal error",               Retryable,    ReadTaskNow,      "generation_failed"),
    (501, "error",    "Audio generation failed",      Retryable,    ReadTaskNow,      "generation_failed"),
    (531, "error",    "Failed, credits refunded",     Retryable,    ReadTaskNow,      "generation_failed"),
    (531, "error",    "Refused: artist name",         FatalRequest, ReadTaskNow,      "content_rejected"),
];

/// Classifies a generate answer exactly as a shell would.
fn generate_outcome(status: u16, body: &[u8]) -> Classification {
    match parse_generate(status, body) {
        Ok(_) => Classification::ok(),
        Err(error) => classify_error(&error),
    }
}

fn assert_row(got: &Classification, class: Class, action: Action, code: &str, row: &str) {
    assert_eq!(
        (got.class, got.action, got.code),
        (class, action, code),
        "row {row}: {got:?}"
    );
}

fn envelope(code: i64, msg: &str) -> Vec<u8> {
    json!({"code": code, "msg": msg, "data": null})
        .to_string()
        .into_bytes()
}

#[test]
fn every_body_code_of_the_reference() {
    let ok = json!({"code": 200, "msg": "success", "data": {"taskId": "0f3c9e2a"}}).to_string();
    assert_row(
        &generate_outcome(200, ok.as_bytes()),
        OK,
        Proceed,
        "ok",
        "200",
    );
    for &(code, msg, class, action, stored) in BODY_CODES {
        let row = format!("{code} {msg:?}");
        let got = generate_outcome(200, &envelope(code, msg));
        assert_row(&got, class, action, stored, &row);
    }
}

#[test]
fn a_body_code_is_read_whatever_the_http_status() {
    let credits = generate_outcome(429, &envelope(429, "credits insufficient"));
    assert_row(
        &credits,
        NO_CREDITS,
        PauseQueue,
        "provider_no_credits",
        "HTTP 429 + credits",
    );
    let maintenance = generate_outcome(503, &envelope(455, "maintenance"));
    assert_row(
        &maintenance,
        Maintenance,
        OpenCircuit,
        "provider_maintenance",
        "HTTP 503 + 455",
    );
}

#[test]
fn every_http_status_without_an_envelope() {
    for &(status, body, class, action, stored) in HTTP_STATUSES {
        let row = format!("HTTP {status} {body:?}");
        let got = generate_outcome(status, body.as_bytes());
        assert_row(&got, class, action, stored, &row);
    }
}

#[test]
fn every_transport_failure() {
    for &(failure, endpoint, class, action, stored) in TRANSPORT {
        let row = format!("{failure:?} on {endpoint:?}");
        assert_row(
            &classify_transport(failure, endpoint),
            class,
            action,
            stored,
            &row,
        );
    }
}

fn record_info(data: Value) -> RecordInfo {
    let body = json!({"code": 200, "msg": "success", "data": data}).to_string();
    parse_record_info(200, body.as_bytes()).expect("a well-formed record-info answer")
}

fn clips_json(clips: Clips) -> Value {
    let a = json!({"id": "a", "audioUrl": "https://cdn/a.mp3", "streamAudioUrl": "https://s/a"});
    let b_ready =
        json!({"id": "b", "audioUrl": "https://cdn/b.mp3", "streamAudioUrl": "https://s/b"});
    let b_pending = json!({"id": "b", "audioUrl": "", "streamAudioUrl": "https://s/b"});
    match clips {
        Clips::None => json!([]),
        Clips::FirstOnly => json!([a, b_pending]),
        Clips::Both => json!([a, b_ready]),
    }
}

#[test]
fn every_task_status_of_the_reference() {
    for &(status, error_code, message, clips, class, action, stored) in TASK_STATUSES {
        let answer = record_info(json!({
            "taskId": "0f3c9e2a", "status": status, "type": "GENERATE", "param": "{}",
            "errorCode": error_code,
            "errorMessage": if message.is_empty() { Value::Null } else { json!(message) },
            "response": {"taskId": "0f3c9e2a", "sunoData": clips_json(clips)},
        }));
        let RecordInfo::Task(info) = answer else {
            panic!("{status}: expected a task");
        };
        let row = format!("{status} errorCode={error_code:?} clips={clips:?}");
        assert_row(&classify_task(&info), class, action, stored, &row);
    }
}

#[test]
fn null_data_means_not_found_or_not_visible_yet() {
    let result = PollResult::Answer(record_info(Value::Null));
    assert_row(
        &classify_poll(&result),
        Anomaly,
        Reread,
        "task_not_found",
        "data: null",
    );
}

#[test]
fn every_callback_stage_and_code() {
    let clips = json!([{"id": "a", "audio_url": "https://cdn/a.mp3"}]);
    for &(code, stage, msg, class, action, stored) in CALLBACKS {
        let body = json!({"code": code, "msg": msg,
            "data": {"callbackType": stage, "task_id": "0f3c9e2a", "data": clips}});
        let callback = parse_callback(body.to_string().as_bytes()).expect("a callback");
        let row = format!("callback {code} {stage}");
        assert_row(&classify_callback(&callback), class, action, stored, &row);
    }
}

#[test]
fn credit_balance_against_the_cost_of_a_task() {
    let enough = classify_credits(500.0, 12.0);
    assert_row(&enough, OK, Proceed, "ok", "enough credits");
    let low = classify_credits(11.5, 12.0);
    assert_row(&low, NO_CREDITS, PauseQueue, "provider_no_credits", "low");
}

#[test]
fn attempts_are_spent_only_by_retries_and_resubmits() {
    let all = [
        Proceed,
        Complete,
        KeepPolling,
        ReadTaskNow,
        RetryWithBackoff,
        AwaitCallback,
        CoolDown,
        OpenCircuit,
        PauseQueue,
        FailWithFallback,
        Reread,
        ResubmitOnce,
    ];
    let spending: Vec<Action> = all.into_iter().filter(|a| a.counts_attempt()).collect();
    assert_eq!(spending, vec![RetryWithBackoff, ResubmitOnce]);
}
