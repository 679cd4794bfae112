//! `music-core` against `suno-sim`, over real HTTP, from the host.
//!
//! Each test serves its own simulator (clock frozen, moved with `advance`), sends the
//! requests the core builds through a minimal shell (`stack_tests::suno::Shell`), and checks
//! that the core reads every answer, fault, outcome and callback of the simulator as
//! `reference/suno-api.md` says. The simulator's request log proves what was sent and
//! charged.

use std::time::Duration;

use music_core::classify::{classify_callback, classify_credits};
use music_core::plan::decide_submit;
use music_core::poll::ANOMALY_REREADS;
use music_core::poll::{classify_poll, decide_poll, PollDecision, PollResult, SubmittedTask};
use music_core::suno::{
    parse_callback, Callback, CallbackStage, HttpRequest, RecordInfo, SunoApi, TaskInfo, TaskStatus,
};
use music_core::Action as A;
use music_core::Class as C;
use music_core::{
    parse_request, prompt, ClaimedRequest, Classification, ConfigFault, Emotion, Model,
    ProviderStatus, RequestDecision,
};
use serde_json::{json, Value};
use stack_tests::listener::{Answer, Listener};
use stack_tests::suno::{Shell, Sim, KEY, KEY_AS_LOGGED};

/// Nothing listens here: callbacks of tests that do not look at them fail quietly.
const NO_CALLBACK: &str = "http://127.0.0.1:9/music-callback";

/// A short client timeout, for faults that hold the answer back.
const SHORT: Duration = Duration::from_millis(400);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The core's generate request for a request body, on the configured model.
fn generate(sim: &Sim, body: &str, callback_url: &str) -> HttpRequest {
    let request = parse_request(body.as_bytes()).expect("a valid request");
    let params = prompt::build(&request, sim.config().suno_model);
    sim.api().generate(&params, callback_url)
}

