//! The three endpoints as a client sees them: auth, submit rules, credits, the rate
//! window, unknown task ids and unknown paths.

use crate::common::{body, start, KEY};
use serde_json::{json, Value};
use std::time::Duration;

async fn envelope(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "errors come in the body with HTTP 200");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn every_endpoint_needs_a_valid_bearer_key() {
    let sim = start().await;
    let paths = [
        "/api/v1/generate/credit",
        "/api/v1/generate/record-info?taskId=x",
    ];
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic sim-suno-key"),
        Some(KEY),
    ] {
        for path in paths {
            let mut req = sim.http.get(sim.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let env = envelope(req.send().await.unwrap()).await;
            assert_eq!(env["code"], 401, "{auth:?} {path}: {env}");
        }
        let mut req = sim
            .http
            .post(sim.url("/api/v1/generate"))
            .json(&body("x", "http://cb"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        assert_eq!(envelope(req.send().await.unwrap()).await["code"], 401);
    }
    let env = sim.api_get("/api/v1/generate/credit").await;
    assert_eq!(env, json!({"code": 200, "msg": "success", "data": 1000}));
}

#[tokio::test]
async fn keys_can_be_replaced_at_run_time() {
    let sim = start().await;
    sim.settings(json!({"api_keys": ["fresh-key"]})).await;
    assert_eq!(sim.api_get("/api/v1/generate/credit").await["code"], 401);
    let resp = sim
        .http
        .get(sim.url("/api/v1/generate/credit"))
        .bearer_auth("fresh-key")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(resp).await["code"], 200);
}

#[tokio::test]
async fn missing_callback_url_is_422_and_other_faults_400() {
    let sim = start().await;
    sim.settings(json!({"rate_limit": {"max_requests": 0}}))
        .await;
    let mut no_cb = body("x", "");
    no_cb.as_object_mut().unwrap().remove("callBackUrl");
    let env = sim.generate(&no_cb).await;
    assert_eq!(env["code"], 422);
    assert_eq!(env["msg"], "Please enter callBackUrl.");

    let cases: Vec<(&str, Value)> = vec![
        ("customMode", Value::Null),
        ("instrumental", Value::Null),
        ("model", Value::Null),
        ("model", json!("V9")),
        ("customMode", json!("yes")),
        ("prompt", json!("")),
        ("vocalGender", json!("x")),
        ("styleWeight", json!(2)),
    ];
    for (field, value) in cases {
        let mut b = body("x", "http://cb");
        if value.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = value.clone();
        }
        let env = sim.generate(&b).await;
        assert_eq!(env["code"], 400, "{field}={value}: {env}");
        assert_eq!(env["data"], Value::Null);
    }
    // Custom mode needs style and title, and lyrics unless instrumental.
    let custom = json!({"customMode": true, "instrumental": false, "model": "V5",
                        "callBackUrl": "http://cb", "style": "jazz", "title": "T"});
    assert_eq!(sim.generate(&custom).await["code"], 400);
    let mut instrumental = custom.clone();
    instrumental["instrumental"] = json!(true);
    assert_eq!(sim.generate(&instrumental).await["code"], 200);

    let resp = sim
        .http
        .post(sim.url("/api/v1/generate"))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(resp).await["code"], 400);
    assert_eq!(
        sim.credits().await,
        1000 - 12,
        "only the valid submit was charged"
    );
}

#[tokio::test]
async fn length_limits_depend_on_the_model() {
    let sim = start().await;
    sim.settings(json!({"rate_limit": {"max_requests": 0}}))
        .await;
    let custom = |model: &str, prompt: usize, style: usize, title: usize| {
        json!({"customMode": true, "instrumental": false, "model": model,
               "callBackUrl": "http://cb", "prompt": "p".repeat(prompt),
               "style": "s".repeat(style), "title": "t".repeat(title)})
    };
    let cases = [
        (body(&"p".repeat(500), "http://cb"), 200),
        (body(&"p".repeat(501), "http://cb"), 413),
        (custom("V4", 3000, 200, 80), 200),
        (custom("V4", 3001, 1, 1), 413),
        (custom("V4", 1, 201, 1), 413),
        (custom("V4", 1, 1, 81), 413),
        (custom("V3_5", 3001, 1, 1), 413),
        (custom("V4_5", 5000, 1000, 100), 200),
        (custom("V4_5", 5001, 1, 1), 413),
        (custom("V4_5PLUS", 1, 1001, 1), 413),
        (custom("V4_5ALL", 1, 1, 81), 413),
        (custom("V5", 1, 1, 100), 200),
        (custom("V5", 1, 1, 101), 413),
        (custom("V5_5", 5000, 1000, 100), 200),
    ];
    for (i, (b, code)) in cases.iter().enumerate() {
        let env = sim.generate(b).await;
        assert_eq!(env["code"], *code, "case {i}: {env}");
    }
}

#[tokio::test]
async fn each_submit_costs_credits_until_they_run_out() {
    let sim = start().await;
    sim.submit(&body("a", "http://cb")).await;
    sim.submit(&body("a", "http://cb")).await;
    assert_eq!(sim.credits().await, 1000 - 24, "duplicates are charged too");
    sim.settings(json!({"credits": 20})).await;
    sim.submit(&body("b", "http://cb")).await;
    let env = sim.generate(&body("c", "http://cb")).await;
    assert_eq!(env["code"], 429);
    assert_eq!(
        env["msg"],
        "The current credits are insufficient. Please top up."
    );
    assert_eq!(sim.credits().await, 8);
}

#[tokio::test]
async fn the_21st_submit_within_10_seconds_gets_430() {
    let sim = start().await;
    for i in 0..20 {
        let env = sim.generate(&body(&format!("n{i}"), "http://cb")).await;
        assert_eq!(env["code"], 200, "submit {i}");
    }
    let env = sim.generate(&body("one too many", "http://cb")).await;
    assert_eq!(env["code"], 430);
    assert_eq!(
        env["msg"],
        "Your call frequency is too high. Please try again later."
    );
    assert_eq!(sim.credits().await, 1000 - 20 * 12, "a 430 is not charged");

    // The window slides: with a short window the next submit is back in quickly.
    sim.settings(json!({"rate_limit": {"window_ms": 200}}))
        .await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(sim.generate(&body("later", "http://cb")).await["code"], 200);
}

#[tokio::test]
async fn unknown_task_answers_data_null_and_unknown_paths_404() {
    let sim = start().await;
    let env = sim
        .api_get("/api/v1/generate/record-info?taskId=0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(env, json!({"code": 200, "msg": "success", "data": null}));
    assert_eq!(
        sim.api_get("/api/v1/generate/record-info").await["code"],
        400
    );
    for path in ["/api/v1/nope", "/api/v1/generate"] {
        let resp = sim
            .http
            .get(sim.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(envelope(resp).await["code"], 404, "{path}");
    }
}
