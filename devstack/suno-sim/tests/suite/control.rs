//! The control API: request log, task list, settings, reset, and the bare router.

use crate::common::{body, start, KEY};
use serde_json::{json, Value};
use suno_sim::SimConfig;
use tokio::net::TcpListener;

const CB: &str = "http://127.0.0.1:9/cb";

#[tokio::test]
async fn the_request_log_proves_how_many_submits_were_made() {
    let sim = start().await;
    let sent = body("same body twice", CB);
    let a = sim.submit(&sent).await;
    let b = sim.submit(&sent).await;
    sim.record(&a).await;
    sim.get_control("/tasks").await;

    let all = sim.get_control("/requests").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        3,
        "control calls are not logged: {all}"
    );
    let log = sim.get_control("/requests?endpoint=generate").await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    let ids: Vec<&str> = log.iter().map(|r| r["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    for r in log {
        assert_eq!(r["method"], "POST");
        assert_eq!(r["path"], "/api/v1/generate");
        assert_eq!(r["body"], sent);
        assert_eq!(r["http_status"], 200);
        assert_eq!(r["code"], 200);
        assert_eq!(r["credits_charged"], 12);
        let auth = r["headers"]["authorization"].as_str().unwrap();
        assert!(
            auth.starts_with("Bearer ") && !auth.contains(KEY),
            "masked: {auth}"
        );
    }
    let info = &all[2];
    assert_eq!(info["query"], format!("taskId={a}"));
    assert_eq!(info["endpoint"], "record_info");
}

#[tokio::test]
async fn tasks_are_listed_with_their_status_and_record() {
    let sim = start().await;
    let id = sim.submit(&body("[sim:stuck]", CB)).await;
    let list = sim.get_control("/tasks").await;
    assert_eq!(list[0]["task_id"], id.as_str());
    assert_eq!(list[0]["outcome"], "stuck");
    assert_eq!(list[0]["status"], "PENDING");
    let one = sim.get_control(&format!("/tasks/{id}")).await;
    assert_eq!(one["record"]["taskId"], id.as_str());
    let (status, _) = sim.control(reqwest::Method::GET, "/tasks/nope", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn settings_merge_and_refuse_nonsense() {
    let sim = start().await;
    let view = sim.settings(json!({"callbacks": {"reorder": true}})).await;
    assert_eq!(view["settings"]["callbacks"]["reorder"], true);
    assert_eq!(
        view["settings"]["callbacks"]["max_attempts"], 3,
        "other options kept"
    );
    for bad in [
        json!({"no_such_setting": 1}),
        json!({"time_scale": -1}),
        json!({"callbacks": {"duplicate": ["later"]}}),
        json!({"timeline": {"text_secs": 50, "first_secs": 40}}),
        json!({"credits": "lots"}),
    ] {
        let (status, body) = sim
            .control(reqwest::Method::PATCH, "/settings", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    for bad in [
        json!({"kind": "nope"}),
        json!({"kind": "reset", "count": 0}),
        json!({"kind": "http_error", "status": 200}),
        json!({"kind": "slow"}),
    ] {
        let (status, body) = sim
            .control(reqwest::Method::POST, "/faults", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(sim.get_control("/faults").await, json!([]));
}

#[tokio::test]
async fn reset_restores_the_startup_state() {
    let sim = start().await;
    sim.submit(&body("x", CB)).await;
    sim.settings(json!({"credits": 5, "time_scale": 9.0, "api_keys": ["other"]}))
        .await;
    sim.fault(json!({"kind": "reset", "endpoint": "credit"}))
        .await;
    sim.post_control("/outcomes", json!({"outcome": "stuck", "count": 3}))
        .await;

    let state = sim.post_control("/reset", json!({})).await;
    assert_eq!(state["credits"], 1000);
    assert_eq!(state["settings"]["time_scale"], 1.0);
    assert_eq!(state["faults"], json!([]));
    assert_eq!(state["outcomes"], json!([]));
    assert_eq!(state["counts"]["tasks"], 0);
    assert_eq!(state["counts"]["requests"], 0);
    assert_eq!(sim.credits().await, 1000, "the startup key works again");
}

#[tokio::test]
async fn the_router_also_runs_under_axum_serve() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = suno_sim::router(SimConfig::default());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let env: Value = http
        .get(format!("{base}/api/v1/generate/credit"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(env["data"], 1000);
    // Without serve's accept loop, a reset breaks the body instead of the connection.
    http.post(format!("{base}/__sim/faults"))
        .json(&json!({"kind": "reset", "count": 1}))
        .send()
        .await
        .unwrap();
    let outcome = match http
        .get(format!("{base}/api/v1/generate/credit"))
        .bearer_auth(KEY)
        .send()
        .await
    {
        Err(_) => Err(()),
        Ok(resp) => resp.bytes().await.map(|_| ()).map_err(|_| ()),
    };
    assert!(outcome.is_err());
    server.abort();
}