/// The core's generate request for a calm, instrumental (custom mode) request.
fn calm(sim: &Sim) -> HttpRequest {
    generate(sim, r#"{"emotion":"calm","intensity":0.2}"#, NO_CALLBACK)
}

/// The JSON body of a built request.
fn body_of(request: &HttpRequest) -> Value {
    serde_json::from_str(request.body.as_deref().expect("a body")).expect("JSON")
}

/// `request` with its JSON body changed by `change`: for what the core never builds.
fn with_body(mut request: HttpRequest, change: impl FnOnce(&mut Value)) -> HttpRequest {
    let mut body = body_of(&request);
    change(&mut body);
    request.body = Some(body.to_string());
    request
}

/// A callback URL on `listener` carrying a request id and a per-request secret.
fn callback_url(listener: &Listener) -> String {
    format!("{}/music-callback?r=req-7&s=secret", listener.url())
}

/// What the queue knows about a task submitted at `at_ms` on its first attempt.
fn submitted(at_ms: i64) -> SubmittedTask {
    SubmittedTask {
        attempts: 1,
        max_attempts: 3,
        submitted_at_ms: at_ms,
        rereads: 0,
        resubmitted_when_stuck: false,
    }
}

/// Submits `request`: the task id and what the queue records.
async fn submit(sim: &Sim, shell: &Shell, request: &HttpRequest) -> (String, SubmittedTask) {
    let task_id = shell.submit(request).await.expect("the submit is accepted");
    (task_id, submitted(sim.now_ms().await))
}

/// Queues `outcome` and submits the calm request.
async fn submit_with_outcome(sim: &Sim, shell: &Shell, outcome: &str) -> (String, SubmittedTask) {
    sim.outcome(outcome).await;
    submit(sim, shell, &calm(sim)).await
}

/// One read of the task and the core's decision, at the simulator's time.
async fn poll(
    sim: &Sim,
    shell: &Shell,
    task_id: &str,
    task: &SubmittedTask,
) -> (PollResult, PollDecision) {
    let result = shell.read_task(&sim.api().record_info(task_id)).await;
    let decision = decide_poll(task, &result, sim.now_ms().await, 0, &sim.config());
    (result, decision)
}

/// A decision as `(kind, code)`, or `("progress", status)`, for one-line assertions.
fn summary(decision: &PollDecision) -> (&'static str, &str) {
    match decision {
        PollDecision::Complete { .. } => ("complete", ""),
        PollDecision::Progress { status, .. } => ("progress", status.as_str()),
        PollDecision::Retry { code, .. } => ("retry", code),
        PollDecision::Resubmit { code, .. } => ("resubmit", code),
        PollDecision::Reread { code, .. } => ("reread", code),
        PollDecision::Fail { code, .. } => ("fail", code),
        PollDecision::Hold { code, .. } => ("hold", code),
    }
}

fn task_info(result: &PollResult) -> &TaskInfo {
    match result {
        PollResult::Answer(RecordInfo::Task(task)) => task,
        other => panic!("expected a task, got {other:?}"),
    }
}

/// Starts a simulator with fault `rule` and submits the calm request: what the core makes
/// of the failure.
async fn submit_under(rule: Value) -> Classification {
    let sim = Sim::start().await;
    sim.fault(rule).await;
    let answer = Shell::new().submit(&calm(&sim)).await;
    answer.expect_err("the submit fails")
}

fn assert_class(c: &Classification, class: C, action: A, code: &str) {
    assert_eq!((c.class, c.action, c.code), (class, action, code), "{c:?}");
}

/// The reference: rate limits, maintenance and configuration faults use no attempt.
fn assert_no_attempt_used(c: &Classification) {
    assert!(!c.action.counts_attempt(), "{c:?}");
}

/// Waits for a callback of `stage` on `listener` and parses it with the core.
async fn callback_of(listener: &Listener, stage: &str) -> Callback {
    let needle = format!("\"callbackType\":\"{stage}\"");
    let received = listener
        .wait_for(Duration::from_secs(5), |r| r.body.contains(&needle))
        .await
        .unwrap_or_else(|| panic!("no {stage} callback"));
    assert_eq!(received.method, "POST");
    assert!(
        received.target.ends_with("?r=req-7&s=secret"),
        "{}",
        received.target
    );
    parse_callback(received.body.as_bytes()).expect("the core parses the callback")
}

// ---------------------------------------------------------------------------------------
// A task's life
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_task_goes_pending_text_first_success_with_two_downloadable_clips() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let body = r#"{"emotion":"calm","intensity":0.2,"context":"after a long day"}"#;
    let (task_id, task) = submit(&sim, &shell, &generate(&sim, body, NO_CALLBACK)).await;
    assert_eq!(task_id.len(), 32);
    assert!(task_id.bytes().all(|b| b.is_ascii_hexdigit()), "{task_id}");

    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(
        task_info(&result).task_id.as_deref(),
        Some(task_id.as_str())
    );
    assert_eq!(summary(&decision), ("progress", "PENDING"));
    assert!(task_info(&result).clips.is_empty());

    sim.advance(30.0).await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("progress", "TEXT_SUCCESS"));
    let PollDecision::Progress {
        clips,
        next_poll_at_ms,
        ..
    } = decision
    else {
        unreachable!()
    };
    assert_eq!(clips.len(), 2);
    assert!(clips
        .iter()
        .all(|c| !c.is_ready() && c.stream_audio_url.is_some()));
    let poll_interval_ms = sim.config().poll_interval_ms as i64;
    assert_eq!(next_poll_at_ms, sim.now_ms().await + poll_interval_ms);

    // FIRST_SUCCESS: the second clip has no audio yet; progress, not completion.
    sim.advance(10.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("progress", "FIRST_SUCCESS"));
    let PollDecision::Progress { clips, .. } = decision else {
        unreachable!()
    };
    assert_eq!(clips.len(), 2);
    assert!(clips[0].is_ready() && !clips[1].is_ready());
    assert_eq!(task_info(&result).ready_clips().len(), 1);

    sim.advance(80.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).status, TaskStatus::Success);
    assert_class(&classify_poll(&result), C::Ok, A::Complete, "completed");
    let PollDecision::Complete { clips } = decision else {
        panic!("expected completion, got {decision:?}");
    };
    assert_eq!(clips.len(), 2);
    assert_ne!(clips[0].id, clips[1].id);
    for clip in &clips {
        assert!(clip.duration.is_some_and(|d| d > 0.0), "{clip:?}");
        assert!(clip.created_at_ms.is_some(), "{clip:?}");
        let url = clip.audio_url.as_deref().expect("audio");
        let audio = reqwest::get(url).await.expect("the audio URL answers");
        assert_eq!(audio.status(), 200, "{url}");
        assert_eq!(audio.headers()["content-type"], "audio/mpeg");
        assert!(audio.bytes().await.unwrap().starts_with(b"ID3"), "{url}");
    }
}

#[tokio::test]
async fn the_submit_is_sent_once_as_built_with_the_bearer_key() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let request = calm(&sim);
    let (task_id, task) = submit(&sim, &shell, &request).await;
    poll(&sim, &shell, &task_id, &task).await;

    let log = sim.requests("generate").await;
    assert_eq!(log.len(), 1, "exactly one generate per submit: {log:?}");
    let sent = &log[0];
    assert_eq!(sent["headers"]["authorization"], KEY_AS_LOGGED);
    assert_eq!(sent["headers"]["content-type"], "application/json");
    assert_eq!(sent["body"], body_of(&request));
    assert_eq!(sent["code"], 200);
    assert_eq!(sent["task_id"], task_id.as_str());
    assert_eq!(sent["credits_charged"], 12);

    // The task keeps the request as the provider got it (`param`, a JSON string).
    let tasks = sim.tasks().await;
    let param = tasks[0]["record"]["param"].as_str().expect("param");
    assert_eq!(
        serde_json::from_str::<Value>(param).unwrap(),
        body_of(&request)
    );
    let reads = sim.requests("record_info").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["headers"]["authorization"], KEY_AS_LOGGED);
    assert_eq!(reads[0]["query"], format!("taskId={task_id}"));
}

