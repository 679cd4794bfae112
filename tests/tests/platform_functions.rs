//! The hosted Edge Function limits and bundling, against the fixture
//! project's probe functions (`slow`, `background-work`, `memory-hog`,
//! `bundled-files`). `scripts/test` starts the fixture stack with short
//! limits (`DEVSTACK_FUNCTION_IDLE_TIMEOUT_MS`,
//! `DEVSTACK_FUNCTION_WALL_CLOCK_MS`) and passes them here.

use reqwest::StatusCode;
use serde_json::Value;
use stack_tests::listener::{Answer, Listener};
use stack_tests::StackEnv;
use std::time::Duration;

fn env() -> StackEnv {
    StackEnv::from_env().expect("stack env")
}

/// A limit the fixture stack was started with.
fn limit(name: &str) -> Duration {
    let millis = std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"));
    Duration::from_millis(millis.parse().expect("milliseconds"))
}

fn idle_timeout() -> Duration {
    limit("DEVSTACK_FUNCTION_IDLE_TIMEOUT_MS")
}

fn wall_clock() -> Duration {
    limit("DEVSTACK_FUNCTION_WALL_CLOCK_MS")
}

async fn call(env: &StackEnv, function_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/functions/v1/{function_and_query}", env.url))
        .send()
        .await
        .unwrap()
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_function_silent_past_the_idle_timeout_gets_a_json_504() {
    let env = env();
    let quick = call(&env, "slow?ms=50").await;
    assert_eq!(quick.status(), StatusCode::OK);

    let silent_for = (idle_timeout() + Duration::from_millis(1000)).as_millis();
    let late = call(&env, &format!("slow?ms={silent_for}")).await;
    assert_eq!(late.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = json(late).await;
    assert_eq!(body["code"], "IDLE_TIMEOUT");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn wait_until_returns_the_promise_it_was_given() {
    let env = env();
    let seen = json(call(&env, "slow?ms=0").await).await;
    assert_eq!(seen["wait_until_returns_its_promise"], true);
}

#[tokio::test]
async fn background_work_past_the_wall_clock_is_cut_and_the_function_restarts() {
    let env = env();
    let listener = Listener::start(Answer::Ok).await;
    let notify = format!("{}/done", listener.url());

    // Short background work finishes after the answer.
    let first = json(call(&env, &format!("background-work?ms=100&notify={notify}")).await).await;
    let boot = first["boot_id"].as_str().unwrap().to_string();
    let done = listener
        .wait_for(Duration::from_secs(10), |request| request.body == boot)
        .await;
    assert!(done.is_some(), "short background work did not finish");

    // Work that would end after the wall clock never ends.
    let beyond = (wall_clock() + Duration::from_millis(1500)).as_millis();
    let second = json(
        call(
            &env,
            &format!("background-work?ms={beyond}&notify={notify}"),
        )
        .await,
    )
    .await;
    assert_eq!(second["boot_id"], boot.as_str(), "same process so far");
    tokio::time::sleep(wall_clock() + Duration::from_millis(3000)).await;
    assert_eq!(listener.received().len(), 1, "cut work still reported");

    // The process was shut down, said why, and a new one answers.
    let third = json(call(&env, "background-work").await).await;
    assert_ne!(third["boot_id"], boot.as_str());
    let log = function_log("background-work");
    assert!(log.contains("wall clock limit reached"), "{log}");
}

#[tokio::test]
async fn a_function_over_the_heap_cap_dies_with_546_and_comes_back() {
    let env = env();
    let within = call(&env, "memory-hog?mb=32").await;
    assert_eq!(within.status(), StatusCode::OK);
    let boot = json(within).await["boot_id"].clone();

    let over = call(&env, "memory-hog?mb=400").await;
    assert_eq!(over.status().as_u16(), 546);
    let body = json(over).await;
    assert_eq!(body["code"], "WORKER_LIMIT");

    let after = call(&env, "memory-hog?mb=1").await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_ne!(json(after).await["boot_id"], boot);
}

#[tokio::test]
async fn a_function_reads_only_its_static_files_and_cannot_fetch_files() {
    let env = env();
    let seen = json(call(&env, "bundled-files").await).await;
    assert_eq!(seen["listed"], "bundled with the function\n");
    let unlisted = seen["unlisted"].as_str().unwrap();
    assert!(unlisted.starts_with("NotCapable"), "{unlisted}");
    let fetched = seen["fetch_file"].as_str().unwrap();
    assert!(fetched.starts_with("TypeError"), "{fetched}");
}

/// The log of a fixture function, from the stack's state folder.
fn function_log(name: &str) -> String {
    let state = std::env::var("DEVSTACK_STATE_DIR")
        .expect("DEVSTACK_STATE_DIR is not set: run the tests through scripts/test");
    std::fs::read_to_string(format!("{state}/logs/function-{name}.log")).unwrap_or_default()
}
