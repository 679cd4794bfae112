//! Transport faults as a client sees them.

use crate::common::{body, eventually, start, KEY};
use serde_json::{json, Value};
use std::time::Duration;

const CB: &str = "http://127.0.0.1:9/cb";

async fn credit_response(sim: &crate::common::Sim) -> reqwest::Response {
    sim.http
        .get(sim.url("/api/v1/generate/credit"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

/// Whether the error comes from a TCP reset (ECONNRESET) somewhere in its cause chain.
fn is_reset(err: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionReset;
        }
        source = e.source();
    }
    false
}

async fn tasks(sim: &crate::common::Sim) -> Vec<Value> {
    sim.get_control("/tasks").await.as_array().unwrap().clone()
}

#[tokio::test]
async fn http_5xx_with_an_html_body_for_the_next_n_requests() {
    let sim = start().await;
    sim.fault(json!({"kind": "http_error", "status": 503, "count": 2}))
        .await;
    for _ in 0..2 {
        let resp = credit_response(&sim).await;
        assert_eq!(resp.status(), 503);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let text = resp.text().await.unwrap();
        assert!(text.contains("503") && serde_json::from_str::<Value>(&text).is_err());
    }
    assert_eq!(credit_response(&sim).await.status(), 200);
}

#[tokio::test]
async fn a_rule_can_target_one_endpoint_and_stay_until_cleared() {
    let sim = start().await;
    sim.fault(json!({"kind": "http_error", "status": 502, "endpoint": "record_info"}))
        .await;
    assert_eq!(credit_response(&sim).await.status(), 200);
    for _ in 0..3 {
        let resp = sim
            .http
            .get(sim.url("/api/v1/generate/record-info?taskId=x"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 502);
    }
    let (status, _) = sim.control(reqwest::Method::DELETE, "/faults", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.api_get("/api/v1/generate/record-info?taskId=x").await["code"],
        200
    );
}

#[tokio::test]
async fn http_429_can_carry_retry_after() {
    let sim = start().await;
    sim.fault(json!({"kind": "http_error", "status": 429, "retry_after_secs": 7, "count": 1}))
        .await;
    let resp = credit_response(&sim).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
}

#[tokio::test]
async fn a_non_json_200_body() {
    let sim = start().await;
    sim.fault(json!({"kind": "non_json", "count": 1})).await;
    let resp = credit_response(&sim).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.is_err());
}

#[tokio::test]
async fn body_codes_maintenance_server_error_and_rate_limit() {
    let sim = start().await;
    for code in [455, 500, 405] {
        sim.fault(json!({"kind": "body_code", "code": code, "count": 1}))
            .await;
        let env = sim.api_get("/api/v1/generate/credit").await;
        assert_eq!(env["code"], code);
        assert!(env["msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    sim.fault(
        json!({"kind": "body_code", "code": 422, "msg": "Record does not exist", "count": 1}),
    )
    .await;
    assert_eq!(
        sim.api_get("/api/v1/generate/credit").await["msg"],
        "Record does not exist"
    );
}

#[tokio::test]
async fn a_reset_is_a_connection_error_and_nothing_is_created() {
    let sim = start().await;
    sim.fault(json!({"kind": "reset", "endpoint": "generate", "count": 1}))
        .await;
    let err = sim
        .http
        .post(sim.url("/api/v1/generate"))
        .bearer_auth(KEY)
        .json(&body("x", CB))
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(is_reset(&err), "{err:?}");
    assert!(tasks(&sim).await.is_empty());
    assert_eq!(sim.credits().await, 1000);
    let log = sim.get_control("/requests?endpoint=generate").await;
    assert_eq!(log[0]["fault"]["kind"], "reset");
    assert_eq!(log[0]["http_status"], Value::Null);
}

#[tokio::test]
async fn slow_answers_exceed_a_client_timeout() {
    let sim = start().await;
    sim.fault(json!({"kind": "slow", "delay_ms": 800, "count": 2}))
        .await;
    let err = sim
        .http
        .get(sim.url("/api/v1/generate/credit"))
        .bearer_auth(KEY)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("too slow");
    assert!(err.is_timeout(), "{err:?}");
    // A patient client gets a normal answer.
    let env = sim.api_get("/api/v1/generate/credit").await;
    assert_eq!(env["code"], 200);
}

#[tokio::test]
async fn a_slow_submit_is_still_processed_after_the_client_gave_up() {
    let sim = start().await;
    sim.fault(json!({"kind": "slow", "delay_ms": 300, "endpoint": "generate", "count": 1}))
        .await;
    let err = sim
        .http
        .post(sim.url("/api/v1/generate"))
        .bearer_auth(KEY)
        .json(&body("x", CB))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .expect_err("too slow");
    assert!(err.is_timeout());
    eventually(5.0, "the task", || async {
        (tasks(&sim).await.len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn accept_then_lose_charges_a_task_whose_answer_never_arrives() {
    let sim = start().await;
    sim.fault(json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}))
        .await;
    let err = sim
        .http
        .post(sim.url("/api/v1/generate"))
        .bearer_auth(KEY)
        .json(&body("lost answer", CB))
        .send()
        .await
        .expect_err("the answer is lost");
    assert!(is_reset(&err), "{err:?}");
    let log = sim.get_control("/requests?endpoint=generate").await;
    let entry = &log[0];
    assert_eq!(entry["fault"]["kind"], "accept_then_lose");
    assert_eq!(entry["credits_charged"], 12);
    let task_id = entry["task_id"].as_str().expect("a task was created");
    assert_eq!(sim.credits().await, 988);
    assert_eq!(sim.status(task_id).await, "PENDING");
}

#[tokio::test]
async fn accept_then_hold_lets_the_client_time_out() {
    let sim = start().await;
    sim.fault(
        json!({"kind": "accept_then_lose", "mode": "hold", "hold_ms": 5000,
                     "endpoint": "generate", "count": 1}),
    )
    .await;
    let err = sim
        .http
        .post(sim.url("/api/v1/generate"))
        .bearer_auth(KEY)
        .json(&body("held", CB))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("held");
    assert!(err.is_timeout());
    assert_eq!(tasks(&sim).await.len(), 1);
    assert_eq!(sim.credits().await, 988);
}

#[tokio::test]
async fn file_downloads_are_faulted_only_when_named() {
    let sim = start().await;
    sim.fault(json!({"kind": "http_error", "status": 503}))
        .await;
    let file = sim.http.get(sim.url("/files/a.mp3")).send().await.unwrap();
    assert_eq!(file.status(), 200, "`any` leaves files alone");
    sim.control(reqwest::Method::DELETE, "/faults", None).await;
    sim.fault(json!({"kind": "reset", "endpoint": "files", "count": 1}))
        .await;
    assert!(sim.http.get(sim.url("/files/a.mp3")).send().await.is_err());
    assert_eq!(credit_response(&sim).await.status(), 200);
}

#[tokio::test]
async fn a_fault_bounded_in_simulated_time_ends_by_itself() {
    let sim = crate::common::start_frozen().await;
    sim.advance(1000.0).await;
    sim.fault(json!({"kind": "http_error", "status": 503, "for_secs": 90}))
        .await;
    assert_eq!(credit_response(&sim).await.status(), 503);
    sim.advance(89.0).await;
    assert_eq!(credit_response(&sim).await.status(), 503);
    let rules = sim.get_control("/faults").await;
    let until = rules[0]["until_secs"].as_f64().unwrap();
    assert!(
        (until - 1090.0).abs() < 0.5,
        "anchored on the clock: {rules}"
    );
    sim.advance(1.0).await;
    assert_eq!(credit_response(&sim).await.status(), 200);
    assert_eq!(sim.get_control("/faults").await, json!([]));
}

#[tokio::test]
async fn a_fault_can_start_later_on_the_simulated_clock() {
    let sim = crate::common::start_frozen().await;
    sim.fault(json!({"kind": "body_code", "code": 455, "from_secs": 60, "until_secs": 120}))
        .await;
    assert_eq!(credit_code(&sim).await, 200);
    sim.advance(60.0).await;
    assert_eq!(credit_code(&sim).await, 455);
    sim.advance(60.0).await;
    assert_eq!(credit_code(&sim).await, 200);
}

async fn credit_code(sim: &crate::common::Sim) -> Value {
    sim.api_get("/api/v1/generate/credit").await["code"].clone()
}

/// The statuses of 40 credit reads under a 30 % 503 rule, after seeding with `seed`.
async fn draws(sim: &crate::common::Sim, seed: u64) -> Vec<u16> {
    sim.settings(json!({ "seed": seed })).await;
    sim.control(reqwest::Method::DELETE, "/faults", None).await;
    sim.fault(json!({"kind": "http_error", "status": 503, "probability": 0.3}))
        .await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(credit_response(sim).await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn a_probability_faults_a_share_of_requests_reproducibly_by_seed() {
    let sim = start().await;
    let first = draws(&sim, 42).await;
    let faulted = first.iter().filter(|s| **s == 503).count();
    assert!((3..=24).contains(&faulted), "{faulted} of 40 at 30 %");
    assert!(first.iter().all(|s| *s == 503 || *s == 200));
    assert_eq!(
        draws(&sim, 42).await,
        first,
        "the same seed faults the same"
    );
    let (status, body) = sim
        .control(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"kind": "reset", "probability": 2})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = sim
        .control(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"kind": "reset", "for_sec": 2})),
        )
        .await;
    assert_eq!(status, 400, "a misspelt field is refused");
}