#[tokio::test]
async fn the_credit_probe_reads_the_balance_which_drops_by_the_cost_per_task() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let cost = f64::from(sim.config().suno_credits_per_task);
    let before = shell.credit(&sim.api().credit()).await.expect("a balance");
    assert_eq!(before, 1000.0);
    assert!(classify_credits(before, cost).is_ok());

    submit(&sim, &shell, &calm(&sim)).await;
    submit(&sim, &shell, &calm(&sim)).await;
    let after = shell.credit(&sim.api().credit()).await.expect("a balance");
    assert_eq!(after, before - 2.0 * cost);
}

#[tokio::test]
async fn every_request_the_core_builds_is_accepted_for_every_model() {
    let sim = Sim::start().await;
    let unlimited = json!({"max_requests": 0});
    let patch =
        json!({"credits": 1_000_000, "rate_limit": unlimited, "callbacks": {"enabled": false}});
    sim.settings(patch).await;
    let shell = Shell::new();
    // The longest user input allowed, with characters that take two UTF-16 units.
    let context: String = "🌧️ rain on the window "
        .repeat(25)
        .chars()
        .take(500)
        .collect();
    let long = json!({"context": context, "style": "s".repeat(200), "title": "🎵".repeat(80)});
    let mut sent = 0;
    for emotion in Emotion::ALL {
        for intensity in [0.1, 0.5, 0.9] {
            for instrumental in [true, false] {
                for extra in [json!({}), long.clone()] {
                    let mut body = json!({"emotion": emotion.as_str(), "intensity": intensity,
                                          "instrumental": instrumental});
                    let fields = extra.as_object().unwrap().clone();
                    body.as_object_mut().unwrap().extend(fields);
                    let request = parse_request(body.to_string().as_bytes()).unwrap();
                    for model in Model::ALL {
                        let params = prompt::build(&request, model);
                        let answer = shell
                            .submit(&sim.api().generate(&params, NO_CALLBACK))
                            .await;
                        assert!(answer.is_ok(), "{model} {body}: {answer:?}");
                        sent += 1;
                    }
                }
            }
        }
    }
    assert_eq!(sim.tasks().await.len(), sent);
}

// ---------------------------------------------------------------------------------------
// Body codes, as the simulator produces them
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_key_is_fatal_config_unauthorized_on_every_endpoint() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let api = sim.config_with_key("wrong-key").suno_api().unwrap();
    let params = prompt::build(
        &parse_request(br#"{"emotion":"joy"}"#).unwrap(),
        Model::V4_5,
    );
    let unauthorized = C::FatalConfig(ConfigFault::Unauthorized);

    let c = shell
        .submit(&api.generate(&params, NO_CALLBACK))
        .await
        .unwrap_err();
    assert_class(&c, unauthorized, A::PauseQueue, "provider_unauthorized");
    assert_no_attempt_used(&c);
    let c = shell.credit(&api.credit()).await.unwrap_err();
    assert_eq!(c.class, unauthorized);
    let read = shell.read_task(&api.record_info(&"0".repeat(32))).await;
    assert_eq!(classify_poll(&read).class, unauthorized);

    let log = sim.requests("generate").await;
    assert_eq!(log[0]["headers"]["authorization"], "Bearer wron***");
    assert_eq!(log[0]["code"], 401);
    assert!(sim.tasks().await.is_empty());
}

#[tokio::test]
async fn a_missing_callback_url_is_fatal_config() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let rejected = C::FatalConfig(ConfigFault::CallbackUrl);

    // The core sends whatever URL it is given, even an empty one.
    let empty = generate(&sim, r#"{"emotion":"sad"}"#, "");
    assert_eq!(body_of(&empty)["callBackUrl"], "");
    let c = shell.submit(&empty).await.unwrap_err();
    assert_class(
        &c,
        rejected,
        A::PauseQueue,
        "provider_callback_url_rejected",
    );

    let absent = with_body(calm(&sim), |body| {
        body.as_object_mut().unwrap().remove("callBackUrl");
    });
    assert_eq!(shell.submit(&absent).await.unwrap_err().class, rejected);
    let log = sim.requests("generate").await;
    assert!(log.iter().all(|r| r["code"] == 422), "{log:?}");
    assert!(sim.tasks().await.is_empty());
}

