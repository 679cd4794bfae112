//! A request's life through the public API, in the order the edge functions drive it:
//! validate the body, build the provider request, submit within a worker run, follow the task
//! through its callback and reads, and store the clips.

use music_core::admit::{admit, Admission, EnqueueReason};
use music_core::classify::{classify_callback, classify_credits};
use music_core::plan::StopReason;
use music_core::poll::{decide_poll, PollDecision, PollResult, SubmittedTask};
use music_core::prompt;
use music_core::suno::{parse_callback, parse_credit, parse_generate, Method, TaskStatus};
use music_core::{
    parse_request, Action, CallFacts, ClaimedRequest, Classification, Config, ErrorCode, Planner,
    ProviderStatus, QueueSettings, RequestDecision, Step,
};
use serde_json::{json, Value};

const NOW: i64 = 1_730_000_000_000;

fn config() -> Config {
    Config::from_env(|name| match name {
        "SUNO_API_KEY" => Some("sk-test".to_owned()),
        "SUNO_API_BASE_URL" => Some("http://127.0.0.1:54400".to_owned()),
        _ => None,
    })
    .expect("valid configuration")
}

#[test]
fn a_request_goes_from_body_to_clips() {
    let config = config();
    let api = config.suno_api().unwrap();

    // The request arrives; the provider looks healthy but someone is waiting: queue it.
    let body = br#"{"emotion":"calm","intensity":0.8,"context":"after a long day"}"#;
    let request = parse_request(body).unwrap();
    let status = ProviderStatus::default();
    assert_eq!(
        admit(&status, 1, false, NOW, &config),
        Admission::Enqueue(EnqueueReason::QueueNotEmpty)
    );

    // A worker run starts from the queue's row; the stored status is unknown, so it probes
    // first.
    let queue = QueueSettings::from_row(&json!({
        "name": "default", "paused": false, "batch_size": 5, "submit_spacing_ms": 2000,
        "max_per_run": null
    }))
    .unwrap();
    let mut planner = Planner::new(status, &queue, &config, NOW);
    assert_eq!(planner.next(NOW), Step::Probe);
    let credit = api.credit();
    assert_eq!(credit.url, "http://127.0.0.1:54400/api/v1/generate/credit");
    let credits = parse_credit(200, br#"{"code":200,"msg":"success","data":480}"#).unwrap();
    let facts = CallFacts {
        response_ms: Some(180),
        http_status: Some(200),
        credits: Some(credits),
    };
    planner.record_probe(&classify_credits(credits, 12.0), &facts, NOW);
    assert_eq!(planner.take_checks()[0].p_credits, Some(480.0));

    // No task is due for a read; claim, take a token, submit.
    assert_eq!(planner.next(NOW), Step::ClaimPolls);
    planner.record_polls(vec![]);
    assert_eq!(planner.next(NOW), Step::Claim { limit: 5 });
    planner.record_claim(vec![ClaimedRequest {
        id: "req-1".into(),
        attempts: 1,
        max_attempts: 3,
    }]);
    assert_eq!(planner.next(NOW + 200), Step::TakeToken);
    planner.record_token(true, 0, NOW + 200);
    assert_eq!(planner.next(NOW + 200), Step::Submit { id: "req-1".into() });
    let params = prompt::build(&request, config.suno_model);
    let http = api.generate(
        &params,
        "http://127.0.0.1:54321/functions/v1/music-callback?r=req-1&t=x",
    );
    assert_eq!(http.method, Method::Post);
    let sent: Value = serde_json::from_str(http.body.as_deref().unwrap()).unwrap();
    assert_eq!(sent["customMode"], true);
    assert_eq!(sent["title"], "Open Sky");
    assert!(sent["prompt"]
        .as_str()
        .unwrap()
        .ends_with("Inspired by: after a long day"));
    let answer =
        br#"{"code":200,"msg":"success","data":{"taskId":"5c79be8e2c1a4d3f9b0e7a6d5c4b3a21"}}"#;
    let task_id = parse_generate(200, answer).unwrap();
    let answered = CallFacts {
        response_ms: Some(900),
        http_status: Some(200),
        credits: None,
    };
    let decision = planner.record_submit("req-1", &Classification::ok(), &answered, NOW + 200, 11);
    assert_eq!(decision, RequestDecision::Submitted);
    assert_eq!(
        planner.next(NOW + 2_500),
        Step::Stop {
            reason: StopReason::Drained
        }
    );
    assert_eq!(
        api.record_info(&task_id).path,
        "/api/v1/generate/record-info?taskId=5c79be8e2c1a4d3f9b0e7a6d5c4b3a21"
    );

    // A first-stage callback arrives: a wake-up, then the read shows partial progress.
    let first = json!({"code": 200, "msg": "First track completed.", "data": {
        "callbackType": "first", "task_id": task_id,
        "data": [{"id": "a", "audio_url": "https://cdn/a.mp3"}, {"id": "b", "audio_url": ""}]}});
    let callback = parse_callback(first.to_string().as_bytes()).unwrap();
    assert_eq!(classify_callback(&callback).action, Action::ReadTaskNow);
    let submitted = SubmittedTask {
        attempts: 1,
        max_attempts: 3,
        submitted_at_ms: NOW + 200,
        rereads: 0,
        resubmitted_when_stuck: false,
    };
    let partial = json!({"code": 200, "msg": "success", "data": {
        "taskId": task_id, "status": "FIRST_SUCCESS", "errorCode": null, "errorMessage": null,
        "response": {"taskId": task_id, "sunoData": [
            {"id": "a", "audioUrl": "https://cdn/a.mp3", "streamAudioUrl": "https://s/a", "duration": 181.2},
            {"id": "b", "audioUrl": "", "streamAudioUrl": "https://s/b"}]}}});
    let read = PollResult::from_http(200, partial.to_string().as_bytes());
    let PollDecision::Progress { status, clips, .. } =
        decide_poll(&submitted, &read, NOW + 45_000, 0, &config)
    else {
        panic!("expected progress");
    };
    assert_eq!(status, TaskStatus::FirstSuccess);
    assert_eq!(clips.iter().filter(|c| c.is_ready()).count(), 1);

    // The complete callback, then the read that completes the request.
    let complete = json!({"code": 200, "msg": "All generated successfully.",
        "data": {"callbackType": "complete", "taskId": task_id, "data": []}});
    let callback = parse_callback(complete.to_string().as_bytes()).unwrap();
    assert_eq!(classify_callback(&callback).action, Action::ReadTaskNow);
    let done = json!({"code": 200, "msg": "success", "data": {
        "taskId": task_id, "status": "SUCCESS",
        "response": {"sunoData": [
            {"id": "a", "audioUrl": "https://cdn/a.mp3", "createTime": 1_730_000_150_000_i64},
            {"id": "b", "audioUrl": "https://cdn/b.mp3", "createTime": "1730000150000"}]}}});
    let read = PollResult::from_http(200, done.to_string().as_bytes());
    let PollDecision::Complete { clips } =
        decide_poll(&submitted, &read, NOW + 150_000, 0, &config)
    else {
        panic!("expected completion");
    };
    assert_eq!(clips.len(), 2);
    let stored = serde_json::to_value(&clips).unwrap();
    assert_eq!(stored[1]["audio_url"], "https://cdn/b.mp3");
    assert_eq!(stored[1]["created_at_ms"], 1_730_000_150_000_i64);
}

#[test]
fn a_bad_body_is_answered_with_a_coded_error() {
    let error = parse_request(br#"{"emotion":"calm","intensity":7}"#).unwrap_err();
    let body = serde_json::to_value(error.to_body()).unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "invalid_intensity", "message": "intensity must be between 0 and 1, got 7"}})
    );
}
