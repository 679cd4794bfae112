//! Per-task outcomes, chosen by a `[sim:...]` marker or queued through the control API.

use crate::common::{body, eventually, start_frozen, Receiver};
use serde_json::{json, Value};

const CB: &str = "http://127.0.0.1:9/cb";

/// (marker, seconds after submit, expected status, expected errorCode)
const CHECKPOINTS: &[(&str, f64, &str, Option<u64>)] = &[
    ("sensitive_word", 5.0, "PENDING", None),
    ("sensitive_word", 10.0, "SENSITIVE_WORD_ERROR", Some(400)),
    ("create_task_failed", 10.0, "CREATE_TASK_FAILED", Some(500)),
    ("audio_failed_501", 35.0, "TEXT_SUCCESS", None),
    ("audio_failed_501", 40.0, "GENERATE_AUDIO_FAILED", Some(501)),
    ("audio_failed_531", 40.0, "GENERATE_AUDIO_FAILED", Some(531)),
    ("callback_exception", 120.0, "CALLBACK_EXCEPTION", None),
    ("stuck", 10_000.0, "PENDING", None),
    ("stuck_text", 10_000.0, "TEXT_SUCCESS", None),
    ("success_without_data", 120.0, "SUCCESS", None),
    ("success", 120.0, "SUCCESS", None),
];

#[tokio::test]
async fn each_marker_gives_its_outcome() {
    for &(marker, at, status, code) in CHECKPOINTS {
        let sim = start_frozen().await;
        let id = sim.submit(&body(&format!("song [sim:{marker}]"), CB)).await;
        sim.advance(at).await;
        let r = sim.record(&id).await;
        assert_eq!(r["status"], status, "{marker} at {at}: {r}");
        assert_eq!(r["errorCode"].as_u64(), code, "{marker}");
        if code.is_some() {
            assert!(r["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

#[tokio::test]
async fn success_without_data_and_callback_exception_payloads() {
    let sim = start_frozen().await;
    let rx = Receiver::start(0).await;
    let empty = sim
        .submit(&body("[sim:success_without_data]", &rx.url))
        .await;
    let no_webhook = sim.submit(&body("[sim:callback_exception]", CB)).await;
    sim.advance(200.0).await;
    assert_eq!(sim.record(&empty).await["response"]["sunoData"], json!([]));
    let hits = rx.wait_for(3).await;
    assert_eq!(
        hits[2]["data"]["data"],
        json!([]),
        "the complete callback is empty too"
    );
    let r = sim.record(&no_webhook).await;
    assert_eq!(r["response"]["sunoData"].as_array().unwrap().len(), 2);
    assert!(r["response"]["sunoData"][1]["audioUrl"]
        .as_str()
        .unwrap()
        .ends_with(".mp3"));
}

#[tokio::test]
async fn callback_exception_never_sends_complete() {
    let sim = start_frozen().await;
    let rx = Receiver::start(0).await;
    sim.submit(&body("[sim:callback_exception]", &rx.url)).await;
    sim.advance(200.0).await;
    rx.wait_for(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(rx.stages(), ["text", "first"]);
}

#[tokio::test]
async fn a_531_failure_refunds_the_credits() {
    let sim = start_frozen().await;
    sim.submit(&body("[sim:audio_failed_531]", CB)).await;
    sim.submit(&body("[sim:audio_failed_501]", CB)).await;
    assert_eq!(sim.credits().await, 1000 - 24);
    sim.advance(100.0).await;
    eventually(5.0, "the 531 refund", || async {
        (sim.credits().await == 1000 - 12).then_some(())
    })
    .await;
}

#[tokio::test]
async fn late_visibility_hides_the_task_at_first() {
    let sim = start_frozen().await;
    let id = sim.submit(&body("[sim:late_visibility=50]", CB)).await;
    assert_eq!(sim.record(&id).await, Value::Null);
    sim.advance(45.0).await;
    assert_eq!(sim.record(&id).await, Value::Null);
    sim.advance(10.0).await;
    assert_eq!(sim.status(&id).await, "FIRST_SUCCESS");

    // Without a number the configured default applies.
    sim.settings(json!({"timeline": {"late_visibility_secs": 5.0}}))
        .await;
    let id = sim.submit(&body("[sim:late_visibility]", CB)).await;
    assert_eq!(sim.record(&id).await, Value::Null);
    sim.advance(6.0).await;
    assert_eq!(sim.status(&id).await, "PENDING");
}

#[tokio::test]
async fn queued_outcomes_apply_to_the_next_submits_and_markers_win() {
    let sim = start_frozen().await;
    sim.post_control(
        "/outcomes",
        json!({"outcome": "sensitive_word", "count": 2}),
    )
    .await;
    let marked = sim.submit(&body("[sim:stuck]", CB)).await;
    let a = sim.submit(&body("a", CB)).await;
    let b = sim.submit(&body("b", CB)).await;
    let c = sim.submit(&body("c", CB)).await;
    sim.advance(500.0).await;
    assert_eq!(
        sim.status(&marked).await,
        "PENDING",
        "the marker does not use the queue"
    );
    assert_eq!(sim.status(&a).await, "SENSITIVE_WORD_ERROR");
    assert_eq!(sim.status(&b).await, "SENSITIVE_WORD_ERROR");
    assert_eq!(sim.status(&c).await, "SUCCESS");
    assert_eq!(sim.get_control("/outcomes").await, json!([]));
}

#[tokio::test]
async fn banned_words_and_bad_markers_are_refused_at_submit() {
    let sim = start_frozen().await;
    sim.settings(json!({"banned_words": ["Forbidden"]})).await;
    let env = sim.generate(&body("a forbidden song", CB)).await;
    assert_eq!(env["code"], 400);
    assert!(env["msg"].as_str().unwrap().contains("sensitive"));
    assert_eq!(sim.generate(&body("[sim:nonsense]", CB)).await["code"], 400);
    assert_eq!(sim.credits().await, 1000);
    let (status, _) = sim
        .control(
            reqwest::Method::POST,
            "/outcomes",
            Some(json!({"outcome": "nonsense"})),
        )
        .await;
    assert_eq!(status, 400);
}