#[tokio::test]
async fn a_text_over_the_model_limit_is_fatal_request() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    // The core never builds one (see the test above), so lengthen each field by hand.
    let custom = calm(&sim);
    assert_eq!(body_of(&custom)["model"], "V4_5");
    for (field, len) in [("prompt", 5001), ("style", 1001), ("title", 101)] {
        let request = with_body(custom.clone(), |body| body[field] = json!("x".repeat(len)));
        let c = shell.submit(&request).await.unwrap_err();
        assert_class(&c, C::FatalRequest, A::FailWithFallback, "prompt_too_long");
    }
    let vocals = generate(
        &sim,
        r#"{"emotion":"joy","instrumental":false}"#,
        NO_CALLBACK,
    );
    assert_eq!(body_of(&vocals)["customMode"], false);
    let request = with_body(vocals, |body| body["prompt"] = json!("x".repeat(501)));
    assert_eq!(
        shell.submit(&request).await.unwrap_err().class,
        C::FatalRequest
    );

    let log = sim.requests("generate").await;
    assert!(log.iter().all(|r| r["code"] == 413), "{log:?}");
    assert!(sim.tasks().await.is_empty());
}

#[tokio::test]
async fn a_sensitive_word_refused_at_submit_is_fatal_request_and_not_charged() {
    let sim = Sim::start().await;
    sim.settings(json!({"banned_words": ["ocean"]})).await;
    let shell = Shell::new();
    let body = r#"{"emotion":"calm","context":"waves of the ocean at night"}"#;
    let c = shell
        .submit(&generate(&sim, body, NO_CALLBACK))
        .await
        .unwrap_err();
    assert_class(&c, C::FatalRequest, A::FailWithFallback, "content_rejected");
    assert_eq!(sim.requests("generate").await[0]["code"], 400);
    assert_eq!(shell.credit(&sim.api().credit()).await, Ok(1000.0));
}

#[tokio::test]
async fn insufficient_credits_are_fatal_config_credits_at_the_probe_and_the_submit() {
    let sim = Sim::start().await;
    sim.settings(json!({"credits": 5})).await;
    let shell = Shell::new();
    let no_credits = C::FatalConfig(ConfigFault::NoCredits);

    let balance = shell.credit(&sim.api().credit()).await.expect("a balance");
    let cost = f64::from(sim.config().suno_credits_per_task);
    let probe = classify_credits(balance, cost);
    assert_class(&probe, no_credits, A::PauseQueue, "provider_no_credits");

    let c = shell.submit(&calm(&sim)).await.unwrap_err();
    assert_class(&c, no_credits, A::PauseQueue, "provider_no_credits");
    assert_no_attempt_used(&c);
    assert_eq!(sim.requests("generate").await[0]["code"], 429);
    assert!(sim.tasks().await.is_empty());
}

#[tokio::test]
async fn a_body_429_means_credits_unless_it_speaks_of_frequency() {
    let credits = submit_under(json!({"kind": "body_code", "code": 429})).await;
    assert_eq!(credits.class, C::FatalConfig(ConfigFault::NoCredits));
    // kie.ai's meaning of the same code.
    let msg = "Your call frequency is too high. Please try again later.";
    let frequency = submit_under(json!({"kind": "body_code", "code": 429, "msg": msg})).await;
    assert_class(
        &frequency,
        C::RateLimited,
        A::CoolDown,
        "provider_rate_limited",
    );
}

#[tokio::test]
async fn the_21st_submit_within_ten_seconds_is_rate_limited() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let request = calm(&sim);
    for n in 1..=20 {
        assert!(shell.submit(&request).await.is_ok(), "submit {n}");
    }
    let c = shell.submit(&request).await.unwrap_err();
    assert_class(&c, C::RateLimited, A::CoolDown, "provider_rate_limited");
    assert_no_attempt_used(&c);
    assert_eq!(sim.requests("generate").await[20]["code"], 430);
    assert_eq!(sim.tasks().await.len(), 20);
}

#[tokio::test]
async fn maintenance_455_opens_the_circuit_and_a_read_holds() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit(&sim, &shell, &calm(&sim)).await;
    sim.fault(json!({"kind": "body_code", "code": 455})).await;

    let c = shell.submit(&calm(&sim)).await.unwrap_err();
    assert_class(&c, C::Maintenance, A::OpenCircuit, "provider_maintenance");
    assert_no_attempt_used(&c);
    let probe = shell.credit(&sim.api().credit()).await.unwrap_err();
    assert_eq!(probe.class, C::Maintenance);
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("hold", "provider_maintenance"));
}

#[tokio::test]
async fn a_body_500_is_retryable() {
    let c = submit_under(json!({"kind": "body_code", "code": 500})).await;
    assert_class(
        &c,
        C::Retryable,
        A::RetryWithBackoff,
        "provider_server_error",
    );
    assert!(c.action.counts_attempt());
}

#[tokio::test]
async fn a_body_405_is_rate_limited() {
    let c = submit_under(json!({"kind": "body_code", "code": 405})).await;
    assert_class(&c, C::RateLimited, A::CoolDown, "provider_rate_limited");
}

#[tokio::test]
async fn a_wrong_path_404_is_fatal_config() {
    let sim = Sim::start().await;
    let api = SunoApi::new(&format!("{}/v2", sim.base), KEY);
    let c = Shell::new().credit(&api.credit()).await.unwrap_err();
    let bad_endpoint = C::FatalConfig(ConfigFault::BadEndpoint);
    assert_class(&c, bad_endpoint, A::PauseQueue, "provider_bad_endpoint");
    assert_eq!(sim.requests("other").await[0]["code"], 404);
}

#[tokio::test]
async fn an_unknown_task_reads_as_data_null_an_anomaly_reread_then_lost() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let task = submitted(sim.now_ms().await);
    let unknown = "0123456789abcdef0123456789abcdef";

    let (result, decision) = poll(&sim, &shell, unknown, &task).await;
    assert_eq!(result, PollResult::Answer(RecordInfo::Missing));
    assert_class(
        &classify_poll(&result),
        C::Anomaly,
        A::Reread,
        "task_not_found",
    );
    assert_eq!(summary(&decision), ("reread", "task_not_found"));

    let tired = SubmittedTask {
        rereads: ANOMALY_REREADS,
        ..task
    };
    let (_, decision) = poll(&sim, &shell, unknown, &tired).await;
    assert_eq!(summary(&decision), ("fail", "task_lost"));
}

/// The reference lists 422 "Record does not exist" as seen, and "422 other" as
/// fatal-request; the core reads it as the task not being found (an anomaly). On a read
/// both end the same way: re-read, then lost.
#[tokio::test]
async fn a_record_does_not_exist_422_on_a_read_is_reread() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit(&sim, &shell, &calm(&sim)).await;
    let rule = json!({"kind": "body_code", "code": 422, "endpoint": "record_info", "count": 1});
    sim.fault(rule).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(classify_poll(&result).class, C::Anomaly);
    assert_eq!(summary(&decision), ("reread", "task_not_found"));
}

// ---------------------------------------------------------------------------------------
// Per-task outcomes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_sensitive_word_task_fails_the_request_at_once() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "sensitive_word").await;
    sim.advance(10.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).status, TaskStatus::SensitiveWordError);
    assert_class(
        &classify_poll(&result),
        C::FatalRequest,
        A::FailWithFallback,
        "content_rejected",
    );
    assert_eq!(summary(&decision), ("fail", "content_rejected"));
}

#[tokio::test]
async fn a_failed_audio_501_is_retried_within_the_attempts() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "audio_failed_501").await;
    sim.advance(30.0).await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("progress", "TEXT_SUCCESS"));

    sim.advance(10.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    let info = task_info(&result);
    assert_eq!(
        (&info.status, info.error_code),
        (&TaskStatus::GenerateAudioFailed, Some(501))
    );
    assert_class(
        &classify_poll(&result),
        C::Retryable,
        A::RetryWithBackoff,
        "generation_failed",
    );
    assert_eq!(summary(&decision), ("retry", "generation_failed"));

    let last = SubmittedTask {
        attempts: 3,
        ..task
    };
    let (_, decision) = poll(&sim, &shell, &task_id, &last).await;
    assert_eq!(summary(&decision), ("fail", "generation_failed"));
}

#[tokio::test]
async fn a_failed_audio_531_is_retried_and_its_credits_come_back() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "audio_failed_531").await;
    assert_eq!(shell.credit(&sim.api().credit()).await, Ok(988.0));
    sim.advance(40.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).error_code, Some(531));
    assert_eq!(summary(&decision), ("retry", "generation_failed"));
    assert_eq!(shell.credit(&sim.api().credit()).await, Ok(1000.0));
}

#[tokio::test]
async fn a_failed_task_creation_is_retried() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "create_task_failed").await;
    sim.advance(10.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).status, TaskStatus::CreateTaskFailed);
    assert_eq!(classify_poll(&result).class, C::Retryable);
    assert_eq!(summary(&decision), ("retry", "task_creation_failed"));
}

#[tokio::test]
async fn a_callback_exception_is_not_a_failure_and_its_audio_is_used() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "callback_exception").await;
    sim.advance(120.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).status, TaskStatus::CallbackException);
    assert_class(
        &classify_poll(&result),
        C::NotAFailure,
        A::Complete,
        "callback_exception",
    );
    let PollDecision::Complete { clips } = decision else {
        panic!("expected completion, got {decision:?}");
    };
    assert_eq!(clips.len(), 2);
}

#[tokio::test]
async fn a_stuck_task_is_resubmitted_once_after_the_stuck_timeout() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let stuck_after_secs = sim.config().stuck_after_ms as f64 / 1000.0;
    let (task_id, task) = submit_with_outcome(&sim, &shell, "stuck").await;

    sim.advance(stuck_after_secs - 1.0).await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("progress", "PENDING"));

    sim.advance(1.0).await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("resubmit", "task_stuck"));
    let again = SubmittedTask {
        resubmitted_when_stuck: true,
        ..task
    };
    let (_, decision) = poll(&sim, &shell, &task_id, &again).await;
    assert_eq!(summary(&decision), ("fail", "task_stuck"));
}

#[tokio::test]
async fn a_task_stuck_at_text_chosen_by_a_prompt_marker_is_stuck_too() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    // The marker travels in the listener's context, through the core's prompt.
    let body = r#"{"emotion":"sad","context":"[sim:stuck_text]"}"#;
    let (task_id, task) = submit(&sim, &shell, &generate(&sim, body, NO_CALLBACK)).await;
    sim.advance(sim.config().stuck_after_ms as f64 / 1000.0)
        .await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).status, TaskStatus::TextSuccess);
    assert_eq!(summary(&decision), ("resubmit", "task_stuck"));
}

#[tokio::test]
async fn success_without_data_is_an_anomaly_reread_then_lost() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "success_without_data").await;
    sim.advance(120.0).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(task_info(&result).status, TaskStatus::Success);
    assert_class(
        &classify_poll(&result),
        C::Anomaly,
        A::Reread,
        "success_without_audio",
    );
    assert_eq!(summary(&decision), ("reread", "success_without_audio"));

    let tired = SubmittedTask {
        rereads: ANOMALY_REREADS,
        ..task
    };
    let (_, decision) = poll(&sim, &shell, &task_id, &tired).await;
    assert_eq!(summary(&decision), ("fail", "task_lost"));
}

#[tokio::test]
async fn a_task_visible_late_reads_as_missing_first_then_is_found() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit_with_outcome(&sim, &shell, "late_visibility").await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(result, PollResult::Answer(RecordInfo::Missing));
    assert_eq!(summary(&decision), ("reread", "task_not_found"));

    sim.advance(20.0).await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("progress", "PENDING"));
    sim.advance(100.0).await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("complete", ""));
}

// ---------------------------------------------------------------------------------------
// Transport faults
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_html_5xx_is_retryable_and_a_failed_read_holds() {
    let c = submit_under(json!({"kind": "http_error", "status": 502})).await;
    assert_class(
        &c,
        C::Retryable,
        A::RetryWithBackoff,
        "provider_unavailable",
    );

    let sim = Sim::start().await;
    let shell = Shell::new();
    let (task_id, task) = submit(&sim, &shell, &calm(&sim)).await;
    let rule = json!({"kind": "http_error", "status": 503, "endpoint": "record_info"});
    sim.fault(rule).await;
    let (result, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(classify_poll(&result).class, C::Retryable);
    assert_eq!(summary(&decision), ("hold", "provider_unavailable"));
    assert_eq!(
        sim.requests("generate").await.len(),
        1,
        "a failed read never resubmits"
    );
}

#[tokio::test]
async fn an_html_401_or_403_is_fatal_config_unauthorized() {
    for status in [401, 403] {
        let c = submit_under(json!({"kind": "http_error", "status": status})).await;
        let unauthorized = C::FatalConfig(ConfigFault::Unauthorized);
        assert_class(&c, unauthorized, A::PauseQueue, "provider_unauthorized");
    }
}

#[tokio::test]
async fn a_non_json_answer_is_retryable() {
    let c = submit_under(json!({"kind": "non_json"})).await;
    assert_class(
        &c,
        C::Retryable,
        A::RetryWithBackoff,
        "provider_bad_response",
    );
}

#[tokio::test]
async fn an_http_429_is_rate_limited_and_keeps_its_retry_after() {
    let rule = json!({"kind": "http_error", "status": 429, "retry_after_secs": 7});
    let c = submit_under(rule).await;
    assert_class(&c, C::RateLimited, A::CoolDown, "provider_rate_limited");
    assert_eq!(c.retry_after_ms, Some(7_000));
}

#[tokio::test]
async fn an_unreachable_provider_is_retryable() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = SunoApi::new(&format!("http://{}", closed.local_addr().unwrap()), KEY);
    drop(closed);
    let c = Shell::new().credit(&api.credit()).await.unwrap_err();
    assert_class(
        &c,
        C::Retryable,
        A::RetryWithBackoff,
        "provider_unreachable",
    );
    // Nothing was sent, so even a submit is safe to repeat.
    let params = prompt::build(
        &parse_request(br#"{"emotion":"joy"}"#).unwrap(),
        Model::V4_5,
    );
    let c = Shell::new()
        .submit(&api.generate(&params, NO_CALLBACK))
        .await
        .unwrap_err();
    assert_class(
        &c,
        C::Retryable,
        A::RetryWithBackoff,
        "provider_unreachable",
    );
}

#[tokio::test]
async fn a_reset_or_slow_read_is_retryable_and_holds() {
    let sim = Sim::start().await;
    let shell = Shell::with_timeout(SHORT);
    let (task_id, task) = submit(&sim, &shell, &calm(&sim)).await;
    sim.fault(json!({"kind": "reset", "count": 2})).await;
    let c = shell.credit(&sim.api().credit()).await.unwrap_err();
    assert_class(&c, C::Retryable, A::RetryWithBackoff, "provider_timeout");
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("hold", "provider_timeout"));

    sim.fault(json!({"kind": "slow", "delay_ms": 1000, "count": 1}))
        .await;
    let (_, decision) = poll(&sim, &shell, &task_id, &task).await;
    assert_eq!(summary(&decision), ("hold", "provider_timeout"));
    assert_eq!(
        sim.requests("generate").await.len(),
        1,
        "a failed read never resubmits"
    );
}

/// A reset after the body was sent looks exactly like an accepted submit whose answer was
/// lost, so both must be ambiguous: the second one was charged.
#[tokio::test]
async fn a_reset_submit_is_ambiguous_like_a_lost_answer() {
    let sim = Sim::start().await;
    let shell = Shell::new();
    sim.fault(json!([
        {"kind": "reset", "endpoint": "generate", "count": 1},
        {"kind": "accept_then_lose", "endpoint": "generate", "count": 1},
    ]))
    .await;
    let reset = shell.submit(&calm(&sim)).await.unwrap_err();
    let lost = shell.submit(&calm(&sim)).await.unwrap_err();
    assert_class(
        &reset,
        C::Ambiguous,
        A::AwaitCallback,
        "submit_outcome_unknown",
    );
    assert_eq!(lost, reset);

    let log = sim.requests("generate").await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["fault"]["kind"], "reset");
    assert_eq!(log[0]["credits_charged"], 0);
    assert_eq!(log[1]["fault"]["kind"], "accept_then_lose");
    assert_eq!(log[1]["credits_charged"], 12);
    assert_eq!(sim.tasks().await.len(), 1);
}

#[tokio::test]
async fn a_submit_slower_than_the_client_timeout_is_ambiguous_and_was_charged() {
    let sim = Sim::start().await;
    let rule = json!({"kind": "slow", "delay_ms": 1200, "endpoint": "generate", "count": 1});
    sim.fault(rule).await;
    let c = Shell::with_timeout(SHORT)
        .submit(&calm(&sim))
        .await
        .unwrap_err();
    assert_class(&c, C::Ambiguous, A::AwaitCallback, "submit_outcome_unknown");

    // The request is not failed and its attempt is not spent: it waits for a callback.
    let config = sim.config();
    let claimed = ClaimedRequest {
        id: "req-1".into(),
        attempts: 1,
        max_attempts: 3,
    };
    let decision = decide_submit(&claimed, &c, &ProviderStatus::default(), 0, 0, &config);
    let wait_ms = config.ambiguous_wait_ms as i64;
    assert!(
        matches!(decision, RequestDecision::AwaitCallback { until_ms, .. } if until_ms == wait_ms),
        "{decision:?}"
    );

    // The provider finished the work anyway: a blind resubmit would pay twice.
    let tasks = sim.wait_for_tasks(1).await;
    assert_eq!(tasks[0]["credits_charged"], 12);
    assert_eq!(Shell::new().credit(&sim.api().credit()).await, Ok(988.0));
    assert_eq!(sim.requests("generate").await.len(), 1);
}

#[tokio::test]
async fn an_accepted_submit_whose_answer_is_lost_is_ambiguous_and_was_charged() {
    let sim = Sim::start().await;
    sim.fault(json!([
        {"kind": "accept_then_lose", "endpoint": "generate", "count": 1},
        {"kind": "accept_then_lose", "mode": "hold", "hold_ms": 3000, "endpoint": "generate",
         "count": 1},
    ]))
    .await;
    let shell = Shell::with_timeout(SHORT);
    for mode in ["drop", "hold"] {
        let c = shell.submit(&calm(&sim)).await.unwrap_err();
        assert_class(&c, C::Ambiguous, A::AwaitCallback, "submit_outcome_unknown");
        let log = sim.requests("generate").await;
        assert_eq!(
            log.last().unwrap()["credits_charged"],
            12,
            "{mode}: {log:?}"
        );
    }
    assert_eq!(sim.tasks().await.len(), 2);
    assert_eq!(shell.credit(&sim.api().credit()).await, Ok(976.0));
}

#[tokio::test]
async fn a_lost_submit_is_found_again_through_its_callback_without_resubmitting() {
    let sim = Sim::start().await;
    let listener = Listener::start(Answer::Ok).await;
    let shell = Shell::new();
    sim.fault(json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}))
        .await;
    let request = generate(&sim, r#"{"emotion":"energetic"}"#, &callback_url(&listener));
    let c = shell.submit(&request).await.unwrap_err();
    assert_eq!(c.action, A::AwaitCallback);

    sim.advance(30.0).await;
    let text = callback_of(&listener, "text").await;
    let task_id = text.task_id.expect("the lost task's id");
    let (result, _) = poll(&sim, &shell, &task_id, &submitted(0)).await;
    assert_eq!(task_info(&result).status, TaskStatus::TextSuccess);
    assert_eq!(sim.requests("generate").await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Callbacks
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_callback_stage_parses_with_its_task_id() {
    let sim = Sim::start().await;
    let listener = Listener::start(Answer::Ok).await;
    let shell = Shell::new();
    let request = generate(&sim, r#"{"emotion":"joy"}"#, &callback_url(&listener));
    let (task_id, _) = submit(&sim, &shell, &request).await;

    sim.advance(30.0).await;
    let text = callback_of(&listener, "text").await;
    assert_eq!((text.code, &text.stage), (200, &CallbackStage::Text));
    assert_eq!(text.task_id.as_deref(), Some(task_id.as_str()));
    assert_eq!(text.clips.len(), 2);
    assert!(text.clips.iter().all(|c| !c.is_ready()));
    assert_eq!(classify_callback(&text).action, A::ReadTaskNow);

    sim.advance(10.0).await;
    let first = callback_of(&listener, "first").await;
    assert_eq!((first.code, &first.stage), (200, &CallbackStage::First));
    assert_eq!(first.task_id.as_deref(), Some(task_id.as_str()));
    assert_eq!(first.clips.iter().filter(|c| c.is_ready()).count(), 1);
    assert_eq!(classify_callback(&first).action, A::ReadTaskNow);

    sim.advance(80.0).await;
    let complete = callback_of(&listener, "complete").await;
    assert_eq!(
        (complete.code, &complete.stage),
        (200, &CallbackStage::Complete)
    );
    assert_eq!(complete.task_id.as_deref(), Some(task_id.as_str()));
    assert_eq!(complete.clips.iter().filter(|c| c.is_ready()).count(), 2);
    assert_class(
        &classify_callback(&complete),
        C::Ok,
        A::ReadTaskNow,
        "callback_received",
    );

    // The callback is a wake-up; the read agrees with it, clip for clip.
    let (result, _) = poll(&sim, &shell, &task_id, &submitted(0)).await;
    let read = task_info(&result);
    assert_eq!(read.clips.len(), 2);
    for (sent, stored) in complete.clips.iter().zip(&read.clips) {
        assert_eq!((&sent.id, &sent.audio_url), (&stored.id, &stored.audio_url));
        // `2026-01-01 12:00:00` in callbacks, epoch milliseconds in record-info.
        let (at, stored_at) = (sent.created_at_ms.unwrap(), stored.created_at_ms.unwrap());
        assert!(
            (stored_at - at).abs() < 1000,
            "createTime {at} vs {stored_at}"
        );
    }
}

#[tokio::test]
async fn duplicated_callbacks_spelled_task_id_in_camel_case_still_parse() {
    let sim = Sim::start().await;
    let options = json!({"duplicate": ["complete"], "task_id_field": "taskId"});
    sim.settings(json!({ "callbacks": options })).await;
    let listener = Listener::start(Answer::Ok).await;
    let shell = Shell::new();
    let request = generate(&sim, r#"{"emotion":"anger"}"#, &callback_url(&listener));
    let (task_id, _) = submit(&sim, &shell, &request).await;

    sim.advance(120.0).await;
    let fourth = listener
        .wait_for(Duration::from_secs(5), |_| listener.received().len() >= 4)
        .await;
    assert!(fourth.is_some(), "text, first and complete twice");
    let received = listener.received();
    assert_eq!(received.len(), 4);
    let mut completes = 0;
    for callback in &received {
        assert!(callback.body.contains("\"taskId\""), "{}", callback.body);
        let parsed = parse_callback(callback.body.as_bytes()).unwrap();
        assert_eq!(parsed.task_id.as_deref(), Some(task_id.as_str()));
        completes += usize::from(parsed.stage == CallbackStage::Complete);
    }
    assert_eq!(completes, 2);
}

#[tokio::test]
async fn an_error_callback_is_classified_like_the_task_failure() {
    let cases = [
        ("audio_failed_531", 531, C::Retryable),
        ("audio_failed_501", 501, C::Retryable),
        ("create_task_failed", 500, C::Retryable),
        ("sensitive_word", 400, C::FatalRequest),
    ];
    for (outcome, code, class) in cases {
        let sim = Sim::start().await;
        let listener = Listener::start(Answer::Ok).await;
        let shell = Shell::new();
        sim.outcome(outcome).await;
        let request = generate(&sim, r#"{"emotion":"sad"}"#, &callback_url(&listener));
        let (task_id, _) = submit(&sim, &shell, &request).await;
        sim.advance(40.0).await;
        let error = callback_of(&listener, "error").await;
        assert_eq!(
            (error.code, &error.stage),
            (code, &CallbackStage::Error),
            "{outcome}"
        );
        assert_eq!(error.task_id.as_deref(), Some(task_id.as_str()));
        assert_eq!(classify_callback(&error).class, class, "{outcome}");
    }
}
